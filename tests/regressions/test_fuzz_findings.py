"""Regressions found by fuzzing and worst-case measurement (atheris, tests/fuzz/bombs.py)."""

from __future__ import annotations

import contextlib
import tracemalloc
from pathlib import Path

import pytest

import photometa
from fuzz.bombs import BOMBS  # tests/fuzz/bombs.py

# atheris, target bmff: an iloc extent of length 0 ("to the end") whose offset lies past the end
# made _item_bytes compute a negative length; f.read(-n) raised ValueError out of read_detailed.
BMFF_NEGATIVE_EXTENT = bytes.fromhex(
    "000000186674797068656963000000006d69663168656963000000706d657461000000000000002168646c72"
    "000000000000000070696374000000000000000000000000000000002369696e660000000000010000001569"
    "6e66650200000000010000457869660000000020696c6f63010000004400000100010000000000017fffffff"
    "00000000")


def test_bmff_extent_past_the_end_is_a_clean_error(tmp_path: Path) -> None:
    path = tmp_path / "negative-extent.heic"
    path.write_bytes(BMFF_NEGATIVE_EXTENT)
    try:
        photometa.read_detailed(path)
    except photometa.PhotometaError as err:
        assert err.path == path


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_worst_cases_at_the_default_limits_stay_cheap(name: str, tmp_path: Path) -> None:
    suffix, build = BOMBS[name]
    path = tmp_path / f"{name}{suffix}"
    path.write_bytes(build())
    tracemalloc.start()
    try:
        with contextlib.suppress(photometa.PhotometaError):
            photometa.read_detailed(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 80 * 2**20, f"{name}: {peak / 2**20:.0f} MiB"
