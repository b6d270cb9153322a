"""Policy files: the format, its JSON Schema, errors that name the line, discovery, globs."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import photometa
from photometa import PhotoContext, Policy, PolicyError
from photometa.policy import (
    FIELD_NAMES,
    RULES,
    Condition,
    PolicyResolver,
    find_policy,
    glob_match,
    load_policy,
    parse_policy,
    policy_json_schema,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
SCHEMA_FILE = REPO / "schemas" / "policy.schema.json"
SAMPLE_POLICY = REPO / "examples" / "sample-archive" / "photometa.toml"

FULL = """\
#:schema ../schemas/policy.schema.json
"$schema" = "../schemas/policy.schema.json"
version = 1
required = ["location.country_code", "location.gps"]

[[require]]
paths = ["restricted/**", "*.tif"]
fields = ["restriction.category", "restriction.reason"]
severity = "warning"

[vocabulary]
"restriction.status" = ["Under Review"]
"restriction.category" = ["religion"]
"subject.keywords" = ["Soldier", "market"]

[countries]
allowed = ["kp", "CHN"]
gps_tolerance_km = 40.5

[severity]
homes-disagree = "error"
text-mojibake = "off"
jpeg-truncated = "warning"

[[rule]]
code = "banned-needs-category"
message = "a banned photograph needs a category"
when = { "restriction.status" = { in = ["banned"] } }
require = ["restriction.category"]

[[rule]]
code = "altitude-plausible"
message = "altitudes on Earth lie between -500 and 9000 m"
severity = "warning"
paths = ["gps/"]
expect = { "location.gps.altitude" = { min = -500, max = 9000 } }
"""


def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text("utf-8"))  # type: ignore[no-any-return]


def test_shipped_schema_is_current() -> None:
    assert schema() == policy_json_schema(), (
        "regenerate: .venv/bin/python -c 'import json, photometa.policy as p; "
        "print(json.dumps(p.policy_json_schema(), indent=2, ensure_ascii=False))' "
        "> schemas/policy.schema.json")
    jsonschema.Draft7Validator.check_schema(schema())


def test_schema_knows_every_field_and_check() -> None:
    s = schema()
    assert s["definitions"]["field"]["enum"] == list(FIELD_NAMES)
    assert set(s["properties"]["severity"]["properties"]) == set(RULES)


@pytest.mark.parametrize("path", [SAMPLE_POLICY], ids=["sample-archive"])
def test_shipped_policies_are_valid(path: Path) -> None:
    data = tomllib.loads(path.read_text("utf-8"))
    jsonschema.Draft7Validator(schema()).validate(data)
    load_policy(path)


def test_a_full_policy_parses_and_validates(tmp_path: Path) -> None:
    jsonschema.Draft7Validator(schema()).validate(tomllib.loads(FULL))
    p = parse_policy(FULL, source=tmp_path / "photometa.toml")
    assert p.required == ("location.country_code", "location.gps")
    assert p.requirements[0].paths == ("restricted/**", "*.tif")
    assert p.requirements[0].severity == "warning"
    assert p.extra_terms == {"restriction.status": ["under-review"],
                             "restriction.category": ["religion"]}
    assert p.vocabulary_ids["restriction.status"] >= {"under-review", "banned"}
    assert p.keywords == frozenset({"soldier", "market"})
    assert p.countries == frozenset({"KP", "CN"})
    assert p.gps_tolerance_km == 40.5
    assert p.severity == {"homes-disagree": "error", "text-mojibake": "off",
                          "jpeg-truncated": "warning"}
    assert [r.code for r in p.rules] == ["banned-needs-category", "altitude-plausible"]
    assert p.root == tmp_path and p.source == tmp_path / "photometa.toml"
    assert Policy().countries is None and Policy().keywords is None


# -- broken policies name their line ----------------------------------------------------------

BROKEN = [
    ("version = 1\nrequired = [\"a\",\n  oops\n]\n", 3, "not valid TOML"),
    ("version = 1\nrequired = [\n  \"location.city\",\n  \"location.town\",\n]\n", 4,
     "unknown field 'location.town'"),
    ("version = 1\n\nrequird = []\n", 3, "did you mean 'required'"),
    ("version = 2\n", 1, "unsupported policy version 2"),
    ("[severity]\nrestriction-need-authority = \"error\"\n", 2,
     "did you mean 'restriction-needs-authority'"),
    ("[severity]\n\nhomes-disagree = \"fatal\"\n", 3, "severity must be one of"),
    ("[severity]\nHomes_Disagree = \"error\"\n", 2, "lower-case letters"),
    ("[countries]\nallowed = [\n  \"KP\",\n  \"XX\",\n]\n", 4, "'XX' is not an ISO 3166-1"),
    ("[countries]\ngps_tolerance_km = -1\n", 2, "kilometres >= 0"),
    ("[countries]\ngps_tolerance_km = \"far\"\n", 2, "kilometres >= 0"),
    ("[vocabulary]\n\"restriction.reason\" = [\"x\"]\n", 2, "unknown key 'restriction.reason'"),
    ("[vocabulary]\n\"restriction.status\" = \"banned\"\n", 2, "expected a list of strings"),
    ("[[require]]\npaths = [\"a/**\"]\n", 1, "needs 'fields'"),
    ("[[require]]\nfields = [\"source\"]\nseverity = \"fatal\"\n", 3, "severity must be"),
    ("[[require]]\nfields = [\"source\"]\npaths = [\"\"]\n", 3, "empty path glob"),
    ("[[rule]]\ncode = \"a\"\nmessage = \"m\"\nrequire = [\"source\"]\n\n[[rule]]\ncode = \"b\"\n"
     "message = \"m\"\nwhen = { \"restriction.status\" = { in = \"banned\" } }\n"
     "require = [\"source\"]\n", 9, "expected a list of strings"),
    ("[[rule]]\ncode = \"a\"\nmessage = \"m\"\n", 1, "needs 'require' or 'expect'"),
    ("[[rule]]\ncode = \"vocab-unknown\"\nmessage = \"m\"\nrequire = [\"source\"]\n", 2,
     "is a built-in check"),
    ("[[rule]]\ncode = \"x\"\nmessage = \"m\"\nrequire = [\"source\"]\n[[rule]]\ncode = \"x\"\n"
     "message = \"m\"\nrequire = [\"source\"]\n", 6, "used by another rule"),
    ("[[rule]]\ncode = \"x\"\nmessage = \"m\"\n[rule.expect]\n\"location.city\" = "
     "{ matches = \"([\" }\n", 5, "not a valid regular expression"),
    ("[[rule]]\ncode = \"x\"\nmessage = \"m\"\n"
     "expect = { \"location.town\" = { present = true } }\n", 4, "unknown field 'location.town'"),
    ("[[rule]]\ncode = \"x\"\nmessage = \"m\"\nexpect = { \"source\" = { present = 1 } }\n", 4,
     "expected true or false"),
    ("[[rule]]\ncode = \"x\"\nmessage = \"m\"\nexpect = { \"source\" = { exists = true } }\n", 4,
     "unknown key 'exists'"),
    ("[[rule]]\ncode = \"x\"\nmessage = \"m\"\nexpect = { \"source\" = {} }\n", 4, "empty test"),
]


@pytest.mark.parametrize(("text", "line", "message"), BROKEN,
                         ids=[f"{i}-{m[:24]}" for i, (_, _, m) in enumerate(BROKEN)])
def test_broken_policy_names_the_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = tmp_path / "photometa.toml"
    path.write_text(text, "utf-8")
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    err = info.value
    assert err.path == path
    assert err.code in ("policy-syntax", "policy-invalid")
    assert f"line {line}" in str(err) and message in str(err), str(err)


@pytest.mark.parametrize(("text", "line", "message"), [
    b for b in BROKEN if "TOML" not in b[2] and "regular expression" not in b[2]
    and "used by another" not in b[2] and "did you mean 'restriction" not in b[2]
    and "'XX'" not in b[2]])
def test_editors_see_the_same_mistakes_through_the_json_schema(text: str, line: int,
                                                               message: str) -> None:
    errors = list(jsonschema.Draft7Validator(schema()).iter_errors(tomllib.loads(text)))
    assert errors, message


def test_pyproject_tool_table(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[project]\nname = "archive"\n\n[tool.photometa]\nrequired = ["source"]\n\n'
                    '[[tool.photometa.rule]]\ncode = "x"\nmessage = "m"\nrequire = ["sorce"]\n')
    with pytest.raises(PolicyError, match="line 10: unknown field 'sorce'"):
        load_policy(path)
    path.write_text('[project]\nname = "archive"\n')
    with pytest.raises(PolicyError, match=r"no \[tool.photometa\] table"):
        load_policy(path)
    path.write_text('[tool.photometa]\nrequired = ["source"]\n')
    assert load_policy(path).required == ("source",)


def test_unreadable_policies(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as info:
        load_policy(tmp_path / "missing.toml")
    assert info.value.code == "policy-io"
    latin1 = tmp_path / "photometa.toml"
    latin1.write_bytes('required = ["source"] # Zürich\n'.encode("latin-1"))
    with pytest.raises(PolicyError, match="not UTF-8"):
        load_policy(latin1)


# -- discovery --------------------------------------------------------------------------------


def test_find_policy_walks_up_to_the_nearest(tmp_path: Path) -> None:
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)
    photo = deep / "x.jpg"
    photo.write_bytes(b"")
    assert find_policy(photo) is None or not str(find_policy(photo)).startswith(str(tmp_path))
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "p"\n')  # no [tool.photometa]
    assert find_policy(photo) is None or not str(find_policy(photo)).startswith(str(tmp_path))
    (tmp_path / "pyproject.toml").write_text('[tool.photometa.severity]\ntext-mojibake = "off"\n')
    assert find_policy(photo) == tmp_path / "pyproject.toml"
    (tmp_path / "a" / "photometa.toml").write_text("")
    assert find_policy(photo) == tmp_path / "a" / "photometa.toml"
    (tmp_path / "a" / "b" / "pyproject.toml").write_text("[tool.photometa]\n")
    assert find_policy(photo) == tmp_path / "a" / "b" / "pyproject.toml"
    (tmp_path / "a" / "b" / "photometa.toml").write_text("")
    assert find_policy(photo) == tmp_path / "a" / "b" / "photometa.toml"  # beats pyproject


def test_resolver_reads_each_policy_once(tmp_path: Path) -> None:
    (tmp_path / "photometa.toml").write_text('required = ["source"]\n')
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "photometa.toml").write_text('required = ["location.city"]\n')
    resolver = PolicyResolver()
    a = resolver.for_file(tmp_path / "x" / "a.jpg")
    b = resolver.for_file(tmp_path / "y" / "b.jpg")
    c = resolver.for_file(tmp_path / "other" / "c.jpg")
    assert a is b and a.required == ("source",) and c.required == ("location.city",)
    assert set(resolver.loaded) == {tmp_path / "photometa.toml",
                                    tmp_path / "other" / "photometa.toml"}
    fixed = PolicyResolver(tmp_path / "photometa.toml")
    assert fixed.for_file(tmp_path / "other" / "c.jpg").required == ("source",)


# -- globs and path-specific policies ---------------------------------------------------------


@pytest.mark.parametrize(("pattern", "path", "expected"), [
    ("restricted/**", "restricted/a.jpg", True),
    ("restricted/**", "restricted/2012/a.jpg", True),
    ("restricted/**", "open/restricted/a.jpg", False),
    ("*.tif", "a.tif", True),
    ("*.tif", "deep/down/a.tif", True),  # no slash: the name, in any folder
    ("*.tif", "a.tiff", False),
    ("images/*.jpg", "images/a.jpg", True),
    ("images/*.jpg", "images/sub/a.jpg", False),
    ("**/raw/*.dng", "raw/a.dng", True),
    ("**/raw/*.dng", "2012/raw/a.dng", True),
    ("img_??.jpg", "img_01.jpg", True),
    ("img_??.jpg", "img_001.jpg", False),
    ("[!x]*.jpg", "a.jpg", True),
    ("[!x]*.jpg", "x.jpg", False),
    ("gps/", "gps/a.jpg", True),
    ("/top.jpg", "top.jpg", True),
    ("/top.jpg", "sub/top.jpg", False),
])
def test_globs(pattern: str, path: str, expected: bool) -> None:
    assert glob_match(pattern, path) is expected


def test_for_path_keeps_only_the_blocks_that_match(tmp_path: Path) -> None:
    p = parse_policy(FULL, source=tmp_path / "photometa.toml")
    inside = p.for_path(tmp_path / "restricted" / "a.jpg")
    outside = p.for_path(tmp_path / "open" / "a.jpg")
    tif = p.for_path(tmp_path / "scans" / "b.tif")
    assert [r.fields for r in inside.requirements] == [("restriction.category",
                                                         "restriction.reason")]
    assert outside.requirements == () and len(tif.requirements) == 1
    assert [r.code for r in inside.rules] == ["banned-needs-category"]
    assert [r.code for r in p.for_path(tmp_path / "gps" / "x.jpg").rules] == [
        "banned-needs-category", "altitude-plausible"]
    assert p.for_path(tmp_path / "open" / "b.jpg") is outside  # resolved once per combination
    assert inside.digest != outside.digest


def test_digest_depends_on_content_not_location(tmp_path: Path) -> None:
    a = parse_policy(FULL, source=tmp_path / "a" / "photometa.toml")
    b = parse_policy(FULL, source=tmp_path / "b" / "photometa.toml")
    c = parse_policy(FULL.replace("40.5", "41"), source=tmp_path / "a" / "photometa.toml")
    assert a.digest == b.digest != c.digest


# -- conditions and severities ----------------------------------------------------------------


def test_conditions() -> None:
    ctx = PhotoContext(restriction={"status": "banned"}, subject={"keywords": ["Soldier", "army"]},
                       location={"gps": {"latitude": 39.0, "longitude": 125.7, "altitude": 30}},
                       captured_at="2012-04-15T10:00:00+09:00")
    assert Condition("restriction.status", equals="BANNED").holds(ctx)
    assert Condition("restriction.status", in_=("restricted", "banned")).holds(ctx)
    assert not Condition("restriction.status", not_in=("banned",)).holds(ctx)
    assert Condition("restriction.reason", present=False).holds(ctx)
    assert not Condition("restriction.reason", present=True).holds(ctx)
    assert not Condition("restriction.reason", not_in=("x",)).holds(ctx)  # no value, no match
    assert Condition("subject.keywords", equals="soldier").holds(ctx)  # any item
    assert Condition("subject.keywords", matches="arm.").holds(ctx)
    assert not Condition("subject.keywords", matches="arm").holds(ctx)  # whole value
    assert Condition("location.gps.altitude", min=0, max=100).holds(ctx)
    assert not Condition("location.gps.altitude", min=100).holds(ctx)
    assert not Condition("location.city", min=0).holds(PhotoContext(location={"city": "5"}))
    assert Condition("captured_at", matches="2012-.*").holds(ctx)
    assert Condition("location.gps", present=True).holds(ctx)


def test_severity_overrides_and_off(make_jpeg: Any) -> None:
    path = make_jpeg()
    photometa.write(path, PhotoContext(subject={"caption": "CafÃ© by the river",
                                                "keywords": ["Soldier"]},
                                       restriction={"status": "banned"}))
    default = {(f.code, f.severity) for f in photometa.validate(path, Policy()).findings}
    assert ("text-mojibake", "warning") in default
    policy = parse_policy(FULL)
    found = {(f.code, f.severity) for f in photometa.validate(path, policy).findings}
    assert not any(code == "text-mojibake" for code, _ in found)
    assert ("banned-needs-category", "error") in found
    assert ("field-required", "error") in found  # location.country_code, location.gps
    assert ("keyword-unknown", "error") not in found  # "Soldier" is listed (any case)


def test_rule_infos_for_reports() -> None:
    infos = parse_policy(FULL).rule_infos()
    assert "text-mojibake" not in infos  # turned off
    assert infos["homes-disagree"].severity == "error"
    assert infos["altitude-plausible"].title == "altitudes on Earth lie between -500 and 9000 m"
    assert all(info.code == code for code, info in infos.items())


def test_every_check_is_documented() -> None:
    page = (REPO / "docs" / "policy.md").read_text("utf-8")
    for code, info in RULES.items():
        assert f"| `{code}` | {info.severity} |" in page, code
