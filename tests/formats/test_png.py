"""The PNG container: chunk walk, metadata chunks (eXIf, XMP, raw profiles), CRCs, limits, write."""

from __future__ import annotations

import io
import struct
import subprocess
import zlib
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import photometa
from conftest import run_exiftool
from photometa import DEFAULT_LIMITS, CorruptFileError, LimitExceededError, Limits
from photometa.formats import Update, png, sniff
from test_api import full_context

TIFF = b"MM\x00*\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00"  # a TIFF header and an empty IFD0
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"/>'


def chunk(ctype: bytes, data: bytes, *, crc: int | None = None) -> bytes:
    value = zlib.crc32(data, zlib.crc32(ctype)) if crc is None else crc
    return struct.pack(">I4s", len(data), ctype) + data + struct.pack(">I", value)


def pillow_png(size: tuple[int, int] = (16, 12), mode: str = "RGB", **kwargs: Any) -> bytes:
    img = Image.new(mode, size, (10, 200, 30) if mode == "RGB" else 7)
    for x in range(size[0]):
        img.putpixel((x, x % size[1]), (x * 9, 0, 255 - x) if mode == "RGB" else x)
    buf = io.BytesIO()
    img.save(buf, "PNG", **kwargs)
    return buf.getvalue()


def split(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, data) of every chunk, checking nothing."""
    out, pos = [], 8
    while pos < len(data):
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        out.append((ctype, data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return out


def raw_chunks(data: bytes) -> list[bytes]:
    """Every chunk as bytes (header, data and CRC)."""
    out, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        out.append(data[pos : pos + 12 + length])
        pos += 12 + length
    return out


def with_chunks(base: bytes, *, after_ihdr: tuple[bytes, ...] = (),
                before_iend: tuple[bytes, ...] = ()) -> bytes:
    parts = raw_chunks(base)
    return png.SIGNATURE + parts[0] + b"".join(after_ihdr) + b"".join(parts[1:-1]) + b"".join(
        before_iend) + parts[-1]


def text(ctype: bytes, keyword: bytes, payload: bytes, *, compress: bool = False) -> bytes:
    if ctype == b"tEXt":
        return chunk(ctype, keyword + b"\x00" + payload)
    if ctype == b"zTXt":
        return chunk(ctype, keyword + b"\x00\x00" + zlib.compress(payload))
    flag = b"\x01\x00" if compress else b"\x00\x00"
    body = zlib.compress(payload) if compress else payload
    return chunk(ctype, keyword + b"\x00" + flag + b"en\x00\x00" + body)


def raw_profile(kind: str, data: bytes) -> bytes:
    """ImageMagick's hex form, 36 bytes per line."""
    hexed = data.hex()
    lines = "\n".join(hexed[i : i + 72] for i in range(0, len(hexed), 72))
    return f"\n{kind}\n{len(data):8d}\n{lines}\n".encode("ascii")


def read(data: bytes, strict: bool = False, limits: Limits = DEFAULT_LIMITS) -> Any:
    return png.read(io.BytesIO(data), limits, strict)


def write(data: bytes, update: Update, tmp_path: Path) -> tuple[bytes, Any]:
    src = tmp_path / "src.png"
    src.write_bytes(data)
    dst = tmp_path / "dst.png"
    with open(src, "rb") as s, open(dst, "w+b") as d:
        result = png.write(s, d, update, DEFAULT_LIMITS)
    out = dst.read_bytes()
    assert result.size == len(out)  # the api checks the written file has this size
    ranges = zip(result.source_ranges, result.target_ranges, strict=True)
    for (s_off, s_len), (t_off, t_len) in ranges:
        assert data[s_off : s_off + s_len] == out[t_off : t_off + t_len]
    return out, result


def crcs_ok(data: bytes) -> bool:
    return all(
        zlib.crc32(c[8:-4], zlib.crc32(c[4:8])) == struct.unpack(">I", c[-4:])[0]
        for c in raw_chunks(data)
    )


# -- reading -------------------------------------------------------------------------------------


def test_sniff_by_content() -> None:
    assert sniff(pillow_png()[:16]) is png.CONTAINER
    assert not png.accept(b"\x89PNG\r\n\x1a\x00")
    assert png.CONTAINER.holds_iim is False


def test_exif_and_xmp_before_idat() -> None:
    data = with_chunks(pillow_png(), after_ihdr=(chunk(b"eXIf", TIFF),
                                                 text(b"iTXt", png.XMP_KEYWORD, XMP)))
    blocks = read(data, strict=True)
    assert (blocks.exif, blocks.xmp, blocks.iim, blocks.irb) == (TIFF, XMP, None, None)
    assert blocks.warnings == []


def test_exif_after_idat_and_prefixed_exif() -> None:
    data = with_chunks(pillow_png(), before_iend=(chunk(b"eXIf", b"Exif\x00\x00" + TIFF),))
    assert read(data, strict=True).exif == TIFF


def test_compressed_xmp_and_text_chunk_fallbacks() -> None:
    packet = XMP * 50
    data = with_chunks(pillow_png(), after_ihdr=(text(b"iTXt", png.XMP_KEYWORD, packet,
                                                      compress=True),))
    assert read(data, strict=True).xmp == packet
    # an iTXt packet wins over one in a zTXt chunk, wherever they stand
    data = with_chunks(pillow_png(), after_ihdr=(text(b"zTXt", png.XMP_KEYWORD, b"<z/>"),),
                       before_iend=(text(b"iTXt", png.XMP_KEYWORD, b"<i/>"),))
    assert read(data).xmp == b"<i/>"
    data = with_chunks(pillow_png(), after_ihdr=(text(b"tEXt", png.XMP_KEYWORD, b"<t/>"),))
    assert read(data).xmp == b"<t/>"


@pytest.mark.parametrize("ctype", [b"tEXt", b"zTXt", b"iTXt"])
def test_raw_profiles_are_decoded(ctype: bytes) -> None:
    iim = b"\x1c\x02\x00\x00\x02\x00\x04\x1c\x02\x5a\x00\x09Pyongyang"
    irb = b"8BIM\x04\x04\x00\x00\x00\x00\x00\x04abcd"
    kw = png.RAW_PROFILE
    data = with_chunks(pillow_png(), after_ihdr=(
        text(ctype, kw + b"exif", raw_profile("exif", b"Exif\x00\x00" + TIFF)),
        text(ctype, kw + b"xmp", raw_profile("xmp", XMP)),
        text(ctype, kw + b"iptc", raw_profile("iptc", iim)),
        text(ctype, kw + b"8bim", raw_profile("8bim", irb)),
    ))
    blocks = read(data, strict=True)
    assert (blocks.exif, blocks.xmp, blocks.iim, blocks.irb) == (TIFF, XMP, iim, irb)
    # ImageMagick's APP1 profiles hold a JPEG APP1 payload: Exif or XMP
    data = with_chunks(pillow_png(), after_ihdr=(
        text(ctype, kw + b"APP1", raw_profile("APP1", b"Exif\x00\x00" + TIFF)),
        text(ctype, kw + b"APP1", raw_profile("APP1", png.APP1_XMP_SIG + XMP)),
        text(ctype, kw + b"iptc", raw_profile("iptc", irb)),
    ))
    blocks = read(data, strict=True)
    assert (blocks.exif, blocks.xmp, blocks.iim, blocks.irb) == (TIFF, XMP, None, irb)


def test_exif_chunk_wins_over_a_raw_profile() -> None:
    other = TIFF[:-4] + b"\x00\x00\x00\x01"
    data = with_chunks(pillow_png(), after_ihdr=(
        text(b"zTXt", png.RAW_PROFILE + b"exif", raw_profile("exif", other)),),
        before_iend=(chunk(b"eXIf", TIFF),))
    assert read(data).exif == TIFF


def test_malformed_raw_profile_is_a_warning_even_when_strict() -> None:
    data = with_chunks(pillow_png(), after_ihdr=(
        text(b"zTXt", png.RAW_PROFILE + b"iptc", b"\x1c\x02\x00\x00\x02\x00\x04"),
        text(b"tEXt", png.RAW_PROFILE + b"exif", b"\nexif\n   99\nzz\n"),
        text(b"tEXt", png.RAW_PROFILE + b"xmp", raw_profile("xmp", XMP)[:-10]),
    ))
    for strict in (False, True):
        blocks = read(data, strict=strict)
        assert blocks.iim is None and blocks.exif is None and blocks.xmp is None
        assert [w.code for w in blocks.warnings] == ["png-raw-profile"] * 3


def test_other_text_chunks_are_not_metadata() -> None:
    # Pillow's exif_text.png style: a tEXt chunk keyed "exif" is plain text for ExifTool too
    data = with_chunks(pillow_png(), after_ihdr=(text(b"tEXt", b"exif", b"Exif\x00\x00" + TIFF),
                                                 text(b"tEXt", b"Comment", b"hello")))
    blocks = read(data, strict=True)
    assert blocks.exif is None and blocks.xmp is None


def test_bad_crc_on_a_metadata_chunk() -> None:
    bad = chunk(b"eXIf", TIFF, crc=12345)
    data = with_chunks(pillow_png(), after_ihdr=(bad,))
    blocks = read(data)
    assert blocks.exif == TIFF  # tolerant: still read, with a warning
    assert [(w.code, w.offset) for w in blocks.warnings] == [("png-crc", 33)]
    with pytest.raises(CorruptFileError) as info:
        read(data, strict=True)
    assert (info.value.code, info.value.offset) == ("png-crc", 33)


def test_bad_crc_on_image_data_refuses_a_strict_read() -> None:
    data = bytearray(pillow_png())
    idat = bytes(data).index(b"IDAT")
    data[idat + 6] ^= 0xFF  # corrupt one byte of compressed image data
    assert read(bytes(data)).warnings == []  # tolerant reading does not read image data
    with pytest.raises(CorruptFileError) as info:
        read(bytes(data), strict=True)
    assert (info.value.code, info.value.offset) == ("png-crc", idat - 4)


def test_bad_crc_on_a_foreign_ancillary_chunk_is_kept(tmp_path: Path) -> None:
    foreign = chunk(b"prVt", b"private data", crc=7)
    data = with_chunks(pillow_png(), after_ihdr=(foreign,))
    blocks = read(data, strict=True)
    assert [w.code for w in blocks.warnings] == ["png-crc"]
    out, _ = write(data, Update(xmp=XMP), tmp_path)
    assert foreign in out  # copied as it was: never repaired


def test_decompression_is_bounded() -> None:
    limits = Limits(max_xmp_bytes=10_000, max_metadata_bytes=50_000)
    bomb = b" " * 1_000_000
    data = with_chunks(pillow_png(), after_ihdr=(text(b"iTXt", png.XMP_KEYWORD, bomb,
                                                      compress=True),))
    assert len(data) < 10_000
    blocks = read(data, limits=limits)
    assert blocks.xmp is None
    assert [w.code for w in blocks.warnings] == ["limit"]
    with pytest.raises(LimitExceededError):
        read(data, strict=True, limits=limits)
    profile = with_chunks(pillow_png(), after_ihdr=(
        text(b"zTXt", png.RAW_PROFILE + b"exif", b"\nexif\n 1\n" + b"0" * 1_000_000),))
    blocks = read(profile, limits=limits)
    assert blocks.exif is None and [w.code for w in blocks.warnings] == ["limit"]
    # text read earlier counts against the file's budget: a later stream gets what is left
    spent = with_chunks(pillow_png(), after_ihdr=(
        text(b"tEXt", png.XMP_KEYWORD, b" " * 45_000),
        text(b"tEXt", png.RAW_PROFILE + b"exif", b"not hex" * 1000),
        text(b"zTXt", png.RAW_PROFILE + b"xmp", raw_profile("xmp", XMP * 300))))
    blocks = read(spent, limits=Limits(max_metadata_bytes=60_000))
    assert [w.code for w in blocks.warnings] == ["png-raw-profile", "limit"]


def test_corrupt_zlib_stream() -> None:
    broken = chunk(b"iTXt", png.XMP_KEYWORD + b"\x00\x01\x00\x00\x00" + zlib.compress(XMP)[:-6])
    data = with_chunks(pillow_png(), after_ihdr=(broken,))
    assert [w.code for w in read(data).warnings] == ["png-zlib"]
    with pytest.raises(CorruptFileError) as info:
        read(data, strict=True)
    assert info.value.code == "png-zlib"


def test_chunk_over_the_segment_limit() -> None:
    data = with_chunks(pillow_png(), after_ihdr=(chunk(b"eXIf", TIFF + b"\x00" * 2000),))
    limits = Limits(max_segment_bytes=1000)
    blocks = read(data, limits=limits)
    assert blocks.exif is None and [w.code for w in blocks.warnings] == ["limit"]
    with pytest.raises(LimitExceededError):
        read(data, strict=True, limits=limits)


@pytest.mark.parametrize(
    "mutate,code",
    [
        (lambda d: d[:-20], "png-truncated"),
        (lambda d: d[:-12], "png-truncated"),  # no IEND
        (lambda d: d[:8] + d[8:12] + b"I\x00DR" + d[16:], "png-chunk-type"),
        (lambda d: d[:8] + d[33:], "png-ihdr"),
        (lambda d: d[:8] + d[8:12] + d[12:16] + b"\xff" * 13 + d[29:], "png-crc"),
    ],
)
def test_broken_structure_tolerant_and_strict(mutate: Any, code: str) -> None:
    data = mutate(with_chunks(pillow_png(), before_iend=(chunk(b"eXIf", TIFF),)))
    blocks = read(data)
    if code != "png-crc":  # tolerant reading does not check chunks it does not read
        assert code in [w.code for w in blocks.warnings]
    with pytest.raises(CorruptFileError) as info:
        read(data, strict=True)
    assert info.value.code == code
    assert info.value.offset is not None


def test_every_truncation_fails_cleanly() -> None:
    data = with_chunks(pillow_png((5, 3)), after_ihdr=(
        chunk(b"eXIf", TIFF), text(b"iTXt", png.XMP_KEYWORD, XMP, compress=True)),
        before_iend=(text(b"zTXt", png.RAW_PROFILE + b"iptc", raw_profile("iptc", b"\x1c")),))
    for cut in range(len(data)):
        if cut >= 8:
            read(data[:cut])  # tolerant: what was found so far, never an exception
        with pytest.raises(CorruptFileError):
            read(data[:cut], strict=True)


def test_no_image_data_refuses_a_strict_read() -> None:
    parts = raw_chunks(pillow_png())
    data = png.SIGNATURE + parts[0] + parts[-1]
    assert read(data).warnings == []
    with pytest.raises(CorruptFileError) as info:
        read(data, strict=True)
    assert info.value.code == "png-no-idat"


def test_bad_signature() -> None:
    with pytest.raises(CorruptFileError) as info:
        read(b"\x89PNG\r\n\x1a\x0a"[:7] + b"x" + pillow_png()[8:])
    assert info.value.code == "png-signature"


# -- writing -------------------------------------------------------------------------------------


def test_new_chunks_go_after_ihdr_and_nothing_else_changes(tmp_path: Path) -> None:
    base = pillow_png(mode="P", transparency=3)  # PLTE and tRNS must stay before IDAT
    data = with_chunks(base, after_ihdr=(text(b"tEXt", b"Comment", b"keep me"),),
                       before_iend=(chunk(b"prVt", b"private"),))
    out, result = write(data, Update(exif=TIFF, xmp=XMP), tmp_path)
    types = [t for t, _ in split(out)]
    assert types[:3] == [b"IHDR", b"eXIf", b"iTXt"]
    assert [t for t in types if t not in (b"eXIf", b"iTXt")] == [t for t, _ in split(data)]
    old_chunks = raw_chunks(data)
    new_chunks = raw_chunks(out)
    assert [c for c in new_chunks if c[4:8] not in (b"eXIf", b"iTXt")] == old_chunks
    assert crcs_ok(out)
    blocks = read(out, strict=True)
    assert (blocks.exif, blocks.xmp) == (TIFF, XMP)
    # the XMP iTXt chunk is uncompressed, without language or translated keyword
    assert dict(split(out))[b"iTXt"] == png.XMP_KEYWORD + b"\x00\x00\x00\x00\x00" + XMP
    # the reported ranges (byte-identical, checked by write()) cover every IDAT chunk
    idat = data.index(b"IDAT") - 4
    assert any(s <= idat and data.index(b"IEND") <= s + n for s, n in result.source_ranges)
    with Image.open(io.BytesIO(out)) as a, Image.open(io.BytesIO(data)) as b:
        assert a.tobytes() == b.tobytes()
        assert a.info["transparency"] == b.info["transparency"]
    assert b"tRNS" in types and b"PLTE" in types


def test_animated_png_keeps_its_frames(tmp_path: Path) -> None:
    buf = io.BytesIO()
    first = Image.open(io.BytesIO(pillow_png()))
    second = first.rotate(90)
    first.save(buf, "PNG", save_all=True, append_images=[second], duration=100, loop=0)
    data = buf.getvalue()
    assert b"acTL" in data and b"fdAT" in data
    out, _ = write(data, Update(exif=TIFF, xmp=XMP), tmp_path)
    types = [t for t, _ in split(out)]
    assert types.index(b"eXIf") < types.index(b"acTL") < types.index(b"IDAT")
    assert [c for c in raw_chunks(out) if c[4:8] not in (b"eXIf", b"iTXt")] == raw_chunks(data)
    with Image.open(io.BytesIO(out)) as a, Image.open(io.BytesIO(data)) as b:
        assert a.n_frames == b.n_frames == 2
        for i in range(2):
            a.seek(i)
            b.seek(i)
            assert a.tobytes() == b.tobytes()


def test_existing_chunks_replaced_where_they_stand(tmp_path: Path) -> None:
    data = with_chunks(pillow_png(), after_ihdr=(
        chunk(b"gAMA", b"\x00\x00\xb1\x8f"), chunk(b"eXIf", TIFF), chunk(b"pHYs", b"\x00" * 9),
        text(b"zTXt", png.XMP_KEYWORD, b"<old/>"), chunk(b"sRGB", b"\x00")))
    new_tiff = TIFF[:-4] + b"\x00\x00\x00\x00"
    out, _ = write(data, Update(exif=new_tiff, xmp=b"<new/>"), tmp_path)
    types = [t for t, _ in split(out)]
    assert types == [t if t != b"zTXt" else b"iTXt" for t, _ in split(data)]
    blocks = read(out, strict=True)
    assert (blocks.exif, blocks.xmp) == (new_tiff, b"<new/>")


def test_late_chunks_move_before_idat(tmp_path: Path) -> None:
    late_text = text(b"tEXt", b"Comment", b"after the image")
    data = with_chunks(pillow_png(), before_iend=(chunk(b"eXIf", TIFF), late_text,
                                                  text(b"iTXt", png.XMP_KEYWORD, XMP)))
    out, _ = write(data, Update(exif=TIFF, xmp=b"<new/>"), tmp_path)
    types = [t for t, _ in split(out)]
    assert types.index(b"eXIf") < types.index(b"IDAT")
    assert types.count(b"eXIf") == 1 and types.count(b"iTXt") == 1
    assert late_text in out and out.index(late_text) > out.index(b"IDAT")
    assert read(out, strict=True).xmp == b"<new/>"


def test_only_the_kind_written_is_touched(tmp_path: Path) -> None:
    late = chunk(b"eXIf", TIFF)
    data = with_chunks(pillow_png(), before_iend=(late,))
    out, _ = write(data, Update(xmp=XMP), tmp_path)
    assert out.index(late) > out.index(b"IDAT")  # the late eXIf stays where it was


def test_raw_profile_source_is_replaced(tmp_path: Path) -> None:
    raw_exif = text(b"zTXt", png.RAW_PROFILE + b"exif", raw_profile("exif", b"Exif\x00\x00" + TIFF))
    raw_iptc = text(b"zTXt", png.RAW_PROFILE + b"iptc", raw_profile("iptc", b"\x1c\x02\x00"
                                                                            b"\x00\x02\x00\x04"))
    data = with_chunks(pillow_png(), after_ihdr=(raw_exif, raw_iptc))
    out, _ = write(data, Update(exif=TIFF), tmp_path)
    assert raw_exif not in out and raw_iptc in out
    types = [t for t, _ in split(out)]
    assert types[:3] == [b"IHDR", b"eXIf", b"zTXt"]
    # a raw profile that was not the source (the eXIf chunk was) is kept
    data = with_chunks(pillow_png(), after_ihdr=(chunk(b"eXIf", TIFF), raw_exif))
    out, _ = write(data, Update(exif=TIFF[:-1] + b"\x01"), tmp_path)
    assert raw_exif in out


def test_trailing_data_and_empty_update(tmp_path: Path) -> None:
    data = pillow_png() + b"trailing junk"
    out, _ = write(data, Update(), tmp_path)
    assert out == data
    out, _ = write(data, Update(xmp=XMP), tmp_path)
    assert out.endswith(b"IEND\xaeB`\x82trailing junk")


def test_write_refuses_a_broken_file(tmp_path: Path) -> None:
    with pytest.raises(CorruptFileError):
        write(pillow_png()[:-20], Update(xmp=XMP), tmp_path)


def test_oversized_chunk_refused() -> None:
    class Huge(bytes):
        def __len__(self) -> int:
            return png.MAX_CHUNK + 1

    with pytest.raises(LimitExceededError) as info:
        png.chunk_bytes(b"eXIf", Huge(b"x"))
    assert info.value.code == "png-chunk-too-large"


# -- through the API -----------------------------------------------------------------------------


def _pixels(path: Path | bytes) -> tuple[str, tuple[int, int], bytes]:
    with Image.open(io.BytesIO(path) if isinstance(path, bytes) else path) as img:
        return img.mode, img.size, img.tobytes()


@pytest.mark.parametrize("mode", ["RGB", "P"])
def test_round_trip_full_context(tmp_path: Path, mode: str) -> None:
    path = tmp_path / "photo.png"
    path.write_bytes(pillow_png(mode=mode))
    before = _pixels(path)
    assert photometa.write(path, full_context()).written
    assert photometa.read(path) == full_context()
    assert _pixels(path) == before
    data = path.read_bytes()
    assert crcs_ok(data)
    assert png.RAW_PROFILE not in data  # IPTC-IIM is not written into PNG
    result = photometa.read_detailed(path)
    assert [f for f in result.findings if f.severity != "info"] == []
    assert result.format == "png"
    outcome = photometa.write(path, full_context())
    assert not outcome.written and path.read_bytes() == data


def test_wrong_extension_is_still_png(tmp_path: Path) -> None:
    path = tmp_path / "actually-png.jpg"
    path.write_bytes(pillow_png())
    photometa.write(path, photometa.PhotoContext(location={"city": "Wonsan"}))
    assert photometa.read_detailed(path).format == "png"
    assert photometa.read(path).location.city == "Wonsan"


def test_exiftool_and_exiv2_read_what_photometa_wrote(tmp_path: Path, exiftool: str,
                                                      exiv2: str) -> None:
    path = tmp_path / "photo.png"
    path.write_bytes(pillow_png())
    photometa.write(path, full_context())
    [tags] = run_exiftool(exiftool, "-G1", "-struct", "-n", path)
    ctx = full_context()
    assert "ExifTool:Warning" not in tags
    assert tags["IFD0:Artist"] == "Eric Lafforgue"
    assert tags["ExifIFD:DateTimeOriginal"] == "2012:04:15 10:30:05"
    assert abs(tags["GPS:GPSLatitude"] - 39.0392) < 1e-7
    assert tags["XMP-dc:Description"] == ctx.subject.caption
    assert tags["XMP-dc:Subject"] == ["soldiers", "rest", "평양"]
    assert tags["XMP-photoshop:City"] == "Pyongyang"
    assert tags["XMP-iptcExt:PersonInImage"] == ["soldier", "tour guide"]
    assert not [k for k in tags if k.startswith("IPTC:")]
    proc = subprocess.run([exiv2, "-pa", "-q", str(path)], capture_output=True, check=False)
    out = proc.stdout.decode("utf-8", "replace")
    assert "Exif.Image.Artist" in out and "Eric Lafforgue" in out
    assert "Xmp.photoshop.City" in out and "Pyongyang" in out
    assert "평양" in out


def test_photometa_reads_what_exiftool_wrote(tmp_path: Path, exiftool: str) -> None:
    path = tmp_path / "photo.png"
    path.write_bytes(pillow_png())
    subprocess.run([exiftool, "-overwrite_original", "-EXIF:Artist=Eric Lafforgue",
                    "-EXIF:DateTimeOriginal=2013:02:16 11:12:13", "-XMP-dc:Subject=flowers",
                    "-XMP-dc:Subject=평양 거리", "-XMP-photoshop:City=Pyongyang",
                    "-GPSLatitude=39.0194", "-GPSLatitudeRef=N", "-GPSLongitude=125.7381",
                    "-GPSLongitudeRef=E", str(path)], check=True, capture_output=True)
    types = [t for t, _ in split(path.read_bytes())]
    assert b"eXIf" in types and b"iTXt" in types
    ctx = photometa.read(path)
    assert ctx.photographer.name == "Eric Lafforgue"
    assert ctx.subject.keywords == ["flowers", "평양 거리"]
    assert ctx.location.city == "Pyongyang"
    assert ctx.location.gps is not None and abs(ctx.location.gps.longitude - 125.7381) < 1e-6
    # and photometa writes over ExifTool's chunks in place
    photometa.write(path, photometa.PhotoContext(location={"city": "Kaesong"}))
    assert [t for t, _ in split(path.read_bytes())] == types
    [tags] = run_exiftool(exiftool, "-G1", "-XMP-photoshop:City", "-IFD0:Artist", path)
    assert tags["XMP-photoshop:City"] == "Kaesong" and tags["IFD0:Artist"] == "Eric Lafforgue"


def test_photometa_reads_iptc_exiftool_put_in_png(tmp_path: Path, exiftool: str) -> None:
    """ExifTool writes IPTC into PNG as a hex "Raw profile type iptc" chunk when asked to."""
    path = tmp_path / "photo.png"
    path.write_bytes(pillow_png())
    subprocess.run([exiftool, "-overwrite_original", "-codedcharacterset=utf8",
                    "-IPTC:City=Kaesong", "-IPTC:Keywords=평양", str(path)],
                   check=True, capture_output=True)
    blocks = read(path.read_bytes(), strict=True)
    assert blocks.iim is not None or blocks.irb is not None
    ctx = photometa.read(path)
    assert ctx.location.city == "Kaesong"
    assert ctx.subject.keywords == ["평양"]


def test_corpus_decompression_bomb_reads_quickly(corpus: Path) -> None:
    path = corpus / "malformed" / "pillow" / "png_decompression_dos.png"
    with open(path, "rb") as f:
        layout = png.read_layout(f, DEFAULT_LIMITS, strict=True)
    assert [c.data for c in layout.chunks if c.type == b"zTXt"] == [None] * 3  # never inflated
    photometa.read(path)


def test_write_refuses_a_file_without_image_data(tmp_path: Path) -> None:
    data = pillow_png()
    start = data.index(b"IDAT") - 4
    (length,) = struct.unpack(">I", data[start : start + 4])
    no_idat = data[:start] + data[start + 12 + length :]
    with pytest.raises(CorruptFileError) as info:
        write(no_idat, Update(xmp=XMP), tmp_path)
    assert info.value.code == "png-no-idat"


def test_write_refuses_bad_image_data_crc(tmp_path: Path) -> None:
    """The write walks tolerantly first (no CRC pass over IDAT); a problem it meets walks again
    strictly, so a broken file is refused as a strict read refuses it."""
    data = bytearray(pillow_png() + b"trailing junk")  # the trailer: a tolerated warning
    idat = data.index(b"IDAT")
    (length,) = struct.unpack(">I", data[idat - 4 : idat])
    data[idat + 4 + length] ^= 0xFF  # the CRC of the image data chunk
    with pytest.raises(CorruptFileError) as info:
        write(bytes(data), Update(xmp=XMP), tmp_path)
    assert info.value.code == "png-crc"


def test_photometa_write_refuses_bad_image_data_crc(tmp_path: Path) -> None:
    data = bytearray(pillow_png())
    idat = data.index(b"IDAT")
    (length,) = struct.unpack(">I", data[idat - 4 : idat])
    data[idat + 4 + length] ^= 0xFF
    path = tmp_path / "bad.png"
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError) as info:
        photometa.write(path, full_context())
    assert info.value.code == "png-crc"
    assert path.read_bytes() == bytes(data)
