"""The field mapping: ``schemas/mapping.toml`` rows drive reading, writing and the docs.

Reading follows the MWG 2.0 rules: a field with an EXIF home takes the EXIF value when present;
otherwise XMP,
unless IPTC-IIM exists and the stored IPTC digest shows it was edited after the XMP (then IIM,
except when the IIM
value is only the truncated form of the XMP one). Every disagreement between homes becomes a
finding.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Final

from pydantic import ValidationError

from .codecs.exif import ExifWrite
from .codecs.iptc import DATASET_NAMES
from .codecs.xmp import NAMESPACES as XMP_NAMESPACES
from .convert import CONVERTERS, Converter, XmpHome, XmpValue
from .model import FIELD_PATHS, Gps, PhotoContext
from .report import Finding

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from ._metadata import Metadata

__all__ = ["ROWS", "Edits", "Row", "load_rows", "row_for", "to_edits", "to_model"]


@dataclass(frozen=True)
class Row:
    """One schema field and its homes."""

    path: str
    convert: str
    exif: tuple[tuple[str, int], ...] = ()
    iim: tuple[tuple[int, int], ...] = ()
    iim_max_bytes: int | None = None
    xmp: tuple[XmpHome, ...] = ()
    note: str = ""

    @property
    def converter(self) -> Converter:
        """The converter named by ``convert``."""
        return CONVERTERS[self.convert]

    def covers(self, leaf: str) -> bool:
        """True when the schema leaf path ``leaf`` belongs to this row."""
        return leaf == self.path or leaf.startswith(self.path + ".")

    def labels(self) -> dict[str, list[str]]:
        """Human-readable names of the homes (for docs and findings)."""
        return {
            "exif": [f"{ifd}:0x{tag:04X}" for ifd, tag in self.exif],
            "iim": [DATASET_NAMES.get(h, f"{h[0]}:{h[1]}") for h in self.iim],
            "xmp": [h.path for h in self.xmp],
        }


def _parse_rows(data: dict[str, Any]) -> tuple[Row, ...]:
    rows = []
    for raw in data["field"]:
        exif = tuple(
            (ifd, int(tag, 16)) for ifd, tag in (h.split(":") for h in raw.get("exif", []))
        )
        iim = tuple((int(rec), int(ds)) for rec, ds in (h.split(":") for h in raw.get("iim", [])))
        xmp = tuple(XmpHome(h["path"], h.get("kind", "text")) for h in raw.get("xmp", []))
        rows.append(
            Row(
                path=raw["path"],
                convert=raw["convert"],
                exif=exif,
                iim=iim,
                iim_max_bytes=raw.get("iim_max_bytes"),
                xmp=xmp,
                note=raw.get("note", ""),
            )
        )
    return tuple(rows)


@lru_cache(maxsize=1)
def load_rows() -> tuple[Row, ...]:
    """Read the mapping table shipped with the package."""
    text = resources.files("photometa").joinpath("data/mapping.toml").read_text("utf-8")
    rows = _parse_rows(tomllib.loads(text))
    missing = [p for p in FIELD_PATHS if not any(r.covers(p) for r in rows)]
    if missing:  # pragma: no cover - guarded by tests
        raise RuntimeError(f"mapping.toml has no row for {missing}")
    return rows


ROWS: Final = load_rows()


def row_for(path: str) -> Row:
    """The row that covers the dotted schema path ``path``."""
    for row in ROWS:
        if row.covers(path) or path.startswith(row.path):
            return row
    raise KeyError(path)


# -- reading -------------------------------------------------------------------------------------


@dataclass
class FieldReading:
    """What each home of one field holds, and the value MWG chose."""

    row: Row
    exif: Any = None
    iim: Any = None
    xmp: list[tuple[str, Any]] = field(default_factory=list)
    chosen: Any = None
    chosen_from: str | None = None


def _xmp_top(path: str) -> str | None:
    """The Clark name of the top-level property an XMP path starts at (``None`` when its prefix
    is not a standard one, so only a packet's own declarations could resolve it)."""
    step = path.split("/", 1)[0].split("[", 1)[0]
    prefix, _, local = step.partition(":")
    uri = XMP_NAMESPACES.get(prefix)
    return f"{{{uri}}}{local}" if uri else None


_XMP_HOME_BY_HOME: Final = frozenset(("text", "list", "joined", "contact", "country_code",
                                       "datetime"))
"""Converters whose ``from_xmp`` reads each home on its own (GPS reads its homes together)."""


@dataclass(frozen=True)
class _Plan:
    """What reading one row needs, worked out once: its homes as the converters take them,
    what to look for before converting anything, and the labels findings use."""

    row: Row
    path: str
    parent: tuple[str, ...]
    """The path's parts but the last: where its value goes in the nested dict."""
    leaf: str
    conv: Converter
    exif: list[tuple[str, int]]
    iim: list[tuple[int, int]]
    xmp: list[XmpHome]
    xmp_tops: tuple[str, ...] | None
    """Top-level XMP properties of the homes; ``None``: some cannot be known ahead."""
    xmp_pick: bool
    """Whether the XMP homes whose top-level property is absent are left out of the lookup
    (homes under different tops, read one by one by the converter)."""
    exif_label: str
    iim_label: str

    @classmethod
    def of(cls, row: Row) -> _Plan:
        labels = row.labels()
        tops = tuple(_xmp_top(h.path) for h in row.xmp)
        return cls(
            row=row,
            path=row.path,
            parent=tuple(row.path.split(".")[:-1]),
            leaf=row.path.split(".")[-1],
            conv=row.converter,
            exif=list(row.exif),
            iim=list(row.iim),
            xmp=list(row.xmp),
            xmp_tops=None if None in tops else tuple(t for t in tops if t is not None),
            xmp_pick=None not in tops and len(set(tops)) > 1 and row.convert in _XMP_HOME_BY_HOME,
            exif_label=f"EXIF {labels['exif'][0]}" if row.exif else "",
            iim_label=f"IPTC-IIM {labels['iim'][0]}" if row.iim else "",
        )


_PLANS: Final = tuple(_Plan.of(row) for row in ROWS)


def _iim_truncation_of(row: Row, iim_value: Any, xmp_value: Any) -> bool:
    """True when the IIM value is the XMP value cut at the dataset's byte limit."""
    if (
        row.iim_max_bytes is None
        or not isinstance(iim_value, str)
        or not isinstance(xmp_value, str)
    ):
        return False
    return (
        len(iim_value.encode("utf-8")) >= row.iim_max_bytes - 3
        and xmp_value.startswith(iim_value)
        and iim_value != xmp_value
    )


def _choose(
    row: Row, conv: Converter, exif: Any, iim: Any, xmp: list[tuple[str, Any]], in_sync: bool
) -> tuple[Any, str | None]:
    """The value MWG reads from what the homes hold, and the name of its home."""
    xmp_value = xmp[0][1] if xmp else None
    if exif is not None:
        chosen = exif
        # EXIF has no time-zone offset field of its own in older files: borrow XMP's when times
        # agree
        if row.convert == "datetime" and getattr(exif, "tzinfo", 1) is None:
            for _, value in xmp:
                if value.tzinfo is not None and conv.same(exif, value):
                    chosen = exif.replace(tzinfo=value.tzinfo)
        return chosen, "EXIF"
    if xmp_value is not None and (iim is None or in_sync):
        return xmp_value, "XMP"
    if iim is not None:
        if xmp_value is not None and (
            _iim_truncation_of(row, iim, xmp_value) or conv.same(iim, xmp_value)
        ):  # the same value (or its truncated copy): XMP holds it in full
            return xmp_value, "XMP"
        return iim, "IPTC-IIM"
    return None, None


def read_field(row: Row, md: Metadata) -> FieldReading:
    """Read every home of ``row`` and choose a value by the MWG rules."""
    conv = row.converter
    out = FieldReading(row)
    if row.exif and md.exif is not None:
        out.exif = conv.from_exif(md.exif, list(row.exif))
    if row.iim and md.iim is not None:
        out.iim = conv.from_iim(md.iim, list(row.iim))
    if row.xmp and md.xmp is not None:
        out.xmp = conv.from_xmp(md.xmp, list(row.xmp))
    # the digest is worked out only when it decides between IIM and XMP
    in_sync = md.iim_in_sync if out.iim is not None and out.xmp else True
    out.chosen, out.chosen_from = _choose(row, conv, out.exif, out.iim, out.xmp, in_sync)
    return out


def _disagree(
    plan: _Plan, exif: Any, iim: Any, xmp: list[tuple[str, Any]], chosen: Any,
    chosen_from: str | None,
) -> list[Finding]:
    """A finding for every home whose value is not the chosen one."""
    row, same = plan.row, plan.conv.same
    findings = []
    if exif is not None and not same(exif, chosen):
        findings.append(_differs(row, plan.exif_label, exif, chosen, chosen_from))
    for path, value in xmp:
        if not same(value, chosen):
            findings.append(_differs(row, f"XMP {path}", value, chosen, chosen_from))
    if iim is not None and not same(iim, chosen):
        if _iim_truncation_of(row, iim, chosen):
            findings.append(
                Finding(
                    row.path,
                    "iim-truncated",
                    f"{plan.iim_label} holds a truncated copy of the value "
                    f"({row.iim_max_bytes}-byte limit)",
                )
            )
        else:
            findings.append(_differs(row, plan.iim_label, iim, chosen, chosen_from))
    return findings


def _differs(row: Row, label: str, value: Any, chosen: Any, chosen_from: str | None) -> Finding:
    return Finding(
        row.path,
        "homes-disagree",
        f"{label} holds {_show(value)} but {chosen_from} holds "
        f"{_show(chosen)}; read {chosen_from}'s value (MWG rules)",
    )


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "...'"


def _drop_path(tree: dict[str, Any], loc: tuple[int | str, ...]) -> bool:
    node: Any = tree
    for part in loc[:-1]:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    if isinstance(node, dict) and loc and loc[-1] in node:
        del node[loc[-1]]
        return True
    return False


_validate: Final = PhotoContext.__pydantic_validator__.validate_python
"""``PhotoContext.model_validate`` without its Python wrapper."""

_STALE_DIGEST: Final = (
    "IPTC-IIM was changed by a tool that did not update the IPTC digest; "
    "IIM values were preferred over XMP where they differ (MWG rules)"
)


def _row_index() -> tuple[
    tuple[int, ...],
    dict[tuple[int, int], tuple[int, ...]],
    dict[str, tuple[int, ...]],
    tuple[int, ...],
]:
    """Which rows each present piece of metadata may feed: the rows with EXIF homes (a lookup
    in EXIF costs what checking for the tag would), IIM dataset -> rows, top-level XMP property
    -> rows, and the rows whose XMP homes are always looked up (a prefix no standard namespace
    has)."""
    exif_rows = tuple(i for i, p in enumerate(_PLANS) if p.exif)
    iim_rows: dict[tuple[int, int], list[int]] = {}
    xmp_rows: dict[str, list[int]] = {}
    xmp_any: list[int] = []
    for i, plan in enumerate(_PLANS):
        for key in plan.iim:
            iim_rows.setdefault(key, []).append(i)
        if plan.xmp_tops is None:
            xmp_any.append(i)
        else:
            for top in plan.xmp_tops:
                xmp_rows.setdefault(top, []).append(i)
    return (
        exif_rows,
        {k: tuple(dict.fromkeys(v)) for k, v in iim_rows.items()},
        {k: tuple(dict.fromkeys(v)) for k, v in xmp_rows.items()},
        tuple(xmp_any),
    )


_EXIF_ROWS, _IIM_ROWS, _XMP_ROWS, _XMP_ANY_ROWS = _row_index()
_EXIF, _IIM, _XMP = 1, 2, 4


def _readings(md: Metadata, findings: list[Finding], in_sync: bool | None = None
              ) -> dict[str, Any]:
    """The chosen value of every field some home holds, as the nested dict of the schema paths
    (in row order); the disagreements between homes are added to ``findings``.

    The same results as :func:`read_field` row by row, faster: only the rows some present piece
    of metadata may feed are read, from IIM and XMP only where one of their homes is present (a
    converter finds nothing when its homes are absent); and one value alone is not compared
    with the others. ``in_sync`` is ``md.iim_in_sync`` when known (else it is worked out only
    when IIM and XMP both hold a value).
    """
    exif, iim, xmp = md.exif, md.iim, md.xmp
    todo = [0] * len(_PLANS)
    if exif is not None:
        for i in _EXIF_ROWS:
            todo[i] = _EXIF
    if iim is not None:
        for ds in iim.datasets:
            for i in _IIM_ROWS.get((ds.record, ds.number), ()):
                todo[i] |= _IIM
    props: Any = None
    if xmp is not None:
        # the packet's top-level properties by Clark name: a home whose top is absent holds
        # nothing
        props = getattr(xmp, "_props", None)
        if not isinstance(props, dict):  # kept some other way: look every home up
            props = None
            for i, plan in enumerate(_PLANS):
                if plan.xmp:
                    todo[i] |= _XMP
        elif len(props) < len(_XMP_ROWS):
            for name in props:
                for i in _XMP_ROWS.get(name, ()):
                    todo[i] |= _XMP
        else:
            for name, rows in _XMP_ROWS.items():
                if name in props:
                    for i in rows:
                        todo[i] |= _XMP
        for i in _XMP_ANY_ROWS:
            todo[i] |= _XMP
    tree: dict[str, Any] = {}
    for plan, flags in zip(_PLANS, todo, strict=True):
        if not flags:
            continue
        conv = plan.conv
        ev = iv = None
        xv: list[tuple[str, Any]] = []
        if flags & _EXIF:
            assert exif is not None
            ev = conv.from_exif(exif, plan.exif)
        if flags & _IIM:
            assert iim is not None
            iv = conv.from_iim(iim, plan.iim)
        if flags & _XMP:
            assert xmp is not None
            homes = plan.xmp
            if plan.xmp_pick and props is not None:
                assert plan.xmp_tops is not None
                homes = [h for h, top in zip(homes, plan.xmp_tops, strict=True) if top in props]
            xv = conv.from_xmp(xmp, homes)
        count = (ev is not None) + (iv is not None) + len(xv)
        if count == 1:  # one value alone is chosen, and agrees with itself
            chosen = ev if ev is not None else iv if iv is not None else xv[0][1]
        elif count:
            if iv is not None and xv and in_sync is None:
                in_sync = md.iim_in_sync
            chosen, chosen_from = _choose(plan.row, conv, ev, iv, xv, in_sync is not False)
            findings.extend(_disagree(plan, ev, iv, xv, chosen, chosen_from))
        else:
            continue
        node = tree
        for part in plan.parent:
            node = node.setdefault(part, {})
        node[plan.leaf] = chosen
    return tree


def to_model(md: Metadata) -> tuple[PhotoContext, list[Finding]]:
    """Build a :class:`PhotoContext` from decoded metadata; report disagreements and invalid
    values."""
    findings: list[Finding] = [Finding.from_error(w) for w in md.warnings]
    in_sync = None
    if md.iim is not None:
        in_sync = md.iim_in_sync
        if not in_sync:
            findings.append(Finding(None, "iptc-digest-stale", _STALE_DIGEST, "info"))
    tree = _readings(md, findings, in_sync)
    for _ in range(len(FIELD_PATHS) + 1):
        try:
            return _validate(tree), findings
        except ValidationError as err:
            first = err.errors()[0]
            loc = tuple(first["loc"])
            path = ".".join(str(p) for p in loc)
            findings.append(
                Finding(
                    path,
                    "invalid-value",
                    f"the file holds {first.get('input')!r}, which is not valid: {first['msg']}",
                    "error",
                )
            )
            if not _drop_path(tree, loc) and not (len(loc) > 1 and _drop_path(tree, loc[:-1])):
                break
    return PhotoContext(), findings


# -- writing -------------------------------------------------------------------------------------


@dataclass
class Edits:
    """What to change in each metadata kind to store some fields of a context."""

    exif: dict[tuple[str, int], ExifWrite | None] = field(default_factory=dict)
    xmp: list[tuple[XmpHome, XmpValue]] = field(default_factory=list)
    iim: dict[tuple[int, int], list[str]] = field(default_factory=dict)


_Converted = tuple[
    Row,
    Converter,
    "dict[tuple[str, int], ExifWrite | None] | None",
    "dict[tuple[int, int], list[str]] | None",
    "list[tuple[XmpHome, XmpValue]] | None",
    bool,
]
_CONVERTED: dict[tuple[int, type, Any], _Converted] = {}
"""What the converters made of a row's value, by (id of the row, type of the value, its key):
they are pure functions of the value, which its type and key tell apart from every other value
(see :func:`_value_key`). The row and converter are kept to check a hit with (and the row alive
while its id is a key); the flag says whether some XMP value is a list (which callers get a copy
of)."""
_CONVERTED_MAX: Final = 2048


def _value_key(value: Any) -> Any:
    """A hashable stand-in for ``value`` that equals another's only when the values are the
    same (of one type): the value itself for text, its items for a list of texts, else its repr
    (``-0.0`` from ``0.0``, datetimes in other zones...)."""
    cls = type(value)
    if cls is str or value is None:
        return value
    if cls is list and all(type(v) is str for v in value):
        return tuple(value)
    if cls is Gps:  # its fields alone (the model's repr costs more)
        return repr((value.latitude, value.longitude, value.altitude))
    return repr(value)


def to_edits(ctx: PhotoContext, rows: Iterable[Row]) -> Edits:
    """Edits that write the values of ``rows`` from ``ctx`` to every home (``None`` clears)."""
    edits = Edits()
    exif, iim, xmp = edits.exif, edits.iim, edits.xmp
    cache = _CONVERTED
    for row in rows:
        value = ctx.get_path(row.path)
        if isinstance(value, list) and not value:
            value = None
        conv = CONVERTERS[row.convert]
        key = (id(row), type(value), _value_key(value))
        hit = cache.get(key)
        if hit is None or hit[0] is not row or hit[1] is not conv:
            to_xmp = conv.to_xmp(value, list(row.xmp)) if row.xmp else None
            hit = (
                row,
                conv,
                conv.to_exif(value, list(row.exif)) if row.exif else None,
                conv.to_iim(value, list(row.iim)) if row.iim else None,
                to_xmp,
                any(isinstance(v, list) for _, v in to_xmp or ()),
            )
            if len(cache) >= _CONVERTED_MAX:
                cache.clear()
            cache[key] = hit
        # copies: what the caller gets is its own to change
        if hit[2] is not None:
            exif.update(hit[2])
        if hit[3] is not None:
            for home, texts in hit[3].items():
                iim[home] = list(texts)
        if hit[4] is not None:
            if hit[5]:
                xmp.extend((home, list(v) if isinstance(v, list) else v) for home, v in hit[4])
            else:
                xmp.extend(hit[4])
    return edits
