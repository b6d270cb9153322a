"""Decoded metadata of one file: EXIF, XMP and IPTC-IIM, as the codecs see them, with the MWG
digest state."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from ._binary import DEFAULT_LIMITS, Buffer, Limits
from .codecs import iptc
from .codecs.exif import ExifData
from .codecs.exif import decode as decode_exif
from .codecs.iptc import IimData, IrbResource
from .codecs.xmp import XmpPacket
from .errors import CorruptFileError, PhotometaError

__all__ = ["Blocks", "Metadata", "decode_blocks"]


@dataclass
class Blocks:
    """Raw metadata blocks as a container holds them (no tag knowledge).

    Attributes:
        exif: the TIFF structure of EXIF (without JPEG's ``Exif\\0\\0`` prefix).
        xmp: the standard XMP packet.
        xmp_extended: reassembled Extended XMP packets by GUID (JPEG only).
        irb: Photoshop image resource blocks holding IPTC-IIM (JPEG APP13, TIFF 34377).
        iim: a bare IPTC-IIM block (TIFF 33723, PNG/WebP legacy profiles) when there is no IRB.
        warnings: problems met while walking the container tolerantly.
    """

    exif: Buffer | None = None
    xmp: bytes | None = None
    xmp_extended: dict[str, bytes] = field(default_factory=dict)
    irb: bytes | None = None
    iim: bytes | None = None
    warnings: list[PhotometaError] = field(default_factory=list)
    exif_is_file: bool = False


# IFD0 tags that hold other metadata kinds inside a TIFF structure
TIFF_XMP: Final = 700
TIFF_IIM: Final = 33723
TIFF_IRB: Final = 34377


@dataclass
class Metadata:
    """The decoded form of :class:`Blocks`. Each part is ``None`` when absent or unreadable."""

    exif: ExifData | None = None
    xmp: XmpPacket | None = None
    iim: IimData | None = None
    irb: list[IrbResource] | None = None
    stored_digest: bytes | None = None
    warnings: list[PhotometaError] = field(default_factory=list)
    xmp_size: int | None = None
    iim_block: bytes | None = None
    """The IIM bytes as stored (what an MWG digest covers), when :attr:`iim` was decoded."""

    @property
    def current_digest(self) -> bytes | None:
        """MD5 digest of the IIM block as stored (MWG), computed only when asked for."""
        return None if self.iim_block is None else iptc.iim_digest(self.iim_block)

    @property
    def iim_in_sync(self) -> bool:
        """MWG: XMP is known to agree with IIM unless a stored digest differs from the current
        one."""
        if self.stored_digest is None or self.stored_digest == self.current_digest:
            return True
        # Photoshop stores an all-zero digest in files that have no IIM at all
        return self.iim is None and not any(self.stored_digest)


def _strip_nul(data: bytes | None) -> bytes | None:
    """IIM in TIFF tag 33723 is often a LONG array padded with NULs to a multiple of 4."""
    return data.rstrip(b"\x00") if data else data


def decode_blocks(
    blocks: Blocks, *, limits: Limits = DEFAULT_LIMITS, strict: bool = False
) -> Metadata:
    """Decode every block. Tolerant by default: a broken block becomes a warning and the rest is
    read.

    With ``strict=True`` (the write path) the first broken block raises ``CorruptFileError``.
    """
    md = Metadata(warnings=list(blocks.warnings))

    def fail(err: PhotometaError) -> None:
        if strict:
            raise err
        md.warnings.append(err)

    if blocks.exif is not None:
        try:
            md.exif = decode_exif(blocks.exif, limits=limits)
            md.warnings.extend(md.exif.warnings)
        except CorruptFileError as err:
            fail(err)
    if blocks.exif_is_file and md.exif is not None:
        found: dict[int, bytes] = {}
        for tag in (TIFF_XMP, TIFF_IIM, TIFF_IRB):
            entry = md.exif.entry("IFD0", tag)
            if entry is not None:
                found[tag] = entry.raw
        blocks = Blocks(
            exif=blocks.exif,
            xmp=blocks.xmp if blocks.xmp is not None else found.get(TIFF_XMP),
            irb=blocks.irb if blocks.irb is not None else found.get(TIFF_IRB),
            iim=blocks.iim if blocks.iim is not None else _strip_nul(found.get(TIFF_IIM)),
            exif_is_file=True,
        )
    if blocks.xmp is not None:
        try:
            md.xmp = XmpPacket.parse(blocks.xmp, limits=limits)
            if blocks.xmp_extended:
                guid = md.xmp.get("xmpNote:HasExtendedXMP", "text")
                if isinstance(guid, str) and guid in blocks.xmp_extended:
                    md.xmp.merge(XmpPacket.parse(blocks.xmp_extended[guid], limits=limits))
        except CorruptFileError as err:
            fail(err)
    md.xmp_size = len(blocks.xmp) if blocks.xmp is not None else None
    iim_bytes: bytes | None = None
    if blocks.irb is not None:
        try:
            md.irb = iptc.parse_irb(blocks.irb, limits=limits)
        except CorruptFileError as err:
            fail(err)
        for res in md.irb or []:
            if res.signature != b"8BIM":
                continue
            if res.id == iptc.IRB_IPTC and iim_bytes is None:
                iim_bytes = res.data  # the block the stored digest covers
            elif res.id == iptc.IRB_IPTC_DIGEST:
                md.stored_digest = res.data
    if iim_bytes is None:
        iim_bytes = blocks.iim
    if iim_bytes is not None:
        try:
            md.iim = IimData.decode(iim_bytes, limits=limits)
            md.iim_block = iim_bytes
        except CorruptFileError as err:
            fail(err)
    return md
