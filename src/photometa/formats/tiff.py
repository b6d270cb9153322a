"""TIFF-structured files: TIFF, BigTIFF, DNG and the TIFF-based camera RAW formats.

The whole file is one TIFF structure, so there is nothing to unwrap: :func:`read` hands the file,
memory-mapped (never copied), to the EXIF codec as ``Blocks.exif`` with ``exif_is_file`` set, and
XMP and IPTC are found in IFD0 tags by the metadata layer. Writing applies the
:class:`~photometa.formats.BytePatch` the api planned with the codec: the file is copied
kernel-side up to ``truncate_at``, the patches overwrite their bytes and the tail is appended.
Every other byte, strips and tiles included, keeps its offset; :class:`WriteResult` lists all of
those ranges so the api proves by hashing that they did not change. As the hash cannot see what a
cut drops or what a patch overwrites, :func:`write` also checks the patch against the image data
(:func:`image_data`: strips, tiles and JPEG thumbnails of the IFD0 chain and SubIFDs) and refuses
one that would cut or change it (``WriteError``, code ``image-data-changed``).

Which files are written in place: plain classic TIFF only. BigTIFF is read-only (the codec does
not patch 8-byte offsets). DNG and camera RAW are read-only on purpose: their vendors' software
and raw converters expect their layout, and their metadata goes to an XMP sidecar instead.
The variant is told by content, never by extension:

* BigTIFF: ``II+\\0`` / ``MM\\0+``;
* CR2: ``II*\\0`` with IFD0 at 16 and ``CR`` at byte 8; IIQ: ``IIII`` at byte 8;
  ORF: ``IIRO``, ``IIRS``, ``MMOR``; RW2/RWL: ``IIU\\0``;
* DNG: a classic TIFF whose IFD0 has DNGVersion (50706);
* other TIFF-based RAW (NEF, NRW, ARW, SR2, PEF, SRW, 3FR, DCR, MOS...): a classic TIFF whose
  IFD0 has DNGPrivateData (50740, Sony's SR2Private), or one of whose images (the IFD0 chain
  and SubIFDs) is a CFA or LinearRaw image or uses a vendor RAW compression. The Make names
  the variant (``raw-nef``, ``raw-arw``, ``raw-pef``, ``raw-srw``, else ``raw-tiff``).

:func:`kind_of` classifies whatever bytes it is given. ``accept`` sees only the first bytes of a
file, so a DNG or RAW whose deciding directory lies beyond them is sniffed as ``tiff``;
:func:`write` therefore classifies the whole file again and refuses a DNG or RAW
(``UnsupportedFormatError``, code ``read-only-format``) before writing anything.
"""

from __future__ import annotations

import bisect
import io
import mmap
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import BinaryIO, Final, Literal

from .._binary import Buffer, Limits
from .._fileio import copy_range
from .._metadata import Blocks
from ..errors import CorruptFileError, InvalidValueError, UnsupportedFormatError, WriteError
from . import BytePatch, Container, Update, WriteResult

__all__ = [
    "BIGTIFF",
    "CONTAINER",
    "CONTAINERS",
    "DNG",
    "image_data",
    "kind_of",
    "read",
    "write",
]

TIFF_II: Final = b"II*\x00"
TIFF_MM: Final = b"MM\x00*"
BIGTIFF_II: Final = b"II+\x00"
BIGTIFF_MM: Final = b"MM\x00+"
ORF_MAGIC: Final = (b"IIRO", b"IIRS", b"MMOR")
RW2_MAGIC: Final = b"IIU\x00"

# Directory entries the container reads: to tell the variant, and to know where the image data is.
_COMPRESSION: Final = 0x0103
_PHOTOMETRIC: Final = 0x0106
_MAKE: Final = 0x010F
_SUBIFDS: Final = 0x014A
_DNG_VERSION: Final = 0xC612
_DNG_PRIVATE: Final = 0xC634
# (offsets, byte counts) of image data: strips, tiles, JPEG interchange format (thumbnails)
_DATA_TAGS: Final = ((0x0111, 0x0117), (0x0144, 0x0145), (0x0201, 0x0202))
_RAW_PHOTOMETRIC: Final = frozenset({32803, 34892})  # CFA, LinearRaw
# Sony ARW, packed RAW, Samsung SRW (2), Nikon NEF, DNG lossy JPEG, Kodak DCR, Pentax PEF
_RAW_COMPRESSION: Final = frozenset({32767, 32769, 32770, 32772, 34713, 34892, 65000, 65535})
_RAW_BY_MAKE: Final = (("NIKON", "raw-nef"), ("SONY", "raw-arw"), ("PENTAX", "raw-pef"),
                       ("SAMSUNG", "raw-srw"))
_MAX_SCAN_IFDS: Final = 32  # directories the classification visits
_MAX_SCAN_ENTRIES: Final = 1024  # entries it reads in each
_MAX_SUBIFDS: Final = 64  # SubIFDs followed per directory
_UNIT: Final = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4,
                129: 1}
_INT_CODES: Final = {3: "H", 4: "I", 13: "I"}  # SHORT, LONG, IFD


# -- walking the directories ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Ifd:
    """One directory as the container sees it: tag -> (type, count, where the value bytes are)."""

    offset: int
    is_ifd0: bool
    entries: dict[int, tuple[int, int, int]]


def _order(data: Buffer) -> str:
    return "<" if bytes(data[:2]) == b"II" else ">"


def _u16(data: Buffer, order: str, at: int) -> int | None:
    if at < 0 or at + 2 > len(data):
        return None
    return int(struct.unpack_from(order + "H", data, at)[0])


def _u32(data: Buffer, order: str, at: int) -> int | None:
    if at < 0 or at + 4 > len(data):
        return None
    return int(struct.unpack_from(order + "I", data, at)[0])


def _ints(data: Buffer, order: str, entry: tuple[int, int, int] | None,
          limit: int | None = None) -> tuple[int, ...]:
    """The SHORT/LONG/IFD values of an entry; ``()`` when of another type or outside ``data``."""
    if entry is None:
        return ()
    typ, count, at = entry
    code = _INT_CODES.get(typ)
    if code is None:
        return ()
    if limit is not None:
        count = min(count, limit)
    if at < 0 or at + _UNIT[typ] * count > len(data):
        return ()
    return tuple(struct.unpack_from(f"{order}{count}{code}", data, at))


def _walk(data: Buffer, max_ifds: int, max_entries: int) -> list[_Ifd]:
    """The directories of a classic TIFF (IFD0 chain and SubIFDs), read as far as ``data`` holds.

    Bounded (``max_ifds`` directories, their first ``max_entries`` entries) and never raising: a
    directory that does not fit is read partly, one outside ``data`` is skipped, a loop is
    followed once.
    """
    order = _order(data)
    endian: Literal["little", "big"] = "little" if order == "<" else "big"
    first = _u32(data, order, 4)
    todo: list[tuple[int, bool]] = [(first, True)] if first else []
    seen: set[int] = set()
    out: list[_Ifd] = []
    while todo and len(seen) < max_ifds:
        off, is_ifd0 = todo.pop()
        if off in seen or off < 8:
            continue
        seen.add(off)
        count = _u16(data, order, off)
        if count is None:
            continue
        start = off + 2
        fit = max(0, (len(data) - start) // 12)
        entries: dict[int, tuple[int, int, int]] = {}
        block = bytes(data[start : start + 12 * min(count, fit, max_entries)])
        for i, (tag, typ, cnt, field) in enumerate(struct.iter_unpack(order + "HHI4s", block)):
            at = start + 12 * i + 8
            if _UNIT.get(typ, 0) * cnt > 4:
                at = int.from_bytes(field, endian)
            entries.setdefault(tag, (typ, cnt, at))
        out.append(_Ifd(off, is_ifd0, entries))
        if count <= fit:
            nxt = _u32(data, order, start + 12 * count)
            if nxt:
                todo.append((nxt, False))
        subs = _ints(data, order, entries.get(_SUBIFDS), _MAX_SUBIFDS)
        todo.extend((sub, False) for sub in reversed(subs) if sub)
    return out


def _classic_kind(data: Buffer) -> str:
    """Classify a classic (magic 42) TIFF by a bounded walk of its directories.

    Reads only what ``data`` holds: a truncated buffer (the first bytes of a file) gives the
    answer its visible directories support, ``"tiff"`` when nothing marks it as DNG or RAW.
    """
    order = _order(data)
    raw = False
    make = ""
    for ifd in _walk(data, _MAX_SCAN_IFDS, _MAX_SCAN_ENTRIES):
        entries = ifd.entries
        if ifd.is_ifd0:
            if _DNG_VERSION in entries:
                return "dng"
            raw = raw or _DNG_PRIVATE in entries
            typ, count, at = entries.get(_MAKE, (0, 0, 0))
            if typ == 2:
                make = bytes(data[at : at + min(count, 64)]).decode("latin-1").upper()
        compression = set(_ints(data, order, entries.get(_COMPRESSION), 1))
        photometric = set(_ints(data, order, entries.get(_PHOTOMETRIC), 1))
        raw = raw or bool(compression & _RAW_COMPRESSION or photometric & _RAW_PHOTOMETRIC)
    if not raw:
        return "tiff"
    for prefix, name in _RAW_BY_MAKE:
        if make.lstrip().startswith(prefix):
            return name
    return "raw-tiff"


def image_data(data: Buffer, *, max_ifds: int = 256, max_entries: int = 4096
               ) -> list[tuple[int, int]]:
    """Where the image data of a classic TIFF lies, as sorted, merged ``(offset, length)`` ranges:
    every strip, tile and JPEG thumbnail referenced from the IFD0 chain and the SubIFDs.

    Data whose length is not recorded (offsets without byte counts) is taken to run to the end
    of the file, so nothing after its start may change.
    """
    order = _order(data)
    size = len(data)
    spans: list[tuple[int, int]] = []
    for ifd in _walk(data, max_ifds, max_entries):
        for off_tag, len_tag in _DATA_TAGS:
            offsets = _ints(data, order, ifd.entries.get(off_tag))
            if not offsets:
                continue
            lengths = _ints(data, order, ifd.entries.get(len_tag))
            for i, start in enumerate(offsets):
                if 0 < start < size:
                    end = start + lengths[i] if i < len(lengths) else size
                    spans.append((start, min(end, size)))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return [(start, end - start) for start, end in merged]


def kind_of(data: Buffer) -> str | None:
    """Which TIFF-structured format ``data`` (a file's first bytes, or the whole file) is.

    Returns one of the container names (``"tiff"``, ``"bigtiff"``, ``"dng"``, ``"raw-cr2"``,
    ``"raw-orf"``, ``"raw-rw2"``, ``"raw-iiq"``, ``"raw-nef"``, ``"raw-arw"``, ``"raw-pef"``,
    ``"raw-srw"``, ``"raw-tiff"``) or ``None`` when it is no TIFF structure. Never raises on
    short or broken data.
    """
    head = bytes(data[:16])
    magic = head[:4]
    if magic in (BIGTIFF_II, BIGTIFF_MM):
        return "bigtiff"
    if magic in ORF_MAGIC:
        return "raw-orf"
    if magic == RW2_MAGIC:
        return "raw-rw2"
    if magic not in (TIFF_II, TIFF_MM):
        return None
    if magic == TIFF_II and head[8:10] == b"CR" and head[4:8] == b"\x10\x00\x00\x00":
        return "raw-cr2"
    if head[8:12] == b"IIII":
        return "raw-iiq"
    return _classic_kind(data)


@lru_cache(maxsize=16)
def _kind_of_head(head: bytes) -> str | None:
    return kind_of(head)


def _accepts(name: str) -> Callable[[bytes], bool]:
    def accept(head: bytes) -> bool:
        return _kind_of_head(bytes(head)) == name

    accept.__doc__ = f"True when the first bytes are those of a {name} file."
    return accept


# -- reading -------------------------------------------------------------------------------------


def _map(f: BinaryIO) -> Buffer:
    """The whole file, memory-mapped read-only (read into memory when it cannot be mapped)."""
    try:
        fd = f.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        f.seek(0)
        return f.read()
    size = os.fstat(fd).st_size
    if size == 0:
        raise CorruptFileError("the file is empty", code="tiff-empty", offset=0)
    try:
        return mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
    except OSError:  # a file system without mmap: read it (correct, if costly)
        f.seek(0)
        return f.read()


def read(f: BinaryIO, limits: Limits, strict: bool) -> Blocks:
    """The file as one TIFF structure: ``Blocks(exif=<the whole file>, exif_is_file=True)``.

    The file is memory-mapped read-only, never copied (a file object without a descriptor is
    read into memory).

    Only the header is checked here; the EXIF codec walks the directories (tolerantly unless the
    caller decodes strictly). ``strict`` also requires IFD0 to start inside the file.
    """
    data = _map(f)
    if len(data) < 8:
        raise CorruptFileError(f"TIFF header needs 8 bytes, the file has {len(data)}",
                               code="tiff-header", offset=0)
    kind = kind_of(data[:16])
    if kind is None:
        raise CorruptFileError("not a TIFF structure (bad byte order mark or magic number)",
                               code="tiff-header", offset=0)
    if strict:
        if kind == "bigtiff":
            order = "<" if bytes(data[:2]) == b"II" else ">"
            first = (int(struct.unpack_from(order + "Q", data, 8)[0])
                     if len(data) >= 16 else 0)
        else:
            first = _u32(data, "<" if bytes(data[:2]) == b"II" else ">", 4) or 0
        if not 8 <= first < len(data):
            raise CorruptFileError(f"IFD0 offset {first} lies outside the file "
                                   f"({len(data)} bytes)", code="tiff-ifd0", offset=4)
    return Blocks(exif=data, exif_is_file=True)


# -- writing -------------------------------------------------------------------------------------


def _check_patch(patch: BytePatch, size: int) -> None:
    if not 8 <= patch.truncate_at <= size:
        raise InvalidValueError(f"cannot cut the file at {patch.truncate_at} (it has {size} bytes)",
                                code="tiff-patch")
    end = 0
    for offset, chunk in patch.patches:
        if offset < end or offset + len(chunk) > patch.truncate_at:
            raise InvalidValueError(f"patch at {offset} ({len(chunk)} bytes) overlaps another or "
                                    f"lies past byte {patch.truncate_at}", code="tiff-patch")
        end = offset + len(chunk)


def _check_image_data(data: Buffer, patch: BytePatch, image: list[tuple[int, int]]) -> None:
    """Refuse a patch that would cut or change a strip, tile or thumbnail (a second line of
    defence: the api proves by hashing that kept ranges did not change, but it cannot see what
    a cut drops or what a patch overwrites)."""
    for start, length in image:
        if start + length > patch.truncate_at:
            raise WriteError(f"the edit would cut image data (bytes {start}..{start + length}, "
                             f"file cut at {patch.truncate_at}); nothing was written",
                             code="image-data-changed", offset=start)
    starts = [start for start, _ in image]
    for offset, chunk in patch.patches:
        i = max(0, bisect.bisect_right(starts, offset) - 1)
        while i < len(image) and image[i][0] < offset + len(chunk):
            lo = max(offset, image[i][0])
            hi = min(offset + len(chunk), image[i][0] + image[i][1])
            if lo < hi and bytes(data[lo:hi]) != chunk[lo - offset : hi - offset]:
                raise WriteError(f"the edit would overwrite image data at byte {lo}; nothing was "
                                 "written", code="image-data-changed", offset=lo)
            i += 1


def _kept_ranges(patch: BytePatch) -> list[tuple[int, int]]:
    """``[0, truncate_at)`` minus the patched ranges, as ``(offset, length)``."""
    out: list[tuple[int, int]] = []
    pos = 0
    for offset, chunk in patch.patches:
        if offset > pos:
            out.append((pos, offset - pos))
        pos = max(pos, offset + len(chunk))
    if patch.truncate_at > pos:
        out.append((pos, patch.truncate_at - pos))
    return out


def write(src: BinaryIO, dst: BinaryIO, update: Update, limits: Limits) -> WriteResult:
    """Write ``src`` to ``dst`` with ``update.file_patch`` applied; nothing else moves.

    Raises:
        UnsupportedFormatError: ``src`` is a BigTIFF, DNG or camera RAW (code ``read-only-format``).
        InvalidValueError: the update holds container blocks (a TIFF structure takes only a
            ``file_patch``) or a patch outside the file (code ``tiff-patch``).
        WriteError: the patch would cut or change image data (code ``image-data-changed``).
    """
    if (update.exif, update.xmp, update.xmp_extended, update.irb, update.iim) != (None,) * 5:
        raise InvalidValueError("a TIFF structure is written through Update.file_patch only",
                                code="tiff-update")
    data = _map(src)
    try:
        size = len(data)
        kind = kind_of(data)
        if kind is None:
            raise CorruptFileError("not a TIFF structure", code="tiff-header", offset=0)
        if kind != "tiff":
            raise UnsupportedFormatError(f"{kind} files cannot be written in place",
                                         code="read-only-format")
        patch = update.file_patch if update.file_patch is not None else BytePatch((), size, b"")
        _check_patch(patch, size)
        image = image_data(data, max_ifds=limits.max_ifds, max_entries=limits.max_ifd_entries)
        _check_image_data(data, patch, image)
    finally:
        if isinstance(data, mmap.mmap):
            data.close()
    copied = copy_range(src, 0, dst, 0, patch.truncate_at)
    if copied != patch.truncate_at:  # pragma: no cover - copy_range raises first
        raise WriteError(f"copied {copied} of {patch.truncate_at} bytes", code="source-changed")
    for offset, chunk in patch.patches:
        dst.seek(offset)
        dst.write(chunk)
    dst.seek(patch.truncate_at)
    dst.write(patch.tail)
    dst.truncate()
    dst.flush()
    kept = _kept_ranges(patch)
    return WriteResult(list(kept), list(kept), patch.truncate_at + len(patch.tail))


# -- the containers ------------------------------------------------------------------------------


def _container(name: str, extensions: tuple[str, ...], *, writable: bool = False) -> Container:
    return Container(
        name=name,
        accept=_accepts(name),
        read=read,
        write=write if writable else None,
        holds_iim=True,
        tiff_structure=True,
        extensions=extensions,
    )


CONTAINER: Final = _container("tiff", (".tif", ".tiff"), writable=True)
BIGTIFF: Final = _container("bigtiff", (".tif", ".tiff", ".btf", ".tf8"))
DNG: Final = _container("dng", (".dng",))
CONTAINERS: Final[tuple[Container, ...]] = (
    CONTAINER,
    BIGTIFF,
    DNG,
    _container("raw-cr2", (".cr2",)),
    _container("raw-nef", (".nef", ".nrw")),
    _container("raw-arw", (".arw", ".srf", ".sr2")),
    _container("raw-pef", (".pef",)),
    _container("raw-srw", (".srw",)),
    _container("raw-orf", (".orf",)),
    _container("raw-rw2", (".rw2", ".rwl")),
    _container("raw-iiq", (".iiq",)),
    _container("raw-tiff", (".3fr", ".dcr", ".kdc", ".mef", ".mos", ".erf")),
)
"""Every TIFF-structured container; exactly one accepts a given TIFF head (see :func:`kind_of`)."""
