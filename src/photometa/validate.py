"""Checks beyond the schema's types: vocabularies, IPTC-IIM byte limits, and an archive's policy."""

from __future__ import annotations

import os
from pathlib import Path

from ._binary import DEFAULT_LIMITS, Limits
from .api import read_detailed
from .errors import PhotometaError
from .mapping import ROWS
from .model import PhotoContext
from .policy import Policy, load_policy
from .report import Finding, Report

__all__ = ["check_context", "validate"]


def check_context(ctx: PhotoContext, policy: Policy) -> list[Finding]:
    """Findings for a context against a policy (vocabularies, IIM limits and the policy's rules)."""
    findings: list[Finding] = []
    for field_path, vocab in policy.vocabularies().items():
        value = ctx.get_path(field_path)
        if value is not None and value not in vocab.ids():
            allowed = ", ".join(sorted(vocab.ids()))
            findings.append(
                Finding(field_path, "vocab-unknown",
                        f"{value!r} is not a term of {field_path} (allowed: {allowed})", "error")
            )
    for row in ROWS:
        if row.iim_max_bytes is None:
            continue
        value = ctx.get_path(row.path)
        items = value if isinstance(value, list) else [value]
        if row.convert == "joined" and isinstance(value, str):
            items = [v.strip() for v in value.split(";")]
        for item in items:
            if not isinstance(item, str):
                continue
            size = len(item.encode("utf-8"))
            if size > row.iim_max_bytes:
                findings.append(
                    Finding(row.path, "iim-too-long",
                            f"{size} bytes in UTF-8; IPTC-IIM readers keep only "
                            f"{row.iim_max_bytes} ({item[:40]!r}...)", policy.iim_severity)
                )
    findings.extend(policy.check(ctx))
    return findings


def validate(
    path: str | os.PathLike[str],
    policy: Policy | str | os.PathLike[str] | None = None,
    *,
    limits: Limits = DEFAULT_LIMITS,
) -> Report:
    """Validate the metadata of one file.

    Args:
        path: the image file.
        policy: a :class:`Policy`, the path of a policy file, or ``None`` for the built-in defaults.

    Returns:
        A :class:`Report`; ``report.ok`` is false when any finding is an error. A file that cannot be
        read gives a report with one error finding rather than an exception.
    """
    p = Path(path)
    pol = policy if isinstance(policy, Policy) else load_policy(policy)
    report = Report(p)
    try:
        result = read_detailed(p, limits=limits)
    except PhotometaError as err:
        report.findings.append(Finding(None, err.code, err.msg, "error", err.offset))
        return report
    report.findings.extend(result.findings)
    assert result.context is not None
    report.findings.extend(check_context(result.context, pol.for_path(p)))
    return report
