"""A content-keyed cache of validation results: re-validating an unchanged archive is nearly free.

A result is stored under ``sha256(content id, policy digest, photometa code digest, limits)``:

* the content id is the file's git blob id when git has one for an unchanged tracked file (no read
  at all), else the SHA-256 of the file's bytes. A stat index (size and mtime) remembers the SHA-256
  of files hashed before, so local re-runs do not hash them again;
* the policy digest covers everything in the (path-resolved) policy that decides findings;
* the code digest hashes photometa's own modules and data, so any change to the checks, the
  vocabularies or the country table invalidates every entry, released or not.

The cache is one SQLite file in ``.photometa-cache/`` (with a ``.gitignore`` so it is never
committed). Only the process that owns the :class:`ValidationCache` writes it; worker processes
read it. Any SQLite problem disables the cache rather than failing validation.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

from . import _git
from ._binary import Limits
from .report import Finding

__all__ = ["CACHE_DIR", "ValidationCache", "code_digest", "content_digest"]

CACHE_DIR: Final = ".photometa-cache"
_DB_NAME: Final = "validate-v1.sqlite3"
_RACY_NS: Final = 2_000_000_000  # a file modified this recently may change again unseen
_CHUNK: Final = 1 << 20


@lru_cache(maxsize=1)
def code_digest() -> str:
    """SHA-256 over photometa's modules and data files (computed once per process)."""
    package = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for root, dirs, files in os.walk(package, followlinks=True):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith((".py", ".toml", ".json")):
                path = Path(root) / name
                h.update(path.relative_to(package).as_posix().encode())
                h.update(b"\0")
                h.update(path.read_bytes())
    return h.hexdigest()


def content_digest(path: str | os.PathLike[str]) -> tuple[str, tuple[int, int]]:
    """SHA-256 of a file's bytes, and the (size, mtime_ns) it had when hashed."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        st = os.fstat(f.fileno())
        while True:
            chunk = f.read(_CHUNK)
            if not chunk:
                break
            h.update(chunk)
    return h.hexdigest(), (st.st_size, st.st_mtime_ns)


def _key(content_id: str, salt: str) -> str:
    return hashlib.sha256(f"{content_id}\0{salt}".encode()).hexdigest()


def _encode(findings: Sequence[Finding]) -> str:
    return json.dumps([f.to_dict() for f in findings], ensure_ascii=False, separators=(",", ":"))


def _decode(text: str) -> list[Finding] | None:
    try:
        return [Finding.from_dict(d) for d in json.loads(text)]
    except (ValueError, KeyError, TypeError):
        return None


_readers: dict[tuple[str, int], sqlite3.Connection] = {}


class ValidationCache:
    """Validation results by content, policy and photometa version, in ``directory``.

    Raises:
        OSError: the folder cannot be created.
        sqlite3.Error: the database cannot be opened.
    """

    def __init__(self, directory: str | os.PathLike[str] = CACHE_DIR) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        ignore = self.directory / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# made by photometa validate; safe to delete\n*\n", "utf-8")
        self.db_path = self.directory / _DB_NAME
        self.problem: str | None = None
        self.hits = 0
        self._writes = 0
        self._conn: sqlite3.Connection | None = sqlite3.connect(self.db_path, timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("CREATE TABLE IF NOT EXISTS results "
                           "(key TEXT PRIMARY KEY, findings TEXT NOT NULL)")
        self._conn.execute("CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, "
                           "size INTEGER, mtime_ns INTEGER, content_id TEXT)")
        self._conn.commit()

    def _fail(self, err: Exception) -> None:
        self.problem = f"cache disabled: {err}"
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
        self._conn = None

    @staticmethod
    def salt(policy_digest: str, limits: Limits) -> str:
        """Everything besides the content that decides a file's findings."""
        return f"{policy_digest}:{code_digest()}:{limits!r}"

    # -- content ids ------------------------------------------------------------------------------

    def known_content_ids(self, files: Sequence[str | os.PathLike[str]], *,
                          memo: dict[str, Any] | None = None) -> dict[int, str]:
        """Content ids known without reading the files: git blob ids of unchanged tracked files,
        and SHA-256 digests from the stat index (by position in ``files``).

        Git is asked afresh on each call (the tree may change), unless the caller passes the
        same ``memo`` dict to calls that see the same tree (the chunks of one run).
        """
        out: dict[int, str] = {}
        rest: list[tuple[int, str]] = []
        memo = memo if memo is not None else {}
        blobs: dict[str, dict[str, str]] = memo.setdefault("blobs", {})
        roots: dict[str, str | None] = memo.setdefault("roots", {})
        for i, p in enumerate(files):
            ap = os.path.abspath(p)
            folder = os.path.dirname(ap)
            if folder not in roots:
                found = _git.repo_root(folder)
                roots[folder] = str(found) if found is not None else None
            key = roots[folder]
            if key is not None:
                if key not in blobs:
                    blobs[key] = _git.blob_ids(key)
                blob = blobs[key].get(ap)
                if blob is not None:
                    out[i] = f"git:{blob}"
                    continue
            rest.append((i, ap))
        if self._conn is None or not rest:
            return out
        try:
            for i, ap in rest:
                row = self._conn.execute(
                    "SELECT size, mtime_ns, content_id FROM files WHERE path = ?", (ap,)
                ).fetchone()
                if row is None:
                    continue
                try:
                    st = os.stat(ap)
                except OSError:
                    continue
                if (st.st_size, st.st_mtime_ns) == (row[0], row[1]):
                    out[i] = row[2]
        except sqlite3.Error as err:
            self._fail(err)
        return out

    def remember_stat(self, path: Path, stat: tuple[int, int], content_id: str) -> None:
        """Note that ``path`` with this (size, mtime_ns) has ``content_id``."""
        if self._conn is None or time.time_ns() - stat[1] < _RACY_NS:
            return
        try:
            self._conn.execute("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?)",
                               (os.path.abspath(path), stat[0], stat[1], content_id))
            self._written()
        except sqlite3.Error as err:
            self._fail(err)

    # -- results ----------------------------------------------------------------------------------

    def get(self, content_id: str, salt: str) -> list[Finding] | None:
        """The cached findings, or ``None``."""
        if self._conn is None:
            return None
        try:
            row = self._conn.execute("SELECT findings FROM results WHERE key = ?",
                                     (_key(content_id, salt),)).fetchone()
        except sqlite3.Error as err:
            self._fail(err)
            return None
        found = _decode(row[0]) if row is not None else None
        if found is not None:
            self.hits += 1
        return found

    @staticmethod
    def lookup(db_path: str, content_id: str, salt: str) -> list[Finding] | None:
        """Read-only look-up for worker processes (one connection per process and database)."""
        slot = (db_path, os.getpid())
        try:
            conn = _readers.get(slot)
            if conn is None:
                conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
                _readers[slot] = conn
            row = conn.execute("SELECT findings FROM results WHERE key = ?",
                               (_key(content_id, salt),)).fetchone()
        except sqlite3.Error:
            return None
        return _decode(row[0]) if row is not None else None

    def put(self, content_id: str, salt: str, findings: Sequence[Finding]) -> None:
        """Store the findings of a file."""
        if self._conn is None:
            return
        try:
            self._conn.execute("INSERT OR REPLACE INTO results VALUES (?, ?)",
                               (_key(content_id, salt), _encode(findings)))
            self._written()
        except sqlite3.Error as err:
            self._fail(err)

    def _written(self) -> None:
        self._writes += 1
        if self._writes % 1000 == 0:
            self.flush()

    def flush(self) -> None:
        """Commit what was stored (also done every 1000 writes)."""
        if self._conn is None:
            return
        try:
            self._conn.commit()
        except sqlite3.Error as err:
            self._fail(err)

    def close(self) -> None:
        """Commit and close."""
        self.flush()
        if self._conn is not None:
            self._conn.close()
            self._conn = None
