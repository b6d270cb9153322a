"""photometa: record the context of a photograph inside the image file, and validate it.

Where it was taken, what and who it shows, who took it, and why it is restricted, stored as standard
EXIF / IPTC / XMP metadata that every tool reads, checked against a typed schema.

    >>> import photometa
    >>> ctx = photometa.read("photo.jpg")                          # doctest: +SKIP
    >>> photometa.write("photo.jpg", ctx)                          # doctest: +SKIP
"""

from __future__ import annotations

__version__ = "0.1.0"

from ._binary import DEFAULT_LIMITS, Limits
from ._fileio import deferred_folder_sync
from .api import ReadResult, WriteOutcome, read, read_detailed, write
from .batch import read_many
from .errors import (
    CorruptFileError,
    InvalidValueError,
    LimitExceededError,
    PhotometaError,
    PolicyError,
    PolicyViolationError,
    UnsupportedFormatError,
    WriteError,
)
from .model import FIELD_PATHS, Gps, Location, PhotoContext, Photographer, Restriction, Subject
from .policy import Policy, load_policy
from .report import Finding, Report
from .schema import json_schema
from .validate import validate

__all__ = [
    "DEFAULT_LIMITS",
    "FIELD_PATHS",
    "CorruptFileError",
    "Finding",
    "Gps",
    "InvalidValueError",
    "LimitExceededError",
    "Limits",
    "Location",
    "PhotoContext",
    "Photographer",
    "PhotometaError",
    "Policy",
    "PolicyError",
    "PolicyViolationError",
    "ReadResult",
    "Report",
    "Restriction",
    "Subject",
    "UnsupportedFormatError",
    "WriteError",
    "WriteOutcome",
    "__version__",
    "deferred_folder_sync",
    "json_schema",
    "load_policy",
    "read",
    "read_detailed",
    "read_many",
    "validate",
    "write",
]
