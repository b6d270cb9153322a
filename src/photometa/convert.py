"""Named converters between schema values and their homes in EXIF, IPTC-IIM and XMP.

The mapping table (``schemas/mapping.toml``) names one converter per field. A converter turns the
raw value
found in each home into the model's type (``from_*``), turns a model value into what each home
stores
(``to_*``), and says when two values found in different homes mean the same thing (``same``).
"""

from __future__ import annotations

import math
import re
import struct
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from typing import Any, Final, Protocol

import pycountry

from .codecs import exif as exif_codec
from .codecs.exif import ExifData, ExifEntry, ExifWrite
from .codecs.iptc import IimData
from .codecs.xmp import Kind, XmpPacket
from .model import Gps

__all__ = ["CONVERTERS", "Converter", "XmpHome"]

ExifHome = tuple[str, int]
IimHome = tuple[int, int]
XmpValue = str | list[str] | None


@dataclass(frozen=True)
class XmpHome:
    """One XMP home of a field: a property path and the XMP kind stored there."""

    path: str
    kind: Kind = "text"


class Converter(Protocol):
    """Converts one field between the model and its homes."""

    def from_exif(self, exif: ExifData, homes: list[ExifHome]) -> Any: ...
    def from_iim(self, iim: IimData, homes: list[IimHome]) -> Any: ...
    def from_xmp(self, xmp: XmpPacket, homes: list[XmpHome]) -> list[tuple[str, Any]]: ...
    def to_exif(self, value: Any, homes: list[ExifHome]) -> dict[ExifHome, ExifWrite | None]: ...
    def to_iim(self, value: Any, homes: list[IimHome]) -> dict[IimHome, list[str]]: ...
    def to_xmp(self, value: Any, homes: list[XmpHome]) -> list[tuple[XmpHome, XmpValue]]: ...
    def same(self, a: Any, b: Any) -> bool: ...


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if type(value) is str and value.isascii():  # already NFC
        return value.strip().strip("\x00").strip() or None
    if isinstance(value, bytes):
        value = value.rstrip(b"\x00").decode("utf-8", "replace")
    if isinstance(value, (list, tuple)):
        value = "; ".join(str(v) for v in value)
    text = unicodedata.normalize("NFC", str(value)).strip().strip("\x00").strip()
    return text or None


def _norm(value: Any) -> Any:
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value).strip()
    if isinstance(value, list):
        return [_norm(v) for v in value]
    return value


class TextConverter:
    """Plain text: EXIF ASCII, one IIM dataset, an XMP simple or lang-alt property."""

    def from_exif(self, exif: ExifData, homes: list[ExifHome]) -> Any:
        return _text(exif.get(*homes[0]))

    def from_iim(self, iim: IimData, homes: list[IimHome]) -> Any:
        values = iim.get(*homes[0])
        return _text(values[0]) if values else None

    def from_xmp(self, xmp: XmpPacket, homes: list[XmpHome]) -> list[tuple[str, Any]]:
        found = []
        for home in homes:
            value = xmp.get(home.path, home.kind)
            if isinstance(value, list):
                value = value[0] if value else None
            text = _text(value)
            if text is not None:
                found.append((home.path, text))
        return found

    def to_exif(self, value: Any, homes: list[ExifHome]) -> dict[ExifHome, ExifWrite | None]:
        return {homes[0]: None if value is None else ExifWrite(exif_codec.ASCII, str(value))}

    def to_iim(self, value: Any, homes: list[IimHome]) -> dict[IimHome, list[str]]:
        return {homes[0]: [] if value is None else [str(value)]}

    def to_xmp(self, value: Any, homes: list[XmpHome]) -> list[tuple[XmpHome, XmpValue]]:
        return [(home, None if value is None else str(value)) for home in homes]

    def same(self, a: Any, b: Any) -> bool:
        return bool(_norm(a) == _norm(b))


class ListConverter(TextConverter):
    """A list of terms: a repeatable IIM dataset, an XMP bag or seq."""

    def from_exif(self, exif: ExifData, homes: list[ExifHome]) -> Any:
        text = _text(exif.get(*homes[0]))
        return _split(text) if text else None

    def from_iim(self, iim: IimData, homes: list[IimHome]) -> Any:
        values = [t for t in (_text(v) for v in iim.get(*homes[0])) if t]
        return values or None

    def from_xmp(self, xmp: XmpPacket, homes: list[XmpHome]) -> list[tuple[str, Any]]:
        found = []
        for home in homes:
            value = xmp.get(home.path, home.kind)
            if isinstance(value, str):
                value = [value]
            items = []
            for item in value or ():
                text = _text(item)
                if text:
                    items.append(text)
            if items:
                found.append((home.path, items))
        return found

    def to_exif(self, value: Any, homes: list[ExifHome]) -> dict[ExifHome, ExifWrite | None]:
        joined = "; ".join(value) if value else None
        return {homes[0]: None if joined is None else ExifWrite(exif_codec.ASCII, joined)}

    def to_iim(self, value: Any, homes: list[IimHome]) -> dict[IimHome, list[str]]:
        return {homes[0]: list(value or [])}

    def to_xmp(self, value: Any, homes: list[XmpHome]) -> list[tuple[XmpHome, XmpValue]]:
        return [(home, list(value) if value else None) for home in homes]

    def same(self, a: Any, b: Any) -> bool:
        return [x.casefold() for x in _norm(a)] == [x.casefold() for x in _norm(b)]


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(";") if part.strip()]


class JoinedConverter(ListConverter):
    """A single model string that homes may store as a list (creators: EXIF Artist 'A; B',
    dc:creator seq)."""

    def from_exif(self, exif: ExifData, homes: list[ExifHome]) -> Any:
        return _text(exif.get(*homes[0]))

    def from_iim(self, iim: IimData, homes: list[IimHome]) -> Any:
        items = super().from_iim(iim, homes)
        return "; ".join(items) if items else None

    def from_xmp(self, xmp: XmpPacket, homes: list[XmpHome]) -> list[tuple[str, Any]]:
        return [(path, "; ".join(items)) for path, items in super().from_xmp(xmp, homes)]

    def to_exif(self, value: Any, homes: list[ExifHome]) -> dict[ExifHome, ExifWrite | None]:
        return {homes[0]: None if value is None else ExifWrite(exif_codec.ASCII, str(value))}

    def to_iim(self, value: Any, homes: list[IimHome]) -> dict[IimHome, list[str]]:
        return {homes[0]: _split(value) if value else []}

    def to_xmp(self, value: Any, homes: list[XmpHome]) -> list[tuple[XmpHome, XmpValue]]:
        return [(home, _split(value) if value else None) for home in homes]

    def same(self, a: Any, b: Any) -> bool:
        return TextConverter.same(self, a, b)


class ContactConverter(TextConverter):
    """An e-mail address or a URL, stored in the matching IPTC Core creator contact field."""

    def to_xmp(self, value: Any, homes: list[XmpHome]) -> list[tuple[XmpHome, XmpValue]]:
        email, url = homes[0], homes[1]
        if value is None:
            return [(email, None), (url, None)]
        text = str(value)
        if "@" in text and "://" not in text:
            return [(email, text.removeprefix("mailto:")), (url, None)]
        return [(url, text), (email, None)]  # one contact: the other home would contradict it


def _alpha2(code: Any) -> Any:
    if isinstance(code, str) and len(code.strip()) == 3:
        found = pycountry.countries.get(alpha_3=code.strip().upper())
        if found is not None:
            return str(found.alpha_2)
    return code.strip().upper() if isinstance(code, str) else code


class CountryCodeConverter(TextConverter):
    """ISO 3166-1 codes: IPTC-IIM 2:100 holds three letters, XMP usually two; one country."""

    def to_iim(self, value: Any, homes: list[IimHome]) -> dict[IimHome, list[str]]:
        if value is None:
            return {homes[0]: []}
        text = str(value)
        if len(text) == 2:
            found = pycountry.countries.get(alpha_2=text.upper())
            if found is not None:
                text = str(found.alpha_3)
        return {homes[0]: [text]}

    def same(self, a: Any, b: Any) -> bool:
        return bool(_alpha2(a) == _alpha2(b))


# -- dates ---------------------------------------------------------------------------------------

_EXIF_DT = re.compile(r"(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?")
_OFFSET = re.compile(r"([+-])(\d{2}):?(\d{2})$")
_ISO = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?"
    r"(Z|[+-]\d{2}:?\d{2})?)?)?)?$"
)


def _tz(text: str | None) -> timezone | None:
    if not text:
        return None
    text = text.strip()
    if text == "Z":
        return timezone.utc
    m = _OFFSET.match(text)
    if not m:
        return None
    minutes = int(m.group(2)) * 60 + int(m.group(3))
    if minutes >= 24 * 60:
        return None
    return timezone(timedelta(minutes=-minutes if m.group(1) == "-" else minutes))


def _fraction_digits(text: str | None) -> int:
    if not text:
        return 0
    digits = "".join(ch for ch in (text or "") if ch.isdigit())[:6]
    return int(digits.ljust(6, "0")) if digits else 0


def _make_dt(parts: list[int], tz: timezone | None) -> datetime | None:
    try:
        year, month, day, hour, minute, second = parts
        return datetime(year, month, day, hour, minute, second, tzinfo=tz)
    except (ValueError, TypeError, OverflowError):
        return None


def _format_offset(dt: datetime, colon: bool = True) -> str:
    off = dt.utcoffset()
    if off is None:
        return ""
    minutes = int(off.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    hh, mm = divmod(abs(minutes), 60)
    return f"{sign}{hh:02d}{':' if colon else ''}{mm:02d}"


class DateTimeConverter:
    """Capture time: EXIF DateTimeOriginal + offset + sub-seconds, IIM 2:55 + 2:60, XMP ISO 8601."""

    def from_exif(self, exif: ExifData, homes: list[ExifHome]) -> Any:
        raw = _text(exif.get(*homes[0]))
        m = _EXIF_DT.match(raw or "")
        if not m:
            return None
        parts = [int(g or 0) for g in m.groups()]
        tz = _tz(_text(exif.get(*homes[1])))
        dt = _make_dt(parts, tz)
        if dt is not None:
            micro = _fraction_digits(_text(exif.get(*homes[2])))
            if micro:  # _make_dt's value has none
                dt = dt.replace(microsecond=micro)
        return dt

    def from_iim(self, iim: IimData, homes: list[IimHome]) -> Any:
        dates = iim.get(*homes[0])
        if not dates or not re.fullmatch(r"\d{8}", dates[0].strip()):
            return None
        d = dates[0].strip()
        parts = [int(d[:4]), int(d[4:6]), int(d[6:8]), 0, 0, 0]
        tz = None
        times = iim.get(*homes[1])
        if times:
            m = re.fullmatch(r"(\d{2})(\d{2})(\d{2})([+-]\d{4})?", times[0].strip())
            if m:
                parts[3:] = [int(m.group(1)), int(m.group(2)), int(m.group(3))]
                tz = _tz(m.group(4))
        return _make_dt(parts, tz)

    def from_xmp(self, xmp: XmpPacket, homes: list[XmpHome]) -> list[tuple[str, Any]]:
        found = []
        for home in homes:
            raw = _text(xmp.get(home.path, home.kind))
            m = _ISO.match(raw or "")
            if not m:
                continue
            y, mo, d, h, mi, s, frac, tzs = m.groups()
            dt = _make_dt(
                [int(y), int(mo or 1), int(d or 1), int(h or 0), int(mi or 0), int(s or 0)],
                _tz(tzs),
            )
            if dt is not None:
                found.append((home.path, dt.replace(microsecond=_fraction_digits(frac))))
        return found

    def to_exif(self, value: Any, homes: list[ExifHome]) -> dict[ExifHome, ExifWrite | None]:
        if value is None:
            return dict.fromkeys(homes)
        dt: datetime = value
        sub = f"{dt.microsecond:06d}".rstrip("0") if dt.microsecond else None
        offset = _format_offset(dt) or None
        return {
            homes[0]: ExifWrite(exif_codec.ASCII, dt.strftime("%Y:%m:%d %H:%M:%S")),
            homes[1]: ExifWrite(exif_codec.ASCII, offset) if offset else None,
            homes[2]: ExifWrite(exif_codec.ASCII, sub) if sub else None,
        }

    def to_iim(self, value: Any, homes: list[IimHome]) -> dict[IimHome, list[str]]:
        if value is None:
            return {homes[0]: [], homes[1]: []}
        dt: datetime = value
        return {
            homes[0]: [dt.strftime("%Y%m%d")],
            homes[1]: [dt.strftime("%H%M%S") + _format_offset(dt, colon=False)],
        }

    def to_xmp(self, value: Any, homes: list[XmpHome]) -> list[tuple[XmpHome, XmpValue]]:
        if value is None:
            return [(home, None) for home in homes]
        dt: datetime = value
        text = dt.strftime("%Y-%m-%dT%H:%M:%S")
        if dt.microsecond:
            text += "." + f"{dt.microsecond:06d}".rstrip("0")
        return [(home, text + _format_offset(dt)) for home in homes]

    def same(self, a: Any, b: Any) -> bool:
        if not isinstance(a, datetime) or not isinstance(b, datetime):
            return False
        if a.tzinfo is not None and b.tzinfo is not None:
            return abs((a - b).total_seconds()) < 1
        # one side lacks an offset (or sub-seconds): compare wall-clock time to the second
        return a.replace(tzinfo=None, microsecond=0) == b.replace(tzinfo=None, microsecond=0)


# -- GPS -----------------------------------------------------------------------------------------

_GPS_SCALE: Final = 10**7  # degrees are stored to 1e-7 (about a centimetre)


def _dms(value: float) -> tuple[int, int, Fraction]:
    """Split |value| degrees into whole degrees, whole minutes and exact rational seconds."""
    units = round(abs(value) * _GPS_SCALE)
    deg, rem = divmod(units, _GPS_SCALE)
    minutes, rem = divmod(rem * 60, _GPS_SCALE)
    return deg, minutes, Fraction(rem * 60, _GPS_SCALE)


def _from_dms(parts: Any) -> float | None:
    if isinstance(parts, (int, float, Fraction)):
        parts = (parts,)
    if not isinstance(parts, tuple) or not parts or len(parts) > 3:
        return None
    # floats are exact enough: values are rounded to 1e-7 degree, far above float error, and
    # Fraction arithmetic cost a tenth of a whole read
    total = 0.0
    for scale, part in zip((1, 60, 3600), parts, strict=False):
        if not isinstance(part, (int, float, Fraction)):
            return None
        total += float(part) / scale
    if not math.isfinite(total):
        return None
    return round(total, 7)


_RATIONAL_CODES: Final = {exif_codec.RATIONAL: "I", exif_codec.SRATIONAL: "i"}
_RATIONAL_STRUCTS: dict[tuple[str, int, int], struct.Struct] = {}
_SLOW: Final[Any] = object()


def _ratios(entry: ExifEntry) -> Any:
    """``float()`` of each ``Fraction`` the value of a RATIONAL or SRATIONAL entry decodes to,
    without making the ``Fraction``: ``n / d`` (an int division is correctly rounded; a zero
    numerator gives ``0.0``, as the reduced ``Fraction`` does, never ``-0.0``). ``None`` when the
    decoded value is ``None`` (a zero denominator); ``_SLOW`` for any other entry (decode it)."""
    typ = entry.type
    code = _RATIONAL_CODES.get(typ)
    count = entry.count
    raw = entry.raw
    if code is None or len(raw) != 8 * count:
        return _SLOW
    key = (entry.order, count, typ)
    unpack = _RATIONAL_STRUCTS.get(key)
    if unpack is None:
        unpack = struct.Struct(f"{entry.order}{2 * count}{code}")
        if count <= 3:  # the usual shapes; any count may come, the cache stays small
            _RATIONAL_STRUCTS[key] = unpack
    ints = unpack.unpack(raw)
    if count == 3:  # degrees, minutes, seconds
        n1, d1, n2, d2, n3, d3 = ints
        if not (d1 and d2 and d3):
            return None
        return (n1 / d1 if n1 else 0.0, n2 / d2 if n2 else 0.0, n3 / d3 if n3 else 0.0)
    if count == 1:  # an altitude
        n1, d1 = ints
        return (n1 / d1 if n1 else 0.0,) if d1 else None
    dens = ints[1::2]
    if 0 in dens:
        return None
    return tuple(n / d if n else 0.0 for n, d in zip(ints[::2], dens, strict=True))


def _exif_degrees(exif: ExifData, home: ExifHome) -> float | None:
    """``_from_dms`` of the value of ``home``."""
    entry = exif.entry(*home)
    if entry is None:
        return None
    parts = _ratios(entry)
    if parts is _SLOW:
        return _from_dms(entry.value)
    if not parts or len(parts) > 3:
        return None
    # the same additions, in the same order, as _from_dms
    total: float = 0.0 + parts[0]
    if len(parts) > 1:
        total += parts[1] / 60
        if len(parts) > 2:
            total += parts[2] / 3600
    if not math.isfinite(total):  # pragma: no cover - 32-bit ratios are finite
        return None
    return round(total, 7)


def _exif_rational(exif: ExifData, home: ExifHome) -> float | None:
    """``float(_rational())`` of the value of ``home``."""
    entry = exif.entry(*home)
    if entry is None:
        return None
    parts = _ratios(entry)
    if parts is _SLOW:
        value = _rational(entry.value)
        return None if value is None else float(value)
    return parts[0] if parts else None


_REFS: Final = {
    raw: raw[:1].decode() for letter in (b"N", b"S", b"E", b"W") for raw in (letter, letter + b"\0")
}


def _exif_ref(exif: ExifData, home: ExifHome) -> str | None:
    """``_text()`` of the value of ``home``; a plain one-letter ASCII reference is read as is."""
    entry = exif.entry(*home)
    if entry is None:
        return None
    if entry.type == exif_codec.ASCII:
        ref = _REFS.get(entry.raw)
        if ref is not None:
            return ref
    return _text(entry.value)


_XMP_COORD = re.compile(
    r"\s*(\d{1,3})(?:,(\d{1,2}(?:\.\d+)?)(?:,(\d{1,2}(?:\.\d+)?))?)?\s*([NSEW])\s*$"
)


def _xmp_coord(text: str | None) -> float | None:
    if not text:
        return None
    m = _XMP_COORD.match(text.upper())
    if m:
        value = (
            Fraction(m.group(1)) + Fraction(m.group(2) or 0) / 60 + Fraction(m.group(3) or 0) / 3600
        )
        sign = -1 if m.group(4) in "SW" else 1
        return round(sign * float(value), 7)
    try:
        return round(float(text), 7)
    except ValueError:
        return None


def _format_xmp_coord(value: float, pos: str, neg: str) -> str:
    deg, minutes, seconds = _dms(value)
    decimal_minutes = Fraction(minutes) + seconds / 60
    text = f"{float(decimal_minutes):.8f}".rstrip("0").rstrip(".")
    return f"{deg},{text if '.' in text else text + '.0'}{neg if value < 0 else pos}"


def _rational(value: Any) -> Fraction | None:
    if isinstance(value, tuple):
        value = value[0] if value else None
    if isinstance(value, (int, Fraction)):
        return Fraction(value)
    if isinstance(value, float):
        return Fraction(value)
    return None


class GpsConverter:
    """The GPS position: EXIF GPS IFD rationals and XMP exif:GPS* properties."""

    def from_exif(self, exif: ExifData, homes: list[ExifHome]) -> Any:
        _ver, lat_ref, lat, lon_ref, lon, alt_ref, alt = homes
        latitude = _exif_degrees(exif, lat)
        longitude = _exif_degrees(exif, lon)
        if latitude is None or longitude is None:
            return None
        if (_exif_ref(exif, lat_ref) or "N").upper().startswith("S"):
            latitude = -latitude
        if (_exif_ref(exif, lon_ref) or "E").upper().startswith("W"):
            longitude = -longitude
        altitude = None
        alt_value = _exif_rational(exif, alt)
        if alt_value is not None:
            altitude = round(alt_value, 3)
            entry = exif.entry(*alt_ref)
            # a BYTE value decodes to its bytes
            ref = entry.raw if entry is not None and entry.type == exif_codec.BYTE else (
                None if entry is None else entry.value)
            below = ref in (1, b"\x01") or (isinstance(ref, tuple) and ref[:1] == (1,))
            if below:
                altitude = -altitude
        return _gps(latitude, longitude, altitude)

    def from_iim(self, iim: IimData, homes: list[IimHome]) -> Any:
        return None

    def from_xmp(self, xmp: XmpPacket, homes: list[XmpHome]) -> list[tuple[str, Any]]:
        lat_h, lon_h, alt_h, ref_h = homes
        latitude = _xmp_coord(_text(xmp.get(lat_h.path, "text")))
        longitude = _xmp_coord(_text(xmp.get(lon_h.path, "text")))
        if latitude is None or longitude is None:
            return []
        altitude = None
        alt_text = _text(xmp.get(alt_h.path, "text"))
        if alt_text:
            try:
                altitude = round(float(Fraction(alt_text)), 3)
            except (ValueError, ZeroDivisionError):
                altitude = None
            if altitude is not None and _text(xmp.get(ref_h.path, "text")) == "1":
                altitude = -altitude
        gps = _gps(latitude, longitude, altitude)
        return [] if gps is None else [("exif:GPSLatitude/GPSLongitude", gps)]

    def to_exif(self, value: Any, homes: list[ExifHome]) -> dict[ExifHome, ExifWrite | None]:
        ver, lat_ref, lat, lon_ref, lon, alt_ref, alt = homes
        if value is None:
            return {h: None for h in homes if h != ver}
        gps: Gps = value
        edits: dict[ExifHome, ExifWrite | None] = {
            ver: ExifWrite(exif_codec.BYTE, b"\x02\x03\x00\x00"),
            lat_ref: ExifWrite(exif_codec.ASCII, "S" if gps.latitude < 0 else "N"),
            lat: ExifWrite(exif_codec.RATIONAL, tuple(Fraction(x) for x in _dms(gps.latitude))),
            lon_ref: ExifWrite(exif_codec.ASCII, "W" if gps.longitude < 0 else "E"),
            lon: ExifWrite(exif_codec.RATIONAL, tuple(Fraction(x) for x in _dms(gps.longitude))),
            alt_ref: None,
            alt: None,
        }
        if gps.altitude is not None:
            edits[alt_ref] = ExifWrite(exif_codec.BYTE, b"\x01" if gps.altitude < 0 else b"\x00")
            edits[alt] = ExifWrite(
                exif_codec.RATIONAL, (Fraction(round(abs(gps.altitude) * 1000), 1000),)
            )
        return edits

    def to_iim(self, value: Any, homes: list[IimHome]) -> dict[IimHome, list[str]]:
        return {}

    def to_xmp(self, value: Any, homes: list[XmpHome]) -> list[tuple[XmpHome, XmpValue]]:
        lat_h, lon_h, alt_h, ref_h = homes
        if value is None:
            return [(h, None) for h in homes]
        gps: Gps = value
        out: list[tuple[XmpHome, XmpValue]] = [
            (lat_h, _format_xmp_coord(gps.latitude, "N", "S")),
            (lon_h, _format_xmp_coord(gps.longitude, "E", "W")),
            (alt_h, None),
            (ref_h, None),
        ]
        if gps.altitude is not None:
            alt = Fraction(round(abs(gps.altitude) * 1000), 1000)
            out[2] = (alt_h, f"{alt.numerator}/{alt.denominator}")
            out[3] = (ref_h, "1" if gps.altitude < 0 else "0")
        return out

    def same(self, a: Any, b: Any) -> bool:
        if not isinstance(a, Gps) or not isinstance(b, Gps):
            return False
        close = abs(a.latitude - b.latitude) < 1e-5 and abs(a.longitude - b.longitude) < 1e-5
        if a.altitude is None or b.altitude is None:
            return close
        return close and abs(a.altitude - b.altitude) < 0.01


_NEW_GPS: Final = Gps.__pydantic_validator__.validate_python
"""``Gps.model_validate`` without its Python wrapper."""


def _gps(latitude: float, longitude: float, altitude: float | None) -> Gps | None:
    try:
        gps: Gps = _NEW_GPS({"latitude": latitude, "longitude": longitude, "altitude": altitude})
    except ValueError:
        return None
    return gps


CONVERTERS: Final[dict[str, Converter]] = {
    "text": TextConverter(),
    "list": ListConverter(),
    "joined": JoinedConverter(),
    "contact": ContactConverter(),
    "country_code": CountryCodeConverter(),
    "datetime": DateTimeConverter(),
    "gps": GpsConverter(),
}
