"""Every real file of the corpus: read without surprises; JPEGs written losslessly, checked by
ExifTool."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

import photometa
from conftest import corpus_files, corpus_params, need_corpus_file
from photometa import DEFAULT_LIMITS, PhotometaError
from photometa.formats import jpeg
from test_api import full_context

# Tags photometa sets (ExifTool names, family-1 groups). Anything else must read back unchanged.
OURS = {
    "IFD0": {"ImageDescription", "Artist", "Copyright"},
    "ExifIFD": {"DateTimeOriginal", "OffsetTimeOriginal", "SubSecTimeOriginal", "ExifVersion"},
    "GPS": {
        "GPSVersionID",
        "GPSLatitudeRef",
        "GPSLatitude",
        "GPSLongitudeRef",
        "GPSLongitude",
        "GPSAltitudeRef",
        "GPSAltitude",
    },
    "IPTC": {
        "Sub-location",
        "City",
        "Province-State",
        "Country-PrimaryLocationName",
        "Country-PrimaryLocationCode",
        "Headline",
        "Caption-Abstract",
        "Keywords",
        "By-line",
        "Credit",
        "CopyrightNotice",
        "DateCreated",
        "TimeCreated",
        "CodedCharacterSet",
        "ApplicationRecordVersion",
    },
    "Photoshop": {"IPTCDigest"},
    "XMP-x": {"XMPToolkit"},
    "XMP-dc": {"Description", "Subject", "Creator", "Rights", "Source"},
    "XMP-photoshop": {"City", "State", "Country", "Headline", "Credit", "DateCreated"},
    "XMP-iptcCore": {"Location", "CountryCode", "CreatorWorkURL", "CreatorWorkEmail"},
    "XMP-iptcCore:CreatorContactInfo": {"CiUrlWork", "CiEmailWork"},
    "XMP-iptcExt:LocationShown": {
        "Sublocation",
        "City",
        "ProvinceState",
        "CountryName",
        "CountryCode",
    },
    "XMP-iptcExt": {
        "LocationShownSublocation",
        "LocationShownCity",
        "LocationShownProvinceState",
        "LocationShownCountryName",
        "LocationShownCountryCode",
        "PersonInImage",
        "Event",
    },
    "XMP-exif": {"GPSLatitude", "GPSLongitude", "GPSAltitude", "GPSAltitudeRef"},
    "XMP-pmeta": {
        "RestrictionStatus",
        "RestrictionCategory",
        "RestrictionReason",
        "RestrictionAuthority",
    },
    "XMP-xmpNote": {"HasExtendedXMP"},
}
ALWAYS_CHANGE_GROUPS = {"System", "Composite", "ExifTool"}
ALWAYS_CHANGE = {"File:FileSize", "File:CurrentIPTCDigest", "File:ExifByteOrder"}
# Absolute file positions move when segments before them grow; the bytes they point at are compared
# separately (extracted with `exiftool -b`), so a real loss still fails.
POSITIONS = {"ThumbnailOffset", "MPImageStart", "PreviewImageStart", "JpgFromRawStart"}
EMBEDDED = ["ThumbnailImage", "MPImage2", "MPImage3", "PreviewImage"]


@pytest.mark.parametrize("path", corpus_params())
def test_every_corpus_file_reads_or_fails_cleanly(path: Path | None) -> None:
    path = need_corpus_file(path)
    try:
        result = photometa.read_detailed(path)
    except PhotometaError as err:
        assert err.path == path
        assert err.code
        return
    assert result.context is not None


def _exiftool_dir(exe: str, folder: Path) -> dict[str, dict[str, Any]]:
    proc = subprocess.run(
        [exe, "-a", "-G1", "-j", "-struct", "-charset", "filename=utf8", str(folder)],
        capture_output=True,
        check=False,
    )
    records = json.loads(proc.stdout.decode("utf-8"))
    return {Path(r["SourceFile"]).name: r for r in records}


def _ours(key: str) -> bool:
    group, _, name = key.partition(":")
    if name in POSITIONS:
        return True
    if group == "XMP":
        return name in XMP_OURS and f"XMP:{name}" not in STRUCT_OURS
    base = group.split("-", 1)[0]
    if group in ALWAYS_CHANGE_GROUPS or key in ALWAYS_CHANGE or base in ALWAYS_CHANGE_GROUPS:
        return True
    return name in OURS.get(group, set()) or group.startswith("XMP-pmeta")


def _normalise(record: dict[str, Any]) -> dict[str, Any]:
    """XMP tags keyed by name alone ("XMP:City"): a rewritten packet may spell a namespace with
    another prefix (ExifTool groups XMP by prefix, and gives unprefixed properties none)."""
    out = {}
    for key, value in record.items():
        group, _, name = key.partition(":")
        if group == "XMP" or group.startswith("XMP-"):
            if name.endswith("Xmlns"):
                continue
            key = f"XMP:{name}"
        out[key] = value
    return out


XMP_OURS = {
    name
    for group, names in OURS.items()
    if group.startswith("XMP-") and ":" not in group
    for name in names
} | {"CreatorContactInfo", "LocationShown"}
STRUCT_OURS = {f"XMP:{g.split(':')[1]}": names for g, names in OURS.items() if ":" in g}


def _comparable(key: str, value: Any) -> Any:
    """A tag's value without the struct fields photometa owns; blank text counts as empty.

    A bag holding one struct equals the struct: ExifTool flattens them the same way, and one corpus
    file (frameright.jpg) spells a bag inside rdf:parseType="Resource", which is not valid RDF."""
    if isinstance(value, str) and not value.strip():
        return ""
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict):
        value = value[0]
    ours = STRUCT_OURS.get(key, set())
    if isinstance(value, dict):
        return {k: _comparable("", v) for k, v in value.items() if k not in ours} or None
    if isinstance(value, list) and ours:
        items = [_comparable(key, v) for v in value]
        return [v for v in items if v] or None
    return value


def _extract(exe: str, tag: str, path: Path, data: bytes, tmp: Path) -> bytes:
    original = tmp / f"orig{path.suffix}"
    original.write_bytes(data)
    return subprocess.run(
        [exe, "-b", f"-{tag}", str(original)], capture_output=True, check=False
    ).stdout


def _scan(data: bytes) -> bytes:
    """Everything from the start-of-scan marker on (found by walking the segments)."""
    layout = jpeg.read_layout(io.BytesIO(data), DEFAULT_LIMITS, strict=True)
    assert layout.scan_offset is not None
    return data[layout.scan_offset :]


def copy_numbered(files: list[Path], work: Path) -> dict[str, Path]:
    """Copy files into ``work`` as 000.jpg, 001.tif...; map each copy's name to its source."""
    work.mkdir()
    copies: dict[str, Path] = {}
    for i, src in enumerate(files):
        dst = work / f"{i:03d}{src.suffix}"
        shutil.copyfile(src, dst)
        copies[dst.name] = src
    return copies


def test_lossless_write_on_every_corpus_jpeg(
    corpus: Path, exiftool: str, tmp_path: Path, truth: dict[str, dict[str, Any]]
) -> None:
    jpegs = [p for p in corpus_files("jpeg")]
    assert len(jpegs) > 50
    work = tmp_path / "work"
    copies = copy_numbered(jpegs, work)
    before = _exiftool_dir(exiftool, work)
    originals = {name: (work / name).read_bytes() for name in copies}
    written, refused = [], []
    ctx = full_context()
    for name in copies:
        path = work / name
        try:
            photometa.write(path, ctx)
        except PhotometaError as err:
            refused.append((copies[name], err))
            assert path.read_bytes() == originals[name], f"{name}: refused write changed the file"
            continue
        written.append(name)
        assert photometa.read(path) == ctx, copies[name]
        assert (
            hashlib.sha256(_scan(path.read_bytes())).digest()
            == hashlib.sha256(_scan(originals[name])).digest()
        ), copies[name]
    after = _exiftool_dir(exiftool, work)
    problems = []
    for name in written:
        b, a = _normalise(before[name]), _normalise(after[name])
        for tag in EMBEDDED:
            if any(k.endswith(f":{tag}") for k in b):
                old = _extract(exiftool, tag, work / name, originals[name], tmp_path)
                new = subprocess.run(
                    [exiftool, "-b", f"-{tag}", str(work / name)], capture_output=True, check=False
                ).stdout
                if old != new:
                    problems.append(f"{copies[name]}: embedded {tag} changed")
        for key in sorted(set(b) | set(a)):
            if _ours(key):
                continue
            if _comparable(key, b.get(key)) != _comparable(key, a.get(key)):
                problems.append(f"{copies[name]}: {key}: {b.get(key)!r} -> {a.get(key)!r}")
    assert not problems, "\n".join(problems[:40])
    # a refused file must be one whose structure is really broken: ExifTool complains about it too
    for src, err in refused:
        assert isinstance(err, photometa.CorruptFileError), (src, err)
        record = truth[src.relative_to(corpus).as_posix()]
        assert record.get("ExifTool:Warning") or record.get("ExifTool:Error"), (src, err)
    assert len(written) >= 0.9 * len(jpegs), [str(s) for s, _ in refused]
