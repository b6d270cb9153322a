"""Files derived from the model and the mapping table are up to date, and the ExifTool config
works."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

import photometa
from conftest import REPO, run_exiftool
from photometa import FIELD_PATHS, PhotoContext
from photometa._generate import generated_files
from photometa.mapping import ROWS


@pytest.mark.parametrize("rel", sorted(generated_files()))
def test_generated_file_is_current(rel: str) -> None:
    target = REPO / rel
    assert target.is_file(), f"{rel} is missing: run `make schema`"
    assert target.read_text("utf-8") == generated_files()[rel], f"{rel} is stale: run `make schema`"


def test_every_field_has_exactly_one_row() -> None:
    for leaf in FIELD_PATHS:
        assert sum(row.covers(leaf) for row in ROWS) == 1, leaf


def test_every_field_has_a_standard_or_custom_xmp_home() -> None:
    for row in ROWS:
        assert row.xmp, row.path


def test_exiftool_config_reads_and_writes_the_namespace_by_name(
    make_jpeg: Callable[..., Path], exiftool: str
) -> None:
    config = REPO / "schemas" / "photometa.exiftool.config"
    path = make_jpeg()
    subprocess.run(
        [
            exiftool,
            "-config",
            str(config),
            "-overwrite_original",
            "-XMP-pmeta:RestrictionStatus=banned",
            "-XMP-pmeta:RestrictionCategory=leader-imagery",
            "-XMP-pmeta:RestrictionReason=Statue photographed from behind",
            "-XMP-pmeta:RestrictionAuthority=Guides",
            str(path),
        ],
        check=True,
        capture_output=True,
    )
    ctx = photometa.read(path)
    assert ctx.restriction.status == "banned"
    assert ctx.restriction.category == "leader-imagery"
    assert ctx.restriction.reason == "Statue photographed from behind"
    photometa.write(path, PhotoContext(restriction={"authority": "Korean People's Army"}))
    [tags] = run_exiftool(exiftool, "-config", config, "-XMP-pmeta:all", path)
    assert tags["RestrictionAuthority"] == "Korean People's Army"
    assert tags["RestrictionStatus"] == "banned"
