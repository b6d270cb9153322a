"""Bounds-checked binary reading and the resource limits that apply to every parser."""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias

from .errors import CorruptFileError, LimitExceededError

__all__ = ["DEFAULT_LIMITS", "Buffer", "Limits", "Reader"]

ByteOrder = Literal["<", ">"]
Buffer: TypeAlias = bytes | bytearray | memoryview | mmap.mmap
"""Bytes-like data a parser may read: a block in memory or a memory-mapped file."""


@dataclass(frozen=True)
class Limits:
    """Caps that keep reading hostile files cheap. Raise them if your archive needs it.

    Attributes:
        max_segment_bytes: largest metadata block (JPEG segment payload, PNG chunk, RIFF chunk,
            box).
        max_xmp_bytes: largest XMP packet, after Extended XMP is reassembled.
        max_xml_depth: deepest element nesting accepted in XMP.
        max_ifd_entries: entries accepted in one TIFF/EXIF directory.
        max_ifds: directories followed in one EXIF/TIFF structure (chain length and sub-IFDs).
        max_iim_datasets: IPTC-IIM datasets accepted in one block.
        max_boxes: ISO BMFF boxes visited.
        max_metadata_bytes: total metadata bytes read from one file.
    """

    max_segment_bytes: int = 16 * 1024 * 1024
    max_xmp_bytes: int = 16 * 1024 * 1024
    max_xml_depth: int = 64
    max_ifd_entries: int = 4096
    max_ifds: int = 256
    max_iim_datasets: int = 10_000
    max_boxes: int = 100_000
    max_metadata_bytes: int = 64 * 1024 * 1024


DEFAULT_LIMITS: Final = Limits()


class Reader:
    """A cursor over bytes that never reads past ``end`` and names the offset when it fails."""

    __slots__ = ("base", "data", "end", "order", "pos")

    def __init__(
        self,
        data: bytes | bytearray | memoryview,
        *,
        order: ByteOrder = ">",
        pos: int = 0,
        end: int | None = None,
        base: int = 0,
    ) -> None:
        self.data = data
        self.order: ByteOrder = order
        self.pos = pos
        self.end = len(data) if end is None else min(end, len(data))
        self.base = base  # added to offsets in error messages (position of data in the file)

    def remaining(self) -> int:
        """Bytes left before ``end``."""
        return self.end - self.pos

    def fail(self, msg: str, code: str, offset: int | None = None) -> CorruptFileError:
        """Build a :class:`CorruptFileError` at ``offset`` (default: the cursor)."""
        at = self.pos if offset is None else offset
        return CorruptFileError(msg, code=code, offset=self.base + at)

    def take(self, n: int) -> bytes:
        """Read ``n`` bytes or raise ``CorruptFileError`` (code ``short-block``)."""
        if n < 0 or n > self.end - self.pos:
            raise self.fail(f"needs {n} bytes, {self.end - self.pos} left", "short-block")
        self.pos += n
        return bytes(self.data[self.pos - n : self.pos])

    def skip(self, n: int) -> None:
        """Advance ``n`` bytes, bounds-checked."""
        if n < 0 or n > self.end - self.pos:
            raise self.fail(f"cannot skip {n} bytes, {self.end - self.pos} left", "short-block")
        self.pos += n

    def u8(self) -> int:
        """Read an unsigned byte."""
        return self.take(1)[0]

    def u16(self) -> int:
        """Read an unsigned 16-bit integer in the reader's byte order."""
        return int(struct.unpack(self.order + "H", self.take(2))[0])

    def u32(self) -> int:
        """Read an unsigned 32-bit integer in the reader's byte order."""
        return int(struct.unpack(self.order + "I", self.take(4))[0])

    def u64(self) -> int:
        """Read an unsigned 64-bit integer in the reader's byte order."""
        return int(struct.unpack(self.order + "Q", self.take(8))[0])


def check_limit(value: int, limit: int, what: str, *, offset: int | None = None) -> None:
    """Raise :class:`LimitExceededError` when ``value`` exceeds ``limit``."""
    if value > limit:
        raise LimitExceededError(
            f"{what} of {value} exceeds the limit of {limit}", code="limit", offset=offset
        )

