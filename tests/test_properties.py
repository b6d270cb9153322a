"""Property tests: read(write(ctx)) == ctx for generated contexts; re-writing what was read is a
no-op."""

from __future__ import annotations

import io
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import photometa
from photometa import PhotoContext

# text as people type it: any printable character (Korean, emoji, XML specials), no control
# characters
TEXT = (
    st.text(
        alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Co", "Cn", "Zl", "Zp")),
        min_size=1,
        max_size=40,
    )
    .map(str.strip)
    .filter(bool)
)
TERM = TEXT.filter(lambda t: ";" not in t or True)
COUNTRY = st.sampled_from(["KP", "KR", "CN", "FR", "PL", "US", "PRK", "KOR"])
STATUS = st.sampled_from(["unrestricted", "restricted", "deletion-requested", "banned"])
CATEGORY = st.sampled_from(["poverty", "military", "leader-imagery", "infrastructure"])


@st.composite
def gps(draw: st.DrawFn) -> dict[str, float] | None:
    if not draw(st.booleans()):
        return None
    out = {
        "latitude": draw(st.floats(-90, 90, allow_nan=False)),
        "longitude": draw(st.floats(-180, 180, allow_nan=False)),
    }
    if draw(st.booleans()):
        out["altitude"] = draw(st.floats(-500, 9000, allow_nan=False))
    return out


@st.composite
def when(draw: st.DrawFn) -> datetime | None:
    if not draw(st.booleans()):
        return None
    dt = draw(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2099, 12, 31)))
    if draw(st.booleans()):
        minutes = draw(st.integers(-14 * 4, 14 * 4)) * 15
        dt = dt.replace(tzinfo=timezone(timedelta(minutes=minutes)))
    return dt


def maybe(strategy: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.one_of(st.none(), strategy)


@st.composite
def contexts(draw: st.DrawFn) -> PhotoContext:
    data = {
        "location": {
            "sublocation": draw(maybe(TEXT)),
            "city": draw(maybe(TEXT)),
            "region": draw(maybe(TEXT)),
            "country": draw(maybe(TEXT)),
            "country_code": draw(maybe(COUNTRY)),
            "gps": draw(gps()),
        },
        "subject": {
            "headline": draw(maybe(TEXT)),
            "caption": draw(maybe(TEXT)),
            "keywords": draw(st.lists(TEXT, max_size=4)),
            "persons": draw(st.lists(TEXT, max_size=3)),
            "event": draw(maybe(TEXT)),
        },
        "photographer": {
            "name": draw(maybe(TEXT.filter(lambda t: ";" not in t))),
            "credit": draw(maybe(TEXT)),
            "copyright": draw(maybe(TEXT)),
            "contact": draw(maybe(st.sampled_from(["kim@example.org", "https://example.org/p"]))),
        },
        "restriction": {
            "status": draw(maybe(STATUS)),
            "category": draw(maybe(CATEGORY)),
            "reason": draw(maybe(TEXT)),
            "authority": draw(maybe(TEXT)),
        },
        "captured_at": draw(when()),
        "source": draw(maybe(TEXT)),
    }
    return PhotoContext.model_validate(data)


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (10, 200, 30)).save(buf, "JPEG")
    return buf.getvalue()


JPEG = _jpeg()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(contexts())
def test_read_of_write_is_identity(ctx: PhotoContext) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "p.jpg"
        path.write_bytes(JPEG)
        photometa.write(path, ctx)
        assert photometa.read(path) == ctx


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(contexts(), contexts())
def test_writing_what_was_read_changes_nothing(first: PhotoContext, second: PhotoContext) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "p.jpg"
        path.write_bytes(JPEG)
        photometa.write(path, first)
        photometa.write(path, second)
        data = path.read_bytes()
        seen = photometa.read(path)
        outcome = photometa.write(path, seen)
        assert not outcome.written and not outcome.changes
        assert path.read_bytes() == data
