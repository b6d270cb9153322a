"""ISO base media files: HEIF/HEIC, AVIF and Canon CR3. Read only; writing goes to an XMP sidecar.

HEIF and AVIF keep metadata as *items* of the top-level ``meta`` box: ``iinf`` names each item
(``infe`` versions 0-3; type ``Exif``, or ``mime`` with content type ``application/rdf+xml`` for
XMP) and ``iloc`` says where its bytes are (versions 0-2; construction method 0, file offsets,
or 1, offsets into ``idat``; one or more extents). Only the extents of those items are read,
never ``mdat`` as a whole. An Exif item starts with a 4-byte big-endian offset to the TIFF header,
which is skipped. When several Exif or XMP items exist, the one that describes (``iref``
``cdsc``) the primary item (``pitm``) is taken.

Canon CR3 keeps EXIF in ``moov/uuid(85c0b687-820f-11e0-8111-f4ce462b6a48)`` as four TIFF
structures: CMT1 (IFD0), CMT2 (the Exif IFD), CMT3 (maker notes) and CMT4 (GPS). They are joined
into one TIFF structure (IFD0 with pointers to the Exif and GPS directories; maker notes left
out) for the EXIF codec. XMP is the payload of the top-level
``uuid(be7acfcb-97a9-42e8-9c71-999491e3afac)`` box (HEIF files may carry one too).

The box walk is bounded: ``Limits.max_boxes`` boxes at most, 16 levels deep, every child inside
its parent (each step moves forward at least one 8-byte header, so there is no loop). A box of
size 0 runs to the end of its parent, size 1 has a 64-bit size.

Why read only: items are addressed by absolute file offsets from ``iloc`` (and, in CR3, track
sample tables); growing an item means rewriting those offsets everywhere, which cannot be made
as provably safe as the other formats' patches. Writes go to an XMP sidecar instead (``write``
is ``None``; see :mod:`photometa.formats.sidecar`).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, Final

from .._binary import Limits, Reader, check_limit
from .._metadata import Blocks
from ..errors import CorruptFileError, LimitExceededError, PhotometaError
from . import Container

__all__ = ["AVIF", "CONTAINERS", "CR3", "HEIF", "brand_of", "read"]

HEIF_BRANDS: Final = frozenset(
    {b"heic", b"heix", b"hevc", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}
)
AVIF_BRANDS: Final = frozenset({b"avif", b"avis"})
_GENERIC: Final = frozenset({b"mif1", b"msf1"})  # any HEIF image: the codec brand says more
CR3_BRANDS: Final = frozenset({b"crx "})
CANON_UUID: Final = bytes.fromhex("85c0b687820f11e08111f4ce462b6a48")
XMP_UUID: Final = bytes.fromhex("be7acfcb97a942e89c71999491e3afac")
XMP_TYPES: Final = frozenset({"application/rdf+xml", "application/xmp+xml"})
MAX_DEPTH: Final = 16

# TIFF structure (not tag meaning): value sizes by type, and the two directory pointers CR3's
# separate CMT blocks need to become one EXIF structure.
_TYPE_SIZES: Final[dict[int, int]] = {
    1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4,
    16: 8, 17: 8, 18: 8, 129: 1,
}
_EXIF_POINTER: Final = 0x8769
_GPS_POINTER: Final = 0x8825
_INTEROP_POINTER: Final = 0xA005
_SUBIFDS: Final = 0x014A
_POINTERS: Final = frozenset({_EXIF_POINTER, _GPS_POINTER, _INTEROP_POINTER, _SUBIFDS})
_LONG: Final = 4


def brand_of(head: bytes) -> str | None:
    """Which container the ``ftyp`` box at the start of ``head`` names: ``"heif"``, ``"avif"``,
    ``"raw-cr3"``, or ``None`` (not ISO BMFF, or another kind such as MP4 video).

    The major brand decides; when it is none of ours, or only the generic ``mif1``/``msf1``, the
    compatible brands are looked at.
    """
    if len(head) < 12 or head[4:8] != b"ftyp":
        return None
    size = int.from_bytes(head[:4], "big")
    if size < 16:
        size = 12  # malformed or 64-bit ftyp: judge by the major brand alone
    end = min(size, len(head))
    major = head[8:12]
    compatible = [head[i : i + 4] for i in range(16, end - 3, 4)]
    for brands in ([major], compatible):
        for wanted, name in ((CR3_BRANDS, "raw-cr3"), (AVIF_BRANDS, "avif"),
                             (HEIF_BRANDS - _GENERIC, "heif")):
            if any(b in wanted for b in brands):
                return name
    if major in _GENERIC or any(b in _GENERIC for b in compatible):
        return "heif"  # a HEIF image file of no more specific brand
    return None


# -- boxes ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Box:
    """A box: its type, where its header starts, where its payload starts and where it ends."""

    type: bytes
    start: int
    body: int
    end: int
    uuid: bytes = b""


@dataclass
class _Walk:
    """The state of one file's walk: the file, its size, the box budget and the warnings."""

    f: BinaryIO
    size: int
    limits: Limits
    strict: bool
    warnings: list[PhotometaError] = field(default_factory=list)
    boxes: int = 0
    read_bytes: int = 0

    def problem(self, msg: str, code: str, offset: int | None) -> None:
        """A structural problem: raised when strict, else remembered as a warning."""
        err = CorruptFileError(msg, code=code, offset=offset)
        if self.strict:
            raise err
        self.warnings.append(err)

    def count(self, offset: int) -> None:
        """Count one more box against ``limits.max_boxes``."""
        self.boxes += 1
        check_limit(self.boxes, self.limits.max_boxes, "number of boxes", offset=offset)

    def read_at(self, offset: int, length: int, cap: int, what: str) -> bytes:
        """``length`` bytes from ``offset``: bounded by ``cap`` and the metadata budget."""
        check_limit(length, cap, what, offset=offset)
        self.read_bytes += length
        check_limit(self.read_bytes, self.limits.max_metadata_bytes, "metadata read from the file",
                    offset=offset)
        if offset < 0 or length < 0 or offset + length > self.size:
            raise CorruptFileError(f"{what} ({length} bytes at {offset}) lies outside the file "
                                   f"({self.size} bytes)", code="bmff-range", offset=offset)
        self.f.seek(offset)
        data = self.f.read(length)
        if len(data) != length:
            raise CorruptFileError(f"the file ends inside {what}", code="bmff-truncated",
                                   offset=offset)
        return data

    def children(self, start: int, end: int, depth: int) -> Iterator[_Box]:
        """The boxes from ``start`` to ``end`` in the file (a parent's payload)."""
        if depth > MAX_DEPTH:
            raise CorruptFileError(f"boxes nest deeper than {MAX_DEPTH} levels",
                                   code="bmff-depth", offset=start)
        pos = start
        while pos < end:
            if end - pos < 8:
                self.problem(f"{end - pos} stray bytes where a box header should be",
                             "bmff-trailing", pos)
                return
            self.count(pos)
            self.f.seek(pos)
            head = self.f.read(min(32, end - pos))
            box = _parse_header(head, pos, end)
            if isinstance(box, str):
                self.problem(box, "bmff-box", pos)
                return
            if box.end > end:
                self.problem(f"box '{_name(box.type)}' runs {box.end - end} bytes past its "
                             "parent", "bmff-box-size", pos)
                box = _Box(box.type, box.start, box.body, end, box.uuid)
            yield box
            pos = box.end


def _name(box_type: bytes) -> str:
    return box_type.decode("latin-1").encode("unicode_escape").decode("ascii")


def _parse_header(head: bytes, pos: int, end: int) -> _Box | str:
    """The box whose header starts ``head`` (read at ``pos``), or why it is not one."""
    size, box_type = struct.unpack(">I4s", head[:8])
    body = pos + 8
    if size == 1:
        if len(head) < 16:
            return "a 64-bit box size is cut short"
        size = struct.unpack(">Q", head[8:16])[0]
        body += 8
    elif size == 0:
        size = end - pos  # runs to the end of the parent (of the file, at the top level)
    uuid = b""
    if box_type == b"uuid":
        at = body - pos
        if len(head) < at + 16:
            return "a 'uuid' box is too short for its extended type"
        uuid = head[at : at + 16]
        body += 16
    if size < body - pos:
        return f"box '{_name(box_type)}' declares {size} bytes, less than its own header"
    return _Box(box_type, pos, body, pos + size, uuid)


def _boxes_in(data: bytes, base: int, walk: _Walk) -> Iterator[tuple[bytes, bytes, int]]:
    """Boxes inside a payload held in memory: ``(type, payload, file offset)``."""
    pos = 0
    while pos < len(data):
        if len(data) - pos < 8:
            walk.problem("stray bytes where a box header should be", "bmff-trailing", base + pos)
            return
        walk.count(base + pos)
        box = _parse_header(data[pos : pos + 32], base + pos, base + len(data))
        if isinstance(box, str):
            walk.problem(box, "bmff-box", base + pos)
            return
        if box.end > base + len(data):
            walk.problem(f"box '{_name(box.type)}' runs past its parent", "bmff-box-size",
                         base + pos)
            return
        yield box.type, data[box.body - base : box.end - base], box.start
        pos = box.end - base


# -- HEIF items ----------------------------------------------------------------------------------


@dataclass
class _Item:
    """One item of ``iinf`` that holds metadata, and where ``iloc`` says its bytes are."""

    id: int
    kind: str  # "exif" or "xmp"
    encoding: str = ""
    method: int = 0
    data_ref: int = 0
    extents: list[tuple[int, int]] = field(default_factory=list)
    located: bool = False


def _cstring(r: Reader) -> str:
    """A NUL-terminated UTF-8 string (the rest of the box when the NUL is missing)."""
    data = r.data
    nul = bytes(data[r.pos : r.end]).find(b"\x00")
    stop = r.end if nul < 0 else r.pos + nul
    text = bytes(data[r.pos : stop]).decode("utf-8", "replace")
    r.pos = min(stop + 1, r.end)
    return text


def _parse_iinf(payload: bytes, base: int, walk: _Walk) -> list[_Item]:
    r = Reader(payload, base=base)
    version = r.u8()
    r.skip(3)
    if version == 0:
        r.u16()
    else:
        r.u32()  # the count is implied by the boxes that follow
    items: list[_Item] = []
    for box_type, body, offset in _boxes_in(payload[r.pos :], base + r.pos, walk):
        if box_type != b"infe":
            continue
        try:
            item = _parse_infe(body, offset + 8)
        except CorruptFileError as err:
            walk.problem(f"unreadable item entry: {err.msg}", "bmff-infe", offset)
            continue
        if item is not None:
            items.append(item)
    return items


def _parse_infe(body: bytes, base: int) -> _Item | None:
    r = Reader(body, base=base)
    version = r.u8()
    r.skip(3)
    if version >= 2:
        item_id = r.u16() if version == 2 else r.u32()
        protection = r.u16()
        item_type = r.take(4)
        _cstring(r)  # item name
        content_type = encoding = ""
        if item_type == b"mime":
            content_type = _cstring(r)
            encoding = _cstring(r) if r.remaining() else ""
    else:
        item_id = r.u16()
        protection = r.u16()
        _cstring(r)
        content_type = _cstring(r) if r.remaining() else ""
        encoding = _cstring(r) if r.remaining() else ""
        item_type = b"mime"
    if protection:
        return None  # encrypted or otherwise protected: not readable metadata
    if item_type == b"Exif":
        return _Item(item_id, "exif")
    mime = content_type.split(";")[0].strip().lower()
    if item_type == b"mime" and mime in XMP_TYPES:
        return _Item(item_id, "xmp", encoding=encoding.strip().lower())
    return None


def _sized(r: Reader, size: int) -> int:
    if size == 0:
        return 0
    if size == 4:
        return r.u32()
    if size == 8:
        return r.u64()
    raise r.fail(f"field size {size} is not 0, 4 or 8", "bmff-iloc")


def _parse_iloc(payload: bytes, base: int, items: dict[int, _Item], walk: _Walk) -> None:
    """Fill in where the wanted items' bytes are; other items are read past."""
    r = Reader(payload, base=base)
    version = r.u8()
    if version > 2:
        walk.problem(f"item location box version {version} is unknown", "bmff-iloc", base)
        return
    r.skip(3)
    sizes = r.u8()
    offset_size, length_size = sizes >> 4, sizes & 0x0F
    sizes = r.u8()
    base_offset_size = sizes >> 4
    index_size = sizes & 0x0F if version in (1, 2) else 0
    count = r.u16() if version < 2 else r.u32()
    check_limit(count, walk.limits.max_boxes, "items in 'iloc'", offset=base)
    for _ in range(count):
        item_id = r.u16() if version < 2 else r.u32()
        method = r.u16() & 0x0F if version in (1, 2) else 0
        data_ref = r.u16()
        base_offset = _sized(r, base_offset_size)
        extent_count = r.u16()
        extents = []
        for _ in range(extent_count):
            if index_size:
                _sized(r, index_size)
            extent_offset = _sized(r, offset_size)
            extent_length = _sized(r, length_size)
            extents.append((base_offset + extent_offset, extent_length))
        item = items.get(item_id)
        if item is not None and not item.located:
            item.method, item.data_ref, item.extents, item.located = (
                method, data_ref, extents, True)


def _parse_pitm(payload: bytes, base: int) -> int:
    r = Reader(payload, base=base)
    version = r.u8()
    r.skip(3)
    return r.u16() if version == 0 else r.u32()


def _parse_iref(payload: bytes, base: int, walk: _Walk) -> dict[int, set[int]]:
    """``cdsc`` references: item -> the items it describes."""
    r = Reader(payload, base=base)
    version = r.u8()
    r.skip(3)
    described: dict[int, set[int]] = {}
    for box_type, body, offset in _boxes_in(payload[4:], base + 4, walk):
        if box_type != b"cdsc":
            continue
        b = Reader(body, base=offset + 8)
        source = b.u16() if version == 0 else b.u32()
        refs = b.u16()
        targets = described.setdefault(source, set())
        for _ in range(refs):
            targets.add(b.u16() if version == 0 else b.u32())
    return described


def _item_bytes(walk: _Walk, item: _Item, idat: _Box | None, cap: int) -> bytes:
    if not item.located:
        raise CorruptFileError(f"item {item.id} has no location in 'iloc'", code="bmff-iloc")
    if item.data_ref:
        raise CorruptFileError(f"item {item.id} lies in another file", code="bmff-external")
    if item.method not in (0, 1):
        raise CorruptFileError(f"item {item.id} uses construction method {item.method}, "
                               "which photometa does not read", code="bmff-construction")
    if item.method == 1 and idat is None:
        raise CorruptFileError(f"item {item.id} lies in 'idat', which is missing",
                               code="bmff-idat")
    start, end = (idat.body, idat.end) if item.method == 1 and idat is not None else (0, walk.size)
    parts = []
    total = 0
    for offset, length in item.extents:
        at = start + offset
        if at > end:
            raise CorruptFileError(f"item {item.id} extent starts at {at}, past its data",
                                   code="bmff-range", offset=at)
        if length == 0:  # the rest of the data
            length = end - at
        if at < start or at + length > end:
            raise CorruptFileError(f"item {item.id} extent ({length} bytes at {at}) lies "
                                   "outside its data", code="bmff-range", offset=at)
        total += length
        check_limit(total, cap, f"item {item.id}", offset=at)
        parts.append(walk.read_at(at, length, cap, f"item {item.id}"))
    return b"".join(parts)


def _exif_payload(data: bytes, item_id: int) -> bytes:
    """The TIFF structure in an Exif item: skip the offset field (and a stray ``Exif\\0\\0``)."""
    if len(data) < 4:
        raise CorruptFileError(f"Exif item {item_id} is {len(data)} bytes long",
                               code="bmff-exif")
    skip = int.from_bytes(data[:4], "big")
    tiff = data[4 + skip :] if 4 + skip < len(data) else b""
    if tiff[:4] in (b"II*\x00", b"MM\x00*"):
        return tiff
    for magic in (b"II*\x00", b"MM\x00*"):  # some writers get the offset wrong
        at = data.find(magic, 0, 64)
        if at >= 0:
            return data[at:]
    raise CorruptFileError(f"Exif item {item_id} holds no TIFF header", code="bmff-exif")


def _inflate(data: bytes, encoding: str, cap: int) -> bytes:
    """Undo an item's HTTP-style content encoding (deflate/gzip), bounded by ``cap`` bytes."""
    wbits = {"deflate": 15, "gzip": 31, "x-gzip": 31}.get(encoding)
    if wbits is None:
        raise CorruptFileError(f"XMP item content encoding {encoding!r} is not supported",
                               code="bmff-encoding")
    d = zlib.decompressobj(wbits)
    try:
        out = d.decompress(data, cap + 1)
    except zlib.error as err:
        raise CorruptFileError(f"compressed XMP item is corrupt: {err}",
                               code="bmff-encoding") from None
    if len(out) > cap:
        raise LimitExceededError(f"compressed XMP item expands past {cap} bytes", code="limit")
    return out


def _choose(items: list[_Item], primary: int | None, described: dict[int, set[int]]) -> _Item:
    if primary is not None:
        for item in items:
            if primary in described.get(item.id, ()):
                return item
    return items[0]


def _read_heif(walk: _Walk, meta: _Box, blocks: Blocks) -> None:
    # HEIF's meta is a full box (4 bytes of version and flags); QuickTime's is not
    walk.f.seek(meta.body)
    peek = walk.f.read(8)
    start = meta.body + 4 if peek[4:8] != b"hdlr" else meta.body
    found: dict[bytes, _Box] = {}
    for box in walk.children(start, meta.end, 1):
        if box.type in (b"iinf", b"iloc", b"pitm", b"iref", b"idat") and box.type not in found:
            found[box.type] = box
    if b"iinf" not in found:
        return

    def payload(kind: bytes) -> bytes | None:
        box = found.get(kind)
        if box is None:
            return None
        return walk.read_at(box.body, box.end - box.body, walk.limits.max_segment_bytes,
                            f"the '{kind.decode()}' box")

    iinf = payload(b"iinf")
    assert iinf is not None
    items = _parse_iinf(iinf, found[b"iinf"].body, walk)
    if not items:
        return
    iloc = payload(b"iloc")
    if iloc is None:
        walk.problem("metadata items without an 'iloc' box", "bmff-iloc", meta.start)
        return
    _parse_iloc(iloc, found[b"iloc"].body, {i.id: i for i in items}, walk)
    pitm = payload(b"pitm")
    primary = _parse_pitm(pitm, found[b"pitm"].body) if pitm is not None else None
    iref = payload(b"iref")
    described = _parse_iref(iref, found[b"iref"].body, walk) if iref is not None else {}
    idat = found.get(b"idat")
    for kind in ("exif", "xmp"):
        candidates = [i for i in items if i.kind == kind]
        if not candidates:
            continue
        item = _choose(candidates, primary, described)
        try:
            if kind == "exif":
                data = _item_bytes(walk, item, idat, walk.limits.max_segment_bytes)
                blocks.exif = _exif_payload(data, item.id)
            else:
                data = _item_bytes(walk, item, idat, walk.limits.max_xmp_bytes)
                if item.encoding:
                    data = _inflate(data, item.encoding, walk.limits.max_xmp_bytes)
                blocks.xmp = data
        except LimitExceededError:
            raise
        except CorruptFileError as err:
            if walk.strict:
                raise
            walk.warnings.append(err)


# -- CR3 -----------------------------------------------------------------------------------------

_Entry = tuple[int, int, int, bytes]  # tag, type, count, value bytes


def _first_ifd(data: bytes, base: int, limits: Limits) -> tuple[str, list[_Entry]]:
    """The byte order and the entries (values resolved) of a TIFF block's first directory."""
    r = Reader(data, base=base)
    order = {b"II": "<", b"MM": ">"}.get(r.take(2))
    if order is None:
        raise r.fail("no TIFF byte order mark", "cr3-tiff", 0)
    r.order = "<" if order == "<" else ">"
    if r.u16() != 42:
        raise r.fail("no TIFF magic number", "cr3-tiff", 2)
    r.pos = r.u32()
    if r.pos > len(data):
        raise r.fail("the first directory lies outside the block", "cr3-tiff", 4)
    count = r.u16()
    check_limit(count, limits.max_ifd_entries, "directory entries", offset=base + r.pos)
    entries: list[_Entry] = []
    for _ in range(count):
        tag, typ, n = r.u16(), r.u16(), r.u32()
        raw = r.take(4)
        size = _TYPE_SIZES.get(typ)
        if size is None:
            continue
        total = size * n
        if total <= 4:
            entries.append((tag, typ, n, raw[:total]))
            continue
        at = struct.unpack(order + "I", raw)[0]
        if at + total > len(data):
            continue  # a value outside the block: the codec would warn; drop it here
        entries.append((tag, typ, n, data[at : at + total]))
    return order, entries


def _join_tiffs(ifd0: bytes, exif: bytes | None, gps: bytes | None, base: int,
                limits: Limits, warnings: list[PhotometaError]) -> bytes:
    """One TIFF structure: IFD0 from CMT1, pointing to CMT2's directory (Exif) and CMT4's (GPS)."""
    order, root = _first_ifd(ifd0, base, limits)
    dirs: list[list[_Entry]] = [[e for e in root if e[0] not in _POINTERS]]
    links: list[int] = []
    for tag, block in ((_EXIF_POINTER, exif), (_GPS_POINTER, gps)):
        if block is None:
            continue
        try:
            sub_order, entries = _first_ifd(block, base, limits)
        except CorruptFileError as err:
            warnings.append(err)
            continue
        if sub_order != order:
            warnings.append(CorruptFileError("CR3 metadata blocks differ in byte order; one was "
                                             "left out", code="cr3-tiff", offset=base))
            continue
        dirs.append([e for e in entries if e[0] not in _POINTERS])
        links.append(tag)
        dirs[0].append((tag, _LONG, 1, b""))  # value filled in below
    dirs[0].sort(key=lambda e: e[0])
    offsets = []
    at = 8
    for entries in dirs:
        offsets.append(at)
        at += 2 + 12 * len(entries) + 4
    data_area = bytearray()
    out = bytearray(b"II*\x00" if order == "<" else b"MM\x00*")
    out += struct.pack(order + "I", 8)
    for entries in dirs:
        out += struct.pack(order + "H", len(entries))
        for tag, typ, n, value in entries:
            if tag in links and not value:
                field_bytes = struct.pack(order + "I", offsets[1 + links.index(tag)])
            elif len(value) <= 4:
                field_bytes = value.ljust(4, b"\x00")
            else:
                if (at + len(data_area)) % 2:
                    data_area += b"\x00"
                field_bytes = struct.pack(order + "I", at + len(data_area))
                data_area += value
            out += struct.pack(order + "HHI", tag, typ, n) + field_bytes
        out += b"\x00\x00\x00\x00"
    return bytes(out + data_area)


def _read_cr3(walk: _Walk, moov: _Box, blocks: Blocks) -> None:
    cmt: dict[bytes, bytes] = {}
    for box in walk.children(moov.body, moov.end, 1):
        if box.type != b"uuid" or box.uuid != CANON_UUID:
            continue
        for child in walk.children(box.body, box.end, 2):
            if child.type in (b"CMT1", b"CMT2", b"CMT4") and child.type not in cmt:
                cmt[child.type] = walk.read_at(child.body, child.end - child.body,
                                               walk.limits.max_segment_bytes,
                                               f"the '{child.type.decode()}' box")
        break
    if b"CMT1" not in cmt:
        return
    try:
        blocks.exif = _join_tiffs(cmt[b"CMT1"], cmt.get(b"CMT2"), cmt.get(b"CMT4"),
                                  moov.start, walk.limits, walk.warnings)
    except CorruptFileError as err:
        if walk.strict or isinstance(err, LimitExceededError):
            raise
        walk.warnings.append(err)


# -- the container -------------------------------------------------------------------------------


def read(f: BinaryIO, limits: Limits, strict: bool) -> Blocks:
    """Read the EXIF and XMP of a HEIF, AVIF or CR3 file, seeking only to the boxes that hold them.

    Tolerant unless ``strict``: a broken box ends the walk of its parent with a warning and what
    was found so far is returned. Exceeding a limit always raises ``LimitExceededError``.
    """
    f.seek(0, 2)
    size = f.tell()
    walk = _Walk(f, size, limits, strict)
    f.seek(0)
    head = f.read(4096)  # the whole ftyp box, however many compatible brands it lists
    kind = brand_of(head)
    if kind is None:
        raise CorruptFileError("not an ISO base media file with a HEIF, AVIF or CR3 brand",
                               code="bmff-ftyp", offset=0)
    blocks = Blocks()
    seen_meta = seen_moov = False
    try:
        for box in walk.children(0, size, 0):
            try:
                if box.type == b"meta" and not seen_meta:
                    seen_meta = True
                    _read_heif(walk, box, blocks)
                elif box.type == b"moov" and not seen_moov and kind == "raw-cr3":
                    seen_moov = True
                    _read_cr3(walk, box, blocks)
                elif box.type == b"uuid" and box.uuid == XMP_UUID and blocks.xmp is None:
                    blocks.xmp = walk.read_at(box.body, box.end - box.body,
                                              limits.max_xmp_bytes, "the XMP box")
            except LimitExceededError:
                raise
            except CorruptFileError as err:  # this box is broken; the others may be fine
                if strict:
                    raise
                walk.warnings.append(err)
    except LimitExceededError:
        raise
    except CorruptFileError as err:
        if strict:
            raise
        walk.warnings.append(err)
    blocks.warnings = walk.warnings
    return blocks


def _container(name: str, extensions: tuple[str, ...]) -> Container:
    def accept(head: bytes) -> bool:
        return brand_of(head) == name

    accept.__doc__ = f"True when the file starts with an 'ftyp' box of a {name} brand."
    return Container(name=name, accept=accept, read=read, write=None, holds_iim=False,
                     extensions=extensions)


HEIF: Final = _container("heif", (".heic", ".heif", ".hif"))
AVIF: Final = _container("avif", (".avif",))
CR3: Final = _container("raw-cr3", (".cr3",))
CONTAINERS: Final[tuple[Container, ...]] = (HEIF, AVIF, CR3)
"""The ISO BMFF containers, all read-only (written through XMP sidecars)."""
