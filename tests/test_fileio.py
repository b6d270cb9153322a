"""File plumbing: kernel-side copies, sampled comparisons, stale-temporary cleaning remembered per
folder, temporary names, the stat a replacement is checked against, and background closes."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import time
from pathlib import Path
from typing import Any

import pytest

from photometa import WriteError
from photometa import _fileio as fileio

WINDOW = fileio.SAMPLE_WINDOW


def _pair(tmp_path: Path, data: bytes) -> tuple[Path, Path]:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(data)
    b.write_bytes(data)
    return a, b


def _flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 1
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(("at", "seen"), [
    (0, True), (WINDOW - 1, True),  # first window
    (5 * WINDOW - 1, True), (4 * WINDOW, True),  # last window
    (WINDOW, False), (2 * WINDOW + 7, False), (4 * WINDOW - 1, False),  # between them
])
def test_sampled_equal_sees_only_both_ends_of_a_long_range(
        tmp_path: Path, at: int, seen: bool) -> None:
    data = os.urandom(5 * WINDOW + 100)
    a, b = _pair(tmp_path, data)
    _flip(b, 50 + at)
    with open(a, "rb") as fa, open(b, "rb") as fb:
        assert fileio.sampled_equal(fa, 50, fb, 50, 5 * WINDOW) is not seen
        assert fileio.sampled_equal(fa, 0, fb, 0, 40)  # a range before the damage


def test_sampled_equal_compares_a_short_range_whole_and_needs_all_of_it(tmp_path: Path) -> None:
    data = os.urandom(2 * WINDOW)
    a, b = _pair(tmp_path, data)
    _flip(b, WINDOW)  # the middle of a range no longer than two windows
    with open(a, "rb") as fa, open(b, "rb") as fb:
        assert not fileio.sampled_equal(fa, 0, fb, 0, 2 * WINDOW)
        assert fileio.sampled_equal(fa, 0, fb, 0, WINDOW)
        assert not fileio.sampled_equal(fa, 10, fb, 10, 2 * WINDOW)  # runs past both ends
        assert fileio.sampled_equal(fa, 0, fb, 0, 0)
    assert fileio.sampled_equal(io.BytesIO(data), 3, io.BytesIO(b"xxx" + data), 6, 100)


def test_sampled_equal_sees_bytes_still_in_a_write_buffer(tmp_path: Path) -> None:
    with open(tmp_path / "f", "w+b") as f:
        f.write(b"hello world")  # buffered, not yet on the file
        assert fileio.sampled_equal(f, 6, io.BytesIO(b"world"), 0, 5)
        assert not fileio.sampled_equal(f, 6, io.BytesIO(b"worle"), 0, 5)


@pytest.mark.parametrize("kernel", ["copy_file_range", "sendfile", "buffer"])
def test_copy_range_copies_exactly_and_reports_the_count(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kernel: str) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    src_path = tmp_path / "src"
    src_path.write_bytes(data)

    def unsupported(*args: Any) -> int:
        raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))

    if kernel != "copy_file_range":
        monkeypatch.setattr(fileio.os, "copy_file_range", unsupported, raising=False)
    if kernel == "buffer":
        monkeypatch.setattr(fileio.os, "sendfile", unsupported, raising=False)
    with open(src_path, "rb") as src, open(tmp_path / "dst", "w+b") as dst:
        dst.write(b"head")
        assert fileio.copy_range(src, 100, dst, 4, len(data) - 200) == len(data) - 200
        assert dst.tell() == 4 + len(data) - 200
        dst.write(b"tail")
    assert (tmp_path / "dst").read_bytes() == b"head" + data[100:-100] + b"tail"


def test_copy_range_refuses_a_source_that_is_too_short(tmp_path: Path) -> None:
    (tmp_path / "src").write_bytes(b"x" * 1000)
    with open(tmp_path / "src", "rb") as src, open(tmp_path / "dst", "w+b") as dst, \
            pytest.raises(WriteError) as info:
        fileio.copy_range(src, 0, dst, 0, 2000)
    assert info.value.code == "source-changed"


# -- stale temporary files: looked for once per process and folder ----------------------------


def _count_scans(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    scans: list[Any] = []
    real = os.scandir

    def scandir(path: Any = ".") -> Any:
        scans.append(path)
        return real(path)

    monkeypatch.setattr(fileio.os, "scandir", scandir)
    return scans


def test_a_folder_is_listed_once_not_on_every_write(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fileio, "_cleaned", {})
    scans = _count_scans(monkeypatch)
    stale = tmp_path / f"{fileio.LOCKED_PREFIX}dead0001{fileio.TEMP_SUFFIX}"
    stale.write_bytes(b"left by a killed writer")
    target = tmp_path / "f.bin"
    target.write_bytes(b"v0")
    for i in range(1, 6):
        with fileio.atomic_replace(target) as f:
            f.write(b"v%d" % i)
    assert target.read_bytes() == b"v5"
    assert len(scans) == 1
    assert not stale.exists()
    # a stale file that appears later waits for the next look (CLEAN_EVERY later) ...
    stale.write_bytes(b"another one")
    with fileio.atomic_replace(target) as f:
        f.write(b"v6")
    assert stale.exists() and len(scans) == 1
    # ... which comes once CLEAN_EVERY seconds have passed
    later = time.monotonic() + fileio.CLEAN_EVERY + 1
    monkeypatch.setattr(fileio.time, "monotonic", lambda: later)
    with fileio.atomic_replace(target) as f:
        f.write(b"v7")
    assert not stale.exists() and len(scans) == 2


def test_the_memory_of_cleaned_folders_is_bounded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fileio, "_cleaned", {})
    monkeypatch.setattr(fileio, "_CLEANED_MAX", 8)
    for i in range(20):
        folder = tmp_path / f"d{i}"
        folder.mkdir()
        with fileio.holding_folder(folder):
            pass
    assert len(fileio._cleaned) <= 8


def test_temporary_files_are_made_under_the_folder_lock(tmp_path: Path) -> None:
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")
    with fileio.atomic_replace(target) as f:
        name = Path(os.readlink(f"/proc/self/fd/{f.fileno()}")).name \
            if Path("/proc/self/fd").is_dir() else None
        f.write(b"new")
    if name is not None:
        assert name.startswith(fileio.LOCKED_PREFIX) and fileio.is_temp_name(name)
        random = name[len(fileio.LOCKED_PREFIX) : -len(fileio.TEMP_SUFFIX)]
        assert random == random.lower()  # the upper-case W marks files made under the lock
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


# -- what a replacement is checked against ----------------------------------------------------


@pytest.mark.parametrize("change", ["none", "chmod", "append", "replace"])
def test_atomic_replace_checks_the_callers_stat(tmp_path: Path, change: str) -> None:
    """``expect`` is the stat the caller read the file with; any later change to it (the ctime of
    a chmod included) stops the replacement."""
    target = tmp_path / "f.bin"
    target.write_bytes(b"original")
    expect = target.stat()
    if change == "chmod":
        time.sleep(0.01)
        target.chmod(0o600)
    elif change == "append":
        with open(target, "ab") as f:
            f.write(b"!")
    elif change == "replace":
        (tmp_path / "other").write_bytes(b"original")
        os.replace(tmp_path / "other", target)
    if change == "none":
        with fileio.atomic_replace(target, expect=expect) as f:
            f.write(b"new")
        assert target.read_bytes() == b"new"
        return
    with pytest.raises(WriteError) as info, fileio.atomic_replace(target, expect=expect) as f:
        f.write(b"new")
    assert info.value.code == "changed-meanwhile"
    assert target.read_bytes() != b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


# -- closing on a background thread -----------------------------------------------------------


def test_close_later_closes_soon_and_drain_waits(tmp_path: Path) -> None:
    files = []
    for i in range(100):  # more than the queue holds: the caller waits for the closer
        path = tmp_path / f"f{i}"
        path.write_bytes(b"x")
        f = open(path, "rb")  # noqa: SIM115 - handed over to be closed
        files.append(f)
        fileio.close_later(f)
    fileio.drain_closes()
    assert all(f.closed for f in files)


def _open_files() -> list[str]:
    fds = Path("/proc/self/fd")
    held = []
    for link in fds.iterdir() if fds.is_dir() else ():
        with contextlib.suppress(OSError):  # the listing's own descriptor is gone
            held.append(os.readlink(link))
    return held


def test_a_forked_child_inherits_no_file_waiting_to_be_closed(tmp_path: Path) -> None:
    """Pending closes are finished before a fork, and the child starts its own closer."""
    class SlowToClose(io.FileIO):
        def close(self) -> None:
            time.sleep(0.2)  # the fork below comes while the closer is still at it
            super().close()

    path = tmp_path / "f"
    path.write_bytes(b"x")
    f = SlowToClose(path, "rb")
    fileio.close_later(f)  # type: ignore[arg-type]
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            os.close(read_end)
            held = _open_files()
            mine = tmp_path / "g"
            mine.write_bytes(b"y")
            g = open(mine, "rb")  # noqa: SIM115 - handed over to be closed
            fileio.close_later(g)
            fileio.drain_closes()
            ok = str(path) not in held and g.closed
            os.write(write_end, b"ok" if ok else repr(held).encode())
            code = 0
        except BaseException as err:
            os.write(write_end, repr(err).encode())
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as r:
        answer = r.read()
    os.waitpid(pid, 0)
    assert answer == b"ok"
    assert f.closed


def test_the_closer_stops_when_idle_and_around_forks_without_deadlock(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files handed over while the closer times out, stops for a fork, or restarts are all
    closed; nothing hangs (an alarm fails the test if it does)."""
    import random
    import signal

    monkeypatch.setattr(fileio, "_CLOSER_IDLE", 0.002)
    rng = random.Random(3)
    old = signal.signal(signal.SIGALRM, signal.default_int_handler)
    signal.alarm(60)
    try:
        files = []
        for i in range(120):
            path = tmp_path / f"f{i % 7}"
            path.write_bytes(b"x")
            f = open(path, "rb")  # noqa: SIM115 - handed over to be closed
            files.append(f)
            fileio.close_later(f)
            time.sleep(rng.choice([0, 0, 0.001, 0.003]))
            if i % 10 == 0:
                pid = os.fork()
                if pid == 0:
                    os._exit(0 if not _open_files_under(tmp_path) else 1)
                _, status = os.waitpid(pid, 0)
                assert os.waitstatus_to_exitcode(status) == 0, "a child inherited a file"
        fileio.drain_closes()
        assert all(f.closed for f in files)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _open_files_under(folder: Path) -> list[str]:
    return [p for p in _open_files() if p.startswith(str(folder))]


# -- deferring the folder fsync ------------------------------------------------------------------


def _record_fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool]]:
    """Every fsync from now on, as (what the descriptor names, whether it is a folder)."""
    synced: list[tuple[str, bool]] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        synced.append((os.readlink(f"/proc/self/fd/{fd}"), os.path.isdir(f"/proc/self/fd/{fd}")))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return synced


def _replace(path: Path, data: bytes) -> None:
    with fileio.atomic_replace(path) as f:
        f.write(data)


needs_proc = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")


@needs_proc
def test_each_write_syncs_its_folder_outside_a_block(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    paths = [tmp_path / f"f{i}" for i in range(3)]
    for p in paths:
        p.write_bytes(b"old")
    synced = _record_fsyncs(monkeypatch)
    for p in paths:
        _replace(p, b"new")
    assert [is_dir for _, is_dir in synced] == [False, True] * 3
    assert {name for name, is_dir in synced if is_dir} == {str(tmp_path.resolve())}


@needs_proc
def test_a_block_syncs_each_folder_once_when_it_ends(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    folders = [tmp_path / "a", tmp_path / "b"]
    paths = [folder / f"f{i}" for folder in folders for i in range(3)]
    for p in paths:
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(b"old")
    synced = _record_fsyncs(monkeypatch)
    with fileio.deferred_folder_sync():
        with fileio.deferred_folder_sync():  # nested: the outer block syncs
            for p in paths:
                _replace(p, b"new")
        assert not any(is_dir for _, is_dir in synced)
        assert len(synced) == len(paths)  # every file itself was fsynced before its rename
    assert sorted(name for name, is_dir in synced if is_dir) == sorted(
        str(f.resolve()) for f in folders)
    assert all(p.read_bytes() == b"new" for p in paths)
    assert not fileio.defer_folder_sync(tmp_path)  # the block is closed


@needs_proc
def test_a_failing_block_still_syncs_what_it_wrote(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "f"
    p.write_bytes(b"old")
    synced = _record_fsyncs(monkeypatch)
    with pytest.raises(RuntimeError), fileio.deferred_folder_sync():
        _replace(p, b"new")
        raise RuntimeError("the caller's own failure")
    assert (str(tmp_path.resolve()), True) in synced


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_does_not_defer_for_its_parent(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    with fileio.deferred_folder_sync():
        assert fileio.defer_folder_sync(tmp_path)
        pid = os.fork()
        if pid == 0:  # the child: its parent's block is not its own
            os.write(write_end, b"1" if fileio.defer_folder_sync(tmp_path) else b"0")
            os._exit(0)
        os.waitpid(pid, 0)
    assert os.read(read_end, 1) == b"0"
    os.close(read_end)
    os.close(write_end)


# -- the positional reader the chunk walks use ---------------------------------------------------

DATA = bytes(range(256)) * 40  # 10 KiB, bigger than one buffer refill


@pytest.mark.parametrize(("offset", "n"), [(0, 8), (8190, 8), (10_000, 500), (10_236, 100),
                                           (20_000, 4), (5, 0)])
def test_file_and_memory_agree(tmp_path: Path, offset: int, n: int) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(DATA)
    with path.open("rb") as f:
        from_file = fileio.reader_at(f)(offset, n)
    from_memory = fileio.reader_at(io.BytesIO(DATA))(offset, n)
    assert from_file == from_memory == DATA[offset:offset + n]


def test_reads_do_not_depend_on_the_stream_position(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(DATA)
    with path.open("rb") as f:
        read_at = fileio.reader_at(f)
        f.seek(777)
        assert read_at(3000, 4) == DATA[3000:3004]
        assert read_at(1, 2) == DATA[1:3]


def test_sees_bytes_still_in_a_write_buffer(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    with path.open("w+b") as f:
        f.write(DATA[:100])  # buffered, not yet on the file
        assert fileio.reader_at(f)(90, 20) == DATA[90:100]
