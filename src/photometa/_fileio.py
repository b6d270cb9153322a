"""File plumbing: capped reads, kernel-side copies, and atomic, crash-safe replacement of a file.

How a file is replaced (:func:`atomic_replace`):

1. The target is checked first. A symbolic link is followed: the file it points at is written, in
   its own folder, and the link stays a link. A file nobody may write (no ``w`` bit, or the caller
   lacks write permission, or a read-only mount) is refused with ``WriteError`` code ``read-only``
   rather than replaced, although replacing would work (ExifTool 12.57 does replace it). A file
   with several hard links is refused (code ``hard-linked``) unless the caller passes
   ``hard_links="break"``: replacing one name would leave the other names holding the old content.
2. The new content goes to a temporary file ``.photometa-W-XXXXXXXXXX.tmp`` beside the target
   (same folder, so the rename is atomic), is flushed and fsynced, and gets the target's extended
   attributes (POSIX ACLs included, best effort), owner and group (where permitted; otherwise the
   group alone) and mode.
3. Just before the rename the target is checked again: if it was replaced, removed or changed
   (size, mtime, ctime, inode) meanwhile, nothing is written (code ``changed-meanwhile``). The
   reference is the stat the caller read the file with (``expect``), else the one taken in 1.
4. ``os.replace`` renames the temporary file over the target and the folder is fsynced (inside
   :func:`deferred_folder_sync`, once per folder when the block ends).

A process killed at any point leaves the old file or the new one, never a mix. It may leave its
temporary file behind; those are hidden names that folder walks skip, and the next process that
writes into that folder removes them (:func:`clean_stale_temps`; each process looks once per
folder, then every :data:`CLEAN_EVERY` seconds, so a folder is not listed on every write). A
writer holds a shared ``flock`` on the folder for as long as its temporary file exists, so a
temporary file found while nobody holds that lock belongs to a dead process. Where the folder
cannot be locked (some network file systems), only temporary files older than
:data:`STALE_AFTER` seconds are removed.

Copies are checked cheaply (:func:`sampled_equal`: both ends of a range) or whole
(:func:`hash_range`). The last close of a replaced file, which frees its space, can be left to a
background thread (:func:`close_later`).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
import queue
import shutil
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, Final, Literal, Protocol, TypeAlias

from .errors import UnsupportedFormatError, WriteError

try:  # POSIX advisory locks; elsewhere stale temporary files are recognised by age only
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "SAMPLE_WINDOW",
    "STALE_AFTER",
    "TEMP_PREFIX",
    "TEMP_SUFFIX",
    "HardLinks",
    "atomic_replace",
    "clean_stale_temps",
    "close_later",
    "copy_file",
    "copy_range",
    "defer_folder_sync",
    "deferred_folder_sync",
    "drain_closes",
    "hash_range",
    "holding_folder",
    "is_temp_name",
    "make_temp",
    "open_regular",
    "reader_at",
    "sampled_equal",
    "sync_folder",
]

TEMP_PREFIX: Final = ".photometa-"
TEMP_SUFFIX: Final = ".tmp"
LOCKED_PREFIX: Final = TEMP_PREFIX + "W-"
"""Temporary files made under the folder lock (mkstemp never puts an upper-case letter in names)."""
STALE_AFTER: Final = 15 * 60.0
"""Seconds after which a temporary file counts as stale where its folder cannot be locked."""
CLEAN_EVERY: Final = 10 * 60.0
"""A long-running process looks for stale temporary files in a folder at most this often."""
LOCK_WAIT: Final = 10.0
"""Seconds a writer waits for a folder that another process is cleaning."""

HardLinks = Literal["refuse", "break"]
_CHUNK = 1 << 20
_FULL = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})
_DENIED = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})
_NO_KERNEL_COPY = frozenset({errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP,
                             errno.EBADF, errno.ETXTBSY})
SAMPLE_WINDOW: Final = 64 * 1024
"""Bytes compared at each end of a copied range by a sampled check (:func:`sampled_equal`)."""
_cleaned: dict[tuple[int, int, int], float] = {}  # (pid, st_dev, st_ino) of a folder -> when
_CLEANED_MAX: Final = 4096


def _kernel_copy(src_fd: int, src_offset: int, dst_fd: int, dst_offset: int, length: int
                 ) -> int:
    """Copy up to ``length`` bytes kernel-side; the number of bytes copied (0 when the OS or the
    file system offers no kernel-side copy between these files)."""
    done = 0
    copy_file_range = getattr(os, "copy_file_range", None)
    if copy_file_range is not None:
        try:
            while done < length:
                n = copy_file_range(src_fd, dst_fd, length - done, src_offset + done,
                                    dst_offset + done)
                if n == 0:
                    return done
                done += n
            return done
        except OSError as err:
            if err.errno not in _NO_KERNEL_COPY:
                raise
    sendfile = getattr(os, "sendfile", None)
    if sendfile is not None and done < length:
        try:
            os.lseek(dst_fd, dst_offset + done, os.SEEK_SET)
            while done < length:
                n = sendfile(dst_fd, src_fd, src_offset + done, length - done)
                if n == 0:
                    break
                done += n
        except OSError as err:
            if err.errno not in _NO_KERNEL_COPY:
                raise
    return done


def copy_range(src: BinaryIO, src_offset: int, dst: BinaryIO, dst_offset: int, length: int) -> int:
    """Copy ``length`` bytes between files, kernel-side (copy_file_range, else sendfile) where
    the OS allows, else through a buffer. Leaves ``dst`` positioned after the copy.

    Returns:
        The number of bytes copied: always ``length``.

    Raises:
        WriteError: the source ended before ``length`` bytes (code ``source-changed``).
        OSError: reading or writing failed.
    """
    dst.flush()
    done = _kernel_copy(src.fileno(), src_offset, dst.fileno(), dst_offset, length)
    if done < length:
        src.seek(src_offset + done)
        dst.seek(dst_offset + done)
        while done < length:
            chunk = src.read(min(_CHUNK, length - done))
            if not chunk:
                raise WriteError("source file shrank while copying", code="source-changed")
            dst.write(chunk)
            done += len(chunk)
    dst.seek(dst_offset + length)
    return done


ReadAt: TypeAlias = Callable[[int, int], bytes]
"""``read_at(offset, n)``: up to ``n`` bytes of a file from ``offset`` (fewer at its end)."""


def reader_at(f: BinaryIO) -> ReadAt:
    """A positional reader over ``f`` for walks that jump from header to header.

    On a real file it is ``pread``: no seek, and no 8 KiB refill of a buffer for the 8 bytes of
    a chunk header (that halves the cost of walking a PNG's IDAT chunks). Bytes still in ``f``'s
    write buffer are flushed first. Any other binary stream (``BytesIO``) is read with seek and
    read. The stream's own position is left undefined; callers seek before reading from it.
    """
    try:
        fd = f.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        fd = -1
    if fd >= 0 and hasattr(os, "pread"):
        if f.writable():
            f.flush()  # bytes still in a write buffer must be on the file for pread to see them
        pread = os.pread

        def read_fd(offset: int, n: int) -> bytes:
            data = pread(fd, n, offset)
            while 0 < len(data) < n:  # a short read before the end of the file: read on
                more = pread(fd, n - len(data), offset + len(data))
                if not more:
                    break
                data += more
            return data

        return read_fd

    def read_stream(offset: int, n: int) -> bytes:
        f.seek(offset)
        return f.read(n)

    return read_stream


def hash_range(f: BinaryIO, offset: int, length: int) -> bytes:
    """BLAKE2b digest of ``length`` bytes of ``f`` from ``offset``."""
    h = hashlib.blake2b(digest_size=32)
    f.seek(offset)
    remaining = length
    while remaining:
        chunk = f.read(min(_CHUNK, remaining))
        if not chunk:
            break
        h.update(chunk)
        remaining -= len(chunk)
    return h.digest()


def sampled_equal(a: BinaryIO, a_offset: int, b: BinaryIO, b_offset: int, length: int, *,
                  window: int = SAMPLE_WINDOW) -> bool:
    """True when the first and the last ``window`` bytes of two ranges of ``length`` bytes are
    equal (the whole ranges when they are at most twice ``window`` long), and both files hold
    the whole range.

    The cheap check of a copy: it catches a copy from or to the wrong offset, a short copy and
    damage at either end, not damage in the middle of a long range (:func:`hash_range` does).
    """
    read_a, read_b = reader_at(a), reader_at(b)
    whole = length <= 2 * window
    spans = [(0, length)] if whole else [(0, window), (length - window, window)]
    for start, n in spans:
        mine = read_a(a_offset + start, n)
        if len(mine) != n or mine != read_b(b_offset + start, n):
            return False
    return True


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """Open a file for reading, refusing (without blocking) anything but a regular file.

    A plain ``open()`` of a FIFO named ``photo.jpg`` waits forever for a writer; a device may
    never end. This opens non-blocking, checks the type, then reads normally.

    Raises:
        IsADirectoryError: ``path`` is a folder.
        UnsupportedFormatError: ``path`` is a FIFO, socket or device (code ``not-a-file``).
        OSError: the file cannot be opened.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), os.fspath(path))
        if not stat.S_ISREG(mode):
            raise UnsupportedFormatError("not a regular file (a FIFO, socket or device)",
                                         code="not-a-file")
        if fcntl is not None and flags & getattr(os, "O_NONBLOCK", 0):
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


# -- folder locks and stale temporary files ---------------------------------------------------


def is_temp_name(name: str) -> bool:
    """True for the names of photometa's temporary files (``.photometa-*.tmp``)."""
    return name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX) and len(name) > 16


def _open_dir(directory: Path) -> int | None:
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        return os.open(directory, flags)
    except OSError:
        return None


def _flock(fd: int, operation: int) -> bool | None:
    """True when locked, False when another process holds a conflicting lock, None when the file
    system does not support locks."""
    if fcntl is None:  # pragma: no cover
        return None
    try:
        fcntl.flock(fd, operation)
    except BlockingIOError:
        return False
    except OSError:
        return None
    return True


def clean_stale_temps(directory: str | os.PathLike[str], *, older_than: float = STALE_AFTER
                      ) -> list[Path]:
    """Remove the temporary files that killed photometa processes left in ``directory``.

    Only regular files named ``.photometa-*.tmp`` are considered, and only while no live writer
    holds the folder's lock (nothing happens while another process writes there). Those made
    under the lock (``.photometa-W-*.tmp``) are removed at once: their writer is dead. Others,
    and all of them where the file system has no locks, are removed when older than
    ``older_than`` seconds. Errors (permissions, a vanished file) are ignored.

    Returns:
        The files removed.
    """
    folder = Path(directory)
    fd = _open_dir(folder)
    if fd is None:
        return []
    try:
        return _clean_at(fd, folder, older_than)
    finally:
        os.close(fd)  # releases the lock


def _clean_at(fd: int, folder: Path, older_than: float) -> list[Path]:
    """:func:`clean_stale_temps` on the open folder ``fd``; leaves its exclusive lock taken
    when it could take it."""
    removed: list[Path] = []
    try:
        locked = _flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB) if fcntl is not None else None
        if locked is False:
            return []  # a writer is active here; try another time
        cutoff = time.time() - older_than
        with os.scandir(fd) as entries:
            for entry in entries:
                if not is_temp_name(entry.name):
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                    if not stat.S_ISREG(st.st_mode):
                        continue
                    dead = locked and entry.name.startswith(LOCKED_PREFIX)
                    if not dead and st.st_mtime > cutoff:
                        continue
                    os.unlink(entry.name, dir_fd=fd)
                except OSError:
                    continue
                removed.append(folder / entry.name)
    except OSError:
        pass
    return removed


def _clean_due(fd: int) -> bool:
    """Whether this process should look for stale temporary files in the open folder ``fd``: the
    first time it writes there, then every :data:`CLEAN_EVERY` seconds. Remembered per process
    and folder (device and inode), so the folder is not listed on every write."""
    try:
        st = os.fstat(fd)
    except OSError:
        return False
    key = (os.getpid(), st.st_dev, st.st_ino)
    now = time.monotonic()
    last = _cleaned.get(key)
    if last is not None and now - last < CLEAN_EVERY:
        return False
    if last is None and len(_cleaned) >= _CLEANED_MAX:  # forget the oldest half
        for old in list(_cleaned)[: _CLEANED_MAX // 2]:
            del _cleaned[old]
    _cleaned.pop(key, None)
    _cleaned[key] = now
    return True


def _enter_folder(directory: Path) -> int | None:
    """Open ``directory``, clean it when due (:func:`_clean_due`), and take its shared lock (the
    mark of a live writer). The open folder, or None when it cannot be opened."""
    fd = _open_dir(directory)
    if fd is None:
        return None
    if _clean_due(fd):
        _clean_at(fd, directory, STALE_AFTER)  # converted to the shared lock just below
    if fcntl is not None:
        deadline = time.monotonic() + LOCK_WAIT
        while _flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB) is False and time.monotonic() < deadline:
            time.sleep(0.005)  # a cleaner holds it for the length of one folder scan
    return fd


@contextlib.contextmanager
def holding_folder(directory: str | os.PathLike[str]) -> Iterator[None]:
    """Mark this process as a live writer in ``directory`` while the block runs.

    Stale temporary files there are cleaned first (once per process and folder). Create
    temporary files inside the block with :func:`make_temp`, and rename or remove them before it
    ends: other processes remove such files as soon as no writer holds the folder.
    """
    fd = _enter_folder(Path(directory))
    try:
        yield
    finally:
        if fd is not None:
            os.close(fd)


def make_temp(directory: str | os.PathLike[str]) -> tuple[int, Path]:
    """Create an empty temporary file (mode 0600) in ``directory``; call within
    :func:`holding_folder`. Returns its descriptor and path.

    Raises:
        OSError: the file cannot be created (the caller turns it into a ``WriteError``).
    """
    fd, name = tempfile.mkstemp(prefix=LOCKED_PREFIX, suffix=TEMP_SUFFIX, dir=directory)
    return fd, Path(name)


def _make_temp_in(directory: Path, dir_fd: int | None) -> tuple[int, Path]:
    """:func:`make_temp`, relative to the open folder ``dir_fd`` when there is one (no path
    lookup). The random part is lower-case hexadecimal, as :data:`LOCKED_PREFIX` requires."""
    if dir_fd is None:
        return make_temp(directory)
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(
        os, "O_NOFOLLOW", 0)
    for _ in range(100):
        name = f"{LOCKED_PREFIX}{os.urandom(5).hex()}{TEMP_SUFFIX}"
        try:
            fd = os.open(name, flags, 0o600, dir_fd=dir_fd)
        except FileExistsError:
            continue
        return fd, directory / name
    raise FileExistsError(errno.EEXIST, "no free temporary file name", str(directory))


# -- replacing a file ---------------------------------------------------------------------------


def _check_target(target: Path, real: Path, st: os.stat_result, hard_links: HardLinks) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise WriteError("not a regular file; photometa writes only regular files", path=target,
                         code="not-a-file")
    mode = stat.S_IMODE(st.st_mode)
    effective = os.access in os.supports_effective_ids
    if not mode & 0o222 or not os.access(real, os.W_OK, effective_ids=effective):
        why = "is on a read-only file system" if _read_only_fs(real) else (
            f"is read-only (mode {mode:04o})" if not mode & 0o222 else "is not writable by you")
        raise WriteError(
            f"the file {why}; photometa does not replace files it may not write "
            "(make it writable first)", path=target, code="read-only")
    if st.st_nlink > 1 and hard_links != "break":
        raise WriteError(
            f"the file has {st.st_nlink} hard links; replacing it would leave the other names "
            "with the old content (allow it with hard_links='break')", path=target,
            code="hard-linked")


def _stat_target(target: Path) -> tuple[Path, os.stat_result]:
    """The file ``target`` names (a symbolic link followed) and its stat: one ``lstat`` unless it
    is a link."""
    try:
        st = os.lstat(target)
        if not stat.S_ISLNK(st.st_mode):
            return target, st
        real = Path(os.path.realpath(target))  # write through a symlink, keep the link
        return real, os.stat(real)
    except FileNotFoundError as err:
        raise WriteError("no such file", path=target, code="not-found") from err
    except OSError as err:
        raise WriteError(f"cannot stat: {err.strerror}", path=target, code="stat") from err


def _read_only_fs(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):  # pragma: no cover - no statvfs
        return False


def _copy_xattrs(src: Path, fd: int) -> None:
    """Copy extended attributes (POSIX ACLs, tags...) where the platform and rights allow."""
    listxattr = getattr(os, "listxattr", None)
    if listxattr is None:  # pragma: no cover - not Linux
        return
    try:
        names = listxattr(src)
    except OSError:
        return
    for name in names:
        with contextlib.suppress(OSError):
            os.setxattr(fd, name, os.getxattr(src, name))


def _keep_owner_and_mode(fd: int, st: os.stat_result) -> None:
    if hasattr(os, "fchown") and (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
        try:
            os.fchown(fd, st.st_uid, st.st_gid)
        except OSError:  # not root: keep at least the group, when we belong to it
            with contextlib.suppress(OSError):
                os.fchown(fd, -1, st.st_gid)
    os.fchmod(fd, stat.S_IMODE(st.st_mode))  # after chown, which may clear set-id bits


def _identity(st: os.stat_result) -> tuple[int, int, int, int, int]:
    """What must stay the same for a file to count as unchanged."""
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def _unchanged(before: os.stat_result, real: Path, target: Path) -> None:
    try:
        now = os.stat(real)
    except FileNotFoundError as err:
        raise WriteError("the file was removed while photometa was writing it; nothing was "
                         "written", path=target, code="changed-meanwhile") from err
    if _identity(now) != _identity(before):
        raise WriteError("the file changed while photometa was writing it; nothing was written",
                         path=target, code="changed-meanwhile")


def _failure(err: OSError, target: Path, doing: str) -> WriteError:
    if err.errno in _FULL:
        return WriteError(f"{doing} failed: the disk is full or a size limit was reached "
                          f"({err.strerror}); the original is unchanged", path=target,
                          code="disk-full")
    if err.errno in _DENIED:
        return WriteError(f"{doing} failed: {err.strerror}; the original is unchanged",
                          path=target, code="read-only")
    if err.errno in (errno.EXDEV, errno.EBUSY):
        return WriteError(f"{doing} failed: the file cannot be replaced atomically "
                          f"({err.strerror}; is it a mount point, such as a bind-mounted file?); "
                          "the original is unchanged", path=target, code="cross-device")
    return WriteError(f"{doing} failed: {err.strerror or err}; the original is unchanged",
                      path=target, code="io")


@contextlib.contextmanager
def atomic_replace(target: str | os.PathLike[str], *, hard_links: HardLinks = "refuse",
                   expect: os.stat_result | None = None) -> Iterator[BinaryIO]:
    """Yield a temporary file beside ``target``; when the block ends it replaces ``target``.

    See the module documentation for the whole procedure. On any exception, and when the target
    changed meanwhile, the temporary file is removed and the target is left untouched.

    Args:
        target: the file to replace; a symbolic link is followed (the link is kept).
        hard_links: ``"refuse"`` (default) raises for a file with several hard links;
            ``"break"`` replaces this name only, the other names keep the old content.
        expect: the stat of the target as the caller read it (under its lock). The target
            must still match it (device, inode, size, mtime and ctime) when the new file is
            renamed over it; without it, the stat taken when the block starts is the reference.

    Raises:
        WriteError: with code ``not-found``, ``not-a-file``, ``read-only`` (file, folder or file
            system), ``hard-linked``, ``disk-full`` (ENOSPC, EFBIG, EDQUOT), ``cross-device``
            (a mount point), ``changed-meanwhile`` or ``io``.
    """
    target = Path(target)
    real, now = _stat_target(target)
    before = expect if expect is not None else now
    _check_target(target, real, before, hard_links)
    directory = real.parent
    dir_fd = _enter_folder(directory)
    tmp: Path | None = None
    ok = False
    try:
        try:
            fd, tmp = _make_temp_in(directory, dir_fd)
        except OSError as err:
            raise _failure(err, target, "creating a temporary file beside it") from err
        try:
            with os.fdopen(fd, "w+b") as f:
                yield f
                f.flush()
                _copy_xattrs(real, f.fileno())
                _keep_owner_and_mode(f.fileno(), before)
                os.fsync(f.fileno())
            _unchanged(before, real, target)
            os.replace(tmp, real)
        except WriteError:
            raise
        except OSError as err:
            raise _failure(err, target, "writing") from err
        ok = True
        if dir_fd is not None and not defer_folder_sync(directory):
            with contextlib.suppress(OSError):
                os.fsync(dir_fd)
    finally:
        if not ok and tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink()
        if dir_fd is not None:
            os.close(dir_fd)


class _Deferral(threading.local):
    """The folders whose fsync this thread owes, while a :func:`deferred_folder_sync` block of
    this process is open (``pid`` tells a forked child that the block is its parent's)."""

    folders: set[str] | None = None
    pid: int = 0


_deferral = _Deferral()


def defer_folder_sync(directory: str | os.PathLike[str]) -> bool:
    """Whether the fsync of ``directory`` after a rename is left to an open
    :func:`deferred_folder_sync` block (it then remembers the folder)."""
    folders = _deferral.folders
    if folders is None or _deferral.pid != os.getpid():
        return False
    folders.add(os.fspath(directory))
    return True


def sync_folder(directory: str | os.PathLike[str]) -> None:
    """fsync a folder, making the renames into it durable (best effort, as after each write)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def deferred_folder_sync() -> Iterator[None]:
    """Within the block, make the renames of this thread's writes durable together, at its end.

    Every write still goes to a temporary file that is fsynced before it is renamed over the
    original, so a crash never leaves a half-written file. What is deferred is the fsync of the
    folder that makes the rename itself durable: one per folder when the block ends instead of
    one per file (on ext4 that halves the cost of writing a small file). A crash before the
    block ends may bring back the previous version of files written in it, whole. Blocks nest
    (the outermost one syncs); a process forked inside a block does not inherit it.
    """
    if _deferral.folders is not None and _deferral.pid == os.getpid():
        yield
        return
    folders: set[str] = set()
    _deferral.folders, _deferral.pid = folders, os.getpid()
    try:
        yield
    finally:
        _deferral.folders = None
        for folder in sorted(folders):
            sync_folder(folder)


_CLOSER_QUEUE: Final = 32
_CLOSER_IDLE: Final = 2.0


class Closable(Protocol):
    """A file or a memory map."""

    def close(self) -> None:
        """Release it."""


class _Closer:
    """Closes files on a background thread: the last close of a replaced file frees its space
    (on ext4 a journal transaction), which the writer need not wait for.

    The queue is bounded, so a writer waits when the closer lags. The thread starts on first
    use and ends after :data:`_CLOSER_IDLE` seconds without work (deciding so under the same
    lock as the writers that hand it files, so none is left behind). Before a fork the thread
    closes every pending file and stops, so the child inherits neither a file nor a thread
    (nor a lock held by one); the next close starts a thread again.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._queue: queue.Queue[Closable | None] = queue.Queue(maxsize=_CLOSER_QUEUE)
        self._thread: threading.Thread | None = None

    def close(self, f: Closable) -> None:
        """Close ``f`` soon (at once when no thread can be started)."""
        with self._guard:
            if self._thread is None:
                thread = threading.Thread(target=self._run, name="photometa-closer",
                                          daemon=True)
                try:
                    thread.start()
                except RuntimeError:  # pragma: no cover - interpreter shutting down
                    f.close()
                    return
                self._thread = thread
            self._queue.put(f)  # the thread cannot stop while the guard is held

    def _run(self) -> None:
        pending = self._queue
        while True:
            try:
                f = pending.get(timeout=_CLOSER_IDLE)
            except queue.Empty:
                if not self._guard.acquire(blocking=False):
                    continue  # a file is being handed over, or stop() is waiting for this thread
                try:
                    if pending.empty():
                        self._thread = None
                        return
                finally:
                    self._guard.release()
                continue
            try:
                if f is None:  # stop: asked by stop()
                    return
                f.close()
            except Exception:  # pragma: no cover - nothing to report it to; keep closing others
                pass
            finally:
                pending.task_done()

    def drain(self) -> None:
        """Wait until every pending file is closed."""
        self._queue.join()

    def stop(self) -> None:
        """Close every pending file and end the thread (before a fork); keeps the guard taken
        until :meth:`resume` or :meth:`forget`, so no file is handed over meanwhile."""
        self._guard.acquire()
        thread = self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join()
            self._thread = None

    def resume(self) -> None:
        """After a fork, in the parent."""
        self._guard.release()

    def forget(self) -> None:
        """After a fork, in the child: the same (idle) state, with locks of its own."""
        self._guard = threading.Lock()
        self._queue = queue.Queue(maxsize=_CLOSER_QUEUE)
        self._thread = None


_closer = _Closer()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_closer.stop, after_in_parent=_closer.resume,
                        after_in_child=_closer.forget)


def close_later(f: Closable) -> None:
    """Close ``f`` (a file or a memory map) on a background thread (see :class:`_Closer`); the
    caller must not use it any more."""
    _closer.close(f)


def drain_closes() -> None:
    """Wait until the files given to :func:`close_later` are closed."""
    _closer.drain()


def copy_file(src: Path, dst: Path) -> None:
    """Copy a whole file (used for sidecars and tests)."""
    shutil.copyfile(src, dst)
