"""Reading fields from their homes: the planned reading of ``to_model`` gives what reading every
home of every row gives, the same values and the same findings in the same order."""

from __future__ import annotations

import math
import random
import struct
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from typing import Any

import pytest

from photometa import mapping
from photometa._metadata import Metadata
from photometa.codecs import exif as exif_codec
from photometa.codecs.exif import ExifEntry, ExifWrite
from photometa.codecs.iptc import IimData
from photometa.codecs.xmp import XmpPacket
from photometa.convert import _exif_degrees, _exif_rational, _exif_ref, _from_dms, _rational, _text
from photometa.model import Gps, PhotoContext
from photometa.report import Finding

TEXTS = ["Kaesong", "kaesong", "Kaesong ", "Pyongyang", "North Korea", "KP", "PRK", "kp", "XX",
         "Café", "Cafe\u0301", "a\x01b", "\x02", " ", "A; B", "a;b", "banned", "x" * 40, "x" * 32,
         "y" * 300, "mail@example.org", "https://e.org", "Ü" * 20, "line\nbreak"]


def _value(r: random.Random, convert: str) -> Any:
    if convert == "list":
        return [r.choice(TEXTS) for _ in range(r.randint(0, 3))]
    if convert == "datetime":
        tz = r.choice([None, timezone.utc, timezone(timedelta(hours=9))])
        return datetime(2024, r.randint(1, 12), r.randint(1, 28), r.randint(0, 23),
                        r.randint(0, 59), r.randint(0, 59), r.choice([0, 500000]), tzinfo=tz)
    if convert == "gps":
        return Gps(latitude=r.choice([39.0, -33.5, 39.00001]),
                   longitude=r.choice([125.7, -0.1, 125.70001]),
                   altitude=r.choice([None, 38.0, -12.5]))
    return r.choice(TEXTS)


def _random_metadata(r: random.Random) -> Metadata:
    """Homes filled independently, often with the same value, sometimes with another one."""
    exif_edits: dict[tuple[str, int], ExifWrite | None] = {}
    iim, xmp = IimData(), XmpPacket.new()
    for row in mapping.ROWS:
        if r.random() < 0.3:
            continue
        conv = row.converter
        value = _value(r, row.convert)
        if row.exif and r.random() < 0.6:
            other = value if r.random() < 0.6 else _value(r, row.convert)
            if row.convert == "datetime" and r.random() < 0.3:
                other = other.replace(tzinfo=None)
            exif_edits.update(conv.to_exif(other, list(row.exif)))
        if row.iim and r.random() < 0.6:
            other = value if r.random() < 0.6 else _value(r, row.convert)
            if row.iim_max_bytes and isinstance(other, str) and r.random() < 0.3:
                other = other.encode()[: row.iim_max_bytes].decode("utf-8", "ignore")
            for home, values in conv.to_iim(other, list(row.iim)).items():
                if values:
                    iim.set(home[0], home[1], values)
        if row.xmp and r.random() < 0.8:
            other = value if r.random() < 0.7 else _value(r, row.convert)
            for xhome, xvalue in conv.to_xmp(other, list(row.xmp)):
                if xvalue is not None and r.random() < 0.85:
                    xmp.set(xhome.path, xhome.kind, xvalue)
    md = Metadata()
    edits = {k: v for k, v in exif_edits.items() if v is not None}
    if edits and r.random() < 0.8:
        md.exif = exif_codec.decode(exif_codec.new_block(edits))
    if iim.datasets and r.random() < 0.7:
        md.iim = iim
    if r.random() < 0.9:
        md.xmp = xmp
    md.stored_digest = r.choice([None, None, b"\0" * 16, b"1" * 16])  # no IIM block: stale
    return md


def _row_by_row(md: Metadata) -> tuple[dict[str, Any], list[Finding]]:
    """Every home of every row read and compared: the plain form of the planned reading."""
    tree: dict[str, Any] = {}
    findings: list[Finding] = []
    for plan in mapping._PLANS:
        reading = mapping.read_field(plan.row, md)
        if reading.chosen is None:
            continue
        head, _, leaf = plan.path.rpartition(".")
        (tree.setdefault(head, {}) if head else tree)[leaf] = reading.chosen
        findings += mapping._disagree(plan, reading.exif, reading.iim, reading.xmp,
                                      reading.chosen, reading.chosen_from)
    return tree, findings


@pytest.mark.parametrize("seed", range(4))
def test_planned_reading_equals_reading_every_home(seed: int) -> None:
    r = random.Random(seed)
    codes: set[str] = set()
    for _ in range(150):
        md = _random_metadata(r)
        findings: list[Finding] = []
        tree = mapping._readings(md, findings)
        want_tree, want_findings = _row_by_row(md)
        assert tree == want_tree
        assert [repr(v) for v in _leaves(tree)] == [repr(v) for v in _leaves(want_tree)]
        assert findings == want_findings
        codes |= {f.code for f in findings}
    assert {"homes-disagree", "iim-truncated"} <= codes  # the cases were exercised


class _OpaquePacket:
    """A packet that keeps its properties out of sight: every home is looked up."""

    def __init__(self, packet: XmpPacket) -> None:
        self.packet = packet

    def get(self, path: str, kind: Any) -> Any:
        return self.packet.get(path, kind)


def test_planned_reading_of_a_packet_it_cannot_look_into() -> None:
    r = random.Random(99)
    for _ in range(60):
        md = _random_metadata(r)
        if md.xmp is None:
            continue
        md.xmp = _OpaquePacket(md.xmp)  # type: ignore[assignment]
        findings: list[Finding] = []
        assert mapping._readings(md, findings) == _row_by_row(md)[0]
        assert findings == _row_by_row(md)[1]


def _leaves(tree: dict[str, Any]) -> list[Any]:
    out = []
    for value in tree.values():
        out += _leaves(value) if isinstance(value, dict) else [value]
    return out


def test_to_model_reports_in_row_order_with_the_same_messages() -> None:
    xmp = XmpPacket.new()
    xmp.set("photoshop:City", "text", "Kaesong")
    xmp.set("dc:description", "langalt", "From XMP")
    iim = IimData()
    iim.set(2, 90, ["Pyongyang"])
    iim.set(2, 120, ["From IIM"])
    iim.set(2, 105, ["h" * 256])
    xmp.set("photoshop:Headline", "text", "h" * 256 + " and more")
    md = Metadata(xmp=xmp, iim=iim, stored_digest=b"1" * 16)  # not the digest of this IIM
    ctx, findings = mapping.to_model(md)
    assert ctx.location.city == "Pyongyang"  # the digest is stale: IIM wins
    assert ctx.subject.headline == "h" * 256 + " and more"  # IIM holds it truncated
    assert [(f.field, f.code, f.severity) for f in findings] == [
        (None, "iptc-digest-stale", "info"),
        ("location.city", "homes-disagree", "warning"),
        ("subject.headline", "iim-truncated", "warning"),
        ("subject.caption", "homes-disagree", "warning"),
    ]
    assert findings[1].message == (
        "XMP photoshop:City holds 'Kaesong' but IPTC-IIM holds 'Pyongyang'; "
        "read IPTC-IIM's value (MWG rules)")
    assert findings[2].message == (
        "IPTC-IIM Iptc.Application2.Headline holds a truncated copy of the value "
        "(256-byte limit)")


def test_an_invalid_value_is_dropped_with_an_error_finding() -> None:
    xmp = XmpPacket.new()
    xmp.set("Iptc4xmpCore:CountryCode", "text", "QQ")
    xmp.set("photoshop:City", "text", "Kaesong")
    ctx, findings = mapping.to_model(Metadata(xmp=xmp))
    assert ctx.location.country_code is None and ctx.location.city == "Kaesong"
    assert [(f.field, f.code, f.severity) for f in findings] == [
        ("location.country_code", "invalid-value", "error")]
    assert ctx.model_fields_set == {"location"}
    assert ctx.location.model_fields_set == {"city"}


def test_nothing_present_gives_an_empty_context() -> None:
    ctx, findings = mapping.to_model(Metadata())
    assert ctx == PhotoContext() and findings == []
    assert ctx.model_fields_set == set()


# -- EXIF rationals read without Fractions -------------------------------------------------------


class _Exif:
    """Just enough of ExifData: entries by home."""

    def __init__(self, entries: dict[tuple[str, int], ExifEntry]) -> None:
        self.entries = entries

    def entry(self, ifd: str, tag: int) -> ExifEntry | None:
        return self.entries.get((ifd, tag))

    def get(self, ifd: str, tag: int) -> Any:
        e = self.entry(ifd, tag)
        return None if e is None else e.value


def _entry(typ: int, ints: tuple[int, ...], order: str = ">", count: int | None = None
           ) -> ExifEntry:
    code = {exif_codec.RATIONAL: "I", exif_codec.SRATIONAL: "i", exif_codec.SHORT: "H",
            exif_codec.LONG: "I"}[typ]
    raw = struct.pack(f"{order}{len(ints)}{code}", *ints)
    n = count if count is not None else (len(ints) // 2 if typ in (5, 10) else len(ints))
    return ExifEntry("GPS", 2, typ, n, 0, None, raw, order)  # type: ignore[arg-type]


def _same_float(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return a == b and math.copysign(1, a) == math.copysign(1, b)


@pytest.mark.parametrize("entry", [
    _entry(exif_codec.RATIONAL, (39, 1, 30, 1, 3600, 100)),
    _entry(exif_codec.RATIONAL, (39, 1, 30, 1, 3600, 100), order="<"),
    _entry(exif_codec.SRATIONAL, (0, -1, 0, 1, 0, 1)),  # -0.0 from n/d, 0.0 from the Fraction
    _entry(exif_codec.SRATIONAL, (0, -1,)),
    _entry(exif_codec.SRATIONAL, (-39, 1, 30, -1)),
    _entry(exif_codec.SRATIONAL, (7, -3)),
    _entry(exif_codec.RATIONAL, (39, 0, 30, 1, 0, 1)),  # a zero denominator
    _entry(exif_codec.RATIONAL, (39, 1, 30, 1, 0, 0)),
    _entry(exif_codec.RATIONAL, (1, 3)),
    _entry(exif_codec.RATIONAL, (1, 3, 2, 7)),
    _entry(exif_codec.RATIONAL, (1, 1, 2, 1, 3, 1, 4, 1)),  # too many parts
    _entry(exif_codec.RATIONAL, ()),
    _entry(exif_codec.RATIONAL, (4294967295, 3, 4294967295, 7, 1, 4294967295)),
    _entry(exif_codec.SHORT, (39, 30, 0)),  # not rationals: decoded the usual way
    _entry(exif_codec.LONG, (39,)),
], ids=repr)
def test_rationals_read_as_the_decoded_fractions_give(entry: ExifEntry) -> None:
    exif = _Exif({("GPS", 2): entry})
    home = ("GPS", 2)
    assert _same_float(_exif_degrees(exif, home), _from_dms(exif.get(*home)))  # type: ignore[arg-type]
    value = _rational(exif.get(*home))
    want = None if value is None else float(value)
    assert _same_float(_exif_rational(exif, home), want)  # type: ignore[arg-type]


def test_random_rationals_read_as_the_decoded_fractions_give() -> None:
    r = random.Random(7)
    for _ in range(3000):
        typ = r.choice([exif_codec.RATIONAL, exif_codec.SRATIONAL])
        top = 2**32 - 1 if typ == exif_codec.RATIONAL else 2**31 - 1
        low = 0 if typ == exif_codec.RATIONAL else -(2**31)
        ints = tuple(r.choice([0, 1, r.randint(low, top), low, top])
                     for _ in range(2 * r.randint(1, 3)))
        exif = _Exif({("GPS", 2): _entry(typ, ints, order=r.choice("<>"))})
        assert _same_float(_exif_degrees(exif, ("GPS", 2)),  # type: ignore[arg-type]
                           _from_dms(exif.get("GPS", 2)))
        value = _rational(exif.get("GPS", 2))
        assert _same_float(_exif_rational(exif, ("GPS", 2)),  # type: ignore[arg-type]
                           None if value is None else float(value))


@pytest.mark.parametrize("raw", [b"N\0", b"S", b"W\0", b"s\0", b" S\0", b"S\0\0", b"", b"\0",
                                 b"South\0", b"\xc3\xa9\0"])
def test_references_read_as_the_decoded_text_gives(raw: bytes) -> None:
    entry = ExifEntry("GPS", 1, exif_codec.ASCII, len(raw), 0, None, raw)
    exif = _Exif({("GPS", 1): entry})
    assert _exif_ref(exif, ("GPS", 1)) == _text(entry.value)  # type: ignore[arg-type]
    assert _exif_ref(_Exif({}), ("GPS", 1)) is None  # type: ignore[arg-type]


def test_gps_from_exif_with_negative_zero_parts() -> None:
    entries = {
        ("GPS", 2): _entry(exif_codec.SRATIONAL, (0, -1, 0, -1, 0, -1)),
        ("GPS", 4): _entry(exif_codec.SRATIONAL, (0, -1,)),
        ("GPS", 6): _entry(exif_codec.SRATIONAL, (0, -5,)),
    }
    row = mapping.row_for("location.gps")
    gps = row.converter.from_exif(_Exif(entries), list(row.exif))  # type: ignore[arg-type]
    assert repr(gps) == repr(Gps(latitude=0.0, longitude=0.0, altitude=0.0))
    assert repr(gps) == repr(Gps(latitude=Fraction(0), longitude=Fraction(0), altitude=0.0))


# -- to_edits: converted values are remembered, never mixed up ------------------------------------

def _plain_edits(ctx: PhotoContext, rows: Any) -> mapping.Edits:
    """to_edits as every converter call spelled out."""
    edits = mapping.Edits()
    for row in rows:
        value = ctx.get_path(row.path)
        if value == []:
            value = None
        conv = row.converter
        if row.exif:
            edits.exif.update(conv.to_exif(value, list(row.exif)))
        if row.iim:
            edits.iim.update(conv.to_iim(value, list(row.iim)))
        if row.xmp:
            edits.xmp.extend(conv.to_xmp(value, list(row.xmp)))
    return edits


_EDIT_CONTEXTS = [
    {},
    {"captured_at": "2012-04-15T10:30:05+09:00", "location": {"city": "Kaesong"},
     "subject": {"keywords": ["a", "b"], "caption": "Café"}},
    {"captured_at": "2012-04-15T01:30:05+00:00", "location": {"city": "Kaesong "},
     "subject": {"keywords": ["a", "b", "c"], "caption": "Cafe\u0301"}},
    {"captured_at": "2012-04-15T01:30:05", "subject": {"keywords": []}},
    {"location": {"gps": {"latitude": 0.0, "longitude": 0.0}}},
    {"location": {"gps": {"latitude": -0.0, "longitude": -0.0, "altitude": -0.0}}},
    {"location": {"gps": {"latitude": 39.0433, "longitude": 125.7553, "altitude": 38.5}}},
    {"location": {"gps": {"latitude": 39.0433, "longitude": 125.7553, "altitude": -38.5}}},
]


def test_to_edits_equals_the_plain_conversions() -> None:
    ctxs = [PhotoContext.model_validate(c) for c in _EDIT_CONTEXTS]
    for _ in range(2):  # the second round from what the first remembered
        for ctx in ctxs + ctxs[::-1]:
            for rows in (mapping.ROWS, mapping.ROWS[::2], mapping.ROWS[::-1]):
                assert mapping.to_edits(ctx, rows) == _plain_edits(ctx, rows)


def test_to_edits_gives_each_caller_its_own_lists() -> None:
    ctx = PhotoContext.model_validate(_EDIT_CONTEXTS[1])
    first = mapping.to_edits(ctx, mapping.ROWS)
    for values in first.iim.values():
        values.append("changed")
    for _, value in first.xmp:
        if isinstance(value, list):
            value.append("changed")
    assert mapping.to_edits(ctx, mapping.ROWS) == _plain_edits(ctx, mapping.ROWS)


def test_to_edits_follows_a_replaced_converter(monkeypatch: pytest.MonkeyPatch) -> None:
    from photometa import convert

    ctx = PhotoContext.model_validate(_EDIT_CONTEXTS[1])
    mapping.to_edits(ctx, mapping.ROWS)
    row = next(r for r in mapping.ROWS if r.path == "location.city")
    original = convert.CONVERTERS[row.convert]

    class Shouting:
        def __getattr__(self, name: str) -> Any:
            return getattr(original, name)

        def to_xmp(self, value: Any, homes: Any) -> Any:
            return [(h, v.upper() if isinstance(v, str) else v)
                    for h, v in original.to_xmp(value, homes)]

    monkeypatch.setitem(convert.CONVERTERS, row.convert, Shouting())
    edits = mapping.to_edits(ctx, [row])
    assert [v for _, v in edits.xmp] == ["KAESONG"] * len(row.xmp)
