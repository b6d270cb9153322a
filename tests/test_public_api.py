"""The public surface is pinned: every importable name is a promise."""

from __future__ import annotations

import photometa

EXPECTED = [
    "DEFAULT_LIMITS", "FIELD_PATHS", "CorruptFileError", "Finding", "Gps", "InvalidValueError",
    "LimitExceededError", "Limits", "Location", "PhotoContext", "Photographer", "PhotometaError",
    "Policy", "PolicyError", "PolicyViolationError", "ReadResult", "Report", "Restriction",
    "Subject", "UnsupportedFormatError", "WriteError", "WriteOutcome", "__version__",
    "deferred_folder_sync", "json_schema", "load_policy", "read", "read_detailed", "read_many",
    "validate", "write",
]


def test_public_surface_is_pinned() -> None:
    assert photometa.__all__ == EXPECTED
    for name in EXPECTED:
        assert hasattr(photometa, name), name


def test_public_names_have_docstrings() -> None:
    for name in EXPECTED:
        obj = getattr(photometa, name)
        if callable(obj) and not name.startswith("_"):
            assert (obj.__doc__ or "").strip(), f"{name} has no docstring"


def test_errors_share_a_base_and_resemble_builtins() -> None:
    for name in ["CorruptFileError", "InvalidValueError", "UnsupportedFormatError", "WriteError",
                 "PolicyError", "LimitExceededError", "PolicyViolationError"]:
        assert issubclass(getattr(photometa, name), photometa.PhotometaError)
    assert issubclass(photometa.CorruptFileError, ValueError)
    assert issubclass(photometa.WriteError, OSError)


def test_errors_name_file_offset_and_field_and_pickle() -> None:
    import pickle

    err = photometa.CorruptFileError("bad IFD", path="a.jpg", code="ifd-loop", offset=120)
    assert str(err) == "a.jpg: bad IFD (byte 120)"
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is photometa.CorruptFileError
    assert (again.code, again.offset, str(again.path)) == ("ifd-loop", 120, "a.jpg")
