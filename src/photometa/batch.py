"""Batch work: many files, in parallel across processes, streamed in order, one result per file."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import TypeVar

from .api import ReadResult, read_detailed
from .errors import PhotometaError

__all__ = ["IMAGE_SUFFIXES", "expand_paths", "read_many", "run_many"]

T = TypeVar("T")
R = TypeVar("R")

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".tif", ".tiff", ".png", ".webp", ".heic", ".heif",
     ".avif", ".dng", ".cr2", ".cr3", ".nef", ".arw", ".orf", ".rw2", ".raf"}
)


def expand_paths(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Path]:
    """Files named directly, and image files found by recursing into folders (sorted, no hidden)."""
    for item in paths:
        p = Path(item)
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES:
                        yield Path(root) / name
        else:
            yield p


def _read_one(path: Path) -> ReadResult:
    try:
        return read_detailed(path)
    except PhotometaError as err:
        return ReadResult(path, error=err)
    except Exception as err:  # noqa: BLE001 - a batch reports every file; nothing may stop it
        return ReadResult(path, error=PhotometaError(f"internal error: {err!r}", path=path,
                                                     code="internal"))


def _chunk(fn: Callable[[T], R], items: list[T]) -> list[R]:
    return [fn(item) for item in items]


def run_many(
    fn: Callable[[T], R], items: Iterable[T], *, workers: int | None = None, chunk: int = 16
) -> Iterator[R]:
    """Apply ``fn`` to every item in worker processes, yielding results in input order.

    At most a few chunks per worker are in flight, so memory stays bounded however many items
    there are. ``workers=1`` runs in this process. ``fn`` must be picklable (module level).
    """
    n = workers if workers is not None else (os.cpu_count() or 1)
    it = iter(items)
    if n <= 1:
        for item in it:
            yield fn(item)
        return
    with ProcessPoolExecutor(max_workers=n) as pool:
        pending: deque[Future[list[R]]] = deque()

        def submit() -> bool:
            batch = [x for _, x in zip(range(chunk), it)]
            if batch:
                pending.append(pool.submit(_chunk, fn, batch))
            return bool(batch)

        for _ in range(n * 3):
            if not submit():
                break
        while pending:
            results = pending.popleft().result()
            submit()
            yield from results


def read_many(
    paths: Iterable[str | os.PathLike[str]], workers: int | None = None
) -> Iterator[ReadResult]:
    """Read many files in parallel; yield one :class:`ReadResult` per file, in order.

    Folders are searched recursively for image files. A file that cannot be read yields a result
    whose ``error`` says why; the batch goes on.
    """
    return run_many(_read_one, expand_paths(paths), workers=workers)
