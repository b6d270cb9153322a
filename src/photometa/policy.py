"""Archive policies: required fields, extra vocabulary terms and rules, from a TOML file."""

from __future__ import annotations

import fnmatch
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import PolicyError
from .model import FIELD_PATHS, PhotoContext
from .report import Finding, Severity
from .vocab import Vocabulary, vocabularies

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["Policy", "load_policy"]


@dataclass(frozen=True)
class Policy:
    """What an archive requires of its metadata.

    Attributes:
        required: dotted field paths every file must have.
        extra_terms: additional vocabulary terms by field path.
        iim_severity: severity of values longer than their IPTC-IIM dataset allows.
        source: the file the policy came from, if any.
    """

    required: tuple[str, ...] = ()
    extra_terms: dict[str, list[str]] = field(default_factory=dict)
    iim_severity: Severity = "warning"
    source: Path | None = None

    def vocabularies(self) -> dict[str, Vocabulary]:
        """The built-in vocabularies extended by this policy's terms."""
        return {
            name: vocab.extended(self.extra_terms.get(name, []))
            for name, vocab in vocabularies().items()
        }

    def for_path(self, path: Path) -> Policy:
        """The policy that applies to ``path`` (path globs are resolved here)."""
        return self

    def check(self, ctx: PhotoContext) -> list[Finding]:
        """Findings for the policy's own rules."""
        findings = []
        for name in self.required:
            if ctx.get_path(name) in (None, []):
                findings.append(Finding(name, "required", f"{name} is required by the policy",
                                        "error"))
        return findings


def _matches(pattern: str, path: Path) -> bool:
    return fnmatch.fnmatch(path.as_posix(), pattern)


def load_policy(path: str | os.PathLike[str] | None) -> Policy:
    """Read a policy file; ``None`` gives the built-in defaults.

    Raises:
        PolicyError: the file cannot be read or is not a valid policy.
    """
    if path is None:
        return Policy()
    p = Path(path)
    try:
        data: dict[str, Any] = tomllib.loads(p.read_text("utf-8"))
    except OSError as err:
        raise PolicyError(f"cannot read policy: {err.strerror}", path=p, code="policy-io") from err
    except tomllib.TOMLDecodeError as err:
        raise PolicyError(f"not valid TOML: {err}", path=p, code="policy-syntax") from err
    required = tuple(data.get("required", []))
    for name in required:
        if name not in FIELD_PATHS:
            raise PolicyError(f"unknown field {name!r} in 'required'", path=p,
                              code="policy-field", field=name)
    extra = {k: list(v) for k, v in data.get("vocabulary", {}).items()}
    return Policy(required=required, extra_terms=extra, source=p)
