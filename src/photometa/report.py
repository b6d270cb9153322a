"""Findings and reports: what validation and reconciliation found, and how it is shown."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .errors import PhotometaError

__all__ = ["Finding", "Report", "Severity"]

Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class Finding:
    """One thing found about a file: a rule broken, homes that disagree, a block that could not be read.

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


@dataclass
class Report:
    """The result of validating one file.

    ``ok`` is true when no finding has severity ``"error"``.
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
