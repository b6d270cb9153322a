"""The schema: names, normalisation and checks."""

from __future__ import annotations

import unicodedata
from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from photometa import FIELD_PATHS, PhotoContext
from photometa.model import Gps


def test_field_names_are_the_contract() -> None:
    assert set(FIELD_PATHS) == {
        "location.sublocation", "location.city", "location.region", "location.country",
        "location.country_code", "location.gps.latitude", "location.gps.longitude",
        "location.gps.altitude", "subject.headline", "subject.caption", "subject.keywords",
        "subject.persons", "subject.event", "photographer.name", "photographer.credit",
        "photographer.copyright", "photographer.contact", "restriction.status",
        "restriction.category", "restriction.reason", "restriction.authority", "captured_at",
        "source",
    }


def test_absent_fields_are_none_or_empty() -> None:
    ctx = PhotoContext()
    assert ctx.location.city is None
    assert ctx.subject.keywords == []
    assert ctx.location.gps is None
    assert ctx.is_empty()


def test_country_code_checked_against_iso_list() -> None:
    assert PhotoContext(location={"country_code": "kp"}).location.country_code == "KP"
    assert PhotoContext(location={"country_code": "PRK"}).location.country_code == "PRK"
    with pytest.raises(ValidationError, match="not an ISO 3166-1"):
        PhotoContext(location={"country_code": "XX"})
    with pytest.raises(ValidationError):
        PhotoContext(location={"country_code": "Korea"})


@pytest.mark.parametrize("lat,lon", [(91, 0), (-90.5, 0), (0, 181), (0, -180.01)])
def test_gps_ranges(lat: float, lon: float) -> None:
    with pytest.raises(ValidationError):
        Gps(latitude=lat, longitude=lon)


def test_gps_rejects_nan_and_rounds_to_stored_precision() -> None:
    with pytest.raises(ValidationError):
        Gps(latitude=float("nan"), longitude=0)
    gps = Gps(latitude=39.019444444444, longitude=125.7380555555, altitude=12.34567)
    assert gps.latitude == 39.0194444
    assert gps.altitude == 12.346


def test_lists_deduplicated_in_order_and_cleaned() -> None:
    ctx = PhotoContext(subject={"keywords": [" soldiers", "Rest", "soldiers", "rest", "", "army"],
                                "persons": "guide"})
    assert ctx.subject.keywords == ["soldiers", "Rest", "army"]
    assert ctx.subject.persons == ["guide"]


def test_text_normalised_and_control_characters_removed() -> None:
    ctx = PhotoContext(subject={"caption": "  Cafe\u0301\x07 in Pyongyang \n"})
    assert ctx.subject.caption == "Café in Pyongyang"
    assert PhotoContext(subject={"headline": "   "}).subject.headline is None


@pytest.mark.parametrize("char", [chr(c) for c in range(128)] + ["\u0301", "\x85", "\u2028"])
def test_every_ascii_character_is_cleaned_by_the_same_rule(char: str) -> None:
    """Plain ASCII text takes a shortcut; it must end as the general rule leaves any text:
    NFC, C0 controls and DEL removed (tab, newline and carriage return kept), then trimmed."""
    for raw in (f" a{char}b ", f"{char}", f"{char}x{char}", f"e{char}\u0301"):
        text = unicodedata.normalize("NFC", raw)
        text = "".join(c for c in text if c in "\t\n\r" or not (c < " " or c == "\x7f")).strip()
        assert PhotoContext(source=raw).source == (text or None)


def test_vocabulary_terms_normalised() -> None:
    ctx = PhotoContext(restriction={"status": "Deletion Requested", "category": "leader_imagery"})
    assert ctx.restriction.status == "deletion-requested"
    assert ctx.restriction.category == "leader-imagery"


def test_captured_at_keeps_offset() -> None:
    tz = timezone(timedelta(hours=9))
    ctx = PhotoContext(captured_at="2012-04-15T10:30:00+09:00")
    assert ctx.captured_at == datetime(2012, 4, 15, 10, 30, tzinfo=tz)
    assert PhotoContext(captured_at="2012-04-15T10:30:00").captured_at.tzinfo is None  # type: ignore[union-attr]


def test_unknown_fields_rejected() -> None:
    with pytest.raises(ValidationError):
        PhotoContext(location={"town": "Kaesong"})


def test_get_path_splits_each_path_once_and_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from photometa import model

    ctx = PhotoContext(location={"city": "Kaesong", "gps": {"latitude": 1.0, "longitude": 2.0}})
    monkeypatch.setattr(model, "_PATH_PARTS", {})
    monkeypatch.setattr(model, "_PATH_PARTS_MAX", 3)
    for _ in range(2):  # the second round from the remembered parts
        assert ctx.get_path("location.city") == "Kaesong"
        assert ctx.get_path("location.gps.longitude") == 2.0
        assert ctx.get_path("photographer.name") is None
        assert ctx.get_path("restriction") == ctx.restriction
    assert len(model._PATH_PARTS) == 3
    with pytest.raises(AttributeError):
        ctx.get_path("location.town")
