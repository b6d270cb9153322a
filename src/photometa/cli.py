"""The ``photometa`` command: read, tag, validate, schema.

Exit codes: 0 success (validate: every file valid), 1 validate found problems, 2 usage or I/O error.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from . import __version__
from .api import ReadResult, WriteOutcome, write
from .batch import expand_paths, run_many
from .errors import PhotometaError, PolicyError
from .manifest import (
    context_to_row,
    csv_line,
    csv_writer,
    parse_value,
    read_manifest,
    row_to_context,
)
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
on a terminal, a progress bar with rate and ETA is drawn on stderr (none when CI is set, when
stderr is not a terminal, or for `read` printing to the terminal); read and tag end with a
summary line on stderr.
"""


def _escape(text: str) -> str:
    """Make text from a file safe for a terminal: no control characters or escape sequences."""
    return "".join(
        ch if ch.isprintable() or ch == " " else f"\\x{ord(ch):02x}" if ord(ch) < 256
        else f"\\u{ord(ch):04x}"
        for ch in text
    )


class Progress:
    """A one-line progress bar with rate and ETA on a terminal; silent elsewhere and in CI.

    Lines printed while it runs go through :meth:`hide` first, so they never land on the end of
    the bar; the bar is drawn again below them at the next step.
    """

    def __init__(self, total: int | Callable[[], int], label: str,
                 stream: TextIO | None = None) -> None:
        """``total`` may be a function: it is called only on a terminal, where a bar is shown."""
        self.label = label
        self.stream: TextIO = stream if stream is not None else sys.stderr
        on_terminal = self.stream.isatty() and not os.environ.get("CI")
        if callable(total):
            total = total() if on_terminal else 0
        self.total = total
        self.enabled = on_terminal and total > 1
        self.done = 0
        self.start = time.monotonic()
        self.last = 0.0
        self.shown = False

    def step(self) -> None:
        """Count one item done (the bar is redrawn at most 10 times a second while shown)."""
        self.done += 1
        if not self.enabled:
            return
        now = time.monotonic()
        if self.shown and now - self.last < 0.1 and self.done < self.total:
            return
        self.shown = True
        self.last = now
        rate = self.done / max(now - self.start, 1e-6)
        eta = (self.total - self.done) / rate if rate else 0
        width = 30
        filled = int(width * self.done / self.total)
        self.stream.write(
            f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} "
            f"{rate:.0f}/s ETA {_duration(eta)} "
        )
        self.stream.flush()

    def hide(self) -> None:
        """Clear the bar, if it is shown, before a line is printed."""
        if self.shown:
            self.shown = False
            self.stream.write("\r" + " " * 79 + "\r")
            self.stream.flush()

    def close(self) -> None:
        """Clear the bar."""
        self.hide()


def _duration(seconds: float) -> str:
    s = int(seconds + 0.5)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def _rate(done: int, start: float) -> str:
    elapsed = time.monotonic() - start
    return f"in {elapsed:.1f} s ({done / max(elapsed, 1e-6):.0f} files/s)"


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
    if args.output:
        with open(args.output, "w", encoding="utf-8", newline="") as f:
            return _read_to(args, f)
    return _read_to(args, out)


ReadJob = tuple[Path, str, str | None, str, str]


def _render_read(job: ReadJob) -> tuple[str | None, str]:
    """Read one file and render it as ``read --format`` shows it: ``(error, text)``.

    Runs in the worker processes, so the rendering is parallel too and only text comes back
    (no model objects to pickle); the parent just writes it out, in order.
    """
    import io

    from .batch import _read_one

    path, fmt, base, sidecar, naming = job
    result = _read_one(path, sidecar, naming)  # type: ignore[arg-type]
    if result.error is not None:
        return str(result.error), ""
    assert result.context is not None
    if fmt == "csv":
        shown = os.path.relpath(path, base) if base is not None else str(path)
        return None, csv_line(context_to_row(Path(shown).as_posix(), result.context))
    if fmt in ("json", "jsonl"):
        doc = {"path": str(path), "context": _plain(result.context),
               "findings": [vars(f) for f in result.findings]}
        if fmt == "jsonl":
            return None, json.dumps(doc, ensure_ascii=False) + "\n"
        # one element of a JSON array, laid out as json.dump(..., indent=2) would
        return None, "\n  " + json.dumps(doc, ensure_ascii=False, indent=2).replace("\n", "\n  ")
    buf = io.StringIO()
    _print_table(result, buf)
    return None, buf.getvalue()


def _read_to(args: argparse.Namespace, out: TextIO) -> int:
    from .batch import count_paths

    def total() -> int:
        return count_paths(args.paths)

    # documents shown on the terminal are progress enough (and may end mid-line, under a bar)
    progress = Progress(0 if out.isatty() else total, "reading")
    status = EXIT_OK
    base = os.fspath(Path(args.output).parent) if args.output else None
    if args.format == "csv":
        csv_writer(out)  # the header
    done = failed = 0
    if args.format == "json":
        out.write("[")
    jobs = ((p, args.format, base, args.sidecar, args.sidecar_naming)
            for p in expand_paths(args.paths))
    for error, text in _tracked(run_many(_render_read, jobs, workers=args.jobs), progress):
        if error is not None:
            progress.hide()
            print(f"photometa: {_escape(error)}", file=sys.stderr)
            status = EXIT_ERROR
            failed += 1
        elif args.format == "json" and done > failed:
            out.write("," + text)
        else:
            out.write(text)
        done += 1
    documents = done - failed
    if args.format == "json":
        out.write("\n]\n" if documents else "]\n")
    if done == 0:
        print("photometa: no image files found", file=sys.stderr)
    elif done > 1 or failed:
        print(f"read {done - failed}, failed {failed}, {_rate(done, progress.start)}",
              file=sys.stderr)
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


def _tag_job(job: tuple[Path, PhotoContext, list[str], bool, str], sidecar: str = "auto",
             sidecar_naming: str = "replace", verify: str = "sample") -> tuple[Path, Any]:
    path, ctx, clear, dry_run, iim = job
    try:
        return path, write(path, ctx, clear=clear, dry_run=dry_run, iim=iim,  # type: ignore[arg-type]
                           sidecar=sidecar, sidecar_naming=sidecar_naming,  # type: ignore[arg-type]
                           verify=verify)  # type: ignore[arg-type]
    except PhotometaError as err:
        return path, err


def _cmd_tag(args: argparse.Namespace, out: TextIO) -> int:
    from .batch import count_paths, job_error

    Job = tuple[Path, PhotoContext, list[str], bool, str]
    jobs: Iterable[Job]
    clear = list(args.clear or [])
    if args.manifest:
        if args.set:
            raise PolicyError("use either --from or --set, not both", code="usage")
        rows = read_manifest(Path(args.manifest))  # every row is checked before any file is written
        jobs = ((row.path, row.context, clear, args.dry_run, args.iim) for row in rows)

        def total() -> int:
            return len(rows)

        if args.paths:
            wanted = {p.resolve() for p in expand_paths(args.paths)}
            jobs = (j for j in jobs if j[0].resolve() in wanted)

            def total() -> int:
                return sum(r.path.resolve() in wanted for r in read_manifest(Path(args.manifest)))

    elif args.set or clear:
        ctx, cleared = _parse_sets(args.set or [])
        if not args.paths:
            raise PolicyError("name the files or folders to tag", code="usage")
        jobs = ((p, ctx, clear + cleared, args.dry_run, args.iim) for p in expand_paths(args.paths))

        def total() -> int:
            return count_paths(args.paths)

    else:
        raise PolicyError("nothing to do: give --set FIELD=VALUE, --clear FIELD or --from FILE",
                          code="usage")
    progress = Progress(total, "tagging")
    shares_terminal = out.isatty()  # then the bar is cleared before each file's changes
    status = EXIT_OK
    written = unchanged = failed = 0
    finished = False
    try:
        tag_job = functools.partial(_tag_job, sidecar=args.sidecar,
                                    sidecar_naming=args.sidecar_naming, verify=args.verify)
        for path, result in _tracked(run_many(tag_job, jobs, workers=args.jobs,
                                              on_error=job_error), progress):
            if isinstance(result, PhotometaError):
                progress.hide()
                print(f"photometa: {_escape(str(result))}", file=sys.stderr)
                failed += 1
                status = EXIT_ERROR
                continue
            assert isinstance(result, WriteOutcome)
            if result.changes:
                if shares_terminal:
                    progress.hide()
                verb = "would change" if args.dry_run else "changed"
                out.write(f"{_escape(str(path))}: {verb}\n")
                for name, (old, new) in result.changes.items():
                    out.write(f"  {name}: {_escape(_short(old))} -> {_escape(_short(new))}\n")
            if result.written or (args.dry_run and result.changes):
                written += 1
            else:
                unchanged += 1
        finished = True
    finally:
        verb = "would write" if args.dry_run else "wrote"
        done = written + unchanged + failed
        print(f"{verb} {written}, unchanged {unchanged}, failed {failed}, "
              f"{_rate(done, progress.start)}", file=sys.stderr)
        if not finished:
            print("photometa: stopped early (files in flight were finished, each write is "
                  "atomic); run the same command again to do the rest", file=sys.stderr)
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
    import sqlite3
    from functools import partial

    from ._cache import CACHE_DIR, ValidationCache
    from .batch import count_paths, iter_files
    from .policy import PolicyResolver, RuleInfo
    from .reports import ReportWriter
    from .validate import select_changed, validate_stream

    resolver = PolicyResolver(load_policy(args.policy) if args.policy else None)
    paths: Iterable[str]
    total: int | Callable[[], int]
    if args.changed_since:
        changed = select_changed(expand_paths(args.paths), args.changed_since, args.policy)
        paths, total = (os.fspath(p) for p in changed), len(changed)
    else:  # streamed: no list of the archive's files is ever held
        paths, total = iter_files(args.paths), functools.partial(count_paths, args.paths)
    cache: ValidationCache | None = None
    if not args.no_cache:
        try:
            cache = ValidationCache(args.cache_dir or os.environ.get("PHOTOMETA_CACHE_DIR")
                                    or CACHE_DIR)
        except (OSError, sqlite3.Error) as err:
            print(f"photometa: working without a cache: {_escape(str(err))}", file=sys.stderr)
    progress = Progress(total, "validating")
    # chunks of files go to --jobs processes, this one among them (one process fewer: less
    # memory); fewer than two chunks are checked here alone
    runner = partial(run_many, workers=args.jobs, chunk=1, in_process_below=2, share=True)
    color = not args.output and out.isatty() and not os.environ.get("NO_COLOR")
    writer = ReportWriter(args.report, color=color, fail_on=args.fail_on, on_disk=True)
    io_problem = False
    try:
        for path, findings in _tracked(validate_stream(paths, resolver, cache=cache,
                                                       runner=runner), progress):
            writer.add(path, findings)
            if findings and not io_problem:
                io_problem = any(f.code in ("not-found", "io", "permission") for f in findings)
    except BaseException:
        writer.close()
        raise
    finally:
        if cache is not None:
            cache.close()
    if cache is not None and cache.problem:
        print(f"photometa: {_escape(cache.problem)}", file=sys.stderr)
    rules: dict[str, RuleInfo] = dict(Policy().rule_infos())
    for _source, used in sorted(resolver.loaded.items()):
        rules.update(used.rule_infos())
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8") as f:
                writer.finish(f, rules=rules)
        except OSError as err:
            raise PhotometaError(f"cannot write the report: {err.strerror or err}",
                                 path=args.output, code="io") from err
        finally:
            writer.close()
        print(f"photometa: {writer.files} file(s) checked, {writer.invalid} failed at "
              f"{args.fail_on}; {args.report} report in {_escape(args.output)}", file=sys.stderr)
    else:
        writer.finish(out, rules=rules)
    if io_problem:
        return EXIT_ERROR
    return EXIT_FINDINGS if writer.invalid else EXIT_OK


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

    def sidecars(p: argparse.ArgumentParser, what: str) -> None:
        p.add_argument("--sidecar", choices=["auto", "always", "never"], default="auto", help=what)
        p.add_argument("--sidecar-naming", choices=["replace", "append"], default="replace",
                       help="name of a new sidecar: photo.xmp (replace, the default: Lightroom, "
                       "Capture One, ExifTool) or photo.CR2.xmp (append: darktable, digiKam); an "
                       "existing sidecar of either name is used")

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
    sidecars(p, "read an XMP sidecar beside each image and let its fields win (auto, always, "
             "the default) or read the image alone (never)")
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
    p.add_argument("--verify", choices=["sample", "full"], default="sample",
                   help="how each new file is checked before it replaces the old one: sample "
                   "(default) compares the first and last 64 KiB of every range of image data "
                   "copied; full compares all of it by hash and parses the new file strictly")
    sidecars(p, "auto (default): in place when the format allows, else an XMP sidecar (HEIC, "
             "AVIF, DNG, RAW), and an existing sidecar is kept in agreement; always: only the "
             "sidecar, the image is never written; never: no sidecar, read-only formats fail")
    jobs(p)
    p.set_defaults(func=_cmd_tag)

    p = sub.add_parser(
        "validate", help="check metadata against the schema and the archive's policy",
        description="Validate the context of images against the schema and the archive's policy "
        "(photometa.toml, or [tool.photometa] in pyproject.toml, found by walking up from each "
        "file). Exit 0 when every file passes, 1 when any has a finding at the --fail-on level, "
        "2 on usage or I/O errors (including a broken policy, named by line).",
        epilog="examples:\n"
        "  photometa validate archive/\n"
        "  photometa validate archive/ --report sarif --output photometa.sarif\n"
        "  photometa validate archive/ --report junit --output junit.xml --fail-on warning\n"
        "  photometa validate . --changed-since origin/main --report github\n"
        "\nresults are cached in .photometa-cache/ by file content, policy and photometa "
        "version,\nso re-validating an unchanged archive reads nothing; docs/policy.md has the "
        "policy format.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders")
    p.add_argument("--policy", metavar="FILE",
                   help="policy for every file (photometa.toml or a pyproject.toml); default: "
                   "the nearest one in or above each file's folder")
    p.add_argument("--report", "-r", choices=["text", "json", "junit", "github", "sarif"],
                   default="text", help="text for people (default); json (schemas/report."
                   "schema.json), junit, github (workflow annotations) or sarif (code scanning)")
    p.add_argument("--output", "-o", metavar="FILE", help="write the report to FILE")
    p.add_argument("--fail-on", choices=["warning", "error"], default="error",
                   help="the least severity that fails a file and the run (default: error)")
    p.add_argument("--changed-since", metavar="REF",
                   help="only files that git says changed since REF (and all files under a "
                   "policy that changed)")
    p.add_argument("--cache-dir", metavar="DIR",
                   help="where to keep the result cache (default: $PHOTOMETA_CACHE_DIR, else "
                   ".photometa-cache)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
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
