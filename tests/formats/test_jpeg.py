"""The JPEG container: marker walk, block extraction, header rebuild."""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from photometa import DEFAULT_LIMITS, CorruptFileError
from photometa.formats import Update, jpeg, sniff


def seg(marker: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


SCAN = seg(0xDA, b"\x01\x01\x00\x00\x3f\x00") + b"\x12\x34\xff\x00\x56" + b"\xff\xd9"


def jpeg_bytes(*segments: bytes) -> bytes:
    return b"\xff\xd8" + b"".join(segments) + SCAN


def test_sniff_by_content() -> None:
    assert sniff(b"\xff\xd8\xff\xe0") is jpeg.CONTAINER
    assert sniff(b"\x89PNG\r\n\x1a\n") is not jpeg.CONTAINER


def test_walk_stops_at_scan_and_extracts_blocks() -> None:
    data = jpeg_bytes(
        seg(0xE0, b"JFIF\x00\x01\x02"),
        seg(0xE1, jpeg.EXIF_SIG + b"MM\x00*\x00\x00\x00\x08\x00\x00"),
        seg(0xE1, jpeg.XMP_SIG + b"<x/>"),
        seg(0xED, jpeg.PS_SIG + b"8BIM-part1"),
        seg(0xED, jpeg.PS_SIG + b"-part2"),
    )
    layout = jpeg.read_layout(io.BytesIO(data), DEFAULT_LIMITS, strict=True)
    assert layout.scan_offset == data.index(b"\xff\xda")
    blocks = jpeg.blocks_of(layout, DEFAULT_LIMITS)
    assert blocks.exif == b"MM\x00*\x00\x00\x00\x08\x00\x00"
    assert blocks.xmp == b"<x/>"
    assert blocks.irb == b"8BIM-part1-part2"


def test_extended_xmp_reassembled_by_guid() -> None:
    guid = b"0123456789ABCDEF0123456789ABCDEF"
    full = b"A" * 10 + b"B" * 7
    parts = [
        seg(0xE1, jpeg.XMP_EXT_SIG + guid + struct.pack(">II", len(full), 10) + full[10:]),
        seg(0xE1, jpeg.XMP_EXT_SIG + guid + struct.pack(">II", len(full), 0) + full[:10]),
    ]
    data = jpeg_bytes(seg(0xE1, jpeg.XMP_SIG + b"<x/>"), *parts)
    blocks = jpeg.read(io.BytesIO(data), DEFAULT_LIMITS, False)
    assert blocks.xmp_extended == {guid.decode(): full}


@pytest.mark.parametrize(
    "data,code",
    [
        (b"\xff\xd8\xff\xe1\x00", "jpeg-truncated"),
        (b"\xff\xd8\xff\xe1\x00\x10abc", "jpeg-truncated"),
        (b"\xff\xd8\x00\x00", "jpeg-junk"),
        (b"\xff\xd8\xff\xe1\x00\x01", "jpeg-length"),
        (b"\xff\xd8\xff\xd9", "jpeg-no-scan"),
    ],
)
def test_broken_structure_tolerant_and_strict(data: bytes, code: str) -> None:
    layout = jpeg.read_layout(io.BytesIO(data), DEFAULT_LIMITS, strict=False)
    assert [w.code for w in layout.warnings] == [code]
    with pytest.raises(CorruptFileError) as info:
        jpeg.read_layout(io.BytesIO(data), DEFAULT_LIMITS, strict=True)
    assert info.value.code == code
    assert info.value.offset is not None


@pytest.mark.parametrize(
    "data,code,offset",
    [
        (b"\xff\xd8\xff\xe1\x00\x04ab\xff\xff\xff\x00", "jpeg-marker", 8),  # fill, then 0xFF00
        (b"\xff\xd8\xff\x01\xff\xd0\xff\xd8", "jpeg-marker", 6),  # standalones, then SOI
        (b"\xff\xd8\xff\xe1\x00\x04ab\xff\xff", "jpeg-truncated", 10),  # ends in fill bytes
        (b"\xff\xd8\xff\xe1\x00\x04ab\xff\xe2\x00", "jpeg-truncated", 10),  # half a length
        (b"\xff\xd8\xff\xe1\x00\x04ab\x12\x34\x56\x78", "jpeg-junk", 8),
    ],
)
def test_marker_walk_offsets(data: bytes, code: str, offset: int) -> None:
    layout = jpeg.read_layout(io.BytesIO(data), DEFAULT_LIMITS, strict=False)
    assert [(w.code, w.offset) for w in layout.warnings] == [(code, offset)]


def test_fill_bytes_and_standalone_markers_between_segments() -> None:
    exif = seg(0xE1, jpeg.EXIF_SIG + b"MM\x00*\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00")
    plain = jpeg_bytes(exif, seg(0xE2, b"icc"))
    padded = jpeg_bytes(b"\xff\xff\xff" + exif[1:], b"\xff\x01\xff\xd3",
                        b"\xff" + seg(0xE2, b"icc"))
    a = jpeg.read_layout(io.BytesIO(plain), DEFAULT_LIMITS, strict=True)
    b = jpeg.read_layout(io.BytesIO(padded), DEFAULT_LIMITS, strict=True)
    assert [(s.marker, s.payload) for s in a.segments] == [
        (s.marker, s.payload) for s in b.segments]
    assert [s.offset for s in b.segments] == [2, 2 + 2 + len(exif) + 4]
    assert padded[b.scan_offset:b.scan_offset + 2] == b"\xff\xda"


def _write(data: bytes, update: Update, tmp_path: Path) -> bytes:
    src = tmp_path / "src.jpg"
    src.write_bytes(data)
    dst = tmp_path / "dst.jpg"
    with open(src, "rb") as s, open(dst, "w+b") as d:
        result = jpeg.write(s, d, update, DEFAULT_LIMITS)
    out = dst.read_bytes()
    assert result.size == len(out)  # the api checks the written file has this size
    (s_off, s_len), (t_off, t_len) = result.source_ranges[0], result.target_ranges[0]
    assert data[s_off : s_off + s_len] == out[t_off : t_off + t_len]
    return out


def test_write_keeps_unknown_segments_and_scan(tmp_path: Path) -> None:
    icc = seg(0xE2, b"ICC_PROFILE\x00\x01\x01" + b"p" * 50)
    com = seg(0xFE, b"a comment")
    data = jpeg_bytes(seg(0xE0, b"JFIF\x00\x01\x02"), icc, com)
    out = _write(data, Update(exif=b"MM\x00*new", xmp=b"<xmp/>", irb=b"8BIMirb"), tmp_path)
    assert out.endswith(SCAN)
    assert icc in out and com in out
    # order: JFIF, Exif, XMP, APP13, then the file's own segments
    blocks = jpeg.read(io.BytesIO(out), DEFAULT_LIMITS, True)
    assert (blocks.exif, blocks.xmp, blocks.irb) == (b"MM\x00*new", b"<xmp/>", b"8BIMirb")
    assert out.index(b"JFIF") < out.index(b"Exif") < out.index(b"<xmp/>") < out.index(b"ICC_")


def test_write_replaces_in_place_and_nothing_else_moves(tmp_path: Path) -> None:
    exif = seg(0xE1, jpeg.EXIF_SIG + b"II*\x00old")
    xmp = seg(0xE1, jpeg.XMP_SIG + b"<old/>")
    data = jpeg_bytes(exif, xmp, seg(0xDB, b"\x00" * 65))
    out = _write(data, Update(xmp=b"<new/>"), tmp_path)
    assert out == data.replace(b"<old/>", b"<new/>")


def test_empty_update_is_identity(tmp_path: Path) -> None:
    data = jpeg_bytes(seg(0xE0, b"JFIF\x00"), seg(0xE1, jpeg.EXIF_SIG + b"MM\x00*x"))
    assert _write(data, Update(), tmp_path) == data


def test_large_irb_split_over_segments(tmp_path: Path) -> None:
    irb = bytes(range(256)) * 600  # ~150 KB
    out = _write(jpeg_bytes(), Update(irb=irb), tmp_path)
    assert out.count(jpeg.PS_SIG) == 3
    assert jpeg.read(io.BytesIO(out), DEFAULT_LIMITS, True).irb == irb


def test_extended_xmp_written_in_chunks(tmp_path: Path) -> None:
    ext = b"x" * 150_000
    guid = "A" * 32
    out = _write(jpeg_bytes(), Update(xmp=b"<std/>", xmp_extended=(guid, ext)), tmp_path)
    blocks = jpeg.read(io.BytesIO(out), DEFAULT_LIMITS, True)
    assert blocks.xmp_extended == {guid: ext}


def test_oversized_exif_refused(tmp_path: Path) -> None:
    with pytest.raises(CorruptFileError) as info:
        _write(jpeg_bytes(), Update(exif=b"x" * 70_000), tmp_path)
    assert info.value.code == "jpeg-segment-too-large"


def test_write_refuses_broken_file(tmp_path: Path) -> None:
    with pytest.raises(CorruptFileError):
        _write(b"\xff\xd8\xff\xe1\x00\x10abc", Update(xmp=b"<x/>"), tmp_path)


def test_mpf_offsets_follow_inserted_bytes(tmp_path: Path) -> None:
    # an MPF index (big-endian) with two entries; the second image lies after the first's EOI
    entries = struct.pack(">IIIHH", 0x20030000, 100, 0, 0, 0) + struct.pack(
        ">IIIHH", 0x00010000, 50, 500, 0, 0
    )
    ifd = struct.pack(">H", 1) + struct.pack(">HHII", 0xB002, 7, 32, 8 + 2 + 12 + 4) + b"\0\0\0\0"
    mpf = seg(0xE2, b"MPF\x00" + b"MM\x00*\x00\x00\x00\x08" + ifd + entries)
    xmp = seg(0xE1, jpeg.XMP_SIG + b"<old/>")
    data = jpeg_bytes(mpf, xmp)
    out = _write(data, Update(xmp=b"<a-longer-packet/>"), tmp_path)
    start = out.index(b"MPF\x00") + 4
    second = start + 8 + 2 + 12 + 4 + 16 + 8
    assert struct.unpack(">I", out[second : second + 4])[0] == 500 + 12


def test_corpus_jpegs_walk(corpus: Path, make_jpeg: Callable[..., Path]) -> None:
    files = sorted((corpus / "jpeg").rglob("*.jp*g")) + sorted((corpus / "jpeg").rglob("*.JPG"))
    assert len(files) > 50
    for f in files:
        with open(f, "rb") as fh:
            layout = jpeg.read_layout(fh, DEFAULT_LIMITS, strict=False)
        assert layout.scan_offset is not None or layout.warnings, f
