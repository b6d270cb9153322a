"""The bundled sample archive: its manifest's content rules and the placeholder image generator."""

from __future__ import annotations

import csv
import hashlib
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
ARCHIVE = REPO / "examples" / "sample-archive"
MANIFEST = ARCHIVE / "manifest.csv"
BUILD = ARCHIVE / "build.py"

HEADER = [
    "path", "location.sublocation", "location.city", "location.region", "location.country",
    "location.country_code", "location.gps.latitude", "location.gps.longitude",
    "location.gps.altitude", "subject.headline", "subject.caption", "subject.keywords",
    "subject.persons", "subject.event", "photographer.name", "photographer.credit",
    "photographer.copyright", "photographer.contact", "restriction.status",
    "restriction.category", "restriction.reason", "restriction.authority", "captured_at", "source",
]
LIST_FIELDS = ("subject.keywords", "subject.persons")
STATUSES = {"unrestricted", "restricted", "deletion-requested", "banned"}
CATEGORIES = {"poverty", "military", "leader-imagery", "infrastructure", "privacy", "propaganda",
              "security"}
PHOTOGRAPHERS = {"Eric Lafforgue", "Michal Huniewicz"}
PATH_RE = re.compile(r"images/(\d{2})-[a-z0-9]+(?:-[a-z0-9]+)*\.jpg")
COORD_RE = re.compile(r"-?\d{1,3}\.\d{4}")


def _rows() -> list[dict[str, str]]:
    with MANIFEST.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, strict=True))


def _vocab_ids(name: str) -> set[str]:
    data = tomllib.loads((REPO / "schemas" / "vocab" / f"{name}.toml").read_text("utf-8"))
    return {term["id"] for term in data["term"]}


def _iim_limits() -> dict[str, int]:
    data = tomllib.loads((REPO / "schemas" / "mapping.toml").read_text("utf-8"))
    return {f["path"]: f["iim_max_bytes"] for f in data["field"] if "iim_max_bytes" in f}


# --- the manifest ---------------------------------------------------------------------------------


def test_manifest_is_utf8_csv_with_the_exact_header() -> None:
    raw = MANIFEST.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf"), "no byte-order mark"
    raw.decode("utf-8")  # strict
    with MANIFEST.open(encoding="utf-8", newline="") as fh:
        records = list(csv.reader(fh, strict=True))
    assert records[0] == HEADER
    assert all(len(r) == len(HEADER) for r in records[1:])


def test_about_twenty_rows_with_unique_numbered_paths() -> None:
    rows = _rows()
    assert 18 <= len(rows) <= 25
    paths = [r["path"] for r in rows]
    assert len(set(paths)) == len(paths)
    numbers = []
    for path in paths:
        m = PATH_RE.fullmatch(path)
        assert m, f"{path!r} is not images/<nn>-<slug>.jpg"
        numbers.append(int(m.group(1)))
    assert numbers == list(range(1, len(rows) + 1))


def test_every_row_is_in_north_korea() -> None:
    for row in _rows():
        assert row["location.country_code"] == "KP", row["path"]
        assert row["location.country"] == "North Korea", row["path"]
        if row["location.city"]:
            assert row["location.region"], f"{row['path']}: a city without its province"


def test_list_fields_split_cleanly() -> None:
    for row in _rows():
        for name in LIST_FIELDS:
            cell = row[name]
            if not cell:
                continue
            items = cell.split("; ")
            assert "; ".join(items) == cell
            for item in items:
                assert item and item == item.strip(), f"{row['path']} {name}: {cell!r}"
                assert ";" not in item and "\\" not in item, f"{row['path']} {name}: {cell!r}"
            assert len({i.casefold() for i in items}) == len(items), "no duplicates"
        keywords = row["subject.keywords"].split("; ")
        assert 3 <= len(keywords) <= 6, row["path"]
        assert all(k == k.lower() for k in keywords), row["path"]


def test_gps_is_four_decimals_inside_north_korea() -> None:
    with_gps = 0
    for row in _rows():
        lat, lon = row["location.gps.latitude"], row["location.gps.longitude"]
        assert bool(lat) == bool(lon), row["path"]
        assert row["location.gps.altitude"] == ""
        if not lat:
            continue
        with_gps += 1
        assert COORD_RE.fullmatch(lat) and COORD_RE.fullmatch(lon), row["path"]
        assert 37.6 <= float(lat) <= 43.1 and 124.1 <= float(lon) <= 130.8, row["path"]
        assert row["location.city"], f"{row['path']}: GPS without a city"
    assert with_gps >= 10


def test_texts_fit_the_schema_and_iim_limits() -> None:
    limits = _iim_limits()
    assert limits, "mapping.toml names IIM byte limits"
    for row in _rows():
        assert 0 < len(row["subject.headline"]) <= 80, row["path"]
        assert 0 < len(row["subject.caption"].encode("utf-8")) <= 2000, row["path"]
        for field, limit in limits.items():
            cell = row.get(field, "")
            items = cell.split("; ") if field in LIST_FIELDS else [cell]
            for item in items:
                assert len(item.encode("utf-8")) <= limit, f"{row['path']} {field}: {item!r}"


def test_photographer_and_provenance() -> None:
    for row in _rows():
        name = row["photographer.name"]
        assert name in PHOTOGRAPHERS, row["path"]
        assert row["photographer.credit"] == name
        assert row["photographer.copyright"] == f"© {name}"
        assert row["photographer.contact"] == ""
        assert row["captured_at"] == ""
        assert row["source"] and "http" not in row["source"], row["path"]
    assert {r["photographer.name"] for r in _rows()} == PHOTOGRAPHERS


def test_restriction_terms_are_controlled() -> None:
    assert _vocab_ids("restriction-status") >= STATUSES
    assert _vocab_ids("restriction-category") >= CATEGORIES
    statuses: Counter[str] = Counter()
    for row in _rows():
        status = row["restriction.status"]
        statuses[status] += 1
        assert status in STATUSES, row["path"]
        if status == "unrestricted":
            for field in ("restriction.category", "restriction.reason", "restriction.authority"):
                assert row[field] == "", f"{row['path']}: {field} set on an unrestricted photo"
        else:
            assert row["restriction.category"] in CATEGORIES, row["path"]
            assert row["restriction.reason"], row["path"]
    assert set(statuses) == STATUSES, "the demo shows every status"


def test_exactly_one_row_breaks_the_authority_rule_and_readme_names_it() -> None:
    broken = [r for r in _rows()
              if r["restriction.status"] != "unrestricted" and not r["restriction.authority"]]
    assert len(broken) == 1
    assert broken[0]["restriction.status"] == "deletion-requested"
    assert broken[0]["path"] in (ARCHIVE / "README.md").read_text("utf-8")


def test_generated_images_are_ignored_by_git() -> None:
    lines = (ARCHIVE / ".gitignore").read_text("utf-8").split()
    assert "images/" in lines


# --- the generator --------------------------------------------------------------------------------


def _build(out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(BUILD), "--out", str(out), *extra],
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def two_builds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    first, second = tmp_path_factory.mktemp("build1"), tmp_path_factory.mktemp("build2")
    for out in (first, second):
        done = _build(out)
        assert done.returncode == 0, done.stderr
    return first, second


def test_build_writes_one_decodable_jpeg_per_row(two_builds: tuple[Path, Path]) -> None:
    out = two_builds[0]
    rows = _rows()
    assert sorted(p.relative_to(out).as_posix() for p in (out / "images").iterdir()) == sorted(
        r["path"] for r in rows)
    for row in rows:
        path = out / row["path"]
        with Image.open(path) as im:
            im.verify()
        with Image.open(path) as im:
            im.load()
            assert im.format == "JPEG" and im.size == (1200, 800) and im.mode == "RGB"
            assert not im.info.get("progressive"), "baseline JPEG"
            exif = im.getexif()
            assert exif[0x010F] == exif[0x0110] == "photometa sample"  # Make, Model
            assert re.fullmatch(r"\d{4}:\d\d:\d\d \d\d:\d\d:\d\d", exif[0x0132])  # DateTime
            for context_tag in (0x010E, 0x013B, 0x8298):  # ImageDescription, Artist, Copyright
                assert context_tag not in exif, "context is photometa's job, not build.py's"
    assert (out / "manifest.csv").read_bytes() == MANIFEST.read_bytes()


def test_build_images_all_differ(two_builds: tuple[Path, Path]) -> None:
    out = two_builds[0]
    digests = {hashlib.sha256((out / r["path"]).read_bytes()).hexdigest() for r in _rows()}
    assert len(digests) == len(_rows())


def test_build_is_deterministic(two_builds: tuple[Path, Path]) -> None:
    first, second = two_builds
    for row in _rows():
        path = row["path"]
        assert (first / path).read_bytes() == (second / path).read_bytes(), path


def test_build_makes_other_formats_by_suffix(tmp_path: Path) -> None:
    manifest = tmp_path / "other.csv"
    manifest.write_text("path,subject.headline,location.city\n"
                        "images/a.png,A PNG card,Pyongyang\n"
                        "images/b.webp,A WebP card,Wonsan\n"
                        "images/c.tif,A TIFF card,\n", encoding="utf-8")
    out = tmp_path / "out"
    done = _build(out, "--manifest", str(manifest))
    assert done.returncode == 0, done.stderr
    for name, fmt in (("a.png", "PNG"), ("b.webp", "WEBP"), ("c.tif", "TIFF")):
        with Image.open(out / "images" / name) as im:
            im.load()
            assert im.format == fmt and im.size == (1200, 800)
            assert im.getexif()[0x010F] == "photometa sample"


@pytest.mark.parametrize("bad", ["../escape.jpg", "/abs/x.jpg", "images/x.gif"])
def test_build_rejects_unusable_paths(tmp_path: Path, bad: str) -> None:
    manifest = tmp_path / "bad.csv"
    manifest.write_text(f"path,subject.headline\nimages/ok.jpg,fine\n{bad},bad\n", "utf-8")
    out = tmp_path / "out"
    done = _build(out, "--manifest", str(manifest))
    assert done.returncode == 1
    assert "line 3" in done.stderr
    assert not (out / "images").exists(), "nothing is written when the manifest is unusable"
    assert not (tmp_path / "escape.jpg").exists()
