"""MkDocs hook: make the nav in mkdocs.yml tolerant of pages that are not written yet.

- an entry whose file does not exist is left out (logged at INFO level, so `--strict` passes);
- an entry with a glob (``formats/*.md``) lists the pages that match, ``index.md`` first, then
  by name; a titled glob entry becomes a section of that title;
- a section left empty is left out.

``resolve_nav`` is plain Python so the tests can check the nav without building the site.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger("mkdocs.hooks.nav")

_GLOB_CHARS = frozenset("*?[")


def _is_glob(entry: str) -> bool:
    return any(ch in entry for ch in _GLOB_CHARS)


def _expand(pattern: str, docs: Path) -> list[str]:
    found = [p.relative_to(docs).as_posix() for p in docs.glob(pattern) if p.is_file()]
    return sorted(found, key=lambda rel: (Path(rel).name != "index.md", rel))


def _pages(value: str, docs: Path, explicit: set[str]) -> list[str]:
    """The page paths one nav string stands for (none when its file is missing)."""
    if "://" in value:
        return [value]
    if _is_glob(value):
        pages = [p for p in _expand(value, docs) if p not in explicit]
        explicit.update(pages)  # a later glob does not list them again
        return pages
    if (docs / value).is_file():
        return [value]
    log.info("nav: %s does not exist yet; left out", value)
    return []


def resolve_nav(nav: list[Any], docs: Path, explicit: set[str] | None = None) -> list[Any]:
    """``nav`` (as mkdocs.yml gives it) with globs expanded and missing pages left out.

    A glob does not list again a page that the nav names explicitly or an earlier glob listed.
    """
    if explicit is None:
        explicit = set(_explicit(nav))
    out: list[Any] = []
    for item in nav:
        if isinstance(item, str):
            out.extend(_pages(item, docs, explicit))
            continue
        if not isinstance(item, dict) or len(item) != 1:
            out.append(item)
            continue
        [(title, value)] = item.items()
        if isinstance(value, list):
            children = resolve_nav(value, docs, explicit)
            if children:
                out.append({title: children})
        elif isinstance(value, str):
            pages = _pages(value, docs, explicit)
            if pages:
                out.append({title: pages if _is_glob(value) else pages[0]})
    return out


def _explicit(nav: list[Any]) -> list[str]:
    """Every non-glob page path named in ``nav``."""
    found: list[str] = []
    for item in nav:
        values = [item] if isinstance(item, str) else (
            list(item.values()) if isinstance(item, dict) else [])
        for value in values:
            if isinstance(value, list):
                found += _explicit(value)
            elif isinstance(value, str) and not _is_glob(value) and "://" not in value:
                found.append(value)
    return found


def nav_pages(nav: list[Any]) -> list[str]:
    """Every page path in a resolved nav, in order."""
    out: list[str] = []
    for item in nav:
        values = [item] if isinstance(item, str) else (
            list(item.values()) if isinstance(item, dict) else [])
        for value in values:
            if isinstance(value, list):
                out += nav_pages(value)
            elif isinstance(value, str):
                out.append(value)
    return out


def on_config(config: Any, **_: Any) -> Any:
    """MkDocs event: resolve the nav before the pages are collected."""
    if config["nav"]:
        config["nav"] = resolve_nav(config["nav"], Path(config["docs_dir"]))
    return config
