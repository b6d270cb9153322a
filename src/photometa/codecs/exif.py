"""TIFF/EXIF IFD codec: tolerant reading, lossless patching.

Input is a TIFF structure: a block starting ``II*\\0`` or ``MM\\0*`` (JPEG APP1 without its
``Exif\\0\\0`` prefix, PNG ``eXIf``, WebP ``EXIF``...) or a whole TIFF file, as any bytes-like
object (``bytes``, ``bytearray``, ``memoryview``, ``mmap.mmap``). Offsets are relative to the start
of that buffer. BigTIFF is read but never written.

Reading (:func:`decode`) walks IFD0, the IFD1... chain, the Exif, GPS and Interoperability IFDs
and SubIFDs. Problems (pointer loops, values past the end, unknown types) become warnings and the
rest is read. Values are decoded lazily, on :attr:`ExifEntry.value`:

* ASCII: text up to the first NUL, trailing whitespace removed, UTF-8 with a Latin-1 fallback.
  IFD0 Copyright follows the Exif "photographer NUL editor NUL" convention as ExifTool does:
  both parts are joined with a newline (``"\\neditor"`` when there is only an editor).
* UTF8 (type 129, Exif 3.0): text up to the first NUL.
* BYTE, UNDEFINED: ``bytes``. SBYTE, SHORT, SSHORT, LONG, SLONG, IFD, LONG8...: ``int`` for a
  count of 1, else ``tuple[int, ...]``. FLOAT, DOUBLE: ``float`` or ``tuple[float, ...]``.
* RATIONAL, SRATIONAL: ``Fraction`` or ``tuple[Fraction, ...]``. A value holding a zero
  denominator (``0/0`` means "unknown" in EXIF) decodes to ``None``: it has no number to give;
  :attr:`ExifEntry.raw` keeps the bytes.

Writing (:func:`plan_patch`) never moves a byte it does not own, because maker notes hold absolute
offsets. It walks the structure strictly (any structural problem raises ``CorruptFileError``), then:

* a new value that fits in the old value's slot overwrites it in place (padded with NULs);
  a larger one is appended and only the entry's 12 bytes change;
* a directory is rewritten in place (entries sorted, the spare room zeroed) whenever its entry
  count does not grow; one that grows (an added tag) is copied to the end, entries sorted by
  tag, unchanged entries copied byte for byte (they keep pointing at their old values), and the
  one pointer to it is patched (TIFF header, the Exif/GPS/Interop pointer entry, a next-IFD
  link or a SubIFDs array element); a changed directory that shares bytes with another
  structure is copied rather than rewritten in place;
* creating the GPS or Exif IFD appends it and adds its pointer tag to the parent; an edited
  Exif/GPS/Interop IFD left with no entries is dropped with its pointer;
* bytes nothing points at any more (old values, old directories, deleted sub-IFDs) are zeroed, so a
  deleted GPS position does not linger in the file;
* when the end of the buffer holds only bytes that died in this edit, zero padding, plain
  numeric/text values and directories (which can be re-appended: no maker note, image data or
  unknown bytes), the buffer is cut there (``truncate_at``) and those pieces are appended again:
  repeated writes of a JPEG APP1 do not grow it forever;
* the patch is refused (``CorruptFileError``, code ``exif-overlap``) when an overwrite would also
  change bytes that another structure uses (overlapping directories and values).
"""

from __future__ import annotations

import bisect
import math
import mmap
import operator
import re
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property
from typing import Final, Literal, TypeAlias

from .._binary import DEFAULT_LIMITS, Limits
from ..errors import CorruptFileError, InvalidValueError, LimitExceededError

__all__ = [
    "ASCII",
    "BYTE",
    "DOUBLE",
    "FLOAT",
    "IFD8",
    "IFD_T",
    "LONG",
    "LONG8",
    "RATIONAL",
    "SBYTE",
    "SHORT",
    "SLONG",
    "SLONG8",
    "SRATIONAL",
    "SSHORT",
    "TAGS",
    "UNDEFINED",
    "UTF8",
    "Buffer",
    "Edits",
    "ExifData",
    "ExifEntry",
    "ExifPatch",
    "ExifValue",
    "ExifWrite",
    "apply_patch",
    "decode",
    "new_block",
    "plan_patch",
    "rational_equals",
    "tag_name",
]

ByteOrder: TypeAlias = Literal["<", ">"]
Buffer: TypeAlias = bytes | bytearray | memoryview | mmap.mmap
ExifValue: TypeAlias = (
    str | int | float | Fraction | bytes
    | tuple[int, ...] | tuple[Fraction, ...] | tuple[float, ...]
)

# TIFF field types.
BYTE: Final = 1
ASCII: Final = 2
SHORT: Final = 3
LONG: Final = 4
RATIONAL: Final = 5
SBYTE: Final = 6
UNDEFINED: Final = 7
SSHORT: Final = 8
SLONG: Final = 9
SRATIONAL: Final = 10
FLOAT: Final = 11
DOUBLE: Final = 12
IFD_T: Final = 13
LONG8: Final = 16
SLONG8: Final = 17
IFD8: Final = 18
UTF8: Final = 129

_SIZES: Final[dict[int, int]] = {
    BYTE: 1, ASCII: 1, SHORT: 2, LONG: 4, RATIONAL: 8, SBYTE: 1, UNDEFINED: 1, SSHORT: 2,
    SLONG: 4, SRATIONAL: 8, FLOAT: 4, DOUBLE: 8, IFD_T: 4, LONG8: 8, SLONG8: 8, IFD8: 8, UTF8: 1,
}
_NUM_CODES: Final[dict[int, str]] = {
    SBYTE: "b", SHORT: "H", SSHORT: "h", LONG: "I", SLONG: "i", IFD_T: "I",
    LONG8: "Q", SLONG8: "q", IFD8: "Q", FLOAT: "f", DOUBLE: "d",
}
_POINTER_TYPES: Final = frozenset({LONG, IFD_T, LONG8, IFD8})

# Tags whose values are offsets the codec manages (or data it must not break): never edited.
_EXIF_PTR: Final = 0x8769
_GPS_PTR: Final = 0x8825
_INTEROP_PTR: Final = 0xA005
_SUBIFDS: Final = 0x014A
_COPYRIGHT: Final = 0x8298
_OFFSET_TAGS: Final = frozenset({0x0111, 0x0117, 0x0144, 0x0145, 0x0201, 0x0202, _SUBIFDS})
# (offsets tag, byte counts tag) pairs whose data must stay where it is.
_DATA_PAIRS: Final = ((0x0111, 0x0117), (0x0144, 0x0145), (0x0201, 0x0202))
# Sub-IFDs the codec may create or delete: name -> (parent, pointer tag).
_SUB_IFDS: Final[dict[str, tuple[str, int]]] = {
    "ExifIFD": ("IFD0", _EXIF_PTR),
    "GPS": ("IFD0", _GPS_PTR),
    "Interop": ("ExifIFD", _INTEROP_PTR),
}
# Value types whose bytes carry no offsets, so the codec may move them when it re-appends a tail.
_MOVABLE_TYPES: Final = frozenset(
    {ASCII, SHORT, LONG, RATIONAL, SSHORT, SLONG, SRATIONAL, FLOAT, DOUBLE, UTF8}
)
_WRITABLE_TYPES: Final = frozenset(
    {BYTE, ASCII, SHORT, LONG, RATIONAL, SBYTE, UNDEFINED, SSHORT, SLONG, SRATIONAL, FLOAT,
     DOUBLE, UTF8}
)
_IFD_NAME: Final = re.compile(r"IFD\d+|SubIFD\d+|ExifIFD|GPS|Interop")
# Warnings the strict (write-path) walk tolerates: they do not stop the structure being patched.
_BENIGN: Final = frozenset({"bad-type", "duplicate-tag"})
_MAX_WARNINGS: Final = 256
_EMPTY_TIFF: Final = b"MM\x00\x2a\x00\x00\x00\x08" + b"\x00\x00" + b"\x00\x00\x00\x00"

# --------------------------------------------------------------------------------------------
# Tag names (Exiv2 keys), used in messages and docs.

_IMAGE_TAGS: Final[dict[int, str]] = {
    0x000B: "ProcessingSoftware", 0x00FE: "NewSubfileType", 0x00FF: "SubfileType",
    0x0100: "ImageWidth", 0x0101: "ImageLength", 0x0102: "BitsPerSample",
    0x0103: "Compression", 0x0106: "PhotometricInterpretation", 0x010D: "DocumentName",
    0x010E: "ImageDescription", 0x010F: "Make", 0x0110: "Model", 0x0111: "StripOffsets",
    0x0112: "Orientation", 0x0115: "SamplesPerPixel", 0x0116: "RowsPerStrip",
    0x0117: "StripByteCounts", 0x011A: "XResolution", 0x011B: "YResolution",
    0x011C: "PlanarConfiguration", 0x0128: "ResolutionUnit", 0x012D: "TransferFunction",
    0x0131: "Software", 0x0132: "DateTime", 0x013B: "Artist", 0x013C: "HostComputer",
    0x013D: "Predictor", 0x013E: "WhitePoint", 0x013F: "PrimaryChromaticities",
    0x0142: "TileWidth", 0x0143: "TileLength", 0x0144: "TileOffsets",
    0x0145: "TileByteCounts", 0x014A: "SubIFDs", 0x0152: "ExtraSamples",
    0x0153: "SampleFormat", 0x0201: "JPEGInterchangeFormat",
    0x0202: "JPEGInterchangeFormatLength", 0x0211: "YCbCrCoefficients",
    0x0212: "YCbCrSubSampling", 0x0213: "YCbCrPositioning", 0x0214: "ReferenceBlackWhite",
    0x02BC: "XMLPacket", 0x4746: "Rating", 0x4749: "RatingPercent",
    0x8298: "Copyright", 0x83BB: "IPTCNAA", 0x8649: "ImageResources", 0x8769: "ExifTag",
    0x8773: "InterColorProfile", 0x8825: "GPSTag", 0x9003: "DateTimeOriginal",
    0x9C9B: "XPTitle", 0x9C9C: "XPComment", 0x9C9D: "XPAuthor", 0x9C9E: "XPKeywords",
    0x9C9F: "XPSubject", 0xA480: "GDALMetadata", 0xC4A5: "PrintImageMatching",
    0xC612: "DNGVersion", 0xC613: "DNGBackwardVersion", 0xC614: "UniqueCameraModel",
    0xC634: "DNGPrivateData",
}
_PHOTO_TAGS: Final[dict[int, str]] = {
    0x829A: "ExposureTime", 0x829D: "FNumber", 0x8822: "ExposureProgram",
    0x8824: "SpectralSensitivity", 0x8827: "ISOSpeedRatings", 0x8830: "SensitivityType",
    0x8832: "RecommendedExposureIndex", 0x9000: "ExifVersion", 0x9003: "DateTimeOriginal",
    0x9004: "DateTimeDigitized", 0x9010: "OffsetTime", 0x9011: "OffsetTimeOriginal",
    0x9012: "OffsetTimeDigitized", 0x9101: "ComponentsConfiguration",
    0x9102: "CompressedBitsPerPixel", 0x9201: "ShutterSpeedValue", 0x9202: "ApertureValue",
    0x9203: "BrightnessValue", 0x9204: "ExposureBiasValue", 0x9205: "MaxApertureValue",
    0x9206: "SubjectDistance", 0x9207: "MeteringMode", 0x9208: "LightSource", 0x9209: "Flash",
    0x920A: "FocalLength", 0x9214: "SubjectArea", 0x927C: "MakerNote", 0x9286: "UserComment",
    0x9290: "SubSecTime", 0x9291: "SubSecTimeOriginal", 0x9292: "SubSecTimeDigitized",
    0xA000: "FlashpixVersion", 0xA001: "ColorSpace", 0xA002: "PixelXDimension",
    0xA003: "PixelYDimension", 0xA004: "RelatedSoundFile", 0xA005: "InteroperabilityTag",
    0xA20E: "FocalPlaneXResolution", 0xA20F: "FocalPlaneYResolution",
    0xA210: "FocalPlaneResolutionUnit", 0xA215: "ExposureIndex", 0xA217: "SensingMethod",
    0xA300: "FileSource", 0xA301: "SceneType", 0xA302: "CFAPattern", 0xA401: "CustomRendered",
    0xA402: "ExposureMode", 0xA403: "WhiteBalance", 0xA404: "DigitalZoomRatio",
    0xA405: "FocalLengthIn35mmFilm", 0xA406: "SceneCaptureType", 0xA407: "GainControl",
    0xA408: "Contrast", 0xA409: "Saturation", 0xA40A: "Sharpness",
    0xA40C: "SubjectDistanceRange", 0xA420: "ImageUniqueID", 0xA430: "CameraOwnerName",
    0xA431: "BodySerialNumber", 0xA432: "LensSpecification", 0xA433: "LensMake",
    0xA434: "LensModel", 0xA435: "LensSerialNumber", 0xA460: "CompositeImage",
    0xA500: "Gamma",
}
_GPS_TAGS: Final[dict[int, str]] = {
    0x0000: "GPSVersionID", 0x0001: "GPSLatitudeRef", 0x0002: "GPSLatitude",
    0x0003: "GPSLongitudeRef", 0x0004: "GPSLongitude", 0x0005: "GPSAltitudeRef",
    0x0006: "GPSAltitude", 0x0007: "GPSTimeStamp", 0x0008: "GPSSatellites",
    0x0009: "GPSStatus", 0x000A: "GPSMeasureMode", 0x000B: "GPSDOP", 0x000C: "GPSSpeedRef",
    0x000D: "GPSSpeed", 0x000E: "GPSTrackRef", 0x000F: "GPSTrack",
    0x0010: "GPSImgDirectionRef", 0x0011: "GPSImgDirection", 0x0012: "GPSMapDatum",
    0x0013: "GPSDestLatitudeRef", 0x0014: "GPSDestLatitude", 0x0015: "GPSDestLongitudeRef",
    0x0016: "GPSDestLongitude", 0x0017: "GPSDestBearingRef", 0x0018: "GPSDestBearing",
    0x0019: "GPSDestDistanceRef", 0x001A: "GPSDestDistance", 0x001B: "GPSProcessingMethod",
    0x001C: "GPSAreaInformation", 0x001D: "GPSDateStamp", 0x001E: "GPSDifferential",
    0x001F: "GPSHPositioningError",
}
_IOP_TAGS: Final[dict[int, str]] = {
    0x0001: "InteroperabilityIndex", 0x0002: "InteroperabilityVersion",
    0x1000: "RelatedImageFileFormat", 0x1001: "RelatedImageWidth", 0x1002: "RelatedImageLength",
}
_THUMB_TAGS: Final = (
    0x00FE, 0x0100, 0x0101, 0x0102, 0x0103, 0x0106, 0x0111, 0x0112, 0x0115, 0x0116, 0x0117,
    0x011A, 0x011B, 0x011C, 0x0128, 0x0201, 0x0202, 0x0211, 0x0212, 0x0213, 0x0214,
)
_GROUP_KEY: Final = {
    "IFD0": "Image", "ExifIFD": "Photo", "GPS": "GPSInfo", "Interop": "Iop", "IFD1": "Thumbnail",
}

TAGS: Final[dict[tuple[str, int], str]] = {
    **{("IFD0", t): f"Exif.Image.{n}" for t, n in _IMAGE_TAGS.items() if t != 0x9003},
    **{("ExifIFD", t): f"Exif.Photo.{n}" for t, n in _PHOTO_TAGS.items()},
    **{("GPS", t): f"Exif.GPSInfo.{n}" for t, n in _GPS_TAGS.items()},
    **{("Interop", t): f"Exif.Iop.{n}" for t, n in _IOP_TAGS.items()},
    **{("IFD1", t): f"Exif.Thumbnail.{_IMAGE_TAGS[t]}" for t in _THUMB_TAGS},
}
"""Exiv2-style key of each known tag, by (IFD name, tag number)."""


def tag_name(ifd: str, tag: int) -> str:
    """The Exiv2-style key of ``tag`` in ``ifd`` (``Exif.Image.0x1234`` style when unknown)."""
    name = TAGS.get((ifd, tag))
    if name is not None:
        return name
    if ifd not in _GROUP_KEY:  # IFD2..., SubIFDn: image directories
        image = _IMAGE_TAGS.get(tag)
        if image is not None:
            return f"Exif.{ifd}.{image}"
    return f"Exif.{_GROUP_KEY.get(ifd, ifd)}.0x{tag:04x}"


# --------------------------------------------------------------------------------------------
# Data model


@dataclass(frozen=True)
class ExifEntry:
    """One directory entry as stored.

    Attributes:
        ifd: the directory's name (``"IFD0"``, ``"ExifIFD"``, ``"GPS"``, ``"SubIFD0"``...).
        tag: tag number.
        type: TIFF field type (``ASCII``, ``SHORT``...).
        count: number of values (bytes, for ASCII/UNDEFINED).
        entry_offset: offset of the 12-byte (BigTIFF: 20-byte) entry within the buffer.
        value_offset: offset of the out-of-line value bytes, ``None`` when stored inline.
        raw: the value bytes (``count`` times the type's size).
        order: the byte order of the structure, needed to decode ``raw``.
    """

    ifd: str
    tag: int
    type: int
    count: int
    entry_offset: int
    value_offset: int | None
    raw: bytes
    order: ByteOrder = ">"

    @cached_property
    def value(self) -> ExifValue | None:
        """The decoded value (see the module docs); ``None`` for a rational with denominator 0."""
        return _decode_value(self)

    @property
    def name(self) -> str:
        """The tag's Exiv2-style key, for messages."""
        return tag_name(self.ifd, self.tag)


class ExifData:
    """A decoded TIFF/EXIF structure.

    Attributes:
        order: byte order, ``"<"`` (II) or ``">"`` (MM).
        ifds: directories in the order they were walked (IFD0, its sub-IFDs, IFD1...), each
            with its entries in file order (the first one wins when a tag repeats).
        ifd_offsets: where each directory starts.
        warnings: problems skipped while reading (bad entry, pointer loop, value out of range).
        bigtiff: whether the structure is BigTIFF (read-only).

    :func:`decode` builds the :class:`ExifEntry` objects of a directory only when they are asked
    for (:meth:`entry`, :meth:`get`, or :attr:`ifds`, which builds them all); the structure and
    every warning are found when decoding.
    """

    __slots__ = ("_ifds", "_lazy", "bigtiff", "ifd_offsets", "order", "warnings")

    def __init__(
        self,
        order: ByteOrder,
        ifds: dict[str, dict[int, ExifEntry]],
        ifd_offsets: dict[str, int],
        warnings: list[CorruptFileError] | None = None,
        bigtiff: bool = False,
    ) -> None:
        self.order: ByteOrder = order
        self._ifds: dict[str, dict[int, ExifEntry]] | None = ifds
        self._lazy: dict[str, _LazyIfd] = {}
        self.ifd_offsets = ifd_offsets
        self.warnings: list[CorruptFileError] = [] if warnings is None else warnings
        self.bigtiff = bigtiff

    @classmethod
    def _from_lazy(
        cls, order: ByteOrder, lazy: dict[str, _LazyIfd], ifd_offsets: dict[str, int],
        warnings: list[CorruptFileError], bigtiff: bool,
    ) -> ExifData:
        data = cls(order, {}, ifd_offsets, warnings, bigtiff)
        data._ifds = None
        data._lazy = lazy
        return data

    @property
    def ifds(self) -> dict[str, dict[int, ExifEntry]]:
        """Every directory's entries (see the class docs)."""
        ifds = self._ifds
        if ifds is None:
            ifds = self._ifds = {name: d.entries() for name, d in self._lazy.items()}
        return ifds

    @ifds.setter
    def ifds(self, value: dict[str, dict[int, ExifEntry]]) -> None:
        self._ifds = value

    def has_ifd(self, name: str) -> bool:
        """Whether the structure has the directory ``name`` (its entries are not built)."""
        ifds = self._ifds
        return name in (self._lazy if ifds is None else ifds)

    def entry(self, ifd: str, tag: int) -> ExifEntry | None:
        """The entry for ``tag`` in ``ifd``, or ``None``."""
        ifds = self._ifds
        if ifds is None:
            lazy = self._lazy.get(ifd)
            return None if lazy is None else lazy.entry(tag)
        entries = ifds.get(ifd)
        return None if entries is None else entries.get(tag)

    def get(self, ifd: str, tag: int) -> ExifValue | None:
        """The decoded value of ``tag`` in ``ifd``, or ``None`` when absent or undecodable."""
        entry = self.entry(ifd, tag)
        return None if entry is None else entry.value

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, ExifData)
        return (self.order, self.ifds, self.ifd_offsets, self.warnings, self.bigtiff) == (
            other.order, other.ifds, other.ifd_offsets, other.warnings, other.bigtiff
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"ExifData(order={self.order!r}, ifds={self.ifds!r}, "
            f"ifd_offsets={self.ifd_offsets!r}, warnings={self.warnings!r}, "
            f"bigtiff={self.bigtiff!r})"
        )


@dataclass(frozen=True)
class ExifWrite:
    """A value to store: its TIFF type and the value.

    ``ASCII``/``UTF8`` take ``str`` (written UTF-8, NUL-terminated; for IFD0 Copyright a newline
    separates photographer and editor parts, stored NUL-separated as EXIF specifies).
    ``BYTE``/``UNDEFINED`` take ``bytes`` or ints; integer types take ``int`` or a tuple of ints;
    ``RATIONAL``/``SRATIONAL`` take ``Fraction``/``int`` (or finite ``float``) or a tuple of them;
    ``FLOAT``/``DOUBLE`` take floats.
    """

    type: int
    value: ExifValue


Edits: TypeAlias = Mapping[tuple[str, int], ExifWrite | None]


@dataclass(frozen=True)
class ExifPatch:
    """How to turn the original buffer into the new one.

    Attributes:
        patches: ``(offset, bytes)`` overwrites inside the original buffer, sorted, disjoint,
            all below ``truncate_at``.
        truncate_at: original bytes from here on are dropped (``len(data)`` when nothing is cut).
        tail: bytes appended at ``truncate_at``.
    """

    patches: tuple[tuple[int, bytes], ...]
    truncate_at: int
    tail: bytes


# --------------------------------------------------------------------------------------------
# Value decoding


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def rational_equals(entry: ExifEntry, value: object) -> bool | None:
    """Whether ``entry.value == value`` for a RATIONAL/SRATIONAL entry and a ``Fraction`` (or
    tuple of them), from the stored integers without building ``Fraction`` objects; ``None``
    when the entry or the value is of another kind. A one-item tuple equals a single value, as
    for :attr:`ExifEntry.value` itself; a stored zero denominator (value ``None``) equals
    nothing."""
    typ = entry.type
    if typ != RATIONAL and typ != SRATIONAL:
        return None
    items = value if type(value) is tuple else (value,)
    for item in items:
        if type(item) is not Fraction:
            return None
    count = entry.count
    ints = struct.unpack(f"{entry.order}{2 * count}{'I' if typ == RATIONAL else 'i'}", entry.raw)
    if 0 in ints[1::2]:
        return False
    if len(items) != count:
        return False
    k = 0
    for item in items:
        # n/d == p/q exactly when n*q == p*d (no zero denominator)
        if ints[k] * item.denominator != item.numerator * ints[k + 1]:
            return False
        k += 2
    return True


def _decode_value(e: ExifEntry) -> ExifValue | None:
    typ, raw, count = e.type, e.raw, e.count
    if typ == ASCII:
        if e.tag == _COPYRIGHT and e.ifd == "IFD0":
            first, _, rest = raw.partition(b"\0")
            photographer = _text(first).rstrip()
            editor = _text(rest.partition(b"\0")[0]).rstrip()
            if not editor:
                return photographer
            return f"{photographer if photographer.strip() else ''}\n{editor}"
        return _text(raw.partition(b"\0")[0]).rstrip()
    if typ == UTF8:
        return raw.partition(b"\0")[0].decode("utf-8", "replace").rstrip()
    if typ in (BYTE, UNDEFINED):
        return raw
    if typ in (RATIONAL, SRATIONAL):
        ints = struct.unpack(f"{e.order}{2 * count}{'I' if typ == RATIONAL else 'i'}", raw)
        dens = ints[1::2]
        if 0 in dens:
            return None
        fractions = tuple(Fraction(n, d) for n, d in zip(ints[::2], dens, strict=True))
        return fractions[0] if count == 1 else fractions
    code = _NUM_CODES.get(typ)
    if code is None:  # pragma: no cover - entries of unknown type are never built
        return raw
    values = struct.unpack(f"{e.order}{count}{code}", raw)
    if count == 1:
        return values[0]  # type: ignore[no-any-return]
    return tuple(values)


# --------------------------------------------------------------------------------------------
# Walking


def _as_buffer(data: Buffer) -> Buffer:
    if isinstance(data, memoryview) and (data.format != "B" or data.ndim != 1):
        return data.cast("B")
    return data


def _parse_header(data: Buffer) -> tuple[ByteOrder, bool, int]:
    """Byte order, BigTIFF flag and IFD0 offset; ``CorruptFileError`` when not a TIFF header."""
    if len(data) < 8:
        raise CorruptFileError(
            f"TIFF header needs 8 bytes, the block has {len(data)}", code="exif-header", offset=0
        )
    mark = bytes(data[0:2])
    order: ByteOrder
    if mark == b"II":
        order = "<"
    elif mark == b"MM":
        order = ">"
    else:
        raise CorruptFileError(
            f"not a TIFF header (byte order mark {mark!r})", code="exif-header", offset=0
        )
    magic = struct.unpack_from(order + "H", data, 2)[0]
    # 42 is TIFF; Olympus ORF uses "RO"/"SR" and Panasonic RW2 0x55 with an otherwise classic layout
    if magic in (42, 0x4F52, 0x5352, 0x0055):
        return order, False, int(struct.unpack_from(order + "I", data, 4)[0])
    if magic == 43:
        if len(data) < 16:
            raise CorruptFileError("BigTIFF header is truncated", code="exif-header", offset=0)
        size, zero, first = struct.unpack_from(order + "HHQ", data, 4)
        if size != 8 or zero != 0:
            raise CorruptFileError("bad BigTIFF header", code="exif-header", offset=4)
        return order, True, int(first)
    raise CorruptFileError(f"bad TIFF magic number {magic}", code="exif-header", offset=2)


@dataclass(slots=True)
class _RawEntry:
    tag: int
    type: int
    count: int
    entry_offset: int
    value_offset: int | None
    size: int  # value bytes; -1 when the type is unknown (value not located)


@dataclass(slots=True)
class _Ptr:
    kind: Literal["header", "next", "entry", "array"]
    parent: str | None
    tag: int
    location: int  # absolute offset of the pointer bytes


@dataclass(slots=True)
class _Dir:
    name: str
    offset: int
    count: int
    size: int  # bytes of count + entries + next link
    next_offset: int
    entries: list[_RawEntry]
    ptr: _Ptr
    next_name: str | None = None
    children: list[str] = field(default_factory=list)


class _Walker:
    """Walks every IFD once; warns (tolerant) or raises (strict) on structural problems."""

    def __init__(self, data: Buffer, limits: Limits, *, strict: bool) -> None:
        self.data = data
        self.n = len(data)
        self.limits = limits
        self.strict = strict
        self.order, self.big, self.first = _parse_header(data)
        self.warnings: list[CorruptFileError] = []
        self.dirs: dict[str, _Dir] = {}
        # Entries by tag of the directories read entry by entry; the others (every entry sound)
        # keep only their _RawEntry list, and their ExifEntry objects are built on demand.
        self._ifds: dict[str, dict[int, ExifEntry]] = {}
        self._firsts: dict[str, dict[int, _RawEntry]] = {}
        self.visited: set[int] = set()
        self.total = 0
        self.sub_count = 0
        self.entries_seen = 0
        self.stopped = False
        self.opaque = False  # an entry of unknown type: its value cannot be located

    @property
    def ifds(self) -> dict[str, dict[int, ExifEntry]]:
        """Every directory's entries by tag (the first one wins when a tag repeats)."""
        out: dict[str, dict[int, ExifEntry]] = {}
        for name in self.dirs:
            entries = self._ifds.get(name)
            if entries is None:
                entries = {tag: self._make(name, rent) for tag, rent in self._firsts[name].items()}
            out[name] = entries
        return out

    def entry(self, name: str, tag: int) -> ExifEntry | None:
        """The entry of ``tag`` in the directory ``name`` (read), or ``None``."""
        entries = self._ifds.get(name)
        if entries is not None:
            return entries.get(tag)
        rent = self._firsts[name].get(tag)
        return None if rent is None else self._make(name, rent)

    def _make(self, name: str, rent: _RawEntry) -> ExifEntry:
        voff, size = rent.value_offset, rent.size
        at = rent.entry_offset + (12 if self.big else 8) if voff is None else voff
        entry = _new_entry(ExifEntry)  # the frozen dataclass __init__ is 3x slower
        entry.__dict__.update(ifd=name, tag=rent.tag, type=rent.type, count=rent.count,
                              entry_offset=rent.entry_offset, value_offset=voff,
                              raw=bytes(self.data[at : at + size]), order=self.order)
        return entry

    def warn(self, msg: str, code: str, offset: int | None, *, limit: bool = False) -> None:
        cls = LimitExceededError if limit else CorruptFileError
        err = cls(msg, code=code, offset=offset)
        if self.strict and code not in _BENIGN:
            raise err
        self.warnings.append(err)
        if len(self.warnings) >= _MAX_WARNINGS and not self.stopped:
            self.stopped = True
            stop = LimitExceededError(f"more than {_MAX_WARNINGS} problems; stopped reading",
                                      code="limit", offset=offset)
            if self.strict:
                raise stop
            self.warnings.append(stop)

    def run(self) -> None:
        stack: list[tuple[str, int, _Ptr]] = [("IFD0", self.first, _Ptr("header", None, 0, 4))]
        while stack and not self.stopped:
            name, off, ptr = stack.pop()
            d = self._read_dir(name, off, ptr)
            if d is None:
                continue
            pending = self._children(d)
            if d.next_offset and name.startswith("IFD"):
                nxt = f"IFD{int(name[3:]) + 1}"
                link = d.offset + d.size - (8 if self.big else 4)
                d.next_name = nxt
                stack.append((nxt, d.next_offset, _Ptr("next", name, 0, link)))
            stack.extend(reversed(pending))

    def _read_dir(self, name: str, off: int, ptr: _Ptr) -> _Dir | None:
        big, order, data, n = self.big, self.order, self.data, self.n
        csize, esize, lsize = (8, 20, 8) if big else (2, 12, 4)
        if off < (16 if big else 8) or off + csize > n:
            self.warn(f"{name} offset {off} lies outside the block ({n} bytes)",
                      "ifd-out-of-range", off)
            return None
        if off in self.visited:
            self.warn(f"{name} at {off} was already read (pointer loop)", "ifd-loop", off)
            return None
        if len(self.dirs) >= self.limits.max_ifds:
            self.warn(f"more than {self.limits.max_ifds} IFDs", "limit", off, limit=True)
            self.stopped = True
            return None
        self.visited.add(off)
        count = int(struct.unpack_from(order + ("Q" if big else "H"), data, off)[0])
        if count > self.limits.max_ifd_entries:
            self.warn(f"{name} has {count} entries, more than the limit of "
                      f"{self.limits.max_ifd_entries}", "limit", off, limit=True)
            return None
        self.entries_seen += count
        if self.entries_seen > 4 * self.limits.max_ifd_entries:
            self.warn(f"more than {4 * self.limits.max_ifd_entries} directory entries in all",
                      "limit", off, limit=True)
            self.stopped = True
            return None
        start = off + csize
        fit = (n - start) // esize
        next_offset = 0
        if count > fit:
            self.warn(f"{name} declares {count} entries but only {fit} fit in the block",
                      "ifd-truncated", off)
            count = fit
        else:
            link = start + count * esize
            if link + lsize <= n:
                next_offset = int(struct.unpack_from(order + ("Q" if big else "I"), data, link)[0])
            else:
                self.warn(f"{name} has no next-IFD link", "ifd-no-next", link)
        raws: list[_RawEntry] = []
        d = _Dir(name, off, count, csize + count * esize + lsize, next_offset, raws, ptr)
        self.dirs[name] = d
        if not big and count and self._columns(d, start, count):
            return d
        entries: dict[int, ExifEntry] = {}
        self._ifds[name] = entries
        block = data[start : start + count * esize]
        fmt = order + ("HHQ8s" if big else "HHI4s")
        cap = 8 if big else 4
        endian: Literal["little", "big"] = "little" if order == "<" else "big"
        max_total = self.limits.max_metadata_bytes
        new_entry = object.__new__
        for i, (tag, typ, cnt, fld) in enumerate(struct.iter_unpack(fmt, block)):
            eoff = start + i * esize
            unit = _SIZES.get(typ)
            if unit is None:
                self.warn(f"{tag_name(name, tag)} has unknown type {typ}", "bad-type", eoff)
                raws.append(_RawEntry(tag, typ, cnt, eoff, None, -1))
                self.opaque = True
                continue
            size = unit * cnt
            voff: int | None
            if size <= cap:
                voff = None
                raw = fld[:size]
            else:
                voff = int.from_bytes(fld, endian)
                if voff + size > n:
                    self.warn(f"{tag_name(name, tag)} value ({size} bytes at {voff}) runs past "
                              f"the end of the block ({n} bytes)", "value-out-of-range", eoff)
                    continue
                self.total += size
                if self.total > max_total:
                    self.warn(f"EXIF values exceed the limit of {max_total} bytes", "limit",
                              eoff, limit=True)
                    self.stopped = True
                    break
                raw = bytes(data[voff : voff + size])
            raws.append(_RawEntry(tag, typ, cnt, eoff, voff, size))
            if tag in entries:
                self.warn(f"{tag_name(name, tag)} appears twice in {name}", "duplicate-tag", eoff)
                continue
            entry = new_entry(ExifEntry)  # the frozen dataclass __init__ is 3x slower
            entry.__dict__.update(ifd=name, tag=tag, type=typ, count=cnt, entry_offset=eoff,
                                  value_offset=voff, raw=raw, order=order)
            entries[tag] = entry
        return d

    def _columns(self, d: _Dir, start: int, count: int) -> bool:
        """Read a classic directory at once; False (nothing recorded) when any entry needs a
        warning, so that it must be read entry by entry."""
        fields4 = _dir_struct(self.order + "c", count).unpack_from(self.data, start)
        types = fields4[1::4]
        if not _KNOWN_TYPES.issuperset(types):
            return False
        tags = fields4[0::4]
        if len(set(tags)) != count:
            return False
        counts, offs = fields4[2::4], fields4[3::4]
        sizes = list(map(operator.mul, map(_size_of, types), counts))
        voffs = [o if s > 4 else None for o, s in zip(offs, sizes, strict=True)]
        far = [s for s in sizes if s > 4]  # values stored out of line
        if far:
            n = self.n
            if any(o is not None and o + s > n for o, s in zip(voffs, sizes, strict=True)):
                return False
            total = self.total + sum(far)
            if total > self.limits.max_metadata_bytes:
                return False
            self.total = total
        raws = list(map(_RawEntry, tags, types, counts, range(start, start + 12 * count, 12),
                        voffs, sizes))
        d.entries = raws
        self._firsts[d.name] = dict(zip(tags, raws, strict=True))
        return True

    def _children(self, d: _Dir) -> list[tuple[str, int, _Ptr]]:
        name = d.name
        wanted: list[tuple[int, str | None]] = []
        if name == "IFD0":
            wanted = [(_EXIF_PTR, "ExifIFD"), (_GPS_PTR, "GPS"), (_SUBIFDS, None)]
        elif name == "ExifIFD":
            wanted = [(_INTEROP_PTR, "Interop")]
        elif name.startswith(("IFD", "SubIFD")):
            wanted = [(_SUBIFDS, None)]
        out: list[tuple[str, int, _Ptr]] = []
        for tag, child in wanted:
            e = self.entry(name, tag)
            if e is None:
                continue
            if e.type not in _POINTER_TYPES or e.count < 1 or (child is not None and e.count != 1):
                self.warn(f"{tag_name(name, tag)} is not a valid IFD pointer (type {e.type}, "
                          f"count {e.count})", "bad-pointer", e.entry_offset)
                continue
            unit = _SIZES[e.type]
            if e.count > self.limits.max_ifds:
                self.warn(f"{tag_name(name, tag)} lists {e.count} IFDs", "limit",
                          e.entry_offset, limit=True)
                continue
            code = "Q" if unit == 8 else "I"
            offsets = struct.unpack(f"{self.order}{e.count}{code}", e.raw)
            for k, target in enumerate(offsets):
                if e.value_offset is None:
                    kind: Literal["entry", "array"] = "entry"
                    loc = e.entry_offset + (12 if self.big else 8)
                else:
                    kind = "array"
                    loc = e.value_offset + k * unit
                if target == 0:
                    self.warn(f"{tag_name(name, tag)} points at offset 0", "bad-pointer",
                              e.entry_offset)
                    continue
                cname = child
                if cname is None:
                    cname = f"SubIFD{self.sub_count}"
                    self.sub_count += 1
                d.children.append(cname)
                out.append((cname, target, _Ptr(kind, name, tag, loc)))
        return out


_KNOWN_TYPES: Final = frozenset(_SIZES)
_size_of = _SIZES.__getitem__
_new_entry = object.__new__
_DIR_STRUCTS: dict[tuple[str, int], struct.Struct] = {}  # (order + "c"/"b", count) -> entries
_CACHED_DIR_COUNT: Final = 64  # bigger directories are rare: not worth a cached Struct each
_INDEX_FROM: Final = 16  # directories with more entries get a tag -> index dict


def _dir_struct(kind: str, count: int) -> struct.Struct:
    """The Struct unpacking ``count`` entries at once (``kind``: byte order, then ``c`` for
    classic TIFF or ``b`` for BigTIFF)."""
    key = (kind, count)
    found = _DIR_STRUCTS.get(key)
    if found is None:
        found = struct.Struct(kind[0] + ("HHII" if kind[1] == "c" else "HHQQ") * count)
        if count <= _CACHED_DIR_COUNT:
            _DIR_STRUCTS[key] = found
    return found


class _LazyIfd:
    """One directory as :func:`decode` found it; its :class:`ExifEntry` objects are built on
    demand.

    A directory whose entries all check out (known types, no repeated tag, values inside the
    block, within the byte budget) keeps its entries as one flat tuple of (tag, type, count,
    offset) fields. Any other is built entry by entry while decoding (``full``), with the
    warnings that go with it.
    """

    __slots__ = ("big", "blk", "blk_base", "fields4", "full", "index", "made", "name", "order",
                 "outs", "src", "start", "tags")

    def __init__(self, name: str, order: ByteOrder, big: bool, start: int) -> None:
        self.name = name
        self.order: ByteOrder = order
        self.big = big
        self.start = start
        self.full: dict[int, ExifEntry] | None = None
        self.made: dict[int, ExifEntry] = {}
        self.index: dict[int, int] | None = None
        self.tags: tuple[int, ...] = ()
        self.fields4: tuple[int, ...] = ()  # tag, type, count, offset of each entry
        self.blk: Buffer = b""  # inline values are read from here...
        self.blk_base = 0  # ...which starts at this offset of the structure
        self.src: bytes | None = None  # out-of-line values are read from here, else from outs
        self.outs: dict[int, bytes] = {}

    def _find(self, tag: int) -> int | None:
        index = self.index
        if index is not None:
            return index.get(tag)
        tags = self.tags
        if len(tags) >= _INDEX_FROM:
            self.index = index = dict(zip(tags, range(len(tags)), strict=True))
            return index.get(tag)
        return tags.index(tag) if tag in tags else None

    def fields(self, tag: int) -> tuple[int, int, int, int | None, bytes] | None:
        """(type, count, entry offset, value offset, raw) of ``tag``, or ``None``."""
        if self.full is not None:
            e = self.full.get(tag)
            if e is None:
                return None
            return e.type, e.count, e.entry_offset, e.value_offset, e.raw
        i = self._find(tag)
        return None if i is None else self._fields_at(i)

    def _fields_at(self, i: int) -> tuple[int, int, int, int | None, bytes]:
        k = 4 * i
        _tag, typ, cnt, off = self.fields4[k : k + 4]
        size = _SIZES[typ] * cnt
        if self.big:
            eoff = self.start + 20 * i
            inline, at = size <= 8, eoff + 12
        else:
            eoff = self.start + 12 * i
            inline, at = size <= 4, eoff + 8
        if inline:
            at -= self.blk_base
            return typ, cnt, eoff, None, bytes(self.blk[at : at + size])
        src = self.src
        return typ, cnt, eoff, off, self.outs[i] if src is None else src[off : off + size]

    def _make(self, tag: int, i: int) -> ExifEntry:
        typ, cnt, eoff, voff, raw = self._fields_at(i)
        entry = _new_entry(ExifEntry)  # the frozen dataclass __init__ is 3x slower
        d = entry.__dict__
        d["ifd"] = self.name
        d["tag"] = tag
        d["type"] = typ
        d["count"] = cnt
        d["entry_offset"] = eoff
        d["value_offset"] = voff
        d["raw"] = raw
        d["order"] = self.order
        self.made[tag] = entry
        return entry

    def entry(self, tag: int) -> ExifEntry | None:
        if self.full is not None:
            return self.full.get(tag)
        entry = self.made.get(tag)
        if entry is not None:
            return entry
        i = self._find(tag)
        return None if i is None else self._make(tag, i)

    def entries(self) -> dict[int, ExifEntry]:
        """Every entry, in file order."""
        if self.full is None:
            made = self.made
            self.full = {
                tag: made[tag] if tag in made else self._make(tag, i)
                for i, tag in enumerate(self.tags)
            }
        return self.full


class _Decoder:
    """The tolerant walk of :func:`decode`: the same directories, entries and warnings as
    ``_Walker(strict=False)``, without the bookkeeping that patching needs, and with entries
    left packed until they are asked for."""

    def __init__(self, data: Buffer, limits: Limits) -> None:
        self.data = data
        self.n = len(data)
        self.limits = limits
        self.order, self.big, self.first = _parse_header(data)
        self.kind = self.order + ("b" if self.big else "c")
        self.count_s = struct.Struct(self.order + ("Q" if self.big else "H"))
        self.link_s = struct.Struct(self.order + ("Q" if self.big else "I"))
        self.src = data if type(data) is bytes else None
        self.warnings: list[CorruptFileError] = []
        self.dirs: dict[str, _LazyIfd] = {}
        self.offsets: dict[str, int] = {}
        self.visited: set[int] = set()
        self.total = 0
        self.sub_count = 0
        self.entries_seen = 0
        self.stopped = False

    def warn(self, msg: str, code: str, offset: int | None, *, limit: bool = False) -> None:
        cls = LimitExceededError if limit else CorruptFileError
        self.warnings.append(cls(msg, code=code, offset=offset))
        if len(self.warnings) >= _MAX_WARNINGS and not self.stopped:
            self.stopped = True
            self.warnings.append(LimitExceededError(
                f"more than {_MAX_WARNINGS} problems; stopped reading", code="limit",
                offset=offset))

    def run(self) -> None:
        stack: list[tuple[str, int]] = [("IFD0", self.first)]
        while stack and not self.stopped:
            name, off = stack.pop()
            found = self._read_dir(name, off)
            if found is None:
                continue
            d, next_offset = found
            pending = self._children(d)
            if next_offset and name.startswith("IFD"):
                stack.append((f"IFD{int(name[3:]) + 1}", next_offset))
            if pending:
                stack.extend(reversed(pending))

    def _read_dir(self, name: str, off: int) -> tuple[_LazyIfd, int] | None:
        big, data, n = self.big, self.data, self.n
        csize, esize, lsize = (8, 20, 8) if big else (2, 12, 4)
        if off < (16 if big else 8) or off + csize > n:
            self.warn(f"{name} offset {off} lies outside the block ({n} bytes)",
                      "ifd-out-of-range", off)
            return None
        if off in self.visited:
            self.warn(f"{name} at {off} was already read (pointer loop)", "ifd-loop", off)
            return None
        limits = self.limits
        if len(self.dirs) >= limits.max_ifds:
            self.warn(f"more than {limits.max_ifds} IFDs", "limit", off, limit=True)
            self.stopped = True
            return None
        self.visited.add(off)
        count: int = self.count_s.unpack_from(data, off)[0]
        if count > limits.max_ifd_entries:
            self.warn(f"{name} has {count} entries, more than the limit of "
                      f"{limits.max_ifd_entries}", "limit", off, limit=True)
            return None
        self.entries_seen += count
        if self.entries_seen > 4 * limits.max_ifd_entries:
            self.warn(f"more than {4 * limits.max_ifd_entries} directory entries in all",
                      "limit", off, limit=True)
            self.stopped = True
            return None
        start = off + csize
        fit = (n - start) // esize
        next_offset = 0
        if count > fit:
            self.warn(f"{name} declares {count} entries but only {fit} fit in the block",
                      "ifd-truncated", off)
            count = fit
        else:
            link = start + count * esize
            if link + lsize <= n:
                next_offset = self.link_s.unpack_from(data, link)[0]
            else:
                self.warn(f"{name} has no next-IFD link", "ifd-no-next", link)
        d = _LazyIfd(name, self.order, big, start)
        self.dirs[name] = d
        self.offsets[name] = off
        if not count:
            d.full = {}
        elif not self._columns(d, count):
            self._entries_one_by_one(d, count)
        return d, next_offset

    def _columns(self, d: _LazyIfd, count: int) -> bool:
        """Unpack the entries at once; False (nothing recorded) when any entry needs a
        warning, so that the directory must be read entry by entry."""
        data, start, src = self.data, d.start, self.src
        fields4 = _dir_struct(self.kind, count).unpack_from(data, start)
        types = fields4[1::4]
        if not _KNOWN_TYPES.issuperset(types):
            return False
        tags = fields4[0::4]
        if len(set(tags)) != count:
            return False
        cap = 8 if self.big else 4
        sizes = map(operator.mul, map(_size_of, types), fields4[2::4])
        far = [(i, s) for i, s in enumerate(sizes) if s > cap]  # values stored out of line
        if far:
            n, total = self.n, self.total
            for i, s in far:
                total += s
                if fields4[4 * i + 3] + s > n:
                    return False
            if total > self.limits.max_metadata_bytes:
                return False
            self.total = total
            if src is None:  # a buffer that may change or close: copy the values now
                outs = d.outs = {}
                for i, s in far:
                    o = fields4[4 * i + 3]
                    outs[i] = bytes(data[o : o + s])
        d.tags, d.fields4 = tags, fields4
        if src is None:
            d.blk = bytes(data[start : start + count * (20 if self.big else 12)])
            d.blk_base = start
        else:
            d.blk = d.src = src
        return True

    def _entries_one_by_one(self, d: _LazyIfd, count: int) -> None:
        big, order, data, n, name = self.big, self.order, self.data, self.n, d.name
        esize, cap = (20, 8) if big else (12, 4)
        start = d.start
        entries: dict[int, ExifEntry] = {}
        d.full = entries
        block = data[start : start + count * esize]
        fmt = order + ("HHQ8s" if big else "HHI4s")
        endian: Literal["little", "big"] = "little" if order == "<" else "big"
        max_total = self.limits.max_metadata_bytes
        for i, (tag, typ, cnt, fld) in enumerate(struct.iter_unpack(fmt, block)):
            eoff = start + i * esize
            unit = _SIZES.get(typ)
            if unit is None:
                self.warn(f"{tag_name(name, tag)} has unknown type {typ}", "bad-type", eoff)
                continue
            size = unit * cnt
            voff: int | None
            if size <= cap:
                voff = None
                raw = fld[:size]
            else:
                voff = int.from_bytes(fld, endian)
                if voff + size > n:
                    self.warn(f"{tag_name(name, tag)} value ({size} bytes at {voff}) runs past "
                              f"the end of the block ({n} bytes)", "value-out-of-range", eoff)
                    continue
                self.total += size
                if self.total > max_total:
                    self.warn(f"EXIF values exceed the limit of {max_total} bytes", "limit",
                              eoff, limit=True)
                    self.stopped = True
                    break
                raw = bytes(data[voff : voff + size])
            if tag in entries:
                self.warn(f"{tag_name(name, tag)} appears twice in {name}", "duplicate-tag", eoff)
                continue
            entry = _new_entry(ExifEntry)
            entry.__dict__.update(ifd=name, tag=tag, type=typ, count=cnt, entry_offset=eoff,
                                  value_offset=voff, raw=raw, order=order)
            entries[tag] = entry

    def _children(self, d: _LazyIfd) -> list[tuple[str, int]]:
        name = d.name
        wanted: tuple[tuple[int, str | None], ...]
        if name == "IFD0":
            wanted = _IFD0_CHILDREN
        elif name == "ExifIFD":
            wanted = _EXIF_CHILDREN
        elif name.startswith(("IFD", "SubIFD")):
            wanted = _IMAGE_CHILDREN
        else:
            return []
        out: list[tuple[str, int]] = []
        for tag, child in wanted:
            found = d.fields(tag)
            if found is None:
                continue
            typ, cnt, eoff, _voff, raw = found
            if typ not in _POINTER_TYPES or cnt < 1 or (child is not None and cnt != 1):
                self.warn(f"{tag_name(name, tag)} is not a valid IFD pointer (type {typ}, "
                          f"count {cnt})", "bad-pointer", eoff)
                continue
            if cnt > self.limits.max_ifds:
                self.warn(f"{tag_name(name, tag)} lists {cnt} IFDs", "limit", eoff, limit=True)
                continue
            code = "Q" if _SIZES[typ] == 8 else "I"
            for target in struct.unpack(f"{self.order}{cnt}{code}", raw):
                if target == 0:
                    self.warn(f"{tag_name(name, tag)} points at offset 0", "bad-pointer", eoff)
                    continue
                cname = child
                if cname is None:
                    cname = f"SubIFD{self.sub_count}"
                    self.sub_count += 1
                out.append((cname, target))
        return out


_IFD0_CHILDREN: Final = ((_EXIF_PTR, "ExifIFD"), (_GPS_PTR, "GPS"), (_SUBIFDS, None))
_EXIF_CHILDREN: Final = ((_INTEROP_PTR, "Interop"),)
_IMAGE_CHILDREN: Final = ((_SUBIFDS, None),)


def decode(data: Buffer, *, limits: Limits = DEFAULT_LIMITS) -> ExifData:
    """Read a TIFF/EXIF structure tolerantly.

    Raises ``CorruptFileError`` (code ``exif-header``) only when the header itself is bad;
    every other problem is recorded in :attr:`ExifData.warnings` and skipped.
    """
    w = _Decoder(_as_buffer(data), limits)
    w.run()
    return ExifData._from_lazy(w.order, w.dirs, w.offsets, w.warnings, w.big)


# --------------------------------------------------------------------------------------------
# Value encoding


@dataclass(frozen=True, slots=True)
class _Enc:
    type: int
    count: int
    payload: bytes


_INT_RANGES: Final[dict[int, tuple[int, int, str]]] = {
    BYTE: (0, 0xFF, "B"), UNDEFINED: (0, 0xFF, "B"), SBYTE: (-0x80, 0x7F, "b"),
    SHORT: (0, 0xFFFF, "H"), SSHORT: (-0x8000, 0x7FFF, "h"),
    LONG: (0, 0xFFFFFFFF, "I"), SLONG: (-0x80000000, 0x7FFFFFFF, "i"),
}


def _encode(w: ExifWrite, order: ByteOrder, ifd: str, tag: int) -> _Enc:
    typ, value = w.type, w.value

    def bad(msg: str) -> InvalidValueError:
        name = tag_name(ifd, tag)
        return InvalidValueError(f"{name}: {msg}", code="exif-value", field=name)

    if typ not in _WRITABLE_TYPES:
        name = tag_name(ifd, tag)
        raise InvalidValueError(f"{name}: cannot write TIFF type {typ}", code="exif-type",
                                field=name)
    if typ in (ASCII, UTF8):
        if type(value) is str and "\n" not in value and "\0" not in value:
            payload = value.encode() + b"\0"  # the common case: plain ASCII text
        elif isinstance(value, str):
            if "\0" in value:
                raise bad("text must not contain NUL")
            if typ == ASCII and ifd == "IFD0" and tag == _COPYRIGHT and "\n" in value:
                photographer, _, editor = value.partition("\n")
                payload = (photographer or " ").encode("utf-8") + b"\0"
                if editor:
                    payload += editor.encode("utf-8") + b"\0"
            else:
                payload = value.encode("utf-8") + b"\0"
        elif isinstance(value, bytes):
            payload = value if value.endswith(b"\0") else value + b"\0"
        else:
            raise bad(f"expected str, got {type(value).__name__}")
        return _Enc(typ, len(payload), payload)
    if typ in (BYTE, UNDEFINED) and isinstance(value, (bytes, bytearray)):
        return _Enc(typ, len(value), bytes(value))
    items: tuple[object, ...] = value if isinstance(value, tuple) else (value,)
    count = len(items)
    if typ in _INT_RANGES:
        lo, hi, code = _INT_RANGES[typ]
        ints: list[int] = []
        for item in items:
            if not isinstance(item, int) or isinstance(item, bool):
                raise bad(f"expected integers, got {type(item).__name__}")
            if not lo <= item <= hi:
                raise bad(f"{item} is out of range for TIFF type {typ}")
            ints.append(item)
        return _Enc(typ, count, struct.pack(f"{order}{count}{code}", *ints))
    if typ in (RATIONAL, SRATIONAL):
        signed = typ == SRATIONAL
        lo, hi = (-0x80000000, 0x7FFFFFFF) if signed else (0, 0xFFFFFFFF)
        pairs: list[int] = []
        for item in items:
            if isinstance(item, bool) or not isinstance(item, (int, Fraction, float)):
                raise bad(f"expected Fraction or int, got {type(item).__name__}")
            if isinstance(item, float) and not math.isfinite(item):
                raise bad(f"{item} is not a finite number")
            frac = item if type(item) is Fraction else Fraction(item)
            if frac.denominator > hi:
                frac = frac.limit_denominator(hi)
            if not lo <= frac.numerator <= hi:
                raise bad(f"{item} does not fit a TIFF rational")
            pairs += (frac.numerator, frac.denominator)
        return _Enc(typ, count, struct.pack(f"{order}{2 * count}{'i' if signed else 'I'}", *pairs))
    floats: list[float] = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, float, Fraction)):
            raise bad(f"expected float, got {type(item).__name__}")
        floats.append(float(item))
    try:
        payload = struct.pack(f"{order}{count}{'f' if typ == FLOAT else 'd'}", *floats)
    except OverflowError as exc:
        raise bad("value does not fit a TIFF float") from exc
    return _Enc(typ, count, payload)


# Encoded values by (order, ifd, tag, type, value kind, value): a batch writes the same values
# into many files. Only values whose kind pins the encoding are cached (1 == 1.0 == Fraction(1)
# hash alike but do not all encode alike).
_ENC_CACHE: dict[tuple[object, ...], _Enc] = {}
_ENC_CACHE_MAX: Final = 4096


def _value_kind(value: object) -> str | None:
    cls = type(value)
    if cls is str or cls is bytes:
        return cls.__name__
    if cls is tuple:
        assert isinstance(value, tuple)
        if not value:
            return None
        first = type(value[0])
        if first is not Fraction and first is not int:
            return None
        for item in value:
            if type(item) is not first:
                return None
        return "tuple-" + first.__name__
    return None


def _encode_cached(w: ExifWrite, order: ByteOrder, ifd: str, tag: int) -> _Enc:
    value = w.value
    kind = _value_kind(value)
    if kind is None or type(w.type) is not int:
        return _encode(w, order, ifd, tag)
    key = (order, ifd, tag, w.type, kind, value)
    enc = _ENC_CACHE.get(key)
    if enc is None:
        enc = _encode(w, order, ifd, tag)
        if len(_ENC_CACHE) >= _ENC_CACHE_MAX:
            _ENC_CACHE.clear()
        _ENC_CACHE[key] = enc
    return enc


# --------------------------------------------------------------------------------------------
# Intervals


def _merge(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        if s >= e:
            continue
        if out and s <= out[-1][1]:
            if e > out[-1][1]:
                out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def _subtract(spans: list[tuple[int, int]], holes: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``spans`` minus ``holes`` (both merged, sorted)."""
    out: list[tuple[int, int]] = []
    j = 0
    for s, e in spans:
        while j < len(holes) and holes[j][1] <= s:
            j += 1
        k = j
        cur = s
        while k < len(holes) and holes[k][0] < e:
            hs, he = holes[k]
            if hs > cur:
                out.append((cur, hs))
            cur = max(cur, he)
            k += 1
        if cur < e:
            out.append((cur, e))
    return out


# --------------------------------------------------------------------------------------------
# Patching

_FIXED, _DIRK, _VAL, _DEAD = 0, 1, 2, 3


@dataclass(slots=True)
class _Item:
    """One entry of a directory as it will be written."""

    tag: int
    raw: _RawEntry | None = None  # kept entry, copied verbatim (value offset may be relocated)
    enc: _Enc | None = None  # new value
    old: _RawEntry | None = None  # the entry ``enc`` replaces
    child: str | None = None  # pointer to this directory
    ptr_type: int = LONG
    new_offset: int | None = None  # allocated out-of-line offset (new value or relocated one)
    reuse: bool = False  # ``enc`` overwrites ``old``'s value slot in place


# (parent, pointer tag) -> the sub-IFD it points at.
_CHILD_OF: Final = {pt: c for c, pt in _SUB_IFDS.items()}
# IFD names already checked against _IFD_NAME (bounded: names are caller input).
_GOOD_IFD_NAMES: set[str] = {"IFD0", "IFD1", "ExifIFD", "GPS", "Interop"}


def _normalize(
    edits: Edits, order: ByteOrder
) -> tuple[dict[str, dict[int, _Enc | None]], set[str]]:
    """Per-IFD encoded edits, and the sub-IFDs whose pointer the caller deletes."""
    out: dict[str, dict[int, _Enc | None]] = {}
    drop: set[str] = set()
    for key, write in edits.items():
        ifd, tag = key
        if ifd not in _GOOD_IFD_NAMES:
            if not isinstance(ifd, str) or not _IFD_NAME.fullmatch(ifd):
                raise InvalidValueError(f"unknown IFD name {ifd!r}", code="exif-ifd",
                                        field=str(ifd))
            if len(_GOOD_IFD_NAMES) < 1024:
                _GOOD_IFD_NAMES.add(ifd)
        if isinstance(tag, bool) or not isinstance(tag, int) or not 0 <= tag <= 0xFFFF:
            raise InvalidValueError(f"bad tag number {tag!r}", code="exif-tag", field=ifd)
        child = _CHILD_OF.get((ifd, tag))
        if child is not None:
            if write is not None:
                name = tag_name(ifd, tag)
                raise InvalidValueError(f"{name} is an IFD pointer the codec manages; only "
                                        "deleting it is allowed", code="exif-pointer", field=name)
            drop.add(child)
            continue
        if tag in _OFFSET_TAGS and not ifd.startswith(("Exif", "GPS", "Interop")):
            name = tag_name(ifd, tag)
            raise InvalidValueError(f"{name} holds offsets and cannot be edited",
                                    code="exif-pointer", field=name)
        if write is None:
            enc = None
        elif write.__class__ is ExifWrite or isinstance(write, ExifWrite):
            enc = _encode_cached(write, order, ifd, tag)
        else:
            name = tag_name(ifd, tag)
            raise InvalidValueError(f"{name}: expected ExifWrite or None", code="exif-value",
                                    field=name)
        found = out.get(ifd)
        if found is None:
            out[ifd] = {tag: enc}
        else:
            found[tag] = enc
    return out, drop


_ITEM_TAG: Final = operator.attrgetter("tag")
_START_END: Final = operator.itemgetter(0, 1)
# Per byte order: directory count, entry (tag, type, count, offset), link, entry with inline value.
_RENDER_STRUCTS: Final = {
    order: (struct.Struct(order + "H"), struct.Struct(order + "HHII"), struct.Struct(order + "I"),
            struct.Struct(order + "HHI4s"))
    for order in ("<", ">")
}


class _Planner:
    def __init__(self, data: Buffer, walker: _Walker, edits: Edits) -> None:
        self.data = data
        self.n = len(data)
        self.w = walker
        self.order: ByteOrder = walker.order
        self.dirs = walker.dirs
        self.edits, self.drop = _normalize(edits, walker.order)
        self._by_tag: dict[str, list[_Item]] = {}

    # -- the new logical structure -------------------------------------------------------

    def _subtree(self, name: str) -> list[str]:
        out: list[str] = []
        todo = [name]
        while todo:
            cur = todo.pop()
            if cur in self.dirs and cur not in out:
                out.append(cur)
                todo.extend(self.dirs[cur].children)
        return out

    def _build(self) -> None:
        dirs, edits = self.dirs, self.edits
        removed: set[str] = set()
        for child in self.drop:
            subtree = self._subtree(child)
            names = {child, *subtree, *(n for n, (p, _t) in _SUB_IFDS.items() if p == child)}
            for sub in names:
                if any(v is not None for v in edits.get(sub, {}).values()):
                    raise InvalidValueError(
                        f"cannot delete {child} and write tags in {sub} at the same time",
                        code="exif-conflict", field=sub)
                edits.pop(sub, None)
            removed.update(subtree)
        # Pointers held in a directory entry (inline): (parent, tag) -> child.
        entry_child: dict[str, dict[int, str]] = {}  # parent -> {tag: child}
        for d in dirs.values():
            if d.ptr.kind == "entry" and d.ptr.parent is not None:
                entry_child.setdefault(d.ptr.parent, {})[d.ptr.tag] = d.name
        final: dict[str, list[_Item]] = {}
        touched: set[str] = set()
        no_edits: dict[int, _Enc | None] = {}
        for name, d in dirs.items():
            if name in removed:
                continue
            ed = edits.get(name, no_edits)
            here = entry_child.get(name)
            items: list[_Item]
            replaced: dict[int, _RawEntry] = {}
            if not ed and not here:  # the common case: every entry kept as it is
                items = [_Item(rent.tag, rent) for rent in d.entries]
                final[name] = items
                continue
            items = []
            for rent in d.entries:
                tag = rent.tag
                if tag in ed:
                    replaced.setdefault(tag, rent)
                    touched.add(name)
                    continue
                pointee = None if here is None else here.get(tag)
                if pointee is not None:
                    if pointee in removed:
                        touched.add(name)
                        continue
                    items.append(_Item(tag, raw=rent, child=pointee, ptr_type=rent.type))
                else:
                    items.append(_Item(tag, rent))
            for tag, enc in ed.items():
                if enc is not None:
                    items.append(_Item(tag, enc=enc, old=replaced.get(tag)))
                    touched.add(name)
            final[name] = items
        created: list[str] = []

        def ensure(name: str) -> None:
            if name in final:
                return
            parent, tag = _SUB_IFDS[name]
            final[name] = []
            created.append(name)
            touched.add(name)
            ensure(parent)
            final[parent].append(_Item(tag, child=name))
            touched.add(parent)

        for name, ed in edits.items():
            if name in dirs or not any(v is not None for v in ed.values()):
                continue
            if name not in _SUB_IFDS:
                raise InvalidValueError(f"the structure has no {name} and it cannot be created",
                                        code="exif-no-ifd", field=name)
            ensure(name)
            final[name].extend(_Item(t, enc=v) for t, v in ed.items() if v is not None)
        # An edited sub-IFD left empty goes, with its pointer (deepest first).
        for name in ("Interop", "GPS", "ExifIFD"):
            if name in final and not final[name] and name in touched:
                del final[name]
                parent = _SUB_IFDS[name][0]
                final[parent] = [it for it in final[parent] if it.child != name]
                touched.add(parent)
                if name in dirs:
                    removed.add(name)
                if name in created:
                    created.remove(name)
        self.final = final
        self.removed = removed
        self.created = created
        self.touched = touched
        self.moves = {n for n in final if n in created or len(final[n]) > dirs[n].count}

    # -- which bytes live, die, or may move ---------------------------------------------

    def _ranges(self) -> None:
        dirs, final = self.dirs, self.final
        kept: dict[int, _Item] = {
            id(it.raw): it for items in final.values() for it in items if it.raw is not None
        }
        self.kept = kept
        live: list[tuple[int, int, int, object]] = [(0, 8, _FIXED, None)]
        self.open_ended = False
        dead: list[tuple[int, int, object]] = []
        removed, moves = self.removed, self.moves
        entry = self.w.entry
        for name, d in dirs.items():
            if name in removed or name in moves:
                dead.append((d.offset, d.offset + d.size, name))
            else:
                live.append((d.offset, d.offset + d.size, _DIRK, name))
            image = not name.startswith(("Exif", "GPS", "Interop"))
            for rent in d.entries:
                voff = rent.value_offset
                if voff is None or rent.size <= 0:
                    continue
                item = kept.get(id(rent))
                if item is None:
                    dead.append((voff, voff + rent.size, rent))
                elif rent.type in _MOVABLE_TYPES and not (rent.tag == _SUBIFDS and image):
                    live.append((voff, voff + rent.size, _VAL, item))
                else:
                    live.append((voff, voff + rent.size, _FIXED, None))
            if name in removed:
                continue
            for off_tag, len_tag in _DATA_PAIRS:
                offs = entry(name, off_tag)
                if offs is None:
                    continue
                lens = entry(name, len_tag)
                if lens is None:  # data of unknown length: never cut anything
                    self.open_ended = True
                    continue
                ov, lv = offs.value, lens.value
                ovs = (ov,) if isinstance(ov, int) else ov
                lvs = (lv,) if isinstance(lv, int) else lv
                if not isinstance(ovs, tuple) or not isinstance(lvs, tuple):
                    self.open_ended = True
                    continue
                if len(lvs) < len(ovs):
                    self.open_ended = True
                for o, ln in zip(ovs, lvs, strict=False):
                    if not isinstance(o, int) or not isinstance(ln, int) or ln <= 0:
                        continue
                    if o + ln <= self.n:
                        live.append((o, o + ln, _FIXED, None))
                    else:  # runs past the end: where it stops is unknown, so never cut
                        self.open_ended = True
        # Live ranges that overlap another live range are shared: they cannot move.
        live.sort(key=_START_END)
        fixed_flags: list[bool] | None = None  # built at the first overlap
        max_end, holder = -1, -1
        for i, (s, e, _k, _o) in enumerate(live):
            if s >= e:
                continue
            if s < max_end:
                if fixed_flags is None:
                    fixed_flags = [r[2] == _FIXED for r in live]
                fixed_flags[i] = True
                fixed_flags[holder] = True
            if e > max_end:
                max_end, holder = e, i
        if fixed_flags is None:  # nothing overlaps: nothing more is fixed, no directory shared
            self.live = live
            self.shared_dirs: set[str] = set()
        else:
            self.live = [
                (s, e, _FIXED if fixed else k, o)
                for (s, e, k, o), fixed in zip(live, fixed_flags, strict=True)
            ]
            # A directory sharing bytes with something else is never rewritten in place.
            self.shared_dirs = {
                o for (_s, _e, k, o), fixed in zip(live, fixed_flags, strict=True)
                if k == _DIRK and fixed and isinstance(o, str)
            }
        self.dead = dead

    def _cut(self, reusable: set[int]) -> int:
        """Where the buffer can be cut: only dead bytes and movable pieces lie beyond it.

        Nothing is cut unless a dead range that no new value will reuse lies beyond the cut.
        """
        n = self.n
        if self.w.opaque or self.open_ended:
            return n
        if not any(s < e and id(o) not in reusable for s, e, o in self.dead):
            return n
        c0 = 8
        cover = 0
        spans = sorted(
            [(s, e) for s, e, _k, _o in self.live] + [(s, e) for s, e, _o in self.dead]
        )
        for s, e in spans:
            if s >= e:
                continue
            if s - cover >= 4 and self._unknown(cover, s):
                c0 = max(c0, s)
            if e > cover:
                cover = e
        if n - cover >= 4 and self._unknown(cover, n):
            return n
        for _s, e, k, _o in self.live:
            if k == _FIXED and e > c0:
                c0 = e
        if c0 >= n or not any(e > c0 for s, e, o in self.dead if s < e and id(o) not in reusable):
            return n
        return c0

    def _unknown(self, start: int, end: int) -> bool:
        """Bytes no known structure covers: something we cannot see may point at them.

        All-zero gaps are padding (or bytes an earlier patch zeroed) and may be cut.
        """
        step = 1 << 16
        return any(
            bytes(self.data[at : min(at + step, end)]).strip(b"\0")
            for at in range(start, end, step)
        )

    # -- layout and rendering ------------------------------------------------------------

    def _final_offset(self, name: str) -> int:
        return self.dir_offset[name] if name in self.moves else self.dirs[name].offset

    def _sorted(self, name: str) -> list[_Item]:
        """The items of ``name`` sorted by tag (stable), as they are written."""
        found = self._by_tag.get(name)
        if found is None:
            found = self._by_tag[name] = sorted(self.final[name], key=_ITEM_TAG)
        return found

    def _render(self, name: str) -> bytes:
        count_s, entry_s, link_s, inline_s = _RENDER_STRUCTS[self.order]
        pack_entry = entry_s.pack
        data = self.data
        items = self._sorted(name)
        out = [count_s.pack(len(items))]
        for it in items:
            if it.child is not None:
                out.append(pack_entry(it.tag, it.ptr_type, 1, self._final_offset(it.child)))
            elif it.enc is not None:
                enc = it.enc
                if it.new_offset is not None:
                    out.append(pack_entry(it.tag, enc.type, enc.count, it.new_offset))
                elif it.reuse:
                    assert it.old is not None and it.old.value_offset is not None
                    out.append(pack_entry(it.tag, enc.type, enc.count, it.old.value_offset))
                elif len(enc.payload) <= 4:
                    out.append(inline_s.pack(it.tag, enc.type, enc.count, enc.payload))
                else:  # pragma: no cover - a long new value always gets a slot or an offset
                    out.append(entry_s.pack(it.tag, enc.type, enc.count, 0)[:8] + enc.payload)
            else:
                assert it.raw is not None
                eoff = it.raw.entry_offset
                if it.new_offset is not None:
                    out.append(bytes(data[eoff : eoff + 8]))
                    out.append(link_s.pack(it.new_offset))
                else:
                    out.append(bytes(data[eoff : eoff + 12]))
        d = self.dirs.get(name)
        nxt = 0
        if d is not None:
            nxt = d.next_offset
            if d.next_name is not None and d.next_name in self.dirs:
                nxt = self._final_offset(d.next_name)
        out.append(link_s.pack(nxt))
        return b"".join(out)

    def plan(self) -> ExifPatch:
        self._build()
        self._ranges()
        n, order, dirs, final = self.n, self.order, self.dirs, self.final
        # Old value slots a new value can overwrite in place.
        # new values stored out of line, in directory order
        longs = [it for items in final.values() for it in items
                 if it.enc is not None and len(it.enc.payload) > 4]
        slots: dict[int, tuple[int, int]] = {}
        if any(it.old is not None for it in longs):
            dead_values = {id(o): (s, e) for s, e, o in self.dead if isinstance(o, _RawEntry)}
            live_merged = _merge((s, e) for s, e, _k, _o in self.live)
            for it in longs:
                if it.old is None:
                    continue
                assert it.enc is not None
                span = dead_values.get(id(it.old))
                if (
                    span is not None
                    and len(it.enc.payload) <= it.old.size
                    and _subtract([span], live_merged) == [span]
                    and span not in slots.values()
                ):
                    slots[id(it)] = span
        cut = self._cut({id(it.old) for it in longs if id(it) in slots})
        relocated: list[tuple[int, int]] = []
        if cut < n:
            for s, e, k, obj in self.live:
                if e <= cut or s >= e:
                    continue
                if k == _DIRK:
                    assert isinstance(obj, str)
                    self.moves.add(obj)
                    relocated.append((s, e))
                elif k == _VAL:
                    assert isinstance(obj, _Item)
                    obj.new_offset = -1  # allocated below
                    relocated.append((s, e))
        # In-place reuse of old value slots (below the cut).
        reused: list[tuple[int, int]] = []
        patches: list[tuple[int, bytes]] = []
        owners: list[tuple[int, int]] = []  # the live range each patch rewrites
        for it in longs:
            assert it.enc is not None
            span = slots.get(id(it))
            if span is not None and span[1] <= cut:
                it.reuse = True
                reused.append(span)
                patches.append((span[0], it.enc.payload.ljust(span[1] - span[0], b"\0")))
                owners.append(span)
            else:
                it.new_offset = -1
        # A changed directory that shares bytes with something else moves instead.
        while self.shared_dirs:
            more = {d for d in self.shared_dirs - self.moves if self._dirty(d)}
            if not more:
                break
            self.moves |= more
        # Allocate the tail: moved directories with their values, then other values.
        pos = cut
        placed: list[tuple[int, bytes | str]] = []  # str: a directory rendered later
        self.dir_offset: dict[str, int] = {}

        def alloc(size: int) -> int:
            nonlocal pos
            pos += pos & 1
            at = pos
            pos += size
            return at

        def values_of(name: str) -> None:
            for it in self._sorted(name):
                if it.new_offset != -1:
                    continue
                if it.enc is not None:
                    payload = it.enc.payload
                else:
                    assert it.raw is not None and it.raw.value_offset is not None
                    start = it.raw.value_offset
                    payload = bytes(self.data[start : start + it.raw.size])
                it.new_offset = alloc(len(payload))
                placed.append((it.new_offset, payload))

        order_names = list(final)
        for name in order_names:
            if name in self.moves:
                self.dir_offset[name] = alloc(2 + 12 * len(final[name]) + 4)
                placed.append((self.dir_offset[name], name))
                values_of(name)
        for name in order_names:
            if name not in self.moves:
                values_of(name)
        if pos > 0xFFFFFFFF:
            raise LimitExceededError("the patched TIFF structure would exceed 4 GiB",
                                     code="exif-too-large", offset=cut)
        tail = bytearray(pos - cut)
        for at, what in placed:
            chunk = self._render(what) if isinstance(what, str) else what
            tail[at - cut : at - cut + len(chunk)] = chunk
        # Rewrite in place the directories that change without growing.
        for name in order_names:
            if name in self.moves:
                continue
            d = dirs[name]
            if not self._dirty(name):
                continue
            rendered = self._render(name)
            assert len(rendered) <= d.size
            rendered = rendered.ljust(d.size, b"\0")
            if rendered != bytes(self.data[d.offset : d.offset + d.size]):
                patches.append((d.offset, rendered))
                owners.append((d.offset, d.offset + d.size))
        # Pointers that live outside the re-rendered directories.
        for name in self.moves:
            moved = dirs.get(name)
            if moved is None:
                continue
            if moved.ptr.kind == "header":
                patches.append((4, struct.pack(order + "I", self.dir_offset[name])))
                owners.append((0, 8))
            elif moved.ptr.kind == "array" and moved.ptr.parent not in self.removed:
                where = moved.ptr.location
                patches.append((where, struct.pack(order + "I", self.dir_offset[name])))
                owners.append(self._array_span(moved.ptr))
        self._check_overlaps(patches, owners)
        # Zero what nothing points at any more.
        # (only what starts below the cut: the rest is cut off anyway)
        still = _merge(
            [(s, e) for s, e, k, _o in self.live
             if s < cut and not (e > cut and k in (_DIRK, _VAL))]
            + reused
            + [(p, p + len(b)) for p, b in patches]
        )
        gone = _merge([(s, e) for s, e, _o in self.dead if s < cut]
                      + [(s, e) for s, e in relocated if s < cut])
        for s, e in _subtract(gone, still):
            e = min(e, cut)
            if s < e:
                patches.append((s, bytes(e - s)))
        data = self.data
        kept = sorted(
            (at, chunk) for at, chunk in patches if bytes(data[at : at + len(chunk)]) != chunk
        )
        return ExifPatch(tuple(kept), cut, bytes(tail))

    def _array_span(self, ptr: _Ptr) -> tuple[int, int]:
        assert ptr.parent is not None
        for rent in self.dirs[ptr.parent].entries:
            if (rent.tag == ptr.tag and rent.value_offset is not None
                    and rent.value_offset <= ptr.location < rent.value_offset + rent.size):
                return (rent.value_offset, rent.value_offset + rent.size)
        return (ptr.location, ptr.location + 4)  # pragma: no cover - the walker found it there

    def _check_overlaps(self, patches: list[tuple[int, bytes]],
                        owners: list[tuple[int, int]]) -> None:
        """Refuse to write when an overwrite would also change bytes something else uses."""
        if not patches:
            return
        spans = sorted((s, e) for s, e, _k, _o in self.live if s < e)
        starts = [s for s, _e in spans]
        reach: list[int] = []
        top = 0
        for _s, e in spans:
            top = max(top, e)
            reach.append(top)
        for (at, chunk), owner in zip(patches, owners, strict=True):
            end = at + len(chunk)
            skipped = False
            i = bisect.bisect_left(starts, end) - 1
            while i >= 0 and reach[i] > at:
                s, e = spans[i]
                if e > at:
                    if (s, e) == owner and not skipped:
                        skipped = True
                    else:
                        raise CorruptFileError(
                            f"bytes {at}..{end} are used by two structures (overlapping "
                            f"{s}..{e}); refusing to patch", code="exif-overlap", offset=at)
                i -= 1

    def _dirty(self, name: str) -> bool:
        if name in self.touched:
            return True
        d = self.dirs[name]
        if d.next_name is not None and d.next_name in self.moves:
            return True
        for it in self.final[name]:
            if it.new_offset is not None or (it.child is not None and it.child in self.moves):
                return True
        return False


def plan_patch(data: Buffer | None, edits: Edits, *, limits: Limits = DEFAULT_LIMITS) -> ExifPatch:
    """Plan the edits as overwrites plus an appended tail; nothing existing moves.

    ``edits`` maps ``(ifd, tag)`` to an :class:`ExifWrite` or ``None`` (delete the tag).
    Deleting ``("IFD0", 0x8825)`` (or 0x8769, or ``("ExifIFD", 0xA005)``) deletes that sub-IFD.
    With ``data=None`` the patch holds a fresh block (see :func:`new_block`).

    Raises:
        CorruptFileError: the structure cannot be walked fully (code names the problem,
            ``offset`` where); ``bigtiff-write`` for BigTIFF.
        LimitExceededError: a limit was hit while walking.
        InvalidValueError: an edit names an unknown IFD, a managed pointer or offsets tag, or
            holds a value its type cannot store.
    """
    if data is None:
        return ExifPatch((), 0, new_block(edits))
    buf = _as_buffer(data)
    walker = _Walker(buf, limits, strict=True)
    if walker.big:
        raise CorruptFileError("writing BigTIFF is not supported", code="bigtiff-write",
                               offset=0)
    walker.run()
    return _Planner(buf, walker, edits).plan()


def apply_patch(data: Buffer | None, patch: ExifPatch) -> bytes:
    """Apply ``patch`` to an in-memory block (JPEG APP1, PNG eXIf...) and return the new block."""
    if data is None:
        base = bytearray()
        if patch.truncate_at or patch.patches:
            raise InvalidValueError("patch needs the original block", code="exif-patch")
    else:
        if patch.truncate_at > len(data):
            raise InvalidValueError("patch does not fit the block", code="exif-patch")
        base = bytearray(data[: patch.truncate_at])
    for offset, chunk in patch.patches:
        if offset < 0 or offset + len(chunk) > patch.truncate_at:
            raise InvalidValueError("patch does not fit the block", code="exif-patch")
        base[offset : offset + len(chunk)] = chunk
    base += patch.tail
    return bytes(base)


def new_block(edits: Edits) -> bytes:
    """A fresh big-endian TIFF structure holding only these tags (``None`` edits are ignored)."""
    patch = plan_patch(_EMPTY_TIFF, {k: v for k, v in edits.items() if v is not None})
    return apply_patch(_EMPTY_TIFF, patch)
