"""The little git that validation needs: the repository of a file, what changed since a ref, and
the blob ids git already computed for files that did not change (free content keys for the cache).

Only the ``git`` program is used (as a subprocess); nothing here runs on the read or write path.
"""

from __future__ import annotations

import os
import subprocess
from functools import lru_cache
from pathlib import Path

from .errors import PhotometaError

__all__ = ["blob_ids", "changed_files", "repo_root"]


def _git(args: list[str], root: str) -> bytes:
    try:
        proc = subprocess.run(["git", "-C", root, *args], capture_output=True, check=False,
                              stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise PhotometaError("the git program is not installed", code="git") from None
    if proc.returncode != 0:
        detail = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise PhotometaError(f"git {args[0]} failed: {detail[-1] if detail else proc.returncode}",
                             path=root, code="git")
    return proc.stdout


@lru_cache(maxsize=4096)
def _root_from(directory: str) -> str | None:
    if os.path.exists(os.path.join(directory, ".git")):
        return directory
    parent = os.path.dirname(directory)
    return None if parent == directory else _root_from(parent)


def repo_root(path: str | os.PathLike[str]) -> Path | None:
    """The working tree root of the git repository holding ``path`` (a file or folder), found by
    looking for ``.git`` upwards; ``None`` outside a repository. Cached per folder."""
    p = os.path.abspath(path)
    start = p if os.path.isdir(p) else os.path.dirname(p)
    found = _root_from(start)
    return Path(found) if found is not None else None


def _paths(output: bytes, root: str) -> set[str]:
    return {os.path.join(root, os.fsdecode(name)) for name in output.split(b"\0") if name}


def changed_files(ref: str, root: str | os.PathLike[str]) -> set[str]:
    """Absolute paths (under ``root``) that differ from ``ref`` in the working tree: committed,
    staged or unstaged changes, and untracked files that are not ignored.

    Raises:
        PhotometaError: ``ref`` is not a commit of the repository, or git fails (code ``git``).
    """
    r = os.path.abspath(root)
    if ref.startswith("-"):
        raise PhotometaError(f"not a git revision: {ref!r}", code="git")
    try:
        _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], r)
    except PhotometaError:
        raise PhotometaError(f"unknown git revision {ref!r}", path=r, code="git") from None
    changed = _paths(_git(["diff", "--name-only", "-z", "--no-renames", ref, "--"], r), r)
    changed |= _paths(_git(["ls-files", "-z", "--others", "--exclude-standard"], r), r)
    return changed


def blob_ids(root: str | os.PathLike[str]) -> dict[str, str]:
    """Git blob ids of the tracked files whose working copy matches the index, by absolute path.

    A blob id is a hash of the file's content that git keeps up to date, so it serves as a content
    key without reading the file. Files with unstaged changes, conflicts and symlinks are left out.
    Returns ``{}`` when git is unavailable.
    """
    r = os.path.abspath(root)
    try:
        listing = _git(["ls-files", "-s", "-z"], r)
        dirty = _paths(_git(["diff", "--name-only", "-z", "--no-renames"], r), r)
    except PhotometaError:
        return {}
    out: dict[str, str] = {}
    for record in listing.split(b"\0"):
        if not record:
            continue
        meta, _, name = record.partition(b"\t")
        parts = meta.split()
        if len(parts) != 3 or parts[2] != b"0" or parts[0] == b"120000":
            continue
        path = os.path.join(r, os.fsdecode(name))
        if path not in dirty:
            out[path] = parts[1].decode("ascii")
    return out
