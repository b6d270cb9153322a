"""The public verbs: read, write, validate. The one place containers, codecs and the mapping
meet."""

from __future__ import annotations

import contextlib
import mmap
import os
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal

from ._binary import DEFAULT_LIMITS, Limits
from ._fileio import atomic_replace, close_later, hash_range, open_regular, sampled_equal
from ._metadata import TIFF_IIM, TIFF_IRB, TIFF_XMP, Blocks, Metadata, decode_blocks
from .codecs import exif as exif_codec
from .codecs import iptc
from .codecs.iptc import IimData, IrbResource
from .codecs.xmp import XmpPacket
from .errors import (
    CorruptFileError,
    InvalidValueError,
    PhotometaError,
    UnsupportedFormatError,
    WriteError,
)
from .formats import REGISTRY, BytePatch, Container, Update, WriteResult, sniff
from .formats import sidecar as sidecars
from .formats.sidecar import SidecarMode, SidecarNaming
from .mapping import ROWS, Row, read_field, to_edits, to_model
from .model import FIELD_PATHS, PhotoContext, path_parts
from .report import Finding

try:  # POSIX advisory locks; Windows goes without
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "ReadResult",
    "SidecarMode",
    "SidecarNaming",
    "WriteOutcome",
    "read",
    "read_detailed",
    "write",
]

PathLike = str | os.PathLike[str]
IimPolicy = Literal["always", "if-present", "never"]
_HEAD = 4096  # enough for every container's magic, an XML declaration, and a TIFF's first IFD


@dataclass
class ReadResult:
    """What reading one file gave: the context, the findings, or the error that stopped it."""

    path: Path
    context: PhotoContext | None = None
    findings: list[Finding] = field(default_factory=list)
    error: PhotometaError | None = None
    format: str | None = None
    sidecar: Path | None = None

    @property
    def ok(self) -> bool:
        """True when the file was read (findings may still exist)."""
        return self.error is None


@dataclass
class WriteOutcome:
    """What a write changed: per field, the old and the new value. ``written`` is false for a
    no-op."""

    path: Path
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    written: bool = False
    sidecar: Path | None = None
    """The XMP sidecar that holds (or, on a dry run, would hold) the values, when one is used."""


def _open_container(path: Path, f: BinaryIO) -> Container:
    head = f.read(_HEAD)
    f.seek(0)
    container = sniff(head)
    if container is None:
        if not head:
            raise UnsupportedFormatError("the file is empty", path=path, code="empty-file")
        raise UnsupportedFormatError(
            "not an image format photometa knows "
            f"({', '.join(sorted({c.name.split('-')[0] for c in REGISTRY}))})",
            path=path, code="unsupported-format",
        )
    return container


def _os_error(path: Path, err: OSError) -> PhotometaError:
    """The photometa error for an ``OSError`` met while opening or reading ``path``."""
    if isinstance(err, PhotometaError):
        return err.with_path(path)
    if isinstance(err, IsADirectoryError):
        return UnsupportedFormatError("is a directory", path=path, code="is-directory")
    if isinstance(err, FileNotFoundError):
        return PhotometaError("no such file", path=path, code="not-found")
    if isinstance(err, PermissionError):
        return PhotometaError("permission denied", path=path, code="permission")
    return PhotometaError(f"cannot read: {err.strerror or err}", path=path, code="io")


def _load(path: Path, limits: Limits, strict: bool) -> tuple[Container, Blocks, Metadata]:
    try:
        with open_regular(path) as f:
            container = _open_container(path, f)
            blocks = container.read(f, limits, strict)
    except PhotometaError as err:
        raise err.with_path(path) from None
    except OSError as err:
        raise _os_error(path, err) from err
    try:
        md = decode_blocks(blocks, limits=limits, strict=strict)
    except PhotometaError as err:
        raise err.with_path(path) from None
    return container, blocks, md


def _load_sidecar(side: Path, limits: Limits) -> Metadata:
    """The decoded XMP of a sidecar file. Always strict: a packet that does not parse raises."""
    try:
        with open_regular(side) as f:
            blocks = sidecars.read(f, limits, True)
        return decode_blocks(blocks, limits=limits, strict=True)
    except PhotometaError as err:
        raise err.with_path(side) from None
    except OSError as err:
        raise _os_error(side, err) from err


def _check_sidecar_args(sidecar: str, naming: str) -> None:
    if sidecar not in sidecars.SIDECAR_MODES:
        raise InvalidValueError(f"sidecar must be one of {', '.join(sidecars.SIDECAR_MODES)}, "
                                f"not {sidecar!r}", code="bad-argument", field="sidecar")
    if naming not in sidecars.NAMINGS:
        raise InvalidValueError(f"sidecar_naming must be one of {', '.join(sidecars.NAMINGS)}, "
                                f"not {naming!r}", code="bad-argument", field="sidecar_naming")


def _overlay(ctx: PhotoContext, findings: list[Finding], side: Path, side_md: Metadata
             ) -> tuple[PhotoContext, list[Finding]]:
    """The file's context with the sidecar's fields laid over it (the sidecar wins field by field).

    Findings made inside the sidecar are kept (marked as the sidecar's); a field the sidecar
    overrides with a different value gets an ``info`` finding ``sidecar-overrides``.
    """
    side_ctx, side_findings = to_model(side_md)
    out = list(findings)
    out += [Finding(f.field, f.code, f"in the sidecar {side.name}: {f.message}", f.severity,
                    f.offset) for f in side_findings]
    for row in ROWS:
        theirs = side_ctx.get_path(row.path)
        if theirs is None or theirs == []:  # sidecars usually hold a few fields
            continue
        mine = ctx.get_path(row.path)
        if mine is None or mine == [] or mine == theirs:
            continue
        out.append(Finding(row.path, "sidecar-overrides",
                           f"the sidecar {side.name} holds {_brief(theirs)} and the file "
                           f"{_brief(mine)}; read the sidecar's value (it is written later)",
                           "info"))
    return merge(ctx, side_ctx), out


def _brief(value: Any) -> str:
    text = repr(value.model_dump() if hasattr(value, "model_dump") else value)
    return text if len(text) <= 80 else text[:77] + "..."


def read_with_sidecar(path: Path, limits: Limits, sidecar: SidecarMode = "auto",
                      sidecar_naming: SidecarNaming = "replace"
                      ) -> tuple[Container, Metadata, PhotoContext, list[Finding], Path | None]:
    """Read ``path`` tolerantly and lay its sidecar (if ``sidecar`` allows one) over it.

    Returns the container, the file's own decoded metadata, the merged context, the findings and
    the sidecar used. A sidecar that cannot be read becomes a ``warning`` finding
    ``sidecar-unreadable`` and is not used. (Shared by :func:`read_detailed` and validation.)
    """
    container, _blocks, md = _load(path, limits, strict=False)
    ctx, findings = to_model(md)
    if sidecar == "never" or container is sidecars.CONTAINER:
        return container, md, ctx, findings, None
    side = sidecars.find(path, sidecar_naming)
    if side is None:
        return container, md, ctx, findings, None
    try:
        side_md = _load_sidecar(side, limits)
    except PhotometaError as err:
        findings.append(Finding(None, "sidecar-unreadable",
                                f"the sidecar {side.name} was not used: {err.msg}", "warning",
                                err.offset))
        return container, md, ctx, findings, None
    ctx, findings = _overlay(ctx, findings, side, side_md)
    return container, md, ctx, findings, side


_PATH = type(Path())  # what Path() makes here: PosixPath or WindowsPath


def read_detailed(path: PathLike, *, limits: Limits = DEFAULT_LIMITS,
                  sidecar: SidecarMode = "auto",
                  sidecar_naming: SidecarNaming = "replace") -> ReadResult:
    """Read a file's context with every finding met on the way (disagreeing homes, broken blocks).

    With ``sidecar="auto"`` (the default) or ``"always"``, an XMP sidecar beside the file
    (``photo.xmp`` or ``photo.CR2.xmp``; ``sidecar_naming`` says which is looked for first) is laid
    over the file's own metadata: a field the sidecar holds wins over the file's value, whatever
    its home (docs/decisions/0004-sidecars.md); ``ReadResult.sidecar`` names it. ``"never"``
    reads the file alone.

    Raises:
        UnsupportedFormatError: photometa does not know the format.
        CorruptFileError: the file is too broken to find any metadata in.
        PhotometaError: the file cannot be opened.
        InvalidValueError: ``sidecar`` or ``sidecar_naming`` is not one of the allowed values.
    """
    p = path if type(path) is _PATH else Path(path)  # a Path's copy is only an equal Path
    _check_sidecar_args(sidecar, sidecar_naming)
    container, _md, ctx, findings, side = read_with_sidecar(p, limits, sidecar, sidecar_naming)
    return ReadResult(p, ctx, findings, format=container.name, sidecar=side)


def read(path: PathLike, *, limits: Limits = DEFAULT_LIMITS, sidecar: SidecarMode = "auto",
         sidecar_naming: SidecarNaming = "replace") -> PhotoContext:
    """Read the photo context stored in an image file (and its XMP sidecar, if it has one).

    EXIF, IPTC-IIM and XMP are reconciled by the MWG rules; absent fields are ``None`` or ``[]``.
    A sidecar's fields win over the file's (see :func:`read_detailed`; ``sidecar="never"`` reads
    the file alone). Reading is tolerant: a broken block is skipped (see :func:`read_detailed`
    for what was skipped).

    Raises:
        UnsupportedFormatError: photometa does not know the format.
        PhotometaError: the file cannot be opened or read.
    """
    result = read_detailed(path, limits=limits, sidecar=sidecar, sidecar_naming=sidecar_naming)
    assert result.context is not None
    return result.context


# -- writing -------------------------------------------------------------------------------------


def _empty(value: Any) -> bool:
    """``value in (None, [])``."""
    return value is None or (isinstance(value, list) and not value)


def _rows_to_write(ctx: PhotoContext, clear: Iterable[str]) -> tuple[list[Row], set[str]]:
    cleared: set[str] = set()
    for name in clear:
        if name not in FIELD_PATHS and not any(r.path == name for r in ROWS):
            raise InvalidValueError(f"unknown field {name!r}", code="unknown-field", field=name)
        cleared.add(name)
    rows = []
    for row in ROWS:
        if not _empty(ctx.get_path(row.path)) or (
            cleared and any(row.covers(c) or c == row.path for c in cleared)
        ):
            rows.append(row)
    return rows, cleared


_validate_context = PhotoContext.__pydantic_validator__.validate_python
"""``PhotoContext.model_validate`` without its Python wrapper."""


def merge(current: PhotoContext, ctx: PhotoContext, clear: Iterable[str] = ()) -> PhotoContext:
    """``current`` with every non-empty field of ``ctx`` laid over it and the ``clear`` fields
    removed."""
    data = current.model_dump()
    for path in FIELD_PATHS:
        value = ctx.get_path(path)
        if value is None or (isinstance(value, list) and not value):  # value in (None, [])
            continue
        _assign(data, path, value)
    gps = ctx.location.gps
    if gps is not None:
        data["location"]["gps"] = gps.model_dump()
    for path in clear:
        if path in ("location.gps", "location.gps.latitude", "location.gps.longitude"):
            data["location"]["gps"] = None  # a position without both coordinates is no position
        elif path.startswith("location.gps.") and data["location"].get("gps") is None:
            continue
        else:
            _assign(data, path, [] if isinstance(current.get_path(path), list) else None)
    result: PhotoContext = _validate_context(data)
    return result


def _assign(data: dict[str, Any], path: str, value: Any) -> None:
    parts = path_parts(path)
    node = data
    for part in parts[:-1]:
        if node.get(part) is None:
            node[part] = {}
        node = node[part]
    node[parts[-1]] = value


def _exif_same(current: Any, new: exif_codec.ExifWrite) -> bool:
    value: Any = new.value
    if isinstance(value, str) and isinstance(current, str):
        return current == value
    if isinstance(current, tuple) and not isinstance(value, tuple):
        value = (value,)
    if isinstance(value, tuple) and not isinstance(current, tuple) and len(value) == 1:
        value = value[0]
    return bool(current == value)


def _exif_needed(md: Metadata, edits: dict[tuple[str, int], Any]
                 ) -> dict[tuple[str, int], exif_codec.ExifWrite | None]:
    """The EXIF edits that change something (a value that is already there is left alone)."""
    needed: dict[tuple[str, int], exif_codec.ExifWrite | None] = {}
    exif = md.exif
    for key, new in edits.items():
        entry = exif.entry(*key) if exif is not None else None
        if entry is not None and new is not None and "value" not in entry.__dict__:
            # rationals (GPS) compare on their stored integers: no Fraction objects to build
            same = exif_codec.rational_equals(entry, new.value)
            if same is not None:
                if not same:
                    needed[key] = new
                continue
        current = None if entry is None else entry.value
        if new is None:
            if current is not None:
                needed[key] = None
        elif current is None or not _exif_same(current, new):
            needed[key] = new
    creates_exif_ifd = any(v is not None and k[0] == "ExifIFD" for k, v in needed.items())
    if creates_exif_ifd and (md.exif is None or not md.exif.has_ifd("ExifIFD")):
        # a new Exif IFD needs its version tag (EXIF 2.32) to be valid
        needed[("ExifIFD", 0x9000)] = exif_codec.ExifWrite(exif_codec.UNDEFINED, b"0232")
    return needed


def _exif_block(blocks: Blocks, needed: dict[tuple[str, int], exif_codec.ExifWrite | None],
                limits: Limits) -> bytes | None:
    if not needed:
        return None
    if blocks.exif is None:
        return exif_codec.new_block({k: v for k, v in needed.items() if v is not None})
    patch = exif_codec.plan_patch(blocks.exif, needed, limits=limits)
    return exif_codec.apply_patch(blocks.exif, patch)


def _xmp_update(md: Metadata, blocks: Blocks, edits: list[Any], container: Container
                ) -> tuple[bytes | None, tuple[str, bytes] | None]:
    """The new XMP packet (rewritten in its own padding when it fits) and Extended XMP, if any."""
    packet = md.xmp if md.xmp is not None else XmpPacket.new()
    changed = False
    for home, value in edits:
        if packet.update(home.path, home.kind, value):
            changed = True
    if not changed:
        return None, None
    data = packet.serialize_fitted(None if blocks.xmp_extended else md.xmp_size, padding=2048)
    limit = container.max_xmp_bytes
    if limit is not None and len(data) > limit:
        standard, extended, guid = packet.split_extended(limit)
        return standard, (guid or "", extended or b"")
    return data, ("", b"") if blocks.xmp_extended else None


def _iim_update(md: Metadata, edits: dict[tuple[int, int], list[str]], container: Container,
                policy: IimPolicy) -> tuple[bytes | None, bytes | None]:
    """New (irb, iim) blocks, or ``(None, None)`` when IIM needs no change."""
    if not container.holds_iim or policy == "never" or not edits:
        return None, None
    if md.iim is None and policy == "if-present":
        return None, None
    iim = md.iim if md.iim is not None else IimData.decode(b"")
    # The values each dataset holds, looked up once: setting one dataset leaves the text of the
    # others as it was (a conversion to UTF-8 keeps it), unless it touches 1:90 or 2:00 itself.
    held: dict[tuple[int, int], list[bytes]] | None = None
    if _IIM_SHIFTING.isdisjoint(edits):
        held = {}
        for ds in iim.datasets:
            held.setdefault((ds.record, ds.number), []).append(ds.value)
    changed = False
    for key, values in edits.items():
        if held is not None:
            current = [iptc.decode_text(raw.rstrip(b"\0")) for raw in held.get(key, ())]
        else:
            current = iim.get(*key)
        if current == values:
            continue
        iim.set(*key, values)
        changed = True
    if not changed:
        return None, None
    new_iim = iim.encode()
    resources = list(md.irb or [])
    digest_ok = md.iim_in_sync
    _put_resource(resources, iptc.IRB_IPTC, new_iim)
    if digest_ok:
        _put_resource(resources, iptc.IRB_IPTC_DIGEST, iptc.iim_digest(new_iim))
    return iptc.build_irb(resources), new_iim


_IIM_SHIFTING = frozenset(((1, 90), (2, 0)))
"""Datasets whose setting may change what :meth:`IimData.get` reads from others."""


def _put_resource(resources: list[IrbResource], rid: int, data: bytes) -> None:
    for i, res in enumerate(resources):
        if res.signature == b"8BIM" and res.id == rid:
            resources[i] = IrbResource(res.signature, rid, res.name, data)
            return
    resources.append(IrbResource(b"8BIM", rid, b"", data))


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on the file, following it across replacements."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    while True:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                yield
                return
        finally:
            os.close(fd)


Verify = Literal["sample", "full"]
VERIFY_MODES: tuple[str, ...] = ("sample", "full")
"""How a write checks the new file before it replaces the old one (docs/security.md)."""


def write(
    path: PathLike,
    ctx: PhotoContext,
    *,
    clear: Iterable[str] = (),
    iim: IimPolicy = "always",
    dry_run: bool = False,
    limits: Limits = DEFAULT_LIMITS,
    sidecar: SidecarMode = "auto",
    sidecar_naming: SidecarNaming = "replace",
    verify: Verify = "sample",
) -> WriteOutcome:
    """Store ``ctx`` in the file, merged with what the file already holds.

    Fields of ``ctx`` that are ``None`` or ``[]`` keep the file's values; name fields in
    ``clear`` (dotted paths such as ``"location.city"``) to remove them. Each field is written to
    all its homes (EXIF, XMP and, unless ``iim="never"``, IPTC-IIM with the UTF-8 marker and an
    updated IPTC digest), so other tools agree. Nothing else in the file changes: the image data
    and every segment, tag and resource photometa does not own stay byte for byte. The new file
    is written beside the old one, checked, fsynced and renamed over it (and the folder is
    fsynced); if anything fails the old file is untouched.
    A write that changes nothing does not touch the file.

    ``verify`` is how the new file is checked before it replaces the old one (docs/security.md,
    "Verifying the new file"). Both modes re-parse the new file and compare its metadata blocks
    with those written, check the size of the new file and of every range copied from the old
    one, and refuse the write if the old file changed meanwhile (size, mtime, ctime, inode).
    ``"sample"`` (the default) compares the first and last 64 KiB of every copied range with
    the old file; ``"full"`` compares BLAKE2b digests of every copied byte, parses the new
    file strictly (PNG CRCs included) and decodes its metadata.

    Sidecars (docs/decisions/0004-sidecars.md): formats that are not written in place (HEIC/AVIF,
    DNG and camera RAW) get an XMP sidecar instead, created or updated atomically, holding every
    mapped field. ``sidecar="auto"`` (the default) writes in place when the format allows it, else
    the sidecar, and also updates a sidecar the file already has so that the two agree;
    ``"always"`` writes only the sidecar and never opens the image for writing (any format);
    ``"never"`` never touches a sidecar and refuses read-only formats. ``sidecar_naming`` is the
    name a new sidecar gets: ``"replace"`` (``photo.xmp``, the default) or ``"append"``
    (``photo.CR2.xmp``); an existing sidecar of either name is updated in place. A sidecar cannot
    remove a value the image itself holds, so clearing such a field in sidecar mode is refused.
    Naming an ``.xmp`` file writes that file.

    Returns:
        What changed, field by field (for a sidecar write: as read with the sidecar), and where.

    Raises:
        UnsupportedFormatError: the format cannot be written (with ``sidecar="never"``).
        CorruptFileError: the file's structure is not sound enough to write safely, or its
            existing sidecar does not parse (it is never overwritten then).
        InvalidValueError: a value does not fit its home (e.g. EXIF larger than 64 KB in JPEG),
            a field to clear lives in an image that sidecar mode does not write, or an argument
            (``sidecar``, ``sidecar_naming``, ``verify``) has no such value.
        WriteError: the file could not be replaced (permissions, full disk, changed meanwhile)
            or the new file failed its check (codes ``image-data-changed``, ``verify-failed``).
    """
    p = Path(path)
    if not isinstance(ctx, PhotoContext):
        raise InvalidValueError("ctx must be a PhotoContext", path=p, code="bad-argument")
    _check_sidecar_args(sidecar, sidecar_naming)
    if verify not in VERIFY_MODES:
        raise InvalidValueError(f"verify must be one of {', '.join(VERIFY_MODES)}, not "
                                f"{verify!r}", path=p, code="bad-argument", field="verify")
    rows, cleared = _rows_to_write(ctx, clear)
    try:
        return _write(p, ctx, rows, cleared, iim, dry_run, limits, sidecar, sidecar_naming,
                      verify)
    except PhotometaError as err:
        raise err.with_path(p) from None


def _open_image(p: Path) -> tuple[BinaryIO, Container]:
    """The file opened for reading and its container, judged by its first bytes."""
    try:
        f = open_regular(p)
    except PhotometaError as err:
        raise err.with_path(p) from None
    except OSError as err:
        raise _os_error(p, err) from err
    try:
        return f, _open_container(p, f)
    except BaseException as err:
        f.close()
        if isinstance(err, OSError) and not isinstance(err, PhotometaError):
            raise _os_error(p, err) from err
        raise


def _lock_open(p: Path, f: BinaryIO) -> os.stat_result | None:
    """Take the exclusive advisory lock on the open file ``f``; its stat once locked, or
    ``None`` when ``p`` no longer names it (another writer replaced it: open it again)."""
    fd = f.fileno()
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX)
    mine = os.fstat(fd)
    try:
        now = os.stat(p)
    except FileNotFoundError:
        return None
    return mine if (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino) else None


def _write(p: Path, ctx: PhotoContext, rows: Sequence[Row], cleared: set[str], iim: IimPolicy,
           dry_run: bool, limits: Limits, sidecar: SidecarMode, naming: SidecarNaming,
           verify: Verify) -> WriteOutcome:
    f, container = _open_image(p)
    owned = True  # until _commit hands the file over to be closed
    try:
        if container is sidecars.CONTAINER:  # an XMP file: it is its own "sidecar"
            f.close()
            return _write_sidecar(None, p, ctx, cleared, dry_run, limits)
        side = sidecars.find(p, naming) if sidecar != "never" else None
        if sidecar == "always" or (sidecar == "auto" and container.write is None):
            f.close()
            return _write_sidecar(p, side or sidecars.sidecar_path(p, naming), ctx, cleared,
                                  dry_run, limits)
        if side is not None:
            _load_sidecar(side, limits)  # a sidecar that cannot be updated stops the write first
        try:
            _refuse_read_only(p, container)
            before = None
            while not dry_run:  # one open file: sniffed, locked, parsed and copied from
                try:
                    before = _lock_open(p, f)
                except OSError as err:
                    raise _os_error(p, err) from err
                if before is not None:
                    break
                f.close()
                f, container = _open_image(p)  # replaced meanwhile: the new file, locked
                _refuse_read_only(p, container)
            outcome = _write_in_place(p, f, container, before, ctx, rows, cleared, iim, limits,
                                      verify)
            owned = not outcome.written
        except UnsupportedFormatError as err:
            # a DNG or RAW that sniffing took for a plain TIFF is refused by its container
            if sidecar != "auto" or err.code != "read-only-format":
                raise
            f.close()
            return _write_sidecar(p, side or sidecars.sidecar_path(p, naming), ctx, cleared,
                                  dry_run, limits)
    finally:
        if owned:
            f.close()  # releases the lock
    if side is None:
        return outcome
    # the file has a sidecar, which reading lays over it: keep it in agreement
    kept = _write_sidecar(p, side, ctx, cleared, dry_run, limits, image_written=True)
    changes = {**outcome.changes, **kept.changes}
    return WriteOutcome(p, changes, outcome.written or kept.written, side)


def _refuse_read_only(p: Path, container: Container) -> None:
    if container.write is None:  # say so before a strict parse can fail for another reason
        raise UnsupportedFormatError(
            f"{container.name} files cannot be written in place (write an XMP sidecar with "
            "sidecar='auto' or 'always')", path=p, code="read-only-format"
        )


def _write_in_place(p: Path, f: BinaryIO, container: Container, before: os.stat_result | None,
                    ctx: PhotoContext, rows: Sequence[Row], cleared: set[str], iim: IimPolicy,
                    limits: Limits, verify: Verify) -> WriteOutcome:
    """Write ``ctx`` into the open file ``f`` (locked, with the stat ``before``; ``None`` for a
    dry run). Everything is decided from the blocks in memory before a temporary file is made:
    a write that changes nothing never creates one."""
    try:
        f.seek(0)
        blocks = container.read(f, limits, True)
        md = decode_blocks(blocks, limits=limits, strict=True)
    except PhotometaError as err:
        raise err.with_path(p) from None
    except OSError as err:
        raise _os_error(p, err) from err
    current, _ = to_model(md)
    merged = merge(current, ctx, cleared)
    outcome = WriteOutcome(p)
    for row in rows:
        old = current.get_path(row.path)
        new = merged.get_path(row.path)
        if old != new:
            outcome.changes[row.path] = (old, new)
    # write every home of a field that changed, or whose homes do not all hold the value yet
    to_write = [r for r in rows if r.path in outcome.changes or _homes_differ(r, md)]
    if not to_write:
        return outcome
    edits = to_edits(merged, to_write)
    exif_edits = _exif_needed(md, edits.exif)
    new_xmp, new_ext = _xmp_update(md, blocks, edits.xmp, container)
    new_irb, new_iim = _iim_update(md, edits.iim, container, iim)
    if container.tiff_structure:
        update = _tiff_update(md, blocks, exif_edits, new_xmp, new_irb, new_iim, limits)
    else:
        new_exif = _exif_block(blocks, exif_edits, limits)
        update = Update(exif=new_exif, xmp=new_xmp, xmp_extended=new_ext, irb=new_irb)
    if update == Update() or before is None:  # nothing to write, or a dry run
        return outcome
    _commit(p, f, container, blocks, update, before, limits, verify)
    outcome.written = True
    return outcome


def _write_sidecar(image: Path | None, side: Path, ctx: PhotoContext, cleared: set[str],
                   dry_run: bool, limits: Limits, *, image_written: bool = False
                   ) -> WriteOutcome:
    """Store ``ctx`` in the XMP sidecar ``side`` of ``image`` (``None``: ``side`` is an XMP file
    written for itself). The image is only read.

    The new packet is the existing sidecar's (everything in it kept: other tools' namespaces,
    develop settings...) with every mapped field set to the value read with the sidecar, merged
    with ``ctx``: the sidecar alone then tells the whole context, EXIF-only fields included
    (GPS in ``exif:GPS*``, the capture time in ``photoshop:DateCreated``). Nothing is written
    when no field changes. ``image_written``: the image itself was just written in place with
    the same values (its fields may be cleared then).
    """
    if image is not None:
        _container, _blocks, md = _load(image, limits, strict=False)
        embedded, _ = to_model(md)
    else:
        embedded = PhotoContext()
    exists = side.is_file()
    with _locked(side) if exists and not dry_run else contextlib.nullcontext():
        before = os.stat(side) if exists else None
        side_md = _load_sidecar(side, limits) if exists else Metadata()
        side_ctx, _ = to_model(side_md)
        view = merge(embedded, side_ctx)
        for name in sorted(cleared) if not image_written else ():
            held = embedded.get_path(name)
            if held not in (None, []):
                raise InvalidValueError(
                    f"{name} is stored in the image file itself, which is not written when "
                    "metadata goes to a sidecar; it cannot be cleared there (clear it in place "
                    "with sidecar='auto' or 'never' on a writable format)",
                    code="sidecar-cannot-clear", field=name)
        merged = merge(view, ctx, cleared)
        outcome = WriteOutcome(image if image is not None else side,
                               sidecar=side if image is not None else None)
        for row in ROWS:
            old, new = view.get_path(row.path), merged.get_path(row.path)
            if old != new:
                outcome.changes[row.path] = (old, new)
        if not outcome.changes:
            return outcome
        packet = side_md.xmp.copy() if side_md.xmp is not None else XmpPacket.new()
        for home, value in to_edits(merged, ROWS).xmp:
            current = packet.get(home.path, home.kind)
            if current == value or (current in (None, []) and value in (None, [])):
                continue
            packet.set(home.path, home.kind, value)
        data = packet.serialize(padding=0)
        try:
            XmpPacket.parse(data, limits=limits)
        except CorruptFileError as err:  # pragma: no cover - the codec writes what it reads
            raise WriteError(f"the new sidecar does not parse ({err.msg}); nothing was written",
                             path=side, code="verify-failed") from err
        if dry_run:
            return outcome
        if before is not None:
            now = os.stat(side)
            if (now.st_mtime_ns, now.st_size, now.st_ino) != (
                    before.st_mtime_ns, before.st_size, before.st_ino):
                raise WriteError("the sidecar changed while photometa was writing it; nothing "
                                 "was written", path=side, code="changed-meanwhile")
        mode_from = os.stat(image) if image is not None else None
        sidecars.write_file(side, data, mode_from=mode_from)
        outcome.written = True
        return outcome


def _tiff_update(md: Metadata, blocks: Blocks,
                 edits: dict[tuple[str, int], exif_codec.ExifWrite | None], xmp: bytes | None,
                 irb: bytes | None, iim: bytes | None, limits: Limits) -> Update:
    """In a TIFF structure XMP and IPTC are IFD0 tags: one patch writes them with the EXIF edits."""
    if xmp is not None:
        edits[("IFD0", TIFF_XMP)] = exif_codec.ExifWrite(exif_codec.BYTE, xmp)
    if iim is not None:
        if md.irb is None and md.exif is not None:
            # LONG and NUL-padded, as Photoshop and ExifTool store it (ExifTool -validate wants it)
            padded = iim + bytes(-len(iim) % 4)
            words = struct.unpack(f"{md.exif.order}{len(padded) // 4}I", padded)
            edits[("IFD0", TIFF_IIM)] = exif_codec.ExifWrite(exif_codec.LONG, words)
        else:
            # unpadded beside Photoshop resources, so the digest ExifTool takes from this tag
            # matches the one stored in the resources
            edits[("IFD0", TIFF_IIM)] = exif_codec.ExifWrite(exif_codec.UNDEFINED, iim)
    if irb is not None and md.irb is not None:
        edits[("IFD0", TIFF_IRB)] = exif_codec.ExifWrite(exif_codec.UNDEFINED, irb)
    if not edits:
        return Update()
    patch = exif_codec.plan_patch(blocks.exif, edits, limits=limits)
    return Update(file_patch=BytePatch(patch.patches, patch.truncate_at, patch.tail))


def _homes_differ(row: Row, md: Metadata) -> bool:
    reading = read_field(row, md)
    values = [v for v in (reading.exif, reading.iim) if v is not None]
    values += [v for _, v in reading.xmp]
    return any(not row.converter.same(v, reading.chosen) for v in values)


def _commit(p: Path, src: BinaryIO, container: Container, blocks: Blocks, update: Update,
            before: os.stat_result, limits: Limits, verify: Verify) -> None:
    """Write the new file beside ``p`` from the open, locked ``src``, check it, and rename it over
    ``p``, which must still be the file ``before`` describes (atomic_replace checks that last)."""
    assert container.write is not None
    with atomic_replace(p, expect=before) as tmp:
        result = container.write(src, tmp, update, limits)
        tmp.flush()
        _check_copy(p, src, tmp, result, before, verify)
        _check_new_file(p, container, tmp, blocks, update, limits, verify)
    # the old file's last close frees its space (a journal transaction of its own): done on a
    # background thread, and the lock goes with it now that the new file is in place. A TIFF's
    # memory map holds the old file too.
    close_later(src)
    if isinstance(blocks.exif, mmap.mmap):
        close_later(blocks.exif)


def _check_copy(p: Path, src: BinaryIO, tmp: BinaryIO, result: WriteResult,
                before: os.stat_result, verify: Verify) -> None:
    """The old file did not change while it was copied, the new file has the size the container
    wrote, and every range copied from the old file holds the same bytes there (sampled, or
    hashed whole)."""
    now = os.fstat(src.fileno())
    if _identity(now) != _identity(before):
        raise WriteError("the file changed while photometa was writing it; nothing was written",
                         path=p, code="changed-meanwhile")
    size = os.fstat(tmp.fileno()).st_size
    if result.size is not None and size != result.size:
        raise WriteError(f"the new file has {size} bytes, {result.size} were written; nothing "
                         "was written", path=p, code="verify-failed")
    if len(result.source_ranges) != len(result.target_ranges):
        raise WriteError("the container reported unpaired image data ranges; nothing was "
                         "written", path=p, code="image-data-changed")
    pairs = zip(result.source_ranges, result.target_ranges, strict=True)
    for (s_off, s_len), (t_off, t_len) in pairs:
        inside = (s_len == t_len and min(s_off, t_off, s_len) >= 0
                  and s_off + s_len <= before.st_size and t_off + t_len <= size)
        if not inside:
            raise WriteError(f"a copied range does not fit ({s_len} bytes from {s_off} to "
                             f"{t_len} bytes at {t_off}); nothing was written", path=p,
                             code="image-data-changed", offset=s_off)
        if verify == "full":
            same = hash_range(src, s_off, s_len) == hash_range(tmp, t_off, t_len)
        else:
            same = sampled_equal(src, s_off, tmp, t_off, s_len)
        if not same:
            raise WriteError("image data would change; nothing was written", path=p,
                             code="image-data-changed", offset=s_off)


def _identity(st: os.stat_result) -> tuple[int, int, int, int, int]:
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def _check_new_file(p: Path, container: Container, tmp: BinaryIO, blocks: Blocks,
                    update: Update, limits: Limits, verify: Verify) -> None:
    """Parse the new file and compare its metadata blocks with those meant to be there.

    ``"sample"`` parses tolerantly (no CRC pass over PNG image data) and refuses any kind of
    problem the old file did not have; ``"full"`` parses strictly and decodes the metadata too.
    """
    strict = verify == "full"
    tmp.seek(0)
    try:
        new = container.read(tmp, limits, strict)
    except CorruptFileError as err:
        raise WriteError(f"the new file does not parse ({err.msg}); nothing was written",
                         path=p, code="verify-failed") from err
    try:
        known = {w.code for w in blocks.warnings}
        fresh = [w for w in new.warnings if w.code not in known]
        if fresh:
            raise WriteError(f"the new file does not parse ({fresh[0].msg}); nothing was "
                             "written", path=p, code="verify-failed")
        wrong = _wrong_block(new, blocks, update)
        if wrong is not None:
            raise WriteError(f"the new file's {wrong} is not what was written; nothing was "
                             "written", path=p, code="verify-failed")
        if strict:
            try:
                decode_blocks(new, limits=limits, strict=True)
            except CorruptFileError as err:
                raise WriteError(f"the new file's metadata does not decode ({err.msg}); "
                                 "nothing was written", path=p, code="verify-failed") from err
    finally:
        if isinstance(new.exif, mmap.mmap):
            new.exif.close()


def _wrong_block(new: Blocks, old: Blocks, update: Update) -> str | None:
    """The name of the first block of ``new`` that differs from what ``update`` made of
    ``old``, or ``None``."""
    patch = update.file_patch
    if patch is not None:  # a TIFF structure: the patched bytes and the new tail
        data = new.exif
        if data is None:
            return "TIFF structure"
        for offset, chunk in patch.patches:
            if data[offset : offset + len(chunk)] != chunk:
                return f"TIFF structure at byte {offset}"
        if data[patch.truncate_at :] != patch.tail:
            return f"TIFF structure after byte {patch.truncate_at}"
        return None
    if old.exif_is_file:
        return None
    expected = {
        "EXIF": update.exif if update.exif is not None else old.exif,
        "XMP": update.xmp if update.xmp is not None else old.xmp,
        "Photoshop IRB": update.irb if update.irb is not None else old.irb,
    }
    found = {"EXIF": new.exif, "XMP": new.xmp, "Photoshop IRB": new.irb}
    for name, want in expected.items():
        got = found[name]
        if (got is None) != (want is None) or (got is not None and want is not None
                                                and bytes(got) != bytes(want)):
            return name
    if update.xmp is not None and update.xmp_extended and update.xmp_extended[1]:
        guid, packet = update.xmp_extended
        if new.xmp_extended.get(guid) != packet:
            return "Extended XMP"
    return None
