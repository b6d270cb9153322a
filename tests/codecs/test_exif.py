"""Tests of the TIFF/EXIF codec (photometa.codecs.exif): tolerant reading, lossless patching."""

from __future__ import annotations

import io
import itertools
import json
import math
import mmap
import struct
import subprocess
from collections.abc import Collection, Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any

import piexif
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from conftest import corpus_params, need_corpus_file
from photometa._binary import Limits
from photometa.codecs import exif
from photometa.codecs.exif import (
    ASCII,
    BYTE,
    DOUBLE,
    FLOAT,
    LONG,
    LONG8,
    RATIONAL,
    SBYTE,
    SHORT,
    SLONG,
    SRATIONAL,
    SSHORT,
    TAGS,
    UNDEFINED,
    UTF8,
    ExifData,
    ExifWrite,
    apply_patch,
    decode,
    new_block,
    plan_patch,
)
from photometa.errors import CorruptFileError, InvalidValueError, LimitExceededError

W = ExifWrite
F = Fraction

# The tags photometa writes, with typical values.
PHOTOMETA_EDITS: dict[tuple[str, int], ExifWrite | None] = {
    ("IFD0", 0x010E): W(ASCII, "Harbour at dawn, fishing boats"),
    ("IFD0", 0x013B): W(ASCII, "Jürgen Müller"),
    ("IFD0", 0x8298): W(ASCII, "© 2024 Jürgen Müller"),
    ("ExifIFD", 0x9003): W(ASCII, "2024:05:06 07:08:09"),
    ("ExifIFD", 0x9011): W(ASCII, "+09:00"),
    ("ExifIFD", 0x9291): W(ASCII, "250"),
    ("GPS", 0x0000): W(BYTE, (2, 3, 0, 0)),
    ("GPS", 0x0001): W(ASCII, "S"),
    ("GPS", 0x0002): W(RATIONAL, (F(33), F(51), F(3547, 100))),
    ("GPS", 0x0003): W(ASCII, "E"),
    ("GPS", 0x0004): W(RATIONAL, (F(151), F(12), F(4, 3))),
    ("GPS", 0x0005): W(BYTE, b"\x01"),
    ("GPS", 0x0006): W(RATIONAL, (F(2469, 20),)),
}

# Photographer-style edits used on real files.
REAL_EDITS: dict[tuple[str, int], ExifWrite | None] = {
    ("IFD0", 0x013B): W(ASCII, "A. Photographer with a rather long name"),
    ("ExifIFD", 0x9003): W(ASCII, "2021:12:31 23:59:58"),
    ("ExifIFD", 0x9011): W(ASCII, "-03:30"),
    ("GPS", 0x0000): W(BYTE, (2, 3, 0, 0)),
    ("GPS", 0x0001): W(ASCII, "N"),
    ("GPS", 0x0002): W(RATIONAL, (F(48), F(51), F(2406, 100))),
    ("GPS", 0x0003): W(ASCII, "W"),
    ("GPS", 0x0004): W(RATIONAL, (F(2), F(21), F(750, 100))),
}

# Camera JPEGs whose EXIF holds a maker note (absolute offsets: nothing may move).
MAKERNOTE_JPEGS = [
    "jpeg/exiftool/Canon.jpg",
    "jpeg/exiftool/Nikon.jpg",
    "jpeg/exiftool/NikonD70.jpg",
    "jpeg/exif-py/Canon_PowerShot_S40.jpg",
    "jpeg/exif-py/Sony_DSLR-A200.jpg",
    "jpeg/exiftool/Pentax.jpg",
    "jpeg/exiftool/Olympus.jpg",
    "jpeg/exiftool/Panasonic.jpg",
    "jpeg/exif-py/Fujifilm_FinePix_E500.jpg",
    "jpeg/exiftool/Minolta.jpg",
    "jpeg/exiftool/Apple.jpg",
]
# Camera JPEGs whose maker note was stripped in the corpus (thumbnail, Interop, GPS kept).
PLAIN_CAMERA_JPEGS = ["jpeg/exif-py/Canon_40D.jpg", "jpeg/exif-py/Nikon_D70.jpg"]


# -- helpers: an independent little TIFF writer, JPEG APP1 surgery ---------------------------------

Entry = tuple[int, int, int, "bytes | str"]  # tag, type, count, payload (or "@name": pointer)


def build_tiff(
    order: str,
    dirs: list[tuple[str, list[Entry]]],
    *,
    links: Mapping[str, str] | None = None,
    tail: bytes = b"",
) -> tuple[bytes, dict[str, int]]:
    """Lay out directories in order, each followed by its out-of-line values (word aligned).

    A payload ``"@name"`` is a LONG pointer to directory ``name``; ``links`` sets next-IFD links.
    Returns the block and where each directory starts. Written without the codec under test.
    """
    links = links or {}
    offsets: dict[str, int] = {}
    pos = 8
    for name, entries in dirs:
        offsets[name] = pos
        pos += 2 + 12 * len(entries) + 4
        for _tag, _typ, _count, payload in entries:
            size = 4 if isinstance(payload, str) else len(payload)
            if size > 4:
                pos += size + (size & 1)
    out = bytearray((b"II*\x00" if order == "<" else b"MM\x00*") + struct.pack(order + "I", 8))
    for name, entries in dirs:
        assert len(out) == offsets[name]
        values = bytearray()
        value_base = offsets[name] + 2 + 12 * len(entries) + 4
        out += struct.pack(order + "H", len(entries))
        for tag, typ, count, payload in entries:
            if isinstance(payload, str):
                payload = struct.pack(order + "I", offsets[payload[1:]])
            if len(payload) <= 4:
                out += struct.pack(order + "HHI", tag, typ, count) + payload.ljust(4, b"\0")
            else:
                at = value_base + len(values)
                out += struct.pack(order + "HHII", tag, typ, count, at)
                values += payload + b"\0" * (len(payload) & 1)
        nxt = links.get(name)
        out += struct.pack(order + "I", offsets[nxt] if nxt else 0)
        out += values
    return bytes(out) + tail, offsets


def asc(text: str) -> tuple[int, int, bytes]:
    raw = text.encode("utf-8") + b"\0"
    return ASCII, len(raw), raw


def simple_block(order: str = "<", *, with_thumb: bool = True) -> tuple[bytes, dict[str, int]]:
    """A camera-like block: IFD0 (Make, Model, Artist...), ExifIFD with a MakerNote, GPS,
    Interop, IFD1 with a JPEG thumbnail at the very end."""
    p = order
    makernote = b"MKNT" + bytes(range(60))
    thumb = b"\xff\xd8" + bytes(range(200)) + b"\xff\xd9"
    ifd0: list[Entry] = [
        (0x010F, *asc("Camera Maker Inc.")),
        (0x0110, *asc("Model 7")),
        (0x0112, SHORT, 1, struct.pack(p + "H", 6)),
        (0x011A, RATIONAL, 1, struct.pack(p + "II", 300, 1)),
        (0x0132, *asc("2020:01:02 03:04:05")),
        (0x013B, *asc("Original Artist")),
        (0x8769, LONG, 1, "@ExifIFD"),
        (0x8825, LONG, 1, "@GPS"),
    ]
    exif_ifd: list[Entry] = [
        (0x829A, RATIONAL, 1, struct.pack(p + "II", 1, 250)),
        (0x9003, *asc("2020:01:02 03:04:05")),
        (0x927C, UNDEFINED, len(makernote), makernote),
        (0xA005, LONG, 1, "@Interop"),
    ]
    gps: list[Entry] = [
        (0x0000, BYTE, 4, b"\x02\x02\x00\x00"),
        (0x0001, *asc("N")),
        (0x0002, RATIONAL, 3, struct.pack(p + "6I", 10, 1, 20, 1, 3000, 100)),
    ]
    interop: list[Entry] = [(0x0001, *asc("R98"))]
    dirs: list[tuple[str, list[Entry]]] = [
        ("IFD0", ifd0), ("ExifIFD", exif_ifd), ("GPS", gps), ("Interop", interop),
    ]
    if not with_thumb:
        return build_tiff(order, dirs)
    # IFD1 with a thumbnail placed after everything: compute its offset from a first layout.
    ifd1: list[Entry] = [
        (0x0103, SHORT, 1, struct.pack(p + "H", 6)),
        (0x0201, LONG, 1, struct.pack(p + "I", 0)),
        (0x0202, LONG, 1, struct.pack(p + "I", len(thumb))),
    ]
    first, _ = build_tiff(order, [*dirs, ("IFD1", ifd1)], links={"IFD0": "IFD1"})
    ifd1[1] = (0x0201, LONG, 1, struct.pack(p + "I", len(first)))
    return build_tiff(order, [*dirs, ("IFD1", ifd1)], links={"IFD0": "IFD1"}, tail=thumb)


def exif_segments(jpeg: bytes) -> list[tuple[int, int]]:
    """(start, end) of the TIFF structure of each Exif APP1 segment of a JPEG."""
    found = []
    pos = 2
    while pos + 4 <= len(jpeg) and jpeg[pos] == 0xFF:
        marker = jpeg[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker in (0xDA, 0xD9):
            break
        length = int.from_bytes(jpeg[pos + 2 : pos + 4], "big")
        body = pos + 4
        if marker == 0xE1 and jpeg[body : body + 6] == b"Exif\0\0":
            found.append((body + 6, pos + 2 + length))
        pos += 2 + length
    return found


def replace_exif(jpeg: bytes, span: tuple[int, int], tiff: bytes) -> bytes:
    """The JPEG with the TIFF structure of the APP1 segment at ``span`` replaced."""
    start, end = span
    seg = start - 10
    length = 2 + 6 + len(tiff)
    assert length <= 0xFFFF
    return (jpeg[:seg] + b"\xff\xe1" + length.to_bytes(2, "big") + b"Exif\0\0" + tiff
            + jpeg[end:])


def entries_of(data: ExifData) -> dict[tuple[str, int], tuple[int, int, bytes]]:
    return {
        (ifd, tag): (e.type, e.count, e.raw)
        for ifd, entries in data.ifds.items()
        for tag, e in entries.items()
    }


POINTERS = {0x8769, 0x8825, 0xA005, 0x014A}


def assert_lossless(before: ExifData, after: ExifData, edits: Mapping[tuple[str, int], Any],
                    gone: Collection[str] = ()) -> None:
    """Every entry not edited reads back identical; pointers aside."""
    for ifd, entries in before.ifds.items():
        if ifd in gone:
            continue
        for tag, e in entries.items():
            if (ifd, tag) in edits or tag in POINTERS:
                continue
            a = after.entry(ifd, tag)
            assert a is not None, (ifd, hex(tag))
            assert (a.type, a.count, a.raw) == (e.type, e.count, e.raw), (ifd, hex(tag))


def patched(data: bytes, edits: Mapping[tuple[str, int], ExifWrite | None]) -> bytes:
    return apply_patch(data, plan_patch(data, edits))


def expected_value(w: ExifWrite) -> Any:
    value = w.value
    if w.type == BYTE and isinstance(value, tuple):
        return bytes(int(v) for v in value)
    if isinstance(value, tuple) and len(value) == 1:
        return value[0]
    return value


def exiftool_json(exe: str, path: Path, *args: str) -> dict[str, Any]:
    proc = subprocess.run([exe, "-a", "-G1", "-j", "-n", *args, str(path)], capture_output=True,
                          check=False)
    return json.loads(proc.stdout)[0]  # type: ignore[no-any-return]


# -- data model, tags ------------------------------------------------------------------------------


def test_type_ids() -> None:
    assert (exif.BYTE, exif.ASCII, exif.SHORT, exif.LONG, exif.RATIONAL, exif.SBYTE,
            exif.UNDEFINED, exif.SSHORT, exif.SLONG, exif.SRATIONAL, exif.FLOAT, exif.DOUBLE,
            exif.IFD_T, exif.LONG8, exif.UTF8) == (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
                                                   16, 129)


def test_tag_table_names_the_tags_photometa_writes() -> None:
    for key in PHOTOMETA_EDITS:
        assert key in TAGS
    assert TAGS[("IFD0", 0x013B)] == "Exif.Image.Artist"
    assert TAGS[("ExifIFD", 0x9003)] == "Exif.Photo.DateTimeOriginal"
    assert TAGS[("GPS", 0x0002)] == "Exif.GPSInfo.GPSLatitude"
    assert TAGS[("ExifIFD", 0x927C)] == "Exif.Photo.MakerNote"
    assert TAGS[("IFD0", 0x8769)] == "Exif.Image.ExifTag"
    assert TAGS[("Interop", 0x0001)] == "Exif.Iop.InteroperabilityIndex"
    assert TAGS[("IFD1", 0x0201)] == "Exif.Thumbnail.JPEGInterchangeFormat"
    assert all(name.startswith("Exif.") for name in TAGS.values())
    assert exif.tag_name("IFD0", 0x1234) == "Exif.Image.0x1234"
    assert exif.tag_name("SubIFD0", 0x0100) == "Exif.SubIFD0.ImageWidth"


# -- decoding values -------------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["<", ">"])
def test_decode_every_type(order: str) -> None:
    p = order
    entries: list[Entry] = [
        (0x1001, BYTE, 1, b"\x07"),
        (0x1002, BYTE, 6, bytes(range(6))),
        (0x1003, *asc("Hello")),
        (0x1004, SHORT, 1, struct.pack(p + "H", 65535)),
        (0x1005, SHORT, 3, struct.pack(p + "3H", 1, 2, 3)),
        (0x1006, LONG, 1, struct.pack(p + "I", 4_000_000_000)),
        (0x1007, LONG, 2, struct.pack(p + "2I", 5, 6)),
        (0x1008, RATIONAL, 1, struct.pack(p + "2I", 3, 4)),
        (0x1009, RATIONAL, 2, struct.pack(p + "4I", 1, 2, 10, 5)),
        (0x100A, SBYTE, 1, struct.pack("b", -5)),
        (0x100B, SBYTE, 2, struct.pack("2b", -1, 1)),
        (0x100C, UNDEFINED, 4, b"0230"),
        (0x100D, SSHORT, 1, struct.pack(p + "h", -300)),
        (0x100E, SLONG, 1, struct.pack(p + "i", -70000)),
        (0x100F, SRATIONAL, 1, struct.pack(p + "2i", -1, 3)),
        (0x1010, SRATIONAL, 2, struct.pack(p + "4i", 1, -2, -6, 4)),
        (0x1011, FLOAT, 1, struct.pack(p + "f", 1.5)),
        (0x1012, DOUBLE, 2, struct.pack(p + "2d", 2.25, -0.5)),
        (0x1013, UTF8, 7, "naïve\0".encode()),
        (0x1014, RATIONAL, 1, struct.pack(p + "2I", 0, 0)),
        (0x1015, RATIONAL, 2, struct.pack(p + "4I", 1, 1, 5, 0)),
        (0x1016, SHORT, 0, b""),
    ]
    block, _ = build_tiff(order, [("IFD0", entries)])
    data = decode(block)
    assert data.order == order and not data.warnings
    get = data.get
    assert get("IFD0", 0x1001) == b"\x07"
    assert get("IFD0", 0x1002) == bytes(range(6))
    assert get("IFD0", 0x1003) == "Hello"
    assert get("IFD0", 0x1004) == 65535
    assert get("IFD0", 0x1005) == (1, 2, 3)
    assert get("IFD0", 0x1006) == 4_000_000_000
    assert get("IFD0", 0x1007) == (5, 6)
    assert get("IFD0", 0x1008) == F(3, 4)
    assert get("IFD0", 0x1009) == (F(1, 2), F(2))
    assert get("IFD0", 0x100A) == -5
    assert get("IFD0", 0x100B) == (-1, 1)
    assert get("IFD0", 0x100C) == b"0230"
    assert get("IFD0", 0x100D) == -300
    assert get("IFD0", 0x100E) == -70000
    assert get("IFD0", 0x100F) == F(-1, 3)
    assert get("IFD0", 0x1010) == (F(-1, 2), F(-3, 2))
    assert get("IFD0", 0x1011) == 1.5
    assert get("IFD0", 0x1012) == (2.25, -0.5)
    assert get("IFD0", 0x1013) == "naïve"
    # A zero denominator has no number: None, raw bytes kept.
    assert get("IFD0", 0x1014) is None
    assert get("IFD0", 0x1015) is None
    entry = data.entry("IFD0", 0x1015)
    assert entry is not None and len(entry.raw) == 16 and entry.value_offset is not None
    assert get("IFD0", 0x1016) == ()
    assert get("IFD0", 0x9999) is None and get("GPS", 1) is None
    inline = data.entry("IFD0", 0x1004)
    assert inline is not None and inline.value_offset is None
    assert inline.entry_offset == 8 + 2 + 3 * 12


def test_decode_ascii_padding_and_charsets() -> None:
    entries: list[Entry] = [
        (0x010E, ASCII, 32, b"                               \0"),  # Nikon-style blank
        (0x010F, ASCII, 12, b"OLYMPUS  \0\0\0"),
        (0x0110, ASCII, 6, b"Caf\xe9\0\0"),  # Latin-1, not UTF-8
        (0x0131, ASCII, 9, "Café\0".encode() + b"\0\0\0"),
        (0x013B, ASCII, 8, b"A\0B\0C\0\0\0"),  # stops at the first NUL
        (0x013C, ASCII, 3, b"abc"),  # no terminator
    ]
    data = decode(build_tiff(">", [("IFD0", entries)])[0])
    assert data.get("IFD0", 0x010E) == ""
    assert data.get("IFD0", 0x010F) == "OLYMPUS"
    assert data.get("IFD0", 0x0110) == "Café"
    assert data.get("IFD0", 0x0131) == "Café"
    assert data.get("IFD0", 0x013B) == "A"
    assert data.get("IFD0", 0x013C) == "abc"


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"Photographer\0", "Photographer"),
        (b"Photographer  \0Editor\0", "Photographer\nEditor"),
        (b" \0Editor\0", "\nEditor"),
        (b"Photographer\0\0", "Photographer"),
    ],
)
def test_copyright_photographer_and_editor(raw: bytes, text: str) -> None:
    block, _ = build_tiff("<", [("IFD0", [(0x8298, ASCII, len(raw), raw)])])
    assert decode(block).get("IFD0", 0x8298) == text
    # Written back the EXIF way, and read back the same.
    out = new_block({("IFD0", 0x8298): W(ASCII, text)})
    assert decode(out).get("IFD0", 0x8298) == text


def test_value_decoding_is_lazy_and_cached() -> None:
    block, _ = simple_block()
    entry = decode(block).entry("GPS", 2)
    assert entry is not None
    assert "value" not in vars(entry)
    assert entry.value == (F(10), F(20), F(30))
    assert vars(entry)["value"] is entry.value


# -- walking ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["<", ">"])
def test_walk_names_every_ifd(order: str) -> None:
    block, offsets = simple_block(order)
    data = decode(block)
    assert not data.warnings
    assert list(data.ifds) == ["IFD0", "ExifIFD", "Interop", "GPS", "IFD1"]
    assert data.ifd_offsets == {name: offsets[name] for name in data.ifds}
    assert data.get("IFD0", 0x010F) == "Camera Maker Inc."
    assert data.get("IFD0", 0x0112) == 6
    assert data.get("ExifIFD", 0x829A) == F(1, 250)
    assert data.get("Interop", 1) == "R98"
    assert data.get("GPS", 0) == b"\x02\x02\x00\x00"
    assert data.get("IFD1", 0x0202) == 204
    entries = list(data.ifds["IFD0"])
    assert entries == sorted(entries)  # file order (this block is sorted)


def test_walk_subifds_chain_and_makernote_is_opaque() -> None:
    p = "<"
    # A MakerNote that looks like a TIFF IFD must not be walked.
    fake = struct.pack(p + "H", 1) + struct.pack(p + "HHII", 0x0001, LONG, 1, 8) + b"\0" * 8
    dirs: list[tuple[str, list[Entry]]] = [
        ("IFD0", [(0x00FE, LONG, 1, struct.pack(p + "I", 1)),
                  (0x014A, LONG, 2, b"\0" * 8),
                  (0x8769, LONG, 1, "@ExifIFD")]),
        ("ExifIFD", [(0x927C, UNDEFINED, len(fake), fake)]),
        ("S0", [(0x0100, LONG, 1, struct.pack(p + "I", 640))]),
        ("S1", [(0x0100, LONG, 1, struct.pack(p + "I", 320))]),
        ("P2", [(0x0100, LONG, 1, struct.pack(p + "I", 160))]),
        # An opaque value last: nothing can be cut, so a grown sub-IFD really moves.
        ("P3", [(0x0100, LONG, 1, struct.pack(p + "I", 80)),
                (0xC000, UNDEFINED, 8, b"fixedend")]),
    ]
    block, offs = build_tiff(p, dirs, links={"IFD0": "P2", "P2": "P3"})
    data = bytearray(block)
    # Fill the SubIFDs array (out of line) with the two sub-IFD offsets.
    sub = decode(bytes(data)).entry("IFD0", 0x014A)
    assert sub is not None and sub.value_offset is not None
    struct.pack_into(p + "2I", data, sub.value_offset, offs["S0"], offs["S1"])
    result = decode(bytes(data))
    assert not result.warnings
    assert list(result.ifds) == ["IFD0", "ExifIFD", "SubIFD0", "SubIFD1", "IFD1", "IFD2"]
    assert result.get("SubIFD0", 0x0100) == 640
    assert result.get("SubIFD1", 0x0100) == 320
    assert result.get("IFD1", 0x0100) == 160
    assert result.get("IFD2", 0x0100) == 80
    assert result.get("ExifIFD", 0x927C) == fake
    # Patching a SubIFD that must grow patches its slot in the SubIFDs array in place.
    out = patched(bytes(data), {("SubIFD1", 0x0131): W(ASCII, "sub software")})
    again = decode(out)
    assert again.get("SubIFD1", 0x0131) == "sub software"
    assert again.get("SubIFD1", 0x0100) == 320
    assert again.ifd_offsets["SubIFD1"] != offs["S1"]
    assert again.ifd_offsets["SubIFD0"] == offs["S0"]
    assert_lossless(result, again, {("SubIFD1", 0x0131): None})


def test_bigtiff_is_read_but_not_written() -> None:
    p = "<"
    text = b"Big Maker\0"
    head = b"II+\x00" + struct.pack(p + "HHQ", 8, 0, 16)
    ifd = struct.pack(p + "Q", 2)
    value_at = 16 + 8 + 2 * 20 + 8
    ifd += struct.pack(p + "HHQQ", 0x010F, ASCII, len(text), value_at)
    ifd += struct.pack(p + "HHQ", 0x0100, LONG8, 1) + struct.pack(p + "Q", 2**40)
    ifd += struct.pack(p + "Q", 0)
    block = head + ifd + text
    data = decode(block)
    assert data.bigtiff and not data.warnings
    assert data.get("IFD0", 0x010F) == "Big Maker"
    assert data.get("IFD0", 0x0100) == 2**40
    with pytest.raises(CorruptFileError) as err:
        plan_patch(block, {("IFD0", 0x013B): W(ASCII, "x")})
    assert err.value.code == "bigtiff-write"


def test_buffer_kinds_read_the_same(tmp_path: Path) -> None:
    block, _ = simple_block(">")
    reference = entries_of(decode(block))
    assert entries_of(decode(bytearray(block))) == reference
    assert entries_of(decode(memoryview(block))) == reference
    even = block + b"\0" * (len(block) & 1)
    assert entries_of(decode(memoryview(even).cast("H"))) == reference  # any memoryview format
    path = tmp_path / "block.tif"
    path.write_bytes(block)
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        assert entries_of(decode(mm)) == reference
        patch = plan_patch(mm, {("IFD0", 0x013B): W(ASCII, "Someone")})
        assert apply_patch(mm, patch) == patched(block, {("IFD0", 0x013B): W(ASCII, "Someone")})


# -- independent writers ---------------------------------------------------------------------------


@pytest.mark.parametrize("endian", ["<", ">"])
def test_reads_pillow_exif(endian: str) -> None:
    e = Image.Exif()
    e.endian = endian
    e[0x010F] = "Pillow Maker"
    e[0x013B] = "Pillow Artist"
    gps = e.get_ifd(0x8825)
    gps[1] = "S"
    gps[2] = (12.0, 34.0, 56.5)
    raw = e.tobytes()
    assert raw.startswith(b"Exif\0\0")
    block = raw[6:]
    data = decode(block)
    assert data.order == endian and not data.warnings
    assert data.get("IFD0", 0x013B) == "Pillow Artist"
    assert data.get("GPS", 1) == "S"
    assert data.get("GPS", 2) == (F(12), F(34), F(113, 2))
    # Patch it and let Pillow read the result.
    out = patched(block, {("IFD0", 0x013B): W(ASCII, "New Artist, much longer than before"),
                          ("GPS", 2): W(RATIONAL, (F(1), F(2), F(3)))})
    back = Image.Exif()
    back.load(b"Exif\0\0" + out)
    assert back[0x013B] == "New Artist, much longer than before"
    assert back[0x010F] == "Pillow Maker"
    assert tuple(float(x) for x in back.get_ifd(0x8825)[2]) == (1.0, 2.0, 3.0)


def test_reads_piexif_and_piexif_reads_ours() -> None:
    raw = piexif.dump({
        "0th": {piexif.ImageIFD.Artist: b"pie artist", piexif.ImageIFD.Make: b"PieMake"},
        "Exif": {piexif.ExifIFD.DateTimeOriginal: b"2020:01:01 00:00:00"},
        "GPS": {piexif.GPSIFD.GPSLatitude: ((1, 1), (2, 1), (3, 1))},
    })
    block = raw[6:]
    data = decode(block)
    assert data.order == ">"
    assert data.get("IFD0", 0x013B) == "pie artist"
    assert data.get("ExifIFD", 0x9003) == "2020:01:01 00:00:00"
    assert data.get("GPS", 2) == (F(1), F(2), F(3))
    out = patched(block, dict(PHOTOMETA_EDITS))
    loaded = piexif.load(b"Exif\0\0" + out)
    assert loaded["0th"][piexif.ImageIFD.Artist] == "Jürgen Müller".encode()
    assert loaded["0th"][piexif.ImageIFD.Make] == b"PieMake"
    assert loaded["Exif"][piexif.ExifIFD.OffsetTimeOriginal] == b"+09:00"
    assert loaded["GPS"][piexif.GPSIFD.GPSLatitude] == ((33, 1), (51, 1), (3547, 100))
    assert loaded["GPS"][piexif.GPSIFD.GPSAltitude] == (2469, 20)


# -- new blocks ------------------------------------------------------------------------------------


def test_new_block_round_trip_all_photometa_tags() -> None:
    block = new_block(PHOTOMETA_EDITS)
    assert block[:4] == b"MM\x00*"
    data = decode(block)
    assert not data.warnings
    assert list(data.ifds) == ["IFD0", "ExifIFD", "GPS"]
    for (ifd, tag), w in PHOTOMETA_EDITS.items():
        assert w is not None
        assert data.get(ifd, tag) == expected_value(w), (ifd, hex(tag))
        entry = data.entry(ifd, tag)
        assert entry is not None and entry.type == w.type
    # ASCII: UTF-8 with a NUL terminator counted.
    artist = data.entry("IFD0", 0x013B)
    assert artist is not None and artist.raw == "Jürgen Müller".encode() + b"\0"
    assert artist.count == len(artist.raw)
    # Entries sorted by tag, values word aligned, no byte wasted at the end.
    for ifd, entries in data.ifds.items():
        assert list(entries) == sorted(entries), ifd
        for e in entries.values():
            assert e.value_offset is None or e.value_offset % 2 == 0
    assert plan_patch(None, PHOTOMETA_EDITS) == exif.ExifPatch((), 0, block)
    assert apply_patch(None, plan_patch(None, PHOTOMETA_EDITS)) == block


def test_new_block_empty_and_deletions_only() -> None:
    empty = new_block({})
    data = decode(empty)
    assert list(data.ifds) == ["IFD0"] and not data.ifds["IFD0"]
    assert new_block({("IFD0", 0x013B): None}) == empty


def test_new_block_read_by_exiftool_and_exiv2(
    tmp_path: Path, exiftool: str, exiv2: str
) -> None:
    block = new_block(PHOTOMETA_EDITS)
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (10, 20, 30)).save(buf, "JPEG", exif=b"Exif\0\0" + block)
    path = tmp_path / "new.jpg"
    path.write_bytes(buf.getvalue())
    rec = exiftool_json(exiftool, path)
    assert rec["IFD0:Artist"] == "Jürgen Müller"
    assert rec["IFD0:Copyright"] == "© 2024 Jürgen Müller"
    assert rec["IFD0:ImageDescription"] == "Harbour at dawn, fishing boats"
    assert rec["ExifIFD:DateTimeOriginal"] == "2024:05:06 07:08:09"
    assert rec["ExifIFD:OffsetTimeOriginal"] == "+09:00"
    assert str(rec["ExifIFD:SubSecTimeOriginal"]) == "250"
    assert rec["GPS:GPSVersionID"] == "2 3 0 0"
    assert rec["GPS:GPSLatitudeRef"] == "S"
    assert rec["GPS:GPSLatitude"] == pytest.approx(33 + 51 / 60 + 35.47 / 3600)
    assert rec["GPS:GPSLongitude"] == pytest.approx(151 + 12 / 60 + (4 / 3) / 3600)
    assert rec["GPS:GPSAltitudeRef"] == 1
    assert rec["GPS:GPSAltitude"] == pytest.approx(123.45)
    # ExifTool's validator finds nothing wrong with the structure (only absent optional tags).
    checked = exiftool_json(exiftool, path, "-validate", "-warning")
    warnings = [v for k, v in checked.items() if k.endswith("Warning")]
    assert all("Missing required" in str(w) for w in warnings), warnings
    proc = subprocess.run([exiv2, "-q", "-PEkv", str(path)], capture_output=True, check=False)
    lines = proc.stdout.decode("utf-8")
    assert proc.returncode == 0, proc.stderr
    assert "Exif.Image.Artist" in lines and "Jürgen Müller" in lines
    assert "Exif.GPSInfo.GPSLatitude                      33/1 51/1 3547/100" in lines
    assert "Exif.Photo.OffsetTimeOriginal" in lines


# -- patching --------------------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["<", ">"])
def test_smaller_value_is_overwritten_in_place(order: str) -> None:
    block, _ = simple_block(order)
    old = decode(block).entry("IFD0", 0x013B)
    assert old is not None and old.value_offset is not None
    patch = plan_patch(block, {("IFD0", 0x013B): W(ASCII, "New Artist")})
    assert patch.tail == b"" and patch.truncate_at == len(block)
    out = apply_patch(block, patch)
    assert len(out) == len(block)
    data = decode(out)
    assert data.ifd_offsets == decode(block).ifd_offsets
    new = data.entry("IFD0", 0x013B)
    assert new is not None and new.value == "New Artist"
    assert new.value_offset == old.value_offset and new.count == 11
    # Slot padded with NULs; only the entry and the slot changed.
    assert out[old.value_offset : old.value_offset + old.count] == b"New Artist" + b"\0" * 6
    changed = [i for i in range(len(block)) if block[i] != out[i]]
    assert all(old.entry_offset <= i < old.entry_offset + 12
               or old.value_offset <= i < old.value_offset + old.count for i in changed)
    assert_lossless(decode(block), data, {("IFD0", 0x013B): None})


@pytest.mark.parametrize("order", ["<", ">"])
def test_grown_value_is_appended_and_directory_stays(order: str) -> None:
    block, _ = simple_block(order)
    before = decode(block)
    old = before.entry("IFD0", 0x013B)
    assert old is not None and old.value_offset is not None
    text = "A much longer artist name than the original one"
    patch = plan_patch(block, {("IFD0", 0x013B): W(ASCII, text)})
    assert patch.truncate_at == len(block)  # the thumbnail is last: nothing may be cut
    out = apply_patch(block, patch)
    after = decode(out)
    assert not after.warnings
    assert after.ifd_offsets == before.ifd_offsets
    new = after.entry("IFD0", 0x013B)
    assert new is not None and new.value == text
    assert new.value_offset is not None and new.value_offset >= len(block)
    assert new.value_offset % 2 == 0
    # The old value is zeroed: no stale copy of the name lingers.
    assert b"Original Artist" not in out
    assert out[old.value_offset : old.value_offset + old.count] == bytes(old.count)
    assert_lossless(before, after, {("IFD0", 0x013B): None})
    assert out[: len(block)].count(b"MKNT") == 1


@pytest.mark.parametrize("order", ["<", ">"])
def test_added_tag_moves_ifd0_only(order: str) -> None:
    block, offsets = simple_block(order)
    before = decode(block)
    out = patched(block, {("IFD0", 0x8298): W(ASCII, "(c) Someone"),
                          ("IFD0", 0x010E): W(ASCII, "A caption")})
    after = decode(out)
    assert not after.warnings
    assert after.ifd_offsets["IFD0"] >= len(block)
    assert struct.unpack_from(order + "I", out, 4)[0] == after.ifd_offsets["IFD0"]
    for name in ("ExifIFD", "GPS", "Interop", "IFD1"):
        assert after.ifd_offsets[name] == offsets[name], name
    assert list(after.ifds["IFD0"]) == sorted(after.ifds["IFD0"])
    # Unchanged entries keep pointing at their old value bytes; the thumbnail stays valid.
    for tag in (0x010F, 0x0110, 0x0132):
        old, new = before.entry("IFD0", tag), after.entry("IFD0", tag)
        assert old is not None and new is not None and new.value_offset == old.value_offset
    thumb_at = after.get("IFD1", 0x0201)
    assert isinstance(thumb_at, int) and out[thumb_at : thumb_at + 2] == b"\xff\xd8"
    # The old IFD0 directory is zeroed (it held pointers and inline values).
    old_dir = offsets["IFD0"]
    assert out[old_dir : old_dir + 2 + 12 * 8 + 4] == bytes(2 + 12 * 8 + 4)
    assert after.get("IFD0", 0x8298) == "(c) Someone"
    assert_lossless(before, after, {})


def test_delete_tags_in_place_and_zero_their_values() -> None:
    block, _ = simple_block(">")
    before = decode(block)
    out = patched(block, {("IFD0", 0x013B): None, ("IFD0", 0x0132): None,
                          ("IFD0", 0x9999): None})  # absent: nothing to do
    after = decode(out)
    assert len(out) == len(block)
    assert after.ifd_offsets == before.ifd_offsets
    assert after.get("IFD0", 0x013B) is None and after.get("IFD0", 0x0132) is None
    assert b"Original Artist" not in out
    assert out.count(b"2020:01:02 03:04:05") == 1  # ExifIFD's copy only
    assert len(after.ifds["IFD0"]) == len(before.ifds["IFD0"]) - 2
    assert_lossless(before, after, {("IFD0", 0x013B): None, ("IFD0", 0x0132): None})


@pytest.mark.parametrize("order", ["<", ">"])
def test_create_gps_ifd(order: str) -> None:
    block, _ = simple_block(order)
    # Remove GPS first (pointer deletion deletes the IFD and zeroes it).
    no_gps = patched(block, {("IFD0", 0x8825): None})
    data = decode(no_gps)
    assert "GPS" not in data.ifds and data.get("IFD0", 0x8825) is None
    assert struct.pack(order + "6I", 10, 1, 20, 1, 3000, 100) not in no_gps
    assert not data.warnings
    gps_edits = {k: v for k, v in PHOTOMETA_EDITS.items() if k[0] == "GPS"}
    out = patched(no_gps, gps_edits)
    after = decode(out)
    assert not after.warnings
    assert after.get("IFD0", 0x8825) == after.ifd_offsets["GPS"]
    for (ifd, tag), w in gps_edits.items():
        assert w is not None
        assert after.get(ifd, tag) == expected_value(w)
    assert_lossless(data, after, {})


def test_create_exif_and_interop_ifds_from_scratch() -> None:
    block, _ = build_tiff("<", [("IFD0", [(0x010F, *asc("Maker"))])])
    out = patched(block, {("Interop", 0x0001): W(ASCII, "R98"),
                          ("ExifIFD", 0x9003): W(ASCII, "2001:02:03 04:05:06")})
    data = decode(out)
    assert not data.warnings
    assert list(data.ifds) == ["IFD0", "ExifIFD", "Interop"]
    assert data.get("Interop", 1) == "R98"
    assert data.get("ExifIFD", 0x9003) == "2001:02:03 04:05:06"
    assert data.get("IFD0", 0x010F) == "Maker"


def test_emptied_sub_ifd_is_dropped_with_its_pointer() -> None:
    block, offsets = simple_block("<")
    out = patched(block, {("GPS", 0): None, ("GPS", 1): None, ("GPS", 2): None})
    data = decode(out)
    assert "GPS" not in data.ifds and data.get("IFD0", 0x8825) is None
    assert not data.warnings
    gps_dir = offsets["GPS"]
    assert out[gps_dir : gps_dir + 2 + 3 * 12 + 4] == bytes(2 + 3 * 12 + 4)


def test_delete_exif_ifd_deletes_interop_and_makernote() -> None:
    block, _ = simple_block("<")
    out = patched(block, {("IFD0", 0x8769): None})
    data = decode(out)
    assert "ExifIFD" not in data.ifds and "Interop" not in data.ifds
    assert b"MKNT" not in out and b"R98" not in out
    assert data.get("GPS", 1) == "N"


def test_unchanged_value_needs_no_patch() -> None:
    block, _ = simple_block("<")
    patch = plan_patch(block, {("IFD0", 0x013B): W(ASCII, "Original Artist")})
    assert patch == exif.ExifPatch((), len(block), b"")


def test_repeated_writes_do_not_grow_forever() -> None:
    block, _ = simple_block("<", with_thumb=False)
    sizes = []
    cur = block
    for i in range(40):
        edits = {
            ("IFD0", 0x013B): W(ASCII, "x" * (10 + 13 * (i % 3))),
            ("IFD0", 0x8298): W(ASCII, "c" * (3 + 20 * (i % 2))),
            ("GPS", 1): W(ASCII, "S" if i % 2 else "N"),
            ("GPS", 2): W(RATIONAL, (F(i), F(2), F(3))),
        }
        cur = patched(cur, edits)
        data = decode(cur)
        assert not data.warnings
        assert data.get("IFD0", 0x013B) == "x" * (10 + 13 * (i % 3))
        assert data.get("IFD0", 0x8298) == "c" * (3 + 20 * (i % 2))
        sizes.append(len(cur))
    assert max(sizes[10:]) <= max(sizes[:10])
    assert_lossless(decode(block), decode(cur), {("IFD0", 0x013B): 1, ("IFD0", 0x8298): 1,
                                                 ("GPS", 1): 1, ("GPS", 2): 1})


def test_dead_tail_is_truncated() -> None:
    block = new_block({("IFD0", 0x013B): W(ASCII, "a" * 9)})
    second = patched(block, {("IFD0", 0x013B): W(ASCII, "b" * 29)})
    assert len(second) > len(block)
    patch = plan_patch(second, {("IFD0", 0x013B): W(ASCII, "c" * 49)})
    assert patch.truncate_at < len(second)  # the dead 30-byte value was last
    third = apply_patch(second, patch)
    assert len(third) < len(second) + 50
    assert decode(third).get("IFD0", 0x013B) == "c" * 49
    assert b"b" * 29 not in third


def test_entry_value_shared_with_another_is_not_overwritten() -> None:
    p = "<"
    block, _ = build_tiff(p, [("IFD0", [(0x010F, *asc("Shared text")), (0x0110, *asc("Model"))])])
    data = bytearray(block)
    make = decode(block).entry("IFD0", 0x010F)
    model = decode(block).entry("IFD0", 0x0110)
    assert make is not None and model is not None and make.value_offset is not None
    # Point Model at Make's bytes.
    struct.pack_into(p + "II", data, model.entry_offset + 4, make.count, make.value_offset)
    out = patched(bytes(data), {("IFD0", 0x010F): W(ASCII, "Other text!")})
    after = decode(out)
    assert after.get("IFD0", 0x010F) == "Other text!"
    assert after.get("IFD0", 0x0110) == "Shared text"


def test_invalid_edits_are_refused() -> None:
    block, _ = simple_block("<")
    bad: list[dict[tuple[str, int], ExifWrite | None]] = [
        {("IFD0", 0x8769): W(LONG, 1234)},  # managed pointer
        {("IFD0", 0x0201): W(LONG, 1)},  # thumbnail offset
        {("IFD0", 0x0111): None},
        {("Nowhere", 1): W(ASCII, "x")},
        {("IFD7", 1): W(ASCII, "x")},  # cannot be created
        {("IFD0", 0x10000): W(ASCII, "x")},
        {("IFD0", 0x013B): W(ASCII, "nul\0inside")},
        {("IFD0", 0x013B): W(ASCII, 12)},
        {("IFD0", 0x0112): W(SHORT, 70000)},
        {("IFD0", 0x0112): W(SHORT, -1)},
        {("IFD0", 0x0112): W(SHORT, "6")},
        {("GPS", 2): W(RATIONAL, (F(-1), F(2), F(3)))},
        {("GPS", 2): W(RATIONAL, (F(2**40), F(2), F(3)))},
        {("GPS", 2): W(RATIONAL, (math.inf,))},
        {("GPS", 0): W(BYTE, (2, 3, 0, 256))},
        {("IFD0", 0x1234): W(exif.IFD_T, 1)},
        {("IFD0", 0x8825): None, ("GPS", 1): W(ASCII, "N")},  # delete and write
    ]
    for edits in bad:
        with pytest.raises(InvalidValueError):
            plan_patch(block, edits)
    # Bytes for ASCII are taken as already encoded (NUL added when missing).
    raw = decode(new_block({("IFD0", 0x013B): W(ASCII, b"Caf\xe9")})).entry("IFD0", 0x013B)
    assert raw is not None and raw.raw == b"Caf\xe9\0" and raw.value == "Café"


def test_value_encodings() -> None:
    edits: dict[tuple[str, int], ExifWrite | None] = {
        ("IFD0", 0x1001): W(SSHORT, (-2, 3)),
        ("IFD0", 0x1002): W(SLONG, -5),
        ("IFD0", 0x1003): W(SRATIONAL, (F(-1, 3), F(2))),
        ("IFD0", 0x1004): W(FLOAT, 0.5),
        ("IFD0", 0x1005): W(DOUBLE, (1.25, 2.5)),
        ("IFD0", 0x1006): W(UNDEFINED, b"0232"),
        ("IFD0", 0x1007): W(SBYTE, (-1, 2)),
        ("IFD0", 0x1008): W(UTF8, "ünïcode"),
        ("IFD0", 0x1009): W(RATIONAL, 0.1),  # float: nearest 32-bit rational
        ("IFD0", 0x100A): W(RATIONAL, F(1, 3 * 2**33)),  # denominator too big: approximated
        ("IFD0", 0x100B): W(LONG, (1, 2, 3)),
    }
    data = decode(new_block(edits))
    assert data.get("IFD0", 0x1001) == (-2, 3)
    assert data.get("IFD0", 0x1002) == -5
    assert data.get("IFD0", 0x1003) == (F(-1, 3), F(2))
    assert data.get("IFD0", 0x1004) == 0.5
    assert data.get("IFD0", 0x1005) == (1.25, 2.5)
    assert data.get("IFD0", 0x1006) == b"0232"
    assert data.get("IFD0", 0x1007) == (-1, 2)
    assert data.get("IFD0", 0x1008) == "ünïcode"
    assert data.get("IFD0", 0x1009) == F(1, 10)
    tiny = data.get("IFD0", 0x100A)
    assert isinstance(tiny, Fraction) and tiny.denominator <= 0xFFFFFFFF
    assert data.get("IFD0", 0x100B) == (1, 2, 3)
    entry = data.entry("IFD0", 0x1008)
    assert entry is not None and entry.type == UTF8


# -- hostile input ---------------------------------------------------------------------------------


def _hostile_cases() -> dict[str, tuple[bytes, str]]:
    p = "<"
    cases: dict[str, tuple[bytes, str]] = {}
    block, offs = simple_block(p)
    # IFD1's next link points back at IFD0.
    loop = bytearray(block)
    ifd1 = offs["IFD1"]
    struct.pack_into(p + "I", loop, ifd1 + 2 + 3 * 12, offs["IFD0"])
    cases["chain-loop"] = (bytes(loop), "ifd-loop")
    # The GPS pointer points at the Exif IFD.
    twice = bytearray(block)
    gps_entry = decode(block).entry("IFD0", 0x8825)
    assert gps_entry is not None
    struct.pack_into(p + "I", twice, gps_entry.entry_offset + 8, offs["ExifIFD"])
    cases["shared-ifd"] = (bytes(twice), "ifd-loop")
    # GPS declares more entries than the block holds.
    huge = bytearray(block)
    struct.pack_into(p + "H", huge, offs["IFD1"], 4000)
    cases["entry-count"] = (bytes(huge), "ifd-truncated")
    # An entry count above the limit.
    over = bytearray(block)
    struct.pack_into(p + "H", over, offs["GPS"], 60000)
    cases["entry-limit"] = (bytes(over), "limit")
    # A value offset past the end.
    past = bytearray(block)
    artist = decode(block).entry("IFD0", 0x013B)
    assert artist is not None
    struct.pack_into(p + "I", past, artist.entry_offset + 8, len(block) - 3)
    cases["value-past-end"] = (bytes(past), "value-out-of-range")
    # The Exif pointer points past the end.
    far = bytearray(block)
    exif_entry = decode(block).entry("IFD0", 0x8769)
    assert exif_entry is not None
    struct.pack_into(p + "I", far, exif_entry.entry_offset + 8, 0x7FFFFFF0)
    cases["ifd-past-end"] = (bytes(far), "ifd-out-of-range")
    # A pointer of the wrong type.
    wrong = bytearray(block)
    struct.pack_into(p + "H", wrong, gps_entry.entry_offset + 2, ASCII)
    cases["pointer-type"] = (bytes(wrong), "bad-pointer")
    return cases


@pytest.mark.parametrize("case", sorted(_hostile_cases()))
def test_hostile_structures_warn_when_reading_and_refuse_writing(case: str) -> None:
    block, code = _hostile_cases()[case]
    data = decode(block)
    codes = [w.code for w in data.warnings]
    assert code in codes, codes
    assert all(isinstance(w, CorruptFileError) for w in data.warnings)
    assert all(w.offset is not None for w in data.warnings if w.code == code)
    assert data.get("IFD0", 0x010F) == "Camera Maker Inc."  # the rest is still read
    with pytest.raises(CorruptFileError) as err:
        plan_patch(block, {("IFD0", 0x013B): W(ASCII, "x")})
    assert err.value.code == code
    assert err.value.offset is not None


def test_entry_limit_is_a_limit_error() -> None:
    block, _ = _hostile_cases()["entry-limit"]
    data = decode(block)
    assert any(isinstance(w, LimitExceededError) for w in data.warnings)
    assert "GPS" not in data.ifds


def test_ifd_count_limit() -> None:
    p = "<"
    names = ["IFD0"] + [f"D{i}" for i in range(1, 12)]
    dirs: list[tuple[str, list[Entry]]] = [
        (name, [(0x0100, LONG, 1, struct.pack(p + "I", i))]) for i, name in enumerate(names)
    ]
    block, _ = build_tiff(p, dirs, links=dict(itertools.pairwise(names)))
    assert len(decode(block).ifds) == 12
    limited = decode(block, limits=Limits(max_ifds=5))
    assert len(limited.ifds) == 5
    assert [w.code for w in limited.warnings] == ["limit"]
    with pytest.raises(LimitExceededError):
        plan_patch(block, {("IFD0", 0x013B): W(ASCII, "x")}, limits=Limits(max_ifds=5))


def test_total_value_bytes_limit() -> None:
    blob = bytes(5000)
    entries: list[Entry] = [(0x1000 + i, UNDEFINED, len(blob), blob) for i in range(4)]
    block, _ = build_tiff("<", [("IFD0", entries)])
    data = decode(block, limits=Limits(max_metadata_bytes=12_000))
    assert len(data.ifds["IFD0"]) == 2
    assert isinstance(data.warnings[-1], LimitExceededError)


@pytest.mark.parametrize(
    "block",
    [b"", b"II*\x00", b"II*\x00\x08\x00\x00", b"XX*\x00\x08\x00\x00\x00", b"II\x2b\x00\x08\x00",
     b"MM\x00\x2c\x00\x00\x00\x08", b"II+\x00\x04\x00\x00\x00" + bytes(8)],
)
def test_bad_header_raises(block: bytes) -> None:
    with pytest.raises(CorruptFileError) as err:
        decode(block)
    assert err.value.code == "exif-header"
    with pytest.raises(CorruptFileError):
        plan_patch(block, {("IFD0", 0x013B): W(ASCII, "x")})


def test_ifd0_offset_out_of_range_is_a_warning() -> None:
    data = decode(b"MM\x00*\x00\x00\x10\x00" + bytes(8))
    assert data.ifds == {} and [w.code for w in data.warnings] == ["ifd-out-of-range"]


def test_overlapping_structures_are_not_patched() -> None:
    block, _ = simple_block("<", with_thumb=False)
    data = bytearray(block)
    exposure = decode(block).entry("ExifIFD", 0x829A)
    assert exposure is not None
    # ExposureTime's 8 bytes now claim the header's IFD0 pointer.
    struct.pack_into("<I", data, exposure.entry_offset + 8, 2)
    assert decode(bytes(data)).warnings == []
    with pytest.raises(CorruptFileError) as err:
        plan_patch(bytes(data), {("IFD0", 0x010E): W(ASCII, "added tag moves IFD0")})
    assert err.value.code == "exif-overlap"


ALLOWED = (CorruptFileError, LimitExceededError)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600))
def test_fuzz_random_bytes(raw: bytes) -> None:
    for block in (raw, b"II*\x00\x08\x00\x00\x00" + raw, b"MM\x00*\x00\x00\x00\x08" + raw):
        try:
            data = decode(block)
        except ALLOWED:
            continue
        for entries in data.ifds.values():
            for e in entries.values():
                _ = e.value


def _check_patch_of_mutant(block: bytes) -> None:
    edits = {("IFD0", 0x013B): W(ASCII, "Fuzzy Artist"),
             ("GPS", 2): W(RATIONAL, (F(1), F(2), F(3))),
             ("ExifIFD", 0x9003): None}
    try:
        data = decode(block)
        for entries in data.ifds.values():
            for e in entries.values():
                _ = e.value
    except ALLOWED:
        return
    try:
        patch = plan_patch(block, edits)
    except (*ALLOWED, InvalidValueError):
        return
    out = apply_patch(block, patch)
    after = decode(out)
    assert {w.code for w in after.warnings} <= {"bad-type", "duplicate-tag"}
    assert after.get("IFD0", 0x013B) == "Fuzzy Artist"
    assert after.get("GPS", 2) == (F(1), F(2), F(3))
    assert after.get("ExifIFD", 0x9003) is None
    assert_lossless(data, after, edits)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_fuzz_mutated_synthetic_blocks(data: st.DataObject) -> None:
    order = data.draw(st.sampled_from(["<", ">"]))
    block = bytearray(simple_block(order)[0])
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(st.integers(0, 400))
        block[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(8, len(block)))
    _check_patch_of_mutant(bytes(block[:cut]))


def _corpus_block(corpus: Path, rel: str) -> bytes:
    jpeg = (corpus / rel).read_bytes()
    spans = exif_segments(jpeg)
    assert spans, rel
    start, end = spans[0]
    return jpeg[start:end]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_mutated_real_blocks(corpus: Path, data: st.DataObject) -> None:
    rel = data.draw(st.sampled_from(MAKERNOTE_JPEGS[:4]))
    block = bytearray(_corpus_block(corpus, rel))
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, min(len(block) - 1, 1200)))
        block[at] = data.draw(st.integers(0, 255))
    _check_patch_of_mutant(bytes(block))


# -- real files ------------------------------------------------------------------------------------


@pytest.mark.parametrize("rel", MAKERNOTE_JPEGS + PLAIN_CAMERA_JPEGS)
def test_lossless_patch_of_camera_jpeg(corpus: Path, rel: str, tmp_path: Path,
                                       exiftool: str) -> None:
    src = corpus / rel
    jpeg = src.read_bytes()
    spans = exif_segments(jpeg)
    block = jpeg[spans[0][0] : spans[0][1]]
    before = decode(block)
    assert not [w for w in before.warnings if w.code != "duplicate-tag"]
    makernote = before.entry("ExifIFD", 0x927C)
    if rel in MAKERNOTE_JPEGS:
        assert makernote is not None and makernote.value_offset is not None
    out = patched(block, REAL_EDITS)
    # Nothing existing moved: every original byte not patched is where it was.
    after = decode(out)
    assert not [w for w in after.warnings if w.code != "duplicate-tag"]
    assert_lossless(before, after, REAL_EDITS)
    for (ifd, tag), w in REAL_EDITS.items():
        assert w is not None
        assert after.get(ifd, tag) == expected_value(w)
    if makernote is not None and makernote.value_offset is not None:
        kept = after.entry("ExifIFD", 0x927C)
        assert kept is not None and kept.value_offset == makernote.value_offset
        at = makernote.value_offset
        assert out[at : at + makernote.count] == block[at : at + makernote.count]
    # ExifTool sees exactly the edited tags change.
    copy = tmp_path / src.name
    copy.write_bytes(replace_exif(jpeg, spans[0], out))
    old = exiftool_json(exiftool, src)
    new = exiftool_json(exiftool, copy)
    ignored = ("System:", "File:", "ExifTool:", "Composite:", "SourceFile")
    edited = {"IFD0:Artist", "ExifIFD:DateTimeOriginal", "ExifIFD:OffsetTimeOriginal",
              "GPS:GPSVersionID", "GPS:GPSLatitudeRef", "GPS:GPSLatitude",
              "GPS:GPSLongitudeRef", "GPS:GPSLongitude"}
    changed = {
        k for k in old.keys() | new.keys()
        if not k.startswith(ignored) and old.get(k) != new.get(k)
    }
    assert changed <= edited, changed - edited
    assert new["IFD0:Artist"] == "A. Photographer with a rather long name"
    assert new["GPS:GPSLatitude"] == pytest.approx(48 + 51 / 60 + 24.06 / 3600)
    assert new["GPS:GPSLongitudeRef"] == "W"
    assert "ExifTool:Warning" not in new or new.get("ExifTool:Warning") == old.get(
        "ExifTool:Warning")
    # A second write of the same values changes nothing.
    assert plan_patch(out, REAL_EDITS) == exif.ExifPatch((), len(out), b"")


def _single_exif_jpegs() -> list[Any]:
    """Corpus JPEGs with exactly one Exif APP1 (ExifTool merges several, which we do not)."""
    params = corpus_params(folder="jpeg")
    kept = [p for p in params if p.values[0] is None
            or len(exif_segments(p.values[0].read_bytes())) == 1]
    return kept or params


@pytest.mark.parametrize("src", _single_exif_jpegs())
def test_corpus_jpeg_ifd0_text_matches_exiftool(src: Path | None, corpus: Path,
                                                 truth: dict[str, dict[str, Any]]) -> None:
    path = need_corpus_file(src)
    jpeg = path.read_bytes()
    spans = exif_segments(jpeg)
    assert len(spans) == 1
    block = jpeg[spans[0][0] : spans[0][1]]
    try:
        data = decode(block)
    except CorruptFileError:
        return
    record = truth[str(path.relative_to(corpus))]
    for tag, key in ((0x010F, "IFD0:Make"), (0x0110, "IFD0:Model"), (0x013B, "IFD0:Artist"),
                     (0x8298, "IFD0:Copyright"), (0x010E, "IFD0:ImageDescription")):
        if key not in record:
            continue
        # ExifTool keeps trailing blanks (except in Make/Model); photometa strips them.
        assert data.get("IFD0", tag) == str(record[key]).rstrip(), key


@pytest.mark.parametrize("src", corpus_params(folder="tiff") + corpus_params(folder="dng"))
def test_corpus_tiff_files_read_in_place(src: Path | None, corpus: Path,
                                         truth: dict[str, dict[str, Any]]) -> None:
    path = need_corpus_file(src)
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        try:
            data = decode(mm)
        except CorruptFileError as err:
            assert err.code == "exif-header"
            return
        for entries in data.ifds.values():
            for e in entries.values():
                _ = e.value
        record = truth[str(path.relative_to(corpus))]
        for tag, key in ((0x010F, "IFD0:Make"), (0x0110, "IFD0:Model")):
            if key in record and "IFD0" in data.ifds:
                assert data.get("IFD0", tag) == str(record[key]).rstrip(), key
        try:
            patch = plan_patch(mm, {("IFD0", 0x013B): W(ASCII, "Tiff Artist")})
        except (CorruptFileError, LimitExceededError):
            return
        assert all(at + len(chunk) <= patch.truncate_at for at, chunk in patch.patches)
        out = apply_patch(mm, patch)
    after = decode(out)
    assert after.get("IFD0", 0x013B) == "Tiff Artist"
    assert_lossless(data, after, {("IFD0", 0x013B): None})


# -- lazy decoding --------------------------------------------------------------------------------


DEFAULT = Limits()


def _walked(data: ExifData) -> tuple[Any, ...]:
    """Everything decode() reports, comparable across implementations."""
    entries = {
        (ifd, tag): (e.ifd, e.tag, e.type, e.count, e.entry_offset, e.value_offset, e.raw, e.order)
        for ifd, es in data.ifds.items()
        for tag, e in es.items()
    }
    warnings = [(type(w), w.code, w.offset, str(w)) for w in data.warnings]
    return list(data.ifds), entries, data.ifd_offsets, warnings, data.order, data.bigtiff


def _reference(block: Any, limits: Limits = DEFAULT) -> tuple[Any, ...]:
    """The same walk through the writer's strict-capable walker, in tolerant mode."""
    walker = exif._Walker(exif._as_buffer(block), limits, strict=False)
    walker.run()
    offsets = {name: d.offset for name, d in walker.dirs.items()}
    return _walked(ExifData(walker.order, walker.ifds, offsets, walker.warnings, walker.big))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    order=st.sampled_from(["<", ">"]),
    edits=st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), max_size=12),
    max_bytes=st.sampled_from([64 * 1024 * 1024, 300, 80]),
)
def test_decode_matches_the_reference_walk_on_damaged_blocks(
    order: str, edits: list[tuple[int, int]], max_bytes: int
) -> None:
    block = bytearray(simple_block(order)[0])
    for at, value in edits:
        block[at % len(block)] = value
    limits = Limits(max_metadata_bytes=max_bytes)
    try:
        expected = _reference(bytes(block), limits)
    except CorruptFileError:
        with pytest.raises(CorruptFileError):
            decode(bytes(block), limits=limits)
        return
    assert _walked(decode(bytes(block), limits=limits)) == expected
    assert _walked(decode(bytearray(block), limits=limits)) == expected


def test_decode_matches_the_reference_walk_on_hostile_blocks() -> None:
    for block, _code in _hostile_cases().values():
        assert _walked(decode(block)) == _reference(block)
    block, _ = simple_block("<")
    repeated = block.replace(struct.pack("<H", 0x0110), struct.pack("<H", 0x010F), 1)
    assert _walked(decode(repeated)) == _reference(repeated)
    assert [w.code for w in decode(repeated).warnings] == ["duplicate-tag"]


def test_entries_are_built_once_and_shared_with_ifds() -> None:
    block, _ = simple_block(">")
    data = decode(block)
    make = data.entry("IFD0", 0x010F)
    assert make is not None and make is data.entry("IFD0", 0x010F)
    assert data.entry("IFD0", 0x9999) is None and data.entry("Nope", 0x010F) is None
    assert data.ifds["IFD0"][0x010F] is make
    assert list(data.ifds["IFD0"]) == [0x010F, 0x0110, 0x0112, 0x011A, 0x0132, 0x013B, 0x8769,
                                       0x8825]
    # the dict handed out is the one entry() reads from from then on
    del data.ifds["IFD0"][0x0110]
    assert data.entry("IFD0", 0x0110) is None
    assert data == data and data != decode(block)
    assert repr(decode(block)).startswith("ExifData(order='>', ifds={'IFD0': {271: ExifEntry(")


def test_lazy_entries_outlive_a_closed_mapping(tmp_path: Path) -> None:
    block, _ = simple_block("<")
    path = tmp_path / "block.tif"
    path.write_bytes(block)
    with path.open("rb") as f:
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    data = decode(mm)
    changing = bytearray(block)
    from_bytearray = decode(changing)
    mm.close()
    changing[:] = bytes(len(changing))
    for read in (data, from_bytearray):
        assert read.get("IFD0", 0x010F) == "Camera Maker Inc."
        assert read.get("GPS", 2) == (F(10), F(20), F(30))
        assert read.get("ExifIFD", 0x927C) == b"MKNT" + bytes(range(60))
    assert entries_of(data) == entries_of(decode(block))


def test_exif_data_built_directly_behaves_as_before() -> None:
    block, _ = simple_block("<")
    decoded = decode(block)
    built = ExifData(decoded.order, decoded.ifds, dict(decoded.ifd_offsets))
    assert built.warnings == [] and built.bigtiff is False
    assert built == decoded
    assert built.get("IFD0", 0x0110) == "Model 7"
    built.ifds = {}
    assert built.entry("IFD0", 0x0110) is None


# -- the write path's shortcuts give what the plain paths give -----------------------------------


def _entry_of(order: str, typ: int, ints: list[int]) -> exif.ExifEntry:
    raw = struct.pack(f"{order}{len(ints)}{'I' if typ == RATIONAL else 'i'}", *ints)
    return exif.ExifEntry("GPS", 2, typ, len(ints) // 2, 10, 100, raw, order)  # type: ignore[arg-type]


def _same_as_api(current: Any, value: Any) -> bool:
    """The comparison photometa.api makes between a stored value and a new one."""
    if current is None:
        return False
    if isinstance(current, tuple) and not isinstance(value, tuple):
        value = (value,)
    if isinstance(value, tuple) and not isinstance(current, tuple) and len(value) == 1:
        value = value[0]
    return bool(current == value)


@settings(max_examples=400, deadline=None)
@given(
    order=st.sampled_from(["<", ">"]),
    typ=st.sampled_from([RATIONAL, SRATIONAL]),
    stored=st.lists(st.tuples(st.integers(-4, 6), st.integers(-3, 6)), max_size=4),
    new=st.lists(st.tuples(st.integers(-4, 6), st.integers(1, 6)), max_size=4),
    as_tuple=st.booleans(),
    scale=st.integers(1, 3),
)
def test_rational_equals_is_value_equality(order: str, typ: int, stored: list[tuple[int, int]],
                                           new: list[tuple[int, int]], as_tuple: bool,
                                           scale: int) -> None:
    if typ == RATIONAL:
        stored = [(abs(n), abs(d)) for n, d in stored]
    if stored and not new and scale > 1:  # the same fractions as stored, written unreduced
        new = [(n * scale, d * scale) for n, d in stored if d]
    ints = [i for pair in stored for i in pair]
    entry = _entry_of(order, typ, ints)
    fractions = tuple(F(n, d) for n, d in new)
    value: Any = fractions if as_tuple or len(fractions) != 1 else fractions[0]
    fresh = _entry_of(order, typ, ints)
    assert exif.rational_equals(entry, value) == _same_as_api(fresh.value, value)
    assert "value" not in entry.__dict__  # decided without decoding the entry


def test_rational_equals_declines_other_kinds() -> None:
    rational = _entry_of("<", RATIONAL, [1, 2])
    assert exif.rational_equals(rational, F(1, 2)) is True
    assert exif.rational_equals(rational, (F(1, 2),)) is True
    assert exif.rational_equals(rational, (F(1, 2), F(1, 2))) is False
    for other in (0.5, 1, (F(1, 2), 0.5), [F(1, 2)], "1/2", None):
        assert exif.rational_equals(rational, other) is None
    text = exif.ExifEntry("IFD0", 0x010F, ASCII, 2, 10, None, b"A\0", "<")
    assert exif.rational_equals(text, F(1)) is None
    unknown = _entry_of(">", RATIONAL, [1, 0, 3, 4])
    assert unknown.value is None
    assert exif.rational_equals(_entry_of(">", RATIONAL, [1, 0, 3, 4]), (F(1), F(3, 4))) is False


def test_has_ifd_does_not_build_entries() -> None:
    block, _ = simple_block(">")
    data = decode(block)
    assert data.has_ifd("ExifIFD") and data.has_ifd("IFD1") and not data.has_ifd("SubIFD0")
    assert data._ifds is None  # nothing built
    assert [name for name in ("IFD0", "GPS", "Nope") if data.has_ifd(name)] == ["IFD0", "GPS"]
    built = ExifData(data.order, {"IFD0": {}}, {"IFD0": 8})
    assert built.has_ifd("IFD0") and not built.has_ifd("ExifIFD")


def _walk(block: bytes, *, one_by_one: bool, limits: Limits = DEFAULT) -> Any:
    walker = exif._Walker(block, limits, strict=True)
    if one_by_one:
        walker._columns = lambda *_args: False  # type: ignore[method-assign]
    walker.run()
    return walker


@pytest.mark.parametrize("order", ["<", ">"])
def test_walker_reads_a_directory_at_once_as_entry_by_entry(order: str) -> None:
    block, _ = simple_block(order)
    fast, slow = _walk(block, one_by_one=False), _walk(block, one_by_one=True)
    assert set(fast._firsts) == set(fast.dirs) and not slow._firsts
    assert fast.dirs == slow.dirs
    assert fast.ifds == slow.ifds
    assert (fast.total, fast.warnings, fast.opaque) == (slow.total, slow.warnings, slow.opaque)
    for name, entries in slow.ifds.items():
        for tag, entry in entries.items():
            assert fast.entry(name, tag) == entry
        assert fast.entry(name, 0x9999) is None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    order=st.sampled_from(["<", ">"]),
    edits=st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), max_size=8),
    max_bytes=st.sampled_from([64 * 1024 * 1024, 300, 80]),
)
def test_walker_shortcut_on_damaged_blocks(order: str, edits: list[tuple[int, int]],
                                           max_bytes: int) -> None:
    block = bytearray(simple_block(order)[0])
    for at, value in edits:
        block[at % len(block)] = value
    limits = Limits(max_metadata_bytes=max_bytes)
    results: list[Any] = []
    for one_by_one in (False, True):
        try:
            w = _walk(bytes(block), one_by_one=one_by_one, limits=limits)
        except (CorruptFileError, LimitExceededError) as err:
            results.append((type(err), err.code, err.offset, str(err)))
        else:
            results.append((w.dirs, w.ifds, w.total, [str(x) for x in w.warnings], w.opaque))
    assert results[0] == results[1]


def test_encode_cache_keeps_types_apart() -> None:
    exif._ENC_CACHE.clear()
    key = ("IFD0", 0x0128)
    short = plan_patch(None, {key: W(SHORT, (2,))})
    assert plan_patch(None, {key: W(SHORT, (2,))}) == short  # from the cache
    with pytest.raises(InvalidValueError, match="expected integers"):
        plan_patch(None, {key: W(SHORT, (F(2),))})  # equal to (2,), but not an integer
    with pytest.raises(InvalidValueError, match="expected integers"):
        plan_patch(None, {key: W(SHORT, (True,))})
    rational = plan_patch(None, {key: W(RATIONAL, (F(2),))})
    assert plan_patch(None, {key: W(RATIONAL, (2,))}) == rational
    assert plan_patch(None, {key: W(ASCII, "2")}) != plan_patch(None, {key: W(BYTE, b"2")})
    # a type number that only equals a TIFF type is not served from the cache either
    assert exif._encode_cached(W(ASCII, "abc"), ">", *key).type == ASCII
    assert type(exif._encode_cached(W(2.0, "abc"), ">", *key).type) is float  # type: ignore[arg-type]
    # the cache is bounded
    for i in range(exif._ENC_CACHE_MAX + 10):
        plan_patch(None, {key: W(ASCII, f"text {i}")})
    assert len(exif._ENC_CACHE) <= exif._ENC_CACHE_MAX
    exif._ENC_CACHE.clear()
