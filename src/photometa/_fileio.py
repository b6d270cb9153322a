"""File plumbing: capped reads, kernel-side copies, and atomic replacement of a file.

A write goes to a temporary file beside the target (same directory, so ``os.replace`` is atomic), is flushed
and fsynced, checked, given the target's permissions, and only then renamed over the target; the directory is
fsynced afterwards. A crash at any point leaves either the old file or the new one.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from .errors import WriteError

__all__ = ["TEMP_PREFIX", "atomic_replace", "copy_range", "hash_range"]

TEMP_PREFIX = ".photometa-"
_CHUNK = 1 << 20


def copy_range(src: BinaryIO, src_offset: int, dst: BinaryIO, dst_offset: int, length: int) -> None:
    """Copy ``length`` bytes between files without passing them through Python where the OS allows."""
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


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_replace(target: Path) -> Iterator[BinaryIO]:
    """Yield a temporary file beside ``target``; on success it replaces ``target`` atomically.

    The temporary file gets the target's mode (and owner, where permitted). On any exception it is
    removed and the target is left untouched.
    """
    real = Path(os.path.realpath(target))  # write through a symlink, keep the link
    directory = real.parent
    try:
        st = real.stat()
    except OSError as err:
        raise WriteError(f"cannot stat: {err.strerror}", path=target, code="stat") from err
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".tmp", dir=directory)
    except OSError as err:
        raise WriteError(
            f"cannot create a temporary file beside it: {err.strerror}", path=target,
            code="read-only" if err.errno in (errno.EACCES, errno.EROFS, errno.EPERM) else "temp",
        ) from err
    tmp = Path(tmp_name)
    ok = False
    try:
        with os.fdopen(fd, "w+b") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, stat.S_IMODE(st.st_mode))
        if hasattr(os, "chown"):
            with contextlib.suppress(OSError):
                os.chown(tmp, st.st_uid, st.st_gid)
        os.replace(tmp, real)
        ok = True
        _fsync_dir(directory)
    except OSError as err:
        if isinstance(err, WriteError):
            raise
        code = "disk-full" if err.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT) else "io"
        raise WriteError(f"write failed: {err.strerror or err}", path=target, code=code) from err
    finally:
        if not ok:
            with contextlib.suppress(OSError):
                tmp.unlink()


def copy_file(src: Path, dst: Path) -> None:
    """Copy a whole file (used for sidecars and tests)."""
    shutil.copyfile(src, dst)
