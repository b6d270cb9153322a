"""Archive policies: what an archive requires of its metadata, read from TOML.

A policy lives in ``photometa.toml`` at the archive root, or under ``[tool.photometa]`` in
``pyproject.toml``; :func:`find_policy` finds it by walking up from a file, :func:`load_policy`
reads it. ``docs/policy.md`` documents the format; ``schemas/policy.schema.json`` is its JSON
Schema (made by :func:`policy_json_schema`). A broken policy raises
:class:`~photometa.errors.PolicyError` naming the line that is wrong.

The rule catalogue :data:`RULES` lists every built-in check with its stable code and default
severity; a policy may change any severity (or turn a check ``"off"``) and add conditional rules of
its own.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, Final, Literal

import pycountry

from .errors import PolicyError
from .model import FIELD_PATHS, PhotoContext
from .report import Finding, Severity
from .vocab import Vocabulary, vocabularies

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "POLICY_FILE",
    "POLICY_VERSION",
    "RULES",
    "Condition",
    "CustomRule",
    "Policy",
    "PolicyResolver",
    "Requirement",
    "RuleInfo",
    "find_policy",
    "load_policy",
    "parse_policy",
    "policy_json_schema",
]

POLICY_FILE: Final = "photometa.toml"
POLICY_VERSION: Final = 1
DEFAULT_GPS_TOLERANCE_KM: Final = 25.0

Level = Literal["error", "warning", "info", "off"]
_LEVELS: Final = ("error", "warning", "info", "off")
_CODE_RE: Final = re.compile(r"[a-z0-9][a-z0-9-]*")


@dataclass(frozen=True)
class RuleInfo:
    """A built-in check: its stable code, default severity and what it means."""

    code: str
    severity: Severity
    title: str
    description: str


def _rules(*items: tuple[str, Severity, str, str]) -> dict[str, RuleInfo]:
    return {code: RuleInfo(code, sev, title, text) for code, sev, title, text in items}


RULES: Final[Mapping[str, RuleInfo]] = _rules(
    ("field-required", "error", "Required field missing",
     "The policy requires this field (in `required` or a `[[require]]` block for the file's path) "
     "and the file does not have it."),
    ("vocab-unknown", "error", "Term not in the vocabulary",
     "restriction.status or restriction.category holds a term that is neither in the built-in "
     "vocabulary (schemas/vocab/) nor added by the policy's [vocabulary] table."),
    ("keyword-unknown", "error", "Keyword not in the archive's keyword list",
     "The policy gives a closed keyword list ([vocabulary] \"subject.keywords\") and a keyword of "
     "the file is not in it."),
    ("keyword-duplicate", "warning", "Duplicate keyword",
     "A keyword appears more than once (ignoring case) in the file's XMP dc:subject or its "
     "IPTC-IIM Keywords."),
    ("country-not-allowed", "error", "Country not allowed",
     "The file's country code is not in the policy's [countries] allowed list."),
    ("gps-outside-country", "warning", "GPS position outside the named country",
     "The GPS position is farther from the country named by location.country_code (or "
     "location.country) than the policy's gps_tolerance_km allows, measured to the country's "
     "bounding boxes (schemas/country-boxes.json, from Natural Earth)."),
    ("captured-in-future", "error", "Capture time in the future",
     "captured_at is later than the time of validation (a time without offset is allowed up to "
     "UTC+14)."),
    ("restriction-needs-reason", "warning", "Restriction without a reason",
     "restriction.status is set to something other than unrestricted but restriction.reason is "
     "empty."),
    ("restriction-needs-authority", "warning", "Restriction without an authority",
     "restriction.status is set to something other than unrestricted but restriction.authority "
     "is empty: nobody can tell who imposed or requested the restriction."),
    ("credit-needs-photographer", "warning", "Credit line without a photographer",
     "photographer.credit is set but photographer.name is empty."),
    ("iim-too-long", "warning", "Value longer than its IPTC-IIM dataset",
     "The value is longer, in UTF-8 bytes, than the IPTC-IIM dataset that holds it allows; "
     "IIM readers (older newsroom tools) keep only the first bytes."),
    ("iim-truncated", "warning", "IPTC-IIM holds a truncated copy",
     "The file's IPTC-IIM value is the XMP value cut at the dataset's byte limit."),
    ("homes-disagree", "warning", "EXIF, IPTC and XMP disagree",
     "The field's homes (EXIF, IPTC-IIM, XMP) hold different values; readers that look at "
     "different homes show different things. photometa reads the value the MWG rules choose."),
    ("iptc-digest-stale", "warning", "Stale IPTC digest",
     "IPTC-IIM was edited by a tool that did not update the IPTC digest (Photoshop resource "
     "0x0425), so XMP and IIM may be out of step."),
    ("text-invalid-utf8", "warning", "Text that is not valid UTF-8",
     "A text value is stored in bytes that are not valid UTF-8 (a legacy charset, or broken "
     "bytes); readers will guess, and may show garbage."),
    ("text-mojibake", "warning", "Mojibake",
     "A text value looks like UTF-8 that was decoded as Windows-1252 or Latin-1 and stored again "
     "('CafÃ©' for 'Café')."),
    ("invalid-value", "error", "Value does not fit the schema",
     "The file holds a value that is not valid for the schema field (e.g. a country code that "
     "is not ISO 3166-1)."),
)
"""The built-in checks by code. Problems met while reading the file (``jpeg-truncated``,
``xmp-syntax``...) keep the codes their parsers give them; a policy may change their severity
too."""

FIELD_NAMES: Final[tuple[str, ...]] = (*FIELD_PATHS, "location.gps")
"""Field names a policy may use: every leaf of the schema, and ``location.gps`` as a whole."""
_VOCAB_FIELDS: Final = ("restriction.status", "restriction.category", "subject.keywords")
_CONDITION_KEYS: Final = ("present", "equals", "in", "not_in", "matches", "min", "max")


def _term(text: str) -> str:
    """Normalise a vocabulary term as the model does: lower case, words joined by hyphens."""
    return re.sub(r"[\s_]+", "-", text.strip().casefold())


def _country_alpha2(code: str) -> str | None:
    code = code.strip().upper()
    if len(code) == 2:
        found = pycountry.countries.get(alpha_2=code)
    elif len(code) == 3:
        found = pycountry.countries.get(alpha_3=code)
    else:
        return None
    return None if found is None else str(found.alpha_2)


# -- path globs -------------------------------------------------------------------------------


@lru_cache(maxsize=512)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Compile a glob: ``*`` and ``?`` stay inside one folder, ``**`` crosses folders, ``[...]``
    is a character class. A pattern without ``/`` matches the file name in any folder."""
    pat = pattern.strip()
    anchored = "/" in pat.rstrip("/")
    pat = pat.lstrip("/")
    out = []
    i = 0
    while i < len(pat):
        ch = pat[i]
        if pat.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pat.startswith("**", i):
            out.append(".*")
            i += 2
        elif ch == "*":
            out.append("[^/]*")
            i += 1
        elif ch == "?":
            out.append("[^/]")
            i += 1
        elif ch == "[":
            end = pat.find("]", i + 2)
            if end == -1:
                out.append(re.escape(ch))
                i += 1
            else:
                body = pat[i + 1 : end]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end + 1
        else:
            out.append(re.escape(ch))
            i += 1
    body = "".join(out)
    if pat.endswith("/"):
        body += ".*"
    prefix = "" if anchored else "(?:.*/)?"
    return re.compile(prefix + body)


def glob_match(pattern: str, relpath: str) -> bool:
    """True when ``relpath`` (POSIX, relative to the policy's folder) matches ``pattern``."""
    return _glob_regex(pattern).fullmatch(relpath) is not None


# -- the policy -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    """A test on one field, used by the ``when`` and ``expect`` tables of a ``[[rule]]``.

    ``present`` tests presence; ``equals``/``in``/``not_in`` compare text ignoring case;
    ``matches`` is a regular expression the whole value must match; ``min``/``max`` bound numbers.
    On a list field (keywords, persons) a test other than ``present`` holds when any item passes.
    """

    field: str
    present: bool | None = None
    equals: str | None = None
    in_: tuple[str, ...] | None = None
    not_in: tuple[str, ...] | None = None
    matches: str | None = None
    min: float | None = None
    max: float | None = None

    def holds(self, ctx: PhotoContext) -> bool:
        """True when the context passes this test."""
        value = ctx.get_path(self.field)
        absent = value is None or value == []
        if self.present is not None and self.present == absent:
            return False
        if absent:
            return self._only_presence()  # a value test needs a value
        items = value if isinstance(value, list) else [value]
        return any(self._item(v) for v in items)

    def _only_presence(self) -> bool:
        return all(getattr(self, k) is None for k in ("equals", "in_", "not_in", "matches", "min",
                                                        "max"))

    def _item(self, value: Any) -> bool:
        text = value.isoformat() if hasattr(value, "isoformat") else str(value)
        folded = text.casefold()
        if self.equals is not None and folded != self.equals.casefold():
            return False
        if self.in_ is not None and folded not in {v.casefold() for v in self.in_}:
            return False
        if self.not_in is not None and folded in {v.casefold() for v in self.not_in}:
            return False
        if self.matches is not None and re.fullmatch(self.matches, text) is None:
            return False
        if self.min is not None or self.max is not None:
            if not isinstance(value, (int, float)):
                return False
            if self.min is not None and value < self.min:
                return False
            if self.max is not None and value > self.max:
                return False
        return True

    def describe(self) -> str:
        """The test in words, for messages."""
        parts = []
        if self.present is not None:
            parts.append("present" if self.present else "absent")
        if self.equals is not None:
            parts.append(f"equal to {self.equals!r}")
        if self.in_ is not None:
            parts.append(f"one of {', '.join(self.in_)}")
        if self.not_in is not None:
            parts.append(f"none of {', '.join(self.not_in)}")
        if self.matches is not None:
            parts.append(f"matching /{self.matches}/")
        if self.min is not None:
            parts.append(f"at least {self.min:g}")
        if self.max is not None:
            parts.append(f"at most {self.max:g}")
        return f"{self.field} {' and '.join(parts) or 'present'}"


@dataclass(frozen=True)
class Requirement:
    """Fields required of the files whose path matches one of ``paths`` (all files when empty)."""

    fields: tuple[str, ...]
    paths: tuple[str, ...] = ()
    severity: Severity = "error"


@dataclass(frozen=True)
class CustomRule:
    """A conditional rule of the policy: when every ``when`` test holds, every field of ``require``
    must be present and every ``expect`` test must hold."""

    code: str
    message: str
    severity: Severity = "error"
    paths: tuple[str, ...] = ()
    when: tuple[Condition, ...] = ()
    require: tuple[str, ...] = ()
    expect: tuple[Condition, ...] = ()

    def check(self, ctx: PhotoContext) -> list[Finding]:
        """Findings for one context (empty when the rule does not apply or is met)."""
        if not all(c.holds(ctx) for c in self.when):
            return []
        out = []
        for name in self.require:
            value = ctx.get_path(name)
            if value is None or value == []:
                out.append(Finding(name, self.code, f"{self.message} ({name} is missing)",
                                   self.severity))
        for cond in self.expect:
            if not cond.holds(ctx):
                out.append(Finding(cond.field, self.code,
                                   f"{self.message} (expected {cond.describe()})", self.severity))
        return out


@dataclass(frozen=True)
class Policy:
    """What an archive requires of its metadata.

    Attributes:
        required: field names every file must have.
        requirements: more required fields, per path glob.
        extra_terms: terms added to the built-in vocabularies, by field (``"restriction.status"``).
        keywords: a closed keyword list (casefolded); ``None`` allows any keyword.
        countries: allowed ISO 3166-1 alpha-2 codes; ``None`` allows any country.
        gps_tolerance_km: how far outside its country's boxes a GPS position may lie.
        severity: severity overrides by finding code (``"off"`` drops the finding).
        rules: the policy's own conditional rules.
        root: the folder path globs are relative to (the policy file's folder).
        source: the file the policy came from, if any.
    """

    required: tuple[str, ...] = ()
    requirements: tuple[Requirement, ...] = ()
    extra_terms: Mapping[str, Sequence[str]] = field(default_factory=dict)
    keywords: frozenset[str] | None = None
    countries: frozenset[str] | None = None
    gps_tolerance_km: float = DEFAULT_GPS_TOLERANCE_KM
    severity: Mapping[str, Level] = field(default_factory=dict)
    rules: tuple[CustomRule, ...] = ()
    root: Path | None = None
    source: Path | None = None

    # -- derived, computed once per policy --------------------------------------------------------

    def vocabularies(self) -> dict[str, Vocabulary]:
        """The built-in vocabularies extended by this policy's terms."""
        return {
            name: vocab.extended([_term(t) for t in self.extra_terms.get(name, [])])
            for name, vocab in vocabularies().items()
        }

    @cached_property
    def vocabulary_ids(self) -> dict[str, frozenset[str]]:
        """Allowed term ids by field (status and category)."""
        return {name: vocab.ids() for name, vocab in self.vocabularies().items()}

    @cached_property
    def digest(self) -> str:
        """A hash of everything that decides findings (not where the policy file lives)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """The policy as plain data (the TOML structure, normalised)."""
        def cond(c: Condition) -> dict[str, Any]:
            data = {k: getattr(c, "in_" if k == "in" else k) for k in _CONDITION_KEYS}
            return {"field": c.field, **{k: list(v) if isinstance(v, tuple) else v
                                          for k, v in data.items() if v is not None}}

        return {
            "version": POLICY_VERSION,
            "required": list(self.required),
            "require": [{"paths": list(r.paths), "fields": list(r.fields), "severity": r.severity}
                        for r in self.requirements],
            "vocabulary": {k: list(v) for k, v in sorted(self.extra_terms.items())},
            "keywords": sorted(self.keywords) if self.keywords is not None else None,
            "countries": sorted(self.countries) if self.countries is not None else None,
            "gps_tolerance_km": self.gps_tolerance_km,
            "severity": dict(sorted(self.severity.items())),
            "rule": [{"code": r.code, "message": r.message, "severity": r.severity,
                      "paths": list(r.paths), "when": [cond(c) for c in r.when],
                      "require": list(r.require), "expect": [cond(c) for c in r.expect]}
                     for r in self.rules],
        }

    # -- applying the policy ----------------------------------------------------------------------

    def relative_path(self, path: str | os.PathLike[str]) -> str:
        """``path`` relative to the policy's folder, in POSIX form (as given when outside it)."""
        p = os.path.abspath(path)
        if self.root is not None:
            root = os.path.abspath(self.root)
            if p == root or p.startswith(root.rstrip(os.sep) + os.sep):
                return Path(os.path.relpath(p, root)).as_posix()
        return Path(path).as_posix()

    def for_path(self, path: str | os.PathLike[str]) -> Policy:
        """The policy that applies to ``path``: path globs resolved, only matching blocks kept."""
        if not any(r.paths for r in self.requirements) and not any(r.paths for r in self.rules):
            return self
        rel = self.relative_path(path)
        req_hits = tuple(i for i, r in enumerate(self.requirements)
                         if not r.paths or any(glob_match(g, rel) for g in r.paths))
        rule_hits = tuple(i for i, r in enumerate(self.rules)
                          if not r.paths or any(glob_match(g, rel) for g in r.paths))
        return self._applied(req_hits, rule_hits)

    def _applied(self, req_hits: tuple[int, ...], rule_hits: tuple[int, ...]) -> Policy:
        cache: dict[tuple[tuple[int, ...], tuple[int, ...]], Policy] = self.__dict__.setdefault(
            "_applied_cache", {})
        key = (req_hits, rule_hits)
        found = cache.get(key)
        if found is None:
            found = replace(
                self,
                requirements=tuple(replace(self.requirements[i], paths=()) for i in req_hits),
                rules=tuple(replace(self.rules[i], paths=()) for i in rule_hits),
            )
            cache[key] = found
        return found

    def level(self, code: str, default: Severity) -> Level:
        """The severity a finding with ``code`` gets: the policy's override, else ``default``
        (the severity the check gave it, from :data:`RULES` or the rule's own)."""
        return self.severity.get(code, default)

    def apply(self, findings: Iterable[Finding]) -> list[Finding]:
        """Findings with this policy's severities; those turned ``"off"`` are dropped."""
        out = []
        for f in findings:
            level = self.level(f.code, f.severity)
            if level == "off":
                continue
            out.append(f if level == f.severity else replace(f, severity=level))
        return out

    def rule_infos(self) -> dict[str, RuleInfo]:
        """Descriptions of every check this policy can report: the catalogue and its own rules,
        with this policy's severities (for SARIF rule descriptors and docs)."""
        out: dict[str, RuleInfo] = {}
        for code, info in RULES.items():
            level = self.severity.get(code, info.severity)
            if level != "off":
                out[code] = replace(info, severity=level)
        for rule in self.rules:
            level = self.severity.get(rule.code, rule.severity)
            if level != "off":
                out[rule.code] = RuleInfo(rule.code, level, rule.message, rule.message)
        return out


_DEFAULT: Final = Policy()


# -- finding and reading policy files ---------------------------------------------------------


def _policy_in(directory: str) -> str | None:
    """The policy file in ``directory`` itself, if any."""
    candidate = os.path.join(directory, POLICY_FILE)
    if os.path.isfile(candidate):
        return candidate
    pyproject = os.path.join(directory, "pyproject.toml")
    if os.path.isfile(pyproject):
        try:
            with open(pyproject, "rb") as f:
                head = f.read(1 << 20)
        except OSError:
            return None
        if re.search(rb"^\s*\[\s*tool\s*\.\s*photometa\s*[\].]", head, re.M):
            return pyproject
    return None


def find_policy(path: str | os.PathLike[str]) -> Path | None:
    """The policy that governs ``path``: the nearest ``photometa.toml``, or ``pyproject.toml``
    with a ``[tool.photometa]`` table, in the file's folder or above it; ``None`` when there is
    none. (:class:`PolicyResolver` does the same for many files, looking at each folder once.)
    """
    return PolicyResolver().source_of(path)


@lru_cache(maxsize=256)
def _load_version(path: str, mtime_ns: int, size: int) -> Policy:
    return load_policy(path)


def _load_cached(path: str | os.PathLike[str]) -> Policy:
    """``load_policy``, parsed again only when the file changed."""
    try:
        st = os.stat(path)
    except OSError:
        return load_policy(path)  # raises the PolicyError that names the problem
    return _load_version(os.fspath(path), st.st_mtime_ns, st.st_size)


class PolicyResolver:
    """The policy of each of many files: one given for all, or the one found above each file.

    Each folder is looked at once and each policy file read once per resolver; ``loaded`` maps the
    policy files used so far to their policies.

    Raises:
        PolicyError: (from :meth:`for_file` and the constructor) a policy file is broken.
    """

    def __init__(self, policy: Policy | str | os.PathLike[str] | None = None) -> None:
        self.fixed: Policy | None
        self.fixed_source: Path | None = None
        if policy is None or isinstance(policy, Policy):
            self.fixed = policy
        else:
            self.fixed = _load_cached(policy)
            self.fixed_source = Path(policy)
        self.loaded: dict[Path, Policy] = {}
        self._dirs: dict[str, str | None] = {}
        self._by_folder: dict[str, Policy] = {}

    def _find(self, directory: str) -> str | None:
        chain = []
        found: str | None = None
        d = directory
        while True:
            if d in self._dirs:
                found = self._dirs[d]
                break
            chain.append(d)
            here = _policy_in(d)
            if here is not None:
                found = here
                break
            parent = os.path.dirname(d)
            if parent == d:
                break
            d = parent
        for seen in chain:
            self._dirs[seen] = found
        return found

    def source_of(self, path: str | os.PathLike[str]) -> Path | None:
        """The policy file that governs ``path`` (the given one, if any)."""
        if self.fixed is not None:
            return self.fixed_source if self.fixed_source is not None else self.fixed.source
        p = os.path.abspath(path)
        found = self._find(p if os.path.isdir(p) else os.path.dirname(p))
        return Path(found) if found is not None else None

    def base(self, path: str | os.PathLike[str]) -> Policy:
        """The policy that governs ``path``, globs not yet resolved."""
        if self.fixed is not None:
            if self.fixed.source is not None:
                self.loaded.setdefault(self.fixed.source, self.fixed)
            return self.fixed
        folder = os.path.dirname(os.fspath(path))
        known = self._by_folder.get(folder)
        if known is not None:
            return known
        source = self.source_of(path)
        if source is None:
            policy = _DEFAULT
        else:
            policy = self.loaded.get(source) or _load_cached(source)
            self.loaded[source] = policy
        self._by_folder[folder] = policy
        return policy

    def for_file(self, path: str | os.PathLike[str]) -> Policy:
        """The policy that applies to ``path``, path globs resolved."""
        return self.base(path).for_path(path)


def load_policy(path: str | os.PathLike[str] | None) -> Policy:
    """Read a policy file (``photometa.toml``, or a ``pyproject.toml`` with ``[tool.photometa]``);
    ``None`` gives the built-in defaults.

    Raises:
        PolicyError: the file cannot be read or is not a valid policy; the message names the line.
    """
    if path is None:
        return Policy()
    p = Path(path)
    try:
        text = p.read_text("utf-8")
    except UnicodeDecodeError as err:
        raise PolicyError(f"not UTF-8 text (byte {err.start})", path=p, code="policy-syntax",
                          offset=err.start) from None
    except OSError as err:
        raise PolicyError(f"cannot read policy: {err.strerror or err}", path=p,
                          code="policy-io") from None
    return parse_policy(text, source=p, pyproject=p.name == "pyproject.toml")


_TOML_POS: Final = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")


def parse_policy(text: str, *, source: Path | None = None, pyproject: bool = False) -> Policy:
    """Parse policy TOML text. With ``pyproject=True`` the policy is the ``[tool.photometa]`` table.

    Raises:
        PolicyError: the text is not valid TOML or not a valid policy; the message names the line.
    """
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        msg = str(err)
        m = _TOML_POS.search(msg)
        where = f"line {m.group(1)}, column {m.group(2)}: " if m else ""
        reason = msg[: m.start()] if m else msg
        raise PolicyError(f"{where}not valid TOML: {reason}", path=source,
                          code="policy-syntax") from None
    prefix: tuple[str, ...] = ()
    if pyproject:
        prefix = ("tool", "photometa")
        tool = data.get("tool", {})
        if not isinstance(tool, dict) or not isinstance(tool.get("photometa"), dict):
            raise PolicyError("pyproject.toml has no [tool.photometa] table", path=source,
                              code="policy-missing")
        data = tool["photometa"]
    return _Parser(text, source, prefix).policy(data)


# -- line numbers for errors ------------------------------------------------------------------

_KEY_PART = r'(?:"(?:[^"\\]|\\.)*"|\'[^\']*\'|[A-Za-z0-9_-]+)'
_KEY_LINE: Final = re.compile(rf"^\s*({_KEY_PART}(?:\s*\.\s*{_KEY_PART})*)\s*=")
_HEADER_LINE: Final = re.compile(rf"^\s*(\[\[?)\s*({_KEY_PART}(?:\s*\.\s*{_KEY_PART})*)\s*\]")
_KEY_SPLIT: Final = re.compile(_KEY_PART)

PathKey = tuple[str | int, ...]


def _split_key(text: str) -> tuple[str, ...]:
    parts = []
    for m in _KEY_SPLIT.finditer(text):
        part = m.group(0)
        if part[0] in "\"'":
            part = part[1:-1]
        parts.append(part)
    return tuple(parts)


class _Locator:
    """Maps key paths of a TOML document to line numbers (a light scan, good for messages)."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.at: dict[PathKey, int] = {}
        arrays: dict[tuple[str, ...], int] = {}
        table: PathKey = ()
        for n, line in enumerate(self.lines, 1):
            header = _HEADER_LINE.match(line)
            if header:
                name = _split_key(header.group(2))
                resolved: list[str | int] = []
                for i in range(1, len(name) + 1):
                    resolved.append(name[i - 1])
                    if name[:i] in arrays and i < len(name):
                        resolved.append(arrays[name[:i]] - 1)
                if header.group(1) == "[[":
                    arrays[name] = arrays.get(name, 0) + 1
                    resolved.append(arrays[name] - 1)
                table = tuple(resolved)
                self.at.setdefault(table, n)
                continue
            key = _KEY_LINE.match(line)
            if key:
                self.at.setdefault(table + _split_key(key.group(1)), n)

    def line(self, path: PathKey) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        for i in range(len(path), 0, -1):
            n = self.at.get(path[:i])
            if n is not None:
                return n
        return None

    def value_line(self, path: PathKey, value: str) -> int | None:
        """The line at or after ``path``'s key where the quoted ``value`` appears."""
        start = self.line(path)
        if start is None:
            return None
        needles = (json.dumps(value), f"'{value}'")
        for n in range(start, len(self.lines) + 1):
            text = self.lines[n - 1]
            if n > start and (_HEADER_LINE.match(text) or _KEY_LINE.match(text)):
                break
            if any(needle in text for needle in needles):
                return n
        return start


class _Parser:
    """Checks the parsed TOML against the policy format, naming the line of the first problem."""

    def __init__(self, text: str, source: Path | None, prefix: tuple[str, ...]) -> None:
        self.text = text
        self.source = source
        self.prefix = prefix
        self._locator: _Locator | None = None

    def fail(self, where: PathKey, msg: str, value: str | None = None) -> PolicyError:
        if self._locator is None:
            self._locator = _Locator(self.text)
        full = self.prefix + where
        line = (self._locator.value_line(full, value) if value is not None
                else self._locator.line(full))
        shown = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in where)
        shown = shown.replace(".[", "[")
        prefix = f"line {line}: " if line is not None else ""
        return PolicyError(f"{prefix}{msg} (in {shown or 'the policy'})", path=self.source,
                           code="policy-invalid")

    # -- typed getters --

    def table(self, where: PathKey, value: Any, allowed: Iterable[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"expected a table, got {_kind(value)}")
        known = tuple(allowed)
        for key in value:
            if key not in known:
                hint = difflib.get_close_matches(key, known, n=1)
                extra = (f"; did you mean {hint[0]!r}?" if hint
                         else f"; expected one of {', '.join(known)}")
                raise self.fail((*where, key), f"unknown key {key!r}{extra}")
        return value

    def strings(self, where: PathKey, value: Any) -> list[str]:
        if not isinstance(value, list):
            raise self.fail(where, f"expected a list of strings, got {_kind(value)}")
        for item in value:
            if not isinstance(item, str):
                raise self.fail(where, f"expected a list of strings, found {_kind(item)}")
        return value

    def field_names(self, where: PathKey, value: Any) -> tuple[str, ...]:
        names = self.strings(where, value)
        for name in names:
            self.field_name(where, name)
        return tuple(names)

    def field_name(self, where: PathKey, name: Any) -> str:
        if not isinstance(name, str):
            raise self.fail(where, f"expected a field name, got {_kind(name)}")
        if name not in FIELD_NAMES:
            hint = difflib.get_close_matches(name, FIELD_NAMES, n=1)
            extra = f"; did you mean {hint[0]!r}?" if hint else "; see `photometa schema`"
            raise self.fail(where, f"unknown field {name!r}{extra}", value=name)
        return name

    def severity(self, where: PathKey, value: Any, *, off: bool = False) -> Any:
        allowed = _LEVELS if off else _LEVELS[:3]
        if value not in allowed:
            raise self.fail(where, f"severity must be one of {', '.join(allowed)}, got {value!r}")
        return value

    def globs(self, where: PathKey, value: Any) -> tuple[str, ...]:
        globs = self.strings(where, value)
        for g in globs:
            if not g.strip():
                raise self.fail(where, "empty path glob", value=g)
        return tuple(globs)

    def code(self, where: PathKey, value: Any) -> str:
        if not isinstance(value, str) or not _CODE_RE.fullmatch(value):
            raise self.fail(where, "a code is lower-case letters, digits and hyphens, "
                            f"got {value!r}")
        return value

    # -- the document --

    def policy(self, data: dict[str, Any]) -> Policy:
        self.table((), data, ("$schema", "version", "required", "require", "vocabulary",
                              "countries", "severity", "rule"))
        version = data.get("version", POLICY_VERSION)
        if version != POLICY_VERSION or isinstance(version, bool):
            raise self.fail(("version",), f"unsupported policy version {version!r} "
                            f"(this photometa reads version {POLICY_VERSION})")
        required = self.field_names(("required",), data.get("required", []))
        requirements = tuple(self.requirement(("require", i), block)
                             for i, block in enumerate(self.array(("require",), data)))
        extra, keywords = self.vocabulary(data.get("vocabulary", {}))
        countries, tolerance = self.countries(data.get("countries", {}))
        rules = tuple(self.rule(("rule", i), block)
                      for i, block in enumerate(self.array(("rule",), data)))
        codes = [r.code for r in rules]
        for i, code in enumerate(codes):
            if code in RULES:
                raise self.fail(("rule", i, "code"), f"{code!r} is a built-in check; "
                                "change its severity under [severity] or pick another code")
            if code in codes[:i]:
                raise self.fail(("rule", i, "code"), f"code {code!r} is used by another rule")
        severity = self.severities(data.get("severity", {}), set(codes))
        root = self.source.parent if self.source is not None else None
        return Policy(required=required, requirements=requirements, extra_terms=extra,
                      keywords=keywords, countries=countries, gps_tolerance_km=tolerance,
                      severity=severity, rules=rules, root=root, source=self.source)

    def array(self, where: PathKey, data: dict[str, Any]) -> list[Any]:
        value = data.get(str(where[0]), [])
        if not isinstance(value, list):
            raise self.fail(where, f"expected [[{where[0]}]] tables, got {_kind(value)}")
        return value

    def requirement(self, where: PathKey, block: Any) -> Requirement:
        block = self.table(where, block, ("paths", "fields", "severity"))
        if "fields" not in block:
            raise self.fail(where, "a [[require]] block needs 'fields'")
        return Requirement(
            fields=self.field_names((*where, "fields"), block["fields"]),
            paths=self.globs((*where, "paths"), block.get("paths", [])),
            severity=self.severity((*where, "severity"), block.get("severity", "error")),
        )

    def vocabulary(self, value: Any) -> tuple[dict[str, list[str]], frozenset[str] | None]:
        table = self.table(("vocabulary",), value, _VOCAB_FIELDS)
        extra: dict[str, list[str]] = {}
        keywords = None
        for name, terms in table.items():
            items = self.strings(("vocabulary", name), terms)
            if name == "subject.keywords":
                keywords = frozenset(t.strip().casefold() for t in items if t.strip())
            else:
                for t in items:
                    if not _term(t):
                        raise self.fail(("vocabulary", name), "empty term", value=t)
                extra[name] = [_term(t) for t in items]
        return extra, keywords

    def countries(self, value: Any) -> tuple[frozenset[str] | None, float]:
        table = self.table(("countries",), value, ("allowed", "gps_tolerance_km"))
        allowed = None
        if "allowed" in table:
            codes = self.strings(("countries", "allowed"), table["allowed"])
            found = set()
            for code in codes:
                alpha2 = _country_alpha2(code)
                if alpha2 is None:
                    raise self.fail(("countries", "allowed"),
                                    f"{code!r} is not an ISO 3166-1 alpha-2 or alpha-3 code",
                                    value=code)
                found.add(alpha2)
            allowed = frozenset(found)
        tolerance = table.get("gps_tolerance_km", DEFAULT_GPS_TOLERANCE_KM)
        if (isinstance(tolerance, bool) or not isinstance(tolerance, (int, float))
                or not math.isfinite(tolerance) or tolerance < 0):
            raise self.fail(("countries", "gps_tolerance_km"),
                            f"expected a number of kilometres >= 0, got {tolerance!r}")
        return allowed, float(tolerance)

    def severities(self, value: Any, custom: set[str]) -> dict[str, Level]:
        if not isinstance(value, dict):
            raise self.fail(("severity",), f"expected a table, got {_kind(value)}")
        out: dict[str, Level] = {}
        for code, level in value.items():
            self.code(("severity", code), code)
            if code not in RULES and code not in custom:
                hint = difflib.get_close_matches(code, [*RULES, *custom], n=1, cutoff=0.75)
                if hint:
                    raise self.fail(("severity", code),
                                    f"unknown check {code!r}; did you mean {hint[0]!r}?")
            out[code] = self.severity(("severity", code), level, off=True)
        return out

    def rule(self, where: PathKey, block: Any) -> CustomRule:
        block = self.table(where, block, ("code", "message", "severity", "paths", "when",
                                          "require", "expect"))
        for key in ("code", "message"):
            if key not in block:
                raise self.fail(where, f"a [[rule]] needs {key!r}")
        message = block["message"]
        if not isinstance(message, str) or not message.strip():
            raise self.fail((*where, "message"), "expected a non-empty string")
        require = self.field_names((*where, "require"), block.get("require", []))
        expect = self.conditions((*where, "expect"), block.get("expect", {}))
        if not require and not expect:
            raise self.fail(where, "a [[rule]] needs 'require' or 'expect' (what it checks)")
        return CustomRule(
            code=self.code((*where, "code"), block["code"]),
            message=message.strip(),
            severity=self.severity((*where, "severity"), block.get("severity", "error")),
            paths=self.globs((*where, "paths"), block.get("paths", [])),
            when=self.conditions((*where, "when"), block.get("when", {})),
            require=require,
            expect=expect,
        )

    def conditions(self, where: PathKey, value: Any) -> tuple[Condition, ...]:
        if not isinstance(value, dict):
            raise self.fail(where, f"expected a table of field = {{ test }}, got {_kind(value)}")
        out = []
        for name, test in value.items():
            self.field_name(where, name)
            out.append(self.condition((*where, name), name, test))
        return tuple(out)

    def condition(self, where: PathKey, name: str, test: Any) -> Condition:
        test = self.table(where, test, _CONDITION_KEYS)
        if not test:
            raise self.fail(where, f"empty test; use one of {', '.join(_CONDITION_KEYS)}")
        kwargs: dict[str, Any] = {}
        for key, value in test.items():
            at = (*where, key)
            if key == "present":
                if not isinstance(value, bool):
                    raise self.fail(at, f"expected true or false, got {value!r}")
                kwargs["present"] = value
            elif key == "equals":
                if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                    raise self.fail(at, f"expected text or a number, got {_kind(value)}")
                kwargs["equals"] = str(value)
            elif key in ("in", "not_in"):
                kwargs["in_" if key == "in" else key] = tuple(self.strings(at, value))
            elif key == "matches":
                if not isinstance(value, str):
                    raise self.fail(at, f"expected a regular expression, got {_kind(value)}")
                try:
                    re.compile(value)
                except re.error as err:
                    raise self.fail(at, f"not a valid regular expression: {err}") from None
                kwargs["matches"] = value
            else:
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise self.fail(at, f"expected a number, got {_kind(value)}")
                kwargs[key] = float(value)
        return Condition(name, **kwargs)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    return type(value).__name__


# -- JSON Schema of the policy format ---------------------------------------------------------


def policy_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft-07) of a policy, shipped as ``schemas/policy.schema.json`` so editors
    (Taplo / Even Better TOML, VS Code) can check ``photometa.toml`` as it is typed."""
    field_enum = {"type": "string", "enum": list(FIELD_NAMES)}
    severity = {"type": "string", "enum": list(_LEVELS[:3])}
    globs = {"type": "array", "items": {"type": "string", "minLength": 1},
             "description": "Path globs relative to the policy's folder: * and ? stay within a "
             "folder, ** crosses folders; a glob without / matches the file name anywhere."}
    condition = {
        "type": "object",
        "additionalProperties": False,
        "minProperties": 1,
        "properties": {
            "present": {"type": "boolean"},
            "equals": {"type": ["string", "number"]},
            "in": {"type": "array", "items": {"type": "string"}},
            "not_in": {"type": "array", "items": {"type": "string"}},
            "matches": {"type": "string", "format": "regex"},
            "min": {"type": "number"},
            "max": {"type": "number"},
        },
    }
    tests = {"type": "object", "propertyNames": field_enum,
             "additionalProperties": {"$ref": "#/definitions/condition"}}
    code = {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*$"}
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": "urn:photometa:schema:policy:1",
        "title": "photometa archive policy",
        "description": "photometa.toml, or [tool.photometa] in pyproject.toml. See docs/policy.md.",
        "type": "object",
        "additionalProperties": False,
        "definitions": {"condition": condition, "field": field_enum},
        "properties": {
            "$schema": {"type": "string"},
            "version": {"const": POLICY_VERSION, "description": "Policy format version."},
            "required": {"type": "array", "items": {"$ref": "#/definitions/field"},
                         "description": "Fields every file must have."},
            "require": {
                "type": "array",
                "description": "Fields required of the files that match path globs.",
                "items": {"type": "object", "additionalProperties": False,
                          "required": ["fields"],
                          "properties": {"paths": globs,
                                         "fields": {"type": "array",
                                                    "items": {"$ref": "#/definitions/field"}},
                                         "severity": severity}},
            },
            "vocabulary": {
                "type": "object",
                "additionalProperties": False,
                "description": "Terms added to the built-in vocabularies; subject.keywords, when "
                "given, is the closed list of allowed keywords.",
                "properties": {name: {"type": "array", "items": {"type": "string"}}
                               for name in _VOCAB_FIELDS},
            },
            "countries": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "allowed": {"type": "array",
                                "items": {"type": "string", "pattern": "^[A-Za-z]{2,3}$"},
                                "description": "ISO 3166-1 alpha-2 or alpha-3 codes."},
                    "gps_tolerance_km": {"type": "number", "minimum": 0,
                                         "default": DEFAULT_GPS_TOLERANCE_KM},
                },
            },
            "severity": {
                "type": "object",
                "description": "Severity by finding code; \"off\" turns a check off.",
                "propertyNames": code,
                "properties": {c: {"enum": list(_LEVELS), "description": info.title}
                               for c, info in RULES.items()},
                "additionalProperties": {"enum": list(_LEVELS)},
            },
            "rule": {
                "type": "array",
                "description": "Conditional rules: when every 'when' test holds, the 'require' "
                "fields must be present and the 'expect' tests must hold.",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["code", "message"],
                    "anyOf": [{"required": ["require"]}, {"required": ["expect"]}],
                    "properties": {
                        "code": {**code, "not": {"enum": list(RULES)}},
                        "message": {"type": "string", "minLength": 1},
                        "severity": severity,
                        "paths": globs,
                        "when": tests,
                        "require": {"type": "array", "items": {"$ref": "#/definitions/field"}},
                        "expect": tests,
                    },
                },
            },
        },
    }
