"""IPTC-IIM datasets and the Photoshop Image Resource Blocks (8BIM) that carry them.

Where this block lives:

* JPEG APP13: ``b"Photoshop 3.0\\0"`` followed by image resource blocks (IRB); the IIM block is
  resource 0x0404 and its MD5 digest is resource 0x0425.
* TIFF tag 34377 (Photoshop): the same IRB sequence.
* TIFF tag 33723 (IPTC-NAA): a bare IIM block, often NUL-padded to a multiple of four bytes.

The IRB layout (all big-endian) is: signature (4 bytes, ``8BIM``), resource id (u16), name as a
Pascal string padded so that its length byte plus characters fill an even number of bytes, data
size (u32), data padded to an even length.

An IIM dataset is: tag marker 0x1C, record number, dataset number, a u16 length; when bit 15 of that
length is set, its low 15 bits count the following bytes that hold the real length (big-endian).

Decoding keeps the exact bytes it read, so that an unchanged block encodes to the same bytes and
unchanged datasets keep their original length encoding after edits elsewhere in the block.
"""

from __future__ import annotations

import hashlib
import operator
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from .._binary import DEFAULT_LIMITS, Limits, check_limit
from ..errors import CorruptFileError, InvalidValueError

__all__ = [
    "BINARY_DATASETS",
    "CODED_CHARSET_UTF8",
    "DATASET_MAX_BYTES",
    "DATASET_NAMES",
    "IRB_IPTC",
    "IRB_IPTC_DIGEST",
    "IRB_SIGNATURES",
    "REPEATABLE",
    "DataSet",
    "IimData",
    "IrbResource",
    "build_irb",
    "decode_text",
    "iim_digest",
    "parse_irb",
    "truncate_utf8",
]

IRB_IPTC: Final = 0x0404
"""Photoshop resource id of the IPTC-IIM block."""

IRB_IPTC_DIGEST: Final = 0x0425
"""Photoshop resource id of the MD5 digest of the IPTC-IIM block (see :func:`iim_digest`)."""

IRB_SIGNATURES: Final[frozenset[bytes]] = frozenset({b"8BIM", b"PHUT", b"AgHg", b"DCSR", b"MeSa"})
"""Resource signatures accepted by :func:`parse_irb`; all but ``8BIM`` are kept as opaque data."""

CODED_CHARSET_UTF8: Final = b"\x1b%G"
"""Value of dataset 1:90 (CodedCharacterSet) that declares UTF-8: ISO 2022 ``ESC % G``."""

# ISO 2022 designations of UTF-8 "without standard return" (levels 1-3); also UTF-8 text.
_UTF8_DESIGNATIONS: Final = frozenset({CODED_CHARSET_UTF8, b"\x1b%/G", b"\x1b%/H", b"\x1b%/I"})

_MARKER: Final = 0x1C
_MAX_EXTENDED_LENGTH_BYTES: Final = 8  # more would be absurd; ExifTool refuses the same
_RECORD_VERSION: Final = b"\x00\x04"  # IIM version 4

DATASET_NAMES: Final[dict[tuple[int, int], str]] = {
    # Record 1: envelope
    (1, 0): "Iptc.Envelope.ModelVersion",
    (1, 5): "Iptc.Envelope.Destination",
    (1, 20): "Iptc.Envelope.FileFormat",
    (1, 22): "Iptc.Envelope.FileVersion",
    (1, 30): "Iptc.Envelope.ServiceId",
    (1, 40): "Iptc.Envelope.EnvelopeNumber",
    (1, 50): "Iptc.Envelope.ProductId",
    (1, 60): "Iptc.Envelope.EnvelopePriority",
    (1, 70): "Iptc.Envelope.DateSent",
    (1, 80): "Iptc.Envelope.TimeSent",
    (1, 90): "Iptc.Envelope.CharacterSet",
    (1, 100): "Iptc.Envelope.UNO",
    (1, 120): "Iptc.Envelope.ARMId",
    (1, 122): "Iptc.Envelope.ARMVersion",
    # Record 2: application
    (2, 0): "Iptc.Application2.RecordVersion",
    (2, 3): "Iptc.Application2.ObjectType",
    (2, 4): "Iptc.Application2.ObjectAttribute",
    (2, 5): "Iptc.Application2.ObjectName",
    (2, 7): "Iptc.Application2.EditStatus",
    (2, 8): "Iptc.Application2.EditorialUpdate",
    (2, 10): "Iptc.Application2.Urgency",
    (2, 12): "Iptc.Application2.Subject",
    (2, 15): "Iptc.Application2.Category",
    (2, 20): "Iptc.Application2.SuppCategory",
    (2, 22): "Iptc.Application2.FixtureId",
    (2, 25): "Iptc.Application2.Keywords",
    (2, 26): "Iptc.Application2.LocationCode",
    (2, 27): "Iptc.Application2.LocationName",
    (2, 30): "Iptc.Application2.ReleaseDate",
    (2, 35): "Iptc.Application2.ReleaseTime",
    (2, 37): "Iptc.Application2.ExpirationDate",
    (2, 38): "Iptc.Application2.ExpirationTime",
    (2, 40): "Iptc.Application2.SpecialInstructions",
    (2, 42): "Iptc.Application2.ActionAdvised",
    (2, 45): "Iptc.Application2.ReferenceService",
    (2, 47): "Iptc.Application2.ReferenceDate",
    (2, 50): "Iptc.Application2.ReferenceNumber",
    (2, 55): "Iptc.Application2.DateCreated",
    (2, 60): "Iptc.Application2.TimeCreated",
    (2, 62): "Iptc.Application2.DigitizationDate",
    (2, 63): "Iptc.Application2.DigitizationTime",
    (2, 65): "Iptc.Application2.Program",
    (2, 70): "Iptc.Application2.ProgramVersion",
    (2, 75): "Iptc.Application2.ObjectCycle",
    (2, 80): "Iptc.Application2.Byline",
    (2, 85): "Iptc.Application2.BylineTitle",
    (2, 90): "Iptc.Application2.City",
    (2, 92): "Iptc.Application2.SubLocation",
    (2, 95): "Iptc.Application2.ProvinceState",
    (2, 100): "Iptc.Application2.CountryCode",
    (2, 101): "Iptc.Application2.CountryName",
    (2, 103): "Iptc.Application2.TransmissionReference",
    (2, 105): "Iptc.Application2.Headline",
    (2, 110): "Iptc.Application2.Credit",
    (2, 115): "Iptc.Application2.Source",
    (2, 116): "Iptc.Application2.Copyright",
    (2, 118): "Iptc.Application2.Contact",
    (2, 120): "Iptc.Application2.Caption",
    (2, 122): "Iptc.Application2.Writer",
    (2, 125): "Iptc.Application2.RasterizedCaption",
    (2, 130): "Iptc.Application2.ImageType",
    (2, 131): "Iptc.Application2.ImageOrientation",
    (2, 135): "Iptc.Application2.Language",
    (2, 150): "Iptc.Application2.AudioType",
    (2, 151): "Iptc.Application2.AudioRate",
    (2, 152): "Iptc.Application2.AudioResolution",
    (2, 153): "Iptc.Application2.AudioDuration",
    (2, 154): "Iptc.Application2.AudioOutcue",
    (2, 200): "Iptc.Application2.PreviewFormat",
    (2, 201): "Iptc.Application2.PreviewVersion",
    (2, 202): "Iptc.Application2.Preview",
}
"""Exiv2 key of each dataset defined by IIM 4.2 records 1 and 2."""

DATASET_MAX_BYTES: Final[dict[tuple[int, int], int]] = {
    # Record 1 (IIM 4.2 section 5)
    (1, 0): 2,
    (1, 5): 1024,
    (1, 20): 2,
    (1, 22): 2,
    (1, 30): 10,
    (1, 40): 8,
    (1, 50): 32,
    (1, 60): 1,
    (1, 70): 8,
    (1, 80): 11,
    (1, 90): 32,
    (1, 100): 80,
    (1, 120): 2,
    (1, 122): 2,
    # Record 2 (IIM 4.2 section 6)
    (2, 0): 2,
    (2, 3): 67,
    (2, 4): 68,
    (2, 5): 64,
    (2, 7): 64,
    (2, 8): 2,
    (2, 10): 1,
    (2, 12): 236,
    (2, 15): 3,
    (2, 20): 32,
    (2, 22): 32,
    (2, 25): 64,
    (2, 26): 3,
    (2, 27): 64,
    (2, 30): 8,
    (2, 35): 11,
    (2, 37): 8,
    (2, 38): 11,
    (2, 40): 256,
    (2, 42): 2,
    (2, 45): 10,
    (2, 47): 8,
    (2, 50): 8,
    (2, 55): 8,
    (2, 60): 11,
    (2, 62): 8,
    (2, 63): 11,
    (2, 65): 32,
    (2, 70): 10,
    (2, 75): 1,
    (2, 80): 32,
    (2, 85): 32,
    (2, 90): 32,
    (2, 92): 32,
    (2, 95): 32,
    (2, 100): 3,
    (2, 101): 64,
    (2, 103): 32,
    (2, 105): 256,
    (2, 110): 32,
    (2, 115): 32,
    (2, 116): 128,
    (2, 118): 128,
    (2, 120): 2000,
    (2, 122): 32,
    (2, 125): 7360,
    (2, 130): 2,
    (2, 131): 1,
    (2, 135): 3,
    (2, 150): 2,
    (2, 151): 6,
    (2, 152): 2,
    (2, 153): 6,
    (2, 154): 64,
    (2, 200): 2,
    (2, 201): 2,
    (2, 202): 256000,
}
"""Largest value, in bytes, that IIM 4.2 allows in each dataset (the reader never enforces it)."""

REPEATABLE: Final[frozenset[tuple[int, int]]] = frozenset(
    {
        (1, 5),  # Destination
        (1, 50),  # Product I.D.
        (2, 4),  # Object Attribute Reference
        (2, 12),  # Subject Reference
        (2, 20),  # Supplemental Category
        (2, 25),  # Keywords
        (2, 26),  # Content Location Code
        (2, 27),  # Content Location Name
        (2, 45),  # Reference Service
        (2, 47),  # Reference Date
        (2, 50),  # Reference Number
        (2, 80),  # By-line
        (2, 85),  # By-line Title
        (2, 118),  # Contact
        (2, 122),  # Writer/Editor
    }
)
"""Datasets that IIM 4.2 allows more than once."""

BINARY_DATASETS: Final[frozenset[tuple[int, int]]] = frozenset(
    {(1, 0), (1, 20), (1, 22), (1, 120), (1, 122), (2, 0), (2, 125), (2, 200), (2, 201), (2, 202)}
)
"""Datasets whose value is binary (numbers, previews), never text."""


def _is_text_record2(record: int, number: int) -> bool:
    """True for record-2 datasets that hold text (everything but the version and binary ones)."""
    return record == 2 and number < 200 and (record, number) not in BINARY_DATASETS


# -- Photoshop image resource blocks ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IrbResource:
    """One Photoshop image resource block.

    Attributes:
        signature: ``b"8BIM"``; also ``b"PHUT"``, ``b"AgHg"``, ``b"DCSR"`` or ``b"MeSa"`` (opaque).
        id: the resource id (``IRB_IPTC`` = 0x0404 for IPTC-IIM).
        name: content of the Pascal-string name (usually empty).
        data: the resource data, without the padding byte.
    """

    signature: bytes
    id: int
    name: bytes
    data: bytes


_IRB_HEAD: Final = struct.Struct(">4sHB")


def parse_irb(data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> list[IrbResource]:
    """Split Photoshop image resource blocks.

    ``data`` is what follows ``b"Photoshop 3.0\\0"`` in JPEG APP13 (several segments already
    concatenated), or the value of TIFF tag 34377. Trailing NUL padding is accepted, and the last
    resource may lack its even-padding byte; anything else that is broken raises
    :class:`~photometa.errors.CorruptFileError` (codes ``irb-signature``, ``irb-truncated``,
    ``irb-length``) naming the byte offset. The number of resources is capped by
    ``limits.max_boxes`` and the block size by ``limits.max_metadata_bytes``.
    """
    data = bytes(data)
    end = len(data)
    check_limit(end, limits.max_metadata_bytes, "Photoshop resource block size")
    out: list[IrbResource] = []
    pos = 0
    while pos < end:
        if end - pos < _IRB_HEAD.size:
            if not data[pos:].strip(b"\0"):
                break  # NUL padding after the last resource
            raise CorruptFileError(
                f"Photoshop resource header truncated ({end - pos} bytes left)",
                code="irb-truncated",
                offset=pos,
            )
        signature, rid, name_len = _IRB_HEAD.unpack_from(data, pos)
        if signature not in IRB_SIGNATURES:
            if not data[pos:].strip(b"\0"):
                break
            raise CorruptFileError(
                f"bad Photoshop resource signature {signature!r}", code="irb-signature", offset=pos
            )
        name_start = pos + _IRB_HEAD.size
        size_pos = name_start + name_len + ((name_len + 1) & 1)
        if size_pos + 4 > end:
            raise CorruptFileError(
                f"Photoshop resource 0x{rid:04X} truncated in its name or size",
                code="irb-truncated",
                offset=pos,
            )
        (size,) = struct.unpack_from(">I", data, size_pos)
        data_start = size_pos + 4
        if size > end - data_start:
            raise CorruptFileError(
                f"Photoshop resource 0x{rid:04X} declares {size} bytes, {end - data_start} left",
                code="irb-length",
                offset=size_pos,
            )
        out.append(
            IrbResource(
                signature,
                rid,
                data[name_start : name_start + name_len],
                data[data_start : data_start + size],
            )
        )
        check_limit(len(out), limits.max_boxes, "Photoshop resource count", offset=pos)
        pos = data_start + size + (size & 1)
    return out


def build_irb(resources: Sequence[IrbResource]) -> bytes:
    """Serialise resources; the exact inverse of :func:`parse_irb` for well-formed input.

    Names and data are padded to even lengths with NUL bytes. Raises
    :class:`~photometa.errors.InvalidValueError` for a signature that is not four bytes, an id
    outside 0..65535, a name longer than 255 bytes or data longer than 4 GiB.
    """
    parts: list[bytes] = []
    for res in resources:
        if len(res.signature) != 4:
            raise InvalidValueError(
                f"resource signature must be 4 bytes, got {res.signature!r}", code="irb-signature"
            )
        if not 0 <= res.id <= 0xFFFF:
            raise InvalidValueError(f"resource id {res.id} out of range", code="irb-id")
        if len(res.name) > 255:
            raise InvalidValueError("resource name longer than 255 bytes", code="irb-name")
        if len(res.data) > 0xFFFFFFFF:
            raise InvalidValueError("resource data larger than 4 GiB", code="irb-length")
        parts.append(_IRB_HEAD.pack(res.signature, res.id, len(res.name)))
        parts.append(res.name)
        if not len(res.name) & 1:
            parts.append(b"\0")
        parts.append(struct.pack(">I", len(res.data)))
        parts.append(res.data)
        if len(res.data) & 1:
            parts.append(b"\0")
    return b"".join(parts)


def iim_digest(iim: bytes) -> bytes:
    """The 16-byte digest Photoshop stores in resource 0x0425 for the IIM block ``iim``.

    It is the MD5 of the whole 0x0404 resource data exactly as stored (trailing NUL padding
    included, the IRB even-padding byte excluded); ExifTool reports the same value as
    ``CurrentIPTCDigest`` and compares it with the stored ``IPTCDigest``.
    """
    return hashlib.md5(bytes(iim)).digest()


# -- IPTC-IIM ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DataSet:
    """One IIM dataset: ``record:number`` and its raw value bytes."""

    record: int
    number: int
    value: bytes


def decode_text(value: bytes) -> str:
    """Decode a text dataset value; never raises.

    UTF-8 when the bytes are valid UTF-8 (whether or not the block declares it in 1:90: many
    writers omit 1:90 but write UTF-8), else Windows-1252 when every byte is defined there, else
    ISO 8859-1. Invalid bytes in a block that declares UTF-8 therefore fall back to the legacy
    decoders rather than being replaced and lost.
    """
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return value.decode("cp1252")
    except UnicodeDecodeError:
        return value.decode("latin-1")


_LEN16: Final = struct.Struct(">H")


def _header(record: int, number: int, length: int) -> bytes:
    """Canonical dataset header: the standard form up to 32767 bytes, else 4-byte extended."""
    if length <= 0x7FFF:
        return bytes((_MARKER, record, number)) + _LEN16.pack(length)
    if length > 0xFFFFFFFF:
        raise InvalidValueError(
            f"dataset {record}:{number} value of {length} bytes is too large",
            code="iim-length",
            field=f"{record}:{number}",
        )
    return bytes((_MARKER, record, number, 0x80, 0x04)) + struct.pack(">I", length)


def _check_key(record: int, number: int) -> None:
    if not (0 <= record <= 255 and 0 <= number <= 255):
        raise InvalidValueError(
            f"IIM dataset {record}:{number} out of range (0..255)", code="iim-dataset"
        )


class IimData:
    """An IPTC-IIM block: the ordered list of its datasets.

    ``datasets`` may be edited directly; :meth:`set` is the convenient, charset-safe way.
    """

    __slots__ = ("_headers", "_snapshot", "_source", "datasets")

    def __init__(self, datasets: Iterable[DataSet] = ()) -> None:
        """Make a block from ``datasets`` (in file order)."""
        self.datasets: list[DataSet] = list(datasets)
        self._source: bytes | None = None
        self._snapshot: tuple[DataSet, ...] = ()
        # id(dataset) -> (dataset, original header bytes); holding the dataset keeps the id unique
        self._headers: dict[int, tuple[DataSet, bytes]] = {}

    def __repr__(self) -> str:
        return f"IimData({self.datasets!r})"

    @classmethod
    def decode(cls, data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> IimData:
        """Parse an IIM block.

        Strict: a wrong tag marker (``iim-marker``), a header or value running past the end
        (``iim-truncated``, ``iim-length``) or a bad extended length (``iim-extended-length``)
        raise :class:`~photometa.errors.CorruptFileError` with the offset. Trailing NUL padding
        is accepted and kept. More than ``limits.max_iim_datasets`` datasets, or a block larger
        than ``limits.max_segment_bytes``, raise :class:`~photometa.errors.LimitExceededError`.
        """
        data = bytes(data)
        end = len(data)
        check_limit(end, limits.max_segment_bytes, "IPTC-IIM block size")
        max_count = limits.max_iim_datasets
        datasets: list[DataSet] = []
        headers: dict[int, tuple[DataSet, bytes]] = {}
        unpack16 = _LEN16.unpack_from
        pos = 0
        while pos < end:
            if data[pos] != _MARKER:
                if not data[pos:].strip(b"\0"):
                    break  # trailing NUL padding
                raise CorruptFileError(
                    f"expected IIM tag marker 0x1C, found 0x{data[pos]:02X}",
                    code="iim-marker",
                    offset=pos,
                )
            if end - pos < 5:
                raise CorruptFileError(
                    f"IIM dataset header truncated ({end - pos} bytes left)",
                    code="iim-truncated",
                    offset=pos,
                )
            record = data[pos + 1]
            number = data[pos + 2]
            (length,) = unpack16(data, pos + 3)
            value_start = pos + 5
            if length & 0x8000:
                count = length & 0x7FFF
                if not 1 <= count <= _MAX_EXTENDED_LENGTH_BYTES:
                    raise CorruptFileError(
                        f"IIM dataset {record}:{number} has an extended length of {count} bytes",
                        code="iim-extended-length",
                        offset=pos + 3,
                    )
                if count > end - value_start:
                    raise CorruptFileError(
                        f"IIM dataset {record}:{number} extended length truncated",
                        code="iim-truncated",
                        offset=value_start,
                    )
                length = int.from_bytes(data[value_start : value_start + count], "big")
                value_start += count
            if length > end - value_start:
                raise CorruptFileError(
                    f"IIM dataset {record}:{number} declares {length} bytes, "
                    f"{end - value_start} left",
                    code="iim-length",
                    offset=pos + 3,
                )
            if len(datasets) >= max_count:
                check_limit(len(datasets) + 1, max_count, "IIM dataset count", offset=pos)
            ds = DataSet(record, number, data[value_start : value_start + length])
            datasets.append(ds)
            headers[id(ds)] = (ds, data[pos:value_start])
            pos = value_start + length
        block = cls(datasets)
        block._source = data
        block._snapshot = tuple(datasets)
        block._headers = headers
        return block

    # -- reading ---------------------------------------------------------------------------------

    @property
    def utf8(self) -> bool:
        """True when dataset 1:90 (CodedCharacterSet) declares UTF-8 (``ESC % G``)."""
        return any(
            ds.record == 1 and ds.number == 90 and ds.value.rstrip(b"\0") in _UTF8_DESIGNATIONS
            for ds in self.datasets
        )

    def get_raw(self, record: int, number: int) -> list[bytes]:
        """Raw values of every ``record:number`` dataset, in block order."""
        return [ds.value for ds in self.datasets if ds.record == record and ds.number == number]

    def get(self, record: int, number: int) -> list[str]:
        """Decoded texts of every ``record:number`` dataset, in block order; never raises.

        See :func:`decode_text` for the charset rules. NUL terminators that some writers
        append are removed.
        """
        return [decode_text(raw.rstrip(b"\0")) for raw in self.get_raw(record, number)]

    # -- editing ---------------------------------------------------------------------------------

    def set(self, record: int, number: int, values: Sequence[str]) -> None:
        """Replace every ``record:number`` dataset with ``values`` (``[]`` deletes them).

        New datasets take the place of the first old one, else go in record/number order. Text
        is stored as UTF-8 and never truncated (see :func:`truncate_utf8`). The first time text
        is written into a block that does not declare UTF-8, the block is converted: 1:90 is set
        to ``ESC % G`` and every record-2 text dataset is re-encoded from its detected legacy
        charset to UTF-8, so untouched values keep their meaning. Writing 1:90 itself stores the
        given value and converts nothing. A record-2 write also ensures 2:00 RecordVersion.
        """
        _check_key(record, number)
        if isinstance(values, (str, bytes)):
            raise InvalidValueError(
                "values must be a sequence of str, not a single string",
                code="iim-value",
                field=f"{record}:{number}",
            )
        encoded: list[bytes] = []
        for value in values:
            if not isinstance(value, str):
                raise InvalidValueError(
                    f"IIM text value must be str, got {type(value).__name__}",
                    code="iim-value",
                    field=f"{record}:{number}",
                )
            encoded.append(value.encode("utf-8"))
        if encoded and (record != 1 or number != 90) and not self._declares_utf8():
            self._convert_to_utf8()
        self._replace(record, number, encoded)

    def _declares_utf8(self) -> bool:
        """:attr:`utf8`, as a plain loop (``set`` asks it every time)."""
        for ds in self.datasets:
            if ds.record == 1 and ds.number == 90 and ds.value.rstrip(b"\0") in _UTF8_DESIGNATIONS:
                return True
        return False

    def set_raw(self, record: int, number: int, values: Sequence[bytes]) -> None:
        """Replace every ``record:number`` dataset with the raw ``values`` (no charset handling).

        Placement and the 2:00 RecordVersion rule are as in :meth:`set`.
        """
        _check_key(record, number)
        raw = [bytes(v) for v in values]
        self._replace(record, number, raw)

    def _replace(self, record: int, number: int, values: list[bytes]) -> None:
        datasets = self.datasets
        key = (record, number)
        keys = list(map(_DATASET_KEY, datasets))
        if key in keys:  # the new datasets go where the first old one was
            first = keys.index(key)
            kept = [ds for ds, k in zip(datasets, keys, strict=True) if k != key]
        else:  # else before the first dataset that sorts after them (_ordered_position)
            kept = datasets.copy()
            first = next((i for i, k in enumerate(keys) if k > key), len(keys))
        kept[first:first] = [DataSet(record, number, v) for v in values]
        if record == 2 and number != 0 and values:
            _ensure_record_version(kept)
        self.datasets = kept

    def _convert_to_utf8(self) -> None:
        """Declare UTF-8 in 1:90 and re-encode record-2 text from its legacy charset."""
        converted: list[DataSet] = []
        has_charset = False
        for ds in self.datasets:
            if ds.record == 1 and ds.number == 90:
                if not has_charset:
                    converted.append(DataSet(1, 90, CODED_CHARSET_UTF8))
                    has_charset = True
                continue
            if _is_text_record2(ds.record, ds.number):
                utf8_value = decode_text(ds.value).encode("utf-8")
                if utf8_value != ds.value:
                    ds = DataSet(ds.record, ds.number, utf8_value)
            converted.append(ds)
        if not has_charset:
            at = _ordered_position(converted, (1, 90))
            converted.insert(at, DataSet(1, 90, CODED_CHARSET_UTF8))
        self.datasets = converted

    # -- writing ---------------------------------------------------------------------------------

    def _unchanged(self) -> bool:
        snap = self._snapshot
        cur = self.datasets
        return len(cur) == len(snap) and all(a is b for a, b in zip(cur, snap, strict=True))

    def encode(self) -> bytes:
        """Serialise the block.

        An unchanged decoded block returns its input bytes exactly (padding included). Otherwise
        datasets are written in list order, unchanged ones with their original header bytes, new
        ones with the standard 2-byte length (extended 4-byte length above 32767 bytes); a 2:00
        RecordVersion is added before the first record-2 dataset when record 2 lacks one.
        """
        if self._source is not None and self._unchanged():
            return self._source
        items = list(self.datasets)
        _ensure_record_version(items)
        headers = self._headers
        parts: list[bytes] = []
        append = parts.append
        for ds in items:
            known = headers.get(id(ds))
            if known is not None and known[0] is ds:  # decoded: its numbers fit a byte
                append(known[1])
            else:
                record, number, length = ds.record, ds.number, len(ds.value)
                _check_key(record, number)
                if length <= 0x7FFF:  # _header's standard form, built in place
                    append(bytes((_MARKER, record, number, length >> 8, length & 0xFF)))
                else:
                    append(_header(record, number, length))
            append(ds.value)
        return b"".join(parts)


_DATASET_KEY: Final = operator.attrgetter("record", "number")
"""A dataset's (record, number)."""


def _ordered_position(datasets: Sequence[DataSet], key: tuple[int, int]) -> int:
    """Index before the first dataset that sorts after ``key`` (end of list when none does)."""
    for i, ds in enumerate(datasets):
        if (ds.record, ds.number) > key:
            return i
    return len(datasets)


def _ensure_record_version(datasets: list[DataSet]) -> None:
    """Insert 2:00 RecordVersion before the first record-2 dataset when record 2 lacks one."""
    first_r2: int | None = None
    for i, ds in enumerate(datasets):
        if ds.record == 2:
            if ds.number == 0:
                return
            if first_r2 is None:
                first_r2 = i
    if first_r2 is not None:
        datasets.insert(first_r2, DataSet(2, 0, _RECORD_VERSION))


def truncate_utf8(text: str, max_bytes: int) -> str:
    """Longest prefix of ``text`` whose UTF-8 encoding fits in ``max_bytes``.

    The cut falls between characters (code points), never inside one.
    """
    if max_bytes < 0:
        raise InvalidValueError(f"max_bytes must be >= 0, got {max_bytes}", code="truncate")
    raw = text.encode("utf-8")
    if len(raw) <= max_bytes:
        return text
    # the cut can split at most the last character; "ignore" drops its partial bytes
    return raw[:max_bytes].decode("utf-8", errors="ignore")
