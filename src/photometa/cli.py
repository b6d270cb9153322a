"""The ``photometa`` command: read, tag, validate, schema.

Exit codes: 0 success (validate: every file valid), 1 validate found problems, 2 usage or I/O error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from . import __version__
from .api import ReadResult, WriteOutcome, write
from .batch import expand_paths, read_many, run_many
from .errors import PhotometaError, PolicyError
from .manifest import context_to_row, parse_value, read_manifest, row_to_context, write_csv
from .model import FIELD_PATHS, PhotoContext
from .policy import Policy, load_policy
from .report import Report
from .schema import json_schema
from .validate import validate

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2

_EPILOG = """\
examples:
  photometa read photos/ --format table
  photometa read photos/ --format csv --output photos/manifest.csv
  photometa tag photos/ --set location.city=Pyongyang --set location.country_code=KP
  photometa tag --from photos/manifest.csv --dry-run
  photometa validate photos/ --policy photometa.toml --report json --output report.json
  photometa schema > photocontext.schema.json

fields are dotted schema paths; `photometa schema` lists them all.
exit codes: 0 ok, 1 validation findings, 2 usage or I/O error.
"""


def _escape(text: str) -> str:
    """Make text from a file safe for a terminal: no control characters or escape sequences."""
    return "".join(
        ch if ch.isprintable() or ch == " " else f"\\x{ord(ch):02x}" if ord(ch) < 256
        else f"\\u{ord(ch):04x}"
        for ch in text
    )


class Progress:
    """A one-line progress bar with rate and ETA on a terminal; silent elsewhere and in CI."""

    def __init__(self, total: int, label: str, stream: TextIO = sys.stderr) -> None:
        self.total, self.label, self.stream = total, label, stream
        self.enabled = stream.isatty() and not os.environ.get("CI") and total > 1
        self.done = 0
        self.start = time.monotonic()
        self.last = 0.0

    def step(self) -> None:
        """Count one item done."""
        self.done += 1
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.last < 0.1 and self.done < self.total:
            return
        self.last = now
        rate = self.done / max(now - self.start, 1e-6)
        eta = (self.total - self.done) / rate if rate else 0
        width = 30
        filled = int(width * self.done / self.total)
        self.stream.write(
            f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} "
            f"{rate:.0f}/s ETA {eta:.0f}s "
        )
        self.stream.flush()

    def close(self) -> None:
        """Clear the bar."""
        if self.enabled:
            self.stream.write("\r" + " " * 79 + "\r")
            self.stream.flush()


def _tracked(items: Iterable[Any], progress: Progress) -> Iterator[Any]:
    try:
        for item in items:
            progress.step()
            yield item
    finally:
        progress.close()


# -- read ----------------------------------------------------------------------------------------


def _plain(ctx: PhotoContext) -> dict[str, Any]:
    return json.loads(ctx.model_dump_json(exclude_none=True))  # type: ignore[no-any-return]


def _cmd_read(args: argparse.Namespace, out: TextIO) -> int:
    paths = list(expand_paths(args.paths))
    progress = Progress(len(paths), "reading")
    status = EXIT_OK
    results = _tracked(read_many(paths, workers=args.jobs), progress)
    base = Path(args.output).parent if args.output else None
    rows: list[dict[str, str]] = []
    documents: list[dict[str, Any]] = []
    for result in results:
        if result.error is not None:
            print(f"photometa: {_escape(str(result.error))}", file=sys.stderr)
            status = EXIT_ERROR
            continue
        assert result.context is not None
        if args.format == "csv":
            shown = os.path.relpath(result.path, base) if base else str(result.path)
            rows.append(context_to_row(Path(shown).as_posix(), result.context))
        elif args.format in ("json", "jsonl"):
            doc = {"path": str(result.path), "context": _plain(result.context),
                   "findings": [vars(f) for f in result.findings]}
            if args.format == "jsonl":
                out.write(json.dumps(doc, ensure_ascii=False) + "\n")
            else:
                documents.append(doc)
        else:
            _print_table(result, out)
    if args.format == "csv":
        write_csv(rows, out)
    elif args.format == "json":
        json.dump(documents, out, ensure_ascii=False, indent=2)
        out.write("\n")
    return status


def _print_table(result: ReadResult, out: TextIO) -> None:
    assert result.context is not None
    out.write(f"{_escape(str(result.path))}\n")
    shown = 0
    for name in FIELD_PATHS:
        value = result.context.get_path(name)
        if value in (None, []):
            continue
        text = "; ".join(value) if isinstance(value, list) else str(value)
        out.write(f"  {name:<24} {_escape(text)}\n")
        shown += 1
    if not shown:
        out.write("  (no context)\n")
    for finding in result.findings:
        out.write(f"  ! {finding.severity}: {finding.field or '-'}: {_escape(finding.message)}\n")
    out.write("\n")


# -- tag -----------------------------------------------------------------------------------------


def _parse_sets(items: Sequence[str]) -> tuple[PhotoContext, list[str]]:
    values: dict[str, Any] = {}
    clear: list[str] = []
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep:
            raise PolicyError(f"--set {item!r}: expected FIELD=VALUE", code="usage")
        if name not in FIELD_PATHS:
            raise PolicyError(f"--set: unknown field {name!r}; see `photometa schema`",
                              code="usage", field=name)
        if text == "":
            clear.append(name)
        else:
            values[name] = parse_value(name, text)
    return row_to_context(values, where="--set"), clear


def _tag_job(job: tuple[Path, PhotoContext, list[str], bool, str]) -> tuple[Path, Any]:
    path, ctx, clear, dry_run, iim = job
    try:
        return path, write(path, ctx, clear=clear, dry_run=dry_run, iim=iim)  # type: ignore[arg-type]
    except PhotometaError as err:
        return path, err


def _cmd_tag(args: argparse.Namespace, out: TextIO) -> int:
    jobs: list[tuple[Path, PhotoContext, list[str], bool, str]] = []
    clear = list(args.clear or [])
    if args.manifest:
        if args.set:
            raise PolicyError("use either --from or --set, not both", code="usage")
        for row in read_manifest(Path(args.manifest)):
            jobs.append((row.path, row.context, clear, args.dry_run, args.iim))
        if args.paths:
            wanted = {p.resolve() for p in expand_paths(args.paths)}
            jobs = [j for j in jobs if j[0].resolve() in wanted]
    elif args.set or clear:
        ctx, cleared = _parse_sets(args.set or [])
        if not args.paths:
            raise PolicyError("name the files or folders to tag", code="usage")
        jobs = [(p, ctx, clear + cleared, args.dry_run, args.iim) for p in expand_paths(args.paths)]
    else:
        raise PolicyError("nothing to do: give --set FIELD=VALUE, --clear FIELD or --from FILE",
                          code="usage")
    progress = Progress(len(jobs), "tagging")
    status = EXIT_OK
    written = unchanged = failed = 0
    for path, result in _tracked(run_many(_tag_job, jobs, workers=args.jobs), progress):
        if isinstance(result, PhotometaError):
            print(f"photometa: {_escape(str(result))}", file=sys.stderr)
            failed += 1
            status = EXIT_ERROR
            continue
        assert isinstance(result, WriteOutcome)
        if result.changes:
            verb = "would change" if args.dry_run else "changed"
            out.write(f"{_escape(str(path))}: {verb}\n")
            for name, (old, new) in result.changes.items():
                out.write(f"  {name}: {_escape(_short(old))} -> {_escape(_short(new))}\n")
        if result.written or (args.dry_run and result.changes):
            written += 1
        else:
            unchanged += 1
    verb = "would write" if args.dry_run else "wrote"
    print(f"{verb} {written}, unchanged {unchanged}, failed {failed}", file=sys.stderr)
    return status


def _short(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, list):
        value = "; ".join(value)
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- validate ------------------------------------------------------------------------------------


def _validate_job(job: tuple[Path, Policy]) -> Report:
    path, policy = job
    return validate(path, policy)


def _cmd_validate(args: argparse.Namespace, out: TextIO) -> int:
    from .reports import render

    policy = load_policy(args.policy)
    paths = list(expand_paths(args.paths))
    progress = Progress(len(paths), "validating")
    reports = list(_tracked(run_many(_validate_job, [(p, policy) for p in paths],
                                     workers=args.jobs), progress))
    text = render(reports, args.report, color=out.isatty() and not os.environ.get("NO_COLOR"))
    if args.output:
        Path(args.output).write_text(text, "utf-8")
    else:
        out.write(text)
    if any(f.code in ("not-found", "io", "permission") for r in reports for f in r.findings):
        return EXIT_ERROR
    return EXIT_OK if all(r.ok for r in reports) else EXIT_FINDINGS


def _cmd_schema(args: argparse.Namespace, out: TextIO) -> int:
    out.write(json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n")
    return EXIT_OK


# -- main ----------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used to generate the CLI reference)."""
    parser = argparse.ArgumentParser(
        prog="photometa",
        description="Record and check the context of photographs (where, what and who, by whom, "
        "and why it is restricted) inside the image files, as standard EXIF / IPTC / XMP.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"photometa {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def jobs(p: argparse.ArgumentParser) -> None:
        p.add_argument("--jobs", "-j", type=int, default=None, metavar="N",
                       help="worker processes (default: all cores)")

    p = sub.add_parser("read", help="show the context stored in images",
                       description="Read the context of images; folders are searched recursively.")
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders")
    p.add_argument("--format", "-f", choices=["table", "json", "jsonl", "csv"], default="table",
                   help="table for people; json, jsonl or csv for programs and spreadsheets "
                   "(the CSV is a manifest that `tag --from` accepts)")
    p.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout "
                   "(CSV paths are then relative to FILE's folder)")
    jobs(p)
    p.set_defaults(func=_cmd_read)

    p = sub.add_parser("tag", help="write context into images",
                       description="Write context into images, merged with what they hold. "
                       "Each value goes to EXIF, XMP and IPTC-IIM so every tool sees it; "
                       "nothing else in the file changes.",
                       epilog="examples:\n  photometa tag a.jpg --set subject.keywords='market; "
                       "street vendor'\n  photometa tag --from manifest.csv --jobs 4\n"
                       "  photometa tag a.jpg --clear location.gps",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="image files or folders (with --from: only these rows)")
    p.add_argument("--from", dest="manifest", metavar="MANIFEST",
                   help="CSV or JSONL manifest with a 'path' column and dotted field columns")
    p.add_argument("--set", action="append", metavar="FIELD=VALUE",
                   help="set a field (repeatable); list fields take 'a; b'; FIELD= clears it")
    p.add_argument("--clear", action="append", metavar="FIELD", help="remove a field (repeatable)")
    p.add_argument("--dry-run", "-n", action="store_true",
                   help="show what would change, write nothing")
    p.add_argument("--iim", choices=["always", "if-present", "never"], default="always",
                   help="write IPTC-IIM: always (default), only if the file has it, or never")
    jobs(p)
    p.set_defaults(func=_cmd_tag)

    p = sub.add_parser("validate", help="check metadata against the schema and a policy",
                       description="Validate the context of images. Exit 0 when all are valid, "
                       "1 when any has an error finding, 2 on usage or I/O errors.")
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders")
    p.add_argument("--policy", metavar="FILE", help="archive policy (TOML)")
    p.add_argument("--report", "-r", choices=["text", "json", "junit", "github"], default="text",
                   help="report format")
    p.add_argument("--output", "-o", metavar="FILE", help="write the report to FILE")
    jobs(p)
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("schema", help="print the JSON Schema of the photo context",
                       description="Print the JSON Schema of PhotoContext.")
    p.set_defaults(func=_cmd_schema)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args, sys.stdout)
        return code
    except PhotometaError as err:
        print(f"photometa: {_escape(str(err))}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:  # pragma: no cover - e.g. `photometa read ... | head`
        return EXIT_OK
    except KeyboardInterrupt:  # pragma: no cover
        print("photometa: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
