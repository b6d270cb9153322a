"""Fuzzing in CI, bounded: every parser gets the corpus seeds plus deterministic mutations of them,
structure-aware hypothesis inputs, and (when atheris is installed) a short coverage-guided run.

A target may only raise PhotometaError; anything else, or a failed check inside a target (a write
that does not read back, a block that does not survive its own encoder), fails the test. Memory per
input is measured with tracemalloc and must stay under a few tens of MB. Time per input is measured
too, but only reported here (shared CI machines are noisy); ``make fuzz`` fails on a slow input.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz.mutate import measure, run_mutations
from fuzz.targets import EXPECTED, available, missing, seeds_for
from photometa.formats import REGISTRY
from strategies import STRATEGIES

TARGETS = available()
ITERATIONS = {"write": 150}
DEFAULT_ITERATIONS = 500
SEED_STEP = {"write": 3}  # writes are slow: every third seed in CI (`make fuzz` takes them all)
MAX_BYTES = 48 * 2**20
RUN_PY = Path(__file__).parent / "fuzz" / "run.py"


def test_every_parser_has_a_fuzz_target() -> None:
    registered = {container.read.__module__ for container in REGISTRY}
    modules = {t.module for t in TARGETS.values()}
    assert registered <= modules, f"not fuzzed: {sorted(registered - modules)}"
    for name, module in EXPECTED.items():
        # codecs and the api always; a container as soon as it is in the registry
        if not module.startswith("photometa.formats.") or module in registered:
            assert name in TARGETS, f"{name} ({module}) has no fuzz target"
        else:
            assert name in missing(), f"{name} is neither fuzzed nor reported missing"


def _report(stats_line: str, record_property: pytest.RecordProperty) -> None:
    record_property("fuzz", stats_line)
    print(stats_line)


@pytest.mark.corpus
@pytest.mark.parametrize("name", sorted(TARGETS))
def test_mutation_fuzz(name: str, corpus: Path, record_property: pytest.RecordProperty) -> None:
    target = TARGETS[name]
    seeds = seeds_for(target, corpus)[:: SEED_STEP.get(name, 1)]
    assert seeds, f"no corpus seeds for {name}"
    stats = run_mutations(target.run, seeds, ITERATIONS.get(name, DEFAULT_ITERATIONS), seed=7)
    _report(f"{name}: {stats.summary()}", record_property)
    assert not stats.failures, stats.failures[0].trace
    assert stats.max_bytes < MAX_BYTES, f"{name}: {stats.max_bytes} bytes for one input"


@pytest.mark.parametrize("name", sorted(n for n in STRATEGIES if n in TARGETS))
def test_structure_aware_inputs(name: str) -> None:
    run = TARGETS[name].run

    @settings(max_examples=40 if name == "write" else 60, deadline=None, database=None,
              derandomize=True, suppress_health_check=[HealthCheck.too_slow,
                                                       HealthCheck.data_too_large])
    @given(data=STRATEGIES[name]())
    def check(data: bytes) -> None:
        run(data)

    check()


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_random_bytes(name: str) -> None:
    run = TARGETS[name].run

    @settings(max_examples=60, deadline=None, database=None, derandomize=True)
    @given(head=st.sampled_from([b"", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*",
                                 b"\x89PNG\r\n\x1a\n", b"RIFF\x00\x00\x00\x00WEBP",
                                 b"\x00\x00\x00\x18ftypheic", b"<x:xmpmeta", b"8BIM", b"\x1c\x02"]),
           body=st.binary(max_size=512))
    def check(head: bytes, body: bytes) -> None:
        run(head + body)

    check()


def test_measurement_sees_memory_and_time() -> None:
    """The harness's own yardstick: a known allocation shows up, failures are recorded."""

    def hungry(data: bytes) -> None:
        block = bytearray(len(data) * 1000)
        if data == b"boom":
            raise IndexError("not a PhotometaError")
        del block

    stats = measure(hungry, [b"x" * 1000, b"boom"])
    assert stats.inputs == 2
    assert 900_000 < stats.max_bytes < 2_000_000
    assert stats.biggest == b"x" * 1000
    assert [f.error for f in stats.failures] == ["IndexError: not a PhotometaError"]
    assert stats.max_seconds > 0


@pytest.mark.corpus
@pytest.mark.skipif(importlib.util.find_spec("atheris") is None,
                    reason="atheris not installed (pip install -e '.[fuzz]')")
@pytest.mark.parametrize("name", sorted(TARGETS))
def test_atheris_short_run(name: str, corpus: Path, tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    found = tmp_path / "corpus"
    found.mkdir()
    subprocess.run([sys.executable, str(RUN_PY), "seeds", name, str(seeds)], check=True,
                   capture_output=True)
    runs = 300 if name == "write" else 1000
    proc = subprocess.run(
        [sys.executable, str(RUN_PY), "atheris", name, str(found), str(seeds), f"-runs={runs}",
         "-seed=1", "-timeout=20", "-rss_limit_mb=1536", f"-artifact_prefix={tmp_path}/"],
        capture_output=True, text=True, check=False, timeout=600,
    )
    tail = "\n".join(proc.stderr.splitlines()[-60:])
    assert proc.returncode == 0, f"atheris found a problem in {name}:\n{tail}"
