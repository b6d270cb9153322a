"""Worst cases at the limits: small or legal-looking files built to cost as much as the default
:class:`~photometa.Limits` allow (many directories of many entries, aliased values, thousands of
segments, Extended XMP that declares 16 MB per GUID, wide and deep XMP, IIM and Photoshop resource
floods, chunk and box floods).

A fuzzer cannot find these (its inputs are small), so ``run.py measure-bombs`` (part of
``make fuzz``) times and traces reading each one as a whole file: every one must be read, or
refused, in under a second and a few tens of MB.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable

__all__ = ["BOMBS"]

SOS = b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00" + b"\x00" * 16 + b"\xff\xd9"


def _seg(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def _tiff_chain(ifds: int, entries: int) -> bytes:
    """A TIFF with a chain of ``ifds`` directories of ``entries`` valid SHORT entries each."""
    size = 2 + 12 * entries + 4
    out = bytearray(b"MM\x00*" + struct.pack(">I", 8))
    row = b"".join(struct.pack(">HHIHH", 0x1000 + i, 3, 1, 7, 0) for i in range(entries))
    for k in range(ifds):
        nxt = 8 + (k + 1) * size if k < ifds - 1 else 0
        out += struct.pack(">H", entries) + row + struct.pack(">I", nxt)
    return bytes(out)


def exif_many_ifds() -> bytes:
    """256 directories (max_ifds) of 4095 entries (max_ifd_entries): a million entries."""
    return _tiff_chain(256, 4095)


def exif_aliased_values() -> bytes:
    """4095 entries whose values all point at the same 1 MB: a copy each would be 4 GB."""
    value_at = 8 + 2 + 12 * 4095 + 4
    entries = b"".join(struct.pack(">HHII", 0x1000 + i, 7, 1 << 20, value_at) for i in range(4095))
    return (b"MM\x00*" + struct.pack(">I", 8) + struct.pack(">H", 4095) + entries
            + b"\0\0\0\0" + b"\xab" * (1 << 20))


def jpeg_segment_flood() -> bytes:
    """Two million empty APP15 segments (8 MB) before the scan."""
    return b"\xff\xd8" + b"\xff\xef\x00\x02" * 2_000_000 + SOS


def jpeg_extended_xmp_guids() -> bytes:
    """200 Extended XMP chunks of 4 bytes, each a new GUID declaring a 16 MB packet."""
    sig = b"http://ns.adobe.com/xmp/extension/\x00"
    segs = [_seg(0xE1, sig + f"{g:032X}".encode() + struct.pack(">II", (16 << 20) - 8, 0)
                 + b"<x/>") for g in range(200)]
    return b"\xff\xd8" + b"".join(segs) + SOS


def jpeg_exif_in_app1() -> bytes:
    """The largest EXIF a JPEG holds (64 KB) packed with entries: 5400 of them."""
    return b"\xff\xd8" + _seg(0xE1, b"Exif\x00\x00" + _tiff_chain(1, 4095)[:65000]) + SOS


def _xmp(body: str) -> bytes:
    return ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
            'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/"><rdf:Description rdf:about="">'
            f"{body}</rdf:Description></rdf:RDF></x:xmpmeta>").encode()


def xmp_wide() -> bytes:
    """A 14 MB packet: one Bag of 800,000 tiny items (a sidecar, which has no 64 KB cap)."""
    return _xmp("<dc:subject><rdf:Bag>" + "<rdf:li>k</rdf:li>" * 800_000
                + "</rdf:Bag></dc:subject>")


def xmp_node_ids() -> bytes:
    """rdf:nodeID references that would expand exponentially if resolved naively."""
    parts = ['<dc:x0 rdf:parseType="Resource"><dc:v>aaaaaaaa</dc:v></dc:x0>']
    nodes = ['<rdf:Description rdf:nodeID="n0"><dc:v>aaaaaaaaaaaaaaaa</dc:v></rdf:Description>']
    for i in range(1, 40):
        nodes.append(f'<rdf:Description rdf:nodeID="n{i}"><dc:a rdf:nodeID="n{i - 1}"/>'
                     f'<dc:b rdf:nodeID="n{i - 1}"/></rdf:Description>')
    body = "".join(parts) + '<dc:top rdf:nodeID="n39"/>'
    xml = _xmp(body).decode().replace("</rdf:RDF>", "".join(nodes) + "</rdf:RDF>")
    return xml.encode()


def iim_flood_jpeg() -> bytes:
    """A JPEG whose APP13 segments hold 10,000 IIM keywords (max_iim_datasets)."""
    iim = b"".join(b"\x1c\x02\x19" + struct.pack(">H", 8) + b"keyword%d" % (i % 10)
                   for i in range(10_000))
    irb = b"8BIM\x04\x04\x00\x00" + struct.pack(">I", len(iim)) + iim
    step = 65533 - 14
    segs = [_seg(0xED, b"Photoshop 3.0\x00" + irb[i : i + step]) for i in range(0, len(irb), step)]
    return b"\xff\xd8" + b"".join(segs) + SOS


def irb_flood_jpeg() -> bytes:
    """100,000 empty Photoshop resources (max_boxes) across APP13 segments."""
    irb = b"8BIM\x03\xed\x00\x00\x00\x00\x00\x00" * 100_000
    step = 65533 - 14
    segs = [_seg(0xED, b"Photoshop 3.0\x00" + irb[i : i + step]) for i in range(0, len(irb), step)]
    return b"\xff\xd8" + b"".join(segs) + SOS


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_chunk_flood() -> bytes:
    """A million empty ancillary chunks before IEND."""
    head = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
    flood = _png_chunk(b"tIME", b"") * 1_000_000
    return head + flood + _png_chunk(b"IDAT", zlib.compress(b"\0\0\0\0")) + _png_chunk(b"IEND", b"")


def png_ztxt_bomb() -> bytes:
    """zTXt and compressed iTXt XMP that inflate 1000:1 (to 100 MB and more)."""
    head = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
    zeros = zlib.compress(b" " * (100 << 20), 9)
    ztxt = _png_chunk(b"zTXt", b"Raw profile type exif\x00\x00" + zeros)
    itxt = _png_chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x01\x00\x00\x00" + zeros)
    return head + ztxt + itxt + _png_chunk(b"IDAT", zlib.compress(b"\0\0\0\0")) + _png_chunk(
        b"IEND", b"")


def webp_chunk_flood() -> bytes:
    """A million empty unknown chunks in a RIFF/WEBP."""
    body = b"WEBP" + b"VP8X" + struct.pack("<I", 10) + b"\x08" + b"\0" * 9
    body += b"UNKN\x00\x00\x00\x00" * 1_000_000
    body += b"VP8L" + struct.pack("<I", 5) + b"\x2f\x00\x00\x00\x00\x00"
    return b"RIFF" + struct.pack("<I", len(body)) + body


def bmff_box_flood() -> bytes:
    """An ftyp and a meta box holding 200,000 empty free boxes, then nested boxes 1000 deep."""
    ftyp = struct.pack(">I", 24) + b"ftypheic\x00\x00\x00\x00mif1heic"
    inner = b"\x00\x00\x00\x08free" * 200_000
    nested = b""
    for _ in range(1000):
        nested = struct.pack(">I", len(nested) + 8) + b"meta" + nested
    size = len(inner) + len(nested) + 12
    return ftyp + struct.pack(">I", size) + b"meta\x00\x00\x00\x00" + inner + nested


def xmp_tiny() -> bytes:
    """A small valid packet (to warm up before measuring)."""
    return _xmp("<dc:title>t</dc:title>")


def exif_tiny() -> bytes:
    """A small valid TIFF structure."""
    return _tiff_chain(1, 3)


def png_tiny() -> bytes:
    """A small valid PNG."""
    head = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
    return head + _png_chunk(b"IDAT", zlib.compress(b"\0\0\0\0")) + _png_chunk(b"IEND", b"")


def webp_tiny() -> bytes:
    """A small valid WebP."""
    body = b"WEBP" + b"VP8L" + struct.pack("<I", 5) + b"\x2f\x00\x00\x00\x00\x00"
    return b"RIFF" + struct.pack("<I", len(body)) + body


def bmff_tiny() -> bytes:
    """A small HEIF-like file."""
    ftyp = struct.pack(">I", 24) + b"ftypheic\x00\x00\x00\x00mif1heic"
    return ftyp + struct.pack(">I", 12) + b"meta\x00\x00\x00\x00"


BOMBS: dict[str, tuple[str, Callable[[], bytes]]] = {
    "exif-many-ifds": (".tif", exif_many_ifds),
    "exif-aliased-values": (".tif", exif_aliased_values),
    "jpeg-segment-flood": (".jpg", jpeg_segment_flood),
    "jpeg-extended-xmp-guids": (".jpg", jpeg_extended_xmp_guids),
    "jpeg-exif-in-app1": (".jpg", jpeg_exif_in_app1),
    "xmp-wide": (".xmp", xmp_wide),
    "xmp-node-ids": (".xmp", xmp_node_ids),
    "iim-flood": (".jpg", iim_flood_jpeg),
    "irb-flood": (".jpg", irb_flood_jpeg),
    "png-chunk-flood": (".png", png_chunk_flood),
    "png-ztxt-bomb": (".png", png_ztxt_bomb),
    "webp-chunk-flood": (".webp", webp_chunk_flood),
    "bmff-box-flood": (".heic", bmff_box_flood),
}
"""name -> (file suffix, builder)."""
