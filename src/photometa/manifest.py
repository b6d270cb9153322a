"""Manifests: CSV and JSONL files that map image paths to context values (dotted schema paths).

Paths are relative to the manifest's folder (absolute paths work too; a relative path that names no
file beside the manifest but names one from the working directory is taken from there, as
``photometa read --format csv`` without ``--output`` writes it).

CSV cells of list fields are joined with ``"; "``; inside an item a literal semicolon is written
``\\;`` and a backslash before a semicolon or another backslash is written ``\\\\`` (any other
backslash stands for itself, so ``C:\\photos`` needs no escaping). An empty cell leaves the field as
the file has it. The CSV that ``photometa read --format csv`` writes is a manifest that
``photometa tag --from`` accepts unchanged, and tagging the same files from it changes nothing.

A JSONL manifest has one object per line: ``{"path": ..., "location": {"city": ...}}``, the same
with dotted keys (``{"path": ..., "location.city": ...}``), or the documents ``photometa read
--format jsonl`` prints (``{"path": ..., "context": {...}, "findings": [...]}``).

:func:`read_manifest` checks every row (columns, values, that each path names a file, that no file
is named twice) before it yields the first, so a bad manifest stops before anything is written. It
reads the manifest twice rather than holding every row, so memory does not grow with its length.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError

from .errors import InvalidValueError, PhotometaError
from .model import FIELD_PATHS, PhotoContext

__all__ = ["COLUMNS", "ManifestRow", "ManifestRows", "context_to_row", "csv_line", "csv_writer",
           "join_list",
           "parse_value", "read_manifest", "row_to_context", "split_list", "write_csv"]

COLUMNS: tuple[str, ...] = ("path", *FIELD_PATHS)
LIST_FIELDS = frozenset({"subject.keywords", "subject.persons"})
_TOKENS = re.compile(r"\\[\\;]|;|[^\\;]+|\\")
_FIELDS = frozenset(FIELD_PATHS)
_SHOWN_MISSING = 5


@dataclass(frozen=True)
class ManifestRow:
    """One manifest entry: the image it names and the values to set."""

    path: Path
    context: PhotoContext
    line: int


def join_list(items: list[str]) -> str:
    """Join list items for a CSV cell, escaping semicolons (and backslashes) inside items."""
    return "; ".join(item.replace("\\", "\\\\").replace(";", "\\;") for item in items)


def split_list(cell: str) -> list[str]:
    """Split a CSV cell into list items (inverse of :func:`join_list`); empty items are dropped."""
    if "\\" not in cell:  # the common case, without the tokenizer
        return [s for s in (part.strip() for part in cell.split(";")) if s]
    items: list[str] = []
    current: list[str] = []
    for match in _TOKENS.finditer(cell):
        token = match.group()
        if token == ";":
            items.append("".join(current))
            current = []
        elif len(token) == 2 and token[0] == "\\":  # an escaped ';' or '\'
            current.append(token[1])
        else:
            current.append(token)
    items.append("".join(current))
    return [s for s in (item.strip() for item in items) if s]


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


def csv_line(row: dict[str, str]) -> str:
    """One CSV record (with its newline) for a row of :func:`context_to_row`, columns in order."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([row.get(c, "") for c in COLUMNS])
    return buf.getvalue()


def csv_writer(out: TextIO | Any) -> csv.DictWriter[str]:
    """A CSV writer for manifest rows, the header already written: stream rows with ``writerow``."""
    writer = csv.DictWriter(out, fieldnames=list(COLUMNS), lineterminator="\n")
    writer.writeheader()
    return writer


def write_csv(rows: list[dict[str, str]], out: TextIO | Any) -> None:
    """Write rows with the manifest header."""
    csv_writer(out).writerows(rows)


def parse_value(name: str, text: str) -> Any:
    """Parse a text value for the field ``name`` (lists split on ``;``)."""
    if name in LIST_FIELDS:
        return split_list(text)
    return text


def row_to_context(values: dict[str, Any], *, where: str) -> PhotoContext:
    """Build a context from ``{dotted path: value}``.

    Raises:
        InvalidValueError: an unknown field or a bad value (the error names the field).
    """
    tree: dict[str, Any] = {}
    for name, value in values.items():
        if name not in _FIELDS:
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
    return p  # relative to the working directory, as `read --format csv` wrote it to stdout


class ManifestRows(Iterator[ManifestRow]):
    """The rows of a checked manifest, parsed again as they are iterated; ``len()`` is the count."""

    def __init__(self, path: Path, count: int, stamp: tuple[int, int]) -> None:
        self.path, self.count, self._stamp = path, count, stamp
        self._rows: Iterator[ManifestRow] | None = None

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> ManifestRows:
        return self

    def __next__(self) -> ManifestRow:
        if self._rows is None:
            if _stamp(self.path) != self._stamp:
                raise InvalidValueError("the manifest changed after it was checked; run again",
                                        path=self.path, code="manifest-changed")
            self._rows = _rows(self.path)
        return next(self._rows)


def _stamp(path: Path) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except OSError:
        return (-1, -1)
    return (st.st_mtime_ns, st.st_size)


def read_manifest(path: Path) -> ManifestRows:
    """Rows of a CSV (``.csv``, any other suffix) or JSONL (``.jsonl``, ``.ndjson``) manifest.

    Every row is checked before the first is yielded; the rows are then parsed again as they are
    yielded, so a manifest of any length is read in bounded memory.

    Raises:
        InvalidValueError: an unknown column, a bad value, a path that names no file, or a file
            named on two rows (``code`` says which: ``manifest-columns``, ``invalid-value``,
            ``unknown-field``, ``manifest-syntax``, ``manifest-missing-file``,
            ``manifest-duplicate``).
        PhotometaError: the manifest cannot be read (code ``not-found``, ``io``).
    """
    path = Path(path)
    stamp = _stamp(path)
    seen: dict[str, int] = {}
    missing: list[ManifestRow] = []
    n_missing = 0
    count = 0
    for row in _rows(path):
        count += 1
        if not row.path.is_file():
            n_missing += 1
            if len(missing) < _SHOWN_MISSING:
                missing.append(row)
            continue
        key = os.path.normcase(os.path.abspath(row.path))
        first = seen.setdefault(key, row.line)
        if first != row.line:
            raise InvalidValueError(
                f"line {row.line} names the same file as line {first} ({row.path}); "
                "give each file one row", path=path, code="manifest-duplicate")
    if n_missing:
        names = ", ".join(f"{m.path} (line {m.line})" for m in missing)
        more = f" and {n_missing - len(missing)} more" if n_missing > len(missing) else ""
        raise InvalidValueError(f"{n_missing} manifest path(s) name no file: {names}{more}",
                                path=path, code="manifest-missing-file")
    seen.clear()
    return ManifestRows(path, count, stamp)


def _open(path: Path) -> TextIO:
    try:
        return open(path, encoding="utf-8-sig", newline="")
    except FileNotFoundError as err:
        raise PhotometaError("no such manifest", path=path, code="not-found") from err
    except OSError as err:
        raise PhotometaError(f"cannot read the manifest: {err.strerror or err}", path=path,
                             code="io") from err


def _rows(path: Path) -> Iterator[ManifestRow]:
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        return _jsonl_rows(path)
    return _csv_rows(path)


def _jsonl_rows(path: Path) -> Iterator[ManifestRow]:
    base = path.parent
    with _open(path) as f:
        for n, line in enumerate(_lines(f, path), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                raise InvalidValueError(f"line {n}: not JSON: {err.msg}", path=path,
                                        code="manifest-syntax") from None
            if not isinstance(obj, dict) or not isinstance(obj.get("path"), str):
                raise InvalidValueError(f"line {n}: needs an object with a 'path' string",
                                        path=path, code="manifest-syntax")
            if isinstance(obj.get("context"), dict):  # a document of `read --format jsonl`
                values = _flatten(obj["context"])
            else:
                values = {k: v for k, v in _flatten(obj).items() if k != "path"}
            ctx = row_to_context(values, where=f"{path} line {n}")
            yield ManifestRow(_resolve(base, obj["path"]), ctx, n)


def _lines(f: TextIO, path: Path) -> Iterator[str]:
    try:
        yield from f
    except UnicodeDecodeError as err:
        raise InvalidValueError(f"not UTF-8 text ({err.reason})", path=path,
                                code="manifest-syntax") from None


def _csv_rows(path: Path) -> Iterator[ManifestRow]:
    base = path.parent
    with _open(path) as f:
        reader = csv.DictReader(_lines(f, path))
        try:
            header = reader.fieldnames or []
        except csv.Error as err:
            raise InvalidValueError(f"not a CSV file: {err}", path=path,
                                    code="manifest-syntax") from None
        if "path" not in header:
            raise InvalidValueError("the manifest needs a 'path' column", path=path,
                                    code="manifest-columns")
        unknown = [c for c in header if c not in COLUMNS]
        if unknown:
            raise InvalidValueError(
                f"unknown column(s): {', '.join(unknown)}; `photometa schema` lists the fields",
                path=path, code="manifest-columns", field=unknown[0])
        doubled = sorted({c for c in header if header.count(c) > 1})
        if doubled:
            raise InvalidValueError(f"column(s) given twice: {', '.join(doubled)}", path=path,
                                    code="manifest-columns", field=doubled[0])
        while True:
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as err:
                raise InvalidValueError(f"line {reader.line_num}: {err}", path=path,
                                        code="manifest-syntax") from None
            n = reader.line_num
            if None in record:
                raise InvalidValueError(f"line {n} has more cells than the header has columns",
                                        path=path, code="manifest-syntax")
            name = record["path"]
            if not name:
                raise InvalidValueError(f"line {n} has no path", path=path,
                                        code="manifest-syntax")
            values = {k: v for k, v in record.items() if k != "path" and v is not None}
            ctx = row_to_context(values, where=f"{path} line {n}")
            yield ManifestRow(_resolve(base, name), ctx, n)


def _flatten(obj: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out
