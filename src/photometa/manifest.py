"""Manifests: CSV and JSONL files that map image paths to context values (dotted schema paths as keys).

CSV cells of list fields are joined with ``"; "``; a literal semicolon inside an item is written ``\\;``.
An empty cell leaves the field as the file has it. The CSV that ``photometa read --format csv`` writes is a
manifest that ``photometa tag --from`` accepts unchanged.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .errors import InvalidValueError
from .model import FIELD_PATHS, PhotoContext

__all__ = ["COLUMNS", "ManifestRow", "context_to_row", "parse_value", "read_manifest",
           "row_to_context", "write_csv"]

COLUMNS: tuple[str, ...] = ("path", *FIELD_PATHS)
LIST_FIELDS = frozenset({"subject.keywords", "subject.persons"})
_SPLIT = re.compile(r"(?<!\\);")


@dataclass(frozen=True)
class ManifestRow:
    """One manifest entry: the image it names and the values to set."""

    path: Path
    context: PhotoContext
    line: int


def join_list(items: list[str]) -> str:
    """Join list items for a CSV cell, escaping semicolons inside items."""
    return "; ".join(item.replace(";", "\\;") for item in items)


def split_list(cell: str) -> list[str]:
    """Split a CSV cell into list items (the inverse of :func:`join_list`)."""
    return [part.strip().replace("\\;", ";") for part in _SPLIT.split(cell) if part.strip()]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return join_list(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    return str(value)


def context_to_row(path: str, ctx: PhotoContext) -> dict[str, str]:
    """A CSV row (every column) for one file."""
    row = {"path": path}
    for name in FIELD_PATHS:
        row[name] = _cell(ctx.get_path(name))
    return row


def write_csv(rows: list[dict[str, str]], out: io.TextIOBase | Any) -> None:
    """Write rows with the manifest header."""
    writer = csv.DictWriter(out, fieldnames=list(COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)


def parse_value(name: str, text: str) -> Any:
    """Parse a text value for the field ``name`` (lists split on ``;``)."""
    if name in LIST_FIELDS:
        return split_list(text)
    return text


def row_to_context(values: dict[str, Any], *, where: str) -> PhotoContext:
    """Build a context from ``{dotted path: value}``; raise :class:`InvalidValueError` naming the field."""
    tree: dict[str, Any] = {}
    for name, value in values.items():
        if name not in FIELD_PATHS:
            raise InvalidValueError(f"{where}: unknown field {name!r}", code="unknown-field",
                                    field=name)
        if value in ("", None, []):
            continue
        if isinstance(value, str) and name in LIST_FIELDS:
            value = split_list(value)
        node = tree
        parts = name.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    gps = tree.get("location", {}).get("gps")
    if gps is not None and ("latitude" not in gps or "longitude" not in gps):
        raise InvalidValueError(f"{where}: location.gps needs both latitude and longitude",
                                code="invalid-value", field="location.gps")
    try:
        return PhotoContext.model_validate(tree)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise InvalidValueError(f"{where}: {field}: {first['msg']}", code="invalid-value",
                                field=field) from None


def _resolve(base: Path, name: str) -> Path:
    p = Path(name)
    if p.is_absolute():
        return p
    candidate = base / p
    if candidate.exists() or not p.exists():
        return candidate
    return p  # relative to the working directory, as `read --format csv` wrote it


def read_manifest(path: Path) -> Iterator[ManifestRow]:
    """Rows of a CSV or JSONL manifest. Every row is checked before the first is yielded.

    Raises:
        InvalidValueError: an unknown column, a bad value, or a path that names no file.
    """
    rows = list(_rows(path))
    missing = [r for r in rows if not r.path.exists()]
    if missing:
        names = ", ".join(f"{m.path} (line {m.line})" for m in missing[:5])
        raise InvalidValueError(f"{len(missing)} manifest path(s) name no file: {names}",
                                path=path, code="manifest-missing-file")
    yield from rows


def _rows(path: Path) -> Iterator[ManifestRow]:
    base = path.parent
    text = path.read_text("utf-8-sig")
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                raise InvalidValueError(f"line {n}: not JSON: {err.msg}", path=path,
                                        code="manifest-syntax") from None
            if not isinstance(obj, dict) or "path" not in obj:
                raise InvalidValueError(f"line {n}: needs an object with a 'path'", path=path,
                                        code="manifest-syntax")
            values = {k: v for k, v in _flatten(obj).items() if k != "path"}
            ctx = row_to_context(values, where=f"{path} line {n}")
            yield ManifestRow(_resolve(base, str(obj["path"])), ctx, n)
        return
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    unknown = [c for c in header if c not in COLUMNS]
    if "path" not in header:
        raise InvalidValueError("the manifest needs a 'path' column", path=path,
                                code="manifest-columns")
    if unknown:
        raise InvalidValueError(f"unknown column(s): {', '.join(unknown)}", path=path,
                                code="manifest-columns", field=unknown[0])
    for record in reader:
        n = reader.line_num
        values = {k: v for k, v in record.items() if k != "path" and k is not None}
        ctx = row_to_context(values, where=f"{path} line {n}")
        yield ManifestRow(_resolve(base, record["path"]), ctx, n)


def _flatten(obj: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out
