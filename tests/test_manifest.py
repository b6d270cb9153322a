"""Manifests: list escaping, paths relative to the manifest, errors before any write, the
`read --format csv` -> `tag --from` identity, JSONL forms, bounded re-reading."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import photometa
from photometa import InvalidValueError, PhotoContext
from photometa.cli import main
from photometa.manifest import join_list, read_manifest, split_list
from test_api import full_context

_items = st.lists(
    st.text(alphabet=st.sampled_from("ab ;\\é"), min_size=1, max_size=8)
    .map(str.strip).filter(bool),
    max_size=5,
)


@given(_items)
def test_join_split_round_trip(items: list[str]) -> None:
    assert split_list(join_list(items)) == items


def test_escapes() -> None:
    assert join_list(["semi;colon", "back\\slash", "end\\"]) == \
        "semi\\;colon; back\\\\slash; end\\\\"
    assert split_list("a\\;b; c") == ["a;b", "c"]
    assert split_list("C:\\photos; x") == ["C:\\photos", "x"]  # a lone backslash is itself
    assert split_list(" a ;; b ; ") == ["a", "b"]


def test_csv_identity_rewrites_nothing(make_jpeg: Callable[..., Path], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "sub").mkdir()
    a, b = make_jpeg("a.jpg"), make_jpeg("sub/b.jpg")
    c = make_jpeg("c.jpg")  # holds nothing: an all-empty row
    photometa.write(a, full_context())
    photometa.write(b, PhotoContext(subject={"keywords": ["x;y", "back\\slash\\"]},
                                    location={"gps": {"latitude": -12.3456789,
                                                      "longitude": 0.1}}))
    manifest = tmp_path / "out" / "manifest.csv"
    manifest.parent.mkdir()
    assert main(["read", str(tmp_path), "--format", "csv", "-o", str(manifest),
                 "--jobs", "1"]) == 0
    text = manifest.read_text("utf-8")
    assert "../sub/b.jpg" in text  # relative to the manifest's folder
    stamps = {p: p.stat().st_mtime_ns for p in (a, b, c)}
    capsys.readouterr()
    assert main(["tag", "--from", str(manifest), "--jobs", "1"]) == 0
    out, err = capsys.readouterr()
    assert out == "" and "wrote 0, unchanged 3, failed 0" in err
    assert {p: p.stat().st_mtime_ns for p in (a, b, c)} == stamps
    # and onto blank copies it reproduces the contexts exactly
    before = {p: photometa.read(p) for p in (a, b, c)}
    for p in (a, b):
        photometa.write(p, PhotoContext(), clear=list(photometa.FIELD_PATHS))
    assert main(["tag", "--from", str(manifest), "--jobs", "1"]) == 0
    assert {p: photometa.read(p) for p in (a, b, c)} == before


def test_stdout_csv_paths_work_from_the_working_directory(
        make_jpeg: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "photos").mkdir()
    a = make_jpeg("photos/a.jpg")
    photometa.write(a, PhotoContext(location={"city": "Tanchon"}))
    monkeypatch.chdir(tmp_path)
    assert main(["read", "photos", "--format", "csv", "--jobs", "1"]) == 0
    text = capsys.readouterr().out
    elsewhere = tmp_path / "manifests" / "m.csv"
    elsewhere.parent.mkdir()
    elsewhere.write_text(text.replace("Tanchon", "Kimchaek"), "utf-8")
    rows = list(read_manifest(elsewhere))
    assert [r.path for r in rows] == [Path("photos/a.jpg")]
    assert main(["tag", "--from", str(elsewhere), "--jobs", "1"]) == 0
    assert photometa.read(a).location.city == "Kimchaek"


def _write(path: Path, text: str) -> Path:
    path.write_text(text, "utf-8")
    return path


def test_every_problem_is_found_before_anything_is_written(
        make_jpeg: Callable[..., Path], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    a = make_jpeg("a.jpg")
    data = a.read_bytes()
    rows = "".join(f"a.jpg,X{i}\n" if i == 0 else f"gone{i}.jpg,Y\n" for i in range(9))
    missing = _write(tmp_path / "m.csv", "path,location.city\n" + rows)
    with pytest.raises(InvalidValueError) as info:
        read_manifest(missing)
    assert info.value.code == "manifest-missing-file"
    assert "8 manifest path(s)" in str(info.value) and "and 3 more" in str(info.value)

    bad_last = _write(tmp_path / "v.csv", "path,location.country_code\na.jpg,KP\na.jpg,ZZ\n")
    assert main(["tag", "--from", str(bad_last)]) == 2
    assert "ZZ" in capsys.readouterr().err

    twice = _write(tmp_path / "d.csv", "path,location.city\na.jpg,X\n./a.jpg,Y\n")
    with pytest.raises(InvalidValueError, match="same file as line 2") as info:
        read_manifest(twice)
    assert info.value.code == "manifest-duplicate"

    extra = _write(tmp_path / "e.csv", "path,location.city\na.jpg,X,surplus\n")
    with pytest.raises(InvalidValueError, match="more cells"):
        read_manifest(extra)
    doubled = _write(tmp_path / "h.csv", "path,location.city,location.city\na.jpg,X,Y\n")
    with pytest.raises(InvalidValueError, match="given twice"):
        read_manifest(doubled)
    unknown = _write(tmp_path / "u.csv", "path,Location.City\na.jpg,X\n")
    with pytest.raises(InvalidValueError, match=r"Location\.City") as info:
        read_manifest(unknown)
    assert info.value.code == "manifest-columns"
    not_json = _write(tmp_path / "j.jsonl", '{"path": "a.jpg"}\n{oops\n')
    with pytest.raises(InvalidValueError, match="line 2"):
        read_manifest(not_json)
    assert a.read_bytes() == data


def test_jsonl_forms(make_jpeg: Callable[..., Path], tmp_path: Path,
                     capsys: pytest.CaptureFixture[str]) -> None:
    a, b, c = make_jpeg("a.jpg"), make_jpeg("b.jpg"), make_jpeg("c.jpg")
    lines = [
        {"path": "a.jpg", "location": {"city": "Nampho", "gps": {"latitude": 38.7,
                                                                 "longitude": 125.4}}},
        {"path": "b.jpg", "subject.keywords": ["dam", "sea"]},
    ]
    manifest = _write(tmp_path / "m.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n\n")
    assert main(["tag", "--from", str(manifest), "--jobs", "1"]) == 0
    assert photometa.read(a).location.city == "Nampho"
    assert photometa.read(b).subject.keywords == ["dam", "sea"]
    # the documents `read --format jsonl` prints are a manifest too
    photometa.write(c, full_context())
    capsys.readouterr()
    assert main(["read", str(c), "--format", "jsonl", "--jobs", "1"]) == 0
    doc = json.loads(capsys.readouterr().out)
    doc["path"] = "a.jpg"
    again = _write(tmp_path / "r.jsonl", json.dumps(doc) + "\n")
    assert main(["tag", "--from", str(again), "--jobs", "1"]) == 0
    assert photometa.read(a) == full_context()


def test_rows_are_parsed_again_not_held(make_jpeg: Callable[..., Path], tmp_path: Path) -> None:
    make_jpeg("a.jpg")
    manifest = _write(tmp_path / "m.csv", "path,location.city\na.jpg,Anju\n")
    rows = read_manifest(manifest)
    assert len(rows) == 1
    assert [r.context.location.city for r in rows] == ["Anju"]
    rows = read_manifest(manifest)
    manifest.write_text("path,location.city\na.jpg,Unchecked value\n", "utf-8")
    os.utime(manifest, ns=(1, 1))
    with pytest.raises(InvalidValueError, match="changed after it was checked"):
        next(rows)
