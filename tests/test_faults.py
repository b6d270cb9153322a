"""Faults on write: killed writers, full disks, read-only files and folders, files changed
meanwhile, concurrent writers, symbolic and hard links, permissions, stale temporary files; and
terminal output of hostile metadata.

Child processes are forked from the test process (photometa is already imported, so a child
starts writing within a millisecond); a child that must act as an unprivileged user drops to
uid/gid 65534 after the fork.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
import random
import resource
import shutil
import signal
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import photometa
from photometa import PhotoContext, WriteError, api
from photometa import _fileio as fileio
from photometa.errors import PhotometaError

NOBODY = 65534
ROOT = os.geteuid() == 0


def _jpeg(path: Path, size: tuple[int, int] = (48, 32), seed: int = 0, noise: bool = False) -> Path:
    if noise:
        rng = random.Random(seed)
        img = Image.frombytes("RGB", size, rng.randbytes(3 * size[0] * size[1]))
    else:
        img = Image.new("RGB", size, (seed * 40 % 256, 90, 160))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=92)
    path.write_bytes(buf.getvalue())
    return path


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _temps(*folders: Path) -> list[str]:
    return [p.name for folder in folders for p in folder.iterdir() if fileio.is_temp_name(p.name)]


def _in_child(fn: Callable[[], Any], *, user: int | None = None) -> str:
    """Run ``fn`` in a forked child (as ``user`` when given) and return what happened: ``ok``,
    ``error:<code>`` for a PhotometaError, ``crash:<repr>`` for anything else."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        result = "crash:no result"
        try:
            os.close(read_end)
            if user is not None:
                os.setgroups([])
                os.setgid(user)
                os.setuid(user)
            fn()
            result = "ok"
        except PhotometaError as err:
            result = f"error:{err.code}:{err}"
        except BaseException as err:
            result = f"crash:{err!r}"
        finally:
            with contextlib.suppress(BaseException):
                os.write(write_end, result.encode("utf-8", "replace")[:4000])
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as f:
        out = f.read().decode("utf-8")
    os.waitpid(pid, 0)
    return out


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder outside pytest's private tmp tree (which is 0700), so uid 65534 can reach it."""
    path = Path(tempfile.mkdtemp(prefix="photometa-faults-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        for p in path.rglob("*"):
            with contextlib.suppress(OSError):
                p.chmod(0o755 if p.is_dir() else 0o644)
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module", autouse=True)
def _warm_up(tmp_path_factory: pytest.TempPathFactory) -> None:
    """One full write first, so every lazily imported module is loaded before a child drops
    privileges (the interpreter's own files may not be readable by uid 65534)."""
    path = _jpeg(tmp_path_factory.mktemp("warm") / "w.jpg")
    photometa.write(path, CONTEXTS[0])
    photometa.read_detailed(path)
    with contextlib.suppress(PhotometaError):
        photometa.write(path, CONTEXTS[0], clear=["location.city"])


CONTEXTS = [
    PhotoContext.model_validate({
        "location": {"city": "Pyongyang", "country_code": "KP", "sublocation": "Kim Il Sung Square",
                     "gps": {"latitude": 39.0194, "longitude": 125.7533}},
        "subject": {"headline": "Parade", "keywords": ["parade", "평양"], "caption": "A parade."},
        "photographer": {"name": "Photographer One", "copyright": "© One"},
        "restriction": {"status": "restricted", "reason": "military"},
        "captured_at": "2013-07-27T10:00:00+09:00",
    }),
    PhotoContext.model_validate({
        "location": {"city": "Wonsan", "country_code": "KP", "sublocation": "Beach",
                     "gps": {"latitude": 39.15, "longitude": 127.44, "altitude": 3.0}},
        "subject": {"headline": "A much longer headline to change the sizes of every block",
                    "keywords": ["beach", "holiday", "원산", "sea"],
                    "caption": "Families on the beach. " * 20},
        "photographer": {"name": "Photographer Two", "credit": "Agency"},
        "restriction": {"status": "deletion-requested", "reason": "shows poverty",
                        "authority": "minders"},
        "captured_at": "2014-08-01T15:30:00+09:00",
    }),
    PhotoContext.model_validate({  # XMP over 64 KB: Extended XMP in several APP1 segments
        "location": {"city": "Kaesong", "country_code": "KP"},
        "subject": {"headline": "Many keywords",
                    "keywords": [f"keyword {i} 개성" for i in range(1500)]},
        "photographer": {"name": "Photographer Three"},
        "captured_at": "2015-01-01T00:00:00+09:00",
    }),
]


# -- killed writers --------------------------------------------------------------------------------


class _Transitions:
    """What photometa.write(state, CONTEXTS[j]) gives, computed on a scratch copy and memoised."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.memo: dict[tuple[str, int], bytes] = {}

    def __call__(self, state: bytes, j: int) -> bytes:
        key = (_sha(state), j)
        if key not in self.memo:
            path = self.scratch / "t.jpg"
            path.write_bytes(state)
            photometa.write(path, CONTEXTS[j])
            self.memo[key] = path.read_bytes()
        return self.memo[key]


def _writer(paths: list[Path], log: Path, start: int) -> None:
    """Write contexts to the files in a loop, logging ``file context hash-before`` first."""
    fd = os.open(log, os.O_WRONLY | os.O_APPEND)
    n = start
    while True:
        i = n % len(paths)
        j = (n // len(paths) + i) % len(CONTEXTS)
        before = _sha(paths[i].read_bytes())
        os.write(fd, f"{i} {j} {before}\n".encode())
        photometa.write(paths[i], CONTEXTS[j])
        n += 1


def test_sigkill_at_random_moments_loses_nothing(tmp_path: Path) -> None:
    """A few hundred SIGKILLs at random moments of a writing loop: after each one every file is
    exactly its version before the interrupted write or after it, and the dead writer's temporary
    files are recognised as stale and removed by the next run."""
    folder = tmp_path / "archive"
    scratch = tmp_path / "scratch"
    folder.mkdir()
    scratch.mkdir()
    paths = [_jpeg(folder / f"img{i}.jpg", size=(64 + 16 * i, 48), seed=i) for i in range(4)]
    states = [p.read_bytes() for p in paths]
    image_data = [_scan(s) for s in states]
    transition = _Transitions(scratch)
    log = tmp_path / "log"
    rng = random.Random(20240601)
    kills = writes = strays_seen = busy = 0
    deadline = time.monotonic() + 45
    rounds = 300
    for _ in range(rounds):
        if time.monotonic() > deadline:
            break
        log.write_bytes(b"")
        pid = os.fork()
        if pid == 0:
            try:
                _writer(paths, log, rng.randrange(1000))
            finally:
                os._exit(0)
        time.sleep(rng.uniform(0.0, 0.06))
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status), "the writer stopped by itself (it must loop until killed)"
        kills += 1
        entries = [line.split() for line in log.read_text().splitlines(keepends=True)
                   if line.endswith("\n")]
        writes += max(0, len(entries) - 1)
        busy += bool(entries)  # killed while writing (or between two writes)
        for i, path in enumerate(paths):
            mine = [(int(j), old) for f, j, old in entries if int(f) == i]
            state = states[i]
            for k, (j, old) in enumerate(mine):
                assert old == _sha(state), f"{path.name}: write {k} did not start from the " \
                    "version the previous one produced (photometa.write is not deterministic?)"
                if k < len(mine) - 1:
                    state = transition(state, j)
            now = path.read_bytes()
            allowed = {_sha(state)}
            if mine:
                allowed.add(_sha(transition(state, mine[-1][0])))
            assert _sha(now) in allowed, f"{path.name} is neither its old nor its new version"
            assert _scan(now) == image_data[i], f"{path.name}: image data changed"
            states[i] = now
        strays = _temps(folder)
        strays_seen += len(strays)
        assert all(name.startswith(fileio.LOCKED_PREFIX) for name in strays), strays
        removed = fileio.clean_stale_temps(folder)
        assert sorted(p.name for p in removed) == sorted(strays)
        assert not _temps(folder)
    assert kills >= 100, f"only {kills} kills in the time allowed"
    assert busy >= kills // 2, f"only {busy} of {kills} kills hit the writer while it wrote"
    for path in paths:  # every file is whole: strict read (the write path) and a real context
        ctx = photometa.read(path)
        assert ctx.location.city in {c.location.city for c in CONTEXTS}
    print(f"{kills} kills ({busy} while writing), {writes} completed writes, "
          f"{strays_seen} stray temporary files cleaned")


def _scan(data: bytes) -> bytes:
    """The bytes from the start of scan on (the image data photometa must never change)."""
    from photometa import DEFAULT_LIMITS
    from photometa.formats import jpeg

    layout = jpeg.read_layout(io.BytesIO(data), DEFAULT_LIMITS, strict=True)
    assert layout.scan_offset is not None
    return data[layout.scan_offset :]


def test_next_run_removes_what_a_killed_writer_left(tmp_path: Path) -> None:
    folder = tmp_path / "f"
    folder.mkdir()
    a = _jpeg(folder / "a.jpg")
    b = _jpeg(folder / "b.jpg", seed=1)
    dead = folder / f"{fileio.LOCKED_PREFIX}dead1234{fileio.TEMP_SUFFIX}"
    dead.write_bytes(b"half a jpeg")  # what a SIGKILLed writer leaves: no live process holds it
    foreign_new = folder / ".photometa-abcd1234.tmp"  # made without the folder lock, fresh
    foreign_new.write_bytes(b"x")
    foreign_old = folder / ".photometa-efgh5678.tmp"  # the same, but older than STALE_AFTER
    foreign_old.write_bytes(b"x")
    old = time.time() - fileio.STALE_AFTER - 60
    os.utime(foreign_old, (old, old))
    not_ours = folder / ".photometa-notes.txt"
    not_ours.write_bytes(b"keep")
    # a temporary file is not an image to later runs: folder walks skip it
    assert [r.path.name for r in photometa.read_many([folder], workers=1)] == ["a.jpg", "b.jpg"]
    assert _in_child(lambda: photometa.write(a, CONTEXTS[0])) == "ok"  # a fresh process
    assert not dead.exists()
    assert not foreign_old.exists()
    assert foreign_new.exists()  # could belong to a live writer that does not lock the folder
    assert not_ours.exists()
    assert photometa.read(b).location.city is None


def test_live_writers_temporary_files_are_never_removed(tmp_path: Path) -> None:
    with fileio.holding_folder(tmp_path):
        fd, live = fileio.make_temp(tmp_path)
        os.close(fd)
        assert _in_child(lambda: fileio.clean_stale_temps(tmp_path)) == "ok"
        assert fileio.clean_stale_temps(tmp_path) == []  # another open file description: busy
        assert live.exists()
    assert fileio.clean_stale_temps(tmp_path) == [live]


# -- full disk -------------------------------------------------------------------------------------


def test_full_disk_leaves_the_original(tmp_path: Path) -> None:
    path = _jpeg(tmp_path / "big.jpg", size=(400, 300), noise=True)
    before = path.read_bytes()
    assert len(before) > 100_000

    def write_with_a_file_size_limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of death
        resource.setrlimit(resource.RLIMIT_FSIZE, (len(before) // 2, resource.RLIM_INFINITY))
        photometa.write(path, CONTEXTS[1])

    result = _in_child(write_with_a_file_size_limit)
    assert result.startswith("error:disk-full:"), result
    assert "disk is full" in result
    assert path.read_bytes() == before
    assert not _temps(tmp_path)


@pytest.mark.parametrize("where", ["write", "fsync"])
def test_enospc_anywhere_is_disk_full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      where: str) -> None:
    path = _jpeg(tmp_path / "a.jpg")
    before = path.read_bytes()

    def no_space(*args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    if where == "fsync":
        monkeypatch.setattr(fileio.os, "fsync", no_space)
    else:
        monkeypatch.setattr(fileio, "copy_range", no_space)
        monkeypatch.setattr("photometa.formats.jpeg.copy_range", no_space)
    with pytest.raises(WriteError) as info:
        photometa.write(path, CONTEXTS[0])
    assert info.value.code == "disk-full"
    assert info.value.path == path
    assert path.read_bytes() == before
    assert not _temps(tmp_path)


# -- read-only files and folders -----------------------------------------------------------------


def test_read_only_file_is_refused(tmp_path: Path) -> None:
    """ExifTool 12.57 replaces a 0444 file (keeping 0444); photometa refuses, even as root."""
    path = _jpeg(tmp_path / "ro.jpg")
    path.chmod(0o444)
    before = path.read_bytes()
    with pytest.raises(WriteError) as info:
        photometa.write(path, CONTEXTS[0])
    assert info.value.code == "read-only"
    assert "read-only (mode 0444)" in str(info.value)
    assert path.read_bytes() == before
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert not _temps(tmp_path)
    path.chmod(0o644)  # made writable, it is written
    assert photometa.write(path, CONTEXTS[0]).written


def _as_unprivileged(shared_dir: Path) -> None:
    if ROOT:
        os.chown(shared_dir, NOBODY, NOBODY)
    elif os.geteuid() == NOBODY:  # pragma: no cover
        pytest.skip("needs a user other than 65534")


@pytest.mark.parametrize("case", ["read-only folder", "read-only file", "someone else's file"])
def test_unprivileged_user_cannot_replace(shared_dir: Path, case: str) -> None:
    """As a normal user (uid 65534 when the tests run as root, which bypasses permission bits)."""
    user = NOBODY if ROOT else None
    path = _jpeg(shared_dir / "a.jpg")
    mine = os.geteuid() if user is None else user
    if case == "read-only folder":
        os.chown(path, mine, mine)
        shared_dir.chmod(0o555)
    elif case == "read-only file":
        _as_unprivileged(shared_dir)
        os.chown(path, mine, mine)
        path.chmod(0o444)
    else:  # a writable folder, a 0644 file of another user
        if not ROOT:
            pytest.skip("needs root to give the file to another user")
        _as_unprivileged(shared_dir)
    before = path.read_bytes()
    owner = path.stat().st_uid
    result = _in_child(lambda: photometa.write(path, CONTEXTS[0]), user=user)
    assert result.startswith("error:read-only:"), result
    assert path.read_bytes() == before
    assert path.stat().st_uid == owner
    assert not _temps(shared_dir)


def test_unprivileged_user_writes_own_file_and_keeps_group(shared_dir: Path) -> None:
    if not ROOT:
        pytest.skip("needs root to set up the users")
    _as_unprivileged(shared_dir)
    path = _jpeg(shared_dir / "a.jpg")
    os.chown(path, NOBODY, NOBODY)
    path.chmod(0o604)
    assert _in_child(lambda: photometa.write(path, CONTEXTS[0]), user=NOBODY) == "ok"
    st = path.stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (NOBODY, NOBODY, 0o604)
    assert photometa.read(path).location.city == "Pyongyang"


# -- changed meanwhile, concurrent writers ---------------------------------------------------------


def test_file_changed_by_someone_else_between_read_and_write(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _jpeg(tmp_path / "a.jpg")
    real = api.atomic_replace

    @contextlib.contextmanager
    def meddling(*args: Any, **kwargs: Any) -> Iterator[Any]:
        # another program (not photometa, so it does not take the lock) rewrites the file now
        other = path.read_bytes() + b"trailer"
        path.write_bytes(other)
        with real(*args, **kwargs) as f:
            yield f

    monkeypatch.setattr(api, "atomic_replace", meddling)
    with pytest.raises(WriteError) as info:
        photometa.write(path, CONTEXTS[0])
    assert info.value.code == "changed-meanwhile"
    assert path.read_bytes().endswith(b"trailer")  # their version, not ours
    assert not _temps(tmp_path)


@pytest.mark.parametrize("meddle", ["rewrite", "replace", "remove"])
def test_atomic_replace_notices_a_change_during_the_write(tmp_path: Path, meddle: str) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"original")
    with pytest.raises(WriteError) as info, fileio.atomic_replace(path) as f:
        f.write(b"new content")
        if meddle == "rewrite":
            path.write_bytes(b"theirs!")
        elif meddle == "replace":
            (tmp_path / "other").write_bytes(b"original")
            os.replace(tmp_path / "other", path)
        else:
            path.unlink()
    assert info.value.code == "changed-meanwhile"
    if meddle == "remove":
        assert not path.exists()  # not resurrected
    else:
        assert path.read_bytes() == (b"theirs!" if meddle == "rewrite" else b"original")
    assert not _temps(tmp_path)


def test_two_processes_writing_the_same_file_both_succeed(tmp_path: Path) -> None:
    path = _jpeg(tmp_path / "a.jpg")
    photometa.write(path, CONTEXTS[0])
    for k in range(8):
        go_read, go_write = os.pipe()
        pids = []
        for field, value in (("city", f"City {k}"), ("headline", f"Headline {k}")):
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    os.close(go_write)
                    os.read(go_read, 1)  # both start together
                    ctx = (PhotoContext(location={"city": value}) if field == "city"
                           else PhotoContext(subject={"headline": value}))
                    for _ in range(3):
                        photometa.write(path, ctx)
                    code = 0
                finally:
                    os._exit(code)
            pids.append(pid)
        os.close(go_read)
        os.write(go_write, b"gg")
        os.close(go_write)
        codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in pids]
        assert codes == [0, 0], "a concurrent write failed"
        ctx = photometa.read(path)
        assert (ctx.location.city, ctx.subject.headline) == (f"City {k}", f"Headline {k}")
    assert not _temps(tmp_path)


# -- links, permissions, mount points --------------------------------------------------------------


def test_symlink_to_a_file_outside_the_tree_writes_the_target(tmp_path: Path) -> None:
    """Policy: a symbolic link is followed wherever it points; the link stays a link and the
    temporary file is made beside the target."""
    tree, elsewhere = tmp_path / "archive", tmp_path / "elsewhere"
    tree.mkdir()
    elsewhere.mkdir()
    real = _jpeg(elsewhere / "real.jpg")
    link = tree / "photo.jpg"
    link.symlink_to(os.path.relpath(real, tree))
    chain = tree / "chain.jpg"
    chain.symlink_to("photo.jpg")
    assert photometa.write(chain, CONTEXTS[0]).written
    assert link.is_symlink() and chain.is_symlink()
    assert photometa.read(real).location.city == "Pyongyang"
    assert not _temps(tree, elsewhere)


@pytest.mark.parametrize("kind", ["dangling", "loop", "directory"])
def test_broken_links_and_non_files_fail_cleanly(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "x.jpg"
    if kind == "dangling":
        path.symlink_to(tmp_path / "missing.jpg")
    elif kind == "loop":
        path.symlink_to(tmp_path / "y.jpg")
        (tmp_path / "y.jpg").symlink_to(path)
    else:
        path.mkdir()
    with pytest.raises(PhotometaError):
        photometa.write(path, CONTEXTS[0])
    with pytest.raises(PhotometaError):
        photometa.read(path)
    assert not _temps(tmp_path)


def test_open_regular_refuses_a_fifo_without_blocking(tmp_path: Path) -> None:
    """A FIFO named like an image must not hang a reader (a plain open() waits for a writer)."""
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    with pytest.raises(PhotometaError) as info:
        fileio.open_regular(fifo)
    assert info.value.code == "not-a-file"
    with pytest.raises(IsADirectoryError):
        fileio.open_regular(tmp_path)
    path = _jpeg(tmp_path / "a.jpg")
    with fileio.open_regular(path) as f:
        assert f.read() == path.read_bytes()  # blocking mode again: reads all
    with pytest.raises(WriteError) as werr, fileio.atomic_replace(fifo):
        pass
    assert werr.value.code == "not-a-file"
    assert not _temps(tmp_path)


def test_hard_linked_file_is_refused_unless_breaking_is_allowed(tmp_path: Path) -> None:
    path = _jpeg(tmp_path / "a.jpg")
    other = tmp_path / "album" / "same.jpg"
    other.parent.mkdir()
    os.link(path, other)
    before = path.read_bytes()
    with pytest.raises(WriteError) as info:
        photometa.write(path, CONTEXTS[0])
    assert info.value.code == "hard-linked"
    assert "2 hard links" in str(info.value)
    assert path.read_bytes() == before and other.read_bytes() == before
    assert path.stat().st_ino == other.stat().st_ino
    # the low-level switch: replace this name only, the other keeps the old content
    with fileio.atomic_replace(path, hard_links="break") as f:
        f.write(b"new")
    assert path.read_bytes() == b"new"
    assert other.read_bytes() == before
    assert path.stat().st_nlink == other.stat().st_nlink == 1


def test_permissions_owner_and_extended_attributes_are_kept(tmp_path: Path) -> None:
    path = _jpeg(tmp_path / "a.jpg")
    path.chmod(0o640)
    xattrs = hasattr(os, "setxattr")
    if xattrs:
        try:
            os.setxattr(path, "user.archive.id", b"KP-2012-0415")
        except OSError:
            xattrs = False
    if ROOT:
        os.chown(path, NOBODY, NOBODY)
    st = path.stat()
    assert photometa.write(path, CONTEXTS[0]).written
    after = path.stat()
    assert after.st_ino != st.st_ino  # it was replaced, not edited in place
    assert stat.S_IMODE(after.st_mode) == 0o640
    assert (after.st_uid, after.st_gid) == (st.st_uid, st.st_gid)
    if xattrs:
        assert os.getxattr(path, "user.archive.id") == b"KP-2012-0415"


@pytest.mark.parametrize("err", [errno.EXDEV, errno.EBUSY])
def test_a_mount_point_cannot_be_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          err: int) -> None:
    """A bind-mounted single file: rename over it fails with EXDEV or EBUSY."""
    path = _jpeg(tmp_path / "a.jpg")
    before = path.read_bytes()

    def refuse(src: Any, dst: Any) -> None:
        raise OSError(err, os.strerror(err))

    monkeypatch.setattr(fileio.os, "replace", refuse)
    with pytest.raises(WriteError) as info:
        photometa.write(path, CONTEXTS[0])
    assert info.value.code == "cross-device"
    assert "mount point" in str(info.value)
    assert path.read_bytes() == before
    assert not _temps(tmp_path)


# -- no surprises in output ------------------------------------------------------------------------

ESCAPES = {
    "EXIF:Artist": "Evil\x1b]0;pwned\x07\x1b[31mRed",  # OSC window title, SGR colour
    "XMP-dc:Creator": "Evil\x1b]0;pwned\x07\x1b[31mRed",
    "XMP-photoshop:City": "Paris\u202egpj.exe",  # right-to-left override
    "IPTC:City": "Paris\u202egpj.exe",
    "XMP-dc:Description": "line1\rOVER\x08\x08\x9b2J end",  # CR, backspaces, C1 CSI
    "IPTC:Caption-Abstract": "line1\rOVER\x08\x08\x9b2J end",
    "XMP-photoshop:Headline": "Head\u2066x\u2069\u200b\x1b[8m",  # isolates, zero width, hidden
}


def _terminal_safe(text: str) -> None:
    for ch in text:
        code = ord(ch)
        assert ch == "\n" or not (code < 0x20 or 0x7F <= code < 0xA0), f"raw {ch!r} in output"
        assert not (0x202A <= code <= 0x202E or 0x2066 <= code <= 0x2069 or code == 0x200B), \
            f"raw {ch!r} in output"


def _cli(*args: str) -> tuple[int, str, str]:
    """Run the real command line (as a terminal would receive its bytes)."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "photometa.cli", *args], capture_output=True,
                          check=False)
    return proc.returncode, proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8")


def test_read_table_escapes_control_characters_written_by_exiftool(
        tmp_path: Path, exiftool: str) -> None:
    import subprocess

    path = _jpeg(tmp_path / "hostile.jpg")
    args = [exiftool, "-overwrite_original", "-charset", "iptc=UTF8", "-CodedCharacterSet=UTF8"]
    args += [f"-{tag}={value}" for tag, value in ESCAPES.items()]
    subprocess.run([*args, str(path)], check=True, capture_output=True)
    assert b"\x1b]0;pwned" in path.read_bytes()  # the bytes really are in the file
    code, out, err = _cli("read", str(path), "--jobs", "1")
    assert code == 0, err
    _terminal_safe(out + err)
    assert "Paris\\u202egpj.exe" in out
    assert "Head\\u2066x\\u2069\\u200b" in out
    assert "\\x9b2J" in out
    assert "pwned" in out  # shown, harmlessly


def test_error_messages_escape_hostile_file_names(tmp_path: Path) -> None:
    path = tmp_path / "x\x1b[2J\u202e.jpg"
    path.write_bytes(b"\x1b[2J this is no image \x1b[2J")
    code, out, err = _cli("read", str(path), "--jobs", "1")
    assert code == 2
    _terminal_safe(out + err)
    assert "\\x1b[2J\\u202e.jpg" in err
