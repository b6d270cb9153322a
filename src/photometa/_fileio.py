"""File plumbing: capped reads, kernel-side copies, and atomic, crash-safe replacement of a file.

How a file is replaced (:func:`atomic_replace`):

1. The target is checked first. A symbolic link is followed: the file it points at is written, in
   its own folder, and the link stays a link. A file nobody may write (no ``w`` bit, or the caller
   lacks write permission, or a read-only mount) is refused with ``WriteError`` code ``read-only``
   rather than replaced, although replacing would work (ExifTool 12.57 does replace it). A file
   with several hard links is refused (code ``hard-linked``) unless the caller passes
   ``hard_links="break"``: replacing one name would leave the other names holding the old content.
2. The new content goes to a temporary file ``.photometa-XXXXXXXX.tmp`` beside the target (same
   folder, so the rename is atomic), is flushed and fsynced, and gets the target's extended
   attributes (POSIX ACLs included, best effort), owner and group (where permitted; otherwise the
   group alone) and mode.
3. Just before the rename the target is checked again: if it was replaced, removed or changed
   (size, mtime, inode) meanwhile, nothing is written (code ``changed-meanwhile``).
4. ``os.replace`` renames the temporary file over the target and the folder is fsynced.

A process killed at any point leaves the old file or the new one, never a mix. It may leave its
temporary file behind; those are hidden names that folder walks skip, and the next write into that
folder removes them (:func:`clean_stale_temps`). A writer holds a shared ``flock`` on the folder
for as long as its temporary file exists, so a temporary file found while nobody holds that lock
belongs to a dead process. Where the folder cannot be locked (some network file systems), only
temporary files older than :data:`STALE_AFTER` seconds are removed.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Final, Literal

from .errors import UnsupportedFormatError, WriteError

try:  # POSIX advisory locks; elsewhere stale temporary files are recognised by age only
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "STALE_AFTER",
    "TEMP_PREFIX",
    "TEMP_SUFFIX",
    "HardLinks",
    "atomic_replace",
    "clean_stale_temps",
    "copy_file",
    "copy_range",
    "hash_range",
    "holding_folder",
    "is_temp_name",
    "make_temp",
    "open_regular",
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
_cleaned: dict[tuple[int, int, int], float] = {}  # (pid, st_dev, st_ino) of a folder -> when


def copy_range(src: BinaryIO, src_offset: int, dst: BinaryIO, dst_offset: int, length: int) -> None:
    """Copy ``length`` bytes between files, kernel-side (copy_file_range) where the OS allows."""
    dst.flush()
    src_fd, dst_fd = src.fileno(), dst.fileno()
    done = 0
    copy_file_range = getattr(os, "copy_file_range", None)
    if copy_file_range is not None:
        try:
            while done < length:
                n = copy_file_range(src_fd, dst_fd, length - done, src_offset + done,
                                    dst_offset + done)
                if n == 0:
                    break
                done += n
        except OSError as err:
            if err.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP,
                                 errno.EBADF, errno.ETXTBSY):
                raise
    if done < length:
        src.seek(src_offset + done)
        dst.seek(dst_offset + done)
        remaining = length - done
        while remaining:
            chunk = src.read(min(_CHUNK, remaining))
            if not chunk:
                raise WriteError("source file shrank while copying", code="source-changed")
            dst.write(chunk)
            remaining -= len(chunk)
    dst.seek(dst_offset + length)


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
    finally:
        os.close(fd)  # releases the lock
    return removed


def _clean_once(directory: Path) -> None:
    """Clean ``directory`` the first time this process writes there (and every CLEAN_EVERY s)."""
    try:
        st = os.stat(directory)
    except OSError:
        return
    key = (os.getpid(), st.st_dev, st.st_ino)
    now = time.monotonic()
    last = _cleaned.get(key)
    if last is not None and now - last < CLEAN_EVERY:
        return
    _cleaned[key] = now
    clean_stale_temps(directory)


def _hold_dir(directory: Path) -> int | None:
    """Open ``directory`` and take its shared lock (the mark of a live writer), or return None."""
    fd = _open_dir(directory)
    if fd is None or fcntl is None:
        return fd
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
    folder = Path(directory)
    _clean_once(folder)
    fd = _hold_dir(folder)
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


# -- replacing a file ---------------------------------------------------------------------------


def _check_target(target: Path, real: Path, hard_links: HardLinks) -> os.stat_result:
    try:
        st = os.stat(real)
    except FileNotFoundError as err:
        raise WriteError("no such file", path=target, code="not-found") from err
    except OSError as err:
        raise WriteError(f"cannot stat: {err.strerror}", path=target, code="stat") from err
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
    return st


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


def _unchanged(before: os.stat_result, real: Path, target: Path) -> None:
    try:
        now = os.stat(real)
    except FileNotFoundError as err:
        raise WriteError("the file was removed while photometa was writing it; nothing was "
                         "written", path=target, code="changed-meanwhile") from err
    if (now.st_dev, now.st_ino, now.st_size, now.st_mtime_ns) != (
            before.st_dev, before.st_ino, before.st_size, before.st_mtime_ns):
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
def atomic_replace(target: str | os.PathLike[str], *, hard_links: HardLinks = "refuse"
                   ) -> Iterator[BinaryIO]:
    """Yield a temporary file beside ``target``; when the block ends it replaces ``target``.

    See the module documentation for the whole procedure. On any exception, and when the target
    changed meanwhile, the temporary file is removed and the target is left untouched.

    Args:
        target: the file to replace; a symbolic link is followed (the link is kept).
        hard_links: ``"refuse"`` (default) raises for a file with several hard links;
            ``"break"`` replaces this name only, the other names keep the old content.

    Raises:
        WriteError: with code ``not-found``, ``not-a-file``, ``read-only`` (file, folder or file
            system), ``hard-linked``, ``disk-full`` (ENOSPC, EFBIG, EDQUOT), ``cross-device``
            (a mount point), ``changed-meanwhile`` or ``io``.
    """
    target = Path(target)
    real = Path(os.path.realpath(target))  # write through a symlink, keep the link
    directory = real.parent
    before = _check_target(target, real, hard_links)
    _clean_once(directory)
    dir_fd = _hold_dir(directory)
    tmp: Path | None = None
    ok = False
    try:
        try:
            fd, tmp = make_temp(directory)
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
        if dir_fd is not None:
            with contextlib.suppress(OSError):
                os.fsync(dir_fd)
    finally:
        if not ok and tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink()
        if dir_fd is not None:
            os.close(dir_fd)


def copy_file(src: Path, dst: Path) -> None:
    """Copy a whole file (used for sidecars and tests)."""
    shutil.copyfile(src, dst)
