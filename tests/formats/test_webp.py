"""The WebP container: RIFF walk, EXIF/XMP chunks, VP8X creation and flags, padding, RIFF size."""

from __future__ import annotations

import io
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageSequence

import photometa
from conftest import REPO, run_exiftool
from photometa import DEFAULT_LIMITS, CorruptFileError, LimitExceededError, Limits
from photometa.formats import Update, sniff, webp
from test_api import full_context

CONFIG = REPO / "schemas" / "photometa.exiftool.config"
TIFF = b"II*\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00"
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"/>'  # 37 bytes: odd, needs a padding byte


def picture(size: tuple[int, int], alpha: bool) -> Image.Image:
    img = Image.new("RGBA" if alpha else "RGB", size, (30, 120, 200, 255)[: 4 if alpha else 3])
    for x in range(size[0]):
        img.putpixel((x, x % size[1]), (255, x * 3 % 256, 0, 40)[: 4 if alpha else 3])
    return img


def pillow_webp(size: tuple[int, int] = (37, 21), *, alpha: bool = False, lossless: bool = False,
                animated: bool = False, **kwargs: Any) -> bytes:
    buf = io.BytesIO()
    img = picture(size, alpha)
    if animated:
        frames = [picture(size, alpha).rotate(180), picture(size, alpha).transpose(0)]
        img.save(buf, "WEBP", save_all=True, append_images=frames, duration=80, loop=0,
                 lossless=lossless, **kwargs)
    else:
        img.save(buf, "WEBP", lossless=lossless, **kwargs)
    return buf.getvalue()


def chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(FourCC, payload) of every chunk."""
    out, pos = [], 12
    while pos < len(data):
        fourcc, size = struct.unpack("<4sI", data[pos : pos + 8])
        out.append((fourcc, data[pos + 8 : pos + 8 + size]))
        pos += 8 + size + (size & 1)
    return out


def raw(data: bytes) -> dict[bytes, bytes]:
    """Each chunk's bytes (header, payload, padding) by FourCC (the last of each)."""
    out, pos = {}, 12
    while pos < len(data):
        fourcc, size = struct.unpack("<4sI", data[pos : pos + 8])
        out[fourcc] = data[pos : pos + 8 + size + (size & 1)]
        pos += 8 + size + (size & 1)
    return out


def chunk(fourcc: bytes, payload: bytes) -> bytes:
    return struct.pack("<4sI", fourcc, len(payload)) + payload + b"\x00" * (len(payload) & 1)


def riff(*parts: bytes) -> bytes:
    body = b"WEBP" + b"".join(parts)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def read(data: bytes, strict: bool = False, limits: Limits = DEFAULT_LIMITS) -> Any:
    return webp.read(io.BytesIO(data), limits, strict)


def write(data: bytes, update: Update, tmp_path: Path) -> tuple[bytes, Any]:
    src = tmp_path / "src.webp"
    src.write_bytes(data)
    dst = tmp_path / "dst.webp"
    with open(src, "rb") as s, open(dst, "w+b") as d:
        result = webp.write(s, d, update, DEFAULT_LIMITS)
    out = dst.read_bytes()
    assert result.size == len(out)  # the api checks the written file has this size
    ranges = zip(result.source_ranges, result.target_ranges, strict=True)
    for (s_off, s_len), (t_off, t_len) in ranges:
        assert data[s_off : s_off + s_len] == out[t_off : t_off + t_len]
    return out, result


def frames(data: bytes) -> list[tuple[str, tuple[int, int], bytes]]:
    with Image.open(io.BytesIO(data)) as img:
        return [(f.mode, f.size, f.convert("RGBA").tobytes()) for f in ImageSequence.Iterator(img)]


def vp8x(data: bytes) -> tuple[int, int, int]:
    payload = dict(chunks(data))[b"VP8X"]
    return (payload[0], int.from_bytes(payload[4:7], "little") + 1,
            int.from_bytes(payload[7:10], "little") + 1)


def check_riff(data: bytes) -> None:
    assert struct.unpack("<I", data[4:8])[0] == len(data) - 8
    assert len(data) % 2 == 0


# -- reading -------------------------------------------------------------------------------------


def test_sniff_by_content() -> None:
    data = pillow_webp()
    assert sniff(data[:16]) is webp.CONTAINER
    assert sniff(b"RIFF\x00\x00\x00\x00WAVEfmt ") is None
    assert webp.CONTAINER.holds_iim is False


def test_exif_and_xmp_read_and_exif_prefix_stripped() -> None:
    data = pillow_webp(exif=b"Exif\x00\x00" + TIFF, xmp=XMP)
    blocks = read(data, strict=True)
    assert (blocks.exif, blocks.xmp) == (TIFF, XMP)
    data = riff(chunk(b"VP8X", bytes(10)), raw(pillow_webp())[b"VP8 "], chunk(b"EXIF", TIFF))
    assert read(data, strict=True).exif == TIFF


@pytest.mark.parametrize("lossless,alpha", [(False, False), (True, False), (True, True)])
def test_canvas_from_the_bitstream(lossless: bool, alpha: bool) -> None:
    data = pillow_webp((301, 77), lossless=lossless, alpha=alpha)
    fourcc, payload = chunks(data)[0]
    assert fourcc == (b"VP8L" if lossless else b"VP8 ")
    assert webp.canvas_of(fourcc, payload[:10]) == (301, 77, alpha)


def test_bad_bitstream_header() -> None:
    with pytest.raises(CorruptFileError) as info:
        webp.canvas_of(b"VP8 ", b"\x01\x00\x00\x9d\x01\x2a\x10\x00\x10\x00")  # not a key frame
    assert info.value.code == "webp-bitstream"
    with pytest.raises(CorruptFileError):
        webp.canvas_of(b"VP8L", b"\x2e\x00\x00\x00\x00")


@pytest.mark.parametrize(
    "mutate,code",
    [
        (lambda d: d[:-10], "webp-truncated"),
        (lambda d: d[:12] + b"V\x00P8" + d[16:], "webp-chunk-type"),
        (lambda d: riff(chunk(b"EXIF", TIFF), d[12:]), "webp-first-chunk"),
        (lambda d: riff(chunk(b"VP8X", bytes(10))), "webp-no-image"),
        (lambda d: d[:4] + struct.pack("<I", len(d)) + d[8:-6], "webp-truncated"),
    ],
)
def test_broken_structure_tolerant_and_strict(mutate: Any, code: str) -> None:
    data = mutate(pillow_webp(xmp=XMP))
    if code != "webp-no-image":
        assert code in [w.code for w in read(data).warnings]
    with pytest.raises(CorruptFileError) as info:
        read(data, strict=True)
    assert info.value.code == code and info.value.offset is not None


def test_every_truncation_fails_cleanly() -> None:
    data = pillow_webp((5, 3), exif=TIFF, xmp=XMP)
    for cut in range(len(data)):
        if cut >= 12:
            read(data[:cut])  # tolerant: what was found so far, never an exception
        with pytest.raises(CorruptFileError):
            read(data[:cut], strict=True)


def test_not_webp() -> None:
    with pytest.raises(CorruptFileError) as info:
        read(b"RIFF\x04\x00\x00\x00WAVE")
    assert info.value.code == "webp-header"


def test_limits() -> None:
    data = pillow_webp(xmp=XMP * 100)
    blocks = read(data, limits=Limits(max_segment_bytes=1000))
    assert blocks.xmp is None and [w.code for w in blocks.warnings] == ["limit"]
    with pytest.raises(LimitExceededError):
        read(data, strict=True, limits=Limits(max_segment_bytes=1000))
    with pytest.raises(LimitExceededError):
        read(data, strict=True, limits=Limits(max_metadata_bytes=1000))


# -- writing -------------------------------------------------------------------------------------


@pytest.mark.parametrize("lossless,alpha", [(False, False), (True, False), (True, True)])
def test_simple_file_gets_a_vp8x(tmp_path: Path, lossless: bool, alpha: bool) -> None:
    data = pillow_webp((301, 77), lossless=lossless, alpha=alpha)
    out, result = write(data, Update(exif=TIFF, xmp=XMP), tmp_path)
    check_riff(out)
    image = b"VP8L" if lossless else b"VP8 "
    assert [f for f, _ in chunks(out)] == [b"VP8X", image, b"EXIF", b"XMP "]
    flags, width, height = vp8x(out)
    assert (width, height) == (301, 77)
    assert flags == webp.FLAG_EXIF | webp.FLAG_XMP | (webp.FLAG_ALPHA if alpha else 0)
    assert raw(out)[image] == raw(data)[image]
    assert len(result.source_ranges) == 1 and result.source_ranges[0] == (12, len(data) - 12)
    blocks = read(out, strict=True)
    assert (blocks.exif, blocks.xmp) == (TIFF, XMP)
    assert frames(out) == frames(data)


def test_lossy_with_alpha_keeps_alph_and_flags(tmp_path: Path) -> None:
    data = pillow_webp(alpha=True)
    assert [f for f, _ in chunks(data)] == [b"VP8X", b"ALPH", b"VP8 "]
    out, _ = write(data, Update(xmp=XMP), tmp_path)
    check_riff(out)
    assert [f for f, _ in chunks(out)] == [b"VP8X", b"ALPH", b"VP8 ", b"XMP "]
    assert vp8x(out)[0] == webp.FLAG_ALPHA | webp.FLAG_XMP
    assert vp8x(out)[1:] == vp8x(data)[1:]
    assert raw(out)[b"ALPH"] == raw(data)[b"ALPH"]
    assert frames(out) == frames(data)


def test_animation_is_kept(tmp_path: Path) -> None:
    data = pillow_webp(animated=True, alpha=True, exif=TIFF)
    before = [f for f, _ in chunks(data)]
    assert before.count(b"ANMF") == 3 and before[-1] == b"EXIF"
    out, _ = write(data, Update(exif=TIFF[:-1] + b"\x01", xmp=XMP), tmp_path)
    check_riff(out)
    assert [f for f, _ in chunks(out)] == [*before, b"XMP "]
    flags = vp8x(out)[0]
    assert flags == vp8x(data)[0] | webp.FLAG_XMP
    assert flags & webp.FLAG_ANIMATION and flags & webp.FLAG_EXIF
    assert [c for c in chunks(out) if c[0] in (b"ANIM", b"ANMF")] == [
        c for c in chunks(data) if c[0] in (b"ANIM", b"ANMF")]
    assert frames(out) == frames(data)


def test_prefixed_exif_replaced_in_place(tmp_path: Path) -> None:
    data = pillow_webp(exif=b"Exif\x00\x00" + TIFF, xmp=XMP)
    out, _ = write(data, Update(exif=TIFF), tmp_path)
    assert dict(chunks(out))[b"EXIF"] == TIFF
    assert [f for f, _ in chunks(out)] == [f for f, _ in chunks(data)]
    assert raw(out)[b"XMP "] == raw(data)[b"XMP "]


def test_unknown_chunks_stay_and_spec_order(tmp_path: Path) -> None:
    simple = raw(pillow_webp())[b"VP8 "]
    unknown = chunk(b"ABCD", b"odd")
    # an EXIF chunk before the image is moved after it; one after the image stays in place
    data = riff(chunk(b"VP8X", b"\x08" + bytes(3) + (36).to_bytes(3, "little")
                      + (20).to_bytes(3, "little")), chunk(b"EXIF", TIFF), simple, unknown)
    out, _ = write(data, Update(exif=TIFF + b"\x00\x00", xmp=XMP), tmp_path)
    check_riff(out)
    assert [f for f, _ in chunks(out)] == [b"VP8X", b"VP8 ", b"EXIF", b"XMP ", b"ABCD"]
    assert raw(out)[b"ABCD"] == unknown
    data = riff(raw(out)[b"VP8X"], simple, unknown, chunk(b"EXIF", TIFF))
    out, _ = write(data, Update(exif=TIFF + b"\x00\x00", xmp=XMP), tmp_path)
    assert [f for f, _ in chunks(out)] == [b"VP8X", b"VP8 ", b"ABCD", b"EXIF", b"XMP "]


def test_flags_follow_the_chunks(tmp_path: Path) -> None:
    # a VP8X that claims EXIF without one and forgets its XMP gets honest flags
    simple = raw(pillow_webp())[b"VP8 "]
    data = riff(chunk(b"VP8X", b"\x08" + bytes(3) + (36).to_bytes(3, "little")
                      + (20).to_bytes(3, "little")), simple)
    out, _ = write(data, Update(xmp=XMP), tmp_path)
    assert vp8x(out)[0] == webp.FLAG_XMP


def test_missing_final_padding_and_trailing_data(tmp_path: Path) -> None:
    data = pillow_webp(xmp=XMP)
    assert data.endswith(b"\x00")  # the odd XMP chunk's padding
    cut = data[:4] + struct.pack("<I", len(data) - 9) + data[8:-1]
    assert read(cut, strict=True).xmp == XMP
    out, _ = write(cut, Update(exif=TIFF), tmp_path)
    check_riff(out)
    assert read(out, strict=True).xmp == XMP
    # a RIFF size that leaves out the final padding byte present in the file
    short = data[:4] + struct.pack("<I", len(data) - 9) + data[8:]
    assert read(short, strict=True).warnings == []
    out, _ = write(short, Update(exif=TIFF), tmp_path)
    check_riff(out)
    assert read(out, strict=True).warnings == []
    trailing = data + b"junk"
    assert [w.code for w in read(trailing).warnings] == ["webp-trailer"]
    out, _ = write(trailing, Update(exif=TIFF), tmp_path)
    assert out.endswith(b"junk")
    assert struct.unpack("<I", out[4:8])[0] == len(out) - 8 - 4


def test_empty_update_is_identity(tmp_path: Path) -> None:
    for data in (pillow_webp(), pillow_webp(xmp=XMP, exif=TIFF), pillow_webp(lossless=True)):
        assert write(data, Update(), tmp_path)[0] == data


def test_write_refuses_a_broken_file(tmp_path: Path) -> None:
    with pytest.raises(CorruptFileError):
        write(pillow_webp()[:-10], Update(xmp=XMP), tmp_path)


# -- through the API -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["lossy", "lossless", "alpha", "animated"])
def test_round_trip_full_context(tmp_path: Path, kind: str) -> None:
    data = pillow_webp(lossless=kind == "lossless", alpha=kind in ("alpha", "animated"),
                       animated=kind == "animated")
    path = tmp_path / "photo.webp"
    path.write_bytes(data)
    assert photometa.write(path, full_context()).written
    assert photometa.read(path) == full_context()
    new = path.read_bytes()
    check_riff(new)
    assert frames(new) == frames(data)
    result = photometa.read_detailed(path)
    assert result.format == "webp"
    assert [f for f in result.findings if f.severity != "info"] == []
    assert not photometa.write(path, full_context()).written
    assert path.read_bytes() == new


def test_exiftool_and_exiv2_read_what_photometa_wrote(tmp_path: Path, exiftool: str,
                                                      exiv2: str) -> None:
    path = tmp_path / "photo.webp"
    path.write_bytes(pillow_webp(lossless=True, alpha=True))
    photometa.write(path, full_context())
    [tags] = run_exiftool(exiftool, "-config", CONFIG, "-G1", "-struct", "-n", path)
    ctx = full_context()
    assert "ExifTool:Warning" not in tags
    assert tags["IFD0:Artist"] == "Eric Lafforgue"
    assert tags["ExifIFD:OffsetTimeOriginal"] == "+09:00"
    assert abs(tags["GPS:GPSLongitude"] - 125.7625) < 1e-7
    assert tags["XMP-dc:Description"] == ctx.subject.caption
    assert tags["XMP-iptcCore:CountryCode"] == "KP"
    assert tags["XMP-pmeta:RestrictionStatus"] == "deletion-requested"
    assert tags["RIFF:ImageWidth"] == 37 and tags["RIFF:ImageHeight"] == 21
    proc = subprocess.run([exiv2, "-pa", "-q", str(path)], capture_output=True, check=False)
    out = proc.stdout.decode("utf-8", "replace")
    assert "Exif.Image.Artist" in out and "Eric Lafforgue" in out
    assert "Xmp.photoshop.City" in out and "평양" in out


def test_photometa_reads_what_exiftool_wrote(tmp_path: Path, exiftool: str) -> None:
    path = tmp_path / "photo.webp"
    path.write_bytes(pillow_webp())
    subprocess.run([exiftool, "-overwrite_original", "-EXIF:Artist=Eric Lafforgue",
                    "-XMP-dc:Subject=flowers", "-XMP-dc:Subject=평양 거리",
                    "-XMP-photoshop:City=Pyongyang", "-XMP-iptcExt:Event=Kimjongilia festival 🌺",
                    str(path)], check=True, capture_output=True)
    assert [f for f, _ in chunks(path.read_bytes())] == [b"VP8X", b"VP8 ", b"EXIF", b"XMP "]
    ctx = photometa.read(path)
    assert ctx.photographer.name == "Eric Lafforgue"
    assert ctx.subject.keywords == ["flowers", "평양 거리"]
    assert ctx.location.city == "Pyongyang"
    assert ctx.subject.event == "Kimjongilia festival 🌺"
