"""The public verbs: read, write, validate. The one place containers, codecs and the mapping meet."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal

from ._binary import DEFAULT_LIMITS, Limits
from ._fileio import atomic_replace, hash_range
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
from .formats import BytePatch, Container, Update, sniff
from .mapping import ROWS, Row, read_field, to_edits, to_model
from .model import FIELD_PATHS, PhotoContext
from .report import Finding

try:  # POSIX advisory locks; Windows goes without
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

__all__ = ["ReadResult", "WriteOutcome", "read", "read_detailed", "write"]

PathLike = str | os.PathLike[str]
IimPolicy = Literal["always", "if-present", "never"]
_HEAD = 64


@dataclass
class ReadResult:
    """What reading one file gave: the context, the findings, or the error that stopped it."""

    path: Path
    context: PhotoContext | None = None
    findings: list[Finding] = field(default_factory=list)
    error: PhotometaError | None = None
    format: str | None = None

    @property
    def ok(self) -> bool:
        """True when the file was read (findings may still exist)."""
        return self.error is None


@dataclass
class WriteOutcome:
    """What a write changed: per field, the old and the new value. ``written`` is false for a no-op."""

    path: Path
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    written: bool = False


def _open_container(path: Path, f: BinaryIO) -> Container:
    head = f.read(_HEAD)
    f.seek(0)
    container = sniff(head)
    if container is None:
        if not head:
            raise UnsupportedFormatError("the file is empty", path=path, code="empty-file")
        raise UnsupportedFormatError(
            "not an image format photometa knows (JPEG)", path=path, code="unsupported-format"
        )
    return container


def _load(path: Path, limits: Limits, strict: bool) -> tuple[Container, Blocks, Metadata]:
    try:
        with open(path, "rb") as f:
            container = _open_container(path, f)
            blocks = container.read(f, limits, strict)
    except PhotometaError as err:
        raise err.with_path(path) from None
    except IsADirectoryError as err:
        raise UnsupportedFormatError("is a directory", path=path, code="is-directory") from err
    except FileNotFoundError as err:
        raise PhotometaError("no such file", path=path, code="not-found") from err
    except PermissionError as err:
        raise PhotometaError("permission denied", path=path, code="permission") from err
    except OSError as err:
        raise PhotometaError(f"cannot read: {err.strerror or err}", path=path, code="io") from err
    try:
        md = decode_blocks(blocks, limits=limits, strict=strict)
    except PhotometaError as err:
        raise err.with_path(path) from None
    return container, blocks, md


def read_detailed(path: PathLike, *, limits: Limits = DEFAULT_LIMITS) -> ReadResult:
    """Read a file's context with every finding met on the way (disagreeing homes, broken blocks).

    Raises:
        UnsupportedFormatError: photometa does not know the format.
        CorruptFileError: the file is too broken to find any metadata in.
        PhotometaError: the file cannot be opened.
    """
    p = Path(path)
    container, _blocks, md = _load(p, limits, strict=False)
    ctx, findings = to_model(md)
    return ReadResult(p, ctx, findings, format=container.name)


def read(path: PathLike, *, limits: Limits = DEFAULT_LIMITS) -> PhotoContext:
    """Read the photo context stored in an image file.

    EXIF, IPTC-IIM and XMP are reconciled by the MWG rules; absent fields are ``None`` or ``[]``.
    Reading is tolerant: a broken block is skipped (see :func:`read_detailed` for what was skipped).

    Raises:
        UnsupportedFormatError: photometa does not know the format.
        PhotometaError: the file cannot be opened or read.
    """
    result = read_detailed(path, limits=limits)
    assert result.context is not None
    return result.context


# -- writing -------------------------------------------------------------------------------------


def _rows_to_write(ctx: PhotoContext, clear: Iterable[str]) -> tuple[list[Row], set[str]]:
    cleared: set[str] = set()
    for name in clear:
        if name not in FIELD_PATHS and not any(r.path == name for r in ROWS):
            raise InvalidValueError(f"unknown field {name!r}", code="unknown-field", field=name)
        cleared.add(name)
    rows = []
    for row in ROWS:
        value = ctx.get_path(row.path)
        if value not in (None, []) or any(row.covers(c) or c == row.path for c in cleared):
            rows.append(row)
    return rows, cleared


def merge(current: PhotoContext, ctx: PhotoContext, clear: Iterable[str] = ()) -> PhotoContext:
    """``current`` with every non-empty field of ``ctx`` laid over it and the ``clear`` fields removed."""
    data = current.model_dump()
    for path in FIELD_PATHS:
        value = ctx.get_path(path)
        if value in (None, []):
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
    return PhotoContext.model_validate(data)


def _assign(data: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
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
    for key, new in edits.items():
        current = md.exif.get(*key) if md.exif is not None else None
        if new is None:
            if current is not None:
                needed[key] = None
        elif current is None or not _exif_same(current, new):
            needed[key] = new
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
        current = packet.get(home.path, home.kind)
        if current == value or (current in (None, []) and value in (None, [])):
            continue
        packet.set(home.path, home.kind, value)
        changed = True
    if not changed:
        return None, None
    data = None
    if md.xmp_size is not None and not blocks.xmp_extended:
        data = packet.serialize_to_size(md.xmp_size)
    if data is None:
        data = packet.serialize(padding=2048)
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
    changed = False
    for key, values in edits.items():
        if iim.get(*key) == values:
            continue
        iim.set(*key, values)
        changed = True
    if not changed:
        return None, None
    new_iim = iim.encode()
    resources = list(md.irb or [])
    digest_ok = md.stored_digest is None or md.stored_digest == md.current_digest
    _put_resource(resources, iptc.IRB_IPTC, new_iim)
    if digest_ok:
        _put_resource(resources, iptc.IRB_IPTC_DIGEST, iptc.iim_digest(new_iim))
    return iptc.build_irb(resources), new_iim


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
        fd = os.open(path, os.O_RDONLY)
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


def write(
    path: PathLike,
    ctx: PhotoContext,
    *,
    clear: Iterable[str] = (),
    iim: IimPolicy = "always",
    dry_run: bool = False,
    limits: Limits = DEFAULT_LIMITS,
) -> WriteOutcome:
    """Store ``ctx`` in the file, merged with what the file already holds.

    Fields of ``ctx`` that are ``None`` or ``[]`` keep the file's values; name fields in ``clear``
    (dotted paths such as ``"location.city"``) to remove them. Each field is written to all its homes
    (EXIF, XMP and, unless ``iim="never"``, IPTC-IIM with the UTF-8 marker and an updated IPTC digest),
    so other tools agree. Nothing else in the file changes: the image data and every segment, tag and
    resource photometa does not own stay byte for byte. The new file is written beside the old one,
    fsynced, checked and renamed over it; if anything fails the old file is untouched.
    A write that changes nothing does not touch the file.

    Returns:
        What changed, field by field.

    Raises:
        UnsupportedFormatError: the format cannot be written.
        CorruptFileError: the file's structure is not sound enough to write safely.
        InvalidValueError: a value does not fit its home (e.g. EXIF larger than 64 KB in JPEG).
        WriteError: the file could not be replaced (permissions, full disk, changed meanwhile).
    """
    p = Path(path)
    if not isinstance(ctx, PhotoContext):
        raise InvalidValueError("ctx must be a PhotoContext", path=p, code="bad-argument")
    rows, cleared = _rows_to_write(ctx, clear)
    try:
        return _write(p, ctx, rows, cleared, iim, dry_run, limits)
    except PhotometaError as err:
        raise err.with_path(p) from None


def _write(p: Path, ctx: PhotoContext, rows: Sequence[Row], cleared: set[str], iim: IimPolicy,
           dry_run: bool, limits: Limits) -> WriteOutcome:
    with _locked(p) if not dry_run else contextlib.nullcontext():
        before = os.stat(p)
        container, blocks, md = _load(p, limits, strict=True)
        if container.write is None:
            raise UnsupportedFormatError(
                f"{container.name} files cannot be written in place", path=p, code="read-only-format"
            )
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
        if update == Update():
            return outcome
        if dry_run:
            return outcome
        _commit(p, container, update, before, limits)
        outcome.written = True
        return outcome


def _tiff_update(md: Metadata, blocks: Blocks,
                 edits: dict[tuple[str, int], exif_codec.ExifWrite | None], xmp: bytes | None,
                 irb: bytes | None, iim: bytes | None, limits: Limits) -> Update:
    """In a TIFF structure XMP and IPTC are IFD0 tags: one patch writes them with the EXIF edits."""
    if xmp is not None:
        edits[("IFD0", TIFF_XMP)] = exif_codec.ExifWrite(exif_codec.BYTE, xmp)
    if iim is not None:
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


def _commit(p: Path, container: Container, update: Update, before: os.stat_result,
            limits: Limits) -> None:
    assert container.write is not None
    with open(p, "rb") as src, atomic_replace(p) as tmp:
        result = container.write(src, tmp, update, limits)
        tmp.flush()
        for (s_off, s_len), (t_off, t_len) in zip(result.source_ranges, result.target_ranges):
            if s_len != t_len or hash_range(src, s_off, s_len) != hash_range(tmp, t_off, t_len):
                raise WriteError("image data would change; nothing was written", path=p,
                                 code="image-data-changed")
        tmp.seek(0)
        try:
            container.read(tmp, limits, True)
        except CorruptFileError as err:
            raise WriteError(f"the new file does not parse ({err.msg}); nothing was written",
                             path=p, code="verify-failed") from err
        now = os.stat(p)
        if (now.st_mtime_ns, now.st_size, now.st_ino) != (before.st_mtime_ns, before.st_size,
                                                          before.st_ino):
            raise WriteError("the file changed while photometa was writing it; nothing was written",
                             path=p, code="changed-meanwhile")
