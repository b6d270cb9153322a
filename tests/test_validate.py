"""Validation: every check with a file that breaks it and one that passes, the archive-scale parts
(policy per folder, workers, cache, --changed-since), the command line, the sample archive, the
CI examples and the pre-commit hook."""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import photometa
from photometa import PhotoContext, Policy
from photometa._cache import ValidationCache
from photometa.batch import expand_paths, run_many
from photometa.cli import main
from photometa.errors import PhotometaError
from photometa.policy import RULES, PolicyResolver, parse_policy
from photometa.report import Report
from photometa.validate import (
    _km_outside,
    check_context,
    country_boxes,
    repair_mojibake,
    select_changed,
    validate_many,
    validate_stream,
)

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "examples" / "sample-archive"

GOOD: dict[str, Any] = {
    "location": {"sublocation": "Kaeson Youth Park", "city": "Pyongyang", "region": "Pyongyang",
                 "country": "North Korea", "country_code": "KP",
                 "gps": {"latitude": 39.0433, "longitude": 125.7553}},
    "subject": {"headline": "Visitors at the funfair",
                "caption": "Young people on an outing to Kaeson Youth Park.",
                "keywords": ["amusement park", "leisure"], "persons": ["visitor"]},
    "photographer": {"name": "Eric Lafforgue", "credit": "Eric Lafforgue",
                     "copyright": "© Eric Lafforgue"},
    "restriction": {"status": "banned", "category": "military", "reason": "Soldiers at rest",
                    "authority": "North Korean government"},
    "captured_at": "2012-04-15T10:00:00+09:00",
    "source": "Photos Banned By North Korea (web feature)",
}

STRICT = """\
version = 1
required = ["location.country_code", "photographer.name"]

[[require]]
paths = ["restricted/**"]
fields = ["restriction.category"]

[vocabulary]
"restriction.status" = ["Under Review"]
"subject.keywords" = ["amusement park", "leisure", "soldier"]

[countries]
allowed = ["KP", "CHN"]
gps_tolerance_km = 25

[severity]
restriction-needs-reason = "error"
restriction-needs-authority = "error"
credit-needs-photographer = "error"
gps-outside-country = "error"

[[rule]]
code = "banned-needs-source"
message = "a banned photograph needs its source"
when = { "restriction.status" = { in = ["banned"] } }
require = ["source"]
"""


def _ctx(**changes: Any) -> PhotoContext:
    data = copy.deepcopy(GOOD)
    for dotted, value in changes.items():
        node = data
        parts = dotted.split("__")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return PhotoContext.model_validate(data)


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    """A folder with the strict policy at its root."""
    (tmp_path / "photometa.toml").write_text(STRICT, "utf-8")
    return tmp_path


@pytest.fixture
def photo(archive: Path, make_jpeg: Callable[..., Path]) -> Callable[..., Path]:
    """Write a context (GOOD with changes) into a fresh JPEG inside the archive."""
    counter = iter(range(1000))

    def make(ctx: PhotoContext | None = None, *, folder: str = "", **changes: Any) -> Path:
        path = make_jpeg(f"p{next(counter)}.jpg")
        if folder:
            (archive / folder).mkdir(parents=True, exist_ok=True)
            path = path.rename(archive / folder / path.name)
        photometa.write(path, ctx if ctx is not None else _ctx(**changes))
        return path

    return make


def codes(report: Report) -> set[str]:
    return {f.code for f in report.findings}


# -- the rules, on real files ------------------------------------------------------------------


def test_a_good_file_has_no_finding_at_all(photo: Callable[..., Path]) -> None:
    report = photometa.validate(photo())
    assert report.findings == [], report.findings
    assert report.ok


BROKEN = [
    ("field-required", {"photographer__name": None, "photographer__credit": None}),
    ("vocab-unknown", {"restriction__status": "hush-hush"}),
    ("vocab-unknown", {"restriction__category": "gossip"}),
    ("keyword-unknown", {"subject__keywords": ["leisure", "tourism"]}),
    ("country-not-allowed", {"location__country_code": "JP", "location__country": "Japan",
                             "location__gps": {"latitude": 35.68, "longitude": 139.69}}),
    ("gps-outside-country", {"location__gps": {"latitude": 35.68, "longitude": 139.69}}),
    ("captured-in-future", {"captured_at": "2999-01-01T00:00:00+00:00"}),
    ("restriction-needs-reason", {"restriction__reason": None}),
    ("restriction-needs-authority", {"restriction__authority": None}),
    ("credit-needs-photographer", {"photographer__name": None}),
    ("banned-needs-source", {"source": None}),
    ("iim-too-long", {"location__city": "Pyongyang, capital of the DPRK, central district"}),
    ("iim-too-long", {"location__city": "평양직할시 중구역 대동강변"}),  # 37 bytes, 13 characters
    ("iim-too-long", {"subject__keywords": ["leisure", "a" * 65]}),
    ("text-mojibake", {"subject__caption": "CafÃ© by the river, PyÅngyang"}),
]


@pytest.mark.parametrize(("code", "changes"), BROKEN, ids=[f"{c}-{i}" for i, (c, _) in
                                                           enumerate(BROKEN)])
def test_each_rule_fails_a_file_that_breaks_it(photo: Callable[..., Path], code: str,
                                               changes: dict[str, Any]) -> None:
    report = photometa.validate(photo(**changes))
    found = [f for f in report.findings if f.code == code]
    assert found, report.findings
    expected = "warning" if code in ("iim-too-long", "text-mojibake") else "error"
    assert found[0].severity == expected
    assert found[0].field is not None and found[0].message


def test_the_broken_files_differ_from_the_good_one_only_by_their_rule(
        photo: Callable[..., Path]) -> None:
    """A file breaking one rule gets no unrelated finding (no rule fires by accident)."""
    related = {"field-required", "credit-needs-photographer", "keyword-unknown"}
    for code, changes in BROKEN:
        found = codes(photometa.validate(photo(**changes)))
        assert code in found
        assert found - {code} <= related, (code, found)
    assert codes(photometa.validate(photo(subject__keywords=["leisure", "tourism"]))) == {
        "keyword-unknown"}


def test_vocabulary_terms_added_by_the_policy_are_accepted(photo: Callable[..., Path]) -> None:
    report = photometa.validate(photo(restriction__status="under-review"))
    assert "vocab-unknown" not in codes(report)
    assert "banned-needs-source" not in codes(report)  # the rule's 'when' no longer holds


def test_required_fields_per_path_glob(photo: Callable[..., Path]) -> None:
    outside = photo(restriction__category=None)
    inside = photo(restriction__category=None, folder="restricted/2012")
    assert "field-required" not in codes(photometa.validate(outside))
    report = photometa.validate(inside)
    assert [(f.field, f.code) for f in report.findings] == [
        ("restriction.category", "field-required")]


def test_allowed_countries_accept_alpha3_and_names(photo: Callable[..., Path]) -> None:
    beijing = {"latitude": 39.9, "longitude": 116.4}
    ok = photo(location__country_code="CN", location__country="China", location__gps=beijing)
    assert codes(photometa.validate(ok)) == set()
    by_alpha3 = photo(location__country_code="CHN", location__country="China",
                      location__gps=beijing)
    assert codes(photometa.validate(by_alpha3)) == set()


def test_gps_tolerance_is_the_users(tmp_path: Path, make_jpeg: Callable[..., Path]) -> None:
    # Singapore's box ends at 1.45 N; 1.75 N is about 33 km north of it
    path = make_jpeg()
    photometa.write(path, PhotoContext(location={"country_code": "SG",
                                                 "gps": {"latitude": 1.75, "longitude": 103.8}}))
    tight = Policy(gps_tolerance_km=25, severity={"gps-outside-country": "error"})
    loose = Policy(gps_tolerance_km=50)
    report = photometa.validate(path, tight)
    assert [f.code for f in report.findings] == ["gps-outside-country"]
    assert "33 km" in report.findings[0].message and report.findings[0].severity == "error"
    assert photometa.validate(path, loose).findings == []


def test_gps_across_the_antimeridian_and_by_country_name() -> None:
    fiji = PhotoContext(location={"country": "Fiji", "gps": {"latitude": -16.5,
                                                              "longitude": -179.95}})
    assert check_context(fiji, Policy()) == []
    wrong = PhotoContext(location={"country": "Fiji", "gps": {"latitude": 0, "longitude": 0}})
    assert [f.code for f in check_context(wrong, Policy())] == ["gps-outside-country"]
    unknown = PhotoContext(location={"country": "Atlantis", "gps": {"latitude": 0,
                                                                     "longitude": 0}})
    assert check_context(unknown, Policy()) == []


def test_country_box_table_is_sound() -> None:
    import pycountry

    boxes = country_boxes()
    assert len(boxes) > 230
    for code, items in boxes.items():
        assert pycountry.countries.get(alpha_2=code) is not None, code
        for lon_min, lat_min, lon_max, lat_max in items:
            assert -180 <= lon_min <= lon_max <= 180 and -90 <= lat_min <= lat_max <= 90
    assert _km_outside(39.0, 125.75, boxes["KP"]) == 0  # Pyongyang
    assert _km_outside(35.68, 139.69, boxes["KP"]) > 500  # Tokyo


def test_every_sample_archive_position_is_inside_its_country() -> None:
    import csv

    with (SAMPLE / "manifest.csv").open(encoding="utf-8", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["location.gps.latitude"]]
    assert rows
    for row in rows:
        lat, lon = float(row["location.gps.latitude"]), float(row["location.gps.longitude"])
        assert _km_outside(lat, lon, country_boxes()[row["location.country_code"]]) == 0


def test_capture_time_without_offset_gets_the_earths_widest_offset() -> None:
    now = datetime(2024, 6, 1, 12, 0, tzinfo=timezone.utc)

    def future(when: datetime) -> bool:
        found = check_context(PhotoContext(captured_at=when), Policy(), now=now)
        return [f.code for f in found] == ["captured-in-future"]

    assert future(now + timedelta(minutes=5))
    assert not future(now - timedelta(minutes=5))
    naive_now = now.replace(tzinfo=None)
    assert not future(naive_now + timedelta(hours=13))  # could be local time in Kiribati
    assert future(naive_now + timedelta(hours=15))


def test_default_policy_only_warns_on_archivist_rules(make_jpeg: Callable[..., Path]) -> None:
    path = make_jpeg()
    photometa.write(path, PhotoContext(restriction={"status": "banned"},
                                       photographer={"credit": "AP"}))
    report = photometa.validate(path, Policy())
    assert {(f.code, f.severity) for f in report.findings} == {
        ("restriction-needs-reason", "warning"), ("restriction-needs-authority", "warning"),
        ("credit-needs-photographer", "warning")}
    assert report.ok
    off = Policy(severity={"restriction-needs-reason": "off", "credit-needs-photographer": "info"})
    assert {(f.code, f.severity) for f in photometa.validate(path, off).findings} == {
        ("restriction-needs-authority", "warning"), ("credit-needs-photographer", "info")}


def test_custom_rules_with_expect_and_paths(tmp_path: Path, make_jpeg: Callable[..., Path]
                                            ) -> None:
    policy = parse_policy("""
[[rule]]
code = "kp-city-format"
message = "cities in North Korea are written in the Latin alphabet"
severity = "warning"
paths = ["kp/**"]
when = { "location.country_code" = { equals = "kp" } }
expect = { "location.city" = { matches = "[A-Za-z' -]+" } }
""", source=tmp_path / "photometa.toml")
    (tmp_path / "kp").mkdir()
    bad = make_jpeg("bad.jpg").rename(tmp_path / "kp" / "bad.jpg")
    good = make_jpeg("good.jpg").rename(tmp_path / "kp" / "good.jpg")
    elsewhere = make_jpeg("elsewhere.jpg")
    for path, city in ((bad, "평양"), (good, "Pyongyang"), (elsewhere, "평양")):
        photometa.write(path, PhotoContext(location={"country_code": "KP", "city": city}))
    found = photometa.validate(bad, policy).findings
    assert [(f.field, f.code, f.severity) for f in found] == [
        ("location.city", "kp-city-format", "warning")]
    assert "matching" in found[0].message
    assert photometa.validate(good, policy).findings == []
    assert photometa.validate(elsewhere, policy).findings == []


# -- checks on how values are stored: files built byte by byte ----------------------------------


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


def _with_segments(jpeg: Path, *segments: bytes) -> Path:
    data = jpeg.read_bytes()
    jpeg.write_bytes(data[:2] + b"".join(segments) + data[2:])
    return jpeg


def _xmp(body: str) -> bytes:
    packet = (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" '
        'xmlns:Iptc4xmpCore="http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/">'
        f"{body}</rdf:Description></rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    )
    return _segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + packet.encode("utf-8"))


def _iim(*datasets: tuple[int, int, bytes]) -> bytes:
    return b"".join(bytes((0x1C, r, n)) + struct.pack(">H", len(v)) + v for r, n, v in datasets)


def _resource(rid: int, data: bytes) -> bytes:
    return b"8BIM" + struct.pack(">H", rid) + b"\0\0" + struct.pack(">I", len(data)) + data + (
        b"\0" if len(data) & 1 else b"")


def _app13(iim: bytes, digest: bytes | None = None) -> bytes:
    irb = _resource(0x0404, iim)
    if digest is not None:
        irb += _resource(0x0425, digest)
    return _segment(0xED, b"Photoshop 3.0\x00" + irb)


UTF8 = (1, 90, b"\x1b%G")


def test_duplicate_keywords_in_xmp_and_iim(make_jpeg: Callable[..., Path]) -> None:
    bag = "<dc:subject><rdf:Bag><rdf:li>{}</rdf:li><rdf:li>{}</rdf:li></rdf:Bag></dc:subject>"
    dup = _with_segments(make_jpeg(), _xmp(bag.format("Soldier", "soldier")),
                         _app13(_iim(UTF8, (2, 25, b"army"), (2, 25, b"ARMY"))))
    found = [f for f in photometa.validate(dup, Policy()).findings if f.code == "keyword-duplicate"]
    assert len(found) == 2
    assert any("XMP dc:subject" in f.message and "soldier" in f.message for f in found)
    assert any("IPTC-IIM" in f.message and "ARMY" in f.message for f in found)
    unique = _with_segments(make_jpeg(), _xmp(bag.format("soldier", "army")))
    assert "keyword-duplicate" not in codes(photometa.validate(unique, Policy()))


def test_iim_bytes_that_are_not_utf8(make_jpeg: Callable[..., Path]) -> None:
    latin1 = _with_segments(make_jpeg(), _app13(_iim(UTF8, (2, 90, "Pjöngjang".encode("latin-1")))))
    found = [f for f in photometa.validate(latin1, Policy()).findings
             if f.code == "text-invalid-utf8"]
    assert [f.field for f in found] == ["location.city"]
    assert "declares UTF-8" in found[0].message and "Pjöngjang" in found[0].message
    undeclared = _with_segments(make_jpeg(), _app13(_iim((2, 90, "Pjöngjang".encode("latin-1")))))
    found = [f for f in photometa.validate(undeclared, Policy()).findings
             if f.code == "text-invalid-utf8"]
    assert found and "no character set" in found[0].message
    good = _with_segments(make_jpeg(), _app13(_iim(UTF8, (2, 90, "Pjöngjang".encode()))))
    assert "text-invalid-utf8" not in codes(photometa.validate(good, Policy()))


def test_replacement_characters_count_as_broken_utf8(make_jpeg: Callable[..., Path]) -> None:
    broken = _with_segments(make_jpeg(), _xmp("<photoshop:City>Pj\ufffdngyang</photoshop:City>"))
    found = [f for f in photometa.validate(broken, Policy()).findings
             if f.code == "text-invalid-utf8"]
    assert [f.field for f in found] == ["location.city"]


def test_mojibake_detection_spares_real_accents() -> None:
    assert repair_mojibake("CafÃ© in PyÅ\x8fngyang") == "Café in Pyŏngyang"  # Latin-1 view
    assert repair_mojibake("Kim Il-sungâ€™s birthday") == "Kim Il-sung’s birthday"
    assert repair_mojibake("â€œquotedâ€\x9d and 평양") is not None  # mixed with real Korean
    for fine in ("Café", "Größe", "à la carte", "Ñandú", "Pyŏngyang 평양", "São Paulo", "1½ hours"):
        assert repair_mojibake(fine) is None, fine


def test_homes_that_disagree(make_jpeg: Callable[..., Path]) -> None:
    exif = Image.Exif()
    exif[0x010E] = "A funfair in Pyongyang"
    mixed = _with_segments(make_jpeg(exif=exif.tobytes()), _xmp(
        '<dc:description><rdf:Alt><rdf:li xml:lang="x-default">A funfair in Wonsan</rdf:li>'
        "</rdf:Alt></dc:description>"))
    found = [f for f in photometa.validate(mixed, Policy()).findings if f.code == "homes-disagree"]
    assert [f.field for f in found] == ["subject.caption"] and found[0].severity == "warning"
    strict = Policy(severity={"homes-disagree": "error"})
    assert not photometa.validate(mixed, strict).ok
    same = make_jpeg(exif=exif.tobytes())
    photometa.write(same, PhotoContext(subject={"caption": "A funfair in Pyongyang"}))
    assert "homes-disagree" not in codes(photometa.validate(same, Policy()))


def test_iim_truncated_copy_and_stale_digest(make_jpeg: Callable[..., Path]) -> None:
    long_city = "Pyongyang Capital City, Central District"
    iim = _iim(UTF8, (2, 90, long_city.encode()[:32]))
    truncated = _with_segments(make_jpeg(), _xmp(f"<photoshop:City>{long_city}</photoshop:City>"),
                               _app13(iim))
    found = codes(photometa.validate(truncated, Policy()))
    assert {"iim-truncated", "iim-too-long"} <= found
    assert "iptc-digest-stale" not in found
    stale = _with_segments(make_jpeg(), _xmp("<photoshop:City>Pyongyang</photoshop:City>"),
                           _app13(_iim(UTF8, (2, 90, b"Wonsan")), digest=b"\0" * 16))
    report = photometa.validate(stale, Policy())
    digest = [f for f in report.findings if f.code == "iptc-digest-stale"]
    assert digest and digest[0].severity == "warning" and digest[0].field is None
    fresh_iim = _iim(UTF8, (2, 90, b"Pyongyang"))
    fresh = _with_segments(make_jpeg(), _xmp("<photoshop:City>Pyongyang</photoshop:City>"),
                           _app13(fresh_iim, digest=hashlib.md5(fresh_iim).digest()))
    assert photometa.validate(fresh, Policy()).findings == []


def test_invalid_values_in_the_file(make_jpeg: Callable[..., Path]) -> None:
    bad = _with_segments(make_jpeg(), _xmp(
        "<Iptc4xmpCore:CountryCode>ZZ</Iptc4xmpCore:CountryCode>"))
    report = photometa.validate(bad, Policy())
    assert [(f.field, f.code, f.severity) for f in report.findings] == [
        ("location.country_code", "invalid-value", "error")]
    good = _with_segments(make_jpeg(), _xmp(
        "<Iptc4xmpCore:CountryCode>KP</Iptc4xmpCore:CountryCode>"))
    assert photometa.validate(good, Policy()).findings == []


def test_read_problems_are_findings_whose_severity_a_policy_sets(
        tmp_path: Path, make_jpeg: Callable[..., Path]) -> None:
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"not an image at all")
    report = photometa.validate(garbage, Policy())
    assert [(f.code, f.severity) for f in report.findings] == [("unsupported-format", "error")]
    relaxed = Policy(severity={"unsupported-format": "warning"})
    assert photometa.validate(garbage, relaxed).ok


# -- policies found per folder -----------------------------------------------------------------


def test_validate_finds_the_policy_above_the_file(tmp_path: Path,
                                                  make_jpeg: Callable[..., Path]) -> None:
    path = make_jpeg()
    photometa.write(path, PhotoContext(restriction={"status": "banned"}))
    assert photometa.validate(path).ok  # no policy anywhere above: defaults, warnings only
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "archive"\n\n[tool.photometa.severity]\n'
        'restriction-needs-authority = "error"\n', "utf-8")
    assert not photometa.validate(path).ok
    assert photometa.validate(path, Policy()).ok  # an explicit policy wins
    (tmp_path / "photometa.toml").write_text('[severity]\nrestriction-needs-authority = "info"\n')
    assert {f.severity for f in photometa.validate(path).findings} == {"warning", "info"}


def test_a_broken_policy_names_its_line(tmp_path: Path, make_jpeg: Callable[..., Path]) -> None:
    path = make_jpeg()
    (tmp_path / "photometa.toml").write_text('version = 1\n\nrequired = [\n  "location.town",\n]\n')
    with pytest.raises(photometa.PolicyError, match=r"line 4: unknown field 'location\.town'"):
        photometa.validate(path)


# -- many files: workers, cache, git -----------------------------------------------------------


def test_validate_many_keeps_order_across_workers(photo: Callable[..., Path],
                                                  tmp_path: Path) -> None:
    paths = [photo(), photo(restriction__status="hush-hush"), tmp_path / "missing.jpg", photo()]
    serial = list(validate_many(paths))
    parallel = list(validate_many(paths, runner=functools.partial(run_many, workers=2, chunk=1)))
    assert [r.path for r in parallel] == paths
    assert [r.findings for r in parallel] == [r.findings for r in serial]
    assert [r.ok for r in serial] == [True, False, False, True]
    assert codes(serial[2]) == {"not-found"}


def _archive_of(photo: Callable[..., Path], archive: Path, n: int) -> list[Path]:
    """``n`` files over folders under three policies (the root's, its path glob, a folder's own),
    in walking order: a good file, a bad one, an unreadable one, in turn."""
    good, bad = photo(), photo(restriction__category=None, source=None)
    (archive / "sub").mkdir()
    (archive / "sub" / "photometa.toml").write_text('required = ["subject.event"]\n', "utf-8")
    for folder in ("", "restricted", "sub"):
        (archive / folder).mkdir(exist_ok=True)
    good.rename(archive / "a-good.jpg")
    bad.rename(archive / "a-bad.jpg")
    for i in range(n - 2):
        folder = ("", "restricted", "sub")[i % 3]
        name = archive / folder / f"f{i:03d}.jpg"
        source = (archive / "a-good.jpg", archive / "a-bad.jpg", None)[i % 4 % 3]
        name.write_bytes(source.read_bytes() if source is not None else b"not an image")
    return [Path(p) for p in expand_paths([archive])]


def test_validate_stream_over_chunks_with_several_policies(photo: Callable[..., Path],
                                                           archive: Path) -> None:
    paths = _archive_of(photo, archive, 80)
    serial = [(os.fspath(r.path), r.findings) for r in validate_many(paths)]
    runner = functools.partial(run_many, workers=2, chunk=1, in_process_below=2, share=True)
    resolver = PolicyResolver()
    streamed = list(validate_stream((os.fspath(p) for p in paths), resolver, runner=runner,
                                    chunk=7))
    assert [(p, list(f)) for p, f in streamed] == serial
    assert len(resolver.loaded) == 2
    assert {c for _, f in streamed for c in (x.code for x in f)} >= {
        "field-required", "banned-needs-source", "unsupported-format"}


def test_validate_many_with_a_cache_in_chunks(photo: Callable[..., Path], archive: Path,
                                              tmp_path: Path) -> None:
    paths = _archive_of(photo, archive, 40)
    for p in paths:
        _age(p)
    fresh = [r.findings for r in validate_many(paths)]
    runner = functools.partial(run_many, workers=2, chunk=1, in_process_below=2)
    for hits in (0, 40):
        cache = ValidationCache(tmp_path / "cache")
        found = [r.findings for r in validate_many(paths, cache=cache, runner=runner)]
        cache.close()
        assert found == fresh and cache.hits == hits


def _age(path: Path) -> None:
    """Make a file look older than the cache's racy window."""
    old = path.stat().st_mtime - 10
    os.utime(path, (old, old))


def test_cache_skips_unchanged_files(photo: Callable[..., Path], tmp_path: Path) -> None:
    paths = [photo(), photo(restriction__authority=None), photo(captured_at="2999-01-01T00:00Z")]
    for p in paths:
        _age(p)
    first_cache = ValidationCache(tmp_path / "cache")
    first = list(validate_many(paths, cache=first_cache))
    first_cache.close()
    assert first_cache.hits == 0
    second_cache = ValidationCache(tmp_path / "cache")
    second = list(validate_many(paths, cache=second_cache))
    # the future capture time is not cached: tomorrow it may be in the past
    assert second_cache.hits == 2
    assert [r.findings for r in second] == [r.findings for r in first]
    # a changed file is validated again
    photometa.write(paths[1], PhotoContext(restriction={"authority": "Officials"}))
    _age(paths[1])
    third = list(validate_many(paths, cache=second_cache))
    assert second_cache.hits == 3  # only the first file
    assert "restriction-needs-authority" not in codes(third[1])
    # a changed policy too
    relaxed = parse_policy(STRICT.replace('restriction-needs-reason = "error"',
                                          'restriction-needs-reason = "off"'))
    list(validate_many(paths, relaxed, cache=second_cache))
    assert second_cache.hits == 3
    second_cache.close()
    assert (tmp_path / "cache" / ".gitignore").read_text().strip().endswith("*")


def test_cache_results_are_what_validation_gives(photo: Callable[..., Path],
                                                 tmp_path: Path) -> None:
    path = photo(subject__caption="CafÃ© by the river", restriction__reason=None)
    fresh = photometa.validate(path).findings
    for _ in range(2):
        cache = ValidationCache(tmp_path / "c")
        cached = list(validate_many([path], cache=cache))
        cache.close()
        assert cached[0].findings == fresh


SIDECAR = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" '
    'xmlns:pmeta="https://ns.photometa.org/xmp/1.0/">'
    "<pmeta:RestrictionStatus>{}</pmeta:RestrictionStatus>"
    "</rdf:Description></rdf:RDF></x:xmpmeta>\n"
)


def _one(path: Path, cache: ValidationCache) -> Report:
    [report] = validate_many([path], cache=cache)
    return report


def test_a_sidecar_is_part_of_the_content(photo: Callable[..., Path], tmp_path: Path) -> None:
    path = photo()
    _age(path)
    cache = ValidationCache(tmp_path / "cache")
    assert _one(path, cache).findings == []
    side = path.with_suffix(".xmp")
    side.write_text(SIDECAR.format("hush-hush"), "utf-8")
    _age(side)
    report = _one(path, cache)
    assert "vocab-unknown" in codes(report)  # the sidecar's value, not a stale cached result
    again = _one(path, cache)
    assert again.findings == report.findings and cache.hits == 1
    side.write_text(SIDECAR.format("restricted"), "utf-8")
    _age(side)
    assert "vocab-unknown" not in codes(_one(path, cache))
    cache.close()


def _git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env=env,
                          check=True)
    return proc.stdout


@pytest.fixture
def repo(archive: Path) -> Path:
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    _git(archive, "init", "-q", "-b", "main")
    return archive


def test_cache_uses_git_blob_ids_without_reading(repo: Path, photo: Callable[..., Path]) -> None:
    a, b = photo(), photo(restriction__reason=None)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "archive")
    cache = ValidationCache(repo / ".photometa-cache")
    ids = cache.known_content_ids([a, b])
    assert set(ids) == {0, 1} and all(v.startswith("git:") for v in ids.values())
    first = list(validate_many([a, b], cache=cache))
    again = list(validate_many([a, b], cache=cache))
    assert cache.hits == 2 and [r.findings for r in again] == [r.findings for r in first]
    photometa.write(b, PhotoContext(restriction={"reason": "Soldiers at rest"}))
    assert set(cache.known_content_ids([a, b])) == {0}  # b changed in the working tree
    cache.close()


def test_changed_since_selects_changed_files_and_files_under_a_changed_policy(
        repo: Path, photo: Callable[..., Path]) -> None:
    a, b = photo(), photo()
    (repo / "sub").mkdir()
    c = photo(folder="sub")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "first")
    photometa.write(b, PhotoContext(location={"city": "Wonsan"}))
    d = photo(folder="sub")  # untracked
    assert select_changed([a, b, c, d], "HEAD") == [b, d]
    a.with_suffix(".xmp").write_text(SIDECAR.format("banned"), "utf-8")
    assert select_changed([a, b, c, d], "HEAD") == [a, b, d]  # a's sidecar is new
    a.with_suffix(".xmp").unlink()
    (repo / "sub" / "photometa.toml").write_text('required = ["source"]\n')
    assert select_changed([a, b, c, d], "HEAD") == [b, c, d]
    with pytest.raises(PhotometaError) as info:
        select_changed([a], "no-such-ref")
    assert info.value.code == "git"


# -- the command line --------------------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_fail_on_and_exit_codes(photo: Callable[..., Path], archive: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    (archive / "photometa.toml").write_text("[severity]\ntext-mojibake = \"warning\"\n")
    path = photo(subject__caption="CafÃ© by the river")
    base = ("validate", str(path), "--jobs", "1", "--no-cache")
    code, out, _ = run(capsys, *base)
    assert code == 0 and "text-mojibake" in out
    code, out, _ = run(capsys, *base, "--fail-on", "warning")
    assert code == 1 and "1 failed" in out


def test_cli_broken_policy_is_a_usage_error_naming_the_line(
        photo: Callable[..., Path], archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = photo()
    (archive / "photometa.toml").write_text(
        '[countries]\nallowed = ["KP"]\ngps_tolerance_km = "far"\n')
    code, out, err = run(capsys, "validate", str(path), "--jobs", "1", "--no-cache")
    assert code == 2 and out == ""
    assert "photometa.toml: line 3:" in err and "gps_tolerance_km" in err


def test_every_check_has_a_breaking_file_here() -> None:
    """When a check is added to the catalogue, a test must break it (and GOOD must pass it)."""
    crafted = {"keyword-duplicate", "text-invalid-utf8", "homes-disagree", "iim-truncated",
               "iptc-digest-stale", "invalid-value"}  # the byte-built files above
    assert {code for code, _ in BROKEN} | crafted == set(RULES) | {"banned-needs-source"}


def test_cli_cache_dir_from_the_environment(photo: Callable[..., Path], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHOTOMETA_CACHE_DIR", str(tmp_path / "env-cache"))
    code, _, _ = run(capsys, "validate", str(photo()), "-j", "1")
    assert code == 0 and (tmp_path / "env-cache" / "validate-v1.sqlite3").is_file()


def test_cli_changed_since_and_cache_dir(repo: Path, photo: Callable[..., Path],
                                         capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    a = photo()
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "first")
    b = photo(restriction__status="hush-hush")
    monkeypatch.chdir(repo)
    code, out, _ = run(capsys, "validate", ".", "--changed-since", "HEAD", "-r", "json",
                       "--cache-dir", "build/cache", "-j", "1")
    doc = json.loads(out)
    assert code == 1 and [f["path"] for f in doc["files"]] == [b.name]
    assert (repo / "build" / "cache" / ".gitignore").is_file()
    assert a.name not in out
    code, _, err = run(capsys, "validate", ".", "--changed-since", "nope", "-j", "1")
    assert code == 2 and "unknown git revision" in err
    code, _, _ = run(capsys, "validate", str(a), "--no-cache", "-j", "1")
    assert code == 0


# -- the sample archive ------------------------------------------------------------------------


def test_sample_archive_breaks_exactly_one_rule(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "archive"
    subprocess.run([sys.executable, str(SAMPLE / "build.py"), "--out", str(out)], check=True,
                   capture_output=True)
    shutil.copy(SAMPLE / "photometa.toml", out / "photometa.toml")
    code, _, err = run(capsys, "tag", "--from", str(out / "manifest.csv"), "--jobs", "1")
    assert code == 0, err
    code, text, _ = run(capsys, "validate", str(out / "images"), "-r", "json", "-j", "1",
                        "--no-cache")
    doc = json.loads(text)
    failing = [(Path(f["path"]).name, [(x["field"], x["code"]) for x in f["findings"]])
               for f in doc["files"] if f["findings"]]
    assert code == 1
    assert failing == [("17-mother-daughter-resting.jpg",
                        [("restriction.authority", "restriction-needs-authority")])]
    assert doc["summary"]["files"] == 22


def test_sample_policy_relies_on_no_default_that_would_hide_the_mistake() -> None:
    policy = photometa.load_policy(SAMPLE / "photometa.toml")
    assert policy.severity["restriction-needs-authority"] == "error"
    assert RULES["restriction-needs-authority"].severity == "warning"


# -- CI examples and the pre-commit hook -------------------------------------------------------


def _validate_commands(node: Any) -> list[list[str]]:
    """The argument lists of every `photometa validate` command in a parsed CI file."""
    import shlex

    if isinstance(node, dict):
        return [c for v in node.values() for c in _validate_commands(v)]
    if isinstance(node, list):
        return [c for v in node for c in _validate_commands(v)]
    if not isinstance(node, str) or "photometa validate" not in node:
        return []
    commands = []
    for chunk in node.split("photometa validate")[1:]:
        argv = []
        for token in shlex.split(chunk.replace("\n", " ")):
            if token in ("||", "&&", ";", "|"):
                break
            argv.append("archive/" if "$" in token else token)
        commands.append(argv)
    return commands


@pytest.mark.parametrize("name", ["github-actions.yml", "gitlab-ci.yml"])
def test_ci_examples_are_valid_yaml_using_real_options(name: str) -> None:
    yaml = pytest.importorskip("yaml")
    text = (REPO / "examples" / "ci" / name).read_text("utf-8")
    doc = yaml.safe_load(text)
    assert isinstance(doc, dict)
    commands = _validate_commands(doc)
    assert len(commands) >= 2, "the example runs photometa validate"
    parser = photometa.cli.build_parser()
    for argv in commands:
        args = parser.parse_args(["validate", *argv])
        assert args.command == "validate" and args.paths


def test_pre_commit_hook_definition() -> None:
    yaml = pytest.importorskip("yaml")
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text("utf-8"))
    hook = next(h for h in hooks if h["id"] == "photometa-validate")
    assert hook["entry"].split()[:2] == ["photometa", "validate"]
    assert hook["language"] == "python"
    import re

    pattern = re.compile(hook["files"])
    assert pattern.search("archive/a.JPG") and pattern.search("x/y.tiff")
    assert not pattern.search("notes.txt")


def _copy_project(dst: Path) -> None:
    """The project as pre-commit installs it: the packaging files and the package, committed."""
    dst.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE", ".pre-commit-hooks.yaml"):
        if (REPO / name).exists():
            shutil.copy2(REPO / name, dst / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(REPO / "src", dst / "src", symlinks=True, ignore=ignore)
    shutil.copytree(REPO / "schemas", dst / "schemas", ignore=ignore)
    _git(dst, "init", "-q", "-b", "main")
    _git(dst, "add", "-A")
    _git(dst, "commit", "-qm", "photometa")


def test_pre_commit_try_repo_fails_and_names_the_bad_file(
        tmp_path: Path, make_jpeg: Callable[..., Path]) -> None:
    pre_commit = shutil.which("pre-commit") or str(Path(sys.executable).parent / "pre-commit")
    if not Path(pre_commit).exists() or shutil.which("git") is None:
        pytest.skip("pre-commit or git not installed")
    project = tmp_path / "photometa-src"
    _copy_project(project)
    archive = tmp_path / "archive"
    archive.mkdir()
    (archive / "photometa.toml").write_text(
        'required = ["photographer.name"]\n[severity]\nrestriction-needs-authority = "error"\n')
    good, bad = make_jpeg("good.jpg"), make_jpeg("bad.jpg")
    photometa.write(good, PhotoContext(photographer={"name": "Eric Lafforgue"}))
    photometa.write(bad, PhotoContext(photographer={"name": "Eric Lafforgue"},
                                      restriction={"status": "deletion-requested"}))
    shutil.move(good, archive / "good.jpg")
    shutil.move(bad, archive / "bad.jpg")
    (archive / "notes.txt").write_text("not an image\n")
    _git(archive, "init", "-q", "-b", "main")
    _git(archive, "add", "-A")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
           "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("VIRTUAL_ENV", None)
    proc = subprocess.run([pre_commit, "try-repo", str(project), "photometa-validate",
                           "--all-files", "--color", "never"], cwd=archive, env=env,
                          capture_output=True, text=True, timeout=900, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert "bad.jpg" in output and "restriction-needs-authority" in output, output
    assert "good.jpg:" not in output and "notes.txt" not in output, output
