"""PNG: ``eXIf``, XMP in ``iTXt`` (``XML:com.adobe.xmp``), legacy "Raw profile type" text chunks.

Reading walks every chunk (metadata may follow the image data), reads only the chunks that can
hold metadata, and seeks over the rest. EXIF comes from the first ``eXIf`` chunk, else from a
``Raw profile type exif`` (or ``APP1``) text chunk as ImageMagick writes them; XMP from the first
text chunk with the ``XML:com.adobe.xmp`` keyword (``iTXt`` preferred), else from a
``Raw profile type xmp`` (or ``APP1``) chunk; IPTC-IIM and Photoshop resources from
``Raw profile type iptc`` / ``8bim``. Compressed text is inflated with a cap taken from the
:class:`~photometa.Limits`.

CRCs: a tolerant read checks the CRC of each chunk it reads and reports a mismatch as a warning. A
strict read (the write path) checks every chunk: a bad CRC on a critical chunk (``IHDR``, ``PLTE``,
``IDAT``, ...) or on a chunk photometa reads metadata from refuses the file; on any other ancillary
chunk it is a warning, and that chunk is copied as it is (never repaired).

Writing replaces the EXIF source chunk with an ``eXIf`` chunk and the XMP source chunk with an
uncompressed ``iTXt`` chunk, in place when the old chunk lies before the first ``IDAT``; otherwise
the old chunk is dropped and the new one goes right after ``IHDR`` (``eXIf`` first). Every other
chunk, and any data after ``IEND``, is copied byte for byte by the kernel, never through Python
buffers.
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass, field
from typing import BinaryIO, Final

from .._binary import Limits, check_limit
from .._fileio import reader_at
from .._metadata import Blocks
from ..errors import CorruptFileError, LimitExceededError, PhotometaError
from . import Container, Update, WriteResult, write_pieces

__all__ = ["CONTAINER", "Chunk", "PngLayout", "chunk_bytes", "read_layout"]

SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
XMP_KEYWORD: Final = b"XML:com.adobe.xmp"
RAW_PROFILE: Final = b"Raw profile type "
EXIF_PREFIX: Final = b"Exif\x00\x00"
APP1_XMP_SIG: Final = b"http://ns.adobe.com/xap/1.0/\x00"
MAX_CHUNK: Final = 0x7FFFFFFF  # PNG chunk lengths are limited to 2^31 - 1
TEXT_TYPES: Final = frozenset({b"tEXt", b"zTXt", b"iTXt"})
RAW_KINDS: Final = frozenset({b"exif", b"xmp", b"iptc", b"8bim", b"app1"})
_PROBE: Final = 80  # a keyword is 1-79 bytes and a NUL
_STREAM: Final = 1 << 20
_HEADER: Final = struct.Struct(">I4s")
_U32: Final = struct.Struct(">I")
_RAW_HEAD: Final = re.compile(rb"\n?([^\n]*)\n[ \t]*(\d{1,10})[ \t]*\r?\n")


@dataclass
class Chunk:
    """One chunk: ``offset`` of its length field, ``length`` of its data.

    ``data`` is read for chunks that may hold metadata (``eXIf`` and text chunks with a metadata
    keyword), ``None`` otherwise. ``crc_ok`` is ``None`` when the CRC was not checked.
    """

    type: bytes
    offset: int
    length: int
    keyword: bytes | None = None
    data: bytes | None = None
    crc_ok: bool | None = None

    @property
    def size(self) -> int:
        """Bytes the chunk takes in the file (length, type, data and CRC)."""
        return 12 + self.length

    @property
    def critical(self) -> bool:
        """Critical chunks (upper-case first letter) are needed to show the image."""
        return not self.type[0] & 0x20

    @property
    def name(self) -> str:
        """The chunk type as text."""
        return self.type.decode("latin-1")


@dataclass
class PngLayout:
    """The chunks of a PNG file as the walk found them.

    Attributes:
        chunks: every chunk up to and including ``IEND`` (or up to where the walk stopped).
        first_image: index in ``chunks`` of the first ``IDAT``, ``None`` if there is none.
        end: offset just after the last chunk walked (after ``IEND`` in a sound file).
        size: the file size; bytes from ``end`` to ``size`` are trailing data.
        warnings: problems met while walking tolerantly.
    """

    chunks: list[Chunk] = field(default_factory=list)
    first_image: int | None = None
    end: int = len(SIGNATURE)
    size: int = 0
    warnings: list[PhotometaError] = field(default_factory=list)


def accept(head: bytes) -> bool:
    """PNG starts with its 8-byte signature."""
    return head[:8] == SIGNATURE


def _interesting(ctype: bytes, keyword: bytes | None) -> bool:
    if ctype == b"eXIf":
        return True
    if keyword is None:
        return False
    if keyword == XMP_KEYWORD:
        return True
    return keyword.startswith(RAW_PROFILE) and keyword[len(RAW_PROFILE):].lower() in RAW_KINDS


def _crc_stream(f: BinaryIO, ctype: bytes, length: int) -> int:
    crc = zlib.crc32(ctype)
    remaining = length
    while remaining:
        piece = f.read(min(_STREAM, remaining))
        if not piece:
            break
        crc = zlib.crc32(piece, crc)
        remaining -= len(piece)
    return crc


def read_layout(f: BinaryIO, limits: Limits, strict: bool) -> PngLayout:
    """Walk the chunks of a PNG file, reading the data of metadata chunks only.

    Tolerant by default: a broken structure ends the walk with a warning. With ``strict`` any
    structural problem, and a bad CRC on a critical or metadata chunk, raises
    :class:`CorruptFileError`; every chunk's CRC is then checked.
    """
    f.seek(0, 2)
    size = f.tell()
    read_at = reader_at(f)
    if read_at(0, len(SIGNATURE)) != SIGNATURE:
        raise CorruptFileError("not a PNG: bad signature", code="png-signature", offset=0)
    layout = PngLayout(size=size)
    pos = len(SIGNATURE)
    total = 0

    def problem(err: PhotometaError) -> None:
        if strict:
            raise err
        layout.warnings.append(err)

    while True:
        if pos >= size:
            problem(CorruptFileError("file ends without an IEND chunk", code="png-truncated",
                                     offset=pos))
            break
        head = read_at(pos, 8)
        if len(head) < 8:
            problem(CorruptFileError("file ends inside a chunk header", code="png-truncated",
                                     offset=pos))
            break
        length, ctype = _HEADER.unpack(head)
        if not ctype.isalpha():
            problem(CorruptFileError(f"invalid chunk type {ctype!r}", code="png-chunk-type",
                                     offset=pos + 4))
            break
        chunk = Chunk(ctype, pos, length)
        if length > MAX_CHUNK:
            problem(CorruptFileError(f"{chunk.name} chunk length {length} exceeds 2^31-1",
                                     code="png-length", offset=pos))
            break
        if pos + chunk.size > size:
            problem(CorruptFileError(
                f"{chunk.name} chunk needs {chunk.size} bytes, the file has {size - pos} left",
                code="png-truncated", offset=pos))
            break
        if not layout.chunks and ctype != b"IHDR":
            problem(CorruptFileError("the first chunk is not IHDR", code="png-ihdr", offset=pos))
        layout.chunks.append(chunk)
        if len(layout.chunks) > limits.max_boxes:
            problem(LimitExceededError(f"more than {limits.max_boxes} chunks", code="limit",
                                       offset=pos))
            break
        if ctype == b"IDAT" and layout.first_image is None:
            layout.first_image = len(layout.chunks) - 1
        probe = b""
        if ctype in TEXT_TYPES:
            probe = read_at(pos + 8, min(length, _PROBE))
            nul = probe.find(b"\x00")
            chunk.keyword = probe[:nul] if nul > 0 else None
        if _interesting(ctype, chunk.keyword):
            try:
                check_limit(length, limits.max_segment_bytes, f"{chunk.name} chunk", offset=pos)
                total += length
                check_limit(total, limits.max_metadata_bytes, "metadata in the file", offset=pos)
            except LimitExceededError as err:
                problem(err)
            else:
                rest = read_at(pos + 8 + len(probe), length - len(probe) + 4)
                if len(rest) < length - len(probe) + 4:  # the file shrank under us
                    problem(CorruptFileError(f"file ends inside the {chunk.name} chunk",
                                             code="png-truncated", offset=pos))
                    break
                data = probe + rest[:-4]
                (stored,) = _U32.unpack(rest[-4:])
                chunk.data = data
                chunk.crc_ok = zlib.crc32(data, zlib.crc32(ctype)) == stored
                if not chunk.crc_ok:
                    problem(CorruptFileError(f"{chunk.name} chunk fails its CRC", code="png-crc",
                                             offset=pos))
        elif strict:
            f.seek(pos + 8)
            crc = _crc_stream(f, ctype, length)
            (stored,) = struct.unpack(">I", f.read(4))
            chunk.crc_ok = crc == stored
            if not chunk.crc_ok:
                bad = CorruptFileError(f"{chunk.name} chunk fails its CRC", code="png-crc",
                                       offset=pos)
                if chunk.critical:
                    raise bad
                layout.warnings.append(bad)
        pos += chunk.size
        layout.end = pos
        if ctype == b"IEND":
            break
    if layout.first_image is None and strict:
        raise CorruptFileError("no IDAT chunk: the file holds no image data", code="png-no-idat",
                               offset=layout.end)
    if layout.end < size and layout.chunks and layout.chunks[-1].type == b"IEND":
        layout.warnings.append(CorruptFileError(
            f"{size - layout.end} bytes of trailing data after IEND (kept as they are)",
            code="png-trailer", offset=layout.end))
    return layout


# -- decoding the metadata chunks ----------------------------------------------------------------


def _inflate(data: bytes, limit: int, what: str, offset: int) -> bytes:
    """Decompress a zlib stream, producing at most ``limit`` bytes."""
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, limit + 1)
    except zlib.error as err:
        raise CorruptFileError(f"cannot decompress the {what}: {err}", code="png-zlib",
                               offset=offset) from err
    check_limit(len(out), limit, f"decompressed {what}", offset=offset)
    if not d.eof:
        raise CorruptFileError(f"the compressed {what} is truncated", code="png-zlib",
                               offset=offset)
    return out


def _text_of(chunk: Chunk, limit: int) -> bytes:
    """The text of a tEXt, zTXt or iTXt chunk, inflated when compressed (at most ``limit``)."""
    data = chunk.data
    assert data is not None
    what = f"{chunk.name} '{(chunk.keyword or b'').decode('latin-1')}'"
    start = data.index(b"\x00") + 1
    if chunk.type == b"tEXt":
        return data[start:]
    if chunk.type == b"zTXt":
        if len(data) < start + 1 or data[start] != 0:
            raise CorruptFileError(f"unknown compression method in {what}", code="png-text",
                                   offset=chunk.offset)
        return _inflate(data[start + 1 :], limit, what, chunk.offset)
    # iTXt: flag, method, language tag NUL, translated keyword NUL, text
    if len(data) < start + 2:
        raise CorruptFileError(f"{what} is too short", code="png-text", offset=chunk.offset)
    flag, method = data[start], data[start + 1]
    lang_end = data.find(b"\x00", start + 2)
    tkw_end = data.find(b"\x00", lang_end + 1) if lang_end >= 0 else -1
    if tkw_end < 0:
        raise CorruptFileError(f"{what} lacks its language or translated keyword",
                               code="png-text", offset=chunk.offset)
    text = data[tkw_end + 1 :]
    if flag == 0:
        return text
    if flag != 1 or method != 0:
        raise CorruptFileError(f"unknown compression in {what}", code="png-text",
                               offset=chunk.offset)
    return _inflate(text, limit, what, chunk.offset)


def _raw_profile(text: bytes, limits: Limits, offset: int) -> bytes:
    """Decode ImageMagick's hex form: ``\\n<type>\\n<spaces><length>\\n<hex digits in lines>``."""
    m = _RAW_HEAD.match(text)
    if m is None:
        raise CorruptFileError("raw profile is not in the hex text form", code="png-raw-profile",
                               offset=offset)
    declared = int(m.group(2))
    check_limit(declared, limits.max_segment_bytes, "raw profile", offset=offset)
    digits = text[m.end() :].rstrip(b"\x00")
    try:
        data = bytes.fromhex(digits.decode("ascii"))
    except ValueError as err:  # also UnicodeDecodeError
        raise CorruptFileError("raw profile holds characters that are not hex digits",
                               code="png-raw-profile", offset=offset) from err
    if len(data) < declared:
        raise CorruptFileError(f"raw profile declares {declared} bytes but holds {len(data)}",
                               code="png-raw-profile", offset=offset)
    return data[:declared]


def _strip_exif_prefix(data: bytes) -> bytes:
    return data[len(EXIF_PREFIX):] if data.startswith(EXIF_PREFIX) else data


@dataclass
class _Found:
    """Decoded metadata chunks by kind, in file order: (chunk index, payload)."""

    exif: list[tuple[int, bytes]] = field(default_factory=list)
    raw_exif: list[tuple[int, bytes]] = field(default_factory=list)
    xmp_itxt: list[tuple[int, bytes]] = field(default_factory=list)
    xmp_text: list[tuple[int, bytes]] = field(default_factory=list)
    raw_xmp: list[tuple[int, bytes]] = field(default_factory=list)
    irb: list[tuple[int, bytes]] = field(default_factory=list)
    iim: list[tuple[int, bytes]] = field(default_factory=list)


def _decode(layout: PngLayout, limits: Limits, strict: bool
            ) -> tuple[Blocks, dict[str, int]]:
    """The blocks, and for EXIF and XMP the index of the chunk each came from."""
    blocks = Blocks(warnings=list(layout.warnings))
    found = _Found()
    budget = limits.max_metadata_bytes

    for index, chunk in enumerate(layout.chunks):
        if chunk.data is None:
            continue
        if chunk.type == b"eXIf":
            found.exif.append((index, _strip_exif_prefix(chunk.data)))
            continue
        keyword = chunk.keyword or b""
        is_xmp = keyword == XMP_KEYWORD
        try:
            # a raw profile is hex text: two digits a byte, a newline every 72 digits
            hex_room = 2 * limits.max_segment_bytes + limits.max_segment_bytes // 18 + 256
            limit = max(0, min(limits.max_xmp_bytes if is_xmp else hex_room, budget))
            text = _text_of(chunk, limit)
            budget -= len(text)
            if is_xmp:
                (found.xmp_itxt if chunk.type == b"iTXt" else found.xmp_text).append((index, text))
                continue
            kind = keyword[len(RAW_PROFILE):].lower()
            data = _raw_profile(text, limits, chunk.offset)
        except LimitExceededError as err:
            if strict:
                raise
            blocks.warnings.append(err)
            continue
        except CorruptFileError as err:
            # a broken XMP chunk would be rewritten: refuse; a broken legacy profile is only kept
            if strict and is_xmp:
                raise
            blocks.warnings.append(err)
            continue
        if kind == b"exif":
            found.raw_exif.append((index, _strip_exif_prefix(data)))
        elif kind == b"xmp":
            found.raw_xmp.append((index, data))
        elif kind == b"app1":
            if data.startswith(EXIF_PREFIX):
                found.raw_exif.append((index, data[len(EXIF_PREFIX):]))
            elif data.startswith(APP1_XMP_SIG):
                found.raw_xmp.append((index, data[len(APP1_XMP_SIG):]))
        elif kind == b"8bim" or (kind == b"iptc" and data.startswith(b"8BIM")):
            found.irb.append((index, data))
        elif kind == b"iptc":
            found.iim.append((index, data))

    sources: dict[str, int] = {}
    for candidates in (found.exif, found.raw_exif):
        if candidates:
            sources["exif"], blocks.exif = candidates[0]
            break
    for candidates in (found.xmp_itxt, found.xmp_text, found.raw_xmp):
        if candidates:
            sources["xmp"], blocks.xmp = candidates[0]
            break
    if found.irb:
        blocks.irb = found.irb[0][1]
    if found.iim:
        blocks.iim = found.iim[0][1]
    return blocks, sources


def read(f: BinaryIO, limits: Limits, strict: bool) -> Blocks:
    """Read the metadata blocks of a PNG file."""
    return _decode(read_layout(f, limits, strict), limits, strict)[0]


# -- writing -------------------------------------------------------------------------------------


def chunk_bytes(ctype: bytes, data: bytes) -> bytes:
    """A complete chunk: length, type, data and CRC."""
    if len(data) > MAX_CHUNK:
        raise LimitExceededError(
            f"a PNG chunk holds at most {MAX_CHUNK} bytes, this {ctype.decode('latin-1')} "
            f"chunk needs {len(data)}", code="png-chunk-too-large")
    return struct.pack(">I4s", len(data), ctype) + data + struct.pack(
        ">I", zlib.crc32(data, zlib.crc32(ctype)))


def xmp_chunk(packet: bytes) -> bytes:
    """An uncompressed iTXt chunk holding an XMP packet (no language, no translated keyword)."""
    return chunk_bytes(b"iTXt", XMP_KEYWORD + b"\x00\x00\x00\x00\x00" + packet)


def write(src: BinaryIO, dst: BinaryIO, update: Update, limits: Limits) -> WriteResult:
    """Write ``src`` to ``dst`` with the EXIF and XMP of ``update``; refuse a broken PNG.

    The chunks are walked tolerantly first, which reads metadata chunks only (the caller has
    just read the file strictly, every CRC included: photometa.write does); any problem found
    walks the file again strictly, so the error raised is the strict read's.
    """
    src.seek(0)
    layout = read_layout(src, limits, strict=False)
    if layout.warnings or layout.first_image is None:
        src.seek(0)
        layout = read_layout(src, limits, strict=True)
    _blocks, sources = _decode(layout, limits, strict=True)
    first = layout.first_image
    assert first is not None  # the strict walk guarantees an IDAT
    new: dict[str, bytes] = {}
    if update.exif is not None:
        new["exif"] = chunk_bytes(b"eXIf", update.exif)
    if update.xmp is not None:
        new["xmp"] = xmp_chunk(update.xmp)
    replace: dict[int, bytes] = {}  # chunk index -> new bytes (b"" drops the chunk)
    after_ihdr: list[bytes] = []
    for kind in ("exif", "xmp"):
        if kind not in new:
            continue
        index = sources.get(kind)
        if index is not None and index < first:
            replace[index] = new[kind]
        else:
            if index is not None:
                replace[index] = b""
            after_ihdr.append(new[kind])

    pieces: list[bytes | tuple[int, int]] = [(0, len(SIGNATURE))]
    for index, chunk in enumerate(layout.chunks):
        if index in replace:
            if replace[index]:
                pieces.append(replace[index])
        else:
            pieces.append((chunk.offset, chunk.size))
        if index == 0:
            pieces.extend(after_ihdr)
    if layout.end < layout.size:
        pieces.append((layout.end, layout.size - layout.end))
    return write_pieces(src, dst, pieces)


CONTAINER: Final = Container(
    name="png",
    accept=accept,
    read=read,
    write=write,
    max_xmp_bytes=None,
    holds_iim=False,
    extensions=(".png",),
)
