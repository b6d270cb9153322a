"""The scripts in examples/ run as a user would run them, on images generated here."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from xml.etree import ElementTree

import pytest

import photometa
from photometa import PhotoContext

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run(script: str, *args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    env.pop("CI", None)
    return subprocess.run([sys.executable, str(EXAMPLES / script), *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300, env=env, check=False)


def write_sheet(path: Path, rows: list[dict[str, str]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_tag_from_spreadsheet(make_jpeg: Callable[..., Path], tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    (photos / "day2").mkdir(parents=True)
    a = make_jpeg("photos/a.jpg")
    b = make_jpeg("photos/day2/b.jpg")
    sheet = tmp_path / "captions.csv"
    write_sheet(sheet, [
        {"File": "a.jpg", "Caption": "Harvest in Sinchon", "Keywords": "harvest; farm",
         "City": "Sinchon", "Country code": "KP", "Latitude": "38.35", "Longitude": "125.47"},
        {"File": "day2/b.jpg", "Caption": "", "Keywords": "", "City": "Haeju",
         "Country code": "", "Latitude": "", "Longitude": ""},
    ])
    before = a.read_bytes()
    dry = run("tag_from_spreadsheet.py", photos, sheet, "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert "would change" in dry.stdout and "Sinchon" in dry.stdout
    assert a.read_bytes() == before

    done = run("tag_from_spreadsheet.py", photos, sheet, "--jobs", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    ctx = photometa.read(a)
    assert ctx.subject.caption == "Harvest in Sinchon"
    assert ctx.subject.keywords == ["harvest", "farm"]
    assert ctx.location.gps is not None and ctx.location.gps.latitude == pytest.approx(38.35)
    assert photometa.read(b).location.city == "Haeju"

    # a second run finds everything in place and rewrites nothing
    stamps = [p.stat().st_mtime_ns for p in (a, b)]
    again = run("tag_from_spreadsheet.py", photos, sheet, cwd=tmp_path)
    assert again.returncode == 0 and "0 changed, 2 already up to date" in again.stderr
    assert [p.stat().st_mtime_ns for p in (a, b)] == stamps


def test_tag_from_spreadsheet_refuses_a_bad_sheet_before_writing(
        make_jpeg: Callable[..., Path], tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    a = make_jpeg("photos/a.jpg")
    before = a.read_bytes()
    sheet = tmp_path / "sheet.csv"
    write_sheet(sheet, [{"File": "a.jpg", "City": "Wonsan"},
                        {"File": "missing.jpg", "City": "Kaesong"}])
    result = run("tag_from_spreadsheet.py", tmp_path / "photos", sheet, cwd=tmp_path)
    assert result.returncode == 2 and "missing.jpg" in result.stderr
    write_sheet(sheet, [{"File": "a.jpg", "Town": "Wonsan"}])
    result = run("tag_from_spreadsheet.py", tmp_path / "photos", sheet, cwd=tmp_path)
    assert result.returncode == 2 and "Town" in result.stderr
    assert a.read_bytes() == before


def test_validate_archive_writes_json_and_junit(make_jpeg: Callable[..., Path],
                                                tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    (archive / "1998").mkdir(parents=True)
    good = make_jpeg("archive/good.jpg")
    bad = make_jpeg("archive/1998/bad.jpg")
    photometa.write(good, PhotoContext(restriction={"status": "banned"}))
    photometa.write(bad, PhotoContext(restriction={"status": "hush-hush"}))
    report, junit = tmp_path / "report.json", tmp_path / "junit.xml"
    result = run("validate_archive.py", archive, "--json", report, "--junit", junit,
                 "--jobs", "1", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "2 file(s) checked, 1 with errors" in result.stdout
    assert "vocab-unknown" in result.stdout and "1998" in result.stdout
    doc = json.loads(report.read_text("utf-8"))
    by_name = {Path(f["path"]).name: f for f in doc["files"]}
    assert by_name["good.jpg"]["ok"] is True and by_name["bad.jpg"]["ok"] is False
    suite = ElementTree.parse(junit).getroot()
    cases = suite.findall(".//testcase")
    assert len(cases) == 2
    assert sum(1 for c in cases if c.find("failure") is not None) == 1

    photometa.write(bad, PhotoContext(restriction={"status": "restricted"}))
    assert run("validate_archive.py", archive, cwd=tmp_path).returncode == 0


def test_copy_context_by_name(make_jpeg: Callable[..., Path], tmp_path: Path) -> None:
    (tmp_path / "originals").mkdir()
    (tmp_path / "web").mkdir()
    master = make_jpeg("originals/IMG_0042.jpg")
    other = make_jpeg("originals/IMG_0043.jpg")
    photometa.write(master, PhotoContext(
        location={"city": "Rason", "country_code": "KP"},
        subject={"keywords": ["port", "ships"], "caption": "The port of Rason"},
        photographer={"name": "A. Photographer"}))
    photometa.write(other, PhotoContext(location={"city": "Chongjin"}))
    derived = make_jpeg("web/img_0042-web.jpg")
    photometa.write(derived, PhotoContext(photographer={"name": "Web Desk"}))
    orphan = make_jpeg("web/unrelated.jpg")
    orphan_bytes = orphan.read_bytes()

    result = run("copy_context.py", tmp_path / "originals", tmp_path / "web", "--strip=-web",
                 "--fields", "location", "subject.keywords", "--jobs", "1", cwd=tmp_path)
    assert result.returncode == 1  # the orphan matched no source
    assert "unrelated.jpg: 0 sources match" in result.stderr
    ctx = photometa.read(derived)
    assert ctx.location.city == "Rason" and ctx.location.country_code == "KP"
    assert ctx.subject.keywords == ["port", "ships"]
    assert ctx.subject.caption is None  # not among the chosen fields
    assert ctx.photographer.name == "Web Desk"  # the target keeps what was not copied
    assert orphan.read_bytes() == orphan_bytes

    bad = run("copy_context.py", tmp_path / "originals", tmp_path / "web", "--fields", "place",
              cwd=tmp_path)
    assert bad.returncode == 2 and "place" in bad.stderr
