"""Structure-aware hypothesis strategies: files and metadata blocks that are almost right.

Random bytes rarely get past a parser's first check. These strategies build the real structures
(TIFF/EXIF directories, XMP/RDF, IPTC-IIM datasets, Photoshop resources, JPEG segments, PNG chunks,
RIFF/WebP chunks, ISO BMFF boxes) and then get some of it wrong on purpose: lengths and counts
that lie, offsets that point past the end or back into a directory (loops), unknown types,
truncation, deep nesting, forbidden XML constructs. Every strategy yields ``bytes``.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

__all__ = [
    "bmff_files",
    "iim_blocks",
    "irb_blocks",
    "jpeg_files",
    "png_files",
    "tiff_blocks",
    "webp_files",
    "xmp_packets",
]

U16 = st.integers(0, 0xFFFF)
U32 = st.integers(0, 0xFFFFFFFF)
SMALL = st.integers(0, 24)
WEIRD32 = st.sampled_from([0, 1, 2, 7, 8, 0x7FFF, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000,
                           0xFFFFFFF8, 0xFFFFFFFF])
TEXT = st.text(max_size=24)
RAW = st.binary(max_size=48)


def _maybe_wrong(draw: st.DrawFn, right: int, bits: int = 32, p_wrong: int = 8) -> int:
    """``right`` most of the time; 1 in ``p_wrong``, a lie (off by a little or a lot)."""
    if draw(st.integers(0, p_wrong - 1)):
        return right
    top = (1 << bits) - 1
    lie = draw(st.one_of(st.integers(-3, 3).map(lambda d: right + d), st.integers(0, top),
                         st.just(top)))
    return max(0, min(top, lie))


def _truncate(draw: st.DrawFn, data: bytes) -> bytes:
    """Usually whole; sometimes cut somewhere."""
    if data and not draw(st.integers(0, 7)):
        return data[: draw(st.integers(0, len(data) - 1))]
    return data


# -- TIFF / EXIF -----------------------------------------------------------------------------------

TIFF_TAGS = [0x010E, 0x010F, 0x0110, 0x0112, 0x011A, 0x0128, 0x0131, 0x0132, 0x013B, 0x8298,
             0x8769, 0x8825, 0x014A, 0x0201, 0x0202, 0x02BC, 0x83BB, 0x8649, 0x927C, 0x9286,
             0x9003, 0x9010, 0x9291, 0xA005, 0xA420, 0x0000, 0x0001, 0x0002, 0x0003, 0x0004,
             0x0006, 0x001D, 0xC612, 0x0111, 0x0117]
POINTER_TAGS = {0x8769, 0x8825, 0xA005, 0x014A}
TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4,
              16: 8, 17: 8, 18: 8, 129: 1}


@st.composite
def _tiff_entry(draw: st.DrawFn, n_ifds: int) -> tuple[int, int, Any, tuple[str, Any]]:
    tag = draw(st.one_of(st.sampled_from(TIFF_TAGS), U16))
    typ = draw(st.one_of(st.sampled_from(sorted(TYPE_SIZES)), st.integers(0, 20), U16))
    if tag in POINTER_TAGS and draw(st.booleans()):
        return tag, draw(st.sampled_from([4, 13])), 1, ("ifd", draw(st.integers(0, n_ifds - 1)))
    size = TYPE_SIZES.get(typ, 1)
    payload = draw(st.one_of(
        RAW,
        TEXT.map(lambda t: t.encode("utf-8", "surrogatepass") + b"\0"),
        st.lists(st.integers(0, 0xFFFFFFFF), max_size=6).map(
            lambda xs: b"".join(struct.pack(">I", x) for x in xs)),
    ))
    count: Any = draw(st.one_of(st.just("auto"), SMALL, WEIRD32))
    if count == "auto":
        count = max(1, len(payload) // size)
    if len(payload) <= 4 and draw(st.booleans()):
        return tag, typ, count, ("inline", payload.ljust(4, b"\0"))
    kind = draw(st.sampled_from(["data", "data", "data", "raw", "ifd"]))
    if kind == "raw":
        return tag, typ, count, ("raw", draw(st.one_of(WEIRD32, U32)))
    if kind == "ifd":
        return tag, typ, count, ("ifd", draw(st.integers(0, n_ifds - 1)))
    return tag, typ, count, ("data", payload)


@st.composite
def tiff_blocks(draw: st.DrawFn, max_ifds: int = 4) -> bytes:
    """A TIFF structure (EXIF block): header, directories chained and nested, a value area."""
    order = draw(st.sampled_from("<>"))
    n_ifds = draw(st.integers(1, max_ifds))
    ifds = []
    for _ in range(n_ifds):
        entries = draw(st.lists(_tiff_entry(n_ifds), max_size=10))
        if draw(st.booleans()):
            entries.sort(key=lambda e: e[0])
        nxt = draw(st.one_of(st.just(("none", 0)), st.tuples(st.just("ifd"),
                                                             st.integers(0, n_ifds - 1)),
                             st.tuples(st.just("raw"), WEIRD32)))
        ifds.append((entries, nxt))
    offsets, pos = [], 8
    for entries, _ in ifds:
        offsets.append(pos)
        pos += 2 + 12 * len(entries) + 4
    area = bytearray()
    body = bytearray()
    for entries, nxt in ifds:
        body += struct.pack(order + "H", _maybe_wrong(draw, len(entries), 16, 16))
        for tag, typ, count, (kind, value) in entries:
            if kind == "inline":
                field = value
            elif kind == "data":
                field = struct.pack(order + "I", pos + len(area))
                area += value + (b"\0" if len(value) & 1 else b"")
            elif kind == "ifd":
                field = struct.pack(order + "I", offsets[value])
            else:
                field = struct.pack(order + "I", value)
            body += struct.pack(order + "HHI", tag, typ & 0xFFFF, count) + field
        link = {"none": 0, "ifd": offsets[nxt[1]] if nxt[0] == "ifd" else 0}.get(nxt[0], nxt[1])
        body += struct.pack(order + "I", link)
    magic = b"II*\0" if order == "<" else b"MM\0*"
    if not draw(st.integers(0, 15)):
        magic = draw(st.sampled_from([b"II+\0", b"MM\0+", b"IM*\0", b"II*\1"]))
    head = magic + struct.pack(order + "I", _maybe_wrong(draw, offsets[0]))
    return _truncate(draw, head + bytes(body) + bytes(area))


# -- XMP -------------------------------------------------------------------------------------------

NAMESPACES = {
    "dc": "http://purl.org/dc/elements/1.1/",
    "photoshop": "http://ns.adobe.com/photoshop/1.0/",
    "Iptc4xmpCore": "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/",
    "Iptc4xmpExt": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/",
    "exif": "http://ns.adobe.com/exif/1.0/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "xmpNote": "http://ns.adobe.com/xmp/note/",
    "x1": "urn:example:unknown/",
}
PROPS = ["dc:title", "dc:description", "dc:subject", "dc:creator", "dc:rights",
         "photoshop:City", "photoshop:Country", "photoshop:Headline", "photoshop:DateCreated",
         "Iptc4xmpCore:Location", "Iptc4xmpCore:CountryCode", "Iptc4xmpCore:CreatorContactInfo",
         "Iptc4xmpExt:LocationShown", "Iptc4xmpExt:PersonInImage", "Iptc4xmpExt:City",
         "exif:GPSLatitude", "exif:GPSLongitude", "xmpNote:HasExtendedXMP", "x1:thing",
         "undeclared:prop"]
XML_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=16)


def _esc(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def _xml_value(depth: int) -> st.SearchStrategy[str]:
    text = st.one_of(XML_TEXT.map(_esc), XML_TEXT)  # the raw form may be malformed on purpose
    if depth <= 0:
        return text

    inner = _xml_value(depth - 1)

    @st.composite
    def array(draw: st.DrawFn) -> str:
        kind = draw(st.sampled_from(["Bag", "Seq", "Alt", "Bag"]))
        li_attrs = st.sampled_from(["", ' xml:lang="x-default"', ' xml:lang="ko"',
                                    ' rdf:parseType="Resource"', ' rdf:nodeID="n1"'])
        items = draw(st.lists(st.tuples(li_attrs, inner), max_size=4))
        lis = "".join(f"<rdf:li{attr}>{value}</rdf:li>" for attr, value in items)
        return f"<rdf:{kind}>{lis}</rdf:{kind}>"

    @st.composite
    def struct_(draw: st.DrawFn) -> str:
        props = draw(st.lists(st.tuples(st.sampled_from(PROPS), inner), max_size=3))
        body = "".join(f"<{p}>{v}</{p}>" for p, v in props)
        if draw(st.booleans()):
            return f"<rdf:Description>{body}</rdf:Description>"
        return body

    return st.one_of(text, array(), struct_())


@st.composite
def xmp_packets(draw: st.DrawFn) -> bytes:
    """An XMP packet: wrapper or not, rdf:Description with attribute and element properties,
    arrays, structures, parseType, nodeID, deep nesting; sometimes a DTD, entities, bad XML,
    UTF-16."""
    depth = draw(st.integers(0, 3))
    props = draw(st.lists(st.tuples(st.sampled_from(PROPS), _xml_value(depth)), max_size=6))
    attrs = draw(st.lists(st.tuples(st.sampled_from(PROPS), XML_TEXT.map(_esc)), max_size=3))
    declared = draw(st.lists(st.sampled_from(sorted(NAMESPACES)), unique=True))
    ns = "".join(f' xmlns:{p}="{NAMESPACES[p]}"' for p in declared)
    attr_text = "".join(f' {p}="{v}"' for p, v in attrs)
    body = "".join(f"<{p}>{v}</{p}>" for p, v in props)
    about = draw(st.sampled_from(['rdf:about=""', 'rdf:about="uuid:1"', "", 'rdf:nodeID="n1"']))
    nest = draw(st.sampled_from([0, 0, 0, 70, 300]))  # deeper than max_xml_depth sometimes
    body = "<rdf:Description>" * nest + body + "</rdf:Description>" * nest
    xml = (f'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           f"<rdf:Description {about}{ns}{attr_text}>{body}</rdf:Description></rdf:RDF>")
    if draw(st.booleans()):
        xml = f'<x:xmpmeta xmlns:x="adobe:ns:meta/">{xml}</x:xmpmeta>'
    if draw(st.booleans()):
        xml = ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>' + xml +
               " " * draw(st.integers(0, 64)) + '<?xpacket end="w"?>')
    evil = draw(st.sampled_from([None] * 6 + [
        '<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>',
        '<!DOCTYPE r SYSTEM "file:///etc/passwd">',
        '<!DOCTYPE r [<!ENTITY x SYSTEM "http://example.invalid/x">]>',
        '<?xml version="1.0" encoding="utf-8"?>',
        '<?xml version="1.0" encoding="x-unknown"?>',
    ]))
    if evil:
        xml = evil + xml.replace("<rdf:Description>", "<rdf:Description>&b;", 1)
    encoding = draw(st.sampled_from(["utf-8"] * 6 + ["utf-16", "utf-16-be", "utf-32", "latin-1"]))
    data = xml.encode(encoding, "replace") if encoding != "utf-8" else xml.encode(
        "utf-8", "surrogatepass")
    return _truncate(draw, data)


# -- IPTC-IIM and Photoshop resources --------------------------------------------------------------

IIM_KEYS = [(1, 90), (1, 0), (2, 0), (2, 5), (2, 25), (2, 80), (2, 90), (2, 92), (2, 95),
            (2, 100), (2, 101), (2, 105), (2, 110), (2, 116), (2, 120), (2, 55), (2, 60), (8, 10)]


@st.composite
def iim_blocks(draw: st.DrawFn) -> bytes:
    """IPTC-IIM datasets: standard and extended lengths, charset marker, some lies."""
    out = bytearray()
    for _ in range(draw(st.integers(0, 10))):
        record, number = draw(st.one_of(st.sampled_from(IIM_KEYS),
                                        st.tuples(st.integers(0, 255), st.integers(0, 255))))
        value = draw(st.one_of(
            TEXT.map(lambda t: t.encode("utf-8", "surrogatepass")),
            TEXT.map(lambda t: t.encode("latin-1", "replace")),
            st.just(b"\x1b%G"), RAW))
        marker = 0x1C if draw(st.integers(0, 15)) else draw(st.integers(0, 255))
        out += bytes([marker, record, number])
        if draw(st.integers(0, 5)):
            out += struct.pack(">H", _maybe_wrong(draw, len(value), 15))
        else:  # extended length: 0x8000 | number of length bytes, then the length
            n = draw(st.sampled_from([1, 2, 4, 8, 0, 0x7FFF]))
            out += struct.pack(">H", 0x8000 | n)
            out += len(value).to_bytes(8, "big")[-max(1, min(n, 8)):] if n else b""
        out += value
    out += b"\0" * draw(st.sampled_from([0, 0, 1, 3]))
    return _truncate(draw, bytes(out))


@st.composite
def irb_blocks(draw: st.DrawFn) -> bytes:
    """Photoshop image resource blocks: 8BIM headers, Pascal names, sizes, even padding; IIM in
    0x0404 and a digest in 0x0425."""
    out = bytearray()
    for _ in range(draw(st.integers(0, 5))):
        rid = draw(st.one_of(st.sampled_from([0x0404, 0x0425, 0x040C, 0x0422, 0x0424]), U16))
        other = st.one_of(RAW, st.binary(min_size=16, max_size=16))
        data = draw(iim_blocks()) if rid == 0x0404 else draw(other)
        sig = b"8BIM" if draw(st.integers(0, 15)) else draw(st.sampled_from([b"MeSa", b"8B64",
                                                                              b"\0\0\0\0"]))
        name = draw(st.binary(max_size=5))
        out += sig + struct.pack(">HB", rid, _maybe_wrong(draw, len(name), 8)) + name
        if not len(name) & 1:
            out += b"\0"
        out += struct.pack(">I", _maybe_wrong(draw, len(data))) + data
        if len(data) & 1 and draw(st.integers(0, 5)):
            out += b"\0"
    return _truncate(draw, bytes(out))


# -- JPEG ------------------------------------------------------------------------------------------

XMP_SIG = b"http://ns.adobe.com/xap/1.0/\0"
XMP_EXT_SIG = b"http://ns.adobe.com/xmp/extension/\0"


def _segment(draw: st.DrawFn, marker: int, payload: bytes) -> bytes:
    payload = payload[:0xFFFD]
    return bytes([0xFF, marker]) + struct.pack(">H", _maybe_wrong(draw, len(payload) + 2, 16, 24)
                                               ) + payload


@st.composite
def _jpeg_segment(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["exif", "xmp", "ext", "irb", "mpf", "com", "app0", "other",
                                 "fill", "rst"]))
    if kind == "exif":
        return _segment(draw, 0xE1, b"Exif\0\0" + draw(tiff_blocks()))
    if kind == "xmp":
        return _segment(draw, 0xE1, XMP_SIG + draw(xmp_packets()))
    if kind == "ext":
        chunk = draw(xmp_packets())
        full = _maybe_wrong(draw, len(chunk))
        offset = draw(st.one_of(st.just(0), WEIRD32))
        guid = draw(st.sampled_from([b"0" * 32, b"A" * 32, b"\xff" * 32]))
        return _segment(draw, 0xE1, XMP_EXT_SIG + guid + struct.pack(">II", full, offset) + chunk)
    if kind == "irb":
        return _segment(draw, 0xED, b"Photoshop 3.0\0" + draw(irb_blocks()))
    if kind == "mpf":
        return _segment(draw, 0xE2, b"MPF\0" + draw(tiff_blocks(max_ifds=2)))
    if kind == "com":
        return _segment(draw, 0xFE, draw(RAW))
    if kind == "app0":
        return _segment(draw, 0xE0, b"JFIF\0\x01\x02\0\0\x01\0\x01\0\0")
    if kind == "fill":
        return b"\xff" * draw(st.integers(1, 4))
    if kind == "rst":
        return bytes([0xFF, draw(st.sampled_from([0x01, 0xD0, 0xD7, 0x00, 0xD8, 0xD9]))])
    return _segment(draw, draw(st.integers(0xC0, 0xFE)), draw(RAW))


@st.composite
def jpeg_files(draw: st.DrawFn) -> bytes:
    """SOI, metadata and other segments (some lying about their length), SOS, scan data, EOI."""
    segments = draw(st.lists(_jpeg_segment(), max_size=6))
    sos = _segment(draw, 0xDA, b"\x01\x01\x00\x00\x3f\x00")
    scan = draw(st.binary(max_size=32)).replace(b"\xff", b"\xff\x00")
    tail = draw(st.sampled_from([b"\xff\xd9", b"", b"\xff\xd9trailer", b"\xff\xd9\xff\xd8\xff"]))
    return _truncate(draw, b"\xff\xd8" + b"".join(segments) + sos + scan + tail)


# -- PNG -------------------------------------------------------------------------------------------


def _png_chunk(draw: st.DrawFn, kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data)
    if not draw(st.integers(0, 11)):
        crc ^= 1
    return struct.pack(">I", _maybe_wrong(draw, len(data), 31, 16)) + kind + data + struct.pack(
        ">I", crc & 0xFFFFFFFF)


def _raw_profile(kind: str, data: bytes) -> bytes:
    hexed = data.hex()
    lines = "\n".join(hexed[i : i + 72] for i in range(0, len(hexed), 72))
    return f"\n{kind}\n{len(data):8d}\n{lines}\n".encode("ascii")


@st.composite
def _png_meta(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["exif", "itxt", "ztxt", "text", "raw-exif", "raw-iptc",
                                 "other"]))
    if kind == "exif":
        return _png_chunk(draw, b"eXIf", draw(tiff_blocks()))
    if kind == "itxt":
        compressed = draw(st.booleans())
        xmp = draw(xmp_packets())
        body = zlib.compress(xmp) if compressed else xmp
        return _png_chunk(draw, b"iTXt", b"XML:com.adobe.xmp\0" + bytes([compressed, 0]) +
                          b"\0\0" + body)
    if kind == "ztxt":
        return _png_chunk(draw, b"zTXt", b"Comment\0\0" + zlib.compress(draw(RAW) * 8))
    if kind == "text":
        return _png_chunk(draw, b"tEXt", b"Title\0" + draw(RAW))
    if kind in ("raw-exif", "raw-iptc"):
        block = draw(tiff_blocks()) if kind == "raw-exif" else draw(irb_blocks())
        keyword = b"Raw profile type exif" if kind == "raw-exif" else b"Raw profile type iptc"
        text = _raw_profile(kind[4:], block)
        if draw(st.booleans()):
            return _png_chunk(draw, b"zTXt", keyword + b"\0\0" + zlib.compress(text))
        return _png_chunk(draw, b"tEXt", keyword + b"\0" + text)
    return _png_chunk(draw, draw(st.binary(min_size=4, max_size=4)), draw(RAW))


@st.composite
def png_files(draw: st.DrawFn) -> bytes:
    """PNG signature, IHDR, metadata chunks before and after IDAT, IEND (CRCs sometimes wrong)."""
    ihdr = _png_chunk(draw, b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
    idat = _png_chunk(draw, b"IDAT", zlib.compress(b"\0\0\0\0"))
    before = draw(st.lists(_png_meta(), max_size=3))
    after = draw(st.lists(_png_meta(), max_size=2))
    end = _png_chunk(draw, b"IEND", b"")
    data = b"\x89PNG\r\n\x1a\n" + ihdr + b"".join(before) + idat + b"".join(after) + end
    return _truncate(draw, data)


# -- WebP (RIFF) -----------------------------------------------------------------------------------


def _riff_chunk(draw: st.DrawFn, kind: bytes, data: bytes) -> bytes:
    pad = b"\0" if len(data) & 1 and draw(st.integers(0, 5)) else b""
    return kind + struct.pack("<I", _maybe_wrong(draw, len(data))) + data + pad


@st.composite
def webp_files(draw: st.DrawFn) -> bytes:
    """RIFF/WEBP: simple (VP8/VP8L) or extended (VP8X with EXIF/XMP/ICCP flags) files."""
    image = draw(st.sampled_from([
        (b"VP8 ", b"\x30\x01\x00\x9d\x01\x2a\x01\x00\x01\x00" + b"\0" * 8),
        (b"VP8L", b"\x2f\x00\x00\x00\x00" + b"\0" * 4),
    ]))
    chunks = []
    if draw(st.integers(0, 3)):
        flags = draw(st.integers(0, 255))
        chunks.append(_riff_chunk(draw, b"VP8X", bytes([flags, 0, 0, 0]) + b"\0\0\0\0\0\0"))
    extras = draw(st.lists(st.sampled_from(["exif", "exif-hdr", "xmp", "iccp", "other"]),
                           max_size=4))
    before = draw(st.booleans())
    meta = []
    for kind in extras:
        if kind == "exif":
            meta.append(_riff_chunk(draw, b"EXIF", draw(tiff_blocks())))
        elif kind == "exif-hdr":
            meta.append(_riff_chunk(draw, b"EXIF", b"Exif\0\0" + draw(tiff_blocks())))
        elif kind == "xmp":
            meta.append(_riff_chunk(draw, b"XMP ", draw(xmp_packets())))
        elif kind == "iccp":
            meta.append(_riff_chunk(draw, b"ICCP", draw(RAW)))
        else:
            meta.append(_riff_chunk(draw, draw(st.binary(min_size=4, max_size=4)), draw(RAW)))
    body_chunks = [*chunks, *(meta if before else []), _riff_chunk(draw, *image),
                   *([] if before else meta)]
    body = b"WEBP" + b"".join(body_chunks)
    data = b"RIFF" + struct.pack("<I", _maybe_wrong(draw, len(body))) + body
    return _truncate(draw, data)


# -- ISO BMFF (HEIF / AVIF) ------------------------------------------------------------------------


def _box(draw: st.DrawFn, kind: bytes, payload: bytes) -> bytes:
    form = draw(st.sampled_from(["normal"] * 8 + ["large", "zero", "lie"]))
    if form == "large":
        return struct.pack(">I", 1) + kind + struct.pack(">Q", len(payload) + 16) + payload
    if form == "zero":
        return struct.pack(">I", 0) + kind + payload
    if form == "lie":
        return struct.pack(">I", draw(st.one_of(st.integers(0, 16), WEIRD32))) + kind + payload
    return struct.pack(">I", len(payload) + 8) + kind + payload


def _full_box(draw: st.DrawFn, kind: bytes, version: int, payload: bytes) -> bytes:
    return _box(draw, kind, bytes([version, 0, 0, 0]) + payload)


@st.composite
def bmff_files(draw: st.DrawFn) -> bytes:
    """ftyp, mdat, meta (hdlr, iinf with Exif and XMP items, iloc pointing into idat or mdat).

    The item locations are computed for the layout produced, then sometimes lie."""
    brand = draw(st.sampled_from([b"heic", b"avif", b"mif1", b"heix", b"msf1", b"isom"]))
    ftyp = _box(draw, b"ftyp", brand + b"\0\0\0\0" + b"mif1" + brand)
    exif_payload = struct.pack(">I", draw(st.sampled_from([0, 6, 0xFFFF]))) + (
        b"Exif\0\0" if draw(st.booleans()) else b"") + draw(tiff_blocks())
    xmp_payload = draw(xmp_packets())
    items = [(1, b"Exif", b"", exif_payload), (2, b"mime", b"application/rdf+xml\0", xmp_payload)]
    items = draw(st.permutations(items))[: draw(st.integers(0, 2))]
    infe = b"".join(
        _full_box(draw, b"infe", 2, struct.pack(">HH", iid, 0) + kind + b"\0" + ctype)
        for iid, kind, ctype, _ in items)
    iinf = _full_box(draw, b"iinf", 0, struct.pack(">H", _maybe_wrong(draw, len(items), 16))
                     + infe)
    hdlr = _full_box(draw, b"hdlr", 0, b"\0\0\0\0pict" + b"\0" * 12 + b"\0")
    in_idat = draw(st.booleans())
    idat_body = b"".join(p for *_, p in items)

    mdat = b"" if in_idat else _box(draw, b"mdat", idat_body)
    base = len(ftyp) + len(mdat) - len(idat_body)  # the mdat comes first: its offsets are known
    entries = b""
    pos = 0
    for iid, _, _, payload in items:
        offset = pos if in_idat else base + pos
        entries += struct.pack(">HHHH", iid, 1 if in_idat else 0, 0, 1)
        entries += struct.pack(">II", _maybe_wrong(draw, offset), _maybe_wrong(draw, len(payload)))
        pos += len(payload)
    iloc = _full_box(draw, b"iloc", 1, bytes([0x44, 0x00]) + struct.pack(">H", len(items))
                     + entries)
    idat = _box(draw, b"idat", idat_body) if in_idat else b""
    meta = _full_box(draw, b"meta", 0, hdlr + iinf + iloc + idat)
    extra = draw(st.sampled_from([b"", b"\0\0\0\x10free\0\0\0\0\0\0\0\0"]))
    return _truncate(draw, ftyp + mdat + meta + extra)


STRATEGIES: dict[str, Callable[[], st.SearchStrategy[bytes]]] = {
    "exif": tiff_blocks,
    "exif-write": tiff_blocks,
    "xmp": xmp_packets,
    "iptc": irb_blocks,
    "jpeg": jpeg_files,
    "png": png_files,
    "webp": webp_files,
    "bmff": bmff_files,
    "tiff": tiff_blocks,
    "write": jpeg_files,
}
"""Which strategy feeds which fuzz target (tests/fuzz/targets.py)."""
