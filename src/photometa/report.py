"""Findings and reports: what validation and reconciliation found about a file."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from .errors import PhotometaError

__all__ = ["SEVERITIES", "SEVERITY_RANK", "Finding", "Report", "Severity", "at_or_above"]

Severity = Literal["error", "warning", "info"]

SEVERITIES: Final[tuple[Severity, ...]] = ("error", "warning", "info")
SEVERITY_RANK: Final[dict[str, int]] = {"info": 0, "warning": 1, "error": 2}
"""Order of severities, least first: a threshold selects the findings at its rank or above."""


def at_or_above(findings: Iterable[Finding], threshold: Severity) -> list[Finding]:
    """The findings whose severity is ``threshold`` or worse."""
    limit = SEVERITY_RANK[threshold]
    return [f for f in findings if SEVERITY_RANK[f.severity] >= limit]


@dataclass(frozen=True)
class Finding:
    """One thing found about a file: a rule broken, homes that disagree, a block that is unreadable.

    Attributes:
        field: dotted schema path (``"location.city"``), or ``None`` for the file as a whole.
        code: stable identifier of the rule or problem (``"vocab-unknown"``, ``"homes-disagree"``).
        message: a sentence for people.
        severity: ``"error"``, ``"warning"`` or ``"info"``.
        offset: byte offset in the file, when the finding is about its structure.
    """

    field: str | None
    code: str
    message: str
    severity: Severity = "warning"
    offset: int | None = None

    @classmethod
    def from_error(cls, err: PhotometaError, severity: Severity = "warning") -> Finding:
        """Turn an error met while reading tolerantly into a finding."""
        return cls(field=err.field, code=err.code, message=err.msg, severity=severity,
                   offset=err.offset)

    def to_dict(self) -> dict[str, Any]:
        """The finding as a JSON-ready dict (the ``findings`` items of the JSON report)."""
        return {"field": self.field, "code": self.code, "message": self.message,
                "severity": self.severity, "offset": self.offset}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        """Inverse of :meth:`to_dict`."""
        severity = data["severity"]
        if severity not in SEVERITY_RANK:
            raise ValueError(f"unknown severity {severity!r}")
        return cls(data["field"], data["code"], data["message"], severity, data["offset"])


@dataclass
class Report:
    """The result of validating one file.

    ``ok`` is true when no finding has severity ``"error"``; use :meth:`failed` for another
    threshold (``photometa validate --fail-on warning``).
    """

    path: Path
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when there is no error-level finding."""
        return not any(f.severity == "error" for f in self.findings)

    @property
    def errors(self) -> list[Finding]:
        """The error-level findings."""
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        """The warning-level findings."""
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def infos(self) -> list[Finding]:
        """The info-level findings."""
        return [f for f in self.findings if f.severity == "info"]

    def failed(self, threshold: Severity = "error") -> bool:
        """True when any finding is at ``threshold`` or worse."""
        return bool(at_or_above(self.findings, threshold))
