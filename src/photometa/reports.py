"""Renderers for validation reports: text for people, JSON, JUnit XML and GitHub annotations."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from .report import Report

__all__ = ["REPORT_VERSION", "render"]

REPORT_VERSION = 1
_COLORS = {"error": "\x1b[31m", "warning": "\x1b[33m", "info": "\x1b[36m"}


def _clean(text: str) -> str:
    return "".join(ch if ch.isprintable() or ch == " " else "?" for ch in text)


def render(reports: Sequence[Report], fmt: str, *, color: bool = False) -> str:
    """Render reports in ``fmt``: text, json, junit or github."""
    if fmt == "json":
        return json.dumps(to_json(reports), indent=2, ensure_ascii=False) + "\n"
    if fmt == "junit":
        return _junit(reports)
    if fmt == "github":
        return _github(reports)
    return _text(reports, color)


def to_json(reports: Sequence[Report]) -> dict[str, Any]:
    """The JSON report document (see docs/reports.md for its schema)."""
    files = [
        {
            "path": r.path.as_posix(),
            "ok": r.ok,
            "findings": [
                {"field": f.field, "code": f.code, "message": f.message,
                 "severity": f.severity, "offset": f.offset}
                for f in r.findings
            ],
        }
        for r in reports
    ]
    return {
        "version": REPORT_VERSION,
        "summary": {
            "files": len(reports),
            "valid": sum(r.ok for r in reports),
            "errors": sum(len(r.errors) for r in reports),
            "warnings": sum(len(r.warnings) for r in reports),
        },
        "files": files,
    }


def _text(reports: Sequence[Report], color: bool) -> str:
    lines = []
    for r in reports:
        if not r.findings:
            continue
        lines.append(_clean(r.path.as_posix()))
        for f in r.findings:
            sev = f"{_COLORS[f.severity]}{f.severity}\x1b[0m" if color else f.severity
            lines.append(f"  {sev}: {f.field or '-'}: {_clean(f.message)} [{f.code}]")
    errors = sum(len(r.errors) for r in reports)
    warnings = sum(len(r.warnings) for r in reports)
    bad = sum(not r.ok for r in reports)
    lines.append(f"{len(reports)} file(s) checked, {bad} invalid, {errors} error(s), "
                 f"{warnings} warning(s)")
    return "\n".join(lines) + "\n"


def _junit(reports: Sequence[Report]) -> str:
    failures = sum(not r.ok for r in reports)
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           f'<testsuites name="photometa" tests="{len(reports)}" failures="{failures}">',
           f'<testsuite name="photometa validate" tests="{len(reports)}" failures="{failures}">']
    for r in reports:
        out.append(f'<testcase classname="photometa" name={quoteattr(r.path.as_posix())}>')
        if r.errors:
            body = "\n".join(f"{f.field or '-'}: {f.message} [{f.code}]" for f in r.errors)
            out.append(f'<failure message={quoteattr(f"{len(r.errors)} error(s)")}>'
                       f"{escape(_clean(body))}</failure>")
        out.append("</testcase>")
    out += ["</testsuite>", "</testsuites>"]
    return "\n".join(out) + "\n"


def _github(reports: Sequence[Report]) -> str:
    def enc(text: str) -> str:
        return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")

    lines = []
    for r in reports:
        for f in r.findings:
            level = {"error": "error", "warning": "warning"}.get(f.severity, "notice")
            title = enc(f"{f.field or 'file'}: {f.code}").replace(",", "%2C").replace(":", "%3A")
            lines.append(f"::{level} file={enc(r.path.as_posix())},title={title}::"
                         f"{enc(_clean(f.message))}")
    return "\n".join(lines) + ("\n" if lines else "")
