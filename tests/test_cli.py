"""The command line: read, tag, validate, schema; exit codes; the CSV round trip."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

import photometa
from photometa import PhotoContext
from photometa.cli import main
from test_api import full_context


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_read_formats(make_jpeg: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    path = make_jpeg()
    photometa.write(path, full_context())
    code, out, _ = run(capsys, "read", str(path), "--format", "json", "--jobs", "1")
    assert code == 0
    doc = json.loads(out)
    assert doc[0]["context"]["location"]["city"] == "Pyongyang"
    code, out, _ = run(capsys, "read", str(path), "--format", "jsonl", "--jobs", "1")
    assert json.loads(out.splitlines()[0])["context"]["subject"]["keywords"][2] == "평양"
    code, out, _ = run(capsys, "read", str(path), "--jobs", "1")
    assert "location.city" in out and "Pyongyang" in out


def test_folders_recurse(
    make_jpeg: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "sub").mkdir()
    make_jpeg("sub/a.jpg")
    make_jpeg("b.jpg")
    (tmp_path / "notes.txt").write_text("not an image")
    code, out, _ = run(capsys, "read", str(tmp_path), "--format", "jsonl", "--jobs", "1")
    assert code == 0
    names = sorted(Path(json.loads(line)["path"]).name for line in out.splitlines())
    assert names == ["a.jpg", "b.jpg"]


def test_tag_set_and_clear(
    make_jpeg: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = make_jpeg()
    code, out, err = run(
        capsys,
        "tag",
        str(path),
        "--set",
        "location.city=Wonsan",
        "--set",
        "subject.keywords=camp; children",
        "--jobs",
        "1",
    )
    assert code == 0, err
    assert "location.city: (none) -> Wonsan" in out
    ctx = photometa.read(path)
    assert ctx.location.city == "Wonsan" and ctx.subject.keywords == ["camp", "children"]
    code, _, _ = run(capsys, "tag", str(path), "--set", "location.city=", "--jobs", "1")
    assert code == 0 and photometa.read(path).location.city is None


def test_tag_usage_errors_exit_2(
    make_jpeg: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = make_jpeg()
    code, _, err = run(capsys, "tag", str(path), "--set", "location.town=X")
    assert code == 2 and "unknown field" in err
    code, _, err = run(capsys, "tag", str(path), "--set", "location.country_code=XX")
    assert code == 2 and "country_code" in err
    code, _, err = run(capsys, "tag", str(path))
    assert code == 2 and "nothing to do" in err


def test_dry_run_changes_nothing(
    make_jpeg: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = make_jpeg()
    data = path.read_bytes()
    code, out, _ = run(
        capsys, "tag", str(path), "--set", "location.city=Kaesong", "--dry-run", "--jobs", "1"
    )
    assert code == 0 and "would change" in out and "Kaesong" in out
    assert path.read_bytes() == data


def test_csv_round_trip_through_a_spreadsheet(
    make_jpeg: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = make_jpeg("a.jpg"), make_jpeg("b.jpg")
    photometa.write(a, full_context())
    photometa.write(b, PhotoContext(subject={"keywords": ["semi;colon", "plain"]}))
    manifest = tmp_path / "manifest.csv"
    code, _, _ = run(
        capsys, "read", str(tmp_path), "--format", "csv", "--output", str(manifest), "--jobs", "1"
    )
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(manifest.read_text("utf-8"))))
    assert [r["path"] for r in rows] == ["a.jpg", "b.jpg"]
    assert rows[1]["subject.keywords"] == "semi\\;colon; plain"
    # tagging fresh copies from the manifest reproduces the contexts exactly
    before = {p.name: photometa.read(p) for p in (a, b)}
    for p in (a, b):
        photometa.write(p, PhotoContext(), clear=list(photometa.FIELD_PATHS))
    assert photometa.read(a).is_empty()
    code, _, err = run(capsys, "tag", "--from", str(manifest), "--jobs", "1")
    assert code == 0, err
    assert {p.name: photometa.read(p) for p in (a, b)} == before


def test_manifest_errors_before_anything_is_written(
    make_jpeg: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = make_jpeg("a.jpg")
    data = a.read_bytes()
    bad_column = tmp_path / "m1.csv"
    bad_column.write_text("path,location.town\na.jpg,X\n")
    code, _, err = run(capsys, "tag", "--from", str(bad_column))
    assert code == 2 and "location.town" in err
    missing = tmp_path / "m2.csv"
    missing.write_text("path,location.city\na.jpg,X\nnope.jpg,Y\n")
    code, _, err = run(capsys, "tag", "--from", str(missing))
    assert code == 2 and "nope.jpg" in err
    assert a.read_bytes() == data
    jsonl = tmp_path / "m3.jsonl"
    jsonl.write_text(json.dumps({"path": "a.jpg", "location": {"city": "Nampho"}}) + "\n")
    code, _, err = run(capsys, "tag", "--from", str(jsonl), "--jobs", "1")
    assert code == 0, err
    assert photometa.read(a).location.city == "Nampho"


def test_validate_exit_codes_and_reports(
    make_jpeg: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = make_jpeg("good.jpg")
    photometa.write(good, PhotoContext(restriction={"status": "banned"}))
    code, out, _ = run(capsys, "validate", str(good), "--jobs", "1")
    assert code == 0, out
    bad = make_jpeg("bad.jpg")
    photometa.write(bad, PhotoContext(restriction={"status": "hush-hush"}))
    report = tmp_path / "report.json"
    code, _, _ = run(
        capsys,
        "validate",
        str(tmp_path),
        "--report",
        "json",
        "--output",
        str(report),
        "--jobs",
        "1",
    )
    assert code == 1
    doc = json.loads(report.read_text())
    assert doc["summary"]["files"] == 2 and doc["summary"]["valid"] == 1
    bad_doc = next(f for f in doc["files"] if f["path"].endswith("bad.jpg"))
    assert bad_doc["findings"][0]["code"] == "vocab-unknown"
    code, _, _ = run(capsys, "validate", str(tmp_path / "missing.jpg"), "--jobs", "1")
    assert code == 2


def test_schema_command_prints_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "schema")
    schema = json.loads(out)
    assert code == 0
    assert "location" in schema["properties"]


def test_help_teaches(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "examples:" in out and "exit codes" in out


def test_terminal_output_escapes_control_characters(
    make_jpeg: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = make_jpeg()
    photometa.write(path, PhotoContext(source="evil \x1b[31m red"))
    # the model strips control characters on the way in; a file written by another tool may not
    code, out, _ = run(capsys, "read", str(path), "--jobs", "1")
    assert code == 0
    assert "\x1b" not in out


def _folder_of_copies(make_jpeg: Callable[..., Path], tmp_path: Path, n: int) -> Path:
    good = make_jpeg("good.jpg")
    photometa.write(good, PhotoContext(restriction={"status": "banned", "reason": "r",
                                                    "authority": "a"}))
    bad = make_jpeg("bad.jpg")
    photometa.write(bad, PhotoContext(restriction={"status": "hush-hush"}))
    folder = tmp_path / "archive"
    for i in range(n):
        sub = folder / f"d{i % 3}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"{i:03d}.jpg").write_bytes((good, bad)[i % 5 == 0].read_bytes())
    return folder


@pytest.mark.parametrize("fmt", ["text", "json", "junit", "github", "sarif"])
def test_validate_in_parallel_reports_what_one_process_reports(
    make_jpeg: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, fmt: str,
) -> None:
    """Many files, several processes, a streamed report: the same bytes and exit code."""
    folder = _folder_of_copies(make_jpeg, tmp_path, 150)
    monkeypatch.chdir(tmp_path)
    outputs = []
    for jobs in ("1", "2", "3"):
        code, out, _ = run(capsys, "validate", "archive", "--report", fmt, "--jobs", jobs,
                           "--no-cache")
        assert code == 1
        outputs.append(out)
    assert outputs[0] == outputs[1] == outputs[2]
    if fmt == "json":
        doc = json.loads(outputs[0])
        assert doc["summary"]["files"] == 150 and doc["summary"]["invalid"] == 30
        assert [f["path"] for f in doc["files"]][:2] == ["archive/d0/000.jpg",
                                                         "archive/d0/003.jpg"]
    assert folder.is_dir()


def test_validate_a_broken_policy_found_late_writes_no_report(
    make_jpeg: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    folder = _folder_of_copies(make_jpeg, tmp_path, 120)
    (folder / "d2" / "photometa.toml").write_text("required = [\n", "utf-8")
    report = tmp_path / "report.json"
    code, out, err = run(capsys, "validate", str(folder), "--jobs", "2", "--no-cache",
                         "--report", "json", "--output", str(report))
    assert code == 2 and out == "" and "photometa.toml" in err and not report.exists()


@pytest.mark.parametrize("verify", ["sample", "full"])
def test_tag_verify_modes(
    make_jpeg: Callable[..., Path], capsys: pytest.CaptureFixture[str], verify: str
) -> None:
    path = make_jpeg()
    code, _, err = run(capsys, "tag", str(path), "--set", "location.city=Wonsan",
                       "--verify", verify, "--jobs", "1")
    assert code == 0, err
    assert "wrote 1," in err
    assert photometa.read(path).location.city == "Wonsan"


def test_tag_refuses_an_unknown_verify_mode(
    make_jpeg: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = make_jpeg()
    data = path.read_bytes()
    with pytest.raises(SystemExit) as info:
        main(["tag", str(path), "--set", "location.city=Wonsan", "--verify", "none"])
    assert info.value.code == 2
    assert "--verify" in capsys.readouterr().err
    assert path.read_bytes() == data
