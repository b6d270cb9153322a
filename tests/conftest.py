"""Shared fixtures: the corpus of real files, the ExifTool and exiv2 programs, synthetic images."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _missing(what: str) -> None:
    """Skip outside CI; fail in CI, where a missing piece must not pass silently."""
    if IN_CI:
        pytest.fail(f"{what} is required in CI but missing", pytrace=False)
    pytest.skip(f"{what} not available")


def corpus_root() -> Path:
    """Where the shared corpus lives: $PHOTOMETA_CORPUS or ../shared/corpus beside the checkout."""
    return Path(os.environ.get("PHOTOMETA_CORPUS", REPO.parent / "shared" / "corpus"))


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The corpus folder of real image files (with MANIFEST.tsv and exiftool-truth.jsonl)."""
    root = corpus_root()
    if not (root / "MANIFEST.tsv").is_file():
        _missing(f"the test corpus ({root}; set PHOTOMETA_CORPUS)")
    return root


@lru_cache(maxsize=1)
def _truth(root: str) -> dict[str, dict[str, Any]]:
    out = {}
    with open(Path(root) / "exiftool-truth.jsonl", encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            out[record["SourceFile"]] = record
    return out


@pytest.fixture(scope="session")
def truth(corpus: Path) -> dict[str, dict[str, Any]]:
    """What ExifTool 12.57 reads from each corpus file, keyed by path relative to the corpus."""
    return _truth(str(corpus))


def corpus_files(kind: str | None = None) -> list[Path]:
    """Corpus files listed in MANIFEST.tsv (optionally of one format); [] when the corpus is
    absent."""
    root = corpus_root()
    manifest = root / "MANIFEST.tsv"
    if not manifest.is_file():
        return []
    files = []
    for line in manifest.read_text("utf-8").splitlines()[1:]:
        cols = line.split("\t")
        if kind is None or cols[1] == kind:
            files.append(root / cols[0])
    return files


def corpus_params(kind: str | None = None, folder: str | None = None) -> list[Any]:
    """pytest params over corpus files (a single failing param when the corpus is missing)."""
    files = corpus_files(kind)
    if folder is not None:
        files = [f for f in files if f.relative_to(corpus_root()).parts[0] == folder]
    if not files:
        return [pytest.param(None, id="corpus-missing")]
    return [pytest.param(f, id=str(f.relative_to(corpus_root()))) for f in files]


def need_corpus_file(path: Path | None) -> Path:
    """Use in tests parametrised by corpus_params: skip (fail in CI) when the corpus is absent."""
    if path is None:
        _missing("the test corpus")
    assert path is not None
    return path


def _program(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        _missing(f"the {name} program")
    assert found is not None
    return found


@pytest.fixture(scope="session")
def exiftool() -> str:
    """Path of the exiftool program."""
    return _program("exiftool")


@pytest.fixture(scope="session")
def exiv2() -> str:
    """Path of the exiv2 program."""
    return _program("exiv2")


def run_exiftool(exe: str, *args: str | Path) -> list[dict[str, Any]]:
    """Run exiftool with -j and return its JSON."""
    proc = subprocess.run([exe, "-j", *map(str, args)], capture_output=True, check=False)
    if not proc.stdout.strip():
        raise AssertionError(f"exiftool printed nothing: {proc.stderr.decode(errors='replace')}")
    return json.loads(proc.stdout.decode("utf-8"))  # type: ignore[no-any-return]


@pytest.fixture
def make_jpeg(tmp_path: Path) -> Callable[..., Path]:
    """Build a small JPEG with Pillow (optionally with EXIF bytes, ICC profile, comment)."""
    from PIL import Image

    counter = iter(range(10_000))

    def make(
        name: str | None = None,
        *,
        size: tuple[int, int] = (64, 48),
        exif: bytes | None = None,
        icc: bytes | None = None,
        color: Any = (120, 80, 40),
    ) -> Path:
        path = tmp_path / (name or f"img{next(counter)}.jpg")
        img = Image.new("RGB", size, color)
        buf = io.BytesIO()
        kwargs: dict[str, Any] = {"quality": 90}
        if exif is not None:
            kwargs["exif"] = exif
        if icc is not None:
            kwargs["icc_profile"] = icc
        img.save(buf, "JPEG", **kwargs)
        path.write_bytes(buf.getvalue())
        return path

    return make


@pytest.fixture
def copy_to_tmp(tmp_path: Path) -> Iterator[Callable[[Path], Path]]:
    """Copy a file (from the corpus) into the test's tmp folder and return the copy."""

    def copy(src: Path) -> Path:
        dst = tmp_path / src.name
        shutil.copyfile(src, dst)
        return dst

    yield copy
