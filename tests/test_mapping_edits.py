"""The keys ``to_edits`` remembers converted values by."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from photometa import mapping
from photometa.model import Gps, PhotoContext

_VALUES: list[Any] = [
    None, "", "a", "a ", "é", "e\u0301",
    [], ["a"], ["a", "b"], ["b", "a"], ["a; b"],
    Gps(latitude=0.0, longitude=0.0), Gps(latitude=-0.0, longitude=0.0),
    Gps(latitude=0.0, longitude=0.0, altitude=0.0), Gps(latitude=0.0, longitude=0.0, altitude=-0.0),
    Gps(latitude=39.0433, longitude=125.7553, altitude=38.5),
    datetime(2012, 4, 15, 10, 30, 5),
    datetime(2012, 4, 15, 10, 30, 5, tzinfo=timezone(timedelta(hours=9))),
    datetime(2012, 4, 15, 1, 30, 5, tzinfo=timezone.utc),  # the same instant as the one above
    datetime(2012, 4, 15, 10, 30, 5, 500),
]


def _key(value: Any) -> Any:
    return type(value), mapping._value_key(value)


@pytest.mark.parametrize("a", range(len(_VALUES)))
def test_value_keys_tell_apart_what_repr_tells_apart(a: int) -> None:
    for other in _VALUES:
        same_key = _key(_VALUES[a]) == _key(other)
        same_repr = (type(_VALUES[a]), repr(_VALUES[a])) == (type(other), repr(other))
        assert same_key == same_repr, (_VALUES[a], other)
        hash(_key(other))


def test_edits_share_no_list_with_the_cache() -> None:
    ctx = PhotoContext.model_validate({"subject": {"keywords": ["a", "b"]},
                                       "location": {"city": "Kaesong"}})
    first = mapping.to_edits(ctx, mapping.ROWS)
    for _, value in first.xmp:
        if isinstance(value, list):
            value.append("changed")
    again = mapping.to_edits(ctx, mapping.ROWS)
    assert dict((h.path, v) for h, v in again.xmp)["dc:subject"] == ["a", "b"]
    assert again == mapping.to_edits(ctx, mapping.ROWS)
