"""The TIFF container: variants told by content, the memory-mapped read, patch-only writes that
never move or cut image data, and the whole write path on synthetic TIFFs (both byte orders,
strips and tiles)."""

from __future__ import annotations

import hashlib
import io
import mmap
import re
import struct
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import photometa
from conftest import REPO, run_exiftool
from photometa import DEFAULT_LIMITS, CorruptFileError, PhotoContext, UnsupportedFormatError
from photometa._metadata import decode_blocks
from photometa.codecs import exif, iptc
from photometa.errors import InvalidValueError, WriteError
from photometa.formats import BytePatch, Update, sniff, tiff
from test_api import full_context

CONFIG = REPO / "schemas" / "photometa.exiftool.config"
Entry = tuple[int, int, int, bytes]  # tag, type, count, value bytes in the file's byte order


# -- building TIFFs in code ----------------------------------------------------------------------


def pack(order: str, fmt: str, *values: int) -> bytes:
    return struct.pack(order + fmt, *values)


def ascii_entry(tag: int, text: str) -> Entry:
    raw = text.encode("latin-1") + b"\0"
    return (tag, 2, len(raw), raw)


def build_tiff(
    order: str = "<",
    *,
    width: int = 8,
    height: int = 6,
    tiled: bool = False,
    data_at_end: bool = False,
    extra: Sequence[Entry] = (),
    fill: int | None = None,
    byte_counts: bool = True,
) -> tuple[bytes, list[tuple[int, int]]]:
    """An uncompressed 8-bit RGB TIFF and the ``(offset, length)`` of each strip or tile.

    ``data_at_end`` puts IFD0 (and its values) right after the header and the pixels at the end of
    the file; otherwise the pixels come first and IFD0 last, as libtiff writes. ``fill`` makes
    every pixel byte that value (0: what a sparse file holds).
    """
    if tiled:
        across, down = -(-width // 16), -(-height // 16)
        chunks = [16 * 16 * 3] * (across * down)
    else:
        chunks = [min(2, height - y) * width * 3 for y in range(0, height, 2)]
    pixels = [
        bytes([fill]) * n if fill is not None else bytes((i * 7 + k) % 251 for k in range(n))
        for i, n in enumerate(chunks)
    ]

    def entries(offsets: list[int]) -> list[Entry]:
        n = len(chunks)
        es: list[Entry] = [
            (256, 4, 1, pack(order, "I", width)), (257, 4, 1, pack(order, "I", height)),
            (258, 3, 3, pack(order, "3H", 8, 8, 8)), (259, 3, 1, pack(order, "H", 1)),
            (262, 3, 1, pack(order, "H", 2)), (277, 3, 1, pack(order, "H", 3)),
            (284, 3, 1, pack(order, "H", 1)),
        ]
        if tiled:
            es += [(322, 3, 1, pack(order, "H", 16)), (323, 3, 1, pack(order, "H", 16)),
                   (324, 4, n, pack(order, f"{n}I", *offsets)),
                   (325, 4, n, pack(order, f"{n}I", *chunks))]
        else:
            es += [(273, 4, n, pack(order, f"{n}I", *offsets)), (278, 3, 1, pack(order, "H", 2))]
            if byte_counts:
                es.append((279, 4, n, pack(order, f"{n}I", *chunks)))
        return sorted([*es, *extra])

    def ifd_at(at: int, offsets: list[int]) -> bytes:
        es = entries(offsets)
        values_at = at + 2 + 12 * len(es) + 4
        head, tail = bytearray(pack(order, "H", len(es))), bytearray()
        for tag, typ, count, value in es:
            if len(value) <= 4:
                head += pack(order, "HHI", tag, typ, count) + value.ljust(4, b"\0")
                continue
            if (values_at + len(tail)) & 1:
                tail += b"\0"
            head += pack(order, "HHII", tag, typ, count, values_at + len(tail))
            tail += value
        return bytes(head + pack(order, "I", 0) + tail)

    mark = b"II*\0" if order == "<" else b"MM\0*"
    if data_at_end:
        start = 8 + len(ifd_at(8, [0] * len(chunks)))
        start += start & 1
        offsets = [start + sum(chunks[:i]) for i in range(len(chunks))]
        body = ifd_at(8, offsets).ljust(start - 8, b"\0") + b"".join(pixels)
        return mark + pack(order, "I", 8) + body, list(zip(offsets, chunks, strict=True))
    offsets = [8 + sum(chunks[:i]) for i in range(len(chunks))]
    at = offsets[-1] + chunks[-1]
    at += at & 1
    data = (mark + pack(order, "I", at) + b"".join(pixels)).ljust(at, b"\0")
    return data + ifd_at(at, offsets), list(zip(offsets, chunks, strict=True))


def chunks_of(data: bytes, ranges: list[tuple[int, int]]) -> list[bytes]:
    return [data[o : o + n] for o, n in ranges]


def pixels(path: Path | bytes) -> bytes:
    with Image.open(io.BytesIO(path) if isinstance(path, bytes) else path) as img:
        return img.tobytes()


def with_magic(data: bytes, magic: bytes) -> bytes:
    return magic + data[4:]


XMP = (b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:'
       b'ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Descript'
       b'ion rdf:about="" xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" photoshop:City="Ka'
       b'esong"/></rdf:RDF></x:xmpmeta><?xpacket end="w"?>')


# -- sniffing and classification -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "name"),
    [
        (b"II*\x00\x08\x00\x00\x00", "tiff"),
        (b"MM\x00*\x00\x00\x00\x08", "tiff"),
        (b"II+\x00\x08\x00\x00\x00\x10\x00\x00\x00\x00\x00\x00\x00", "bigtiff"),
        (b"MM\x00+\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00\x10", "bigtiff"),
        (b"II*\x00\x10\x00\x00\x00CR\x02\x00", "raw-cr2"),
        (b"IIRO\x08\x00\x00\x00", "raw-orf"),
        (b"IIRS\x08\x00\x00\x00", "raw-orf"),
        (b"MMOR\x00\x00\x00\x08", "raw-orf"),
        (b"IIU\x00\x18\x00\x00\x00", "raw-rw2"),
        (b"II*\x00\x08\x0a\x00\x00IIIIcwaR", "raw-iiq"),
    ],
)
def test_sniff_tells_the_variant_by_its_first_bytes(head: bytes, name: str) -> None:
    container = sniff(head)
    assert container is not None and container.name == name
    assert container.tiff_structure and container.holds_iim
    assert (container.write is not None) == (name == "tiff")


@pytest.mark.parametrize("head", [b"", b"II", b"II*", b"\xff\xd8\xff\xe0", b"\x89PNG\r\n\x1a\n",
                                  b"RIFF\x00\x00\x00\x00WEBP", b"II\x2a\x01", b"MM\x2a\x00"])
def test_sniff_leaves_other_bytes_alone(head: bytes) -> None:
    container = sniff(head)
    assert container is None or not container.tiff_structure


def test_exactly_one_tiff_container_accepts_each_head() -> None:
    heads = [build_tiff()[0][:64], b"II+\x00", b"IIRO", b"IIU\x00", b"II*\x00\x10\x00\x00\x00CR"]
    for head in heads:
        assert sum(c.accept(head) for c in tiff.CONTAINERS) == 1, head
    assert len({c.name for c in tiff.CONTAINERS}) == len(tiff.CONTAINERS)


def dng_like(order: str = "<", *, make: str = "Canon", marker: Sequence[Entry] = ()) -> bytes:
    return build_tiff(order, extra=[ascii_entry(0x010F, make), *marker])[0]


@pytest.mark.parametrize("order", ["<", ">"])
def test_kind_of_finds_dng_and_raw_by_content(order: str) -> None:
    p = lambda fmt, *v: pack(order, fmt, *v)  # noqa: E731
    assert tiff.kind_of(dng_like(order)) == "tiff"
    assert tiff.kind_of(dng_like(order, marker=[(0xC612, 1, 4, b"\x01\x04\x00\x00")])) == "dng"
    private = [(0xC634, 1, 6, b"SONY\0\0")]
    assert tiff.kind_of(dng_like(order, make="SONY", marker=private)) == "raw-arw"
    assert tiff.kind_of(dng_like(order, make="Hasselblad", marker=private)) == "raw-tiff"
    cfa = [(0x0106, 3, 1, p("H", 32803) + b"\0\0")]
    # the CFA photometric replaces the RGB one: the first entry of a tag wins
    data = dng_like(order, make="NIKON CORPORATION", marker=cfa)
    assert tiff.kind_of(data) in ("tiff", "raw-nef")
    nef = build_tiff(order, extra=[ascii_entry(0x010F, "NIKON CORPORATION")])[0]
    assert tiff.kind_of(nef) == "tiff"
    for compression, make, name in [(34713, "NIKON", "raw-nef"), (65535, "PENTAX", "raw-pef"),
                                    (32770, "SAMSUNG", "raw-srw"), (32767, "SONY", "raw-arw")]:
        sub = raw_in_subifd(order, compression, make)
        assert tiff.kind_of(sub) == name, name


def raw_in_subifd(order: str, compression: int, make: str) -> bytes:
    """A NEF-like file: IFD0 a small RGB image, a SubIFD the raw image with a vendor compression."""
    p = lambda fmt, *v: pack(order, fmt, *v)  # noqa: E731
    base, _ = build_tiff(order, extra=[ascii_entry(0x010F, make), (0x014A, 4, 1, p("I", 0))])
    sub_at = len(base) + (len(base) & 1)
    sub = p("H", 2) + p("HHI", 0x0103, 3, 1) + p("H", compression) + b"\0\0"
    sub += p("HHI", 0x0106, 3, 1) + p("H", 32803) + b"\0\0" + p("I", 0)
    data = bytearray(base.ljust(sub_at, b"\0") + sub)
    # point the SubIFDs entry (inline LONG) at the new directory
    ifd0 = struct.unpack_from(order + "I", data, 4)[0]
    (count,) = struct.unpack_from(order + "H", data, ifd0)
    for i in range(count):
        at = ifd0 + 2 + 12 * i
        if struct.unpack_from(order + "H", data, at)[0] == 0x014A:
            data[at + 8 : at + 12] = p("I", sub_at)
    return bytes(data)


def test_classification_from_the_head_alone_may_say_tiff_but_the_full_file_decides() -> None:
    data = dng_like(marker=[(0xC612, 1, 4, b"\x01\x04\x00\x00")])
    assert tiff.kind_of(data[:16]) == "tiff"
    assert tiff.kind_of(data) == "dng"
    head = data[:4096]  # the whole IFD0 is visible: the sniffer can tell
    container = sniff(head)
    assert container is not None and container.name == "dng" and container.write is None


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([b"II*\x00", b"MM\x00*", b"IIRO", b"IIU\x00", b"II+\x00"]),
       st.binary(max_size=600))
def test_classification_never_raises(magic: bytes, rest: bytes) -> None:
    data = magic + rest
    assert tiff.kind_of(data) in {c.name for c in tiff.CONTAINERS}
    tiff.image_data(data)


def test_image_data_lists_strips_tiles_and_unknown_lengths() -> None:
    data, ranges = build_tiff(">", width=40, height=24, tiled=True, data_at_end=True)
    merged = (ranges[0][0], sum(n for _, n in ranges))  # the tiles are contiguous
    assert tiff.image_data(data) == [merged]
    data, ranges = build_tiff("<", data_at_end=True, byte_counts=False)
    assert tiff.image_data(data) == [(ranges[0][0], len(data) - ranges[0][0])]


# -- reading -------------------------------------------------------------------------------------


def test_read_maps_the_file_without_copying_it(tmp_path: Path) -> None:
    data, _ = build_tiff(">", extra=[(700, 1, len(XMP), XMP)])
    path = tmp_path / "a.tif"
    path.write_bytes(data)
    with open(path, "rb") as f:
        blocks = tiff.read(f, DEFAULT_LIMITS, True)
    assert isinstance(blocks.exif, mmap.mmap)
    assert blocks.exif_is_file and blocks.exif[:] == data
    assert (blocks.xmp, blocks.irb, blocks.iim) == (None, None, None)
    md = decode_blocks(blocks, strict=True)
    assert md.xmp is not None and md.xmp.get("photoshop:City", "text") == "Kaesong"


def test_read_works_on_a_file_object_without_descriptor() -> None:
    data, _ = build_tiff()
    blocks = tiff.read(io.BytesIO(data), DEFAULT_LIMITS, False)
    assert blocks.exif == data and blocks.exif_is_file


@pytest.mark.parametrize(
    ("data", "code"),
    [(b"", "tiff-empty"), (b"II*\x00", "tiff-header"), (b"XX*\x00\x08\x00\x00\x00", "tiff-header")],
)
def test_read_refuses_what_is_no_tiff(tmp_path: Path, data: bytes, code: str) -> None:
    path = tmp_path / "x.tif"
    path.write_bytes(data)
    with open(path, "rb") as f, pytest.raises(CorruptFileError) as info:
        tiff.read(f, DEFAULT_LIMITS, False)
    assert info.value.code == code


def test_strict_read_wants_ifd0_inside_the_file() -> None:
    data = b"MM\x00*\x00\x01\x00\x00" + bytes(8)
    assert tiff.read(io.BytesIO(data), DEFAULT_LIMITS, False).exif == data
    with pytest.raises(CorruptFileError) as info:
        tiff.read(io.BytesIO(data), DEFAULT_LIMITS, True)
    assert info.value.code == "tiff-ifd0"


def test_empty_file_is_an_error_through_the_api(tmp_path: Path) -> None:
    path = tmp_path / "empty.tif"
    path.write_bytes(b"")
    with pytest.raises(UnsupportedFormatError) as info:
        photometa.read(path)
    assert info.value.path == path


# -- the container's write -----------------------------------------------------------------------


def run_write(tmp_path: Path, data: bytes, update: Update) -> tuple[bytes, photometa.formats.
                                                                    WriteResult]:
    src = tmp_path / "src.tif"
    src.write_bytes(data)
    with open(src, "rb") as s, open(tmp_path / "dst.tif", "w+b") as d:
        result = tiff.write(s, d, update, DEFAULT_LIMITS)
    out = (tmp_path / "dst.tif").read_bytes()
    assert result.size == len(out)  # the api checks the written file has this size
    return out, result


def test_write_applies_patches_cut_and_tail_and_reports_the_untouched_ranges(
        tmp_path: Path) -> None:
    data, _ = build_tiff("<")  # strips first, IFD0 last
    ifd0 = struct.unpack_from("<I", data, 4)[0]
    patch = BytePatch(((4, b"\xaa\xbb\xcc\xdd"), (ifd0, b"\x01\x02")), ifd0 + 10, b"TAIL")
    out, result = run_write(tmp_path, data, Update(file_patch=patch))
    expected = bytearray(data[: ifd0 + 10])
    expected[4:8] = b"\xaa\xbb\xcc\xdd"
    expected[ifd0 : ifd0 + 2] = b"\x01\x02"
    assert out == bytes(expected) + b"TAIL"
    assert result.source_ranges == [(0, 4), (8, ifd0 - 8), (ifd0 + 2, 8)]
    assert result.target_ranges == result.source_ranges


def test_write_without_patch_copies_the_file(tmp_path: Path) -> None:
    data, _ = build_tiff(">")
    out, result = run_write(tmp_path, data, Update())
    assert out == data
    assert result.source_ranges == [(0, len(data))]


@pytest.mark.parametrize(
    "patch",
    [
        BytePatch(((10, b"ab"), (11, b"cd")), 100, b""),  # overlapping
        BytePatch(((98, b"abcd"),), 100, b""),  # past the cut
        BytePatch((), 10**9, b""),  # cut beyond the end
        BytePatch((), 4, b""),  # cut inside the header
    ],
)
def test_write_refuses_a_patch_that_does_not_fit(tmp_path: Path, patch: BytePatch) -> None:
    data, _ = build_tiff("<", data_at_end=True)
    with pytest.raises(InvalidValueError) as info:
        run_write(tmp_path, data, Update(file_patch=patch))
    assert info.value.code == "tiff-patch"


def test_write_takes_only_a_file_patch(tmp_path: Path) -> None:
    with pytest.raises(InvalidValueError) as info:
        run_write(tmp_path, build_tiff()[0], Update(xmp=XMP))
    assert info.value.code == "tiff-update"


def test_write_refuses_to_cut_or_overwrite_image_data(tmp_path: Path) -> None:
    data, strips = build_tiff("<")  # strips from byte 8 on, IFD0 after them
    start = strips[1][0]
    with pytest.raises(WriteError) as info:
        run_write(tmp_path, data, Update(file_patch=BytePatch((), start + 1, b"")))
    assert info.value.code == "image-data-changed"
    with pytest.raises(WriteError) as info:
        run_write(tmp_path, data, Update(file_patch=BytePatch(((start + 3, b"\0"),), len(data),
                                                              b"")))
    assert info.value.code == "image-data-changed" and info.value.offset == start + 3
    same = data[start : start + 4]  # rewriting image bytes with themselves changes nothing
    out, _ = run_write(tmp_path, data, Update(file_patch=BytePatch(((start, same),), len(data),
                                                                   b"")))
    assert out == data


@pytest.mark.parametrize("kind", ["dng", "raw-arw"])
def test_write_refuses_dng_and_raw(tmp_path: Path, kind: str) -> None:
    marker = [(0xC612, 1, 4, b"\x01\x04\x00\x00")] if kind == "dng" else [(0xC634, 1, 6,
                                                                           b"SONY\0\0")]
    data = dng_like(make="SONY", marker=marker)
    with pytest.raises(UnsupportedFormatError) as info:
        run_write(tmp_path, data, Update())
    assert info.value.code == "read-only-format"
    path = tmp_path / f"photo.{kind}"
    path.write_bytes(data)
    with pytest.raises(UnsupportedFormatError) as info:
        photometa.write(path, full_context(), sidecar="never")
    assert info.value.code == "read-only-format" and info.value.path == path
    assert path.read_bytes() == data
    outcome = photometa.write(path, full_context())  # the default: an XMP sidecar instead
    assert path.read_bytes() == data
    assert outcome.sidecar is not None and outcome.sidecar.is_file()


def test_orf_and_rw2_are_never_written_in_place(tmp_path: Path) -> None:
    data, _ = build_tiff("<", extra=[ascii_entry(0x013B, "Someone")])
    for magic in (b"IIRO", b"IIU\x00"):
        path = tmp_path / "raw.bin"
        path.write_bytes(with_magic(data, magic))
        with pytest.raises(photometa.PhotometaError) as info:
            photometa.write(path, full_context(), sidecar="never")
        assert path.read_bytes() == with_magic(data, magic)
        # read-only-format once the api checks Container.write before its strict read; until the
        # EXIF codec knows these headers that strict read fails first (see the report)
        assert info.value.code in ("read-only-format", "exif-header")
        photometa.write(path, full_context())
        assert path.read_bytes() == with_magic(data, magic)


# -- the whole write path on synthetic files -----------------------------------------------------


LAYOUTS = [
    pytest.param(order, tiled, end, id=f"{'II' if order == '<' else 'MM'}-"
                 f"{'tiles' if tiled else 'strips'}-{'data-last' if end else 'ifd-last'}")
    for order in "<>" for tiled in (False, True) for end in (False, True)
]


@pytest.mark.parametrize(("order", "tiled", "data_at_end"), LAYOUTS)
def test_full_context_round_trip_keeps_image_data(tmp_path: Path, order: str, tiled: bool,
                                                  data_at_end: bool) -> None:
    size = (40, 24) if tiled else (8, 6)
    data, ranges = build_tiff(order, width=size[0], height=size[1], tiled=tiled,
                              data_at_end=data_at_end, extra=[ascii_entry(0x0131, "scanner")])
    path = tmp_path / "a.tif"
    path.write_bytes(data)
    outcome = photometa.write(path, full_context())
    assert outcome.written
    result = photometa.read_detailed(path)
    assert result.format == "tiff"
    assert result.context == full_context()
    assert [f for f in result.findings if f.severity != "info"] == []
    new = path.read_bytes()
    assert chunks_of(new, ranges) == chunks_of(data, ranges)
    assert new[:2] == data[:2]  # byte order kept
    assert pixels(new) == pixels(data)
    md = decode_blocks(tiff.read(io.BytesIO(new), DEFAULT_LIMITS, True), strict=True)
    assert md.exif is not None and md.exif.get("IFD0", 0x0131) == "scanner"
    # XMP in tag 700, IIM in 33723: both where other readers look
    assert md.xmp is not None and md.iim is not None
    assert md.iim.get(2, 90) == ["Pyongyang"]


@pytest.mark.parametrize("order", ["<", ">"])
def test_repeated_writes_do_not_grow_the_file(tmp_path: Path, order: str) -> None:
    data, ranges = build_tiff(order)
    path = tmp_path / "a.tif"
    path.write_bytes(data)
    sizes = []
    for i in range(6):
        city = "Kaesong" if i % 2 else "Pyongyang, the capital city of the DPRK"
        photometa.write(path, full_context().model_copy(
            update={"location": full_context().location.model_copy(update={"city": city})}))
        sizes.append(path.stat().st_size)
        assert photometa.read(path).location.city == city
    assert sizes[5] <= sizes[1] + 64 and sizes[4] <= sizes[0] + 64, sizes
    assert chunks_of(path.read_bytes(), ranges) == chunks_of(data, ranges)


def test_a_write_that_changes_nothing_leaves_the_file_alone(tmp_path: Path) -> None:
    data, _ = build_tiff(">")
    path = tmp_path / "a.tif"
    path.write_bytes(data)
    photometa.write(path, full_context())
    before = path.read_bytes()
    assert not photometa.write(path, full_context()).written
    assert path.read_bytes() == before


def test_clear_removes_gps_from_a_tiff(tmp_path: Path) -> None:
    data, ranges = build_tiff("<", data_at_end=True)
    path = tmp_path / "a.tif"
    path.write_bytes(data)
    photometa.write(path, full_context())
    photometa.write(path, PhotoContext(), clear=["location.gps", "location.city"])
    ctx = photometa.read(path)
    assert ctx.location.gps is None and ctx.location.city is None
    assert ctx.photographer.name == "Eric Lafforgue"
    md = decode_blocks(tiff.read(io.BytesIO(path.read_bytes()), DEFAULT_LIMITS, True))
    assert md.exif is not None
    gps = md.exif.ifds.get("GPS", {})
    assert not {1, 2, 3, 4} & set(gps)  # no position left in the file
    assert chunks_of(path.read_bytes(), ranges) == chunks_of(data, ranges)


# -- the codec's cut never drops image data ------------------------------------------------------


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("tiled", [False, True])
def test_cut_keeps_zero_filled_image_data_at_the_end(order: str, tiled: bool) -> None:
    """Sparse (all-zero) strips or tiles at the end of the file look like padding; they are not."""
    size = (32, 32) if tiled else (8, 6)
    data, ranges = build_tiff(order, width=size[0], height=size[1], tiled=tiled,
                              data_at_end=True, fill=0, extra=[(700, 1, len(XMP), XMP)])
    edits = {("IFD0", 700): exif.ExifWrite(exif.BYTE, XMP * 3),
             ("IFD0", 0x013B): exif.ExifWrite(exif.ASCII, "Someone")}
    patch = exif.plan_patch(data, edits)
    end = max(o + n for o, n in ranges)
    assert patch.truncate_at >= end
    assert all(at + len(chunk) <= ranges[0][0] for at, chunk in patch.patches)
    assert chunks_of(exif.apply_patch(data, patch), ranges) == chunks_of(data, ranges)


@pytest.mark.parametrize("order", ["<", ">"])
def test_cut_behind_the_image_data_is_used(order: str) -> None:
    """IFD0 after the strips: a grown value may replace the old tail, never the strips."""
    data, ranges = build_tiff(order, extra=[(700, 1, len(XMP), XMP)])
    patch = exif.plan_patch(data, {("IFD0", 700): exif.ExifWrite(exif.BYTE, XMP * 2)})
    end = max(o + n for o, n in ranges)
    assert end <= patch.truncate_at < len(data)
    new = exif.apply_patch(data, patch)
    assert chunks_of(new, ranges) == chunks_of(data, ranges)
    assert pixels(new) == pixels(data)


def test_strips_without_byte_counts_are_never_cut(tmp_path: Path) -> None:
    """Offsets without byte counts: the data's end is unknown. The EXIF codec cuts such zero data
    (see the report); the container refuses that plan, so the file is never damaged."""
    data, ranges = build_tiff("<", data_at_end=True, fill=0, byte_counts=False,
                              extra=[(700, 1, len(XMP), XMP)])
    path = tmp_path / "a.tif"
    path.write_bytes(data)
    try:
        photometa.write(path, full_context())
    except WriteError as err:
        assert err.code == "image-data-changed"
        assert path.read_bytes() == data
        return
    new = path.read_bytes()
    assert chunks_of(new, ranges) == chunks_of(data, ranges)


# -- IPTC in TIFF --------------------------------------------------------------------------------


def iim_block() -> bytes:
    iim = iptc.IimData.decode(b"")
    iim.set(2, 90, ["Wonsan"])
    iim.set(2, 25, ["beach", "바다"])
    return iim.encode()


@pytest.mark.parametrize("order", ["<", ">"])
def test_iim_in_a_long_typed_padded_tag_is_read(tmp_path: Path, order: str) -> None:
    block = iim_block()
    padded = block + b"\0" * (-len(block) % 4)
    data, _ = build_tiff(order, extra=[(33723, 4, len(padded) // 4, padded)])
    path = tmp_path / "a.tif"
    path.write_bytes(data)
    ctx = photometa.read(path)
    assert ctx.location.city == "Wonsan"
    assert ctx.subject.keywords == ["beach", "바다"]


def test_irb_iim_is_preferred_to_the_bare_tag(tmp_path: Path) -> None:
    old = iptc.IimData.decode(b"")
    old.set(2, 90, ["Stale"])
    irb = iptc.build_irb([iptc.IrbResource(b"8BIM", iptc.IRB_IPTC, b"", iim_block())])
    data, _ = build_tiff(">", extra=[(33723, 7, len(old.encode()), old.encode()),
                                     (34377, 1, len(irb), irb)])
    path = tmp_path / "a.tif"
    path.write_bytes(data)
    assert photometa.read(path).location.city == "Wonsan"
    photometa.write(path, PhotoContext(location={"city": "Hamhung"}))
    md = decode_blocks(tiff.read(io.BytesIO(path.read_bytes()), DEFAULT_LIMITS, True))
    assert md.iim is not None and md.iim.get(2, 90) == ["Hamhung"]
    assert md.exif is not None
    bare = iptc.IimData.decode(md.exif.ifds["IFD0"][33723].raw.rstrip(b"\0"))
    assert bare.get(2, 90) == ["Hamhung"]  # both homes agree after the write
    assert md.stored_digest == md.current_digest


# -- interoperability ----------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["<", ">"])
def test_exiftool_reads_what_photometa_wrote_into_a_tiff(tmp_path: Path, exiftool: str,
                                                         order: str) -> None:
    data, _ = build_tiff(order, width=40, height=24, tiled=True)
    path = tmp_path / "a.tif"
    path.write_bytes(data)
    photometa.write(path, full_context())
    [tags] = run_exiftool(exiftool, "-config", CONFIG, "-G1", "-struct", "-n", path)
    ctx = full_context()
    assert "ExifTool:Warning" not in tags
    assert tags["IFD0:Artist"] == "Eric Lafforgue"
    assert tags["IFD0:ImageDescription"] == ctx.subject.caption
    assert tags["ExifIFD:DateTimeOriginal"] == "2012:04:15 10:30:05"
    assert abs(tags["GPS:GPSLatitude"] - 39.0392) < 1e-7
    assert tags["XMP-photoshop:City"] == "Pyongyang"
    assert tags["XMP-dc:Subject"] == ["soldiers", "rest", "평양"]
    assert tags["XMP-pmeta:RestrictionStatus"] == "deletion-requested"
    assert tags["IPTC:City"] == "Pyongyang"
    assert tags["IPTC:Keywords"] == ["soldiers", "rest", "평양"]
    assert tags["IPTC:By-line"] == "Eric Lafforgue"
    assert tags["File:ExifByteOrder"] == ("II" if order == "<" else "MM")


# ExifTool -validate findings about the metadata photometa chooses to write, not about the TIFF
# structure (reported to the mapping's owner): created Exif/GPS IFDs lack tags Exif calls required,
# and IIM 2:100 holds the 2-letter country code where IIM 4.2 wants 3 letters.
CONTENT_FINDINGS = re.compile(r"Missing required TIFF (ExifIFD|GPS) tag|IPTC Country-Primary")
IIM_TYPE_FINDING = "Non-standard format (undef) for IFD0 0x83bb IPTC-NAA"
RESOLUTION = [(0x011A, 5, 1, b"\0\0\0\x48\0\0\0\x01"), (0x011B, 5, 1, b"\0\0\0\x48\0\0\0\x01"),
              (0x0128, 3, 1, b"\0\x02")]


def validate(exe: str, path: Path) -> set[str]:
    out = subprocess.run([exe, "-validate", "-warning", "-error", "-a", "-s", "-s", "-s",
                          str(path)], capture_output=True, check=False)
    lines = out.stdout.decode("utf-8", "replace").splitlines()
    return {line for line in lines[1:] if line.strip()}  # the first line is the summary


@pytest.mark.parametrize("data_at_end", [False, True])
def test_written_tiff_structure_passes_exiftool_validate(tmp_path: Path, exiftool: str,
                                                         data_at_end: bool) -> None:
    data, _ = build_tiff(">", data_at_end=data_at_end, extra=RESOLUTION)
    path = tmp_path / "a.tif"
    path.write_bytes(data)
    assert validate(exiftool, path) == set()
    photometa.write(path, full_context())
    found = validate(exiftool, path)
    structural = {w for w in found if not CONTENT_FINDINGS.search(w) and w != IIM_TYPE_FINDING}
    assert structural == set()


def test_iptc_naa_is_written_with_the_type_exiftool_expects(tmp_path: Path,
                                                            exiftool: str) -> None:
    data, _ = build_tiff(">", extra=RESOLUTION)
    path = tmp_path / "a.tif"
    path.write_bytes(data)
    photometa.write(path, full_context())
    assert IIM_TYPE_FINDING not in validate(exiftool, path)


def test_exiv2_reads_what_photometa_wrote_into_a_tiff(tmp_path: Path, exiv2: str) -> None:
    data, _ = build_tiff("<")
    path = tmp_path / "a.tif"
    path.write_bytes(data)
    photometa.write(path, full_context())
    out = subprocess.run([exiv2, "-pa", "-q", str(path)], capture_output=True, check=False)
    values: dict[str, str] = {}
    for line in out.stdout.decode("utf-8", "replace").splitlines():
        parts = line.split(None, 3)
        if len(parts) == 4:
            values[parts[0]] = (values[parts[0]] + " | " if parts[0] in values else "") + parts[3]
    assert values["Exif.Image.Artist"] == "Eric Lafforgue"
    assert values["Exif.Photo.DateTimeOriginal"] == "2012:04:15 10:30:05"
    assert values["Xmp.photoshop.City"] == "Pyongyang"
    assert values["Iptc.Application2.City"] == "Pyongyang"
    assert values["Iptc.Application2.Keywords"] == "soldiers | rest | 평양"


@pytest.mark.parametrize("order", ["<", ">"])
def test_photometa_reads_what_exiftool_wrote_into_a_tiff(tmp_path: Path, exiftool: str,
                                                         order: str) -> None:
    data, _ = build_tiff(order, data_at_end=True)
    path = tmp_path / "a.tif"
    path.write_bytes(data)
    subprocess.run([exiftool, "-config", str(CONFIG), "-overwrite_original",
                    "-codedcharacterset=utf8", "-XMP-dc:Description=Flowers in Pyongyang",
                    "-XMP-photoshop:City=Pyongyang", "-XMP-iptcCore:CountryCode=KP",
                    "-XMP-pmeta:RestrictionStatus=restricted", "-IPTC:City=Pyongyang",
                    "-IPTC:Keywords=flowers", "-IPTC:Keywords=평양 거리",
                    "-EXIF:Artist=Eric Lafforgue", "-EXIF:DateTimeOriginal=2013:02:16 11:12:13",
                    "-GPSLatitude=39.0194", "-GPSLatitudeRef=N", "-GPSLongitude=125.7381",
                    "-GPSLongitudeRef=E", str(path)], check=True, capture_output=True)
    ctx = photometa.read(path)
    assert ctx.subject.caption == "Flowers in Pyongyang"
    assert ctx.subject.keywords == ["flowers", "평양 거리"]
    assert ctx.photographer.name == "Eric Lafforgue"
    assert ctx.location.city == "Pyongyang" and ctx.location.country_code == "KP"
    assert ctx.restriction.status == "restricted"
    assert ctx.location.gps is not None and abs(ctx.location.gps.latitude - 39.0194) < 1e-6
    # and photometa writes on top of ExifTool's layout without moving the strips
    new_ranges = [(o, n) for o, n in tiff.image_data(path.read_bytes())]
    before = hashlib.sha256(b"".join(chunks_of(path.read_bytes(), new_ranges))).digest()
    photometa.write(path, full_context())
    assert photometa.read(path) == full_context()
    assert hashlib.sha256(b"".join(chunks_of(path.read_bytes(), new_ranges))).digest() == before


# -- ORF / RW2: the codec and the header ---------------------------------------------------------


@pytest.mark.parametrize("magic", [b"IIRO", b"IIRS", b"IIU\x00"])
def test_exif_of_orf_and_rw2_is_read(tmp_path: Path, magic: bytes) -> None:
    data, _ = build_tiff("<", extra=[ascii_entry(0x013B, "Someone")])
    path = tmp_path / "raw.orf"
    path.write_bytes(with_magic(data, magic))
    assert photometa.read(path).photographer.name == "Someone"


def test_orf_and_rw2_read_without_an_unhandled_error(tmp_path: Path) -> None:
    data, _ = build_tiff(">", extra=[ascii_entry(0x013B, "Someone")])
    path = tmp_path / "raw.orf"
    path.write_bytes(with_magic(data, b"MMOR"))
    result = photometa.read_detailed(path)
    assert result.format == "raw-orf" and result.context is not None


# -- memory --------------------------------------------------------------------------------------

MEMORY_SCRIPT = textwrap.dedent(
    """
    import resource, struct, sys
    import photometa
    from photometa import PhotoContext

    small, big, megabytes = sys.argv[1], sys.argv[2], int(sys.argv[3])
    ctx = PhotoContext.model_validate_json(sys.stdin.read())
    photometa.write(small, ctx)          # warm up: imports, caches, first allocations
    photometa.read(small)
    width = 1024
    height = (megabytes << 20) // (width * 3)
    p = lambda fmt, *v: struct.pack("<" + fmt, *v)
    entries = [(256, 4, p("I", width)), (257, 4, p("I", height)), (258, 3, p("H", 8)),
               (259, 3, p("H", 1)), (262, 3, p("H", 1)), (273, 4, p("I", 4096)),
               (277, 3, p("H", 1)), (278, 4, p("I", height)), (279, 4, p("I", width * height * 3))]
    ifd = p("H", len(entries)) + b"".join(p("HHI", t, ty, 1) + v.ljust(4, b"\\0")
                                         for t, ty, v in entries) + p("I", 0)
    with open(big, "wb") as f:  # one big strip at the end of the file, sparse on disk
        f.write(b"II*\\0" + p("I", 8) + ifd)
        f.truncate(4096 + width * height * 3)
    scale = 1 if sys.platform == "darwin" else 1024
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
    photometa.write(big, ctx)
    assert photometa.read(big) == ctx
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
    print(after - before)
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="resource.getrusage is POSIX")
def test_large_tiff_is_read_and_written_in_small_memory(tmp_path: Path) -> None:
    megabytes = 64
    small = tmp_path / "small.tif"
    small.write_bytes(build_tiff("<")[0])
    big = tmp_path / "big.tif"
    proc = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, str(small), str(big), str(megabytes)],
        input=full_context().model_dump_json().encode(), capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    growth = int(proc.stdout.split()[-1])
    assert big.stat().st_size > megabytes << 20
    assert growth < (megabytes << 20) // 4, f"max RSS grew by {growth >> 20} MB"
