"""read / write / validate on real JPEG files made by Pillow: merge, clear, no-op, atomicity."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import photometa
from photometa import DEFAULT_LIMITS, PhotoContext, UnsupportedFormatError
from photometa.formats import jpeg

FULL = {
    "location": {
        "sublocation": "Kaeson Youth Park",
        "city": "Pyongyang",
        "region": "Pyongyang",
        "country": "North Korea",
        "country_code": "KP",
        "gps": {"latitude": 39.0392, "longitude": 125.7625, "altitude": 38.5},
    },
    "subject": {
        "headline": "Soldiers resting by the road",
        "caption": "Two soldiers smoke during a break; minders asked the photographer "
        "to delete it.",
        "keywords": ["soldiers", "rest", "평양"],
        "persons": ["soldier", "tour guide"],
        "event": "Day of the Sun",
    },
    "photographer": {
        "name": "Eric Lafforgue",
        "credit": "Eric Lafforgue",
        "copyright": "© Eric Lafforgue",
        "contact": "https://example.org/lafforgue",
    },
    "restriction": {
        "status": "deletion-requested",
        "category": "military",
        "reason": "Pictures of soldiers relaxing are forbidden 🚫",
        "authority": "North Korean government minders",
    },
    "captured_at": "2012-04-15T10:30:05+09:00",
    "source": "Photos Banned By North Korea, But Smuggled Out (web feature)",
}


def full_context() -> PhotoContext:
    return PhotoContext.model_validate(FULL)


def scan_hash(path: Path) -> str:
    """Hash of the bytes from the start of scan on (found by walking the segments)."""
    with open(path, "rb") as f:
        layout = jpeg.read_layout(f, DEFAULT_LIMITS, strict=True)
    assert layout.scan_offset is not None
    return hashlib.sha256(path.read_bytes()[layout.scan_offset :]).hexdigest()


def test_round_trip_full_context(make_jpeg: Callable[..., Path]) -> None:
    path = make_jpeg()
    before = scan_hash(path)
    outcome = photometa.write(path, full_context())
    assert outcome.written
    assert photometa.read(path) == full_context()
    assert scan_hash(path) == before
    result = photometa.read_detailed(path)
    assert [f for f in result.findings if f.severity != "info"] == []


def test_write_merges_with_what_the_file_holds(make_jpeg: Callable[..., Path]) -> None:
    path = make_jpeg()
    photometa.write(path, full_context())
    photometa.write(path, PhotoContext(location={"city": "Kaesong"}))
    ctx = photometa.read(path)
    assert ctx.location.city == "Kaesong"
    assert ctx.photographer.name == "Eric Lafforgue"
    assert ctx.subject.keywords == ["soldiers", "rest", "평양"]


def test_clear_removes_a_field_everywhere(make_jpeg: Callable[..., Path]) -> None:
    path = make_jpeg()
    photometa.write(path, full_context())
    photometa.write(
        path, PhotoContext(), clear=["location.city", "location.gps", "subject.keywords"]
    )
    ctx = photometa.read(path)
    assert ctx.location.city is None
    assert ctx.location.gps is None
    assert ctx.subject.keywords == []
    assert ctx.location.country == "North Korea"


def test_unknown_clear_field_is_an_error(make_jpeg: Callable[..., Path]) -> None:
    with pytest.raises(photometa.InvalidValueError) as info:
        photometa.write(make_jpeg(), PhotoContext(), clear=["location.town"])
    assert info.value.field == "location.town"


def test_rewriting_same_values_does_not_touch_the_file(make_jpeg: Callable[..., Path]) -> None:
    path = make_jpeg()
    photometa.write(path, full_context())
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    data = path.read_bytes()
    outcome = photometa.write(path, full_context())
    assert not outcome.written and not outcome.changes
    assert path.read_bytes() == data
    assert path.stat().st_mtime_ns == 1_000_000_000


def test_dry_run_reports_changes_and_writes_nothing(make_jpeg: Callable[..., Path]) -> None:
    path = make_jpeg()
    data = path.read_bytes()
    outcome = photometa.write(path, PhotoContext(location={"city": "Wonsan"}), dry_run=True)
    assert outcome.changes == {"location.city": (None, "Wonsan")}
    assert not outcome.written
    assert path.read_bytes() == data


def test_repeated_writes_do_not_grow_without_bound(make_jpeg: Callable[..., Path]) -> None:
    path = make_jpeg()
    sizes = []
    for i in range(20):
        photometa.write(
            path,
            PhotoContext(
                subject={"caption": f"caption number {i} " * (i % 3 + 1)},
                photographer={"name": f"Photographer {i}"},
            ),
        )
        sizes.append(path.stat().st_size)
    assert photometa.read(path).photographer.name == "Photographer 19"
    assert sizes[-1] - sizes[2] < 4096, sizes


def test_keeps_mode_and_writes_through_symlink(
    make_jpeg: Callable[..., Path], tmp_path: Path
) -> None:
    path = make_jpeg()
    os.chmod(path, 0o640)
    link = tmp_path / "link.jpg"
    link.symlink_to(path)
    photometa.write(link, PhotoContext(location={"city": "Hamhung"}))
    assert link.is_symlink()
    assert photometa.read(path).location.city == "Hamhung"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".photometa-")]


def test_naive_and_aware_capture_times(make_jpeg: Callable[..., Path]) -> None:
    path = make_jpeg()
    naive = datetime(2012, 9, 9, 8, 0, 0)
    photometa.write(path, PhotoContext(captured_at=naive))
    assert photometa.read(path).captured_at == naive
    aware = datetime(2012, 9, 9, 8, 0, 0, 250000, tzinfo=timezone(timedelta(hours=-5, minutes=-30)))
    photometa.write(path, PhotoContext(captured_at=aware))
    assert photometa.read(path).captured_at == aware


def test_unsupported_format_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("this is not an image")
    with pytest.raises(UnsupportedFormatError) as info:
        photometa.read(path)
    assert info.value.path == path
    assert "notes.jpg" in str(info.value)
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(UnsupportedFormatError, match="empty"):
        photometa.read(empty)


def test_truncated_jpeg_reads_tolerantly_but_refuses_write(make_jpeg: Callable[..., Path]) -> None:
    path = make_jpeg()
    photometa.write(path, full_context())
    data = path.read_bytes()
    cut = data.index(b"\xff\xda") - 10  # inside the header segments
    path.write_bytes(data[:cut])
    result = photometa.read_detailed(path)
    assert any(f.code == "jpeg-truncated" for f in result.findings)
    with pytest.raises(photometa.CorruptFileError) as info:
        photometa.write(path, PhotoContext(location={"city": "Nampho"}))
    assert info.value.path == path and info.value.offset is not None
    assert path.read_bytes() == data[:cut]


def test_validate_reports_vocabulary_and_iim_limits(make_jpeg: Callable[..., Path]) -> None:
    path = make_jpeg()
    photometa.write(
        path,
        PhotoContext(restriction={"status": "forbidden-ish"}, location={"city": "X" * 40}),
        iim="never",
    )
    report = photometa.validate(path)
    codes = {(f.field, f.code) for f in report.findings}
    assert ("restriction.status", "vocab-unknown") in codes
    assert ("location.city", "iim-too-long") in codes
    assert not report.ok
    photometa.write(
        path, PhotoContext(restriction={"status": "banned"}, location={"city": "Pyongyang"})
    )
    assert photometa.validate(path).ok


def test_read_many_streams_results_and_errors(
    make_jpeg: Callable[..., Path], tmp_path: Path
) -> None:
    good = [make_jpeg() for _ in range(5)]
    for i, p in enumerate(good):
        photometa.write(p, PhotoContext(location={"city": f"City {i}"}))
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"garbage")
    paths = [*good[:2], bad, *good[2:]]
    results = list(photometa.read_many(paths, workers=2))
    assert [r.path for r in results] == paths
    assert results[2].error is not None and results[2].error.code == "unsupported-format"
    assert [r.context.location.city for r in results if r.context] == [
        f"City {i}" for i in range(5)
    ]
