"""The JSON Schema of :class:`~photometa.PhotoContext`, as exported to ``schemas/``."""

from __future__ import annotations

from typing import Any

from .model import PhotoContext

__all__ = ["SCHEMA_ID", "json_schema"]

SCHEMA_ID = "https://ns.photometa.org/schemas/photocontext/1.0/schema.json"


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the photo context."""
    schema = PhotoContext.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
    }
