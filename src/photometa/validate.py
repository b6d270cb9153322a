"""Validation: the checks beyond the schema's types, applied to one file or to a whole archive.

Per file, the cost is the metadata read; every check here works on what that read gave (the
reconciled :class:`~photometa.PhotoContext` and the decoded EXIF / IPTC-IIM / XMP homes) and does
a few dictionary look-ups and regular-expression scans. :func:`validate_many` adds the archive-scale
parts: a policy found per folder, parallel workers, and a content-keyed cache.
"""

from __future__ import annotations

import json
import math
import os
import re
import unicodedata
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Final, TypeVar

import pycountry

from . import _git
from ._binary import DEFAULT_LIMITS, Limits
from ._cache import ValidationCache, content_digest
from ._metadata import Metadata
from .api import read_with_sidecar
from .codecs import exif as exif_codec
from .codecs.iptc import DATASET_NAMES, decode_text, truncate_utf8
from .errors import PhotometaError
from .formats import sidecar as sidecars
from .mapping import ROWS, Row
from .model import FIELD_PATHS, PhotoContext
from .policy import RULES, Policy, PolicyResolver
from .report import Finding, Report

__all__ = [
    "check_context",
    "check_metadata",
    "country_boxes",
    "repair_mojibake",
    "select_changed",
    "validate",
    "validate_many",
    "validate_stream",
]

T = TypeVar("T")
R = TypeVar("R")
Runner = Callable[[Callable[[T], R], Iterable[T]], Iterator[R]]

_TIME_DEPENDENT: Final = frozenset({"captured-in-future"})
_IO_CODES: Final = frozenset({"not-found", "io", "permission"})
_KM_PER_DEGREE: Final = 111.32


def _finding(field: str | None, code: str, message: str, offset: int | None = None) -> Finding:
    return Finding(field, code, message, RULES[code].severity, offset)


def _show(value: str, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


# -- text: mojibake and broken UTF-8 ----------------------------------------------------------

# characters Windows-1252 maps bytes 0x80-0x9F to, besides the Latin-1 range
_CP1252_EXTRA: Final = "€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ"
_RUN: Final = re.compile(f"[\u0080-\u00ff{_CP1252_EXTRA}]{{2,}}")
_LEAD_THEN_CONT: Final = re.compile(f"[\u00c2-\u00f4][\u0080-\u00bf{_CP1252_EXTRA}]")


def _unmangle(run: str) -> str | None:
    for codec in ("cp1252", "latin-1"):
        try:
            raw = run.encode(codec)
        except UnicodeEncodeError:
            continue
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            continue
    return None


def repair_mojibake(text: str) -> str | None:
    """The text as it was meant, when it looks like UTF-8 decoded as Windows-1252 or Latin-1
    (``"CafÃ©"`` gives ``"Café"``); ``None`` when it does not look like mojibake.

    Only runs of Latin-1 / Windows-1252 characters that decode as valid UTF-8 are repaired, so
    ordinary accented text (``"Größe"``, ``"à la"``) is never taken for mojibake.
    """
    if not _LEAD_THEN_CONT.search(text):
        return None
    changed = False

    def fix(m: re.Match[str]) -> str:
        nonlocal changed
        run = m.group(0)
        fixed = _unmangle(run)
        if fixed is None or fixed == run:
            return run
        changed = True
        return fixed

    repaired = _RUN.sub(fix, text)
    return repaired if changed else None


def _by_section(names: Iterable[str]) -> tuple[tuple[str | None, tuple[tuple[str, str], ...]],
                                                ...]:
    """Dotted paths of one or two parts grouped by section, ``(section, ((attribute, path),
    ...))``, in their order: each section object is looked up once per context."""
    groups: dict[str | None, list[tuple[str, str]]] = {}
    for name in names:
        section, _, attr = name.rpartition(".")
        groups.setdefault(section or None, []).append((attr, name))
    return tuple((section, tuple(fields)) for section, fields in groups.items())


_TEXT_FIELDS: Final = _by_section(
    name for name in FIELD_PATHS if not name.startswith("location.gps") and name != "captured_at"
)


def _texts(ctx: PhotoContext) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for section, fields in _TEXT_FIELDS:
        node = ctx if section is None else getattr(ctx, section)
        for attr, name in fields:
            value = getattr(node, attr)
            if value is None:
                continue
            if isinstance(value, str):
                out.append((name, value))
            elif isinstance(value, list):
                out.extend((name, item) for item in value if isinstance(item, str))
    return out


def _text_findings(ctx: PhotoContext) -> list[Finding]:
    out: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    for name, text in _texts(ctx):
        if text.isascii():  # nearly every value: neither check can find anything in ASCII
            continue
        if "\ufffd" in text and (name, "u") not in seen:
            seen.add((name, "u"))
            out.append(_finding(name, "text-invalid-utf8",
                                f"{_show(text)} holds U+FFFD replacement characters: bytes that "
                                "were not valid UTF-8 were lost when the value was stored"))
        fixed = repair_mojibake(text)
        if fixed is not None and (name, "m") not in seen:
            seen.add((name, "m"))
            out.append(_finding(name, "text-mojibake",
                                f"{_show(text)} looks like mojibake (UTF-8 read as Windows-1252); "
                                f"probably meant {_show(fixed)}"))
    return out


def _home_label(row: Row, kind: str, index: int = 0) -> str:
    labels = row.labels()[kind]
    return labels[index] if index < len(labels) else "?"


# the homes of text fields: IIM datasets and EXIF ASCII tags, by schema path
_IIM_TEXT_HOMES: Final = {home: row.path for row in ROWS for home in row.iim}
_EXIF_TEXT_HOMES: Final = tuple((home, row.path) for row in ROWS if row.convert != "gps"
                                for home in row.exif)


def _not_utf8(value: bytes) -> int | None:
    """The offset of the first byte that is not valid UTF-8, or ``None``."""
    if value.isascii():
        return None
    try:
        value.decode("utf-8")
    except UnicodeDecodeError as err:
        return err.start
    return None


def _raw_utf8_findings(md: Metadata) -> list[Finding]:
    out: list[Finding] = []
    flagged: set[str] = set()
    iim = md.iim
    if iim is not None:
        for ds in iim.datasets:
            path = _IIM_TEXT_HOMES.get((ds.record, ds.number))
            if path is None or path in flagged:
                continue
            value = ds.value.rstrip(b"\0")
            bad = _not_utf8(value)
            if bad is None:
                continue
            flagged.add(path)
            name = DATASET_NAMES.get((ds.record, ds.number), f"{ds.record}:{ds.number}")
            why = ("although the block declares UTF-8 (1:90)" if iim.utf8 else
                   "and the block declares no character set (1:90), so readers guess")
            out.append(_finding(
                path, "text-invalid-utf8",
                f"IPTC-IIM {name} holds bytes that are not UTF-8 (value byte {bad}) {why}; "
                f"read as {_show(decode_text(value))}"))
    exif = md.exif
    if exif is not None:
        for (ifd, tag), path in _EXIF_TEXT_HOMES:
            entry = exif.entry(ifd, tag)
            if (entry is None or path in flagged
                    or entry.type not in (exif_codec.ASCII, exif_codec.UTF8)):
                continue
            bad = _not_utf8(entry.raw.replace(b"\0", b""))
            if bad is None:
                continue
            flagged.add(path)
            out.append(_finding(
                path, "text-invalid-utf8",
                f"EXIF {entry.name} holds bytes that are not UTF-8 (value byte {bad}); "
                "readers that expect UTF-8 show them as garbage"))
    return out


def _fold(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip().casefold()


def _duplicates(items: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    dupes: list[str] = []
    for item in items:
        key = _fold(item)
        if key in seen and item not in dupes:
            dupes.append(item)
        seen.add(key)
    return dupes


_KEYWORDS_ROW: Final = next(r for r in ROWS if r.path == "subject.keywords")


def _duplicate_keyword_findings(md: Metadata) -> list[Finding]:
    homes: list[tuple[str, list[str]]] = []
    if md.xmp is not None:
        for home in _KEYWORDS_ROW.xmp:
            values = md.xmp.get(home.path, home.kind)
            if isinstance(values, list) and len(values) > 1:
                homes.append((f"XMP {home.path}", values))
    if md.iim is not None:
        for rec, num in _KEYWORDS_ROW.iim:
            values = md.iim.get(rec, num)
            if len(values) > 1:
                homes.append((f"IPTC-IIM {DATASET_NAMES.get((rec, num), f'{rec}:{num}')}",
                              values))
    out = []
    for label, values in homes:
        dupes = _duplicates(v for v in values if isinstance(v, str) and v.strip())
        if dupes:
            shown = ", ".join(_show(d, 40) for d in dupes)
            out.append(_finding("subject.keywords", "keyword-duplicate",
                                f"{label} lists {shown} more than once (ignoring case)"))
    return out


def check_metadata(md: Metadata) -> list[Finding]:
    """Findings about how values are stored, beyond what they mean: text in bytes that are not
    UTF-8, and keywords listed twice in one home. Severities are the catalogue's defaults."""
    return _raw_utf8_findings(md) + _duplicate_keyword_findings(md)


# -- places: countries and GPS ----------------------------------------------------------------


@lru_cache(maxsize=1)
def country_boxes() -> dict[str, tuple[tuple[float, float, float, float], ...]]:
    """Bounding boxes (lon_min, lat_min, lon_max, lat_max) by ISO 3166-1 alpha-2 code, from
    ``schemas/country-boxes.json`` (Natural Earth; see docs/decisions/0005)."""
    text = resources.files("photometa").joinpath("data/country-boxes.json").read_text("utf-8")
    data = json.loads(text)["boxes"]
    return {code: tuple((b[0], b[1], b[2], b[3]) for b in boxes) for code, boxes in data.items()}


@lru_cache(maxsize=1024)
def _alpha2(code: str | None, name: str | None) -> str | None:
    if code:
        c = code.upper()
        found = (pycountry.countries.get(alpha_2=c) if len(c) == 2
                 else pycountry.countries.get(alpha_3=c))
        return None if found is None else str(found.alpha_2)
    if name:
        try:
            return str(pycountry.countries.lookup(name).alpha_2)
        except LookupError:
            return None
    return None


def _km_outside(lat: float, lon: float, boxes: Iterable[tuple[float, float, float, float]]
                ) -> float:
    """Distance in km from the point to the nearest box (0 inside one); equirectangular."""
    best = math.inf
    coslat = max(math.cos(math.radians(lat)), 1e-6)
    for lon_min, lat_min, lon_max, lat_max in boxes:
        dy = max(lat_min - lat, 0.0, lat - lat_max)
        dx = math.inf
        for shifted in (lon, lon - 360.0, lon + 360.0):
            dx = min(dx, max(lon_min - shifted, 0.0, shifted - lon_max))
        d = _KM_PER_DEGREE * math.hypot(dx * coslat, dy)
        if d < best:
            best = d
            if d == 0.0:
                break
    return best


def _place_findings(ctx: PhotoContext, policy: Policy) -> list[Finding]:
    loc = ctx.location
    if loc.country_code is None and loc.country is None:
        return []
    alpha2 = _alpha2(loc.country_code, None if loc.country_code else loc.country)
    out = []
    named = loc.country_code or loc.country
    if policy.countries is not None and alpha2 is not None and alpha2 not in policy.countries:
        out.append(_finding("location.country_code", "country-not-allowed",
                            f"{named} is not one of the archive's countries "
                            f"({', '.join(sorted(policy.countries))})"))
    if loc.gps is not None and alpha2 is not None:
        boxes = country_boxes().get(alpha2)
        if boxes:
            km = _km_outside(loc.gps.latitude, loc.gps.longitude, boxes)
            if km > policy.gps_tolerance_km:
                out.append(_finding(
                    "location.gps", "gps-outside-country",
                    f"GPS {loc.gps.latitude:.4f}, {loc.gps.longitude:.4f} is about {km:.0f} km "
                    f"outside {named} ({alpha2}); the tolerance is {policy.gps_tolerance_km:g} km"))
    return out


# -- the checks on the reconciled context -----------------------------------------------------


def _time_findings(ctx: PhotoContext, now: datetime) -> list[Finding]:
    when = ctx.captured_at
    if when is None:
        return []
    if when.tzinfo is not None:
        future = when > now
    else:  # no offset: the latest local time anywhere on Earth is UTC+14
        future = when > now.astimezone(timezone.utc).replace(tzinfo=None) + timedelta(hours=14)
    if not future:
        return []
    return [_finding("captured_at", "captured-in-future",
                     f"{when.isoformat()} is later than now ({now.isoformat(timespec='seconds')})")]


_IIM_LIMITS: Final = tuple((row, row.iim_max_bytes, tuple(row.path.split(".")))
                          for row in ROWS if row.iim_max_bytes is not None and row.iim)


def _iim_findings(ctx: PhotoContext) -> list[Finding]:
    out = []
    for row, limit, parts in _IIM_LIMITS:
        value: Any = ctx
        for part in parts:  # ctx.get_path(row.path), without splitting the path per file
            if value is None:
                break
            value = getattr(value, part)
        if value is None or value == []:
            continue
        items = value if isinstance(value, list) else [value]
        if row.convert == "joined" and isinstance(value, str):
            items = [v.strip() for v in value.split(";")]
        for item in items:
            if not isinstance(item, str) or len(item) * 4 <= limit:
                continue
            size = len(item.encode("utf-8"))
            if size > limit:
                label = _home_label(row, "iim")
                kept = truncate_utf8(item, limit)
                out.append(_finding(
                    row.path, "iim-too-long",
                    f"{_show(item, 50)} is {size} bytes in UTF-8 but IPTC-IIM {label} holds "
                    f"{limit}; IIM readers see {_show(kept, 50)}"))
    return out


def _rule_findings(ctx: PhotoContext, policy: Policy) -> list[Finding]:
    out: list[Finding] = []
    r = ctx.restriction
    if r.status is not None and r.status != "unrestricted":
        if r.reason is None:
            out.append(_finding("restriction.reason", "restriction-needs-reason",
                                f"restriction.status is {r.status!r} but no reason is given"))
        if r.authority is None:
            out.append(_finding("restriction.authority", "restriction-needs-authority",
                                f"restriction.status is {r.status!r} but no authority says who "
                                "imposed or requested it"))
    p = ctx.photographer
    if p.credit is not None and p.name is None:
        out.append(_finding("photographer.name", "credit-needs-photographer",
                            f"the credit line {_show(p.credit, 40)} names no photographer "
                            "(photographer.name is empty)"))
    for rule in policy.rules:
        out.extend(rule.check(ctx))
    return out


def _required_findings(ctx: PhotoContext, policy: Policy) -> list[Finding]:
    out = []
    done: set[str] = set()
    blocks: list[tuple[tuple[str, ...], Any]] = [(policy.required, None)]
    blocks += [(req.fields, req.severity) for req in policy.requirements]
    for fields, severity in blocks:
        for name in fields:
            if name in done:
                continue
            value = ctx.get_path(name)
            if value is None or value == []:
                done.add(name)
                f = _finding(name, "field-required", f"{name} is required by the policy")
                out.append(f if severity is None else Finding(f.field, f.code, f.message,
                                                              severity))
    return out


def _vocab_findings(ctx: PhotoContext, policy: Policy) -> list[Finding]:
    out = []
    for name, ids in policy.vocabulary_ids.items():
        value = ctx.get_path(name)
        if value is not None and value not in ids:
            out.append(_finding(name, "vocab-unknown",
                                f"{value!r} is not a term of {name} (allowed: "
                                f"{', '.join(sorted(ids))}; a policy may add terms)"))
    if policy.keywords is not None:
        unknown = [k for k in ctx.subject.keywords if k.casefold() not in policy.keywords]
        if unknown:
            out.append(_finding("subject.keywords", "keyword-unknown",
                                f"not in the archive's keyword list: "
                                f"{', '.join(_show(k, 40) for k in unknown)}"))
    return out


def check_context(ctx: PhotoContext, policy: Policy | None = None, *,
                  now: datetime | None = None) -> list[Finding]:
    """Findings for a context against a policy: required fields, vocabularies, countries and GPS,
    capture time, the conditional rules, IPTC-IIM byte limits, mojibake.

    Severities are the checks' own (catalogue defaults, or a rule's); :meth:`Policy.apply` gives
    the policy's overrides. ``now`` is the time that counts as the present (default: now).
    """
    pol = policy if policy is not None else Policy()
    moment = now if now is not None else datetime.now(timezone.utc)
    return [
        *_required_findings(ctx, pol),
        *_vocab_findings(ctx, pol),
        *_place_findings(ctx, pol),
        *_time_findings(ctx, moment),
        *_rule_findings(ctx, pol),
        *_iim_findings(ctx),
        *_text_findings(ctx),
    ]


# -- one file ---------------------------------------------------------------------------------


def _read_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Findings made while reading, with the catalogue's severity where the code is a check."""
    out = []
    for f in findings:
        info = RULES.get(f.code)
        out.append(f if info is None or info.severity == f.severity
                   else Finding(f.field, f.code, f.message, info.severity, f.offset))
    return out


def _inspect(path: Path, policy: Policy, limits: Limits) -> list[Finding]:
    try:
        _container, md, ctx, read, _side = read_with_sidecar(path, limits)
        findings = _read_findings(read)
        findings += check_metadata(md)
        findings += check_context(ctx, policy)
    except PhotometaError as err:
        findings = [Finding(err.field, err.code, err.msg, "error", err.offset)]
    except Exception as err:  # one odd file must not stop an archive's validation
        findings = [Finding(None, "internal-error",
                            f"photometa failed on this file ({type(err).__name__}: {err}); "
                            "please report it", "error")]
    return policy.apply(findings)


def validate(
    path: str | os.PathLike[str],
    policy: Policy | str | os.PathLike[str] | None = None,
    *,
    limits: Limits = DEFAULT_LIMITS,
) -> Report:
    """Validate the metadata of one file (and of its XMP sidecar, when it has one).

    Args:
        path: the image file.
        policy: a :class:`Policy`, the path of a policy file, or ``None`` for the policy that
            governs the file (the nearest ``photometa.toml`` or ``[tool.photometa]`` in
            ``pyproject.toml`` in its folder or above; the built-in defaults when there is none).
        limits: resource caps for reading.

    Returns:
        A :class:`Report`; ``report.ok`` is false when any finding is an error. A file that cannot
        be read gives a report with one error finding rather than an exception.

    Raises:
        PolicyError: the policy file is broken (the message names the line).
    """
    p = Path(path)
    return Report(p, _inspect(p, PolicyResolver(policy).for_file(p), limits))


# -- many files -------------------------------------------------------------------------------


CHUNK_FILES: Final = 32
"""Files handed to a worker process at a time by :func:`validate_many`."""

Stat = tuple[str, tuple[int, int], str]


@dataclass(frozen=True)
class _Chunk:
    """Files handed to a worker at once, and what it needs to check them: a few hundred bytes
    however many files share a policy."""

    paths: list[str]
    policies: tuple[Policy, ...]  # the distinct policies of these files
    which: tuple[int, ...] | None  # each file's policy, by index; None: all the first
    limits: Limits
    cache_db: str | None = None  # with a cache: the database, for read-only look-ups
    salts: tuple[str, ...] = ()  # ... the cache key salt of each policy
    sidecars: tuple[str | None, ...] = ()  # ... each file's sidecar
    content_ids: tuple[str | None, ...] = ()  # ... the content ids known without reading
    hits: tuple[tuple[Finding, ...] | None, ...] = ()  # ... results found in the cache


# a file's result from a worker, with a cache: findings, content id, stats, where found
_Cached = tuple[tuple[Finding, ...], str | None, tuple[Stat, ...], int]
_FRESH, _WORKER_HIT, _PARENT_HIT = 0, 1, 2  # validated; found in the cache by a worker, by us


def _check_chunk(chunk: _Chunk) -> list[tuple[Finding, ...]]:
    """Worker side, no cache: each file's findings (an empty tuple for a clean file)."""
    policies, which, limits = chunk.policies, chunk.which, chunk.limits
    out: list[tuple[Finding, ...]] = []
    for i, path in enumerate(chunk.paths):
        policy = policies[0] if which is None else policies[which[i]]
        findings = _inspect(Path(path), policy, limits)
        out.append(tuple(findings) if findings else ())
    return out


def _hash_content(path: str, sidecar: str | None) -> tuple[str | None, tuple[Stat, ...]]:
    """The content id of the file (and its sidecar, whose fields count too), by hashing."""
    parts, stats = [], []
    for p in (path, sidecar):
        if p is None:
            continue
        try:
            digest, st = content_digest(p)
        except OSError:
            return None, ()
        parts.append(f"sha256:{digest}")
        stats.append((p, st, parts[-1]))
    return "+".join(parts), tuple(stats)


def _check_chunk_cached(chunk: _Chunk) -> list[_Cached]:
    """Worker side, with a cache: hash what has no content id yet, look it up, else validate."""
    policies, which, limits = chunk.policies, chunk.which, chunk.limits
    out: list[_Cached] = []
    for i, path in enumerate(chunk.paths):
        k = 0 if which is None else which[i]
        known = chunk.hits[i]
        if known is not None:
            out.append((known, chunk.content_ids[i], (), _PARENT_HIT))
            continue
        content_id = chunk.content_ids[i]
        stats: tuple[Stat, ...] = ()
        if chunk.cache_db is not None and content_id is None:
            content_id, stats = _hash_content(path, chunk.sidecars[i])
            if content_id is not None:
                cached = ValidationCache.lookup(chunk.cache_db, content_id, chunk.salts[k])
                if cached is not None:
                    out.append((tuple(cached), content_id, stats, _WORKER_HIT))
                    continue
        out.append((tuple(_inspect(Path(path), policies[k], limits)), content_id, stats, _FRESH))
    return out


def _serial(fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
    for item in items:
        yield fn(item)


def _grouped(paths: Iterable[str], policies: PolicyResolver, size: int
             ) -> Iterator[tuple[list[str], tuple[Policy, ...], tuple[int, ...] | None]]:
    """The paths in runs of ``size``, each with its distinct policies and which file has which."""
    batch: list[str] = []
    for p in paths:
        batch.append(p)
        if len(batch) == size:
            yield batch, *_policies_of(batch, policies)
            batch = []
    if batch:
        yield batch, *_policies_of(batch, policies)


def _policies_of(batch: list[str], policies: PolicyResolver
                 ) -> tuple[tuple[Policy, ...], tuple[int, ...] | None]:
    distinct: dict[int, int] = {}
    found: list[Policy] = []
    which = []
    for p in batch:
        pol = policies.for_file(p)
        k = distinct.get(id(pol))
        if k is None:
            k = distinct[id(pol)] = len(found)
            found.append(pol)
        which.append(k)
    return tuple(found), (None if len(found) == 1 else tuple(which))


def validate_stream(
    paths: Iterable[str],
    resolver: PolicyResolver,
    *,
    limits: Limits = DEFAULT_LIMITS,
    cache: ValidationCache | None = None,
    runner: Runner[Any, Any] | None = None,
    chunk: int = CHUNK_FILES,
) -> Iterator[tuple[str, tuple[Finding, ...]]]:
    """The engine of :func:`validate_many`: ``(path, findings)`` per file, in the order given,
    with nothing per file kept once it is yielded (for archives of any size).

    ``runner`` maps a function over chunks of ``chunk`` files (see :func:`validate_many`). Paths
    are consumed lazily, so a broken policy file may raise ``PolicyError`` after some files were
    yielded.
    """
    run: Runner[Any, Any] = runner if runner is not None else _serial
    planned: deque[_Chunk] = deque()  # handed to the runner, results not yet back
    if cache is None:
        def plain() -> Iterator[_Chunk]:
            for batch, pols, which in _grouped(paths, resolver, chunk):
                planned.append(_Chunk(batch, pols, which, limits))
                yield planned[-1]

        for found in run(_check_chunk, plain()):
            yield from zip(planned.popleft().paths, found, strict=True)
        return
    salts: dict[int, str] = {}
    memo: dict[str, Any] = {}
    db = str(cache.db_path)

    def cached() -> Iterator[_Chunk]:
        for batch, pols, which in _grouped(paths, resolver, chunk):
            k_salts = []
            for pol in pols:
                salt = salts.get(id(pol))
                if salt is None:
                    salt = salts[id(pol)] = cache.salt(pol.digest, limits)
                k_salts.append(salt)
            sides = [sidecars.find(Path(p)) for p in batch]
            known = cache.known_content_ids(batch, memo=memo)
            with_side = [i for i, side in enumerate(sides) if side is not None]
            known_sides = cache.known_content_ids([s for s in sides if s is not None], memo=memo)
            for n, i in enumerate(with_side):
                side_id = known_sides.get(n)
                if i in known:
                    if side_id is None:
                        del known[i]
                    else:
                        known[i] = f"{known[i]}+{side_id}"
            hits: list[tuple[Finding, ...] | None] = []
            for i in range(len(batch)):
                cid = known.get(i)
                hit = (cache.get(cid, k_salts[0 if which is None else which[i]])
                       if cid is not None else None)
                hits.append(tuple(hit) if hit is not None else None)
            planned.append(_Chunk(batch, pols, which, limits, db, tuple(k_salts),
                                  tuple(None if s is None else os.fspath(s) for s in sides),
                                  tuple(known.get(i) for i in range(len(batch))), tuple(hits)))
            yield planned[-1]

    try:
        for found_cached in run(_check_chunk_cached, cached()):
            done = planned.popleft()
            for i, (findings, content_id, stats, where_found) in enumerate(found_cached):
                if where_found == _WORKER_HIT:
                    cache.hits += 1  # a hit found here was counted by cache.get
                for where, stat, part_id in stats:
                    cache.remember_stat(Path(where), stat, part_id)
                if (where_found == _FRESH and content_id is not None
                        and not any(f.code in _TIME_DEPENDENT or f.code in _IO_CODES
                                    for f in findings)):
                    k = 0 if done.which is None else done.which[i]
                    cache.put(content_id, done.salts[k], findings)
                yield done.paths[i], findings
    finally:
        cache.flush()


def validate_many(
    paths: Iterable[str | os.PathLike[str]],
    policy: Policy | str | os.PathLike[str] | None = None,
    *,
    limits: Limits = DEFAULT_LIMITS,
    cache: ValidationCache | None = None,
    runner: Runner[Any, Any] | None = None,
    resolver: PolicyResolver | None = None,
) -> Iterator[Report]:
    """Validate many files; yield one :class:`Report` per file, in the order given.

    Args:
        paths: image files (expand folders first, e.g. with ``photometa.batch.expand_paths``);
            consumed lazily, a few chunks ahead of the reports yielded.
        policy: as for :func:`validate`; ``None`` finds each file's policy by walking up.
        cache: a :class:`ValidationCache`; files whose content, policy and photometa are unchanged
            since a previous run are not read again.
        runner: ``runner(fn, items)`` maps ``fn`` over ``items`` in order, e.g. in worker processes
            (``functools.partial(photometa.batch.run_many, workers=4)``); default: in this process.
            Each item is a chunk of files.
        resolver: finds each file's policy (made from ``policy`` when not given); its ``loaded``
            attribute then tells which policy files were used.

    Raises:
        PolicyError: a policy file is broken (before any file is validated when ``paths`` is a
            list or another sequence; a lazy iterable is validated as it is read).
    """
    policies = resolver if resolver is not None else PolicyResolver(policy)
    if isinstance(paths, Sequence):
        for p in paths:
            policies.base(p)
    names = (os.fspath(p) for p in paths)
    for path, findings in validate_stream(names, policies, limits=limits, cache=cache,
                                          runner=runner):
        yield Report(Path(path), list(findings))


def select_changed(
    paths: Iterable[str | os.PathLike[str]],
    ref: str,
    policy: str | os.PathLike[str] | None = None,
) -> list[Path]:
    """The files of ``paths`` that git says changed since ``ref`` (committed, staged, unstaged or
    untracked), plus every file whose policy file changed (their findings may change too).

    Raises:
        PhotometaError: not in a git repository, or ``ref`` is unknown (code ``git``).
    """
    files = [Path(p) for p in paths]
    if not files:
        return []
    roots: dict[str, set[str]] = {}
    policies = PolicyResolver(policy)
    out = []
    for p in files:
        root = _git.repo_root(p)
        if root is None:
            raise PhotometaError("--changed-since needs the files to be in a git repository",
                                 path=p, code="git")
        key = str(root)
        if key not in roots:
            roots[key] = _git.changed_files(ref, root)
        changed = roots[key]
        side = sidecars.find(p)
        if os.path.abspath(p) in changed or (side is not None
                                             and os.path.abspath(side) in changed):
            out.append(p)
            continue
        governing = policies.source_of(p)
        if governing is not None and os.path.abspath(governing) in changed:
            out.append(p)
    return out
