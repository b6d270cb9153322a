"""Containers: file bytes <-> opaque metadata blocks. No tag knowledge lives here.

Each container module exposes ``CONTAINER``, a :class:`Container`. :data:`REGISTRY` lists them in
sniffing
order and :func:`sniff` picks one by the file's first bytes, never by its extension.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

from .._binary import Limits
from .._fileio import copy_range
from .._metadata import Blocks
from ..errors import WriteError

__all__ = [
    "REGISTRY", "BytePatch", "Container", "Update", "WriteResult", "sniff", "write_pieces",
]


@dataclass(frozen=True)
class BytePatch:
    """Edits to a file that is itself a TIFF structure: overwrite ``patches`` (offset, bytes),
    drop everything from ``truncate_at``, append ``tail``. Nothing else moves."""

    patches: tuple[tuple[int, bytes], ...]
    truncate_at: int
    tail: bytes


@dataclass(frozen=True)
class Update:
    """New metadata blocks for a write. ``None`` leaves that block as the file has it.

    ``xmp_extended`` is ``(guid, packet)`` for JPEG Extended XMP, or ``("", b"")`` to drop it.
    """

    exif: bytes | None = None
    xmp: bytes | None = None
    xmp_extended: tuple[str, bytes] | None = None
    irb: bytes | None = None
    iim: bytes | None = None
    file_patch: BytePatch | None = None


ReadFn = Callable[[BinaryIO, Limits, bool], Blocks]
WriteFn = Callable[[BinaryIO, BinaryIO, Update, Limits], "WriteResult"]


@dataclass(frozen=True)
class WriteResult:
    """Where the image data lies in the source and in the written file, to prove it was not touched.

    Each range is ``(offset, length)``; the two lists pair up. ``size`` is the number of bytes
    of the written file, when the container knows it (the api checks the file has that size).
    """

    source_ranges: list[tuple[int, int]] = field(default_factory=list)
    target_ranges: list[tuple[int, int]] = field(default_factory=list)
    size: int | None = None


@dataclass(frozen=True)
class Container:
    """A container format: how to recognise it, read its metadata blocks and write new ones.

    Attributes:
        name: short name (``"jpeg"``).
        accept: ``accept(head)`` is true when the first bytes belong to this format.
        read: ``read(file, limits, strict)`` returns the blocks; tolerant unless ``strict``.
        write: ``write(src, dst, update, limits)`` writes the whole new file to ``dst``, or
        ``None`` when
            the format is read-only (a sidecar is used).
        max_xmp_bytes: the largest standard XMP packet the container holds, if limited.
        holds_iim: whether IPTC-IIM belongs in this format.
        tiff_structure: the file is a TIFF structure (TIFF, DNG, most RAW): ``read`` returns the
            whole file as ``Blocks.exif`` (memory-mapped), XMP and IPTC live in IFD0 tags 700,
            33723 and 34377, and ``write`` applies ``Update.file_patch``.
    """

    name: str
    accept: Callable[[bytes], bool]
    read: ReadFn
    write: WriteFn | None = None
    max_xmp_bytes: int | None = None
    holds_iim: bool = True
    tiff_structure: bool = False
    extensions: tuple[str, ...] = ()


def write_pieces(src: BinaryIO, dst: BinaryIO, pieces: list[bytes | tuple[int, int]]
                 ) -> WriteResult:
    """Write new bytes and copied ``(offset, length)`` source ranges in order; report the ranges."""
    merged: list[bytes | tuple[int, int]] = []
    for piece in pieces:
        last = merged[-1] if merged else None
        if isinstance(piece, tuple) and isinstance(last, tuple) and last[0] + last[1] == piece[0]:
            merged[-1] = (last[0], last[1] + piece[1])
        elif isinstance(piece, bytes) and isinstance(last, bytes):
            merged[-1] = last + piece
        elif piece:
            merged.append(piece)
    sources: list[tuple[int, int]] = []
    targets: list[tuple[int, int]] = []
    pos = 0
    dst.seek(0)
    for piece in merged:
        if isinstance(piece, tuple):
            offset, length = piece
            copied = copy_range(src, offset, dst, pos, length)
            if copied != length:  # pragma: no cover - copy_range raises first
                raise WriteError(f"copied {copied} of {length} bytes", code="source-changed")
            sources.append((offset, length))
            targets.append((pos, length))
            pos += length
        else:
            dst.write(piece)
            pos += len(piece)
    dst.flush()
    return WriteResult(sources, targets, pos)


def _registry() -> list[Container]:
    from . import bmff, jpeg, otherraw, png, sidecar, tiff, webp

    return [jpeg.CONTAINER, *tiff.CONTAINERS, png.CONTAINER, webp.CONTAINER, *bmff.CONTAINERS,
            *otherraw.CONTAINERS, sidecar.CONTAINER]


REGISTRY: list[Container] = _registry()


def sniff(head: bytes) -> Container | None:
    """The container whose magic bytes start ``head``, or ``None``."""
    for container in REGISTRY:
        if container.accept(head):
            return container
    return None
