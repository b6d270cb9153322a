#!/usr/bin/env python3
"""Validate every image of an archive and write a report for people and one for machines.

Copy and adapt: checks each image against the schema and the archive's policy, in parallel, then
writes a JSON report (``--json``) and/or a JUnit XML report (``--junit``, which CI systems show as
test results), and prints which problems are most common and where.

    python validate_archive.py archive/ --json report.json --junit junit.xml
    python validate_archive.py archive/ --policy archive/photometa.toml --jobs 4

Exit status: 0 when every file passes, 1 when any has an error finding, 2 on usage errors.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import photometa
from photometa.batch import expand_paths, run_many
from photometa.reports import render


def check(job: tuple[Path, photometa.Policy | None]) -> photometa.Report:
    """Validate one file (module level, so worker processes can run it)."""
    path, policy = job
    return photometa.validate(path, policy)


def main(argv: list[str] | None = None) -> int:
    """Validate the archive, write the reports, print a summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("archive", type=Path, help="folder (searched recursively) or file")
    parser.add_argument("--policy", type=Path, help="policy file (default: found per folder)")
    parser.add_argument("--json", type=Path, help="write the JSON report here")
    parser.add_argument("--junit", type=Path, help="write the JUnit XML report here")
    parser.add_argument("--jobs", "-j", type=int, default=None, help="worker processes")
    args = parser.parse_args(argv)
    try:
        policy = photometa.load_policy(args.policy) if args.policy else None
    except photometa.PhotometaError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    jobs = ((path, policy) for path in expand_paths([args.archive]))
    reports = list(run_many(check, jobs, workers=args.jobs))
    if args.json:
        args.json.write_text(render(reports, "json"), "utf-8")
    if args.junit:
        args.junit.write_text(render(reports, "junit"), "utf-8")

    bad = [r for r in reports if not r.ok]
    codes = Counter(f.code for r in reports for f in r.findings if f.severity != "info")
    folders = Counter(r.path.parent.as_posix() for r in bad)
    print(f"{len(reports)} file(s) checked, {len(bad)} with errors")
    for code, n in codes.most_common(10):
        print(f"  {n:6}  {code}")
    if folders:
        print("folders with the most failing files:")
        for folder, n in folders.most_common(5):
            print(f"  {n:6}  {folder}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
