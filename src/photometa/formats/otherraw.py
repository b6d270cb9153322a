"""Camera RAW formats that are not TIFF structures: Fujifilm RAF, Minolta MRW, Sigma X3F, Canon CRW.

All are read only; writing goes to an XMP sidecar (``write`` is ``None``), because their vendors'
software expects their layout byte for byte and none of them has a place photometa could grow.

* **RAF** (``FUJIFILMCCD-RAW``): the header gives the offset and length of an embedded JPEG
  (big-endian words at byte 84 and 88); its APP1 ``Exif`` segment is the file's EXIF (and an APP1
  XMP segment, if any, its XMP). Only the marker segments before the JPEG's scan are read.
* **MRW** (``\\0MRM``): a chain of blocks before the image data; the ``\\0TTW`` block is a TIFF
  structure holding IFD0 and the Exif IFD.
* **X3F** (``FOVb``): the section directory at the end of the file lists image sections
  (``SECi``); a preview stored as JPEG (format 18) carries the EXIF in its APP1 segment.
  X3F's own property list (``SECp``, UTF-16 camera properties) is not mapped.
* **CRW** (``HEAPCCDR``, CIFF): its records use Canon's own tag set, which photometa does not map;
  XMP is read from a Canon VRD trailer (``CANON OPTIONAL DATA``, block ``0xFFFF00F6``), where
  ExifTool and Canon DPP keep it.
"""

from __future__ import annotations

import struct
from typing import BinaryIO, Final

from .._binary import Limits, check_limit
from .._metadata import Blocks
from ..errors import CorruptFileError, LimitExceededError
from . import Container

__all__ = ["CONTAINERS", "CRW", "MRW", "RAF", "X3F", "read_jpeg_app1"]

RAF_MAGIC: Final = b"FUJIFILMCCD-RAW"
MRW_MAGIC: Final = b"\x00MRM"
X3F_MAGIC: Final = b"FOVb"
CRW_MAGIC: Final = b"HEAPCCDR"
EXIF_SIG: Final = b"Exif\x00\x00"
XMP_SIG: Final = b"http://ns.adobe.com/xap/1.0/\x00"
VRD_SIG: Final = b"CANON OPTIONAL DATA\x00"
VRD_XMP: Final = 0xFFFF00F6
VRD_HEADER: Final = 0x1C
VRD_FOOTER: Final = 0x40
_X3F_JPEG: Final = 18
_STANDALONE: Final = frozenset({0x01, *range(0xD0, 0xD8)})


def _size(f: BinaryIO) -> int:
    f.seek(0, 2)
    return f.tell()


def _read_exact(f: BinaryIO, offset: int, length: int, what: str) -> bytes:
    f.seek(offset)
    data = f.read(length)
    if len(data) != length:
        raise CorruptFileError(f"the file ends inside {what}", code="raw-truncated", offset=offset)
    return data


def read_jpeg_app1(f: BinaryIO, start: int, end: int, limits: Limits
                   ) -> tuple[bytes | None, bytes | None]:
    """The Exif TIFF structure and the XMP packet from the APP1 segments of a JPEG embedded at
    ``start`` (up to ``end``) in ``f``; the walk stops at the start of scan.

    Raises:
        CorruptFileError: no JPEG there, or its marker segments are broken before any APP1 found.
        LimitExceededError: the segments exceed ``limits.max_metadata_bytes``.
    """
    if end - start < 4 or _read_exact(f, start, 2, "the embedded JPEG") != b"\xff\xd8":
        raise CorruptFileError("no JPEG where the header says the preview is",
                               code="raw-jpeg", offset=start)
    exif = xmp = None
    pos = start + 2
    total = 0
    while pos + 4 <= end:
        f.seek(pos)
        head = f.read(4)
        if len(head) < 4 or head[0] != 0xFF:
            if exif is None and xmp is None:
                raise CorruptFileError("embedded JPEG: expected a marker", code="raw-jpeg",
                                       offset=pos)
            break
        marker = head[1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _STANDALONE:
            pos += 2
            continue
        if marker in (0xDA, 0xD9):  # start of scan, end of image
            break
        length = int.from_bytes(head[2:4], "big")
        if length < 2 or pos + 2 + length > end:
            if exif is None and xmp is None:
                raise CorruptFileError("embedded JPEG: a segment runs past the image",
                                       code="raw-jpeg", offset=pos)
            break
        if marker == 0xE1:
            total += length
            check_limit(total, limits.max_metadata_bytes, "embedded JPEG metadata", offset=pos)
            payload = _read_exact(f, pos + 4, length - 2, "an APP1 segment")
            if exif is None and payload.startswith(EXIF_SIG):
                exif = payload[len(EXIF_SIG) :]
            elif xmp is None and payload.startswith(XMP_SIG):
                xmp = payload[len(XMP_SIG) :]
        pos += 2 + length
    return exif, xmp


def _tolerate(blocks: Blocks, strict: bool, err: CorruptFileError) -> None:
    if strict or isinstance(err, LimitExceededError):
        raise err
    blocks.warnings.append(err)


# -- RAF -----------------------------------------------------------------------------------------


def _read_raf(f: BinaryIO, limits: Limits, strict: bool) -> Blocks:
    blocks = Blocks()
    size = _size(f)
    header = _read_exact(f, 0, 92, "the RAF header")
    if not header.startswith(RAF_MAGIC):
        raise CorruptFileError("not a RAF file", code="raf-magic", offset=0)
    offset, length = struct.unpack(">II", header[84:92])
    if offset == 0 or length == 0:
        return blocks
    try:
        if offset + length > size:
            raise CorruptFileError(f"the embedded JPEG ({length} bytes at {offset}) runs past "
                                   "the end of the file", code="raf-jpeg", offset=84)
        blocks.exif, blocks.xmp = read_jpeg_app1(f, offset, offset + length, limits)
    except CorruptFileError as err:
        _tolerate(blocks, strict, err)
    return blocks


# -- MRW -----------------------------------------------------------------------------------------


def _read_mrw(f: BinaryIO, limits: Limits, strict: bool) -> Blocks:
    blocks = Blocks()
    size = _size(f)
    head = _read_exact(f, 0, 8, "the MRW header")
    if head[:4] != MRW_MAGIC:
        raise CorruptFileError("not an MRW file", code="mrw-magic", offset=0)
    end = min(8 + int.from_bytes(head[4:8], "big"), size)
    pos = 8
    count = 0
    try:
        while pos + 8 <= end:
            count += 1
            check_limit(count, limits.max_boxes, "MRW blocks", offset=pos)
            name, length = struct.unpack(">4sI", _read_exact(f, pos, 8, "an MRW block header"))
            if pos + 8 + length > end:
                raise CorruptFileError(f"MRW block {name!r} runs past the header area",
                                       code="mrw-block", offset=pos)
            if name == b"\x00TTW":
                check_limit(length, limits.max_segment_bytes, "the MRW TTW block", offset=pos)
                blocks.exif = _read_exact(f, pos + 8, length, "the TTW block")
                break
            pos += 8 + length
    except CorruptFileError as err:
        _tolerate(blocks, strict, err)
    return blocks


# -- X3F -----------------------------------------------------------------------------------------


def _read_x3f(f: BinaryIO, limits: Limits, strict: bool) -> Blocks:
    blocks = Blocks()
    size = _size(f)
    if _read_exact(f, 0, 4, "the X3F header") != X3F_MAGIC:
        raise CorruptFileError("not an X3F file", code="x3f-magic", offset=0)
    try:
        if size < 12:
            raise CorruptFileError("X3F file too short for a directory", code="x3f-directory",
                                   offset=0)
        (directory,) = struct.unpack("<I", _read_exact(f, size - 4, 4, "the directory pointer"))
        head = _read_exact(f, directory, 12, "the X3F directory") if directory + 12 <= size \
            else b""
        if head[:4] != b"SECd":
            raise CorruptFileError("no X3F section directory where the file says",
                                   code="x3f-directory", offset=size - 4)
        (count,) = struct.unpack("<I", head[8:12])
        check_limit(count, limits.max_boxes, "X3F sections", offset=directory)
        table = _read_exact(f, directory + 12, 12 * count, "the X3F directory")
        for offset, length, kind in struct.iter_unpack("<II4s", table):
            if kind not in (b"IMA2", b"IMAG") or length < 28 or offset + length > size:
                continue
            section = _read_exact(f, offset, 28, "an X3F image section")
            if section[:4] != b"SECi" or struct.unpack("<I", section[12:16])[0] != _X3F_JPEG:
                continue
            exif, xmp = read_jpeg_app1(f, offset + 28, offset + length, limits)
            if exif is not None or xmp is not None:
                blocks.exif, blocks.xmp = exif, xmp
                break
    except CorruptFileError as err:
        _tolerate(blocks, strict, err)
    return blocks


# -- CRW -----------------------------------------------------------------------------------------


def _read_crw(f: BinaryIO, limits: Limits, strict: bool) -> Blocks:
    blocks = Blocks()
    size = _size(f)
    head = _read_exact(f, 0, 14, "the CRW header")
    if head[6:14] != CRW_MAGIC:
        raise CorruptFileError("not a CRW (CIFF) file", code="crw-magic", offset=0)
    if size < VRD_HEADER + VRD_FOOTER:
        return blocks
    tail_at = size - VRD_FOOTER
    tail = _read_exact(f, tail_at, VRD_FOOTER, "the end of the file")
    if not tail.startswith(VRD_SIG):
        return blocks  # no VRD trailer: no XMP
    try:
        (length,) = struct.unpack(">I", tail[20:24])
        start = tail_at - length - VRD_HEADER
        if start < 0 or _read_exact(f, start, len(VRD_SIG), "the VRD header") != VRD_SIG:
            raise CorruptFileError("the Canon VRD trailer's header is not where its footer says",
                                   code="crw-vrd", offset=tail_at)
        check_limit(length, limits.max_metadata_bytes, "the Canon VRD trailer", offset=start)
        data = _read_exact(f, start + VRD_HEADER, length, "the Canon VRD trailer")
        pos = 0
        while pos + 8 <= len(data):
            kind, block_length = struct.unpack(">II", data[pos : pos + 8])
            if pos + 8 + block_length > len(data):
                raise CorruptFileError("a Canon VRD block runs past the trailer",
                                       code="crw-vrd", offset=start + VRD_HEADER + pos)
            if kind == VRD_XMP:
                check_limit(block_length, limits.max_xmp_bytes, "XMP packet size",
                            offset=start + VRD_HEADER + pos)
                blocks.xmp = data[pos + 8 : pos + 8 + block_length]
                break
            pos += 8 + block_length
    except CorruptFileError as err:
        _tolerate(blocks, strict, err)
    return blocks


# -- the containers ------------------------------------------------------------------------------


def _accept_raf(head: bytes) -> bool:
    """Fujifilm RAF starts with ``FUJIFILMCCD-RAW``."""
    return head.startswith(RAF_MAGIC)


def _accept_mrw(head: bytes) -> bool:
    """Minolta MRW starts with ``\\0MRM``."""
    return head.startswith(MRW_MAGIC)


def _accept_x3f(head: bytes) -> bool:
    """Sigma X3F starts with ``FOVb``."""
    return head.startswith(X3F_MAGIC)


def _accept_crw(head: bytes) -> bool:
    """Canon CRW is a CIFF heap: a byte order mark, the header length and ``HEAPCCDR``."""
    return head[:2] in (b"II", b"MM") and head[6:14] == CRW_MAGIC


RAF: Final = Container(name="raw-raf", accept=_accept_raf, read=_read_raf, holds_iim=False,
                       extensions=(".raf",))
MRW: Final = Container(name="raw-mrw", accept=_accept_mrw, read=_read_mrw, holds_iim=False,
                       extensions=(".mrw",))
X3F: Final = Container(name="raw-x3f", accept=_accept_x3f, read=_read_x3f, holds_iim=False,
                       extensions=(".x3f",))
CRW: Final = Container(name="raw-crw", accept=_accept_crw, read=_read_crw, holds_iim=False,
                       extensions=(".crw",))
CONTAINERS: Final[tuple[Container, ...]] = (RAF, MRW, X3F, CRW)
"""Non-TIFF camera RAW containers, all read-only (written through XMP sidecars)."""
