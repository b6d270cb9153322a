"""Run the fuzz targets.

    python tests/fuzz/run.py list
    python tests/fuzz/run.py seeds TARGET DIR               # the corpus seeds of TARGET, in DIR
    python tests/fuzz/run.py mutate [TARGET...] [-n N]      # deterministic, no atheris needed
    python tests/fuzz/run.py atheris TARGET [libFuzzer args and corpus dirs]
    python tests/fuzz/run.py measure TARGET [DIR...]        # time and memory of every input
    python tests/fuzz/run.py measure-files [PATH...]        # photometa.read_detailed, whole files
    python tests/fuzz/run.py measure-bombs [NAME...]        # worst cases at the limits (bombs.py)
    python tests/fuzz/run.py all [--seconds S] [--out DIR]  # what `make fuzz` runs

``all`` runs every target under atheris (coverage-guided, libFuzzer) for S seconds each, keeping
the corpus it grows in ``OUT/corpus/TARGET`` and crashes in ``OUT/crashes``, then measures every
kept input without instrumentation and fails when one takes a second or more, or more than
``--max-mib`` MiB of Python memory. The corpus of real files comes from ``$PHOTOMETA_CORPUS``
(default ``../shared/corpus`` beside the checkout).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
REPO = TESTS.parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

MAX_SECONDS = 1.0
MAX_MIB = 80.0


def corpus_root() -> Path | None:
    """The shared corpus, or None when it is not there."""
    root = Path(os.environ.get("PHOTOMETA_CORPUS", REPO.parent / "shared" / "corpus"))
    return root if (root / "MANIFEST.tsv").is_file() else None


def write_seeds(name: str, folder: Path) -> int:
    """Write the corpus seeds of target ``name`` into ``folder`` (named by content hash)."""
    from fuzz.targets import available, seeds_for

    folder.mkdir(parents=True, exist_ok=True)
    seeds = seeds_for(available()[name], corpus_root())
    for data in seeds:
        (folder / hashlib.sha1(data).hexdigest()).write_bytes(data)
    return len(seeds)


def _atheris(name: str, argv: list[str]) -> None:
    """Coverage-guided fuzzing of one target; never returns (libFuzzer exits)."""
    import atheris

    with atheris.instrument_imports(include=["photometa"]):
        import photometa  # noqa: F401 - instrumented before the targets import it
        from photometa import codecs, formats  # noqa: F401
        from photometa.codecs import exif, iptc, xmp  # noqa: F401
        from photometa.formats import REGISTRY  # noqa: F401
    from fuzz.targets import available

    target = available()[name]
    run = target.run

    def one(data: bytes) -> None:
        run(data)

    atheris.Setup([sys.argv[0], *argv], one)
    atheris.Fuzz()


def _inputs(folders: list[Path]) -> list[bytes]:
    out = []
    for folder in folders:
        if folder.is_file():
            out.append(folder.read_bytes())
        elif folder.is_dir():
            out.extend(p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file())
    return out


def cmd_measure(name: str, folders: list[Path], max_seconds: float, max_mib: float,
                out: Path | None = None) -> bool:
    """Measure every seed and every input in ``folders``; print the worst; False on a failure."""
    from fuzz.mutate import measure
    from fuzz.targets import available, seeds_for

    target = available()[name]
    inputs = [*seeds_for(target, corpus_root()), *_inputs(folders)]
    stats = measure(target.run, inputs)
    ok = not stats.failures
    print(f"{name}: measured {stats.summary()}")
    if stats.max_seconds >= max_seconds:
        ok = False
        print(f"{name}: an input took {stats.max_seconds:.2f} s (limit {max_seconds} s)")
        _save(out, name, "slow", stats.slowest)
    if stats.max_bytes > max_mib * 2**20:
        ok = False
        print(f"{name}: an input used {stats.max_bytes / 2**20:.1f} MiB (limit {max_mib} MiB)")
        _save(out, name, "memory", stats.biggest)
    for failure in stats.failures[:5]:
        print(failure.trace)
        _save(out, name, "crash", failure.data)
    return ok


def _save(out: Path | None, name: str, kind: str, data: bytes) -> None:
    if out is None:
        return
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}-{kind}-{hashlib.sha1(data).hexdigest()[:16]}"
    path.write_bytes(data)
    print(f"  saved {path}")


def cmd_mutate(names: list[str], iterations: int, seed: int, out: Path | None) -> bool:
    """The deterministic mutation run of each target; False when any input failed."""
    from fuzz.mutate import run_mutations
    from fuzz.targets import available, seeds_for

    targets = available()
    ok = True
    for name in names or list(targets):
        target = targets[name]
        stats = run_mutations(target.run, seeds_for(target, corpus_root()), iterations, seed=seed)
        print(f"{name}: {stats.summary()}")
        for failure in stats.failures[:5]:
            print(failure.trace)
            _save(out, name, "crash", failure.data)
        ok = ok and not stats.failures
    return ok


def cmd_measure_files(paths: list[Path], max_seconds: float, max_mib: float) -> bool:
    """Time and trace ``photometa.read_detailed`` on whole files (default: the whole corpus)."""
    import photometa
    from fuzz.mutate import Stats, measure

    if not paths:
        root = corpus_root()
        if root is None:
            print("no corpus (set PHOTOMETA_CORPUS)")
            return False
        lines = (root / "MANIFEST.tsv").read_text("utf-8").splitlines()[1:]
        paths = [root / line.split("\t")[0] for line in lines if line.strip()]
    by_name = {str(p).encode(): p for p in paths}

    def read(key: bytes) -> None:
        with contextlib.suppress(photometa.PhotometaError):
            photometa.read_detailed(by_name[key])

    stats: Stats = measure(read, list(by_name))
    print(f"whole files: measured {stats.summary().replace(' bytes)', ' chars of path)')}")
    print(f"  slowest: {stats.slowest.decode()}\n  most memory: {stats.biggest.decode()}")
    for failure in stats.failures[:5]:
        print(failure.trace)
    return (not stats.failures and stats.max_seconds < max_seconds
            and stats.max_bytes <= max_mib * 2**20)


def _status_mib(field: str) -> float:
    """VmRSS or VmHWM (peak) of this process, in MiB (Linux)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def cmd_bomb(path: Path) -> int:
    """Child of measure-bombs: read one file, print seconds, RSS growth and traced peak (MiB)."""
    import resource
    import time
    import tracemalloc

    import photometa
    from fuzz import bombs

    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))  # a bomb must not take the host
    for suffix, data in (("jpg", b"\xff\xd8" + bombs.SOS), ("xmp", bombs.xmp_tiny()),
                         ("tif", bombs.exif_tiny()), ("png", bombs.png_tiny()),
                         ("heic", bombs.bmff_tiny()), ("webp", bombs.webp_tiny())):
        warm = path.with_name(f"warm-up.{suffix}")  # imports and caches must not count
        warm.write_bytes(data)
        with contextlib.suppress(photometa.PhotometaError):
            photometa.read_detailed(warm)
        warm.unlink()
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak RSS (VmHWM)
    base = _status_mib("VmRSS")
    start = time.perf_counter()
    outcome = "read"
    try:
        photometa.read_detailed(path)
    except photometa.PhotometaError as err:
        outcome = f"refused ({err.code})"
    except MemoryError:
        outcome = "MemoryError"
    seconds = time.perf_counter() - start
    grown = _status_mib("VmHWM") - base
    tracemalloc.start()
    with contextlib.suppress(Exception):
        photometa.read_detailed(path)
    traced = tracemalloc.get_traced_memory()[1] / 2**20
    print(json.dumps({"seconds": seconds, "rss_mib": grown, "traced_mib": traced,
                      "outcome": outcome}))
    return 0


def cmd_measure_bombs(names: list[str], max_seconds: float, max_mib: float) -> bool:
    """Build each worst case file, read it in a fresh process, report time and memory."""
    import tempfile

    from fuzz.bombs import BOMBS

    ok = True
    with tempfile.TemporaryDirectory(prefix="photometa-bombs-") as tmp:
        for name in names or list(BOMBS):
            suffix, build = BOMBS[name]
            path = Path(tmp) / f"{name}{suffix}"
            path.write_bytes(build())
            try:
                proc = subprocess.run([sys.executable, __file__, "bomb", str(path)],
                                      capture_output=True, text=True, timeout=120, check=False)
                lines = proc.stdout.strip().splitlines()
                result = json.loads(lines[-1]) if proc.returncode == 0 and lines else None
            except subprocess.TimeoutExpired:
                result = None
                proc = None
            size = path.stat().st_size
            if result is None:
                ok = False
                why = "timed out" if proc is None else proc.stderr.strip().splitlines()[-1:]
                print(f"{name}: {size} bytes: FAILED {why}")
                continue
            bad = (result["seconds"] >= max_seconds or result["rss_mib"] > max_mib
                   or result["traced_mib"] > max_mib or result["outcome"] == "MemoryError")
            ok = ok and not bad
            print(f"{name}: {size / 2**20:.2f} MiB file, {result['outcome']} in "
                  f"{result['seconds'] * 1000:.0f} ms, RSS +{result['rss_mib']:.1f} MiB, "
                  f"traced peak {result['traced_mib']:.1f} MiB{'  <-- TOO COSTLY' if bad else ''}")
    return ok


def cmd_all(seconds: int, out: Path, max_seconds: float, max_mib: float) -> bool:
    """Every target: atheris for ``seconds``, then the measurement of what it kept."""
    from fuzz.targets import available, missing

    ok = True
    for name in available():
        seeds = out / "seeds" / name
        corpus = out / "corpus" / name
        crashes = out / "crashes"
        corpus.mkdir(parents=True, exist_ok=True)
        crashes.mkdir(parents=True, exist_ok=True)
        count = write_seeds(name, seeds)
        print(f"== {name}: {count} seeds, {seconds} s of atheris", flush=True)
        proc = subprocess.run(
            [sys.executable, __file__, "atheris", name, str(corpus), str(seeds),
             f"-max_total_time={seconds}", "-timeout=5", "-rss_limit_mb=1024",
             f"-artifact_prefix={crashes}/{name}-", "-print_final_stats=1"],
            check=False,
        )
        if proc.returncode != 0:
            ok = False
            print(f"== {name}: atheris found a problem (exit {proc.returncode}); see {crashes}")
        ok = cmd_measure(name, [corpus], max_seconds, max_mib, out / "slow") and ok
    ok = cmd_measure_files([], max_seconds, max_mib) and ok
    ok = cmd_measure_bombs([], max_seconds, max_mib) and ok
    if missing():
        print(f"not fuzzed yet (their modules do not exist): {', '.join(missing())}")
    return ok


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["atheris"]:
        if len(args) < 2:
            print("usage: run.py atheris TARGET [libFuzzer args]", file=sys.stderr)
            return 2
        _atheris(args[1], args[2:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list")
    p = sub.add_parser("seeds")
    p.add_argument("target")
    p.add_argument("folder", type=Path)
    p = sub.add_parser("mutate")
    p.add_argument("targets", nargs="*")
    p.add_argument("-n", "--iterations", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="save failing inputs here")
    p = sub.add_parser("measure")
    p.add_argument("target")
    p.add_argument("inputs", nargs="*", type=Path)
    p.add_argument("--max-seconds", type=float, default=MAX_SECONDS)
    p.add_argument("--max-mib", type=float, default=MAX_MIB)
    p = sub.add_parser("measure-files")
    p.add_argument("paths", nargs="*", type=Path)
    p.add_argument("--max-seconds", type=float, default=MAX_SECONDS)
    p.add_argument("--max-mib", type=float, default=MAX_MIB)
    p = sub.add_parser("measure-bombs")
    p.add_argument("names", nargs="*")
    p.add_argument("--max-seconds", type=float, default=MAX_SECONDS)
    p.add_argument("--max-mib", type=float, default=MAX_MIB)
    p = sub.add_parser("bomb")
    p.add_argument("path", type=Path)
    p = sub.add_parser("all")
    p.add_argument("--seconds", type=int, default=120)
    p.add_argument("--out", type=Path, default=REPO / "build" / "fuzz")
    p.add_argument("--max-seconds", type=float, default=MAX_SECONDS)
    p.add_argument("--max-mib", type=float, default=MAX_MIB)
    ns = parser.parse_args(args)
    if ns.command == "list":
        from fuzz.targets import describe

        print(json.dumps(describe(), indent=2))
        return 0
    if ns.command == "seeds":
        print(write_seeds(ns.target, ns.folder))
        return 0
    if ns.command == "mutate":
        return 0 if cmd_mutate(ns.targets, ns.iterations, ns.seed, ns.out) else 1
    if ns.command == "bomb":
        return cmd_bomb(ns.path)
    if ns.command == "measure-bombs":
        return 0 if cmd_measure_bombs(ns.names, ns.max_seconds, ns.max_mib) else 1
    if ns.command == "measure-files":
        return 0 if cmd_measure_files(ns.paths, ns.max_seconds, ns.max_mib) else 1
    if ns.command == "measure":
        return 0 if cmd_measure(ns.target, ns.inputs, ns.max_seconds, ns.max_mib) else 1
    return 0 if cmd_all(ns.seconds, ns.out, ns.max_seconds, ns.max_mib) else 1


if __name__ == "__main__":
    sys.exit(main())
