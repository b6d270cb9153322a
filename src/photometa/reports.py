"""Renderers for validation reports: text for people, JSON, JUnit XML, GitHub annotations and SARIF.

Every format says the same thing: per file, the findings and whether they fail the run at the
chosen threshold (``fail_on``: ``"error"`` by default, ``"warning"`` to fail on warnings too).
``docs/reports.md`` describes each format; the JSON report follows ``schemas/report.schema.json``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, Final, TextIO
from urllib.parse import quote
from xml.sax.saxutils import escape, quoteattr

from . import __version__
from .policy import RULES, RuleInfo
from .report import SEVERITY_RANK, Finding, Report, Severity

__all__ = ["FORMATS", "REPORT_VERSION", "SARIF_SCHEMA", "ReportWriter", "render", "to_json",
           "to_sarif"]

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


class _Shown:
    """:func:`shown_path` for many paths: the working folder is looked up once, not per path."""

    def __init__(self) -> None:
        self.cwd = os.getcwd()
        self.prefix = self.cwd if self.cwd.endswith("/") else self.cwd + "/"
        self.posix = os.sep == "/" and not self.cwd.startswith("//")

    def __call__(self, path: str | os.PathLike[str]) -> str:
        if not self.posix:  # pragma: no cover - Windows
            return shown_path(Path(path))
        full = os.path.normpath(os.path.join(self.cwd, os.fspath(path)))
        if full.startswith(self.prefix):
            return full[len(self.prefix):]
        return "." if full == self.cwd else full


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
    writer = ReportWriter(fmt, color=color, fail_on=fail_on)
    for r in reports:
        writer.add(r.path, r.findings)
    out = io.StringIO()
    writer.finish(out, rules=rules)
    return out.getvalue()


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


def _header(fail_on: Severity, summary: dict[str, int]) -> dict[str, Any]:
    return {
        "$schema": REPORT_SCHEMA_ID,
        "version": REPORT_VERSION,
        "tool": {"name": "photometa", "version": __version__},
        "fail_on": fail_on,
        "ok": summary["invalid"] == 0,
        "summary": summary,
    }


def to_json(reports: Sequence[Report], *, fail_on: Severity = "error") -> dict[str, Any]:
    """The JSON report document (``schemas/report.schema.json``, version :data:`REPORT_VERSION`)."""
    shown = _Shown()
    return {
        **_header(fail_on, _counts(reports, fail_on)),
        "files": [
            {"path": shown(r.path), "ok": not r.failed(fail_on),
             "findings": [f.to_dict() for f in r.findings]}
            for r in reports
        ],
    }


_MARK: Final = "\x00photometa-items\x00"


def _split_around(doc: dict[str, Any]) -> tuple[str, str, str]:
    """``doc`` (holding :data:`_MARK` as the one item of its last, streamed list) dumped as the
    JSON reports are: the text before the items, the indent of an item, the text after them."""
    text = json.dumps(doc, indent=2, ensure_ascii=False)
    at = text.index(json.dumps(_MARK))
    line_start = text.rindex("\n", 0, at) + 1
    line_end = text.index("\n", at)
    return text[:line_start], text[line_start:at], text[line_end + 1:]


def _indented(item: Any, indent: str) -> str:
    return indent + json.dumps(item, indent=2, ensure_ascii=False).replace("\n", "\n" + indent)


# -- text -------------------------------------------------------------------------------------


def _paint(text: str, code: str, color: bool) -> str:
    return f"{code}{text}{_RESET}" if color else text


def _text_file(shown: str, findings: Sequence[Finding], color: bool) -> str:
    lines = [_paint(_clean(shown), _BOLD, color)]
    for f in _ordered(findings):
        sev = _paint(f"{f.severity:<7}", _COLORS[f.severity], color)
        where = f.field or "(file)"
        at = f" @ byte {f.offset}" if f.offset is not None else ""
        lines.append(f"  {sev} {where}: {_clean(f.message)} [{f.code}]{at}")
    return "\n".join(lines) + "\n\n"


def _text_summary(c: Mapping[str, int], color: bool, fail_on: Severity) -> str:
    verdict = (_paint("ok", _COLORS["info"], color) if c["invalid"] == 0
               else _paint(f"{c['invalid']} failed", _COLORS["error"], color))
    return (f"{c['files']} file(s) checked: {verdict} (fail on {fail_on}); "
            f"{c['errors']} error(s), {c['warnings']} warning(s), {c['infos']} info\n")


# -- JUnit XML --------------------------------------------------------------------------------


def _line(f: Finding) -> str:
    return _clean(f"{f.severity}: {f.field or '(file)'}: {f.message} [{f.code}]", newlines=True)


def _junit_file(shown: str, findings: Sequence[Finding], failing: Sequence[Finding],
                fail_on: Severity) -> str:
    path = _clean(shown)
    out = [f'    <testcase classname="photometa.validate" name={quoteattr(path)} '
           f'file={quoteattr(path)} time="0">']
    if failing:
        first = failing[0]
        summary = (f"{len(failing)} finding(s) at {fail_on} or above; first: "
                   f"{first.field or '(file)'}: {first.message} [{first.code}]")
        body = "\n".join(_line(f) for f in _ordered(failing))
        out.append(f'      <failure type="photometa" message={quoteattr(_clean(summary))}>'
                   f"{escape(body)}</failure>")
    rest = [f for f in findings if f not in failing]
    if rest:
        body = "\n".join(_line(f) for f in _ordered(rest))
        out.append(f"      <system-out>{escape(body)}</system-out>")
    out.append("    </testcase>")
    return "\n".join(out) + "\n"


def _junit_head(n: int, failures: int) -> str:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<testsuites name="photometa" tests="{n}" failures="{failures}" errors="0" '
            'time="0">\n'
            f'  <testsuite name="photometa validate" tests="{n}" failures="{failures}" '
            'errors="0" skipped="0" time="0">\n')


# -- GitHub workflow commands -----------------------------------------------------------------


def _gh_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_property(text: str) -> str:
    return _gh_data(text).replace(":", "%3A").replace(",", "%2C")


def _github_file(shown: str, findings: Sequence[Finding]) -> str:
    path = _gh_property(shown)
    lines = []
    for f in _ordered(findings):
        level = {"error": "error", "warning": "warning"}.get(f.severity, "notice")
        title = _gh_property(f"photometa {f.code}: {f.field or 'file'}")
        message = _gh_data(_clean(f.message, newlines=True))
        lines.append(f"::{level} file={path},title={title}::{message}\n")
    return "".join(lines)


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


def _uri(shown: str) -> tuple[str, bool]:
    if shown.startswith("/"):
        return Path(shown).as_uri(), False
    return quote(shown, safe="/"), True


def _sarif_results(shown: str, findings: Iterable[Finding],
                   index: Mapping[str, int]) -> Iterator[dict[str, Any]]:
    """The SARIF results of one file (every code of ``findings`` has its place in ``index``)."""
    uri, relative = _uri(shown)
    location: dict[str, Any] = {"uri": uri}
    if relative:
        location["uriBaseId"] = "%SRCROOT%"
    for f in findings:
        loc: dict[str, Any] = {
            "physicalLocation": {"artifactLocation": location, "region": {"startLine": 1}},
        }
        if f.field:
            loc["logicalLocations"] = [{"fullyQualifiedName": f.field, "kind": "member"}]
        fingerprint = hashlib.sha256(
            f"{shown}\0{f.code}\0{f.field or ''}".encode()).hexdigest()
        props: dict[str, Any] = {"severity": f.severity}
        if f.field:
            props["field"] = f.field
        if f.offset is not None:
            props["byteOffset"] = f.offset
        yield {
            "ruleId": f.code,
            "ruleIndex": index[f.code],
            "level": _SARIF_LEVEL[f.severity],
            "message": {"text": f.message},
            "locations": [loc],
            "partialFingerprints": {"photometaFinding/v1": fingerprint},
            "properties": props,
        }


def _sarif_rules(rules: Mapping[str, RuleInfo] | None, codes: Iterable[str]
                 ) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Rule descriptors (the given rules, then the other ``codes`` in order) and their index."""
    infos = dict(RULES) if rules is None else dict(rules)
    descriptors: list[dict[str, Any]] = [_descriptor(c, i) for c, i in infos.items()]
    index = {c: i for i, c in enumerate(infos)}
    for code in codes:
        if code not in index:
            index[code] = len(descriptors)
            descriptors.append(_descriptor(code, None))
    return descriptors, index


def _sarif_doc(descriptors: list[dict[str, Any]], results: list[Any]) -> dict[str, Any]:
    run: dict[str, Any] = {
        "tool": {"driver": {"name": "photometa", "version": __version__,
                            "semanticVersion": __version__, "rules": descriptors}},
        "invocations": [{"executionSuccessful": True}],
        "originalUriBaseIds": {"%SRCROOT%": {"uri": Path(os.getcwd()).as_uri().rstrip("/") + "/"}},
        "results": results,
    }
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def to_sarif(reports: Sequence[Report], *,
             rules: Mapping[str, RuleInfo] | None = None) -> dict[str, Any]:
    """A SARIF 2.1.0 log with one run: a result per finding, a rule descriptor per code.

    Each result points at its file (``region.startLine`` 1, as code-scanning UIs need a line),
    names the schema field as a logical location, and carries a stable ``partialFingerprints``
    entry so alerts keep their identity across runs.
    """
    shown = _Shown()
    descriptors, index = _sarif_rules(rules, (f.code for r in reports for f in r.findings))
    results = [result for r in reports
               for result in _sarif_results(shown(r.path), r.findings, index)]
    return _sarif_doc(descriptors, results)


# -- streaming --------------------------------------------------------------------------------

_FLUSH_AT: Final = 512  # pieces of text (or SARIF records) gathered before a write to the spool


class ReportWriter:
    """A report written file by file, in memory that does not grow with the number of files.

    :meth:`add` each file's findings as they come (in the order to show), then :meth:`finish`
    writes the whole report, byte for byte what :func:`render` gives for the same files. The
    parts that follow the counts (every format but text and GitHub's puts the counts first) wait
    in a spool: in memory, or with ``on_disk`` in an anonymous temporary file, so that a report
    on a whole archive costs disk, not memory. The counts are attributes: ``files``,
    ``invalid``, ``errors``, ``warnings``, ``infos``.
    """

    def __init__(self, fmt: str, *, color: bool = False, fail_on: Severity = "error",
                 on_disk: bool = False) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown report format {fmt!r}; expected one of "
                             f"{', '.join(FORMATS)}")
        self.fmt = fmt
        self.color = color
        self.fail_on: Severity = fail_on
        self.files = self.invalid = self.errors = self.warnings = self.infos = 0
        self._shown = _Shown()
        self._limit = SEVERITY_RANK[fail_on]
        self._pieces: list[str] = []
        self._records: list[tuple[str, tuple[Finding, ...]]] = []
        self._codes: dict[str, None] = {}
        # both closed by finish() (or, unfinished, when the writer is collected)
        self._spool: IO[str] = (
            tempfile.TemporaryFile("w+", encoding="utf-8", newline="")  # noqa: SIM115
            if on_disk and fmt != "sarif" else io.StringIO(newline=""))
        self._records_spool: IO[bytes] = (
            tempfile.TemporaryFile("w+b") if on_disk and fmt == "sarif"  # noqa: SIM115
            else io.BytesIO())

    def add(self, path: str | os.PathLike[str], findings: Sequence[Finding]) -> bool:
        """Count and render one file; returns whether it fails at ``fail_on``."""
        self.files += 1
        fmt = self.fmt
        if not findings:
            if fmt == "json":
                self._pieces.append(json.dumps(self._shown(path), ensure_ascii=False))
            elif fmt == "junit":
                self._pieces.append(_junit_file(self._shown(path), (), (), self.fail_on))
            else:
                return False
            self._flush_if_full()
            return False
        failing = [f for f in findings if SEVERITY_RANK[f.severity] >= self._limit]
        failed = bool(failing)
        self.invalid += failed
        for f in findings:
            if f.severity == "error":
                self.errors += 1
            elif f.severity == "warning":
                self.warnings += 1
            elif f.severity == "info":
                self.infos += 1
        shown = self._shown(path)
        if fmt == "text":
            self._pieces.append(_text_file(shown, findings, self.color))
        elif fmt == "json":
            entry = {"path": shown, "ok": not failed, "findings": [f.to_dict() for f in findings]}
            self._pieces.append(_indented(entry, ""))
        elif fmt == "junit":
            self._pieces.append(_junit_file(shown, findings, failing, self.fail_on))
        elif fmt == "github":
            self._pieces.append(_github_file(shown, findings))
        else:
            for f in findings:
                self._codes.setdefault(f.code)
            self._records.append((shown, tuple(findings)))
        self._flush_if_full()
        return failed

    def _flush_if_full(self) -> None:
        if len(self._pieces) >= _FLUSH_AT or len(self._records) >= _FLUSH_AT:
            self._flush()

    def _flush(self) -> None:
        if self._pieces:
            if self.fmt == "json":  # a clean file is its quoted path alone, see _finish_json
                self._spool.write("\0".join(self._pieces) + "\0")
            else:
                self._spool.write("".join(self._pieces))
            self._pieces.clear()
        if self._records:
            pickle.dump(self._records, self._records_spool, pickle.HIGHEST_PROTOCOL)
            self._records.clear()

    def counts(self) -> dict[str, int]:
        """The summary: files, valid, invalid, errors, warnings, infos."""
        return {"files": self.files, "valid": self.files - self.invalid, "invalid": self.invalid,
                "errors": self.errors, "warnings": self.warnings, "infos": self.infos}

    def finish(self, out: TextIO, *, rules: Mapping[str, RuleInfo] | None = None) -> None:
        """Write the report to ``out`` and free the spool. ``rules``: descriptions of the checks,
        for SARIF (default: the built-in catalogue)."""
        self._flush()
        try:
            self._spool.seek(0)
            if self.fmt == "text":
                shutil.copyfileobj(self._spool, out, 1 << 16)
                out.write(_text_summary(self.counts(), self.color, self.fail_on))
            elif self.fmt == "github":
                shutil.copyfileobj(self._spool, out, 1 << 16)
            elif self.fmt == "junit":
                out.write(_junit_head(self.files, self.invalid))
                shutil.copyfileobj(self._spool, out, 1 << 16)
                out.write("  </testsuite>\n</testsuites>\n")
            elif self.fmt == "json":
                self._finish_json(out)
            else:
                self._finish_sarif(out, rules)
        finally:
            self.close()

    def close(self) -> None:
        """Free the spool (done by :meth:`finish`; call it when the report is not finished)."""
        self._spool.close()
        self._records_spool.close()

    def _finish_json(self, out: TextIO) -> None:
        doc = {**_header(self.fail_on, self.counts()), "files": [_MARK] if self.files else []}
        if not self.files:
            out.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
            return
        head, indent, tail = _split_around(doc)
        out.write(head)
        inner = indent + "  "
        clean = (f",\n{inner}\"ok\": true,\n{inner}\"findings\": []\n{indent}}}")
        first = True
        for piece in _pieces(self._spool):
            if not first:
                out.write(",\n")
            first = False
            if piece.startswith('"'):  # a file without findings: only its path was kept
                out.write(f"{indent}{{\n{inner}\"path\": {piece}{clean}")
            else:
                out.write(indent + piece.replace("\n", "\n" + indent))
        out.write("\n" + tail + "\n")

    def _finish_sarif(self, out: TextIO, rules: Mapping[str, RuleInfo] | None) -> None:
        descriptors, index = _sarif_rules(rules, self._codes)
        if not self._codes:
            out.write(json.dumps(_sarif_doc(descriptors, []), indent=2, ensure_ascii=False)
                      + "\n")
            return
        head, indent, tail = _split_around(_sarif_doc(descriptors, [_MARK]))
        out.write(head)
        first = True
        self._records_spool.seek(0)
        while True:
            try:
                batch: list[tuple[str, tuple[Finding, ...]]] = pickle.load(self._records_spool)
            except EOFError:
                break
            for shown, findings in batch:
                for result in _sarif_results(shown, findings, index):
                    if not first:
                        out.write(",\n")
                    first = False
                    out.write(_indented(result, indent))
        out.write("\n" + tail + "\n")


def _pieces(spool: IO[str]) -> Iterator[str]:
    """The NUL-separated pieces of a JSON spool (JSON text never holds a raw NUL)."""
    rest = ""
    while True:
        block = spool.read(1 << 16)
        if not block:
            break
        parts = (rest + block).split("\0")
        rest = parts.pop()
        yield from parts
