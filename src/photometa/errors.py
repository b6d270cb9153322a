"""The typed error hierarchy of photometa.

Every error photometa raises derives from :class:`PhotometaError` and carries the
file it concerns and, where it applies, the byte offset or schema field. Each
error also inherits from the builtin exception it most resembles, so callers
who catch ``ValueError`` or ``OSError`` keep working.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "CorruptFileError",
    "InvalidValueError",
    "LimitExceededError",
    "PhotometaError",
    "PolicyError",
    "PolicyViolationError",
    "UnsupportedFormatError",
    "WriteError",
]


class PhotometaError(Exception):
    """Base class of every error photometa raises.

    Attributes:
        path: the file concerned, or ``None`` when the error is about data in memory.
        code: a short, stable, machine-readable identifier (``"ifd-loop"``, ...).
        offset: byte offset in the file or block where the problem was found.
        field: dotted schema path (``"location.country_code"``) or tag name.
    """

    def __init__(
        self,
        msg: str,
        *,
        path: str | os.PathLike[str] | None = None,
        code: str = "error",
        offset: int | None = None,
        field: str | None = None,
    ) -> None:
        self.msg = msg
        self.path = Path(path) if path is not None else None
        self.code = code
        self.offset = offset
        self.field = field
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.field is not None:
            where.append(f"field {self.field}")
        if self.offset is not None:
            where.append(f"byte {self.offset}")
        suffix = f" ({', '.join(where)})" if where else ""
        prefix = f"{self.path}: " if self.path is not None else ""
        return f"{prefix}{self.msg}{suffix}"

    def with_path(self, path: str | os.PathLike[str]) -> PhotometaError:
        """Return this error with ``path`` filled in (a codec error reaching the file layer)."""
        if self.path is None:
            self.path = Path(path)
            self.args = (self._render(),)
        return self

    def __reduce__(self) -> tuple[object, ...]:  # picklable across worker processes
        return (
            _rebuild,
            (type(self), self.msg, self.path, self.code, self.offset, self.field),
        )


def _rebuild(
    cls: type[PhotometaError],
    msg: str,
    path: Path | None,
    code: str,
    offset: int | None,
    field: str | None,
) -> PhotometaError:
    return cls(msg, path=path, code=code, offset=offset, field=field)


class UnsupportedFormatError(PhotometaError, ValueError):
    """The file is not in a format photometa can read or write."""


class CorruptFileError(PhotometaError, ValueError):
    """The file's structure is broken at ``offset``."""


class LimitExceededError(CorruptFileError):
    """A size, count or depth in the file exceeds a configured :class:`~photometa.Limits` value."""


class InvalidValueError(PhotometaError, ValueError):
    """A value does not fit the schema or the field's home in the file."""


class PolicyError(PhotometaError, ValueError):
    """A policy file cannot be read or is malformed (a usage error)."""


class PolicyViolationError(PhotometaError, ValueError):
    """Validation found violations and the caller asked for an exception."""


class WriteError(PhotometaError, OSError):
    """Writing failed; the original file is unchanged."""
