"""Controlled vocabularies, read from ``schemas/vocab/*.toml`` (shipped as package data)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import cache
from importlib import resources

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["Term", "Vocabulary", "load_vocabulary", "vocabularies"]

_FILES = {
    "restriction.status": "restriction-status.toml",
    "restriction.category": "restriction-category.toml",
}


@dataclass(frozen=True)
class Term:
    """One term of a vocabulary."""

    id: str
    label: str
    definition: str = ""


@dataclass(frozen=True)
class Vocabulary:
    """The terms allowed in one field."""

    field: str
    terms: tuple[Term, ...]

    def ids(self) -> frozenset[str]:
        """The term identifiers."""
        return frozenset(t.id for t in self.terms)

    def extended(self, extra: list[str]) -> Vocabulary:
        """This vocabulary plus ``extra`` term identifiers (from an archive's policy)."""
        known = self.ids()
        added = tuple(Term(t, t) for t in extra if t not in known)
        return Vocabulary(self.field, self.terms + added)


@cache
def load_vocabulary(field: str) -> Vocabulary:
    """The built-in vocabulary of ``field`` (``"restriction.status"`` or
    ``"restriction.category"``)."""
    text = resources.files("photometa").joinpath(f"data/vocab/{_FILES[field]}").read_text("utf-8")
    data = tomllib.loads(text)
    terms = tuple(
        Term(t["id"], t.get("label", t["id"]), t.get("definition", "")) for t in data["term"]
    )
    return Vocabulary(field, terms)


def vocabularies() -> dict[str, Vocabulary]:
    """Every built-in vocabulary by field path."""
    return {name: load_vocabulary(name) for name in _FILES}
