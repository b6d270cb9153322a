#!/usr/bin/env python3
"""Tag a folder of photographs from a spreadsheet (CSV) whose columns are *your* column names.

Copy this script and edit ``COLUMNS`` to match your spreadsheet. Each row names an image by its file
name (found anywhere under the folder) or by its path relative to the folder; the other cells are
written into that image as EXIF, IPTC and XMP, merged with what the file already holds. Empty cells
leave the file's value alone. A row that names no image, or two images with the same name, is an
error reported before anything is written.

    python tag_from_spreadsheet.py photos/ captions.csv --dry-run
    python tag_from_spreadsheet.py photos/ captions.csv --jobs 4

Runs again safely: files that already hold the values are not rewritten (their modification time
stays), so an interrupted run is finished by running it again. Exit status: 0 when every file was
tagged (or already was), 1 when some failed, 2 when the spreadsheet is wrong.

(For a spreadsheet whose header already uses photometa's field names, ``photometa tag --from
sheet.csv`` does the same without a script.)
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import photometa
from photometa.batch import expand_paths, run_many

# Your column -> photometa field (`photometa schema` lists every field). Edit to taste.
COLUMNS = {
    "File": "path",
    "Title": "subject.headline",
    "Caption": "subject.caption",
    "Keywords": "subject.keywords",  # several, separated by ';'
    "People": "subject.persons",
    "Place": "location.sublocation",
    "City": "location.city",
    "Country": "location.country",
    "Country code": "location.country_code",
    "Latitude": "location.gps.latitude",
    "Longitude": "location.gps.longitude",
    "Date": "captured_at",
    "Photographer": "photographer.name",
    "Copyright": "photographer.copyright",
    "Status": "restriction.status",
}
LIST_FIELDS = {"subject.keywords", "subject.persons"}


class SheetError(Exception):
    """The spreadsheet cannot be used as it is."""


def _context(row: dict[str, str], line: int) -> photometa.PhotoContext:
    tree: dict[str, Any] = {}
    for column, field in COLUMNS.items():
        text = (row.get(column) or "").strip()
        if field == "path" or not text:
            continue
        value: Any = [t.strip() for t in text.split(";") if t.strip()] if field in LIST_FIELDS \
            else text
        node = tree
        *parents, leaf = field.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    try:
        return photometa.PhotoContext.model_validate(tree)
    except ValueError as err:
        raise SheetError(f"line {line}: {err}") from None


def plan(folder: Path, sheet: Path) -> list[tuple[Path, photometa.PhotoContext]]:
    """Match every row to one image and build its context; raise SheetError on any problem."""
    by_name: dict[str, list[Path]] = {}
    for image in expand_paths([folder]):
        by_name.setdefault(image.name.casefold(), []).append(image)
    with open(sheet, encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        file_column = next(c for c, field in COLUMNS.items() if field == "path")
        if file_column not in header:
            raise SheetError(f"the spreadsheet has no {file_column!r} column")
        unknown = [c for c in header if c not in COLUMNS]
        if unknown:
            raise SheetError(f"columns this script does not know: {', '.join(unknown)} "
                             "(add them to COLUMNS)")
        jobs, problems = [], []
        for row in reader:
            line = reader.line_num
            name = (row.get(file_column) or "").strip()
            by_path = folder / name
            matches = [by_path] if name and by_path.is_file() else by_name.get(
                Path(name).name.casefold(), [])
            if len(matches) != 1:
                problems.append(f"line {line}: {name!r} matches {len(matches)} images")
                continue
            jobs.append((matches[0], _context(row, line)))
    if problems:
        raise SheetError("; ".join(problems))
    return jobs


def tag_one(job: tuple[Path, photometa.PhotoContext, bool]) -> tuple[Path, Any]:
    """Write one file (module level, so worker processes can run it)."""
    path, ctx, dry_run = job
    try:
        return path, photometa.write(path, ctx, dry_run=dry_run)
    except photometa.PhotometaError as err:
        return path, err


def main(argv: list[str] | None = None) -> int:
    """Tag the folder from the spreadsheet; print what changed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("sheet", type=Path, help="CSV exported from the spreadsheet (UTF-8)")
    parser.add_argument("--dry-run", "-n", action="store_true", help="show, write nothing")
    parser.add_argument("--jobs", "-j", type=int, default=None, help="worker processes")
    args = parser.parse_args(argv)
    try:
        jobs = plan(args.folder, args.sheet)
    except (SheetError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    def work() -> Iterator[tuple[Path, photometa.PhotoContext, bool]]:
        for path, ctx in jobs:
            yield path, ctx, args.dry_run

    changed = unchanged = failed = 0
    for path, outcome in run_many(tag_one, work(), workers=args.jobs):
        if isinstance(outcome, photometa.PhotometaError):
            print(f"failed: {outcome}", file=sys.stderr)
            failed += 1
        elif outcome.changes:
            changed += 1
            print(f"{path}: {'would change' if args.dry_run else 'changed'}")
            for field, (old, new) in outcome.changes.items():
                print(f"  {field}: {old!r} -> {new!r}")
        else:
            unchanged += 1
    print(f"{changed} changed, {unchanged} already up to date, {failed} failed", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
