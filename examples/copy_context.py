#!/usr/bin/env python3
"""Copy the context of one set of images onto another, matching files by name.

Typical use: the masters (``originals/IMG_0042.tif``) carry the context, the derivatives made from
them (``web/IMG_0042.jpg``, or ``web/IMG_0042-1200.jpg`` with ``--strip=-1200``) lost it. Files
match by name without the extension (case does not matter). Copy this script and adapt the
matching to your naming scheme.

    python copy_context.py originals/ web/ --dry-run
    python copy_context.py originals/ web/ --fields location subject.keywords photographer

Only the chosen fields are copied (default: all); the target keeps its other values, and a field the
source leaves empty keeps the target's value. Files that already hold the values are not rewritten,
so running it twice is harmless. Exit status: 0 when all went well, 1 when some target failed or
matched no source (or more than one), 2 on usage errors.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import photometa
from photometa.batch import expand_paths, run_many


def key(path: Path, strip: list[str]) -> str:
    """The name a file is matched by: no extension, no stripped suffix, case folded."""
    stem = path.stem
    for suffix in strip:
        if suffix and stem.endswith(suffix):
            stem = stem[: -len(suffix)]
    return stem.casefold()


def selected(ctx: photometa.PhotoContext, fields: list[str]) -> photometa.PhotoContext:
    """``ctx`` with only the fields named (a group such as ``location`` names all of its fields)."""
    if not fields:
        return ctx
    tree: dict[str, Any] = {}
    for path in photometa.FIELD_PATHS:
        if not any(path == f or path.startswith(f + ".") for f in fields):
            continue
        value = ctx.get_path(path)
        if value is None or value == []:
            continue
        node = tree
        *parents, leaf = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return photometa.PhotoContext.model_validate(tree)


def copy_one(job: tuple[Path, Path, list[str], bool]) -> tuple[Path, Any]:
    """Read the source, write the chosen fields to the target (module level for the workers)."""
    source, target, fields, dry_run = job
    try:
        ctx = selected(photometa.read(source), fields)
        return target, photometa.write(target, ctx, dry_run=dry_run)
    except photometa.PhotometaError as err:
        return target, err


def main(argv: list[str] | None = None) -> int:
    """Match the targets to the sources and copy the context across."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sources", type=Path, help="folder of images that carry the context")
    parser.add_argument("targets", type=Path, help="folder of images to receive it")
    parser.add_argument("--fields", nargs="+", default=[], metavar="FIELD",
                        help="fields or groups to copy (default: all), e.g. location subject")
    parser.add_argument("--strip", action="append", default=[], metavar="SUFFIX",
                        help="ignore this ending of target names when matching, e.g. --strip=-web")
    parser.add_argument("--dry-run", "-n", action="store_true", help="show, write nothing")
    parser.add_argument("--jobs", "-j", type=int, default=None, help="worker processes")
    args = parser.parse_args(argv)
    unknown = [f for f in args.fields
               if not any(p == f or p.startswith(f + ".") for p in photometa.FIELD_PATHS)]
    if unknown:
        print(f"error: unknown field(s): {', '.join(unknown)} (see `photometa schema`)",
              file=sys.stderr)
        return 2

    sources: dict[str, list[Path]] = {}
    for path in expand_paths([args.sources]):
        sources.setdefault(key(path, []), []).append(path)
    jobs, status = [], 0
    for target in expand_paths([args.targets]):
        found = sources.get(key(target, args.strip), [])
        if len(found) != 1:
            print(f"{target}: {len(found)} sources match; skipped", file=sys.stderr)
            status = 1
            continue
        jobs.append((found[0], target, args.fields, args.dry_run))

    changed = 0
    for target, outcome in run_many(copy_one, jobs, workers=args.jobs):
        if isinstance(outcome, photometa.PhotometaError):
            print(f"failed: {outcome}", file=sys.stderr)
            status = 1
        elif outcome.changes:
            changed += 1
            print(f"{target}: {'would change' if args.dry_run else 'changed'} "
                  f"{', '.join(outcome.changes)}")
    print(f"{changed} of {len(jobs)} matched target(s) changed", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
