"""JPEG: APP1 Exif and XMP (standard and Extended), APP13 Photoshop IRB; the walk stops at start of
scan.

Writing rebuilds only the marker segments before the scan: segments photometa does not own are
copied byte for
byte and in order, new ones are placed early (Exif after JFIF, XMP after Exif, APP13 after XMP),
and everything
from the start-of-scan marker to the end of the file (entropy-coded data, trailers, MPF images) is
copied
unchanged. When an MPF index (APP2) precedes segments whose size changed, its image offsets are
adjusted.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO, Final

from .._binary import Limits, check_limit
from .._fileio import copy_range
from .._metadata import Blocks
from ..errors import CorruptFileError, LimitExceededError, WriteError
from . import Container, Update, WriteResult

__all__ = ["CONTAINER", "JpegLayout", "Segment", "read_layout"]

SOI: Final = 0xD8
EOI: Final = 0xD9
SOS: Final = 0xDA
APP0: Final = 0xE0
APP1: Final = 0xE1
APP2: Final = 0xE2
APP13: Final = 0xED
EXIF_SIG: Final = b"Exif\x00\x00"
XMP_SIG: Final = b"http://ns.adobe.com/xap/1.0/\x00"
XMP_EXT_SIG: Final = b"http://ns.adobe.com/xmp/extension/\x00"
PS_SIG: Final = b"Photoshop 3.0\x00"
MPF_SIG: Final = b"MPF\x00"
MAX_PAYLOAD: Final = 0xFFFF - 2  # bytes after the length field
XMP_EXT_CHUNK: Final = MAX_PAYLOAD - len(XMP_EXT_SIG) - 32 - 8
MAX_XMP_STANDARD: Final = MAX_PAYLOAD - len(XMP_SIG)
_STANDALONE: Final = frozenset({0x01, *range(0xD0, 0xD8)})
_WITH_LENGTH: Final = frozenset(range(0x100)) - _STANDALONE - {0x00, 0xFF, SOI, EOI}


@dataclass(frozen=True)
class Segment:
    """One marker segment before the scan: ``offset`` of its 0xFF, ``payload`` after the length
    field."""

    marker: int
    offset: int
    payload: bytes

    @property
    def size(self) -> int:
        """Bytes the segment takes in the file (marker, length and payload)."""
        return 4 + len(self.payload)

    def kind(self) -> str:
        """What photometa sees in it: exif, xmp, xmp-ext, irb, mpf, or other."""
        p = self.payload
        if self.marker == APP1:
            if p.startswith(EXIF_SIG) or p.startswith(b"Exif\x00\xff"):
                return "exif"
            if p.startswith(XMP_SIG):
                return "xmp"
            if p.startswith(XMP_EXT_SIG):
                return "xmp-ext"
        elif self.marker == APP13 and p.startswith(PS_SIG):
            return "irb"
        elif self.marker == APP2 and p.startswith(MPF_SIG):
            return "mpf"
        return "other"


@dataclass
class JpegLayout:
    """The segments before the scan and where the scan starts (``None`` when the walk stopped
    early)."""

    segments: list[Segment] = field(default_factory=list)
    scan_offset: int | None = None
    warnings: list[CorruptFileError] = field(default_factory=list)


def accept(head: bytes) -> bool:
    """JPEG starts with SOI followed by a marker."""
    return head[:3] == b"\xff\xd8\xff"


def read_layout(f: BinaryIO, limits: Limits, strict: bool) -> JpegLayout:
    """Walk the marker segments up to the start of scan, reading nothing after it.

    Tolerant by default: a broken structure ends the walk with a warning and what was found so far.
    With ``strict`` any irregularity raises :class:`CorruptFileError`.
    """
    layout = JpegLayout()
    start = f.read(2)
    if start != b"\xff\xd8":
        raise CorruptFileError("not a JPEG: no start-of-image marker", code="jpeg-soi", offset=0)
    pos = 2
    total = 0

    def problem(msg: str, code: str, offset: int) -> bool:
        err = CorruptFileError(msg, code=code, offset=offset)
        if strict:
            raise err
        layout.warnings.append(err)
        return False

    while True:
        quad = f.read(4)  # the common case: 0xFF, a marker with a length, the length
        if len(quad) == 4 and quad[0] == 0xFF and quad[1] in _WITH_LENGTH:
            marker, length = quad[1], quad[2] << 8 | quad[3]
            marker_offset = pos
            pos += 4
        else:  # fill bytes, standalone markers, junk, the end of the file: byte by byte
            f.seek(pos)
            found = _marker_slowly(f, pos, problem)
            if found is None:
                return layout
            if found[0] < 0:
                pos = found[1]
                continue
            marker, marker_offset, pos = found
            raw_len = f.read(2)
            if len(raw_len) < 2:
                problem("file ends inside a segment length", "jpeg-truncated", pos)
                return layout
            length = raw_len[0] << 8 | raw_len[1]
            pos += 2
        if length < 2:
            problem(f"segment length {length} is too small", "jpeg-length", marker_offset + 2)
            return layout
        if marker == SOS:
            layout.scan_offset = marker_offset
            return layout
        total += length
        try:
            check_limit(
                total,
                limits.max_metadata_bytes,
                "metadata before the image data",
                offset=marker_offset,
            )
        except LimitExceededError as err:
            if strict:
                raise
            layout.warnings.append(err)
            return layout
        payload = f.read(length - 2)
        if len(payload) < length - 2:
            problem(
                f"segment 0xFF{marker:02X} needs {length - 2} bytes, the file has {len(payload)}",
                "jpeg-truncated",
                marker_offset,
            )
            return layout
        pos += length - 2
        layout.segments.append(Segment(marker, marker_offset, payload))
        if len(layout.segments) > limits.max_boxes:
            flood = LimitExceededError(f"more than {limits.max_boxes} segments before the "
                                       "image data", code="limit", offset=marker_offset)
            if strict:
                raise flood
            layout.warnings.append(flood)
            return layout


def _marker_slowly(f: BinaryIO, pos: int, problem: Callable[[str, str, int], bool]
                   ) -> tuple[int, int, int] | None:
    """The next marker, read byte by byte from ``pos`` (``f`` is positioned there).

    Returns ``(marker, its offset, the offset after it)``; ``(-1, the offset after it, 0)`` for a
    standalone marker, which has no length; ``None``, after reporting the problem, when the walk
    must end.
    """
    byte = f.read(1)
    if not byte:
        problem("file ends before the image data (no start-of-scan)", "jpeg-truncated", pos)
        return None
    if byte != b"\xff":
        problem(f"expected a marker, found byte 0x{byte[0]:02X}", "jpeg-junk", pos)
        return None
    marker_offset = pos
    pos += 1
    marker = 0xFF
    while marker == 0xFF:  # fill bytes
        b = f.read(1)
        if not b:
            problem("file ends inside a marker", "jpeg-truncated", pos)
            return None
        marker = b[0]
        pos += 1
    if marker in _STANDALONE:
        return -1, pos, 0
    if marker == 0x00 or marker == SOI:
        problem(f"invalid marker 0xFF{marker:02X}", "jpeg-marker", marker_offset)
        return None
    if marker == EOI:
        problem("end-of-image before any image data", "jpeg-no-scan", marker_offset)
        return None
    return marker, marker_offset, pos


def blocks_of(layout: JpegLayout, limits: Limits) -> Blocks:
    """Collect the metadata blocks from the segments."""
    blocks = Blocks(warnings=list(layout.warnings))
    irb_parts: list[bytes] = []
    ext: dict[str, tuple[int, list[tuple[int, bytes]]]] = {}
    for seg in layout.segments:
        kind = seg.kind()
        if kind == "exif" and blocks.exif is None:
            blocks.exif = seg.payload[len(EXIF_SIG) :]
        elif kind == "xmp" and blocks.xmp is None:
            blocks.xmp = seg.payload[len(XMP_SIG) :]
        elif kind == "irb":
            irb_parts.append(seg.payload[len(PS_SIG) :])
        elif kind == "xmp-ext":
            p = seg.payload
            head = len(XMP_EXT_SIG)
            if len(p) < head + 40:
                blocks.warnings.append(
                    CorruptFileError(
                        "Extended XMP segment too short", code="xmp-ext", offset=seg.offset
                    )
                )
                continue
            guid = p[head : head + 32].decode("ascii", "replace")
            full, off = struct.unpack(">II", p[head + 32 : head + 40])
            chunk = p[head + 40 :]
            if full > limits.max_xmp_bytes or off + len(chunk) > full:
                blocks.warnings.append(
                    CorruptFileError(
                        f"Extended XMP chunk out of range ({off}+{len(chunk)} of {full})",
                        code="xmp-ext",
                        offset=seg.offset,
                    )
                )
                continue
            declared, parts = ext.setdefault(guid, (full, []))
            if declared == full:
                parts.append((off, chunk))
    if irb_parts:
        blocks.irb = b"".join(irb_parts)
    for guid, (full, parts) in ext.items():
        if sum(len(chunk) for _, chunk in parts) < full:  # memory follows the bytes in the file
            blocks.warnings.append(CorruptFileError(
                f"Extended XMP {guid} is incomplete", code="xmp-ext", offset=None))
            continue
        buf = bytearray(full)
        for off, chunk in parts:
            buf[off : off + len(chunk)] = chunk
        blocks.xmp_extended[guid] = bytes(buf)
    return blocks


def read(f: BinaryIO, limits: Limits, strict: bool) -> Blocks:
    """Read the metadata blocks of a JPEG file."""
    return blocks_of(read_layout(f, limits, strict), limits)


def _segment(marker: int, payload: bytes) -> bytes:
    if len(payload) > MAX_PAYLOAD:
        raise LimitExceededError(
            f"a JPEG segment holds at most {MAX_PAYLOAD} bytes, this one needs {len(payload)}",
            code="jpeg-segment-too-large",
        )
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def _irb_segments(irb: bytes) -> list[bytes]:
    step = MAX_PAYLOAD - len(PS_SIG)
    parts = [irb[i : i + step] for i in range(0, len(irb), step)] or [b""]
    return [_segment(APP13, PS_SIG + part) for part in parts]


def _ext_segments(guid: str, packet: bytes) -> list[bytes]:
    head = XMP_EXT_SIG + guid.encode("ascii")
    return [
        _segment(
            APP1, head + struct.pack(">II", len(packet), off) + packet[off : off + XMP_EXT_CHUNK]
        )
        for off in range(0, len(packet), XMP_EXT_CHUNK)
    ]


def _patch_mpf(payload: bytes, delta: int, offset: int) -> bytes:
    """Shift the MP Entry offsets of an MPF index by ``delta`` (bytes inserted after it)."""
    tiff = payload[4:]
    try:
        order = {b"II": "<", b"MM": ">"}[tiff[:2]]
        (ifd,) = struct.unpack(order + "I", tiff[4:8])
        (count,) = struct.unpack(order + "H", tiff[ifd : ifd + 2])
        out = bytearray(payload)
        for i in range(count):
            e = ifd + 2 + 12 * i
            tag, _typ, n, value = struct.unpack(order + "HHII", tiff[e : e + 12])
            if tag != 0xB002:
                continue
            for k in range(n // 16):
                at = value + 16 * k + 8
                (image_offset,) = struct.unpack(order + "I", tiff[at : at + 4])
                if image_offset:
                    out[4 + at : 8 + at] = struct.pack(order + "I", image_offset + delta)
        return bytes(out)
    except (KeyError, struct.error, IndexError) as err:
        raise CorruptFileError("cannot adjust the MPF index", code="mpf", offset=offset) from err


def write(src: BinaryIO, dst: BinaryIO, update: Update, limits: Limits) -> WriteResult:
    """Write ``src`` to ``dst`` with the blocks of ``update``; refuse a JPEG that is not well
    formed."""
    src.seek(0)
    layout = read_layout(src, limits, strict=True)
    if layout.scan_offset is None:  # pragma: no cover - strict read raises first
        raise CorruptFileError("no image data found", code="jpeg-no-scan")
    out: list[tuple[bytes, bool]] = []  # (segment bytes, is_original_unchanged)
    kinds = [seg.kind() for seg in layout.segments]
    placed = {"exif": False, "xmp": False, "irb": False}
    new_exif = _segment(APP1, EXIF_SIG + update.exif) if update.exif is not None else None
    new_xmp = _segment(APP1, XMP_SIG + update.xmp) if update.xmp is not None else None
    new_ext = (
        _ext_segments(*update.xmp_extended)
        if update.xmp_extended and update.xmp_extended[1]
        else []
    )
    new_irb = _irb_segments(update.irb) if update.irb is not None else None

    def raw(seg: Segment) -> bytes:
        return struct.pack(">BBH", 0xFF, seg.marker, len(seg.payload) + 2) + seg.payload

    for seg, kind in zip(layout.segments, kinds, strict=True):
        if kind == "exif" and not placed["exif"]:
            placed["exif"] = True
            out.append((new_exif, False) if new_exif is not None else (raw(seg), True))
            continue
        if kind == "xmp" and not placed["xmp"]:
            placed["xmp"] = True
            if new_xmp is not None:
                out.append((new_xmp, False))
                out.extend((s, False) for s in new_ext)
            else:
                out.append((raw(seg), True))
            continue
        if kind == "xmp-ext" and (update.xmp is not None or update.xmp_extended is not None):
            continue  # replaced (or dropped) together with the standard packet
        if kind == "irb" and new_irb is not None:
            if not placed["irb"]:
                placed["irb"] = True
                out.extend((s, False) for s in new_irb)
            continue
        out.append((raw(seg), True))

    # insert blocks the file did not have: Exif after the APP0 segments, XMP after Exif, APP13
    # after XMP
    def after(predicate_kinds: set[str], markers: set[int]) -> int:
        index = 0
        for i, (seg_bytes, _) in enumerate(out):
            marker = seg_bytes[1]
            if marker in markers or _kind_of(seg_bytes) in predicate_kinds:
                index = i + 1
        return index

    if new_exif is not None and not placed["exif"]:
        out.insert(after(set(), {APP0}), (new_exif, False))
    if new_xmp is not None and not placed["xmp"]:
        at = after({"exif"}, {APP0})
        for s in reversed([new_xmp, *new_ext]):
            out.insert(at, (s, False))
    if new_irb is not None and not placed["irb"]:
        at = after({"exif", "xmp", "xmp-ext"}, {APP0})
        for s in reversed(new_irb):
            out.insert(at, (s, False))

    # MPF: image offsets are relative to the MPF header; bytes changed after it shift the images
    mpf_index = next((i for i, (b, _) in enumerate(out) if _kind_of(b) == "mpf"), None)
    if mpf_index is not None:
        old_mpf = next(s for s, k in zip(layout.segments, kinds, strict=True) if k == "mpf")
        old_after = layout.scan_offset - (old_mpf.offset + old_mpf.size)
        new_after = sum(len(b) for b, _ in out[mpf_index + 1 :])
        delta = new_after - old_after
        if delta:
            seg_bytes = out[mpf_index][0]
            patched = _patch_mpf(seg_bytes[4:], delta, old_mpf.offset)
            out[mpf_index] = (seg_bytes[:4] + patched, False)

    header = b"\xff\xd8" + b"".join(b for b, _ in out)
    dst.write(header)
    dst.flush()
    src.seek(0, 2)
    end = src.tell()
    length = end - layout.scan_offset
    copied = copy_range(src, layout.scan_offset, dst, len(header), length)
    if copied != length:  # pragma: no cover - copy_range raises first
        raise WriteError(f"copied {copied} of {length} bytes of image data", code="source-changed")
    return WriteResult([(layout.scan_offset, length)], [(len(header), length)],
                       len(header) + length)


def _kind_of(segment_bytes: bytes) -> str:
    return Segment(segment_bytes[1], 0, segment_bytes[4:]).kind()


CONTAINER: Final = Container(
    name="jpeg",
    accept=accept,
    read=read,
    write=write,
    max_xmp_bytes=MAX_XMP_STANDARD,
    holds_iim=True,
    extensions=(".jpg", ".jpeg", ".jpe", ".jfif"),
)
