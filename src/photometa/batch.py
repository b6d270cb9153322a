"""Batch work: many files, in parallel across processes, streamed in order, one result per file.

:func:`run_many` is the engine behind ``read_many``, ``photometa tag`` and ``photometa validate``:

- results come back in input order, as they are ready, with only a few chunks per worker in flight,
  so memory stays bounded whatever the number of items (items are consumed lazily too);
- a small batch runs in this process: starting worker processes costs more than it saves;
- worker processes ignore SIGINT, so Ctrl-C reaches the parent alone; it stops handing out work,
  lets the chunks already running finish (each write is atomic anyway) and re-raises
  ``KeyboardInterrupt``. Work not started is simply not done: running the same command again
  finishes it (a tag whose values a file already holds does not rewrite it).
"""

from __future__ import annotations

import functools
import os
import signal
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import islice
from pathlib import Path
from typing import Any, TypeVar

from ._fileio import deferred_folder_sync
from .api import ReadResult, SidecarMode, SidecarNaming, read_detailed
from .errors import PhotometaError
from .formats import REGISTRY
from .formats import sidecar as sidecars

__all__ = [
    "IMAGE_SUFFIXES",
    "IN_PROCESS_BELOW",
    "count_paths",
    "default_workers",
    "expand_paths",
    "iter_files",
    "job_error",
    "read_many",
    "run_many",
]

T = TypeVar("T")
R = TypeVar("R")

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".tif", ".tiff", ".png", ".webp", ".heic", ".heif",
     ".avif", ".dng", ".cr2", ".cr3", ".nef", ".arw", ".orf", ".rw2", ".raf"}
    | {ext for c in REGISTRY for ext in c.extensions if c is not sidecars.CONTAINER}
)
"""Extensions a folder walk lists: every container's, but not ``.xmp`` (sidecars are read with
their image)."""

IN_PROCESS_BELOW = 48
"""Batches with fewer items than this run in the calling process (no worker start-up)."""

SHARED_QUEUE = 6
"""Chunks kept queued per worker process when the calling process works too (``share``)."""


def default_workers() -> int:
    """Worker processes to use by default: the cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _walk(folder: str) -> Iterator[str]:
    """Image files under ``folder``, depth first, sorted by name, hidden entries skipped."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return
    subdirs = []
    for entry in entries:
        name = entry.name
        if name.startswith("."):
            continue
        try:
            is_dir = entry.is_dir()
        except OSError:
            continue
        if is_dir:
            if not entry.is_symlink():  # as os.walk: a linked folder is not entered (no loops)
                subdirs.append(entry.path)
        elif os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES:
            yield entry.path
    for sub in subdirs:
        yield from _walk(sub)


def expand_paths(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Path]:
    """Files named directly, and image files found by recursing into folders (sorted, no hidden).

    A generator: a folder of any size is walked lazily, one directory listing at a time. Files in
    a folder come before its subfolders' files. Names given directly are yielded as given, even
    when they do not exist (reading them then reports the error).
    """
    for found in iter_files(paths):
        yield Path(found)


def iter_files(paths: Iterable[str | os.PathLike[str]]) -> Iterator[str]:
    """:func:`expand_paths` as plain strings (no ``Path`` per file, for archives of any size)."""
    for item in paths:
        name = os.fspath(Path(item))  # per name given, not per file found
        if os.path.isdir(name):
            yield from _walk(name)
        else:
            yield name


def count_paths(paths: Iterable[str | os.PathLike[str]]) -> int:
    """How many files :func:`expand_paths` yields for ``paths`` (a progress total), keeping none."""
    total = 0
    for item in paths:
        if os.path.isdir(item):
            total += sum(1 for _ in _walk(os.fspath(item)))
        else:
            total += 1
    return total


def _read_one(path: Path, sidecar: SidecarMode = "auto",
              sidecar_naming: SidecarNaming = "replace") -> ReadResult:
    try:
        return read_detailed(path, sidecar=sidecar, sidecar_naming=sidecar_naming)
    except PhotometaError as err:
        return ReadResult(path, error=err)
    except Exception as err:  # a batch reports every file; nothing may stop it
        return ReadResult(path, error=PhotometaError(f"internal error: {err!r}", path=path,
                                                     code="internal"))


def job_error(job: Any, err: BaseException) -> tuple[Path | None, PhotometaError]:
    """An ``on_error`` handler for jobs shaped ``(path, ...)`` whose results are ``(path, result)``.

    Turns an unexpected exception into ``(path, PhotometaError)``: the batch reports it, goes on.
    """
    path = job[0] if isinstance(job, tuple) and job and isinstance(job[0], Path) else None
    if isinstance(err, PhotometaError):
        return path, err.with_path(path) if path is not None else err
    return path, PhotometaError(f"internal error: {err!r}", path=path, code="internal")


def _call(fn: Callable[[T], R], item: T, on_error: Callable[[T, BaseException], R] | None) -> R:
    if on_error is None:
        return fn(item)
    try:
        return fn(item)
    except Exception as err:  # handed to on_error, which reports it
        return on_error(item, err)


def _chunk(fn: Callable[[T], R], items: list[T],
           on_error: Callable[[T, BaseException], R] | None) -> list[R]:
    # the renames of a chunk's writes are made durable together, before its results are given
    with deferred_folder_sync():
        return [_call(fn, item, on_error) for item in items]


def _in_process(fn: Callable[[T], R], items: Iterator[T], chunk: int,
                on_error: Callable[[T, BaseException], R] | None) -> Iterator[R]:
    while batch := list(islice(items, max(chunk, 1))):
        yield from _chunk(fn, batch, on_error)


def _worker_init() -> None:
    """Ctrl-C goes to the whole process group; only the parent decides what to do about it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_many(
    fn: Callable[[T], R],
    items: Iterable[T],
    *,
    workers: int | None = None,
    chunk: int = 16,
    on_error: Callable[[T, BaseException], R] | None = None,
    in_process_below: int = IN_PROCESS_BELOW,
    share: bool = False,
) -> Iterator[R]:
    """Apply ``fn`` to every item in worker processes, yielding results in input order.

    Args:
        fn: a picklable (module-level) function of one item.
        items: consumed lazily; may be a generator of any length.
        workers: worker processes; ``None``: :func:`default_workers`; ``1``: run in this process.
        chunk: items handed to a worker at a time (and run at a time in this process). The
            folder fsyncs of a chunk's writes are made once per folder when it ends
            (:func:`~photometa.deferred_folder_sync`), before its results are yielded.
        on_error: ``on_error(item, exception)`` gives the result for an item whose ``fn`` raised
            (module-level, picklable); without it the exception propagates and ends the batch.
        in_process_below: batches with fewer items than this run in this process.
        share: this process is one of the ``workers``: it starts one worker process fewer and
            works through chunks itself whenever the workers have enough queued. Where the
            processes outnumber the cores anyway, this saves a process's memory and start-up.

    At most ``3 * workers`` chunks are in flight, so memory stays bounded however many items
    there are. Closing the iterator early (or Ctrl-C) cancels the chunks not yet started.
    """
    n = workers if workers is not None else default_workers()
    it = iter(items)
    if n <= 1:
        yield from _in_process(fn, it, chunk, on_error)
        return
    head = list(islice(it, max(in_process_below, 1)))
    if len(head) < in_process_below:
        yield from _in_process(fn, iter(head), chunk, on_error)
        return
    source: Iterator[T] = iter(head)

    def take() -> list[T]:
        nonlocal source
        batch = list(islice(source, chunk))
        if len(batch) < chunk and source is not it:
            source = it
            batch += islice(source, chunk - len(batch))
        return batch

    children = n - 1 if share else n
    pool = ProcessPoolExecutor(max_workers=children, initializer=_worker_init)
    try:
        if share:
            yield from _shared(pool, take, fn, on_error, children * SHARED_QUEUE)
            return
        pending: deque[Future[list[R]]] = deque()

        def submit() -> bool:
            batch = take()
            if batch:
                pending.append(pool.submit(_chunk, fn, batch, on_error))
            return bool(batch)

        for _ in range(n * 3):
            if not submit():
                break
        while pending:
            results = pending.popleft().result()
            submit()
            yield from results
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _shared(pool: ProcessPoolExecutor, take: Callable[[], list[T]], fn: Callable[[T], R],
            on_error: Callable[[T, BaseException], R] | None, queued: int) -> Iterator[R]:
    """:func:`run_many` with this process working too: the workers always have ``queued``
    chunks waiting or running (enough to last while this process is busy or descheduled);
    between two of its own chunks this process hands out more and yields what is ready, in
    order. At most ``queued + 5`` chunks are taken and not yet yielded."""
    slots: deque[Future[list[R]] | list[R]] = deque()  # in input order
    more = True
    while True:
        remote = sum(1 for s in slots if isinstance(s, Future))  # handed out, not yet yielded
        while more and remote < queued:
            batch = take()
            if not batch:
                more = False
                break
            slots.append(pool.submit(_chunk, fn, batch, on_error))
            remote += 1
        while slots:
            first = slots[0]
            if isinstance(first, Future):
                if not first.done():
                    break
                results = first.result()
            else:
                results = first
            slots.popleft()
            yield from results
        if not slots and not more:
            return
        if more and len(slots) <= queued + 4:
            batch = take()
            if batch:
                slots.append(_chunk(fn, batch, on_error))
            else:
                more = False
        elif slots and isinstance(slots[0], Future):
            slots[0].result()  # nothing else to do: wait for the oldest chunk


def read_many(
    paths: Iterable[str | os.PathLike[str]], workers: int | None = None, *,
    sidecar: SidecarMode = "auto", sidecar_naming: SidecarNaming = "replace",
) -> Iterator[ReadResult]:
    """Read many files in parallel; yield one :class:`ReadResult` per file, in order.

    Folders are searched recursively for image files (XMP sidecars are not listed: they are read
    with their image, as ``sidecar`` and ``sidecar_naming`` say, see :func:`~photometa.read`).
    A file that cannot be read yields a result whose ``error`` says why; the batch goes on.
    Results are streamed: memory does not grow with the number of files.
    """
    fn = functools.partial(_read_one, sidecar=sidecar, sidecar_naming=sidecar_naming)
    return run_many(fn, expand_paths(paths), workers=workers)
