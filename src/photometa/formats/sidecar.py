"""XMP sidecar files: where an image's sidecar is, reading it, and writing it atomically.

A sidecar is a file holding one XMP packet, beside the image it describes. Two naming conventions
are in use (see ``docs/decisions/0004-sidecars.md``):

* ``"replace"`` (the default): the image's extension is replaced, ``photo.CR2`` -> ``photo.xmp``.
  Adobe Lightroom, Camera Raw and Bridge, Capture One, and ExifTool's ``-o %d%f.xmp`` use it, as
  the XMP specification describes.
* ``"append"``: ``.xmp`` is appended, ``photo.CR2`` -> ``photo.CR2.xmp``: darktable, and digiKam
  by default. An image pair such as ``photo.CR2`` + ``photo.JPG`` then gets one sidecar each.

An image has at most one sidecar in use: the first that exists of the configured name and the
other convention's name (each also with an upper-case ``.XMP``), so a sidecar made by another
tool is found and updated rather than shadowed by a second one. A new sidecar gets the
configured name.

This module also makes a standalone ``.xmp`` file a container (``CONTAINER``, named ``"xmp"``):
reading it gives its packet as ``Blocks.xmp``. It has no ``write``; the api writes XMP files
through the sidecar path (a whole new packet, replaced atomically).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from pathlib import Path
from typing import BinaryIO, Final, Literal

from .._binary import Limits, check_limit
from .._fileio import TEMP_PREFIX, atomic_replace, defer_folder_sync, sync_folder
from .._metadata import Blocks
from ..errors import CorruptFileError, WriteError
from . import Container

__all__ = [
    "CONTAINER",
    "NAMINGS",
    "SIDECAR_MODES",
    "SidecarMode",
    "SidecarNaming",
    "candidates",
    "find",
    "is_xmp",
    "sidecar_path",
    "write_file",
]

SidecarMode = Literal["auto", "always", "never"]
"""``auto``: in place when the format allows, else a sidecar; ``always``: only the sidecar
(the image is never opened for writing); ``never``: never a sidecar (read-only formats fail)."""
SidecarNaming = Literal["replace", "append"]
"""``replace``: ``photo.xmp``; ``append``: ``photo.CR2.xmp``."""
SIDECAR_MODES: Final[tuple[SidecarMode, ...]] = ("auto", "always", "never")
NAMINGS: Final[tuple[SidecarNaming, ...]] = ("replace", "append")

_XMP_STARTS: Final = (b"<?xpacket", b"<x:xmpmeta", b"<x:xapmeta", b"<rdf:RDF")
_BOMS: Final = (b"\xef\xbb\xbf",)


def sidecar_path(image: Path, naming: SidecarNaming = "replace") -> Path:
    """The name a new sidecar of ``image`` gets."""
    if naming == "append" or not image.suffix:
        return image.with_name(image.name + ".xmp")
    return image.with_suffix(".xmp")


def candidates(image: Path, naming: SidecarNaming = "replace") -> list[Path]:
    """The names an existing sidecar of ``image`` may have, in the order they are looked for."""
    other: SidecarNaming = "append" if naming == "replace" else "replace"
    out: list[Path] = []
    for name in (sidecar_path(image, naming), sidecar_path(image, other)):
        for p in (name, name.with_name(name.name[:-4] + ".XMP")):
            if p not in out and p != image:
                out.append(p)
    return out


# what Path.is_file() treats as "not a file" rather than an error (as pathlib does)
_IGNORED_ERRNOS: Final = frozenset((errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP))
_IGNORED_WINERRORS: Final = frozenset((21, 123, 1921))


def _is_file(name: str) -> bool:
    """``Path(name).is_file()``, without making the ``Path``."""
    try:
        st = os.stat(name)
    except OSError as err:
        if err.errno in _IGNORED_ERRNOS or getattr(err, "winerror", None) in _IGNORED_WINERRORS:
            return False
        raise
    except ValueError:  # a name the OS cannot take (a NUL character)
        return False
    return stat.S_ISREG(st.st_mode)


def _suffix(name: str) -> str:
    """``PurePath(name).suffix``."""
    i = name.rfind(".")
    return name[i:] if 0 < i < len(name) - 1 else ""


def find(image: Path, naming: SidecarNaming = "replace") -> Path | None:
    """The sidecar of ``image`` in use, or ``None`` when it has none (a plain ``stat`` per name)."""
    name = image.name
    if not name:  # no name to derive a sidecar's from: let pathlib say so
        return _find_paths(image, naming)
    suffix = _suffix(name)
    if suffix.lower() == ".xmp":
        return None  # an XMP file has no sidecar of its own
    # the names candidates() gives, as strings: a stat needs no Path
    text = str(image)
    appended = text + ".xmp"
    replaced = text[: len(text) - len(suffix)] + ".xmp" if suffix else appended
    other = "append" if naming == "replace" else "replace"
    first = appended if naming == "append" else replaced
    second = appended if other == "append" else replaced
    seen: list[str] = []
    for candidate in (first, first[:-4] + ".XMP", second, second[:-4] + ".XMP"):
        key = os.path.normcase(candidate)  # Path equality: case-insensitive on Windows
        if key in seen:
            continue
        seen.append(key)
        if _is_file(candidate):
            return Path(candidate)
    return None


def _find_paths(image: Path, naming: SidecarNaming) -> Path | None:
    if is_xmp_name(image):
        return None
    for p in candidates(image, naming):
        if p.is_file():
            return p
    return None


def is_xmp_name(path: Path) -> bool:
    """True for a name ending ``.xmp`` (any case)."""
    return path.suffix.lower() == ".xmp"


def is_xmp(head: bytes) -> bool:
    """True when ``head`` begins an XMP packet file (an optional BOM and whitespace, then
    ``<?xpacket``, ``<x:xmpmeta``, ``<rdf:RDF``, or an XML declaration not followed by another
    kind of root element)."""
    text = head
    for bom in _BOMS:
        if text.startswith(bom):
            text = text[len(bom) :]
    text = text.lstrip(b" \t\r\n")
    if text.startswith(_XMP_STARTS):
        return True
    if not text.startswith(b"<?xml"):
        return False
    rest = text[text.find(b"?>") + 2 :] if b"?>" in text else b""
    rest = rest.lstrip(b" \t\r\n")
    while rest.startswith(b"<!--"):  # comments before the root element
        end = rest.find(b"-->")
        if end < 0:
            return True  # cannot tell yet; reading decides
        rest = rest[end + 3 :].lstrip(b" \t\r\n")
    return rest == b"" or rest.startswith(_XMP_STARTS) or (
        rest.startswith(b"<?") and not rest.startswith(b"<?xml"))


def read(f: BinaryIO, limits: Limits, strict: bool) -> Blocks:
    """The whole file as ``Blocks.xmp`` (bounded by ``limits.max_xmp_bytes``)."""
    f.seek(0, 2)
    size = f.tell()
    check_limit(size, limits.max_xmp_bytes, "XMP file size", offset=0)
    f.seek(0)
    data = f.read(size)
    if not data.strip():
        raise CorruptFileError("the XMP file is empty", code="xmp-empty", offset=0)
    return Blocks(xmp=data)


def write_file(path: Path, data: bytes, *, mode_from: os.stat_result | None = None) -> None:
    """Write ``data`` to ``path`` atomically: replace an existing file, or create a new one.

    An existing file is replaced as image files are (temporary file beside it, fsync, rename,
    its permissions kept). A new file gets the permissions of ``mode_from`` (the image) without
    execute bits and with the owner's write bit; it is linked into place only if no file of that
    name appeared meanwhile (no other writer's sidecar is ever overwritten unseen).

    Raises:
        WriteError: the file cannot be written; nothing was changed.
    """
    if path.exists():
        with atomic_replace(path) as f:
            f.write(data)
        return
    directory = path.parent
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".tmp", dir=directory)
    except OSError as err:
        raise WriteError(
            f"cannot create a sidecar beside it: {err.strerror}", path=path,
            code="read-only" if err.errno in (errno.EACCES, errno.EROFS, errno.EPERM) else "temp",
        ) from err
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        bits = stat.S_IMODE(mode_from.st_mode) if mode_from is not None else 0o644
        os.chmod(tmp, (bits & 0o666) | stat.S_IWUSR | stat.S_IRUSR)
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise WriteError("a sidecar of that name appeared while photometa was writing; "
                             "nothing was written", path=path, code="changed-meanwhile") from None
        except OSError as err:
            if err.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK,
                                 errno.EXDEV):
                raise
            # no hard links on this file system: claim the name, then rename over the claim
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            except FileExistsError:
                raise WriteError("a sidecar of that name appeared while photometa was writing; "
                                 "nothing was written", path=path,
                                 code="changed-meanwhile") from None
            os.replace(tmp, path)
        if not defer_folder_sync(directory):
            sync_folder(directory)
    except OSError as err:
        if isinstance(err, WriteError):
            raise
        code = "disk-full" if err.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT) else "io"
        raise WriteError(f"cannot write the sidecar: {err.strerror or err}", path=path,
                         code=code) from err
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


CONTAINER: Final = Container(
    name="xmp",
    accept=is_xmp,
    read=read,
    write=None,
    holds_iim=False,
    extensions=(".xmp",),
)
