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
from .convert import CONVERTERS, Converter, XmpHome, XmpValue
from .model import FIELD_PATHS, PhotoContext
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
    xmp_value = out.xmp[0][1] if out.xmp else None
    if out.exif is not None:
        out.chosen, out.chosen_from = out.exif, "EXIF"
        # EXIF has no time-zone offset field of its own in older files: borrow XMP's when times
        # agree
        if row.convert == "datetime" and getattr(out.exif, "tzinfo", 1) is None:
            for _, value in out.xmp:
                if value.tzinfo is not None and conv.same(out.exif, value):
                    out.chosen = out.exif.replace(tzinfo=value.tzinfo)
    elif xmp_value is not None and (out.iim is None or md.iim_in_sync):
        out.chosen, out.chosen_from = xmp_value, "XMP"
    elif out.iim is not None:
        if xmp_value is not None and (
            _iim_truncation_of(row, out.iim, xmp_value) or conv.same(out.iim, xmp_value)
        ):  # the same value (or its truncated copy): XMP holds it in full
            out.chosen, out.chosen_from = xmp_value, "XMP"
        else:
            out.chosen, out.chosen_from = out.iim, "IPTC-IIM"
    return out


def _disagreements(reading: FieldReading) -> list[Finding]:
    row, conv = reading.row, reading.row.converter
    if reading.chosen is None:
        return []
    labels = row.labels()
    candidates: list[tuple[str, Any]] = []
    if reading.exif is not None:
        candidates.append((f"EXIF {labels['exif'][0]}", reading.exif))
    candidates.extend((f"XMP {path}", value) for path, value in reading.xmp)
    if reading.iim is not None:
        candidates.append((f"IPTC-IIM {labels['iim'][0]}", reading.iim))
    findings = []
    for label, value in candidates:
        if conv.same(value, reading.chosen):
            continue
        if label.startswith("IPTC-IIM") and _iim_truncation_of(row, value, reading.chosen):
            findings.append(
                Finding(
                    row.path,
                    "iim-truncated",
                    f"{label} holds a truncated copy of the value ({row.iim_max_bytes}-byte limit)",
                )
            )
            continue
        findings.append(
            Finding(
                row.path,
                "homes-disagree",
                f"{label} holds {_show(value)} but {reading.chosen_from} holds "
                f"{_show(reading.chosen)}; read {reading.chosen_from}'s value (MWG rules)",
            )
        )
    return findings


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "...'"


def _set_path(tree: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node = tree
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


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


def to_model(md: Metadata) -> tuple[PhotoContext, list[Finding]]:
    """Build a :class:`PhotoContext` from decoded metadata; report disagreements and invalid
    values."""
    tree: dict[str, Any] = {}
    findings: list[Finding] = [Finding.from_error(w) for w in md.warnings]
    if md.iim is not None and not md.iim_in_sync:
        findings.append(
            Finding(
                None,
                "iptc-digest-stale",
                "IPTC-IIM was changed by a tool that did not update the IPTC digest; "
                "IIM values were preferred over XMP where they differ (MWG rules)",
                "info",
            )
        )
    for row in ROWS:
        reading = read_field(row, md)
        if reading.chosen is None:
            continue
        value = reading.chosen
        if row.convert == "gps":
            value = value.model_dump()
        _set_path(tree, row.path, value)
        findings.extend(_disagreements(reading))
    for _ in range(len(FIELD_PATHS) + 1):
        try:
            return PhotoContext.model_validate(tree), findings
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


def to_edits(ctx: PhotoContext, rows: Iterable[Row]) -> Edits:
    """Edits that write the values of ``rows`` from ``ctx`` to every home (``None`` clears)."""
    edits = Edits()
    for row in rows:
        value = ctx.get_path(row.path)
        if value == []:
            value = None
        conv = row.converter
        if row.exif:
            edits.exif.update(conv.to_exif(value, list(row.exif)))
        if row.iim:
            edits.iim.update(conv.to_iim(value, list(row.iim)))
        if row.xmp:
            edits.xmp.extend(conv.to_xmp(value, list(row.xmp)))
    return edits
