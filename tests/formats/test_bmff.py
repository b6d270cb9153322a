"""ISO BMFF (HEIF/HEIC, AVIF, CR3) and the other non-TIFF RAW containers (RAF, MRW, X3F, CRW):
item walk built in code, hostile structures, the corpus against ExifTool, sidecar writes, and
files ExifTool wrote."""

from __future__ import annotations

import hashlib
import io
import shutil
import struct
import subprocess
import zlib
from pathlib import Path
from typing import Any

import piexif
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import photometa
from conftest import corpus_params, need_corpus_file, run_exiftool
from photometa import DEFAULT_LIMITS, CorruptFileError, LimitExceededError, Limits
from photometa._metadata import Blocks, decode_blocks
from photometa.formats import bmff, otherraw, sniff
from photometa.mapping import to_model
from test_api import full_context

XMP = (b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
       b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
       b'rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:description><rdf:Alt>'
       b'<rdf:li xml:lang="x-default">From the XMP item</rdf:li></rdf:Alt></dc:description>'
       b'</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>')


def tiff_exif(make: str = "Canon", artist: str = "Ri Jong", when: str = "2012:04:15 10:30:05"
              ) -> bytes:
    """A TIFF structure with IFD0 Make and Artist and an Exif IFD DateTimeOriginal."""
    data = piexif.dump({"0th": {piexif.ImageIFD.Make: make.encode(),
                                piexif.ImageIFD.Artist: artist.encode()},
                        "Exif": {piexif.ExifIFD.DateTimeOriginal: when.encode()}})
    assert data.startswith(b"Exif\x00\x00")
    return data[6:]


# -- building ISO BMFF files ---------------------------------------------------------------------


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def full(kind: bytes, version: int, payload: bytes, flags: int = 0) -> bytes:
    return box(kind, bytes([version]) + flags.to_bytes(3, "big") + payload)


def ftyp(major: bytes = b"heic", *compatible: bytes) -> bytes:
    return box(b"ftyp", major + b"\x00\x00\x00\x00" + b"".join(compatible or (b"mif1", major)))


def infe(item_id: int, item_type: bytes, *, version: int = 2, content_type: bytes = b"",
         encoding: bytes = b"", protected: int = 0) -> bytes:
    ident = struct.pack(">H" if version == 2 else ">I", item_id)
    body = ident + struct.pack(">H", protected) + item_type + b"name\x00"
    if item_type == b"mime":
        body += content_type + b"\x00" + (encoding + b"\x00" if encoding else b"")
    return full(b"infe", version, body)


def iinf(*entries: bytes, version: int = 0) -> bytes:
    count = struct.pack(">H" if version == 0 else ">I", len(entries))
    return full(b"iinf", version, count + b"".join(entries))


Loc = tuple[int, int, int, list[tuple[int, int]]]  # item id, method, base offset, extents


def sized(value: int, size: int) -> bytes:
    return b"" if size == 0 else value.to_bytes(size, "big")


def iloc(items: list[Loc], *, version: int = 1, offset_size: int = 4, length_size: int = 4,
         base_size: int = 0) -> bytes:
    body = bytes([(offset_size << 4) | length_size, base_size << 4])
    body += struct.pack(">H" if version < 2 else ">I", len(items))
    for item_id, method, base, extents in items:
        body += struct.pack(">H" if version < 2 else ">I", item_id)
        if version in (1, 2):
            body += struct.pack(">H", method)
        body += struct.pack(">H", 0) + sized(base, base_size) + struct.pack(">H", len(extents))
        for off, length in extents:
            body += sized(off, offset_size) + sized(length, length_size)
    return full(b"iloc", version, body)


def heif(items: list[tuple[int, bytes, bytes]], *, primary: int = 1, iloc_version: int = 1,
         offset_size: int = 4, in_idat: frozenset[int] = frozenset(),
         cdsc: dict[int, int] | None = None, split: bool = False, infe_version: int = 2,
         mdat_size_zero: bool = False, mdat_large: bool = False, major: bytes = b"heic",
         mdat_padding: int = 0) -> bytes:
    """A HEIF file whose items (id, infe entry, data) live in mdat (or idat)."""

    def build(mdat_at: int) -> bytes:
        locs: list[Loc] = []
        idat = b""
        pos = mdat_at + mdat_padding
        for item_id, _entry, data in items:
            if item_id in in_idat:
                locs.append((item_id, 1, 0, [(len(idat), len(data))]))
                idat += data
            elif split and len(data) > 4:
                half = len(data) // 2
                locs.append((item_id, 0, 0, [(pos, half), (pos + half, len(data) - half)]))
                pos += len(data)
            else:
                locs.append((item_id, 0, 0, [(pos, len(data))]))
                pos += len(data)
        refs = b""
        for source, target in (cdsc or {}).items():
            refs += box(b"cdsc", struct.pack(">HHH", source, 1, target))
        children = [
            full(b"hdlr", 0, b"\x00" * 4 + b"pict" + b"\x00" * 13),
            full(b"pitm", 0, struct.pack(">H", primary)) if infe_version == 2
            else full(b"pitm", 1, struct.pack(">I", primary)),
            iinf(*(e for _, e, _ in items), version=0 if infe_version == 2 else 1),
            iloc(locs, version=iloc_version, offset_size=offset_size, length_size=offset_size),
        ]
        if refs:
            children.append(full(b"iref", 0, refs))
        if idat:
            children.append(box(b"idat", idat))
        return full(b"meta", 0, b"".join(children))

    head = ftyp(major)
    meta = build(0)
    payload = b"\x00" * mdat_padding + b"".join(d for i, _, d in items if i not in in_idat)
    mdat_at = len(head) + len(meta) + (16 if mdat_large else 8)
    meta = build(mdat_at)
    if mdat_large:
        mdat = struct.pack(">I4sQ", 1, b"mdat", 16 + len(payload)) + payload
    elif mdat_size_zero:
        mdat = struct.pack(">I4s", 0, b"mdat") + payload
    else:
        mdat = box(b"mdat", payload)
    return head + meta + mdat


def exif_item(tiff: bytes, prefix: bytes = b"") -> bytes:
    return struct.pack(">I", len(prefix)) + prefix + tiff


def read(data: bytes, *, strict: bool = False, limits: Limits = DEFAULT_LIMITS) -> Blocks:
    return bmff.read(io.BytesIO(data), limits, strict)


def image_item(item_id: int = 1) -> tuple[int, bytes, bytes]:
    version = 2 if item_id < 0x10000 else 3
    return (item_id, infe(item_id, b"hvc1", version=version), b"\x00\x00\x00\x10pixels-of-hevc")


# -- sniffing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("head", "name"), [
    (ftyp(b"heic"), "heif"),
    (ftyp(b"mif1", b"mif1", b"heic"), "heif"),
    (ftyp(b"msf1", b"hevc"), "heif"),
    (ftyp(b"avif", b"avif", b"mif1", b"miaf"), "avif"),
    (ftyp(b"mif1", b"avif"), "avif"),
    (ftyp(b"crx ", b"crx ", b"isom"), "raw-cr3"),
    (ftyp(b"isom", b"isom", b"mp41"), None),
    (ftyp(b"qt  ", b"qt  "), None),
    (b"\xff\xd8\xff\xe0", None),
])
def test_brands(head: bytes, name: str | None) -> None:
    assert bmff.brand_of(head) == name
    found = sniff(head)
    assert (found.name if found is not None and found.name in
            ("heif", "avif", "raw-cr3") else None) == name


# -- HEIF items ----------------------------------------------------------------------------------


def test_exif_and_xmp_items_are_read() -> None:
    tiff = tiff_exif()
    data = heif([image_item(), (2, infe(2, b"Exif"), exif_item(tiff)),
                 (3, infe(3, b"mime", content_type=b"application/rdf+xml"), XMP)],
                cdsc={2: 1, 3: 1})
    blocks = read(data, strict=True)
    assert blocks.exif == tiff
    assert blocks.xmp == XMP
    md = decode_blocks(blocks)
    assert md.exif is not None and md.exif.get("IFD0", 0x010F) == "Canon"
    assert md.xmp is not None and md.xmp.get("dc:description", "langalt") == "From the XMP item"


@pytest.mark.parametrize("iloc_version", [0, 1, 2])
@pytest.mark.parametrize("offset_size", [4, 8])
def test_iloc_versions_and_field_sizes(iloc_version: int, offset_size: int) -> None:
    tiff = tiff_exif(artist=f"v{iloc_version}")
    data = heif([image_item(), (2, infe(2, b"Exif"), exif_item(tiff))],
                iloc_version=iloc_version, offset_size=offset_size, split=True)
    assert read(data, strict=True).exif == tiff


def test_idat_items_and_infe_version_3() -> None:
    tiff = tiff_exif()
    data = heif([image_item(70000), (70001, infe(70001, b"Exif", version=3), exif_item(tiff)),
                 (70002, infe(70002, b"mime", version=3, content_type=b"application/rdf+xml"),
                  XMP)],
                primary=70000, in_idat=frozenset({70001, 70002}), infe_version=3, iloc_version=2)
    blocks = read(data, strict=True)
    assert blocks.exif == tiff and blocks.xmp == XMP


def test_exif_offset_field_is_honoured_and_a_wrong_one_tolerated() -> None:
    tiff = tiff_exif()
    data = heif([image_item(), (2, infe(2, b"Exif"), exif_item(tiff, prefix=b"Exif\x00\x00"))])
    assert read(data).exif == tiff
    wrong = struct.pack(">I", 0) + b"Exif\x00\x00" + tiff  # offset says 0, header is at 6
    data = heif([image_item(), (2, infe(2, b"Exif"), wrong)])
    assert read(data).exif == tiff


def test_the_exif_item_of_the_primary_image_wins() -> None:
    thumb, main = tiff_exif(artist="thumbnail"), tiff_exif(artist="primary")
    data = heif([image_item(1), image_item(5), (2, infe(2, b"Exif"), exif_item(thumb)),
                 (3, infe(3, b"Exif"), exif_item(main))], primary=1, cdsc={2: 5, 3: 1})
    assert read(data).exif == main


def test_mdat_to_end_of_file_and_64_bit_size() -> None:
    tiff = tiff_exif()
    items = [image_item(), (2, infe(2, b"Exif"), exif_item(tiff))]
    assert read(heif(items, mdat_size_zero=True), strict=True).exif == tiff
    assert read(heif(items, mdat_large=True), strict=True).exif == tiff


def test_deflated_xmp_item() -> None:
    packed = zlib.compress(XMP)
    data = heif([image_item(), (2, infe(2, b"mime", content_type=b"application/rdf+xml",
                                       encoding=b"deflate"), packed)])
    assert read(data, strict=True).xmp == XMP


def test_protected_and_other_items_are_ignored() -> None:
    data = heif([image_item(), (2, infe(2, b"Exif", protected=1), exif_item(tiff_exif())),
                 (3, infe(3, b"mime", content_type=b"image/jpeg"), b"\xff\xd8")])
    blocks = read(data, strict=True)
    assert blocks.exif is None and blocks.xmp is None


def test_mdat_is_never_read_wholesale() -> None:
    class Counting(io.BytesIO):
        total = 0

        def read(self, n: int | None = -1) -> bytes:
            out = super().read(n)
            Counting.total += len(out)
            return out

    tiff = tiff_exif()
    data = heif([image_item(), (2, infe(2, b"Exif"), exif_item(tiff))],
                mdat_padding=8 * 1024 * 1024)
    f = Counting(data)
    assert bmff.read(f, DEFAULT_LIMITS, True).exif == tiff
    assert Counting.total < 8 * 1024


# -- hostile structures --------------------------------------------------------------------------


def test_box_budget_is_enforced() -> None:
    data = ftyp() + box(b"free", b"") * 50
    with pytest.raises(LimitExceededError):
        read(data, limits=Limits(max_boxes=20))
    assert read(data, limits=Limits(max_boxes=100)).exif is None


def test_item_size_limits() -> None:
    big = exif_item(tiff_exif() + b"\x00" * 5000)
    data = heif([image_item(), (2, infe(2, b"Exif"), big)])
    with pytest.raises(LimitExceededError):
        read(data, limits=Limits(max_segment_bytes=4096))
    with pytest.raises(LimitExceededError):
        read(data, limits=Limits(max_metadata_bytes=2048))


@pytest.mark.parametrize("damage", ["short-box", "past-parent", "extent-outside", "truncated",
                                    "bad-iloc", "garbage-iinf"])
def test_broken_structures_warn_when_tolerant_and_raise_when_strict(damage: str) -> None:
    tiff = tiff_exif()
    good = heif([image_item(), (2, infe(2, b"Exif"), exif_item(tiff))])
    meta_at = good.index(b"meta") - 4
    if damage == "short-box":
        data = good + struct.pack(">I4s", 4, b"free")
    elif damage == "past-parent":
        data = good[:-4]  # mdat now claims 4 bytes more than the file has
    elif damage == "extent-outside":
        # iloc v1, 4-byte fields: version+flags, sizes, count, item 1 (16 bytes), then item 2's
        # id, method, data reference and extent count come before its first extent offset
        at = good.index(b"iloc") + 4 + 4 + 4 + 16 + 8
        data = good[:at] + struct.pack(">I", 10_000_000) + good[at + 4 :]
    elif damage == "truncated":
        data = good[: meta_at + 40]
    elif damage == "bad-iloc":
        at = good.index(b"iloc") + 4
        data = good[:at] + b"\x07" + good[at + 1 :]  # version 7
    else:
        at = good.index(b"iinf") + 4 + 4 + 2  # first infe header
        data = good[:at] + struct.pack(">I4s", 3, b"infe") + good[at + 8 :]
    blocks = read(data)
    assert blocks.warnings, damage
    assert all(isinstance(w, CorruptFileError) for w in blocks.warnings)
    with pytest.raises(CorruptFileError):
        read(data, strict=True)


def test_not_a_bmff_file() -> None:
    with pytest.raises(CorruptFileError):
        read(b"\xff\xd8\xff\xe0" + b"\x00" * 40)


# -- CR3 -----------------------------------------------------------------------------------------


ASCII, RATIONAL, BYTE = 2, 5, 1
SIZES = {ASCII: 1, RATIONAL: 8, BYTE: 1, 4: 4}


def one_ifd(entries: dict[int, tuple[int, bytes]], order: str = "<") -> bytes:
    """A TIFF structure whose first directory holds ``entries`` (tag -> type, value bytes)."""
    count = len(entries)
    data_at = 8 + 2 + 12 * count + 4
    out = (b"II*\x00" if order == "<" else b"MM\x00*") + struct.pack(order + "I", 8)
    out += struct.pack(order + "H", count)
    area = b""
    for tag in sorted(entries):
        typ, value = entries[tag]
        n = len(value) // SIZES[typ]
        if len(value) <= 4:
            field = value.ljust(4, b"\x00")
        else:
            field = struct.pack(order + "I", data_at + len(area))
            area += value + (b"\x00" if len(value) % 2 else b"")
        out += struct.pack(order + "HHI", tag, typ, n) + field
    return out + b"\x00\x00\x00\x00" + area


def rationals(*pairs: tuple[int, int], order: str = "<") -> bytes:
    return b"".join(struct.pack(order + "II", a, b) for a, b in pairs)


def gps_tiff(order: str = "<") -> bytes:
    return one_ifd({0: (BYTE, bytes([2, 3, 0, 0])), 1: (ASCII, b"N\x00"),
                    2: (RATIONAL, rationals((39, 1), (2, 1), (2112, 100), order=order)),
                    3: (ASCII, b"E\x00"),
                    4: (RATIONAL, rationals((125, 1), (45, 1), (45, 1), order=order))}, order)


def cr3(ifd0: bytes, exif: bytes, gps: bytes | None, xmp: bytes | None) -> bytes:
    canon = box(b"CNCV", b"CanonCR3_001/00.09.00/00.00.00")
    canon += box(b"CMT1", ifd0) + box(b"CMT2", exif) + box(b"CMT3", b"II*\x00\x08\x00\x00\x00")
    if gps is not None:
        canon += box(b"CMT4", gps)
    moov = box(b"moov", box(b"uuid", bmff.CANON_UUID + canon) + box(b"mvhd", b"\x00" * 100))
    out = ftyp(b"crx ", b"crx ", b"isom") + moov
    if xmp is not None:
        out += box(b"uuid", bmff.XMP_UUID + xmp)
    return out + box(b"mdat", b"\x00" * 64)


def test_cr3_blocks_are_joined_into_one_tiff_structure() -> None:
    ifd0 = one_ifd({0x010F: (ASCII, b"Canon\x00"), 0x0110: (ASCII, b"Canon EOS R5\x00"),
                    0x013B: (ASCII, b"Kim Photographer\x00"), 0x8769: (4, b"\x00" * 4)})
    exif = one_ifd({0x9003: (ASCII, b"2018:02:21 12:08:56\x00"),
                    0x9011: (ASCII, b"+09:00\x00")})
    data = cr3(ifd0, exif, gps_tiff(), XMP)
    blocks = read(data, strict=True)
    assert blocks.xmp == XMP
    md = decode_blocks(blocks, strict=True)
    assert md.exif is not None
    assert md.exif.get("IFD0", 0x010F) == "Canon"
    assert md.exif.get("IFD0", 0x013B) == "Kim Photographer"
    assert md.exif.get("ExifIFD", 0x9003) == "2018:02:21 12:08:56"
    assert md.exif.get("GPS", 0x0001) == "N"
    assert not md.exif.warnings
    path_ctx, _ = to_model(md)
    assert path_ctx.location.gps is not None
    assert abs(path_ctx.location.gps.latitude - (39 + 2 / 60 + 21.12 / 3600)) < 1e-6


def test_cr3_without_gps_and_with_other_byte_order_part() -> None:
    ifd0 = one_ifd({0x010F: (ASCII, b"Canon\x00")})
    other = one_ifd({0x9003: (ASCII, b"2018:02:21 12:08:56\x00")}, ">")
    blocks = read(cr3(ifd0, other, None, None))
    md = decode_blocks(blocks)
    assert md.exif is not None and md.exif.get("IFD0", 0x010F) == "Canon"
    assert md.exif.get("ExifIFD", 0x9003) is None
    assert blocks.warnings


# -- RAF, MRW, X3F, CRW --------------------------------------------------------------------------


def small_jpeg(exif: bytes | None = None) -> bytes:
    buf = io.BytesIO()
    kwargs: dict[str, Any] = {"exif": b"Exif\x00\x00" + exif} if exif is not None else {}
    Image.new("RGB", (16, 16), (200, 30, 30)).save(buf, "JPEG", **kwargs)
    return buf.getvalue()


def raf(jpeg: bytes) -> bytes:
    header = b"FUJIFILMCCD-RAW 0201FF383501X-T3" + b"\x00" * 24
    header = header.ljust(60, b"\x00") + b"0100" + b"\x00" * 20
    offset = len(header) + 24 + 16
    header += struct.pack(">IIIIII", offset, len(jpeg), 0, 0, 0, 0)
    return header.ljust(offset, b"\x00") + jpeg + b"\x00" * 32


def test_raf_embedded_jpeg_exif() -> None:
    tiff = tiff_exif(make="FUJIFILM")
    data = raf(small_jpeg(tiff))
    assert sniff(data[:64]) is otherraw.RAF
    blocks = otherraw.RAF.read(io.BytesIO(data), DEFAULT_LIMITS, True)
    md = decode_blocks(blocks)
    assert md.exif is not None and md.exif.get("IFD0", 0x010F) == "FUJIFILM"


def test_raf_with_broken_preview_offset() -> None:
    data = bytearray(raf(small_jpeg(tiff_exif())))
    data[84:88] = struct.pack(">I", len(data) + 100)
    blocks = otherraw.RAF.read(io.BytesIO(bytes(data)), DEFAULT_LIMITS, False)
    assert blocks.exif is None and blocks.warnings
    with pytest.raises(CorruptFileError):
        otherraw.RAF.read(io.BytesIO(bytes(data)), DEFAULT_LIMITS, True)


def test_mrw_ttw_block() -> None:
    tiff = tiff_exif(make="Minolta")
    blocks_area = struct.pack(">4sI", b"\x00PRD", 8) + b"\x00" * 8
    blocks_area += struct.pack(">4sI", b"\x00TTW", len(tiff)) + tiff
    data = b"\x00MRM" + struct.pack(">I", len(blocks_area)) + blocks_area + b"\xaa" * 64
    assert sniff(data[:64]) is otherraw.MRW
    md = decode_blocks(otherraw.MRW.read(io.BytesIO(data), DEFAULT_LIMITS, True))
    assert md.exif is not None and md.exif.get("IFD0", 0x010F) == "Minolta"


def test_x3f_jpeg_preview_section() -> None:
    jpeg = small_jpeg(tiff_exif(make="SIGMA"))
    section = b"SECi" + struct.pack("<IIIIII", 0x20000, 2, 18, 16, 16, 0) + jpeg
    body = b"FOVb" + struct.pack("<I", 0x30000) + b"\x00" * 24
    at = len(body)
    body += section
    directory = len(body)
    body += b"SECd" + struct.pack("<II", 0x20000, 1) + struct.pack("<II4s", at, len(section),
                                                                    b"IMA2")
    data = body + struct.pack("<I", directory)
    assert sniff(data[:64]) is otherraw.X3F
    md = decode_blocks(otherraw.X3F.read(io.BytesIO(data), DEFAULT_LIMITS, True))
    assert md.exif is not None and md.exif.get("IFD0", 0x010F) == "SIGMA"


def test_crw_vrd_trailer_xmp() -> None:
    ciff = b"II" + struct.pack("<I", 26) + b"HEAPCCDR" + b"\x00" * 12 + b"\x00\x00\x00\x00"
    block = struct.pack(">II", otherraw.VRD_XMP, len(XMP)) + XMP
    vrd = otherraw.VRD_SIG + b"\x00\x01\x00\x00" + struct.pack(">I", len(block)) + block
    footer = (otherraw.VRD_SIG + struct.pack(">I", len(block))).ljust(64, b"\x00")
    data = ciff + vrd + footer
    assert sniff(data[:64]) is otherraw.CRW
    blocks = otherraw.CRW.read(io.BytesIO(data), DEFAULT_LIMITS, True)
    assert blocks.xmp == XMP
    assert otherraw.CRW.read(io.BytesIO(ciff + b"\x00" * 80), DEFAULT_LIMITS, True).xmp is None


# -- the corpus ----------------------------------------------------------------------------------

RAW_FOLDERS = [*corpus_params(folder="heif"), *corpus_params(folder="raw"),
               *corpus_params(folder="dng")]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


@pytest.mark.parametrize("path", RAW_FOLDERS)
def test_corpus_file_reads_and_agrees_with_exiftool(path: Path | None,
                                                   truth: dict[str, dict[str, Any]],
                                                   corpus: Path) -> None:
    path = need_corpus_file(path)
    record = truth[path.relative_to(corpus).as_posix()]
    result = photometa.read_detailed(path, sidecar="never")
    assert result.context is not None
    _container, _blocks, md = photometa.api._load(path, DEFAULT_LIMITS, strict=False)
    for key, (ifd, tag) in {"IFD0:Make": ("IFD0", 0x010F),
                            "IFD0:Model": ("IFD0", 0x0110)}.items():
        if key in record:
            assert md.exif is not None, key
            assert _text(md.exif.get(ifd, tag)) == _text(record[key]), key
    ctx = result.context
    for key, got in (("IFD0:Artist", ctx.photographer.name),
                     ("IFD0:Copyright", ctx.photographer.copyright),
                     ("IFD0:ImageDescription", ctx.subject.caption)):
        if key in record and "XMP-dc" not in {k.split(":")[0] for k in record}:
            assert _text(got) == _text(record[key]), key
    if "ExifIFD:DateTimeOriginal" in record:
        assert ctx.captured_at is not None
        assert ctx.captured_at.strftime("%Y:%m:%d %H:%M:%S") == record["ExifIFD:DateTimeOriginal"]
    if "XMP-dc:Description" in record and ctx.subject.caption is not None:
        assert ctx.subject.caption == record["XMP-dc:Description"]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("path", RAW_FOLDERS)
def test_writing_a_corpus_file_goes_to_a_sidecar(path: Path | None, tmp_path: Path) -> None:
    path = need_corpus_file(path)
    copy = tmp_path / path.name
    shutil.copyfile(path, copy)
    before = _sha(copy)
    outcome = photometa.write(copy, full_context())
    assert outcome.written
    assert outcome.sidecar == copy.with_suffix(".xmp")
    assert outcome.sidecar.is_file()
    assert _sha(copy) == before
    assert photometa.read(copy) == full_context()
    assert photometa.write(copy, full_context()).written is False  # nothing left to change


# -- interoperability ----------------------------------------------------------------------------


def avif(tmp_path: Path, exif: bytes | None = None, xmp: bytes | None = None) -> Path:
    path = tmp_path / "pic.avif"
    kwargs: dict[str, Any] = {}
    if exif is not None:
        kwargs["exif"] = b"Exif\x00\x00" + exif
    if xmp is not None:
        kwargs["xmp"] = xmp
    img = Image.new("RGB", (48, 32), (30, 90, 160))
    img.save(path, "AVIF", **kwargs)
    return path


def test_pillow_avif_items_read(tmp_path: Path) -> None:
    path = avif(tmp_path, tiff_exif(artist="Pillow Artist"), XMP)
    ctx = photometa.read(path)
    assert ctx.photographer.name == "Pillow Artist"
    assert ctx.subject.caption == "From the XMP item"


def test_avif_write_goes_to_sidecar_pixels_unchanged(tmp_path: Path) -> None:
    path = avif(tmp_path, tiff_exif())
    pixels = Image.open(path).convert("RGB").tobytes()
    before = _sha(path)
    photometa.write(path, full_context())
    assert _sha(path) == before
    assert Image.open(path).convert("RGB").tobytes() == pixels
    assert photometa.read(path) == full_context()


def test_exiftool_and_exiv2_read_the_sidecar(tmp_path: Path, exiftool: str, exiv2: str) -> None:
    path = avif(tmp_path)
    side = photometa.write(path, full_context()).sidecar
    assert side is not None
    [tags] = run_exiftool(exiftool, "-G1", "-struct", "-n", side)
    ctx = full_context()
    assert tags["XMP-dc:Description"] == ctx.subject.caption
    assert tags["XMP-dc:Creator"] == ["Eric Lafforgue"]
    assert tags["XMP-photoshop:City"] == "Pyongyang"
    assert tags["XMP-photoshop:DateCreated"] == "2012:04:15 10:30:05+09:00"
    assert abs(tags["XMP-exif:GPSLatitude"] - 39.0392) < 1e-6
    assert abs(tags["XMP-exif:GPSLongitude"] - 125.7625) < 1e-6
    out = subprocess.run([exiv2, "-pa", "-q", str(side)], capture_output=True, check=False)
    text = out.stdout.decode("utf-8", "replace")
    assert "Xmp.photoshop.City" in text and "Pyongyang" in text
    assert "Xmp.dc.creator" in text and "Eric Lafforgue" in text


@pytest.mark.parametrize("name", ["heif/exif-py/iphone_13_pro_max.heic",
                                  "heif/exif-py/mountains.avif",
                                  "raw/exiftool/CanonRaw.cr3"])
def test_photometa_reads_what_exiftool_wrote_into_the_file(name: str, corpus: Path,
                                                           tmp_path: Path, exiftool: str) -> None:
    copy = tmp_path / Path(name).name
    shutil.copyfile(corpus / name, copy)
    proc = subprocess.run([exiftool, "-m", "-overwrite_original", "-EXIF:Artist=Pak Chol",
                           "-EXIF:Copyright=© Pak Chol",
                           "-XMP-photoshop:City=Wonsan", "-XMP-dc:Subject=beach",
                           "-XMP-dc:Subject=평양", str(copy)], capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr
    ctx = photometa.read(copy, sidecar="never")
    assert ctx.photographer.name == "Pak Chol"
    assert ctx.photographer.copyright == "© Pak Chol"
    assert ctx.location.city == "Wonsan"
    assert ctx.subject.keywords == ["beach", "평양"]


# -- robustness ----------------------------------------------------------------------------------

_SEEDS = [
    heif([image_item(), (2, infe(2, b"Exif"), exif_item(tiff_exif())),
          (3, infe(3, b"mime", content_type=b"application/rdf+xml"), XMP)], cdsc={2: 1, 3: 1}),
    heif([image_item(), (2, infe(2, b"Exif"), exif_item(tiff_exif()))], iloc_version=2,
         in_idat=frozenset({2})),
    cr3(one_ifd({0x010F: (ASCII, b"Canon\x00")}), one_ifd({0x9003: (ASCII, b"2018:02:21\x00")}),
        gps_tiff(), XMP),
    raf(small_jpeg(tiff_exif())),
]


@settings(max_examples=300, deadline=None)
@given(seed=st.sampled_from(range(len(_SEEDS))),
       edits=st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), max_size=8),
       cut=st.one_of(st.none(), st.integers(0, 1 << 16)))
def test_damaged_files_raise_only_photometa_errors(seed: int, edits: list[tuple[int, int]],
                                                   cut: int | None) -> None:
    data = bytearray(_SEEDS[seed])
    for at, value in edits:
        data[at % len(data)] = value
    if cut is not None:
        del data[cut % len(data):]
    container = sniff(bytes(data[:4096]))
    if container is None or container.name not in ("heif", "raw-cr3", "raw-raf"):
        return
    for strict in (False, True):
        try:
            blocks = container.read(io.BytesIO(bytes(data)), DEFAULT_LIMITS, strict)
            decode_blocks(blocks)
        except photometa.PhotometaError as err:
            assert err.code  # typed, with a stable code: never struct.error, IndexError...
