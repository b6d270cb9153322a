"""The photo-context schema: a typed, validated description of what a photograph shows and why it
matters.

The model holds no I/O. Field names are a public contract (see ``docs/schema.md``); every field is
optional,
absent values are ``None`` (or ``[]`` for lists).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

import pycountry
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

__all__ = [
    "FIELD_PATHS",
    "Gps",
    "Location",
    "PhotoContext",
    "Photographer",
    "Restriction",
    "Subject",
]

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _clean_text(value: Any) -> Any:
    """Normalise free text: NFC, no control characters, trimmed; empty text means absent."""
    if value is None:
        return None
    if not isinstance(value, str):
        return value
    if value.isascii() and value.isprintable():  # already NFC, and no control character
        return value.strip() or None
    text = _CONTROL.sub("", unicodedata.normalize("NFC", value)).strip()
    return text or None


def _clean_list(value: Any) -> Any:
    """Normalise a list of terms: text-cleaned, empty items dropped, de-duplicated in order."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        return value
    seen: set[str] = set()
    out: list[str] = []
    for item in value:
        text = _clean_text(item)
        if not isinstance(text, str):
            if text is None:
                continue
            return value  # let pydantic report the wrong type
        key = text.casefold()
        if key not in seen:
            seen.add(key)
            out.append(text)
    return out


def _term(value: Any) -> Any:
    """Normalise a vocabulary term: lower case, words joined by hyphens."""
    text = _clean_text(value)
    if isinstance(text, str):
        return re.sub(r"[\s_]+", "-", text.casefold())
    return text


Text = Annotated[str | None, BeforeValidator(_clean_text)]
Terms = Annotated[list[str], BeforeValidator(_clean_list)]
Term = Annotated[str | None, BeforeValidator(_term)]


def _country_code(value: str | None) -> str | None:
    if value is None:
        return None
    code = value.upper()
    if not re.fullmatch(r"[A-Z]{2,3}", code):
        raise ValueError("must be an ISO 3166-1 alpha-2 or alpha-3 code, e.g. 'KP' or 'PRK'")
    found = (
        pycountry.countries.get(alpha_2=code)
        if len(code) == 2
        else pycountry.countries.get(alpha_3=code)
    )
    if found is None:
        raise ValueError(f"{code!r} is not an ISO 3166-1 country code")
    return code


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, str_strip_whitespace=False)


class Gps(_Model):
    """A position on WGS 84: decimal degrees, altitude in metres above sea level."""

    latitude: float = Field(ge=-90, le=90, description="Decimal degrees, north positive.")
    longitude: float = Field(ge=-180, le=180, description="Decimal degrees, east positive.")
    altitude: float | None = Field(
        default=None, description="Metres above sea level; negative below it."
    )

    @field_validator("latitude", "longitude", "altitude")
    @classmethod
    def _finite(cls, value: float | None, info: ValidationInfo) -> float | None:
        """Reject NaN and infinities; keep the precision the file formats store exactly
        (1e-7 degree, about a centimetre; altitude to the millimetre)."""
        if value is None:
            return None
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return round(value, 3 if info.field_name == "altitude" else 7)


class Location(_Model):
    """Where the photograph was taken."""

    sublocation: Text = Field(
        default=None, description="Venue or area within the city, e.g. a park."
    )
    city: Text = Field(default=None, description="City or town.")
    region: Text = Field(default=None, description="Province, state or region.")
    country: Text = Field(default=None, description="Country name.")
    country_code: Annotated[Text, AfterValidator(_country_code)] = Field(
        default=None, description="ISO 3166-1 alpha-2 (preferred) or alpha-3 code."
    )
    gps: Gps | None = Field(default=None, description="Position where the photograph was taken.")


class Subject(_Model):
    """What and who the photograph shows."""

    headline: Text = Field(default=None, description="A short synopsis of the content.")
    caption: Text = Field(
        default=None, description="Description of who, what, where, when and why."
    )
    keywords: Terms = Field(default_factory=list, description="Keywords, de-duplicated in order.")
    persons: Terms = Field(
        default_factory=list, description="Names of persons shown, or their roles."
    )
    event: Text = Field(default=None, description="The event the photograph shows.")


class Photographer(_Model):
    """Who took the photograph and who holds the rights."""

    name: Text = Field(default=None, description="Name of the photographer (creator).")
    credit: Text = Field(default=None, description="Credit line required when publishing.")
    copyright: Text = Field(default=None, description="Copyright notice.")
    contact: Text = Field(default=None, description="URL or e-mail address to reach the creator.")


class Restriction(_Model):
    """Why the photograph's use or existence is restricted, and by whom.

    ``status`` and ``category`` are terms of the controlled vocabularies in ``schemas/vocab/``,
    which an archive's policy file may extend; :func:`photometa.validate` checks them.
    """

    status: Term = Field(
        default=None, description="Controlled term, e.g. unrestricted, restricted, banned."
    )
    category: Term = Field(
        default=None, description="Controlled term, e.g. poverty, military, leader-imagery."
    )
    reason: Text = Field(default=None, description="Why the restriction applies, in free text.")
    authority: Text = Field(default=None, description="Who imposed or requested the restriction.")


_PATH_PARTS: dict[str, tuple[str, ...]] = {}
"""Dotted path -> its parts, for :meth:`PhotoContext.get_path` (bounded: callers may pass any
string)."""
_PATH_PARTS_MAX = 4096


def path_parts(path: str) -> tuple[str, ...]:
    """``tuple(path.split("."))``, split once per path (the schema's paths are a handful)."""
    parts = _PATH_PARTS.get(path)
    if parts is None:
        parts = tuple(path.split("."))
        if len(_PATH_PARTS) < _PATH_PARTS_MAX:
            _PATH_PARTS[path] = parts
    return parts


class PhotoContext(_Model):
    """The context of one photograph: where, what and who, by whom, and why it is restricted.

    Every field is optional. Writing merges: fields left ``None`` or ``[]`` keep what the file
    holds.
    """

    location: Location = Field(default_factory=Location)
    subject: Subject = Field(default_factory=Subject)
    photographer: Photographer = Field(default_factory=Photographer)
    restriction: Restriction = Field(default_factory=Restriction)
    captured_at: datetime | None = Field(
        default=None,
        description="When the photograph was taken; timezone-aware when the offset is known.",
    )
    source: Text = Field(default=None, description="Provenance: publication, URL, collection.")

    def get_path(self, path: str) -> Any:
        """Return the value at a dotted schema path such as ``"location.city"``."""
        node: Any = self
        for part in _PATH_PARTS.get(path) or path_parts(path):
            if node is None:
                return None
            node = getattr(node, part)
        return node

    def is_empty(self) -> bool:
        """True when no field holds a value."""
        return all(_absent(self.get_path(p)) for p in FIELD_PATHS)


def _absent(value: Any) -> bool:
    return value is None or value == []


def _leaf_paths(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    for name, info in model.model_fields.items():
        annotation = info.annotation
        sub = annotation if isinstance(annotation, type) else None
        if sub is None:
            args = getattr(annotation, "__args__", ())
            sub = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if sub is not None and issubclass(sub, BaseModel):
            yield from _leaf_paths(sub, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}"


FIELD_PATHS: tuple[str, ...] = tuple(_leaf_paths(PhotoContext))
"""Every leaf field as a dotted path, in schema order (``location.gps.latitude``, ...)."""
