#!/usr/bin/env python3
"""photometa beside its peers: read all context, write a full context, validate.

Generates its own corpus (camera and web JPEGs, PNG, TIFF, WebP and one large TIFF; half of each
with XMP), then runs photometa, pyexiv2, ExifTool (one ``-stay_open`` process, and one run over the
folder), piexif, exifread and Pillow in the same run on the same files, each tool/operation/format
in its own subprocess so its peak RSS (``ru_maxrss``) is its own. Reports files/s (median of
several rounds), peak RSS and two floors (reading the first 128 KiB of each file; rewriting each
file whole with fsync) as ``docs/benchmark.md`` and ``docs/benchmark.png``.

    python benchmarks/run.py            # the full run (make bench)
    python benchmarks/run.py --quick    # a short run: fewer, smaller files, three rounds

A tool that cannot do an operation on a format (or fails) is reported "n/a" with the reason; the run
never stops for it. See benchmarks/README.md for what each tool does in each operation.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import resource
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
READ_HEAD = 128 * 1024
NAME = "Benchmark Photographer"  # written by every writer; checked in the file afterwards

FORMATS: dict[str, str] = {
    "camera": "camera JPEG 4000x3000",
    "web": "web JPEG 1200x800",
    "png": "PNG 1200x800",
    "tiff": "TIFF 1200x800",
    "webp": "WebP 1200x800",
    "bigtiff": "TIFF, one large file",
}
FORMAT_TICKS = {"camera": "camera\nJPEG", "web": "web\nJPEG", "png": "PNG", "tiff": "TIFF",
         "webp": "WebP", "bigtiff": "large\nTIFF"}
SUFFIX = {"camera": ".jpg", "web": ".jpg", "png": ".png", "tiff": ".tif", "webp": ".webp",
          "bigtiff": ".tif"}
OPS = ("read", "write", "validate")
TOOLS = ("photometa", "photometa-batch", "pyexiv2", "exiftool", "exiftool-folder", "piexif",
         "exifread", "pillow", "floor")
BATCH_CHUNK = 16  # files per folder fsync in `photometa tag` (batch.run_many's default chunk)
TOOL_LABEL = {
    "photometa": "photometa",
    "photometa-batch": f"photometa, batch (folder fsync per {BATCH_CHUNK} files, as `tag`)",
    "pyexiv2": "pyexiv2 (Exiv2)",
    "exiftool": "ExifTool -stay_open",
    "exiftool-folder": "ExifTool, one run over the folder",
    "piexif": "piexif (EXIF only)",
    "exifread": "exifread (read only)",
    "pillow": "Pillow (writes by re-encoding)",
    "floor": "floor",
}
FLOOR_LABEL = {"read": "floor: read first 128 KiB", "validate": "floor: read first 128 KiB",
               "write": "floor: rewrite whole file + fsync"}


@dataclass
class Sizes:
    """How much corpus to generate and how many rounds to run."""

    camera: int = 24
    web: int = 200
    png: int = 60
    tiff: int = 60
    webp: int = 60
    bigtiff_mb: int = 300
    scale: int = 4000
    rounds: int = 5


QUICK = Sizes(camera=4, web=40, png=12, tiff=12, webp=12, bigtiff_mb=40, scale=800, rounds=3)


# == the corpus ===================================================================================
# A small TIFF/EXIF writer of our own, so the camera files carry exactly what cameras write:
# IFD0, an Exif IFD with a MakerNote blob, a GPS IFD, and IFD1 with a JPEG thumbnail.

ASCII, SHORT, LONG, RATIONAL, UNDEFINED = 2, 3, 4, 5, 7
Entry = tuple[int, int, int, bytes]


def _ascii(tag: int, text: str) -> Entry:
    data = text.encode("ascii") + b"\0"
    return (tag, ASCII, len(data), data)


def _short(tag: int, *values: int) -> Entry:
    return (tag, SHORT, len(values), struct.pack(f"<{len(values)}H", *values))


def _long(tag: int, *values: int) -> Entry:
    return (tag, LONG, len(values), struct.pack(f"<{len(values)}I", *values))


def _rational(tag: int, *pairs: tuple[int, int]) -> Entry:
    flat = [v for pair in pairs for v in pair]
    return (tag, RATIONAL, len(pairs), struct.pack(f"<{len(flat)}I", *flat))


def _undefined(tag: int, data: bytes) -> Entry:
    return (tag, UNDEFINED, len(data), data)


def _ifd_size(entries: list[Entry]) -> int:
    extra = sum(len(e[3]) + len(e[3]) % 2 for e in entries if len(e[3]) > 4)
    return 2 + 12 * len(entries) + 4 + extra


def _ifd_bytes(entries: list[Entry], offset: int, next_ifd: int) -> bytes:
    entries = sorted(entries)
    head = [struct.pack("<H", len(entries))]
    data = bytearray()
    data_at = offset + 2 + 12 * len(entries) + 4
    for tag, typ, count, value in entries:
        if len(value) <= 4:
            inline = value.ljust(4, b"\0")
        else:
            inline = struct.pack("<I", data_at + len(data))
            data += value + b"\0" * (len(value) % 2)
        head.append(struct.pack("<HHI", tag, typ, count) + inline)
    return b"".join(head) + struct.pack("<I", next_ifd) + bytes(data)


def _degrees(value: float) -> tuple[tuple[int, int], ...]:
    value = abs(value)
    d = int(value)
    m = int((value - d) * 60)
    s = round(((value - d) * 60 - m) * 60 * 100)
    return ((d, 1), (m, 1), (s, 100))


def exif_block(i: int, *, camera: bool, thumbnail: bytes | None = None,
               image: tuple[int, int] | None = None, xmp: bytes | None = None) -> bytes:
    """A little-endian TIFF structure with IFD0, Exif, GPS and (optionally) IFD1 + thumbnail.

    With ``image=(width, height)`` it is the head of a TIFF file: IFD0 also describes 8-bit RGB
    strips that start right after the returned bytes (the caller appends the pixels), and ``xmp``
    goes in tag 700.
    """
    ifd0 = [_ascii(0x010F, "Benchcam"), _ascii(0x0110, f"Model {100 + i % 7}"),
            _short(0x0112, 1), _rational(0x011A, (300, 1)), _rational(0x011B, (300, 1)),
            _short(0x0128, 2), _ascii(0x0131, "Firmware 1.0"),
            _ascii(0x0132, f"2024:05:{1 + i % 28:02d} 10:{i % 60:02d}:00")]
    exif = [_rational(0x829A, (1, 250)), _rational(0x829D, (28, 10)), _short(0x8827, 200),
            _ascii(0x9003, f"2024:05:{1 + i % 28:02d} 10:{i % 60:02d}:00"),
            _ascii(0x9004, f"2024:05:{1 + i % 28:02d} 10:{i % 60:02d}:00"),
            _rational(0x920A, (35, 1)), _undefined(0x9000, b"0232"),
            _undefined(0xA000, b"0100"), _short(0xA001, 1)]
    if image is None:  # JPEG: these belong to the compressed image
        ifd0.append(_short(0x0213, 1))
        exif += [_undefined(0x9101, bytes((1, 2, 3, 0))),
                 _short(0xA002, 4000 if camera else 1200), _short(0xA003, 3000 if camera else 800)]
    if camera:  # a MakerNote-like blob: vendor header, then 24 KB of private data
        note = b"BENCHCAM\0\0" + bytes((i * 7 + k * 13) % 251 for k in range(2048)) * 12
        exif.append(_undefined(0x927C, note))
    gps = [(0x0000, 1, 4, bytes((2, 3, 0, 0))), _ascii(0x0001, "N"),
           _rational(0x0002, *_degrees(39.0 + i / 1000)), _ascii(0x0003, "E"),
           _rational(0x0004, *_degrees(125.7 + i / 1000)), (0x0005, 1, 1, b"\0"),
           _rational(0x0006, (38 + i % 20, 1))]
    strips: list[int] = []
    if image is not None:
        width, height = image
        rows = max(1, (1 << 20) // (width * 3))
        strips = [min(rows, height - y) * width * 3 for y in range(0, height, rows)]
        ifd0 += [_long(0x0100, width), _long(0x0101, height), _short(0x0102, 8, 8, 8),
                 _short(0x0103, 1), _short(0x0106, 2), _long(0x0111, *([0] * len(strips))),
                 _short(0x0115, 3), _long(0x0116, rows), _long(0x0117, *strips), _short(0x011C, 1)]
        if xmp is not None:
            ifd0.append((700, 1, len(xmp), xmp))
    ifd0 += [_long(0x8769, 0), _long(0x8825, 0)]
    at0 = 8
    at_exif = at0 + _ifd_size(ifd0)
    at_gps = at_exif + _ifd_size(exif)
    at1 = at_gps + _ifd_size(gps)
    ifd0[-2] = _long(0x8769, at_exif)
    ifd0[-1] = _long(0x8825, at_gps)
    if strips:
        offsets = [at1 + sum(strips[:k]) for k in range(len(strips))]
        ifd0 = [_long(0x0111, *offsets) if e[0] == 0x0111 else e for e in ifd0]
    out = bytearray(b"II*\0" + struct.pack("<I", at0))
    out += _ifd_bytes(ifd0, at0, at1 if thumbnail else 0)
    out += _ifd_bytes(exif, at_exif, 0)
    out += _ifd_bytes(gps, at_gps, 0)
    if thumbnail:
        ifd1 = [_short(0x0103, 6), _rational(0x011A, (72, 1)), _rational(0x011B, (72, 1)),
                _short(0x0128, 2), _long(0x0201, 0), _long(0x0202, len(thumbnail))]
        at_thumb = at1 + _ifd_size(ifd1)
        ifd1[4] = _long(0x0201, at_thumb)
        out += _ifd_bytes(ifd1, at1, 0)
        out += thumbnail
    assert len(out) == at1 or thumbnail
    return bytes(out)


def tiff_file(path: Path, i: int, size: tuple[int, int], pixels: bytes, xmp: bytes | None) -> None:
    """Write an RGB TIFF of ``size``; ``pixels`` is repeated to fill it (streamed, any size)."""
    width, height = size
    total = width * height * 3
    with open(path, "wb") as f:
        f.write(exif_block(i, camera=False, image=size, xmp=xmp))
        while total > 0:
            chunk = pixels[:total]
            f.write(chunk)
            total -= len(chunk)


def xmp_packet(i: int) -> bytes:
    """An XMP packet with some context already in it (the writes then change it), padded."""
    body = f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"
 xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" xmlns:xmp="http://ns.adobe.com/xap/1.0/"
 photoshop:City="Kaesong" photoshop:Country="North Korea" xmp:CreatorTool="Benchcam Firmware 1.0">
<dc:creator><rdf:Seq><rdf:li>Archive Scanner {i}</rdf:li></rdf:Seq></dc:creator>
<dc:subject><rdf:Bag><rdf:li>street</rdf:li><rdf:li>market</rdf:li><rdf:li>frame {i}</rdf:li>
</rdf:Bag></dc:subject>
<dc:description><rdf:Alt><rdf:li xml:lang="x-default">A street market, frame {i}.</rdf:li>
</rdf:Alt></dc:description>
</rdf:Description></rdf:RDF></x:xmpmeta>
"""
    return (body + " " * 2047 + "\n" + '<?xpacket end="w"?>').encode("utf-8")


XMP_SIG = b"http://ns.adobe.com/xap/1.0/\0"


def _app(marker: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def _jpeg_body(data: bytes) -> bytes:
    """The JPEG after SOI without its APPn segments (Pillow's JFIF), from DQT/SOF on."""
    pos = 2
    while data[pos + 1] in range(0xE0, 0xF0):
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        pos += 2 + length
    return data[pos:]


def _base_image(size: tuple[int, int], noise: float) -> Any:
    from PIL import Image

    w, h = size
    red = Image.linear_gradient("L").resize(size)
    green = Image.effect_noise(size, noise)
    blue = Image.radial_gradient("L").resize(size)
    img = Image.merge("RGB", (red, green, blue))
    return img.resize((w, h))


def _jpeg(img: Any, quality: int) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _with_png_metadata(png: bytes, exif: bytes, xmp: bytes | None) -> bytes:
    ihdr_end = 8 + 8 + 13 + 4
    extra = _png_chunk(b"eXIf", exif)
    if xmp is not None:
        extra += _png_chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0" + xmp)
    return png[:ihdr_end] + extra + png[ihdr_end:]


def _pillow_exif(i: int) -> Any:
    from PIL import Image

    exif = Image.Exif()
    exif[0x010F] = "Benchcam"
    exif[0x0110] = f"Model {100 + i % 7}"
    exif[0x0131] = "Firmware 1.0"
    exif.get_ifd(0x8769)[0x9003] = f"2024:05:{1 + i % 28:02d} 10:{i % 60:02d}:00"
    return exif


def corpus_folders(root: Path) -> dict[str, Path]:
    """The folder of each format (and ``scale``, the web JPEGs for the archive-scale run)."""
    folders = {fmt: root / fmt for fmt in FORMATS}
    folders["scale"] = root / "scale"  # (and scale-<count>/: links to some of them)
    return folders


def generate(root: Path, sizes: Sizes, log: Callable[[str], None]) -> dict[str, Path]:
    """Write the corpus under ``root`` (reused when a previous run made the same one)."""

    stamp = root / "corpus.json"
    wanted = {k: v for k, v in asdict(sizes).items() if k != "rounds"}
    folders = corpus_folders(root)
    if stamp.is_file() and json.loads(stamp.read_text()) == wanted:
        return folders
    shutil.rmtree(root, ignore_errors=True)
    for folder in folders.values():
        folder.mkdir(parents=True)
    log("generating the corpus ...")
    camera_body = _jpeg_body(_jpeg(_base_image((4000, 3000), 28), 92))
    thumb = _jpeg(_base_image((160, 120), 20), 80)
    web_body = _jpeg_body(_jpeg(_base_image((1200, 800), 18), 85))

    def jpeg_file(i: int, body: bytes, camera: bool) -> bytes:
        parts = [b"\xff\xd8",
                 _app(0xE1, b"Exif\0\0" + exif_block(i, camera=camera,
                                                     thumbnail=thumb if camera else None))]
        if i % 2 == 0:
            parts.append(_app(0xE1, XMP_SIG + xmp_packet(i)))
        return b"".join(parts) + body

    for i in range(sizes.camera):
        (folders["camera"] / f"cam{i:05d}.jpg").write_bytes(jpeg_file(i, camera_body, True))
    for i in range(sizes.web):
        (folders["web"] / f"web{i:05d}.jpg").write_bytes(jpeg_file(i, web_body, False))
    for i in range(sizes.scale):
        (folders["scale"] / f"s{i:06d}.jpg").write_bytes(jpeg_file(i, web_body, False))
    small = _base_image((1200, 800), 10)
    buf = io.BytesIO()
    small.save(buf, "PNG", compress_level=6)
    png = buf.getvalue()
    for i in range(sizes.png):
        data = _with_png_metadata(png, exif_block(i, camera=False, thumbnail=None),
                                  xmp_packet(i) if i % 2 == 0 else None)
        (folders["png"] / f"png{i:05d}.png").write_bytes(data)
    pixels = small.tobytes()
    for i in range(sizes.tiff):
        tiff_file(folders["tiff"] / f"tif{i:05d}.tif", i, small.size, pixels,
                  xmp_packet(i) if i % 2 == 0 else None)
    for i in range(sizes.webp):
        kwargs: dict[str, Any] = {"exif": _pillow_exif(i), "quality": 85}
        if i % 2 == 0:
            kwargs["xmp"] = xmp_packet(i)
        small.save(folders["webp"] / f"webp{i:05d}.webp", "WEBP", **kwargs)
    side = int((sizes.bigtiff_mb * 1024 * 1024 / 3) ** 0.5)
    tiff_file(folders["bigtiff"] / "big00000.tif", 0, (side, side), pixels * 4, xmp_packet(0))
    stamp.write_text(json.dumps(wanted))
    return folders


# == the operations each tool performs ============================================================

CONTEXT: dict[str, Any] = {
    "location": {"sublocation": "Kaeson Youth Park", "city": "Pyongyang", "region": "Pyongyang",
                 "country": "North Korea", "country_code": "KP",
                 "gps": {"latitude": 39.0433, "longitude": 125.7553, "altitude": 38.5}},
    "subject": {"headline": "Visitors on the rides", "caption": "Young people at the funfair.",
                "keywords": ["amusement park", "leisure", "youth"], "persons": ["visitor"],
                "event": "Day of the Sun"},
    "photographer": {"name": NAME, "credit": "Benchmark Agency",
                     "copyright": "(c) Benchmark Photographer", "contact": "https://example.org"},
    "restriction": {"status": "unrestricted", "reason": "none"},
    "captured_at": "2012-04-15T10:30:05+09:00",
    "source": "benchmark",
}
_C = CONTEXT
_KEYWORDS = _C["subject"]["keywords"]


def _gps_text(value: float) -> str:
    (d, _), (m, _), (s, den) = _degrees(value)
    return f"{d}/1 {m}/1 {s}/{den}"


def _xmp_for_pillow() -> bytes:
    loc, sub, ph = _C["location"], _C["subject"], _C["photographer"]
    bag = "".join(f"<rdf:li>{k}</rdf:li>" for k in _KEYWORDS)
    return f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"
 xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"
 xmlns:Iptc4xmpCore="http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/"
 photoshop:City="{loc['city']}" photoshop:State="{loc['region']}"
 photoshop:Country="{loc['country']}" Iptc4xmpCore:CountryCode="{loc['country_code']}"
 Iptc4xmpCore:Location="{loc['sublocation']}" photoshop:Headline="{sub['headline']}"
 photoshop:Credit="{ph['credit']}">
<dc:creator><rdf:Seq><rdf:li>{ph['name']}</rdf:li></rdf:Seq></dc:creator>
<dc:rights><rdf:Alt><rdf:li xml:lang="x-default">{ph['copyright']}</rdf:li></rdf:Alt></dc:rights>
<dc:description><rdf:Alt><rdf:li xml:lang="x-default">{sub['caption']}</rdf:li></rdf:Alt>
</dc:description><dc:subject><rdf:Bag>{bag}</rdf:Bag></dc:subject>
</rdf:Description></rdf:RDF></x:xmpmeta>
<?xpacket end="w"?>""".encode()


class Tool:
    """One peer: ``read``/``write``/``validate`` one file; ``None`` when it cannot."""

    read: Callable[[Path], Any] | None = None
    write: Callable[[Path], Any] | None = None
    validate: Callable[[Path], Any] | None = None
    chunk_context: Callable[[], contextlib.AbstractContextManager[Any]] | None = None
    """Entered around each run of :data:`BATCH_CHUNK` files of a round, when set."""

    def close(self) -> None:
        """Stop helper processes."""


class Photometa(Tool):
    def __init__(self) -> None:
        import photometa

        ctx = photometa.PhotoContext.model_validate(CONTEXT)
        self.read = photometa.read_detailed
        self.write = lambda p: photometa.write(p, ctx)
        self.validate = photometa.validate


class PhotometaBatch(Photometa):
    """Writes as ``photometa tag`` makes them: each chunk of files inside one
    ``deferred_folder_sync`` block (every file still fsynced before its rename)."""

    def __init__(self) -> None:
        super().__init__()
        import photometa

        self.chunk_context = photometa.deferred_folder_sync


class Pyexiv2(Tool):
    def __init__(self) -> None:
        import pyexiv2

        pyexiv2.set_log_level(4)
        self.lib = pyexiv2
        self.read = self._read
        self.write = self._write

    def _read(self, path: Path) -> Any:
        img = self.lib.Image(str(path))
        try:
            return img.read_exif(), img.read_iptc(), img.read_xmp()
        finally:
            img.close()

    def _write(self, path: Path) -> None:
        loc, sub, ph, gps = (_C["location"], _C["subject"], _C["photographer"],
                             _C["location"]["gps"])
        img = self.lib.Image(str(path))
        try:
            img.modify_exif({
                "Exif.Image.Artist": ph["name"], "Exif.Image.Copyright": ph["copyright"],
                "Exif.Image.ImageDescription": sub["caption"],
                "Exif.Photo.DateTimeOriginal": "2012:04:15 10:30:05",
                "Exif.Photo.OffsetTimeOriginal": "+09:00",
                "Exif.GPSInfo.GPSLatitudeRef": "N",
                "Exif.GPSInfo.GPSLatitude": _gps_text(gps["latitude"]),
                "Exif.GPSInfo.GPSLongitudeRef": "E",
                "Exif.GPSInfo.GPSLongitude": _gps_text(gps["longitude"]),
                "Exif.GPSInfo.GPSAltitudeRef": "0", "Exif.GPSInfo.GPSAltitude": "385/10",
            })
            if img.get_mime_type() in ("image/jpeg", "image/tiff"):
                img.modify_iptc({
                    "Iptc.Envelope.CharacterSet": "\x1b%G",
                    "Iptc.Application2.Byline": ph["name"],
                    "Iptc.Application2.Copyright": ph["copyright"],
                    "Iptc.Application2.Caption": sub["caption"],
                    "Iptc.Application2.Keywords": _KEYWORDS,
                    "Iptc.Application2.City": loc["city"],
                    "Iptc.Application2.SubLocation": loc["sublocation"],
                    "Iptc.Application2.ProvinceState": loc["region"],
                    "Iptc.Application2.CountryCode": loc["country_code"],
                    "Iptc.Application2.CountryName": loc["country"],
                    "Iptc.Application2.Headline": sub["headline"],
                    "Iptc.Application2.Credit": ph["credit"],
                    "Iptc.Application2.DateCreated": "2012-04-15",
                    "Iptc.Application2.TimeCreated": "10:30:05+09:00",
                })
            img.modify_xmp({
                "Xmp.dc.creator": [ph["name"]], "Xmp.dc.rights": ph["copyright"],
                "Xmp.dc.description": sub["caption"], "Xmp.dc.subject": _KEYWORDS,
                "Xmp.dc.source": _C["source"],
                "Xmp.photoshop.City": loc["city"], "Xmp.photoshop.State": loc["region"],
                "Xmp.photoshop.Country": loc["country"], "Xmp.photoshop.Headline": sub["headline"],
                "Xmp.photoshop.Credit": ph["credit"],
                "Xmp.photoshop.DateCreated": "2012-04-15T10:30:05+09:00",
                "Xmp.iptc.CountryCode": loc["country_code"],
                "Xmp.iptc.Location": loc["sublocation"],
                "Xmp.iptcExt.PersonInImage": sub["persons"], "Xmp.iptcExt.Event": sub["event"],
            })
        finally:
            img.close()


def _exiftool_write_args() -> list[str]:
    loc, sub, ph, gps = _C["location"], _C["subject"], _C["photographer"], _C["location"]["gps"]
    args = ["-overwrite_original", "-m", "-codedcharacterset=utf8",
            f"-EXIF:Artist={ph['name']}", f"-EXIF:Copyright={ph['copyright']}",
            f"-EXIF:ImageDescription={sub['caption']}",
            "-EXIF:DateTimeOriginal=2012:04:15 10:30:05", "-EXIF:OffsetTimeOriginal=+09:00",
            f"-GPSLatitude={gps['latitude']}", "-GPSLatitudeRef=N",
            f"-GPSLongitude={gps['longitude']}", "-GPSLongitudeRef=E",
            f"-GPSAltitude={gps['altitude']}", "-GPSAltitudeRef=0",
            f"-IPTC:By-line={ph['name']}", f"-IPTC:CopyrightNotice={ph['copyright']}",
            f"-IPTC:Caption-Abstract={sub['caption']}", f"-IPTC:City={loc['city']}",
            f"-IPTC:Sub-location={loc['sublocation']}",
            f"-IPTC:Province-State={loc['region']}",
            f"-IPTC:Country-PrimaryLocationCode={loc['country_code']}",
            f"-IPTC:Country-PrimaryLocationName={loc['country']}",
            f"-IPTC:Headline={sub['headline']}", f"-IPTC:Credit={ph['credit']}",
            "-IPTC:DateCreated=2012:04:15", "-IPTC:TimeCreated=10:30:05+09:00",
            f"-XMP-dc:Creator={ph['name']}", f"-XMP-dc:Rights={ph['copyright']}",
            f"-XMP-dc:Description={sub['caption']}", f"-XMP-dc:Source={_C['source']}",
            f"-XMP-photoshop:City={loc['city']}", f"-XMP-photoshop:State={loc['region']}",
            f"-XMP-photoshop:Country={loc['country']}",
            f"-XMP-photoshop:Headline={sub['headline']}",
            f"-XMP-photoshop:Credit={ph['credit']}",
            "-XMP-photoshop:DateCreated=2012:04:15 10:30:05+09:00",
            f"-XMP-iptcCore:CountryCode={loc['country_code']}",
            f"-XMP-iptcCore:Location={loc['sublocation']}",
            f"-XMP-iptcExt:Event={sub['event']}",
            f"-XMP-iptcExt:PersonInImage={sub['persons'][0]}",
            f"-XMP-exif:GPSLatitude={gps['latitude']}",
            f"-XMP-exif:GPSLongitude={gps['longitude']}"]
    for k in _KEYWORDS:
        args += [f"-IPTC:Keywords={k}", f"-XMP-dc:Subject={k}"]
    return args


EXIFTOOL_READ = ["-j", "-G1"]
EXIFTOOL_VALIDATE = ["-j", "-validate", "-warning", "-a"]


class ExifToolStayOpen(Tool):
    """One ``exiftool -stay_open True -@ -`` process; one request per file, as a library would."""

    def __init__(self) -> None:
        self.err = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(
            ["exiftool", "-stay_open", "True", "-@", "-"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self.err)
        self.n = 0
        self.read = lambda p: self._run([*EXIFTOOL_READ, str(p)])
        self.validate = lambda p: self._run([*EXIFTOOL_VALIDATE, str(p)])
        write_args = _exiftool_write_args()
        self.write = lambda p: self._run([*write_args, str(p)])

    def _run(self, args: list[str]) -> bytes:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.n += 1
        ready = f"{{ready{self.n}}}".encode()
        self.proc.stdin.write(("\n".join(args) + f"\n-execute{self.n}\n").encode("utf-8"))
        self.proc.stdin.flush()
        out = []
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("exiftool stopped")
            if line.rstrip() == ready:
                return b"".join(out)
            out.append(line)

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.rss_kb = peak_rss_kb(self.proc.pid)
        with contextlib.suppress(OSError):
            self.proc.stdin.write(b"-stay_open\nFalse\n")
            self.proc.stdin.flush()
        self.proc.wait(timeout=60)


class Piexif(Tool):
    def __init__(self) -> None:
        import piexif

        self.lib = piexif
        self.read = lambda p: piexif.load(str(p))
        self.write = self._write

    def _write(self, path: Path) -> None:
        lib = self.lib
        ph, sub, gps = _C["photographer"], _C["subject"], _C["location"]["gps"]
        if path.suffix.lower() not in (".jpg", ".jpeg", ".webp"):
            raise NotImplementedError("piexif writes JPEG and WebP only")
        data = lib.load(str(path))
        data["0th"][lib.ImageIFD.Artist] = ph["name"].encode()
        data["0th"][lib.ImageIFD.Copyright] = ph["copyright"].encode()
        data["0th"][lib.ImageIFD.ImageDescription] = sub["caption"].encode()
        data["Exif"][lib.ExifIFD.DateTimeOriginal] = b"2012:04:15 10:30:05"
        data["Exif"][lib.ExifIFD.OffsetTimeOriginal] = b"+09:00"
        data["GPS"][lib.GPSIFD.GPSLatitudeRef] = b"N"
        data["GPS"][lib.GPSIFD.GPSLatitude] = _degrees(gps["latitude"])
        data["GPS"][lib.GPSIFD.GPSLongitudeRef] = b"E"
        data["GPS"][lib.GPSIFD.GPSLongitude] = _degrees(gps["longitude"])
        data["GPS"][lib.GPSIFD.GPSAltitude] = (385, 10)
        lib.insert(lib.dump(data), str(path))


class Exifread(Tool):
    def __init__(self) -> None:
        import logging

        import exifread

        logging.getLogger("exifread").setLevel(logging.CRITICAL)
        self.lib = exifread
        self.read = self._read

    def _read(self, path: Path) -> Any:
        with open(path, "rb") as f:
            return self.lib.process_file(f, details=False, extract_thumbnail=False)


class Pillow(Tool):
    def __init__(self) -> None:
        from PIL import Image, IptcImagePlugin

        self.image, self.iptc = Image, IptcImagePlugin
        self.read = self._read
        self.write = self._write
        self.xmp = _xmp_for_pillow()

    def _read(self, path: Path) -> Any:
        with self.image.open(path) as im:
            exif = im.getexif()
            out = [dict(exif), dict(exif.get_ifd(0x8769)), dict(exif.get_ifd(0x8825)),
                   im.getxmp()]
            if im.format == "JPEG":
                out.append(self.iptc.getiptcinfo(im))
            return out

    def _write(self, path: Path) -> None:
        from PIL.PngImagePlugin import PngInfo

        ph, sub, gps = _C["photographer"], _C["subject"], _C["location"]["gps"]
        with self.image.open(path) as im:
            im.load()
            exif = im.getexif()
            exif[0x013B] = ph["name"]
            exif[0x8298] = ph["copyright"]
            exif[0x010E] = sub["caption"]
            exif.get_ifd(0x8769)[0x9003] = "2012:04:15 10:30:05"
            g = exif.get_ifd(0x8825)
            g[1], g[3] = "N", "E"
            g[2] = tuple(n / d for n, d in _degrees(gps["latitude"]))
            g[4] = tuple(n / d for n, d in _degrees(gps["longitude"]))
            tmp = path.with_name(".pillow-" + path.name)
            fmt = im.format
            if fmt == "JPEG":
                im.save(tmp, "JPEG", exif=exif, xmp=self.xmp, quality="keep",
                        icc_profile=im.info.get("icc_profile"))
            elif fmt == "PNG":
                info = PngInfo()
                info.add_itxt("XML:com.adobe.xmp", self.xmp.decode())
                im.save(tmp, "PNG", exif=exif, pnginfo=info)
            elif fmt == "TIFF":  # Pillow takes IFD0 tags from tiffinfo here, not from exif=
                info = {tag: value for tag, value in exif.items() if tag not in (0x8769, 0x8825)}
                im.save(tmp, "TIFF", tiffinfo={**info, 700: self.xmp})
            elif fmt == "WEBP":
                im.save(tmp, "WEBP", exif=exif, xmp=self.xmp, quality=90)
            else:
                raise RuntimeError(f"no writer for {fmt}")
        os.replace(tmp, path)


class Floor(Tool):
    def __init__(self) -> None:
        self.read = self.validate = self._head
        self.write = self._rewrite

    @staticmethod
    def _head(path: Path) -> bytes:
        with open(path, "rb") as f:
            return f.read(READ_HEAD)

    @staticmethod
    def _rewrite(path: Path) -> None:
        tmp = path.with_name(".floor-" + path.name)
        with open(path, "rb") as src, open(tmp, "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
            dst.flush()
            os.fsync(dst.fileno())
        os.replace(tmp, path)


FOLDER_ARGS = {"read": EXIFTOOL_READ, "validate": EXIFTOOL_VALIDATE}


def _tool(name: str) -> Tool:
    makers: dict[str, Callable[[], Tool]] = {
        "photometa": Photometa, "photometa-batch": PhotometaBatch, "pyexiv2": Pyexiv2,
        "exiftool": ExifToolStayOpen,
        "piexif": Piexif, "exifread": Exifread, "pillow": Pillow, "floor": Floor,
    }
    return makers[name]()


# == one measurement, in its own process ==========================================================


def _fresh_copy(src: Path, work: Path) -> list[Path]:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    out = []
    for f in sorted(src.iterdir()):
        if f.is_file() and not f.name.startswith("."):
            shutil.copyfile(f, work / f.name)
            out.append(work / f.name)
    os.sync()  # the copies' dirty pages must not be flushed inside the timed loop
    return out


def _files(src: Path) -> list[Path]:
    return sorted(f for f in src.iterdir() if f.is_file() and not f.name.startswith("."))


def worker(tool_name: str, op: str, src: Path, work: Path, rounds: int) -> dict[str, Any]:
    """Time ``rounds`` passes of ``op`` over the files of ``src``; the result as a JSON object."""
    times: list[float] = []
    error: str | None = None
    helper = [0]  # peak RSS of the exiftool process, for the ExifTool rows
    try:
        if tool_name == "exiftool-folder":
            times = _folder_rounds(op, src, work, rounds, helper)
        else:
            tool = _tool(tool_name)
            times = _rounds(tool, op, src, work, rounds)
            helper[0] = getattr(tool, "rss_kb", 0)
    except Exception as err:  # one failing tool/format pair is reported, never fatal
        error = f"{type(err).__name__}: {err}"[:300]
    rss = helper[0] if tool_name.startswith("exiftool") else peak_rss_kb()
    return {"times": times, "error": error, "files": len(_files(src)), "rss_kb": rss}


def peak_rss_kb(pid: int | str = "self") -> int:
    """Peak RSS of a process in KiB: VmHWM on Linux, else ``ru_maxrss``.

    ``ru_maxrss`` alone would do, but on Linux it survives ``exec``: a child started by a big
    parent reports the parent's peak when its own is smaller. VmHWM belongs to the process's
    own memory map.
    """
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _check_written(files: list[Path]) -> None:
    """The new photographer's name is in the first file (read in chunks: RSS is measured)."""
    needle = NAME.encode()
    tail = b""
    with open(files[0], "rb") as f:
        while chunk := f.read(1 << 20):
            if needle in tail + chunk:
                return
            tail = chunk[-len(needle):]
    raise RuntimeError("the written file does not hold the new context")


def _rounds(tool: Tool, op: str, src: Path, work: Path, rounds: int) -> list[float]:
    fn: Callable[[Path], Any] | None = getattr(tool, op)
    if fn is None:
        raise NotImplementedError(f"cannot {op}")
    times = []
    try:
        if op != "write":
            files = _files(src)
            for f in files:  # warm-up round: imports, caches, the page cache
                fn(f)
        for _ in range(rounds):
            if op == "write":
                files = _fresh_copy(src, work)
            t0 = time.perf_counter()
            if tool.chunk_context is None:
                for f in files:
                    fn(f)
            else:
                for i in range(0, len(files), BATCH_CHUNK):
                    with tool.chunk_context():
                        for f in files[i:i + BATCH_CHUNK]:
                            fn(f)
            times.append(time.perf_counter() - t0)
        if op == "write" and not isinstance(tool, Floor):
            _check_written(files)
    finally:
        tool.close()
        if op == "write":
            shutil.rmtree(work, ignore_errors=True)
    return times


def _run_watched(cmd: list[str], peak: list[int]) -> tuple[int, bytes]:
    """Run ``cmd``; keep its peak RSS (VmHWM, sampled every 10 ms) in ``peak[0]``."""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        while proc.poll() is None:
            peak[0] = max(peak[0], peak_rss_kb(proc.pid))
            time.sleep(0.01)
        err.seek(0)
        return proc.returncode, err.read()


def _folder_rounds(op: str, src: Path, work: Path, rounds: int, peak: list[int]) -> list[float]:
    times = []
    for r in range(rounds + (op != "write")):  # read/validate: one warm-up run first
        if op == "write":
            files = _fresh_copy(src, work)
            cmd = ["exiftool", *_exiftool_write_args(), str(work)]
        else:
            cmd = ["exiftool", "-q", *FOLDER_ARGS[op], str(src)]
        t0 = time.perf_counter()
        code, stderr = _run_watched(cmd, peak)
        elapsed = time.perf_counter() - t0
        if code not in (0, 1):  # 1: some file had a warning or minor error
            raise RuntimeError(stderr.decode(errors="replace").strip()[:200])
        if op != "write" and r == 0:
            continue
        times.append(elapsed)
    if op == "write":
        _check_written(files)
        shutil.rmtree(work, ignore_errors=True)
    return times


# == the photometa command line at archive scale ==================================================


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (Linux: /proc/PID/task/*/children)."""
    todo, found = [pid], []
    while todo:
        p = todo.pop()
        found.append(p)
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
    return found


def _status_kb(pid: int, key: str, name: str = "status") -> int:
    with contextlib.suppress(OSError, ValueError, IndexError), \
            open(f"/proc/{pid}/{name}") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1])
    return 0


def cli_validate(folder: Path, jobs: int, cache: Path | None) -> dict[str, Any]:
    """Run ``photometa validate FOLDER --jobs N --report json`` once; wall time, CPU time and the
    peak memory of the whole process tree (the command and its workers).

    Memory is sampled every 20 ms from /proc: ``rss_kb`` is the largest sum of the processes'
    RSS (pages shared between the forked processes counted once per process, so it is an upper
    bound), ``pss_kb`` the largest sum of their PSS (shared pages split between the sharers: the
    memory the tree really holds).
    """
    cmd = [sys.executable, "-m", "photometa.cli", "validate", str(folder), "--jobs", str(jobs),
           "--report", "json", "--output", os.devnull]
    cmd += ["--cache-dir", str(cache)] if cache is not None else ["--no-cache"]
    rss = pss = procs = 0
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        while proc.poll() is None:
            tree = _tree(proc.pid)
            procs = max(procs, len(tree))
            rss = max(rss, sum(_status_kb(p, "VmRSS:") for p in tree))
            pss = max(pss, sum(_status_kb(p, "Pss:", "smaps_rollup") for p in tree))
            time.sleep(0.02)
        elapsed = time.perf_counter() - t0
        err.seek(0)
        stderr = err.read()
    if proc.returncode not in (0, 1):
        return {"error": stderr.decode(errors="replace").strip()[-300:]}
    said = stderr.decode(errors="replace").partition(" file(s) checked")[0].rsplit(" ", 1)[-1]
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # this wrapper ran only the command
    return {"seconds": elapsed, "files": int(said) if said.isdigit() else 0, "rss_kb": rss,
            "pss_kb": pss, "processes": procs, "largest_kb": usage.ru_maxrss,
            "cpu": usage.ru_utime + usage.ru_stime}


def _link_tree(files: list[Path], dest: Path, count: int, per_folder: int = 1000) -> Path:
    """``count`` hard links (symbolic ones where the file system has none) to ``files``, taken
    in turn, in folders of ``per_folder``: an archive of any size from a small corpus. Validating
    only reads, so the links may share their files. Kept when already complete."""
    marker = dest / f".complete-{count}"
    if marker.exists():
        return dest
    shutil.rmtree(dest, ignore_errors=True)
    for i in range(count):
        sub = dest / f"d{i // per_folder:04d}"
        if i % per_folder == 0:
            sub.mkdir(parents=True)
        src, link = files[i % len(files)], sub / f"f{i:07d}{files[i % len(files)].suffix}"
        try:
            os.link(src, link)
        except OSError:
            os.symlink(src.resolve(), link)
    marker.write_text("")
    return dest


# == the orchestra ================================================================================


@dataclass
class Result:
    tool: str
    op: str
    fmt: str
    files: int = 0
    rate: float | None = None  # files/s, median round
    rss_mb: float | None = None
    error: str | None = None
    times: list[float] = field(default_factory=list)


def _spawn(args: list[str], timeout: float) -> dict[str, Any]:
    """Run this script with ``args`` in a fresh subprocess; the JSON document it prints last."""
    cmd = [sys.executable, str(Path(__file__).resolve()), *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False, cwd=REPO)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = proc.stdout.decode(errors="replace").strip().splitlines()
    try:
        return json.loads(lines[-1])  # type: ignore[no-any-return]
    except (IndexError, json.JSONDecodeError):
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        return {"error": f"worker failed: {tail[0][:200]}"}


def measure(tools: list[str], op: str, fmt: str, folders: dict[str, Path], work: Path,
            rounds: int) -> list[Result]:
    """Several tools, one operation, one format: each round runs every tool once, in turn.

    Every (tool, round) is a fresh subprocess, so each tool's peak RSS is its own, and the rounds
    of the tools are interleaved: a change in machine load (the disk above all) hits all tools
    alike instead of whichever happened to run then. A tool that fails is not run again.
    """
    rounds_here = max(1, min(rounds, 3)) if fmt == "bigtiff" else rounds
    results = {t: Result(t, op, fmt) for t in tools}
    peaks: dict[str, float] = {}
    for _ in range(rounds_here):
        for tool in tools:
            res = results[tool]
            if res.error is not None:
                continue
            doc = _spawn(["_worker", tool, op, str(folders[fmt]), str(work / f"{tool}-{fmt}"),
                          "1"], timeout=3600)
            res.files = int(doc.get("files", 0))
            res.error = doc.get("error")
            res.times += [float(t) for t in doc.get("times", [])]
            if "rss_kb" in doc:
                peaks[tool] = max(peaks.get(tool, 0.0), doc["rss_kb"] / 1024)
    for tool, res in results.items():
        if res.error is None and res.times and res.files:
            res.rate = res.files / statistics.median(res.times)
            res.rss_mb = peaks.get(tool)
    return list(results.values())


def _applies(tool: str, op: str) -> bool:
    if op == "validate":
        return tool in ("photometa", "exiftool", "exiftool-folder", "floor")
    if tool == "photometa-batch":
        return op == "write"
    if op == "write":
        return tool != "exifread"
    return True


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for mod, attr in (("photometa", "__version__"), ("pyexiv2", "__version__"),
                      ("pyexiv2", "__exiv2_version__"), ("piexif", "VERSION"),
                      ("exifread", "__version__"), ("PIL", "__version__")):
        try:
            value = getattr(__import__(mod), attr)
            out[f"{mod}.{attr}" if attr == "__exiv2_version__" else mod] = str(value)
        except Exception:  # a peer that is not installed is reported as such
            out.setdefault(mod, "not installed")
    try:
        out["exiftool"] = subprocess.run(["exiftool", "-ver"], capture_output=True, text=True,
                                         check=False).stdout.strip() or "not installed"
    except OSError:
        out["exiftool"] = "not installed"
    return out


def _cpu() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _fmt_rate(r: Result | None) -> str:
    if r is None:
        return ""
    if r.rate is None:
        return "n/a"
    rate = f"{r.rate:,.0f}" if r.rate >= 10 else f"{r.rate:.2g}"
    rss = f" · {r.rss_mb:.0f} MB" if r.rss_mb is not None else ""
    return f"{rate}{rss}"


def _ratio(a: Result | None, b: Result | None) -> float | None:
    if a is None or b is None or a.rate is None or b.rate is None:
        return None
    return a.rate / b.rate


def report_markdown(results: list[Result], scale: dict[str, Any], sizes: Sizes, quick: bool,
                    folders: dict[str, Path], elapsed: float) -> str:
    """The Markdown report: one table per operation, the n/a reasons, the targets."""
    by = {(r.tool, r.op, r.fmt): r for r in results}
    versions = _versions()
    fmts = [f for f in FORMATS if any(r.fmt == f for r in results)]
    counts = {f: len(_files(folders[f])) for f in fmts}
    mb = {f: sum(p.stat().st_size for p in _files(folders[f])) / counts[f] / 1e6 if counts[f]
          else 0.0 for f in fmts}
    lines = [
        "# Benchmark: photometa beside its peers",
        "",
        f"Generated by `make bench` (`benchmarks/run.py{' --quick' if quick else ''}`) on "
        f"{time.strftime('%Y-%m-%d')}, in {elapsed / 60:.0f} min: {_cpu()}, "
        f"{os.cpu_count()} cores, Linux {platform.release()}.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".",
        "",
        "Each cell is **files per second** (median of "
        f"{sizes.rounds} rounds; the large TIFF {min(sizes.rounds, 3)}) · **peak RSS** of the "
        "process doing the work (its own subprocess; for ExifTool the `exiftool` process). "
        "One process, one file at a time, unless the row says otherwise. "
        "*n/a*: the tool cannot do it or failed (reasons below). "
        "See `benchmarks/README.md` for what each tool does.",
        "",
        "Corpus (generated): " + ", ".join(
            f"{counts[f]} × {FORMATS[f]} ({mb[f]:.1f} MB avg)" for f in fmts) +
        "; half of each with XMP, every file with EXIF (camera JPEGs: GPS, a 24 KB MakerNote and "
        "a thumbnail).",
        "",
    ]
    reasons: dict[str, list[str]] = {}
    for op in OPS:
        title = {"read": "Read all context", "write": "Write a full context",
                 "validate": "Validate"}[op]
        lines += [f"## {title}", "",
                  "| tool | " + " | ".join(FORMATS[f] for f in fmts) + " |",
                  "|---|" + "---:|" * len(fmts)]
        for tool in TOOLS:
            if not _applies(tool, op):
                continue
            label = FLOOR_LABEL[op] if tool == "floor" else TOOL_LABEL[tool]
            cells = []
            for f in fmts:
                r = by.get((tool, op, f))
                cells.append(_fmt_rate(r))
                if r is not None and r.error:
                    reasons.setdefault(f"{label}, {op}: {r.error}", []).append(FORMATS[f])
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        if op == "validate" and scale.get("rows"):
            for row in scale["rows"]:
                lines.append(f"| {row['label']} | " + " | ".join(
                    row["cell"] if f == "web" else "" for f in fmts) + " |")
        lines.append("")
    if reasons:
        lines += ["### Why n/a", ""]
        lines += [f"- {why} ({', '.join(where)})" for why, where in reasons.items()]
        lines.append("")
    lines += _targets(by, fmts, scale)
    return "\n".join(lines) + "\n"


def _targets(by: dict[tuple[str, str, str], Result], fmts: list[str],
             scale: dict[str, Any]) -> list[str]:
    def ratios(a: str, b: str, op: str, mine: str = "photometa") -> tuple[str, bool]:
        parts, ok = [], True
        for f in fmts:
            x = _ratio(by.get((mine, op, f)), by.get((b, op, f)))
            if x is None:
                parts.append(f"{f} n/a")
                ok = False
            else:
                parts.append(f"{f} {x:.2f}×")
                ok = ok and x >= float(a)
        return ", ".join(parts), ok

    read, read_ok = ratios("2", "pyexiv2", "read")
    write_floor, floor_ok = ratios("0.7", "floor", "write")
    write_peer, peer_ok = ratios("1.5", "pyexiv2", "write")
    batch_floor, batch_floor_ok = ratios("0.7", "floor", "write", "photometa-batch")
    batch_peer, batch_peer_ok = ratios("1.5", "pyexiv2", "write", "photometa-batch")
    rss = [r.rss_mb for (tool, _, _), r in by.items() if tool.startswith("photometa") and r.rss_mb]
    rss_all = rss + [row["rss_mb"] for row in scale.get("rows", []) if row.get("rss_mb")]
    peak = max(rss_all) if rss_all else None
    measured = scale.get("seconds") if not scale.get("quick") else None
    lines = ["## Targets (issue 6)", "", "| target | measured | met |", "|---|---|---|",
             f"| read ≥ 2× pyexiv2, every format | {read} | {'yes' if read_ok else 'no'} |",
             f"| write ≥ 70% of the rewrite-with-fsync floor (one `write` per file) | "
             f"{write_floor} | {'yes' if floor_ok else 'no'} |",
             f"| write ≥ 70% of the floor, batch (as `tag`) | {batch_floor} | "
             f"{'yes' if batch_floor_ok else 'no'} |",
             f"| write ≥ 1.5× pyexiv2 (one `write` per file) | {write_peer} | "
             f"{'yes' if peer_ok else 'no'} |",
             f"| write ≥ 1.5× pyexiv2, batch (as `tag`) | {batch_peer} | "
             f"{'yes' if batch_peer_ok else 'no'} |"]
    if measured is not None:
        lines.append(f"| validate --jobs 2, 100,000 web JPEGs < 60 s | {scale['note']} | "
                     f"{'yes' if measured < 60 else 'no'} |")
    else:
        lines.append(f"| validate --jobs 2, 100,000 web JPEGs < 60 s | "
                     f"{scale.get('note', 'n/a')} | {'n/a' if scale.get('quick') else 'no'} |")
    if peak is not None:
        lines.append(f"| peak RSS < 100 MB | photometa's largest: {peak:.0f} MB | "
                     f"{'yes' if peak < 100 else 'no'} |")
    lines.append("")
    return lines


PLOT_COLORS = {"photometa": "#1b6ca8", "photometa-batch": "#5dade2", "pyexiv2": "#e07b39",
               "exiftool": "#6a9f3a",
               "exiftool-folder": "#a5cf7a", "piexif": "#9b59b6", "exifread": "#c0392b",
               "pillow": "#7f8c8d", "floor": "#222222"}


def plot(results: list[Result], out: Path) -> str | None:
    """Grouped bars per operation (log scale); returns why it was skipped, if it was."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install -e '.[bench]')"
    fmts = [f for f in FORMATS if any(r.fmt == f for r in results)]
    fig, axes = plt.subplots(1, 3, figsize=(16, 6.2), sharey=True)
    handles: dict[str, Any] = {}
    for ax, op in zip(axes, OPS, strict=True):
        tools = [t for t in TOOLS if _applies(t, op)]
        width = 0.85 / len(tools)
        for k, tool in enumerate(tools):
            xs, ys = [], []
            for i, f in enumerate(fmts):
                r = next((r for r in results if (r.tool, r.op, r.fmt) == (tool, op, f)), None)
                if r is not None and r.rate:
                    xs.append(i + (k - (len(tools) - 1) / 2) * width)
                    ys.append(r.rate)
            label = "floor (read 128 KiB / rewrite + fsync)" if tool == "floor" \
                else TOOL_LABEL[tool]
            handles[label] = ax.bar(xs, ys, width, color=PLOT_COLORS[tool], label=label)
        ax.set_yscale("log")
        ax.set_title({"read": "read all context", "write": "write a full context",
                      "validate": "validate"}[op])
        ax.set_xticks(range(len(fmts)))
        ax.set_xticklabels([FORMAT_TICKS[f] for f in fmts], fontsize=8)
        ax.grid(axis="y", which="both", alpha=0.3)
    axes[0].set_ylabel("files per second (log scale, higher is better)")
    fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=4, fontsize=8,
               frameon=False)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return None


ARCHIVE_FILES = 100_000
"""Files in the archive-scale run of ``photometa validate --jobs 2`` (issue 6: under 60 s)."""


def _scale(folders: dict[str, Path], sizes: Sizes, work: Path,
           log: Callable[[str], None], quick: bool = False) -> dict[str, Any]:
    """``photometa validate --jobs 2`` at archive scale, measured, not extrapolated: 100,000
    files (hard links to the scale corpus, 1000 to a folder), no cache, median of 3 runs; with
    ``quick`` one run over the scale corpus alone. Peak memory is the whole process tree's.
    Then a cache-warm run over the scale corpus (after a run that fills the cache)."""
    files = _files(folders["scale"])
    if not files:
        return {"note": "n/a: no scale corpus", "rows": []}
    count = len(files) if quick else ARCHIVE_FILES
    folder = folders["scale"] if quick else _link_tree(files, work / "archive", count)
    docs = []
    for _ in range(1 if quick else 3):
        doc = _spawn(["_cli", str(folder), "2", ""], timeout=3600)
        if "error" in doc:
            return {"note": f"n/a: {doc['error']}", "rows": []}
        if doc["files"] != count:
            return {"note": f"n/a: {doc['files']} files checked, not {count}", "rows": []}
        log(f"  validate --jobs 2 over {count:,} files: {doc['seconds']:.1f} s, "
            f"{doc['cpu']:.1f} CPU s, {doc['rss_kb'] / 1024:.0f} MB RSS "
            f"({doc['pss_kb'] / 1024:.0f} MB PSS) in {doc['processes']} processes")
        docs.append(doc)
    seconds = statistics.median(d["seconds"] for d in docs)
    cpu = statistics.median(d["cpu"] for d in docs)
    rss_mb = max(d["rss_kb"] for d in docs) / 1024
    pss_mb = max(d["pss_kb"] for d in docs) / 1024
    procs = max(d["processes"] for d in docs)
    rows = [{"label": f"photometa validate --jobs 2 (CLI, {count:,} web JPEGs, no cache; "
                      "RSS of all its processes)",
             "cell": f"{count / seconds:,.0f} · {rss_mb:.0f} MB", "rss_mb": rss_mb}]
    cache = work / "validate-cache"
    shutil.rmtree(cache, ignore_errors=True)
    _spawn(["_cli", str(folders["scale"]), "2", str(cache)], timeout=3600)
    warm = _spawn(["_cli", str(folders["scale"]), "2", str(cache)], timeout=3600)
    shutil.rmtree(cache, ignore_errors=True)
    if "seconds" in warm:
        rows.append({"label": f"photometa validate --jobs 2 (CLI, {len(files)} web JPEGs, "
                              "cache warm)",
                     "cell": f"{len(files) / warm['seconds']:,.0f} · "
                             f"{warm['rss_kb'] / 1024:.0f} MB",
                     "rss_mb": warm["rss_kb"] / 1024})
    note = (f"{count:,} files in **{seconds:.1f} s** ({'one run' if quick else 'median of 3'}, "
            f"no cache; {1e6 * cpu / count:.0f} µs CPU per file), peak memory of the "
            f"{procs} processes {rss_mb:.0f} MB RSS ({pss_mb:.0f} MB PSS)")
    if quick:
        note += f"; a --quick run: {count} files, not {ARCHIVE_FILES:,}"
    return {"note": note, "seconds": seconds, "files": count, "quick": quick, "cpu": cpu,
            "rss_mb": rss_mb, "pss_mb": pss_mb, "rows": rows}


def main(argv: list[str] | None = None) -> int:
    """Generate the corpus, measure every tool, write the report and the plot."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_worker"]:
        tool, op, src, work, rounds = argv[1:6]
        print(json.dumps(worker(tool, op, Path(src), Path(work), int(rounds))))
        return 0
    if argv[:1] == ["_generate"]:
        generate(Path(argv[1]), Sizes(**json.loads(argv[2])),
                 lambda msg: print(msg, file=sys.stderr, flush=True))
        return 0
    if argv[:1] == ["_cli"]:
        folder, jobs, cache = argv[1:4]
        print(json.dumps(cli_validate(Path(folder), int(jobs), Path(cache) if cache else None)))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run (small corpus)")
    parser.add_argument("--workdir", type=Path, default=REPO / "build" / "bench",
                        help="where the corpus and scratch copies go (default: build/bench)")
    parser.add_argument("--out", type=Path, default=REPO / "docs",
                        help="where benchmark.md and benchmark.png go (default: docs/)")
    parser.add_argument("--tools", default=",".join(TOOLS), help="comma-separated subset")
    parser.add_argument("--ops", default=",".join(OPS), help="comma-separated subset")
    parser.add_argument("--formats", default=",".join(FORMATS), help="comma-separated subset")
    for name, default in asdict(Sizes()).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=None,
                            help=f"(default {default}; --quick {getattr(QUICK, name)})")
    parser.add_argument("--no-scale", action="store_true",
                        help="skip the `photometa validate --jobs 2` archive-scale run")
    args = parser.parse_args(argv)
    sizes = Sizes(**asdict(QUICK if args.quick else Sizes()))
    for name in asdict(sizes):
        value = getattr(args, name)
        if value is not None:
            setattr(sizes, name, value)
    started = time.monotonic()

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    corpus_dir = args.workdir / ("corpus-quick" if args.quick else "corpus")
    # generated in a subprocess: this process stays small, and so do the peaks that children
    # inherit from it (Linux keeps a parent's ru_maxrss across fork + exec)
    made = subprocess.run([sys.executable, str(Path(__file__).resolve()), "_generate",
                           str(corpus_dir), json.dumps(asdict(sizes))], check=False)
    if made.returncode != 0:
        log("could not generate the corpus")
        return 2
    folders = corpus_folders(corpus_dir)
    work = args.workdir / "work"
    tools = [t for t in args.tools.split(",") if t in TOOLS]
    ops = [o for o in args.ops.split(",") if o in OPS]
    fmts = [f for f in args.formats.split(",") if f in FORMATS]
    results: list[Result] = []
    for op in ops:
        for fmt in fmts:
            for res in measure([t for t in tools if _applies(t, op)], op, fmt, folders, work,
                               sizes.rounds):
                log(f"{op:8} {fmt:8} {res.tool:16} {_fmt_rate(res):>18}"
                    + (f"  ({res.error})" if res.error else ""))
                results.append(res)
    scale: dict[str, Any] = {}
    if not args.no_scale and "validate" in ops and "photometa" in tools:
        log("photometa validate --jobs 2 at archive scale ...")
        scale = _scale(folders, sizes, work, log, quick=args.quick)
    shutil.rmtree(work, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    text = report_markdown(results, scale, sizes, args.quick, folders,
                           time.monotonic() - started)
    skipped = plot(results, args.out / "benchmark.png")
    if skipped:
        text += f"\n(No plot: {skipped}.)\n"
    else:
        text += "\n![files per second, log scale](benchmark.png)\n"
    (args.out / "benchmark.md").write_text(text, "utf-8")
    (args.workdir / "results.json").write_text(
        json.dumps([asdict(r) for r in results] + [scale], indent=1))
    log(f"wrote {args.out / 'benchmark.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
