"""Renderers for validation reports: text for people, JSON, JUnit XML, GitHub annotations and SARIF.

Every format says the same thing: per file, the findings and whether they fail the run at the
chosen threshold (``fail_on``: ``"error"`` by default, ``"warning"`` to fail on warnings too).
``docs/reports.md`` describes each format; the JSON report follows ``schemas/report.schema.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote
from xml.sax.saxutils import escape, quoteattr

from . import __version__
from .policy import RULES, RuleInfo
from .report import SEVERITY_RANK, Finding, Report, Severity, at_or_above

__all__ = ["FORMATS", "REPORT_VERSION", "SARIF_SCHEMA", "render", "to_json", "to_sarif"]

REPORT_VERSION: Final = 1
"""Version of the JSON report format; it changes only when a field is removed or changes meaning."""
REPORT_SCHEMA_ID: Final = "urn:photometa:schema:report:1"
SARIF_SCHEMA: Final = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
FORMATS: Final = ("text", "json", "junit", "github", "sarif")

_COLORS: Final = {"error": "\x1b[31m", "warning": "\x1b[33m", "info": "\x1b[36m"}
_BOLD, _RESET = "\x1b[1m", "\x1b[0m"
_SARIF_LEVEL: Final = {"error": "error", "warning": "warning", "info": "note"}


def _clean(text: str, *, newlines: bool = False) -> str:
    """Text safe for a terminal and for XML: control and other unprintable characters become '?'
    (line breaks too, unless ``newlines``)."""
    return "".join(ch if ch.isprintable() or ch == " " or (newlines and ch == "\n") else "?"
                   for ch in text)


def shown_path(path: Path) -> str:
    """A file's path as reports show it: relative to the working folder when inside it, POSIX."""
    try:
        rel = os.path.relpath(path)
    except ValueError:  # pragma: no cover - another drive on Windows
        return path.as_posix()
    if rel == os.pardir or rel.startswith(os.pardir + os.sep):
        return Path(os.path.abspath(path)).as_posix()
    return Path(rel).as_posix()


def render(
    reports: Sequence[Report],
    fmt: str,
    *,
    color: bool = False,
    fail_on: Severity = "error",
    rules: Mapping[str, RuleInfo] | None = None,
) -> str:
    """Render reports in ``fmt``: text, json, junit, github or sarif.

    Args:
        reports: one per file, in the order to show.
        fmt: one of :data:`FORMATS`.
        color: ANSI colours in the text format (for a terminal).
        fail_on: the severity from which a finding fails its file.
        rules: descriptions of the checks, for SARIF (default: the built-in catalogue).
    """
    if fmt == "json":
        return json.dumps(to_json(reports, fail_on=fail_on), indent=2, ensure_ascii=False) + "\n"
    if fmt == "junit":
        return _junit(reports, fail_on)
    if fmt == "github":
        return _github(reports)
    if fmt == "sarif":
        doc = to_sarif(reports, rules=rules)
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    if fmt == "text":
        return _text(reports, color, fail_on)
    raise ValueError(f"unknown report format {fmt!r}; expected one of {', '.join(FORMATS)}")


def _ordered(findings: Sequence[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: -SEVERITY_RANK[f.severity])


def _counts(reports: Sequence[Report], fail_on: Severity) -> dict[str, int]:
    invalid = sum(r.failed(fail_on) for r in reports)
    return {
        "files": len(reports),
        "valid": len(reports) - invalid,
        "invalid": invalid,
        "errors": sum(len(r.errors) for r in reports),
        "warnings": sum(len(r.warnings) for r in reports),
        "infos": sum(len(r.infos) for r in reports),
    }


# -- JSON -------------------------------------------------------------------------------------


def to_json(reports: Sequence[Report], *, fail_on: Severity = "error") -> dict[str, Any]:
    """The JSON report document (``schemas/report.schema.json``, version :data:`REPORT_VERSION`)."""
    summary = _counts(reports, fail_on)
    return {
        "$schema": REPORT_SCHEMA_ID,
        "version": REPORT_VERSION,
        "tool": {"name": "photometa", "version": __version__},
        "fail_on": fail_on,
        "ok": summary["invalid"] == 0,
        "summary": summary,
        "files": [
            {"path": shown_path(r.path), "ok": not r.failed(fail_on),
             "findings": [f.to_dict() for f in r.findings]}
            for r in reports
        ],
    }


# -- text -------------------------------------------------------------------------------------


def _text(reports: Sequence[Report], color: bool, fail_on: Severity) -> str:
    def paint(text: str, code: str) -> str:
        return f"{code}{text}{_RESET}" if color else text

    lines = []
    for r in reports:
        if not r.findings:
            continue
        lines.append(paint(_clean(shown_path(r.path)), _BOLD))
        for f in _ordered(r.findings):
            sev = paint(f"{f.severity:<7}", _COLORS[f.severity])
            where = f.field or "(file)"
            at = f" @ byte {f.offset}" if f.offset is not None else ""
            lines.append(f"  {sev} {where}: {_clean(f.message)} [{f.code}]{at}")
        lines.append("")
    c = _counts(reports, fail_on)
    verdict = (paint("ok", _COLORS["info"]) if c["invalid"] == 0
               else paint(f"{c['invalid']} failed", _COLORS["error"]))
    lines.append(f"{c['files']} file(s) checked: {verdict} (fail on {fail_on}); "
                 f"{c['errors']} error(s), {c['warnings']} warning(s), {c['infos']} info")
    return "\n".join(lines) + "\n"


# -- JUnit XML --------------------------------------------------------------------------------


def _line(f: Finding) -> str:
    return _clean(f"{f.severity}: {f.field or '(file)'}: {f.message} [{f.code}]", newlines=True)


def _junit(reports: Sequence[Report], fail_on: Severity) -> str:
    failures = sum(r.failed(fail_on) for r in reports)
    n = len(reports)
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           f'<testsuites name="photometa" tests="{n}" failures="{failures}" errors="0" time="0">',
           f'  <testsuite name="photometa validate" tests="{n}" failures="{failures}" errors="0" '
           'skipped="0" time="0">']
    for r in reports:
        path = _clean(shown_path(r.path))
        out.append(f'    <testcase classname="photometa.validate" name={quoteattr(path)} '
                   f'file={quoteattr(path)} time="0">')
        failing = at_or_above(r.findings, fail_on)
        if failing:
            first = failing[0]
            summary = (f"{len(failing)} finding(s) at {fail_on} or above; first: "
                       f"{first.field or '(file)'}: {first.message} [{first.code}]")
            body = "\n".join(_line(f) for f in _ordered(failing))
            out.append(f'      <failure type="photometa" message={quoteattr(_clean(summary))}>'
                       f"{escape(body)}</failure>")
        rest = [f for f in r.findings if f not in failing]
        if rest:
            body = "\n".join(_line(f) for f in _ordered(rest))
            out.append(f"      <system-out>{escape(body)}</system-out>")
        out.append("    </testcase>")
    out += ["  </testsuite>", "</testsuites>"]
    return "\n".join(out) + "\n"


# -- GitHub workflow commands -----------------------------------------------------------------


def _gh_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_property(text: str) -> str:
    return _gh_data(text).replace(":", "%3A").replace(",", "%2C")


def _github(reports: Sequence[Report]) -> str:
    lines = []
    for r in reports:
        path = _gh_property(shown_path(r.path))
        for f in _ordered(r.findings):
            level = {"error": "error", "warning": "warning"}.get(f.severity, "notice")
            title = _gh_property(f"photometa {f.code}: {f.field or 'file'}")
            message = _gh_data(_clean(f.message, newlines=True))
            lines.append(f"::{level} file={path},title={title}::{message}")
    return "\n".join(lines) + ("\n" if lines else "")


# -- SARIF 2.1.0 ------------------------------------------------------------------------------


def _descriptor(code: str, info: RuleInfo | None) -> dict[str, Any]:
    if info is None:
        return {
            "id": code,
            "shortDescription": {"text": f"Problem reading the file's metadata ({code})"},
            "fullDescription": {"text": "A problem photometa met while reading the file's "
                                "structure or metadata blocks, or a rule of the archive's policy."},
            "defaultConfiguration": {"level": "warning"},
        }
    return {
        "id": code,
        "shortDescription": {"text": info.title},
        "fullDescription": {"text": info.description},
        "help": {"text": f"{info.description} Code: {code}. See docs/policy.md for how to "
                 "change its severity."},
        "defaultConfiguration": {"level": _SARIF_LEVEL[info.severity]},
    }


def _uri(path: Path) -> tuple[str, bool]:
    shown = shown_path(path)
    if shown.startswith("/"):
        return Path(shown).as_uri(), False
    return quote(shown, safe="/"), True


def to_sarif(reports: Sequence[Report], *,
             rules: Mapping[str, RuleInfo] | None = None) -> dict[str, Any]:
    """A SARIF 2.1.0 log with one run: a result per finding, a rule descriptor per code.

    Each result points at its file (``region.startLine`` 1, as code-scanning UIs need a line),
    names the schema field as a logical location, and carries a stable ``partialFingerprints``
    entry so alerts keep their identity across runs.
    """
    infos = dict(RULES) if rules is None else dict(rules)
    descriptors: list[dict[str, Any]] = [_descriptor(c, i) for c, i in infos.items()]
    index = {c: i for i, c in enumerate(infos)}
    results = []
    for r in reports:
        uri, relative = _uri(r.path)
        location: dict[str, Any] = {"uri": uri}
        if relative:
            location["uriBaseId"] = "%SRCROOT%"
        for f in r.findings:
            if f.code not in index:
                index[f.code] = len(descriptors)
                descriptors.append(_descriptor(f.code, None))
            loc: dict[str, Any] = {
                "physicalLocation": {"artifactLocation": location, "region": {"startLine": 1}},
            }
            if f.field:
                loc["logicalLocations"] = [{"fullyQualifiedName": f.field, "kind": "member"}]
            fingerprint = hashlib.sha256(
                f"{shown_path(r.path)}\0{f.code}\0{f.field or ''}".encode()).hexdigest()
            props: dict[str, Any] = {"severity": f.severity}
            if f.field:
                props["field"] = f.field
            if f.offset is not None:
                props["byteOffset"] = f.offset
            results.append({
                "ruleId": f.code,
                "ruleIndex": index[f.code],
                "level": _SARIF_LEVEL[f.severity],
                "message": {"text": f.message},
                "locations": [loc],
                "partialFingerprints": {"photometaFinding/v1": fingerprint},
                "properties": props,
            })
    run: dict[str, Any] = {
        "tool": {"driver": {"name": "photometa", "version": __version__,
                            "semanticVersion": __version__, "rules": descriptors}},
        "invocations": [{"executionSuccessful": True}],
        "originalUriBaseIds": {"%SRCROOT%": {"uri": Path(os.getcwd()).as_uri().rstrip("/") + "/"}},
        "results": results,
    }
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
