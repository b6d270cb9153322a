"""WebP (RIFF): ``EXIF`` and ``XMP `` chunks; ``VP8X`` made or updated so its flags tell the truth.

Reading walks the RIFF chunks and reads only ``VP8X``, ``EXIF`` and ``XMP ``; an ``EXIF`` chunk that
wrongly starts with JPEG's ``Exif\\0\\0`` prefix (as some writers made them) is read without it.

Writing keeps every chunk in order and byte for byte (the image data ``VP8 ``, ``VP8L``, ``ALPH``
and ``ANMF`` chunks are copied by the kernel, never through Python buffers), replaces the ``EXIF``
and ``XMP `` chunks where they stand when they follow the image data, and otherwise puts them where
the container specification wants them: ``EXIF`` right after the last image chunk, ``XMP `` after
``EXIF``. A simple lossy (``VP8 ``) or lossless (``VP8L``) file gets a ``VP8X`` chunk with the
canvas size read from the bitstream header and the alpha flag (``VP8L`` alpha hint, or an ``ALPH``
chunk); in an extended file only the EXIF (0x08) and XMP (0x04) flags of ``VP8X`` change. The RIFF
size is recomputed and odd-sized chunks keep their padding byte. IPTC-IIM has no place in WebP.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import BinaryIO, Final

from .._binary import Limits, check_limit
from .._metadata import Blocks
from ..errors import CorruptFileError, LimitExceededError, PhotometaError
from . import Container, Update, WriteResult, write_pieces

__all__ = ["CONTAINER", "RiffChunk", "WebpLayout", "canvas_of", "read_layout"]

EXIF_PREFIX: Final = b"Exif\x00\x00"
IMAGE_CHUNKS: Final = frozenset({b"VP8 ", b"VP8L", b"ALPH", b"ANMF"})
FIRST_CHUNKS: Final = frozenset({b"VP8 ", b"VP8L", b"VP8X"})
FLAG_ANIMATION: Final = 0x02
FLAG_XMP: Final = 0x04
FLAG_EXIF: Final = 0x08
FLAG_ALPHA: Final = 0x10
FLAG_ICC: Final = 0x20
MAX_RIFF: Final = 0xFFFFFFFE  # the RIFF size field is 32 bits and even


@dataclass
class RiffChunk:
    """One chunk: ``offset`` of its FourCC, ``size`` of its payload; ``padded`` when the padding
    byte an odd size needs is present. ``data`` is read for VP8X, EXIF and XMP only."""

    fourcc: bytes
    offset: int
    size: int
    padded: bool = True
    data: bytes | None = None

    @property
    def span(self) -> int:
        """Bytes the chunk takes in the file (header, payload and padding when present)."""
        return 8 + self.size + (self.size & 1 if self.padded else 0)

    @property
    def name(self) -> str:
        """The FourCC as text."""
        return self.fourcc.decode("latin-1")


@dataclass
class WebpLayout:
    """The chunks of a WebP file. Bytes from ``riff_end`` to ``size`` lie outside the RIFF form."""

    chunks: list[RiffChunk] = field(default_factory=list)
    riff_end: int = 12
    size: int = 0
    warnings: list[PhotometaError] = field(default_factory=list)


def accept(head: bytes) -> bool:
    """A RIFF form of type WEBP."""
    return head[:4] == b"RIFF" and head[8:12] == b"WEBP"


def _trailer(riff_end: int, size: int) -> CorruptFileError:
    return CorruptFileError(
        f"{size - riff_end} bytes of trailing data after the RIFF form (kept as they are)",
        code="webp-trailer", offset=riff_end)


def read_layout(f: BinaryIO, limits: Limits, strict: bool) -> WebpLayout:
    """Walk the RIFF chunks, reading the payload of VP8X, EXIF and XMP only.

    Tolerant by default: a broken structure ends the walk with a warning. With ``strict`` it raises
    :class:`CorruptFileError`.
    """
    f.seek(0, 2)
    size = f.tell()
    f.seek(0)
    header = f.read(12)
    if len(header) < 12 or not accept(header):
        raise CorruptFileError("not a WebP file: no RIFF/WEBP header", code="webp-header",
                               offset=0)
    layout = WebpLayout(size=size)

    def problem(err: PhotometaError) -> None:
        if strict:
            raise err
        layout.warnings.append(err)

    riff_end = 8 + struct.unpack("<I", header[4:8])[0]
    if riff_end > size:
        problem(CorruptFileError(f"the RIFF size says {riff_end} bytes, the file has {size}",
                                 code="webp-truncated", offset=4))
        riff_end = size
    elif riff_end < size:
        layout.warnings.append(_trailer(riff_end, size))
    layout.riff_end = riff_end
    pos = 12
    total = 0
    while pos < riff_end:
        if riff_end - pos < 8:
            problem(CorruptFileError("the RIFF form ends inside a chunk header",
                                     code="webp-truncated", offset=pos))
            break
        f.seek(pos)
        fourcc, length = struct.unpack("<4sI", f.read(8))
        if not all(0x20 <= b < 0x7F for b in fourcc):
            problem(CorruptFileError(f"invalid chunk FourCC {fourcc!r}", code="webp-chunk-type",
                                     offset=pos))
            break
        chunk = RiffChunk(fourcc, pos, length)
        if pos + 8 + length > riff_end:
            problem(CorruptFileError(
                f"{chunk.name} chunk needs {length} bytes, the RIFF form has {riff_end - pos - 8}",
                code="webp-truncated", offset=pos))
            break
        if length & 1 and pos + 8 + length == riff_end:
            if riff_end < size:  # the RIFF size left out the last padding byte, which is there
                riff_end += 1
                layout.riff_end = riff_end
                layout.warnings = [w for w in layout.warnings if w.code != "webp-trailer"]
                if riff_end < size:
                    layout.warnings.append(_trailer(riff_end, size))
            else:
                chunk.padded = False  # the last chunk lacks its padding byte: written with it
        if not layout.chunks and fourcc not in FIRST_CHUNKS:
            problem(CorruptFileError(f"the first chunk is {chunk.name}, not VP8, VP8L or VP8X",
                                     code="webp-first-chunk", offset=pos))
        if fourcc in (b"VP8X", b"EXIF", b"XMP "):
            try:
                check_limit(length, limits.max_segment_bytes, f"{chunk.name} chunk", offset=pos)
                total += length
                check_limit(total, limits.max_metadata_bytes, "metadata in the file", offset=pos)
            except LimitExceededError as err:
                problem(err)
            else:
                chunk.data = f.read(length)
                if fourcc == b"VP8X" and length < 10:
                    problem(CorruptFileError(f"VP8X chunk of {length} bytes, 10 needed",
                                             code="webp-vp8x", offset=pos))
        layout.chunks.append(chunk)
        if len(layout.chunks) > limits.max_boxes:
            problem(LimitExceededError(f"more than {limits.max_boxes} chunks", code="limit",
                                       offset=pos))
            break
        pos += chunk.span
    if strict and not any(c.fourcc in IMAGE_CHUNKS for c in layout.chunks):
        raise CorruptFileError("no image data chunk (VP8, VP8L or ANMF)", code="webp-no-image",
                               offset=pos)
    return layout


def _blocks(layout: WebpLayout) -> tuple[Blocks, int | None, int | None]:
    blocks = Blocks(warnings=list(layout.warnings))
    exif_at = xmp_at = None
    for index, chunk in enumerate(layout.chunks):
        if chunk.data is None:
            continue
        if chunk.fourcc == b"EXIF" and exif_at is None:
            exif_at = index
            data = chunk.data
            blocks.exif = data[len(EXIF_PREFIX):] if data.startswith(EXIF_PREFIX) else data
        elif chunk.fourcc == b"XMP " and xmp_at is None:
            xmp_at = index
            blocks.xmp = chunk.data
    return blocks, exif_at, xmp_at


def read(f: BinaryIO, limits: Limits, strict: bool) -> Blocks:
    """Read the metadata blocks of a WebP file."""
    return _blocks(read_layout(f, limits, strict))[0]


# -- writing -------------------------------------------------------------------------------------


def canvas_of(fourcc: bytes, head: bytes, offset: int = 0) -> tuple[int, int, bool]:
    """Width, height and alpha hint from the first bytes of a ``VP8 `` or ``VP8L`` payload."""
    if fourcc == b"VP8L":
        if len(head) < 5 or head[0] != 0x2F:
            raise CorruptFileError("VP8L bitstream lacks its signature", code="webp-bitstream",
                                   offset=offset)
        (bits,) = struct.unpack("<I", head[1:5])
        if bits >> 29:
            raise CorruptFileError("unknown VP8L bitstream version", code="webp-bitstream",
                                   offset=offset)
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, bool(bits >> 28 & 1)
    if len(head) < 10 or head[3:6] != b"\x9d\x01\x2a" or head[0] & 1:
        raise CorruptFileError("VP8 bitstream does not start with a key frame",
                               code="webp-bitstream", offset=offset)
    width, height = struct.unpack("<HH", head[6:10])
    return width & 0x3FFF, height & 0x3FFF, False


def chunk_bytes(fourcc: bytes, data: bytes) -> bytes:
    """A complete chunk with its padding byte."""
    if len(data) > MAX_RIFF - 12:
        raise LimitExceededError(f"a RIFF chunk of {len(data)} bytes does not fit",
                                 code="webp-chunk-too-large")
    return struct.pack("<4sI", fourcc, len(data)) + data + b"\x00" * (len(data) & 1)


def _new_vp8x(src: BinaryIO, layout: WebpLayout, flags: int) -> bytes:
    first = layout.chunks[0]
    src.seek(first.offset + 8)
    width, height, alpha = canvas_of(first.fourcc, src.read(min(first.size, 10)), first.offset)
    if alpha or any(c.fourcc == b"ALPH" for c in layout.chunks):
        flags |= FLAG_ALPHA
    if any(c.fourcc == b"ICCP" for c in layout.chunks):
        flags |= FLAG_ICC
    payload = bytes((flags, 0, 0, 0)) + (width - 1).to_bytes(3, "little") + (
        height - 1).to_bytes(3, "little")
    return chunk_bytes(b"VP8X", payload)


def write(src: BinaryIO, dst: BinaryIO, update: Update, limits: Limits) -> WriteResult:
    """Write ``src`` to ``dst`` with the EXIF and XMP of ``update``; refuse a broken WebP."""
    src.seek(0)
    layout = read_layout(src, limits, strict=True)
    _, exif_at, xmp_at = _blocks(layout)
    chunks = layout.chunks
    last_image = max(i for i, c in enumerate(chunks) if c.fourcc in IMAGE_CHUNKS)
    # the new order, as chunk indexes (int) or new chunk bytes
    order: list[int | bytes] = list(range(len(chunks)))

    def put(new: bytes, old: int | None, after: int | bytes) -> None:
        if old is not None and old > last_image:
            order[order.index(old)] = new  # it already stands where the specification puts it
            return
        if old is not None:
            order.remove(old)
        order.insert(order.index(after) + 1, new)

    exif_mark: int | bytes | None = None
    if exif_at is not None and exif_at > last_image:
        exif_mark = exif_at
    if update.exif is not None:
        new_exif = chunk_bytes(b"EXIF", update.exif)
        put(new_exif, exif_at, last_image)
        exif_mark = new_exif
    if update.xmp is not None:
        put(chunk_bytes(b"XMP ", update.xmp), xmp_at, exif_mark if exif_mark is not None
            else last_image)

    has_exif = update.exif is not None or exif_at is not None
    has_xmp = update.xmp is not None or xmp_at is not None
    wanted = (FLAG_EXIF if has_exif else 0) | (FLAG_XMP if has_xmp else 0)
    first = chunks[0]
    if first.fourcc == b"VP8X":
        assert first.data is not None
        flags = (first.data[0] & ~(FLAG_EXIF | FLAG_XMP)) | wanted
        if flags != first.data[0]:
            order[0] = chunk_bytes(b"VP8X", bytes((flags,)) + first.data[1:])
    elif wanted:
        order.insert(0, _new_vp8x(src, layout, wanted))

    pieces: list[bytes | tuple[int, int]] = []
    body = 4  # "WEBP"
    for item in order:
        if isinstance(item, bytes):
            pieces.append(item)
            body += len(item)
            continue
        chunk = chunks[item]
        pieces.append((chunk.offset, chunk.span))
        if not chunk.padded:
            pieces.append(b"\x00")
        body += 8 + chunk.size + (chunk.size & 1)
    if body > MAX_RIFF:
        raise LimitExceededError(f"the WebP file would need {body + 8} bytes, more than RIFF holds",
                                 code="webp-too-large")
    pieces.insert(0, b"RIFF" + struct.pack("<I", body) + b"WEBP")
    if layout.riff_end < layout.size:
        pieces.append((layout.riff_end, layout.size - layout.riff_end))
    return write_pieces(src, dst, pieces)


CONTAINER: Final = Container(
    name="webp",
    accept=accept,
    read=read,
    write=write,
    max_xmp_bytes=None,
    holds_iim=False,
    extensions=(".webp",),
)
