"""Interoperability both ways: ExifTool and Exiv2 read what photometa writes; photometa reads
ExifTool."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import photometa
from conftest import REPO, run_exiftool
from photometa import PhotoContext
from test_api import full_context

CONFIG = REPO / "schemas" / "photometa.exiftool.config"


def test_exiftool_reads_what_photometa_wrote(make_jpeg: Callable[..., Path], exiftool: str) -> None:
    path = make_jpeg()
    photometa.write(path, full_context())
    [tags] = run_exiftool(exiftool, "-config", CONFIG, "-G1", "-struct", "-n", path)
    ctx = full_context()
    assert tags["IFD0:Artist"] == "Eric Lafforgue"
    assert tags["IFD0:ImageDescription"] == ctx.subject.caption
    assert tags["IFD0:Copyright"] == "© Eric Lafforgue"
    assert tags["ExifIFD:DateTimeOriginal"] == "2012:04:15 10:30:05"
    assert tags["ExifIFD:OffsetTimeOriginal"] == "+09:00"
    assert abs(tags["GPS:GPSLatitude"] - 39.0392) < 1e-7
    assert abs(tags["GPS:GPSLongitude"] - 125.7625) < 1e-7
    assert tags["GPS:GPSAltitude"] == 38.5
    assert tags["XMP-dc:Description"] == ctx.subject.caption
    assert tags["XMP-dc:Subject"] == ["soldiers", "rest", "평양"]
    assert tags["XMP-dc:Creator"] == ["Eric Lafforgue"]
    assert tags["XMP-photoshop:City"] == "Pyongyang"
    assert tags["XMP-photoshop:Headline"] == "Soldiers resting by the road"
    assert tags["XMP-iptcCore:CountryCode"] == "KP"
    assert tags["XMP-iptcExt:PersonInImage"] == ["soldier", "tour guide"]
    assert tags["XMP-iptcExt:Event"] == "Day of the Sun"
    shown = tags["XMP-iptcExt:LocationShown"]
    shown = shown[0] if isinstance(shown, list) else shown
    assert shown["City"] == "Pyongyang" and shown["CountryCode"] == "KP"
    assert tags["XMP-pmeta:RestrictionStatus"] == "deletion-requested"
    assert tags["XMP-pmeta:RestrictionReason"] == ctx.restriction.reason
    assert tags["IPTC:City"] == "Pyongyang"
    assert tags["IPTC:Keywords"] == ["soldiers", "rest", "평양"]
    assert tags["IPTC:By-line"] == "Eric Lafforgue"
    assert tags["IPTC:Caption-Abstract"] == ctx.subject.caption
    assert tags["IPTC:DateCreated"] == "2012:04:15"
    assert tags["IPTC:TimeCreated"] == "10:30:05+09:00"
    # the IPTC digest photometa stored is the one ExifTool computes: MWG readers trust the XMP
    [digests] = run_exiftool(exiftool, "-G1", "-CurrentIPTCDigest", "-IPTCDigest", path)
    assert digests["Photoshop:IPTCDigest"] == digests["File:CurrentIPTCDigest"]


def test_exiftool_mwg_composites_agree(make_jpeg: Callable[..., Path], exiftool: str) -> None:
    path = make_jpeg()
    photometa.write(path, full_context())
    [tags] = run_exiftool(exiftool, "-use", "MWG", "-MWG:all", path)
    assert tags["City"] == "Pyongyang"
    assert tags["Creator"] == "Eric Lafforgue"
    assert tags["Description"] == full_context().subject.caption
    assert tags["Keywords"] == ["soldiers", "rest", "평양"]
    assert tags["Copyright"] == "© Eric Lafforgue"


def _exiv2(exe: str, path: Path) -> dict[str, str]:
    out = subprocess.run([exe, "-pa", "-q", str(path)], capture_output=True, check=False)
    values: dict[str, str] = {}
    for line in out.stdout.decode("utf-8", "replace").splitlines():
        parts = line.split(None, 3)
        if len(parts) == 4:
            key = parts[0]
            values[key] = (values[key] + " | " if key in values else "") + parts[3]
    return values


def test_exiv2_reads_what_photometa_wrote(make_jpeg: Callable[..., Path], exiv2: str) -> None:
    path = make_jpeg()
    photometa.write(path, full_context())
    tags = _exiv2(exiv2, path)
    assert tags["Exif.Image.Artist"] == "Eric Lafforgue"
    assert tags["Exif.Photo.DateTimeOriginal"] == "2012:04:15 10:30:05"
    assert tags["Iptc.Application2.City"] == "Pyongyang"
    assert tags["Iptc.Application2.Keywords"] == "soldiers | rest | 평양"
    assert tags["Iptc.Application2.Caption"] == full_context().subject.caption
    assert tags["Xmp.photoshop.City"] == "Pyongyang"
    assert "평양" in tags["Xmp.dc.subject"]
    assert tags["Xmp.iptcExt.PersonInImage"] == "soldier, tour guide"
    assert tags["Xmp.pmeta.RestrictionCategory"] == "military"
    assert "Smuggled Out" in tags["Xmp.dc.source"]


def test_photometa_reads_what_exiftool_wrote(make_jpeg: Callable[..., Path], exiftool: str) -> None:
    path = make_jpeg()
    args = [
        "-config",
        str(CONFIG),
        "-overwrite_original",
        "-codedcharacterset=utf8",
        "-XMP-dc:Description=A woman with flowers in Pyongyang",
        "-XMP-dc:Subject=flowers",
        "-XMP-dc:Subject=평양 거리",
        "-XMP-dc:Creator=Eric Lafforgue",
        "-XMP-photoshop:City=Pyongyang",
        "-XMP-photoshop:Country=North Korea",
        "-XMP-iptcCore:CountryCode=KP",
        "-XMP-iptcExt:PersonInImage=woman",
        "-XMP-iptcExt:Event=Kimjongilia festival 🌺",
        "-XMP-pmeta:RestrictionStatus=restricted",
        "-XMP-pmeta:RestrictionAuthority=minders",
        "-IPTC:City=Pyongyang",
        "-IPTC:Keywords=flowers",
        "-IPTC:Keywords=평양 거리",
        "-EXIF:Artist=Eric Lafforgue",
        "-EXIF:DateTimeOriginal=2013:02:16 11:12:13",
        "-EXIF:OffsetTimeOriginal=+09:00",
        "-GPSLatitude=39.0194",
        "-GPSLatitudeRef=N",
        "-GPSLongitude=125.7381",
        "-GPSLongitudeRef=E",
        str(path),
    ]
    subprocess.run([exiftool, *args], check=True, capture_output=True)
    ctx = photometa.read(path)
    assert ctx.subject.caption == "A woman with flowers in Pyongyang"
    assert ctx.subject.keywords == ["flowers", "평양 거리"]
    assert ctx.photographer.name == "Eric Lafforgue"
    assert ctx.location.city == "Pyongyang"
    assert ctx.location.country_code == "KP"
    assert ctx.subject.persons == ["woman"]
    assert ctx.subject.event == "Kimjongilia festival 🌺"
    assert ctx.restriction.status == "restricted"
    assert ctx.restriction.authority == "minders"
    assert ctx.captured_at == datetime(2013, 2, 16, 11, 12, 13, tzinfo=timezone(timedelta(hours=9)))
    assert ctx.location.gps is not None
    assert abs(ctx.location.gps.latitude - 39.0194) < 1e-6
    assert abs(ctx.location.gps.longitude - 125.7381) < 1e-6


def test_stale_iptc_digest_prefers_iim(make_jpeg: Callable[..., Path], exiftool: str) -> None:
    """An IIM edit by a tool that leaves the digest alone wins over XMP, as MWG says."""
    path = make_jpeg()
    photometa.write(path, PhotoContext(location={"city": "Pyongyang"}))
    # change IIM only, keeping the old digest (what non-MWG tools do)
    subprocess.run(
        [
            exiftool,
            "-overwrite_original",
            "-IPTC:City=Kaesong",
            "-Photoshop:IPTCDigest<Photoshop:IPTCDigest",
            str(path),
        ],
        check=True,
        capture_output=True,
    )
    [tags] = run_exiftool(exiftool, "-G1", "-CurrentIPTCDigest", "-IPTCDigest", "-IPTC:City", path)
    if tags.get("Photoshop:IPTCDigest") == tags.get("File:CurrentIPTCDigest"):
        # ExifTool updated the digest itself: make it stale explicitly
        subprocess.run(
            [exiftool, "-overwrite_original", "-Photoshop:IPTCDigest=0" * 1, str(path)],
            check=True,
            capture_output=True,
        )
    result = photometa.read_detailed(path)
    assert result.context is not None
    assert result.context.location.city == "Kaesong"
    codes = {f.code for f in result.findings}
    assert "iptc-digest-stale" in codes
    assert "homes-disagree" in codes
