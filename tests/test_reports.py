"""Report formats, each read back by a real parser: JSON against photometa's schema, SARIF against
the SARIF 2.1.0 JSON Schema, JUnit through junitparser, GitHub workflow commands by their syntax."""

from __future__ import annotations

import io
import itertools
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import jsonschema
import pytest

import photometa
from photometa import Finding, PhotoContext, Report
from photometa.cli import main
from photometa.policy import RULES, parse_policy
from photometa.reports import FORMATS, REPORT_VERSION, ReportWriter, render, to_json, to_sarif

REPO = Path(__file__).resolve().parents[1]
REPORT_SCHEMA = json.loads((REPO / "schemas" / "report.schema.json").read_text("utf-8"))
SARIF_SCHEMA = json.loads((REPO / "tests" / "data" / "sarif-schema-2.1.0.json").read_text("utf-8"))

NASTY = 'a "quoted" <tag> & 100% ,: value\nsecond line\x07 with a bell'


@pytest.fixture
def reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Report]:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "archive").mkdir()
    return [
        Report(Path("archive/good.jpg")),
        Report(Path("archive/bad file, 100%.jpg"), [
            Finding("restriction.authority", "restriction-needs-authority",
                    "restriction.status is 'banned' but no authority", "error"),
            Finding("location.city", "iim-too-long", NASTY, "warning"),
            Finding(None, "iptc-digest-stale", "IPTC-IIM changed", "info"),
        ]),
        Report(Path("archive/warn.jpg"), [
            Finding("subject.caption", "text-mojibake", "looks like mojibake", "warning"),
        ]),
        Report(tmp_path.parent / "elsewhere.jpg", [
            Finding(None, "jpeg-truncated", "the file ends inside a segment", "error", 1234),
            Finding("subject.keywords", "kw-policy-rule", "a rule of the archive", "error"),
        ]),
    ]


# -- JSON -------------------------------------------------------------------------------------


@pytest.mark.parametrize("fail_on", ["error", "warning"])
def test_json_follows_its_schema(reports: list[Report], fail_on: Any) -> None:
    doc = json.loads(render(reports, "json", fail_on=fail_on))
    jsonschema.Draft7Validator.check_schema(REPORT_SCHEMA)
    jsonschema.Draft7Validator(REPORT_SCHEMA).validate(doc)
    assert doc["version"] == REPORT_VERSION == 1
    assert [f["path"] for f in doc["files"]][:3] == [
        "archive/good.jpg", "archive/bad file, 100%.jpg", "archive/warn.jpg"]
    assert doc["files"][3]["path"].startswith("/") and doc["files"][3]["path"].endswith(
        "elsewhere.jpg")
    expected_valid = 2 if fail_on == "error" else 1
    assert doc["summary"] == {"files": 4, "valid": expected_valid, "invalid": 4 - expected_valid,
                              "errors": 3, "warnings": 2, "infos": 1}
    assert [f["ok"] for f in doc["files"]] == [True, False, fail_on == "error", False]
    assert doc["ok"] is False and doc["fail_on"] == fail_on
    assert doc["files"][1]["findings"][1]["message"] == NASTY
    assert doc["files"][3]["findings"][0]["offset"] == 1234


def test_json_schema_is_not_vacuous(reports: list[Report]) -> None:
    doc = to_json(reports)
    validator = jsonschema.Draft7Validator(REPORT_SCHEMA)
    for broken in (
        {k: v for k, v in doc.items() if k != "summary"},
        {**doc, "version": 2},
        {**doc, "files": [{"path": "a.jpg", "ok": True, "findings": [
            {"field": None, "code": "Bad Code", "message": "m", "severity": "error",
             "offset": None}]}]},
        {**doc, "files": [{"path": "a.jpg", "ok": True, "findings": [
            {"field": None, "code": "x", "message": "m", "severity": "fatal", "offset": None}]}]},
    ):
        assert list(validator.iter_errors(broken))


# -- SARIF ------------------------------------------------------------------------------------


def sarif_validator() -> jsonschema.Draft4Validator:
    jsonschema.Draft4Validator.check_schema(SARIF_SCHEMA)
    return jsonschema.Draft4Validator(SARIF_SCHEMA)


def test_sarif_is_valid_sarif_2_1_0(reports: list[Report]) -> None:
    doc = json.loads(render(reports, "sarif"))
    sarif_validator().validate(doc)
    assert doc["version"] == "2.1.0"
    assert doc["$schema"] == SARIF_SCHEMA["id"]
    run = doc["runs"][0]
    results = run["results"]
    assert len(results) == 6
    rules = run["tool"]["driver"]["rules"]
    for result in results:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["locations"][0]["physicalLocation"]["region"]["startLine"] == 1
    by_rule = {r["ruleId"]: r for r in results}
    assert by_rule["restriction-needs-authority"]["level"] == "error"
    assert by_rule["iim-too-long"]["level"] == "warning"
    assert by_rule["iptc-digest-stale"]["level"] == "note"
    artifact = by_rule["iim-too-long"]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert artifact == {"uri": "archive/bad%20file%2C%20100%25.jpg", "uriBaseId": "%SRCROOT%"}
    outside = by_rule["jpeg-truncated"]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert outside["uri"].startswith("file:///") and "uriBaseId" not in outside
    assert by_rule["jpeg-truncated"]["properties"]["byteOffset"] == 1234
    logical = by_rule["iim-too-long"]["locations"][0]["logicalLocations"][0]
    assert logical == {"fullyQualifiedName": "location.city", "kind": "member"}
    assert {r["id"] for r in rules} >= set(RULES) | {"jpeg-truncated", "kw-policy-rule"}
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"].endswith("/")


def test_sarif_fingerprints_are_stable_and_distinct(reports: list[Report]) -> None:
    first = to_sarif(reports)["runs"][0]["results"]
    again = to_sarif(reports)["runs"][0]["results"]
    prints = [r["partialFingerprints"]["photometaFinding/v1"] for r in first]
    assert prints == [r["partialFingerprints"]["photometaFinding/v1"] for r in again]
    assert len(set(prints)) == len(prints)


def test_sarif_rules_carry_the_policy(reports: list[Report]) -> None:
    policy = parse_policy('[severity]\nhomes-disagree = "error"\ntext-mojibake = "off"\n'
                          '[[rule]]\ncode = "kw-policy-rule"\nmessage = "keywords must be set"\n'
                          'require = ["subject.keywords"]\n')
    doc = to_sarif(reports, rules=policy.rule_infos())
    sarif_validator().validate(doc)
    rules = {r["id"]: r for r in doc["runs"][0]["tool"]["driver"]["rules"]}
    assert rules["homes-disagree"]["defaultConfiguration"]["level"] == "error"
    assert rules["kw-policy-rule"]["shortDescription"]["text"] == "keywords must be set"
    assert "text-mojibake" in rules  # a finding with the code still gets a descriptor


def test_sarif_schema_is_not_vacuous(reports: list[Report]) -> None:
    doc = to_sarif(reports)
    validator = sarif_validator()
    bad_level = json.loads(json.dumps(doc))
    bad_level["runs"][0]["results"][0]["level"] = "fatal"
    bad_region = json.loads(json.dumps(doc))
    bad_region["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"][
        "startLine"] = 0
    bad_version = {**doc, "version": "2.0.0"}
    for broken in (bad_level, bad_region, bad_version):
        assert list(validator.iter_errors(broken))


def test_empty_run_is_valid_sarif() -> None:
    sarif_validator().validate(to_sarif([]))


# -- JUnit XML --------------------------------------------------------------------------------


@pytest.mark.parametrize("fail_on", ["error", "warning"])
def test_junit_reads_back_through_junitparser(reports: list[Report], tmp_path: Path,
                                              fail_on: Any) -> None:
    junitparser = pytest.importorskip("junitparser")
    path = tmp_path / "junit.xml"
    path.write_text(render(reports, "junit", fail_on=fail_on), "utf-8")
    xml = junitparser.JUnitXml.fromfile(str(path))
    suites = list(xml)
    assert len(suites) == 1
    suite = suites[0]
    assert suite.tests == 4
    assert suite.failures == (2 if fail_on == "error" else 3)
    cases = {case.name: case for case in suite}
    assert set(cases) == {"archive/good.jpg", "archive/bad file, 100%.jpg", "archive/warn.jpg",
                          next(n for n in cases if n.endswith("elsewhere.jpg"))}
    assert cases["archive/good.jpg"].is_passed
    bad = cases["archive/bad file, 100%.jpg"]
    assert not bad.is_passed
    failure = bad.result[0]
    assert isinstance(failure, junitparser.Failure)
    assert "restriction-needs-authority" in failure.message
    if fail_on == "error":
        assert "iim-too-long" in (bad.system_out or "")  # below the threshold: shown, not failed
        assert cases["archive/warn.jpg"].is_passed
    else:
        assert "iim-too-long" in (failure.text or "")
        assert not cases["archive/warn.jpg"].is_passed


def test_junit_is_well_formed_with_hostile_text(reports: list[Report]) -> None:
    root = ElementTree.fromstring(render(reports, "junit").encode("utf-8"))
    text = ElementTree.tostring(root, encoding="unicode")
    assert "\x07" not in text
    case = root.find(".//testcase[@name='archive/bad file, 100%.jpg']")
    assert case is not None and case.get("file") == "archive/bad file, 100%.jpg"
    out = case.find("system-out")
    assert out is not None and 'a "quoted" <tag> & 100% ,: value' in (out.text or "")


# -- GitHub workflow commands -----------------------------------------------------------------

_COMMAND = re.compile(r"^::(error|warning|notice) ((?:[a-z]+=[^,:]*)(?:,[a-z]+=[^,:]*)*)::(.*)$")


def _unescape(text: str) -> str:
    return (text.replace("%0D", "\r").replace("%0A", "\n").replace("%3A", ":")
            .replace("%2C", ",").replace("%25", "%"))


def test_github_annotations_follow_the_workflow_command_syntax(reports: list[Report]) -> None:
    lines = render(reports, "github").splitlines()
    assert len(lines) == 6
    parsed = []
    for line in lines:
        m = _COMMAND.match(line)
        assert m, line
        props = dict(p.split("=", 1) for p in m.group(2).split(","))
        parsed.append((m.group(1), {k: _unescape(v) for k, v in props.items()},
                       _unescape(m.group(3))))
    levels = [p[0] for p in parsed]
    assert levels.count("error") == 3 and levels.count("warning") == 2
    assert levels.count("notice") == 1
    nasty = next(p for p in parsed if "quoted" in p[2])
    assert nasty[1]["file"] == "archive/bad file, 100%.jpg"
    assert nasty[1]["title"] == "photometa iim-too-long: location.city"
    assert nasty[2] == NASTY.replace("\x07", "?")
    assert render([Report(Path("a.jpg"))], "github") == ""


# -- text -------------------------------------------------------------------------------------


def test_text_groups_by_file_and_colours_only_on_request(reports: list[Report]) -> None:
    plain = render(reports, "text")
    assert "\x1b[" not in plain and "\x07" not in plain
    lines = plain.splitlines()
    header = lines.index("archive/bad file, 100%.jpg")
    assert lines[header + 1].lstrip().startswith("error")  # worst first
    assert "[restriction-needs-authority]" in lines[header + 1]
    assert "archive/good.jpg" not in plain  # files without findings stay quiet
    assert "@ byte 1234" in plain
    assert lines[-1].startswith("4 file(s) checked: 2 failed (fail on error)")
    coloured = render(reports, "text", color=True)
    assert "\x1b[31merror" in coloured and "\x1b[33mwarning" in coloured
    assert render([Report(Path("a.jpg"))], "text").startswith("1 file(s) checked: ok")


def test_every_format_renders_and_unknown_ones_fail(reports: list[Report]) -> None:
    for fmt in FORMATS:
        assert render(reports, fmt)
    with pytest.raises(ValueError, match="unknown report format"):
        render(reports, "yaml")


# -- end to end through the command line ------------------------------------------------------


def test_cli_writes_every_format(tmp_path: Path, make_jpeg: Callable[..., Path],
                                 monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    good, bad = make_jpeg("good.jpg"), make_jpeg("bad.jpg")
    photometa.write(good, PhotoContext(restriction={"status": "banned", "reason": "r",
                                                    "authority": "a"}))
    photometa.write(bad, PhotoContext(restriction={"status": "hush-hush"}))
    outputs = {}
    for fmt in FORMATS:
        out = tmp_path / f"report.{fmt}"
        code = main(["validate", ".", "--report", fmt, "--output", str(out), "--jobs", "1"])
        assert code == 1
        outputs[fmt] = out.read_text("utf-8")
    err = capsys.readouterr().err
    assert "2 file(s) checked, 1 failed at error" in err
    jsonschema.Draft7Validator(REPORT_SCHEMA).validate(json.loads(outputs["json"]))
    sarif = json.loads(outputs["sarif"])
    sarif_validator().validate(sarif)
    assert {r["ruleId"] for r in sarif["runs"][0]["results"]} == {
        "vocab-unknown", "restriction-needs-reason", "restriction-needs-authority"}
    assert all(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "bad.jpg"
               for r in sarif["runs"][0]["results"])
    assert "::error file=bad.jpg,title=photometa vocab-unknown%3A restriction.status::" in (
        outputs["github"])
    assert ElementTree.fromstring(outputs["junit"]).get("failures") == "1"


# -- streaming: ReportWriter ------------------------------------------------------------------


def _many(reports: list[Report], n: int) -> list[Report]:
    """``n`` reports cycling through the fixture's (clean files and files with findings)."""
    return [Report(r.path.with_name(f"{i}-{r.path.name}"), r.findings)
            for i, r in zip(range(n), itertools.cycle(reports))]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("n", [0, 1, 4, 1500])
def test_writer_on_disk_gives_what_render_gives(reports: list[Report], fmt: str, n: int) -> None:
    """The streamed report (spooled to a temporary file, past the in-memory flush size) is
    byte for byte the rendered one, and JSON and SARIF are the documents to_json and to_sarif
    build."""
    many = _many(reports, n)
    rules = dict(parse_policy('[severity]\n"kw-policy-rule" = "info"\n').rule_infos())
    for fail_on in ("error", "warning"):
        writer = ReportWriter(fmt, fail_on=fail_on, on_disk=True)
        failed = [writer.add(str(r.path), r.findings) for r in many]
        out = io.StringIO()
        writer.finish(out, rules=rules)
        text = out.getvalue()
        assert text == render(many, fmt, fail_on=fail_on, rules=rules)
        assert failed == [r.failed(fail_on) for r in many]
        assert writer.files == n and writer.invalid == sum(failed)
        if fmt == "json":
            assert text == json.dumps(to_json(many, fail_on=fail_on),
                                      indent=2, ensure_ascii=False) + "\n"
        if fmt == "sarif":
            assert text == json.dumps(to_sarif(many, rules=rules), indent=2,
                                      ensure_ascii=False) + "\n"


def test_writer_counts_and_unknown_format(reports: list[Report]) -> None:
    writer = ReportWriter("text")
    for r in reports:
        writer.add(r.path, r.findings)
    assert writer.counts() == {"files": 4, "valid": 2, "invalid": 2, "errors": 3,
                               "warnings": 2, "infos": 1}
    writer.close()
    with pytest.raises(ValueError, match="unknown report format"):
        ReportWriter("yaml")
