"""A small deterministic mutation fuzzer (no atheris needed), measuring time and memory per input.

CI uses it for a bounded, reproducible run of every target; ``run.py measure`` uses :func:`measure`
to check that any input is handled in under a second and a few tens of MB.
"""

from __future__ import annotations

import random
import struct
import time
import traceback
import tracemalloc
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

__all__ = ["Failure", "Stats", "measure", "mutate", "run_mutations"]

_INTERESTING_8 = (0x00, 0x01, 0x7F, 0x80, 0xFF, 0x1C, 0x3C, 0x3E)
_INTERESTING_16 = (0, 1, 2, 0x7FFF, 0x8000, 0x8004, 0xFFFF, 0xFFFE, 12, 0x2A)
_INTERESTING_32 = (0, 1, 8, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFFFFF0, 0x10000)
_TOKENS = (b"\xff\xd8\xff", b"\xff\xe1", b"\xff\xed", b"\xff\xda", b"Exif\x00\x00", b"II*\x00",
           b"MM\x00*", b"8BIM\x04\x04", b"\x1c\x02", b"<rdf:li>", b"</rdf:Seq>",
           b"rdf:parseType='Resource'", b"<!DOCTYPE x [<!ENTITY a 'b'>]>", b"&a;", b"\x00" * 8,
           b"IEND", b"IDAT", b"eXIf", b"iTXt", b"RIFF", b"VP8X", b"EXIF", b"XMP ", b"meta",
           b"iloc", b"iinf", b"ftyp", b"\x00\x00\x00\x01")


@dataclass
class Failure:
    """An input that made a target raise something other than a PhotometaError."""

    data: bytes
    error: str
    trace: str


@dataclass
class Stats:
    """What a run saw: inputs, the slowest and the most memory-hungry one."""

    inputs: int = 0
    max_seconds: float = 0.0
    max_bytes: int = 0
    slowest: bytes = b""
    biggest: bytes = b""
    failures: list[Failure] = field(default_factory=list)

    def add(self, data: bytes, seconds: float, peak: int) -> None:
        """Count one input."""
        self.inputs += 1
        if seconds > self.max_seconds:
            self.max_seconds, self.slowest = seconds, data
        if peak > self.max_bytes:
            self.max_bytes, self.biggest = peak, data

    def summary(self) -> str:
        """One line for a report."""
        return (f"{self.inputs} inputs, slowest {self.max_seconds * 1000:.1f} ms "
                f"({len(self.slowest)} bytes), most memory {self.max_bytes / 2**20:.2f} MiB "
                f"({len(self.biggest)} bytes), {len(self.failures)} failures")


def _put(data: bytearray, rng: random.Random, fmt: str, values: tuple[int, ...]) -> None:
    size = struct.calcsize(fmt)
    if len(data) < size:
        return
    at = rng.randrange(len(data) - size + 1)
    value = rng.choice(values) if rng.random() < 0.7 else rng.randrange(1 << (8 * size))
    if rng.random() < 0.3:
        value = min(max(value, 0), (1 << (8 * size)) - 1)
    struct.pack_into(rng.choice("<>") + fmt, data, at, value & ((1 << (8 * size)) - 1))


def mutate(seed: bytes, rng: random.Random, others: list[bytes]) -> bytes:
    """One to eight random edits of ``seed``: bit flips, interesting integers (lengths, offsets,
    counts), inserted tokens of the formats, deletions, duplications, truncation, splicing."""
    data = bytearray(seed)
    for _ in range(rng.randint(1, 8)):
        op = rng.randrange(10)
        n = len(data)
        if op == 0 and n:
            at = rng.randrange(n)
            data[at] ^= 1 << rng.randrange(8)
        elif op == 1 and n:
            data[rng.randrange(n)] = rng.choice(_INTERESTING_8)
        elif op == 2:
            _put(data, rng, "H", _INTERESTING_16)
        elif op == 3:
            _put(data, rng, "I", _INTERESTING_32)
        elif op == 4:
            at = rng.randrange(n + 1)
            data[at:at] = rng.choice(_TOKENS)
        elif op == 5 and n:
            at = rng.randrange(n)
            del data[at : at + rng.randint(1, max(1, min(64, n - at)))]
        elif op == 6 and n:
            at = rng.randrange(n)
            chunk = data[at : at + rng.randint(1, 256)]
            to = rng.randrange(n + 1)
            data[to:to] = chunk * rng.randint(1, 4)
        elif op == 7 and n:
            del data[rng.randrange(n) :]
        elif op == 8 and others:
            other = rng.choice(others)
            if other:
                cut = rng.randrange(len(other))
                data = data[: rng.randrange(n + 1)] + other[cut : cut + rng.randint(1, 4096)]
        elif n:
            at = rng.randrange(n)
            data[at : at + 4] = bytes(rng.randrange(256) for _ in range(4))
    return bytes(data)


def _one(run: Callable[[bytes], None], data: bytes, *, memory: bool, stats: Stats
         ) -> tuple[float, int]:
    """Run one input; record a failure; return (seconds, traced peak bytes or 0)."""
    if memory:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
    start = time.perf_counter()
    try:
        run(data)
    except Exception as err:  # every escaping exception is a finding
        stats.failures.append(Failure(data, f"{type(err).__name__}: {err}",
                                      traceback.format_exc(limit=12)))
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] - base if memory else 0
    return elapsed, peak


def run_mutations(run: Callable[[bytes], None], seeds: list[bytes], iterations: int, *,
                  seed: int = 0, memory_every: int = 10, extra: Iterable[bytes] = ()
                  ) -> Stats:
    """Run every seed (and ``extra``) once, then ``iterations`` mutated inputs, deterministically.

    Every ``memory_every``-th input (and every seed) is run under tracemalloc to record its peak
    (tracing slows Python down, so the times of those inputs are not counted).
    """
    rng = random.Random(seed)
    stats = Stats()
    pool = list(seeds) or [b""]
    started = tracemalloc.is_tracing()
    if not started:
        tracemalloc.start()
    try:
        inputs = [(data, True) for data in [*pool, *extra]]
        for data, _ in inputs:
            _, peak = _one(run, data, memory=True, stats=stats)
            stats.add(data, 0.0, peak)
        for i in range(iterations):
            data = mutate(rng.choice(pool), rng, pool)
            traced = memory_every > 0 and i % memory_every == 0
            if not traced and tracemalloc.is_tracing():
                tracemalloc.stop()
            elif traced and not tracemalloc.is_tracing():
                tracemalloc.start()
            seconds, peak = _one(run, data, memory=traced, stats=stats)
            stats.add(data, 0.0 if traced else seconds, peak)
    finally:
        if tracemalloc.is_tracing() and not started:
            tracemalloc.stop()
    return stats


def measure(run: Callable[[bytes], None], inputs: Iterable[bytes]) -> Stats:
    """Time each input without tracing (the better of two runs), then trace its memory peak."""
    stats = Stats()
    items = list(inputs)
    for data in items:
        first, _ = _one(run, data, memory=False, stats=stats)
        second, _ = _one(run, data, memory=False, stats=Stats())
        stats.add(data, min(first, second), 0)
    tracemalloc.start()
    try:
        for data in items:
            _, peak = _one(run, data, memory=True, stats=Stats())
            stats.add(data, 0.0, peak)
    finally:
        tracemalloc.stop()
    stats.inputs = len(items)
    return stats
