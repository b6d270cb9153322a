"""Tests of the XMP packet codec (photometa.codecs.xmp)."""

from __future__ import annotations

import hashlib
import json
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import corpus_root, need_corpus_file
from photometa._binary import DEFAULT_LIMITS, Limits
from photometa.codecs.xmp import NAMESPACES, PHOTOMETA_NS, Kind, XmpPacket
from photometa.errors import CorruptFileError, InvalidValueError, LimitExceededError

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
XMP_SIG = b"http://ns.adobe.com/xap/1.0/\x00"
EXT_SIG = b"http://ns.adobe.com/xmp/extension/\x00"

KOREAN = "서울의 봄, 한강 공원에서 😀🇰🇷"
SPECIAL = "a & b < c > d \"quoted\" 'single' ]]> &amp; \t tab\nline"


def wrap(body: str, *, ns: str = "") -> bytes:
    """A full packet around rdf:Description content."""
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        f'<rdf:RDF xmlns:rdf="{RDF}">\n'
        '<rdf:Description rdf:about=""\n'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/"\n'
        ' xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"\n'
        ' xmlns:Iptc4xmpCore="http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/"\n'
        ' xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"\n'
        f" {ns}>\n{body}\n</rdf:Description>\n</rdf:RDF>\n</x:xmpmeta>\n"
        '<?xpacket end="w"?>'
    ).encode()


def roundtrip(packet: XmpPacket) -> XmpPacket:
    return XmpPacket.parse(packet.serialize())


# ----------------------------------------------------------------------------- namespaces


def test_namespace_table() -> None:
    assert PHOTOMETA_NS == "https://ns.photometa.org/xmp/1.0/"
    assert NAMESPACES["pmeta"] == PHOTOMETA_NS
    expected = {
        "x": "adobe:ns:meta/",
        "rdf": RDF,
        "xml": "http://www.w3.org/XML/1998/namespace",
        "dc": "http://purl.org/dc/elements/1.1/",
        "photoshop": "http://ns.adobe.com/photoshop/1.0/",
        "Iptc4xmpCore": "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/",
        "Iptc4xmpExt": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/",
        "xmpRights": "http://ns.adobe.com/xap/1.0/rights/",
        "xmp": "http://ns.adobe.com/xap/1.0/",
        "xmpMM": "http://ns.adobe.com/xap/1.0/mm/",
        "exif": "http://ns.adobe.com/exif/1.0/",
        "tiff": "http://ns.adobe.com/tiff/1.0/",
        "xmpNote": "http://ns.adobe.com/xmp/note/",
        "plus": "http://ns.useplus.org/ldf/xmp/1.0/",
    }
    for prefix, uri in expected.items():
        assert NAMESPACES[prefix] == uri
    assert len(set(NAMESPACES.values())) == len(NAMESPACES)  # one prefix per URI


# ------------------------------------------------------------------------ set / get round trip

ROUND_TRIP_CASES: list[tuple[str, Kind, Any]] = [
    ("dc:description", "langalt", KOREAN),
    ("dc:rights", "langalt", "© 2024 사진가"),
    ("dc:title", "langalt", SPECIAL),
    ("xmpRights:UsageTerms", "langalt", "Editorial use only"),
    ("Iptc4xmpExt:Event", "langalt", "Seoul Lantern Festival 🏮"),
    ("dc:subject", "bag", ["봄", "river & park", "<tag>", "😀"]),
    ("Iptc4xmpExt:PersonInImage", "bag", ["김민준", "Lee Seo-yeon"]),
    ("dc:creator", "seq", ["Kim", "박지훈"]),
    ("plus:ImageAlterationConstraints", "alt", ["x", "y"]),
    ("photoshop:City", "text", "서울"),
    ("photoshop:Headline", "text", SPECIAL),
    ("pmeta:RestrictionStatus", "text", "restricted"),
    ("Iptc4xmpCore:CreatorContactInfo/Iptc4xmpCore:CiEmailWork", "text", "kim@example.kr"),
    ("Iptc4xmpExt:LocationShown[1]/Iptc4xmpExt:City", "text", "부산"),
    ("Iptc4xmpExt:LocationShown[1]/Iptc4xmpExt:CountryCode", "text", "KOR"),
    ("Iptc4xmpExt:LocationCreated[1]/Iptc4xmpExt:CountryCode", "text", "KOR"),
    ("Iptc4xmpExt:LocationCreated/Iptc4xmpExt:City", "text", "Incheon"),
    ("Iptc4xmpExt:ArtworkOrObject[1]/Iptc4xmpExt:AOTitle", "langalt", "Mona 😀"),
    ("Iptc4xmpExt:PersonInImageWDetails[1]/Iptc4xmpExt:PersonId", "bag", ["id:1"]),
]


@pytest.mark.parametrize(("path", "kind", "value"), ROUND_TRIP_CASES)
def test_set_get_round_trip(path: str, kind: Any, value: Any) -> None:
    packet = XmpPacket.new()
    packet.set(path, kind, value)
    assert packet.get(path, kind) == value
    again = roundtrip(packet)
    assert again.get(path, kind) == value
    assert again == packet
    top = path.split("/")[0].split("[")[0]
    assert again.properties() == [top]


def test_all_paths_in_one_packet_survive() -> None:
    packet = XmpPacket.new()
    for path, kind, value in ROUND_TRIP_CASES:
        packet.set(path, kind, value)
    again = roundtrip(packet)
    for path, kind, value in ROUND_TRIP_CASES:
        assert again.get(path, kind) == value, path
    assert again == packet
    assert again.serialize() == packet.serialize()  # serialisation is deterministic


def test_struct_kinds_in_output() -> None:
    packet = XmpPacket.new()
    packet.set("Iptc4xmpExt:LocationShown[1]/Iptc4xmpExt:City", "text", "A")
    packet.set("Iptc4xmpExt:LocationShown[2]/Iptc4xmpExt:City", "text", "B")
    packet.set("Iptc4xmpExt:LocationCreated[1]/Iptc4xmpExt:City", "text", "C")
    packet.set("Iptc4xmpCore:CreatorContactInfo/Iptc4xmpCore:CiUrlWork", "text", "https://x.y")
    text = packet.serialize().decode("utf-8")
    assert "<Iptc4xmpExt:LocationShown>\n    <rdf:Bag>" in text  # an array of structs
    assert '<Iptc4xmpExt:LocationCreated rdf:parseType="Resource">' in text  # a single struct
    assert '<Iptc4xmpCore:CreatorContactInfo rdf:parseType="Resource">' in text
    assert packet.count("Iptc4xmpExt:LocationShown") == 2
    assert packet.count("Iptc4xmpExt:LocationCreated") == 1
    assert packet.count("Iptc4xmpExt:PersonInImage") == 0
    assert packet.get("Iptc4xmpExt:LocationShown[2]/Iptc4xmpExt:City", "text") == "B"
    # without an index, an array of structs means its first item
    assert packet.get("Iptc4xmpExt:LocationShown/Iptc4xmpExt:City", "text") == "A"
    assert packet.get("Iptc4xmpExt:LocationShown[3]/Iptc4xmpExt:City", "text") is None
    assert packet.get("Iptc4xmpExt:LocationCreated[2]/Iptc4xmpExt:City", "text") is None


def test_array_kinds_are_written_as_asked() -> None:
    packet = XmpPacket.new()
    packet.set("dc:subject", "bag", ["a"])
    packet.set("dc:creator", "seq", ["b"])
    packet.set("dc:description", "langalt", "c")
    text = packet.serialize().decode()
    assert "<dc:subject>\n    <rdf:Bag>" in text
    assert "<dc:creator>\n    <rdf:Seq>" in text
    assert '<rdf:Alt>\n     <rdf:li xml:lang="x-default">c</rdf:li>' in text


def test_special_characters_are_escaped() -> None:
    packet = XmpPacket.new()
    value = "& < > \" ' \r\n \t end"
    packet.set("dc:source", "text", value)
    packet.set("dc:subject", "bag", [value])
    raw = packet.serialize()
    assert b"&amp; &lt; &gt;" in raw
    assert b"&#xD;" in raw  # a CR survives XML's line-end normalisation
    again = XmpPacket.parse(raw)
    assert again.get("dc:source", "text") == value
    assert again.get("dc:subject", "bag") == [value]


def test_forbidden_xml_characters_are_removed() -> None:
    packet = XmpPacket.new()
    packet.set("dc:source", "text", "a\x00b\x01c\x1fd\ufffee\uffff\ud800f\x7f\x85")
    expected = "abcdef\x7f\x85"  # C1 and DEL are allowed in XML 1.0 and kept
    assert packet.get("dc:source", "text") == expected
    assert roundtrip(packet).get("dc:source", "text") == expected
    packet.set("dc:subject", "bag", ["trailing NUL\x00"])
    assert roundtrip(packet).get("dc:subject", "bag") == ["trailing NUL"]


def test_langalt_keeps_real_translations() -> None:
    packet = XmpPacket.parse(
        wrap(
            "<dc:description><rdf:Alt>"
            '<rdf:li xml:lang="x-default">Old</rdf:li>'
            '<rdf:li xml:lang="en-US">Old</rdf:li>'
            '<rdf:li xml:lang="de">Alt</rdf:li>'
            '<rdf:li xml:lang="ko">오래된</rdf:li>'
            "</rdf:Alt></dc:description>"
        )
    )
    assert packet.get("dc:description", "langalt") == "Old"
    packet.set("dc:description", "langalt", "New")
    assert packet.get_langalt("dc:description") == {"x-default": "New", "de": "Alt", "ko": "오래된"}
    assert roundtrip(packet).get_langalt("dc:description") == {
        "x-default": "New",
        "de": "Alt",
        "ko": "오래된",
    }


def test_langalt_without_x_default() -> None:
    packet = XmpPacket.parse(
        wrap(
            "<dc:title><rdf:Alt>"
            '<rdf:li xml:lang="fr">Bonjour</rdf:li><rdf:li xml:lang="en">Hello</rdf:li>'
            "</rdf:Alt></dc:title>"
        )
    )
    assert packet.get("dc:title", "langalt") == "Bonjour"  # the first item stands in
    assert packet.get("dc:title", "text") == "Bonjour"
    packet.set("dc:title", "langalt", "Hi")
    assert packet.get_langalt("dc:title") == {"x-default": "Hi", "en": "Hello"}


def test_simple_value_where_array_expected() -> None:
    packet = XmpPacket.parse(
        wrap(
            "<dc:subject>one</dc:subject><dc:description>plain</dc:description>"
            '<dc:rights xml:lang="en">mine</dc:rights>'
        )
    )
    assert packet.get("dc:subject", "bag") == ["one"]
    assert packet.get("dc:description", "langalt") == "plain"
    assert packet.get_langalt("dc:description") == {"x-default": "plain"}
    assert packet.get_langalt("dc:rights") == {"en": "mine"}
    assert packet.get("dc:subject", "text") == "one"


def test_array_read_as_text_gives_first_item() -> None:
    packet = XmpPacket.new()
    packet.set("dc:creator", "seq", ["first", "second"])
    assert packet.get("dc:creator", "text") == "first"
    assert packet.get("dc:creator", "bag") == ["first", "second"]


def test_absent_values() -> None:
    packet = XmpPacket.new()
    assert packet.get("dc:subject", "bag") is None
    assert packet.get("dc:description", "langalt") is None
    assert packet.get_langalt("dc:description") is None
    assert packet.get("Iptc4xmpExt:LocationShown[1]/Iptc4xmpExt:City", "text") is None
    assert packet.get("unknownprefix:Thing", "text") is None
    assert packet.properties() == []
    packet.set("photoshop:City", "text", "x")
    assert packet.get("photoshop:City/photoshop:Sub", "text") is None  # not a struct
    assert packet.get("photoshop:City", "bag") == ["x"]


def test_empty_string_is_a_value() -> None:
    packet = XmpPacket.new()
    packet.set("photoshop:City", "text", "")
    assert roundtrip(packet).get("photoshop:City", "text") == ""


# ---------------------------------------------------------------------------------- deleting


def test_delete_top_level_and_arrays() -> None:
    packet = XmpPacket.new()
    packet.set("dc:subject", "bag", ["a"])
    packet.set("dc:description", "langalt", "d")
    packet.set("dc:subject", "bag", [])
    packet.set("dc:description", "langalt", None)
    assert packet.properties() == []
    packet.set("dc:description", "langalt", None)  # deleting what is absent is fine


def test_delete_field_removes_emptied_structs() -> None:
    packet = XmpPacket.new()
    packet.set("Iptc4xmpCore:CreatorContactInfo/Iptc4xmpCore:CiEmailWork", "text", "a@b.c")
    packet.set("Iptc4xmpCore:CreatorContactInfo/Iptc4xmpCore:CiUrlWork", "text", "https://b.c")
    packet.set("Iptc4xmpCore:CreatorContactInfo/Iptc4xmpCore:CiEmailWork", "text", None)
    assert packet.get("Iptc4xmpCore:CreatorContactInfo/Iptc4xmpCore:CiUrlWork", "text")
    packet.set("Iptc4xmpCore:CreatorContactInfo/Iptc4xmpCore:CiUrlWork", "text", None)
    assert packet.properties() == []

    packet.set("Iptc4xmpExt:LocationShown[1]/Iptc4xmpExt:City", "text", "A")
    packet.set("Iptc4xmpExt:LocationShown[2]/Iptc4xmpExt:City", "text", "B")
    packet.set("Iptc4xmpExt:LocationShown[1]/Iptc4xmpExt:City", "text", None)
    # the emptied first item goes; the second moves up
    assert packet.count("Iptc4xmpExt:LocationShown") == 1
    assert packet.get("Iptc4xmpExt:LocationShown[1]/Iptc4xmpExt:City", "text") == "B"
    packet.set("Iptc4xmpExt:LocationShown[1]/Iptc4xmpExt:City", "text", None)
    assert packet.properties() == []


def test_delete_keeps_other_properties() -> None:
    data = wrap(
        '<photoshop:City>Seoul</photoshop:City><foo:Bar>keep</foo:Bar>',
        ns='xmlns:foo="http://example.com/foo/1.0/"',
    )
    packet = XmpPacket.parse(data)
    packet.set("photoshop:City", "text", None)
    again = roundtrip(packet)
    assert again.properties() == ["foo:Bar"]
    assert again.get("foo:Bar", "text") == "keep"


def test_delete_whole_array_item_by_index() -> None:
    packet = XmpPacket.new()
    packet.set("Iptc4xmpExt:LocationShown[1]/Iptc4xmpExt:City", "text", "A")
    packet.set("Iptc4xmpExt:LocationShown[2]/Iptc4xmpExt:City", "text", "B")
    packet.set("Iptc4xmpExt:LocationShown[1]", "text", None)
    assert packet.get("Iptc4xmpExt:LocationShown[1]/Iptc4xmpExt:City", "text") == "B"


# ------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "path",
    [
        "", "City", "dc:", ":x", "dc:subject[0]", "dc:subject[x]", "dc:a//dc:b", "dc:a b",
        "dc:a/", "dc:a①",  # ① is alphanumeric to Python but not an XML name character
    ],
)
def test_bad_paths(path: str) -> None:
    packet = XmpPacket.new()
    with pytest.raises(InvalidValueError) as info:
        packet.set(path, "text", "v")
    assert info.value.code == "xmp-path"


def test_set_rejects_bad_values_and_prefixes() -> None:
    packet = XmpPacket.new()
    with pytest.raises(InvalidValueError) as info:
        packet.set("nope:Thing", "text", "v")
    assert info.value.code == "xmp-prefix"
    with pytest.raises(InvalidValueError):
        packet.set("dc:subject", "bag", "not a list")
    with pytest.raises(InvalidValueError):
        packet.set("dc:subject", "bag", ["ok", 3])  # type: ignore[list-item]
    with pytest.raises(InvalidValueError):
        packet.set("dc:title", "text", ["a list"])
    with pytest.raises(InvalidValueError):
        packet.set("dc:title", "langalt", ["a list"])
    with pytest.raises(InvalidValueError):
        packet.set("dc:title", "struct", "v")  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError):
        packet.get("dc:title", "struct")  # type: ignore[call-overload]
    with pytest.raises(InvalidValueError):  # a single struct has no second item
        packet.set("Iptc4xmpExt:LocationCreated[2]/Iptc4xmpExt:City", "text", "x")
    with pytest.raises(InvalidValueError):  # items are added one after another
        packet.set("Iptc4xmpExt:LocationShown[3]/Iptc4xmpExt:City", "text", "x")
    assert packet.properties() == []


def test_set_replaces_simple_value_by_struct_when_path_says_so() -> None:
    packet = XmpPacket.parse(
        wrap("<Iptc4xmpCore:CreatorContactInfo>junk</Iptc4xmpCore:CreatorContactInfo>")
    )
    packet.set("Iptc4xmpCore:CreatorContactInfo/Iptc4xmpCore:CiEmailWork", "text", "a@b.c")
    assert roundtrip(packet).get(
        "Iptc4xmpCore:CreatorContactInfo/Iptc4xmpCore:CiEmailWork", "text"
    ) == "a@b.c"


# ------------------------------------------------------------------------- parsing RDF forms

ALL_FORMS = (
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="test">\n'
    f'<rdf:RDF xmlns:rdf="{RDF}">\n'
    # simple properties as attributes
    '<rdf:Description rdf:about="" xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"\n'
    '  photoshop:City="Seoul &amp; Co" photoshop:State="Gyeonggi"/>\n'
    # a second Description: child elements, arrays with xml:lang, struct items, rdf:resource
    '<rdf:Description rdf:about=""\n'
    '  xmlns:dc="http://purl.org/dc/elements/1.1/"\n'
    '  xmlns:Iptc4xmpCore="http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/"\n'
    '  xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"\n'
    '  xmlns:xmpRights="http://ns.adobe.com/xap/1.0/rights/"\n'
    '  xmlns:exif="http://ns.adobe.com/exif/1.0/">\n'
    " <dc:source>child element</dc:source>\n"
    " <dc:description><rdf:Alt>\n"
    '   <rdf:li xml:lang="x-default">캡션</rdf:li><rdf:li xml:lang="en">caption</rdf:li>\n'
    " </rdf:Alt></dc:description>\n"
    " <dc:subject><rdf:Bag><rdf:li>k1</rdf:li><rdf:li>k2</rdf:li></rdf:Bag></dc:subject>\n"
    " <dc:creator><rdf:Seq><rdf:li>c1</rdf:li></rdf:Seq></dc:creator>\n"
    # struct as parseType="Resource"
    ' <Iptc4xmpCore:CreatorContactInfo rdf:parseType="Resource">\n'
    "  <Iptc4xmpCore:CiEmailWork>a@b.c</Iptc4xmpCore:CiEmailWork>\n"
    " </Iptc4xmpCore:CreatorContactInfo>\n"
    # struct as a nested rdf:Description (fields as attributes and as elements)
    " <Iptc4xmpExt:LocationCreated><rdf:Description Iptc4xmpExt:City=\"Busan\">\n"
    "  <Iptc4xmpExt:CountryCode>KOR</Iptc4xmpExt:CountryCode>\n"
    " </rdf:Description></Iptc4xmpExt:LocationCreated>\n"
    # array of structs, items in both spellings
    " <Iptc4xmpExt:LocationShown><rdf:Bag>\n"
    '  <rdf:li rdf:parseType="Resource"><Iptc4xmpExt:City>Jeju</Iptc4xmpExt:City></rdf:li>\n'
    "  <rdf:li><rdf:Description Iptc4xmpExt:City=\"Daegu\"/></rdf:li>\n"
    " </rdf:Bag></Iptc4xmpExt:LocationShown>\n"
    # struct as attributes of the property element
    ' <exif:Flash exif:Fired="False" exif:Mode="2"/>\n'
    # a URI value
    ' <xmpRights:WebStatement rdf:resource="https://example.com/terms?a=1&amp;b=2"/>\n'
    # a qualified simple value (general qualifier through rdf:value)
    ' <dc:publisher rdf:parseType="Resource">\n'
    "  <rdf:value>Pub</rdf:value><Iptc4xmpCore:Role>qual</Iptc4xmpCore:Role>\n"
    " </dc:publisher>\n"
    "</rdf:Description>\n"
    "</rdf:RDF>\n</x:xmpmeta>\n"
    '<?xpacket end="w"?>'
)


def check_all_forms(packet: XmpPacket) -> None:
    assert packet.get("photoshop:City", "text") == "Seoul & Co"
    assert packet.get("photoshop:State", "text") == "Gyeonggi"
    assert packet.get("dc:source", "text") == "child element"
    assert packet.get("dc:description", "langalt") == "캡션"
    assert packet.get_langalt("dc:description") == {"x-default": "캡션", "en": "caption"}
    assert packet.get("dc:subject", "bag") == ["k1", "k2"]
    assert packet.get("dc:creator", "seq") == ["c1"]
    assert packet.get("Iptc4xmpCore:CreatorContactInfo/Iptc4xmpCore:CiEmailWork", "text") == (
        "a@b.c"
    )
    assert packet.get("Iptc4xmpExt:LocationCreated/Iptc4xmpExt:City", "text") == "Busan"
    assert packet.get("Iptc4xmpExt:LocationCreated[1]/Iptc4xmpExt:CountryCode", "text") == "KOR"
    assert packet.get("Iptc4xmpExt:LocationShown[1]/Iptc4xmpExt:City", "text") == "Jeju"
    assert packet.get("Iptc4xmpExt:LocationShown[2]/Iptc4xmpExt:City", "text") == "Daegu"
    assert packet.get("exif:Flash/exif:Fired", "text") == "False"
    assert packet.get("exif:Flash/exif:Mode", "text") == "2"
    assert packet.get("xmpRights:WebStatement", "text") == "https://example.com/terms?a=1&b=2"
    assert packet.get("dc:publisher", "text") == "Pub"
    assert packet.get("dc:publisher/Iptc4xmpCore:Role", "text") == "qual"
    assert packet.properties() == [
        "photoshop:City", "photoshop:State", "dc:source", "dc:description", "dc:subject",
        "dc:creator", "Iptc4xmpCore:CreatorContactInfo", "Iptc4xmpExt:LocationCreated",
        "Iptc4xmpExt:LocationShown", "exif:Flash", "xmpRights:WebStatement", "dc:publisher",
    ]


def test_parse_all_rdf_forms() -> None:
    packet = XmpPacket.parse(ALL_FORMS.encode("utf-8"))
    check_all_forms(packet)
    again = roundtrip(packet)
    check_all_forms(again)
    assert again == packet
    raw = packet.serialize()
    assert b'rdf:resource="https://example.com/terms?a=1&amp;b=2"' in raw
    assert b"<rdf:value>Pub</rdf:value>" in raw


def test_set_text_keeps_qualifiers() -> None:
    packet = XmpPacket.parse(ALL_FORMS.encode("utf-8"))
    packet.set("dc:publisher", "text", "Other")
    assert packet.get("dc:publisher", "text") == "Other"
    assert packet.get("dc:publisher/Iptc4xmpCore:Role", "text") == "qual"


@pytest.mark.parametrize(
    "variant",
    ["no-xpacket", "no-xmpmeta", "xml-decl", "trailing-junk", "no-end-nuls", "bom"],
)
def test_wrapper_variants(variant: str) -> None:
    full = ALL_FORMS.encode("utf-8")
    start = full.index(b"<x:xmpmeta")
    end = full.index(b"<?xpacket end")
    meta = full[start:end]
    rdf = meta[meta.index(b"<rdf:RDF") : meta.index(b"</x:xmpmeta>")]
    data = {
        "no-xpacket": meta,
        "no-xmpmeta": rdf,
        "xml-decl": b'<?xml version="1.0" encoding="UTF-8"?>\n' + meta,
        "trailing-junk": full + b"\x00" * 100 + b"\xff\xfe garbage <not xml",
        "no-end-nuls": meta + b"\n\x00\x00\x00",
        "bom": b"\xef\xbb\xbf" + meta,
    }[variant]
    check_all_forms(XmpPacket.parse(data))


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
@pytest.mark.parametrize("bom", [True, False])
def test_utf16_and_utf32(codec: str, bom: bool) -> None:
    text = ALL_FORMS if bom else ALL_FORMS.replace("\ufeff", "")
    data = text.encode(codec)
    if bom:
        data = "\ufeff".encode(codec) + data
    check_all_forms(XmpPacket.parse(data + "\x00\x00".encode(codec)))


def test_bad_utf16_is_corrupt() -> None:
    with pytest.raises(CorruptFileError) as info:
        XmpPacket.parse(b"\xff\xfe<\x00x\x00\x00\xd8<\x00")  # a lone surrogate
    assert info.value.code == "xmp-encoding"


def test_unknown_namespaces_keep_their_prefix() -> None:
    data = wrap(
        '<foo:Plain>v</foo:Plain>\n'
        '<foo:Struct rdf:parseType="Resource"><bar:Deep>d</bar:Deep></foo:Struct>\n'
        '<bar:List><rdf:Seq><rdf:li>1</rdf:li><rdf:li>2</rdf:li></rdf:Seq></bar:List>',
        ns='xmlns:foo="http://example.com/foo/1.0/" xmlns:bar="urn:example:bar#"',
    )
    packet = XmpPacket.parse(data)
    assert packet.properties() == ["foo:Plain", "foo:Struct", "bar:List"]
    raw = packet.serialize().decode()
    assert 'xmlns:foo="http://example.com/foo/1.0/"' in raw
    assert 'xmlns:bar="urn:example:bar#"' in raw
    assert "<foo:Plain>v</foo:Plain>" in raw
    assert "<bar:Deep>d</bar:Deep>" in raw
    again = XmpPacket.parse(raw.encode())
    assert again == packet
    assert again.get("foo:Struct/bar:Deep", "text") == "d"
    assert again.get("bar:List", "seq") == ["1", "2"]
    packet.set("foo:Plain", "text", "changed")  # a prefix the packet knows works in set()
    assert roundtrip(packet).get("foo:Plain", "text") == "changed"


def test_prefix_clashes_are_resolved() -> None:
    data = (
        f'<rdf:RDF xmlns:rdf="{RDF}">'
        '<rdf:Description rdf:about="" xmlns:dc="http://example.com/not-dc/">'
        "<dc:subject>foreign</dc:subject></rdf:Description>"
        '<rdf:Description rdf:about="" xmlns:d="http://purl.org/dc/elements/1.1/">'
        "<d:subject><rdf:Bag><rdf:li>real</rdf:li></rdf:Bag></d:subject></rdf:Description>"
        '<rdf:Description rdf:about="" xmlns:p="http://example.com/one/">'
        "<p:X>1</p:X></rdf:Description>"
        '<rdf:Description rdf:about="" xmlns:p="http://example.com/two/">'
        "<p:X>2</p:X></rdf:Description>"
        "</rdf:RDF>"
    ).encode()
    packet = XmpPacket.parse(data)
    assert packet.get("dc:subject", "bag") == ["real"]  # the standard prefix means the real URI
    assert sorted(packet.properties()) == ["dc1:subject", "dc:subject", "p1:X", "p:X"]
    assert packet.get("dc1:subject", "text") == "foreign"
    assert {packet.get("p:X", "text"), packet.get("p1:X", "text")} == {"1", "2"}
    raw = packet.serialize().decode()
    assert 'xmlns:dc1="http://example.com/not-dc/"' in raw
    assert roundtrip(packet) == packet


def test_non_standard_rdf_prefix_and_default_namespace() -> None:
    data = (
        b'<z:RDF xmlns:z="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        b'<z:Description z:about="">'
        b'<title xmlns="http://purl.org/dc/elements/1.1/"><z:Alt><z:li xml:lang="x-default">T'
        b"</z:li></z:Alt></title>"
        b'<Thing xmlns="http://example.com/dflt/">v</Thing>'
        b"</z:Description></z:RDF>"
    )
    packet = XmpPacket.parse(data)
    assert packet.get("dc:title", "langalt") == "T"
    names = packet.properties()
    assert names[0] == "dc:title"
    assert packet.get(names[1], "text") == "v"
    assert roundtrip(packet) == packet


def test_node_id_references_are_resolved() -> None:
    data = (
        f'<rdf:RDF xmlns:rdf="{RDF}" xmlns:dc="http://purl.org/dc/elements/1.1/"'
        ' xmlns:aux="http://ns.adobe.com/exif/1.0/aux/">'
        '<rdf:Description rdf:nodeID="n0"><aux:Lens>18-55</aux:Lens></rdf:Description>'
        '<rdf:Bag rdf:nodeID="n1"><rdf:li>a</rdf:li><rdf:li>b</rdf:li></rdf:Bag>'
        '<rdf:Description rdf:about="" dc:title="t"><dc:subject rdf:nodeID="n1"/>'
        "</rdf:Description></rdf:RDF>"
    ).encode()
    packet = XmpPacket.parse(data)
    assert packet.get("dc:subject", "bag") == ["a", "b"]
    assert packet.get("aux:Lens", "text") == "18-55"  # an unreferenced node merges in
    assert packet.get("dc:title", "text") == "t"


def test_node_id_cycles_and_blowups_are_bounded() -> None:
    cycle = (
        f'<rdf:RDF xmlns:rdf="{RDF}" xmlns:e="http://e/">'
        '<rdf:Description rdf:nodeID="a"><e:p rdf:nodeID="a"/></rdf:Description>'
        '<rdf:Description rdf:about=""><e:q rdf:nodeID="a"/></rdf:Description></rdf:RDF>'
    ).encode()
    packet = XmpPacket.parse(cycle)
    assert packet.properties() == ["e:q"]
    # each level references the next ten times: 10**12 copies if expanded naively
    levels = "".join(
        f'<rdf:Description rdf:nodeID="n{i}">'
        + "".join(f'<e:p{j} rdf:nodeID="n{i + 1}"/>' for j in range(10))
        + "</rdf:Description>"
        for i in range(12)
    )
    bomb = (
        f'<rdf:RDF xmlns:rdf="{RDF}" xmlns:e="http://e/">{levels}'
        '<rdf:Description rdf:nodeID="n12" e:leaf="x"/>'
        '<rdf:Description rdf:about=""><e:top rdf:nodeID="n0"/></rdf:Description></rdf:RDF>'
    ).encode()
    with pytest.raises(LimitExceededError):
        XmpPacket.parse(bomb)


def test_empty_and_odd_packets() -> None:
    assert XmpPacket.parse(b'<x:xmpmeta xmlns:x="adobe:ns:meta/"/>').properties() == []
    empty = XmpPacket.parse(
        f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="{RDF}"/></x:xmpmeta>'.encode()
    )
    assert empty.properties() == []
    assert XmpPacket.parse(empty.serialize()).properties() == []
    with pytest.raises(CorruptFileError) as info:
        XmpPacket.parse(b"<html><body/></html>")
    assert info.value.code == "xmp-not-rdf"
    packet = XmpPacket.parse(
        wrap(
            "<dc:subject><rdf:Bag/></dc:subject>"
            '<Iptc4xmpExt:LocationShown><rdf:Bag><rdf:li rdf:parseType="Resource"/>'
            "</rdf:Bag></Iptc4xmpExt:LocationShown>"
            '<dc:title><rdf:Alt><rdf:li xml:lang="x-default"/></rdf:Alt></dc:title>'
        )
    )
    assert packet.get("dc:subject", "bag") == []
    assert packet.count("Iptc4xmpExt:LocationShown") == 1
    assert packet.get("dc:title", "langalt") == ""
    assert roundtrip(packet) == packet


def test_malformed_xml_reports_line_and_column() -> None:
    data = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">\n  <rdf:RDF>\n</x:xmpmeta>'
    with pytest.raises(CorruptFileError) as info:
        XmpPacket.parse(data)
    assert info.value.code == "xmp-syntax"
    assert "line 2" in str(info.value) or "line 3" in str(info.value)
    assert "column" in str(info.value)
    assert type(info.value) is CorruptFileError
    with pytest.raises(CorruptFileError) as info:
        XmpPacket.parse(wrap("<dc:title>unclosed"))
    assert info.value.code == "xmp-syntax"


# ---------------------------------------------------------------------------------- hostile

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">
<dc:source>&lol9;</dc:source></rdf:Description></rdf:RDF></x:xmpmeta>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE x:xmpmeta [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">
<dc:source>&xxe;</dc:source></rdf:Description></rdf:RDF></x:xmpmeta>"""

DTD_ONLY = b"""<!DOCTYPE x:xmpmeta SYSTEM "http://example.com/evil.dtd">
<x:xmpmeta xmlns:x="adobe:ns:meta/"/>"""

PARAMETER_ENTITY = b"""<!DOCTYPE x [ <!ENTITY % pe SYSTEM "http://example.com/x.dtd"> %pe; ]>
<x:xmpmeta xmlns:x="adobe:ns:meta/"/>"""


@pytest.mark.parametrize(
    "data",
    [BILLION_LAUGHS, EXTERNAL_ENTITY, DTD_ONLY, PARAMETER_ENTITY],
    ids=["billion-laughs", "external-entity", "dtd", "parameter-entity"],
)
def test_dtd_and_entities_are_refused(data: bytes) -> None:
    with pytest.raises(CorruptFileError) as info:
        XmpPacket.parse(data)
    assert info.value.code in ("xmp-forbidden", "xmp-syntax")
    assert "root:" not in str(info.value)
    # also inside an xpacket wrapper
    with pytest.raises(CorruptFileError):
        XmpPacket.parse(b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>' + data)


def test_undeclared_entity_is_a_syntax_error() -> None:
    with pytest.raises(CorruptFileError) as info:
        XmpPacket.parse(wrap("<dc:source>&nope;</dc:source>"))
    assert info.value.code == "xmp-syntax"


def nested_structs(depth: int) -> bytes:
    opening = '<e:s rdf:parseType="Resource">' * depth
    closing = "</e:s>" * depth
    return wrap(f"{opening}<e:leaf>x</e:leaf>{closing}", ns='xmlns:e="http://e/"')


def test_deep_nesting_is_limited() -> None:
    with pytest.raises(LimitExceededError):
        XmpPacket.parse(nested_structs(DEFAULT_LIMITS.max_xml_depth))
    with pytest.raises(LimitExceededError):
        XmpPacket.parse(nested_structs(200_000))  # stops at the limit, long before the end
    packet = XmpPacket.parse(nested_structs(50))  # 50 + 5 wrapper levels fits in 64
    path = "/".join(["e:s"] * 50) + "/e:leaf"
    assert packet.get(path, "text") == "x"
    deep = nested_structs(300)
    packet = XmpPacket.parse(deep, limits=Limits(max_xml_depth=400))
    assert packet.get("/".join(["e:s"] * 300) + "/e:leaf", "text") == "x"
    assert XmpPacket.parse(packet.serialize(), limits=Limits(max_xml_depth=400)) == packet
    with pytest.raises(LimitExceededError):
        XmpPacket.parse(deep, limits=Limits(max_xml_depth=100))


def test_huge_packet_is_limited() -> None:
    small = Limits(max_xmp_bytes=1000)
    packet = XmpPacket.new()
    packet.set("dc:source", "text", "x" * 2000)
    with pytest.raises(LimitExceededError):
        XmpPacket.parse(packet.serialize(), limits=small)
    with pytest.raises(LimitExceededError):
        XmpPacket.parse(b" " * (DEFAULT_LIMITS.max_xmp_bytes + 1))
    assert XmpPacket.parse(packet.serialize()).get("dc:source", "text") == "x" * 2000


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_random_bytes_raise_only_corrupt_file_errors(data: bytes) -> None:
    try:
        packet = XmpPacket.parse(data)
    except CorruptFileError:
        return
    XmpPacket.parse(packet.serialize())  # whatever parsed serialises to a valid packet


VALID = ALL_FORMS.encode("utf-8")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), min_size=1, max_size=8
    ),
    st.integers(1, len(VALID)),
)
def test_mutated_packets_raise_only_corrupt_file_errors(
    edits: list[tuple[int, int]], cut: int
) -> None:
    data = bytearray(VALID)
    for pos, byte in edits:
        data[pos] = byte
    for candidate in (bytes(data), bytes(data[:cut])):
        try:
            packet = XmpPacket.parse(candidate)
        except CorruptFileError:
            continue
        assert XmpPacket.parse(packet.serialize()) == packet


@settings(max_examples=200, deadline=None)
@given(
    st.text(max_size=50),
    st.lists(st.text(max_size=20), max_size=5),
    st.sampled_from(["text", "langalt"]),
)
def test_any_text_round_trips_minus_forbidden_characters(
    text: str, items: list[str], kind: Any
) -> None:
    packet = XmpPacket.new()
    packet.set("dc:title", kind, text)
    packet.set("Iptc4xmpExt:LocationShown[1]/Iptc4xmpExt:City", "text", text)
    packet.set("dc:subject", "bag", items)
    stored = packet.get("dc:title", kind)
    assert isinstance(stored, str)
    assert all(c in text for c in stored)
    again = roundtrip(packet)
    assert again == packet
    assert again.get("dc:title", kind) == stored


# ---------------------------------------------------------------------- serialisation layout


def test_serialize_layout_and_padding() -> None:
    packet = XmpPacket.new()
    packet.set("dc:source", "text", "x")
    raw = packet.serialize()
    assert raw.startswith(
        b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>\n<x:xmpmeta '
    )
    assert raw.endswith(b'<?xpacket end="w"?>')
    bare = packet.serialize(padding=0)
    assert len(raw) - len(bare) == 2048
    pad = raw[raw.index(b"</x:xmpmeta>\n") + 13 : raw.index(b"<?xpacket end")]
    assert len(pad) == 2048
    assert set(pad) <= {0x20, 0x0A}
    assert all(len(line) <= 100 for line in pad.split(b"\n"))
    assert pad.count(b"\n") >= 20
    assert len(packet.serialize(padding=7)) == len(bare) + 7
    no_wrapper = packet.serialize(xpacket=False)
    assert no_wrapper.startswith(b"<x:xmpmeta") and no_wrapper.endswith(b"</x:xmpmeta>")
    assert XmpPacket.parse(no_wrapper) == packet


def test_serialize_to_size() -> None:
    packet = XmpPacket.new()
    packet.set("dc:description", "langalt", KOREAN)
    natural = len(packet.serialize(padding=0))
    for size in (natural, natural + 1, natural + 99, natural + 100, natural + 5000):
        raw = packet.serialize_to_size(size)
        assert raw is not None
        assert len(raw) == size
        assert XmpPacket.parse(raw) == packet
    assert packet.serialize_to_size(natural - 1) is None


def test_new_is_empty_and_valid() -> None:
    packet = XmpPacket.new()
    assert packet.properties() == []
    assert XmpPacket.parse(packet.serialize()).properties() == []


# ---------------------------------------------------------------------------- Extended XMP

BIG_CAPTION = "한국어 캡션 with ascii & <marks> " * 6000  # ~200 KB of UTF-8
JPEG_MAX_STANDARD = 65504


def big_packet() -> XmpPacket:
    packet = XmpPacket.new()
    packet.set("dc:description", "langalt", BIG_CAPTION)
    packet.set("dc:subject", "bag", ["one", "two"])
    packet.set("photoshop:City", "text", "Seoul")
    packet.set("Iptc4xmpExt:LocationShown[1]/Iptc4xmpExt:City", "text", "Busan")
    return packet


def test_split_extended_small_packet_is_not_split() -> None:
    packet = XmpPacket.new()
    packet.set("photoshop:City", "text", "Seoul")
    assert packet.split_extended(JPEG_MAX_STANDARD) == (packet.serialize(), None, None)


def test_split_extended_moves_the_big_caption() -> None:
    original = big_packet()
    assert len(BIG_CAPTION.encode()) > 200_000
    standard, extended, guid = original.split_extended(JPEG_MAX_STANDARD)
    assert extended is not None and guid is not None
    assert len(standard) <= JPEG_MAX_STANDARD
    assert len(guid) == 32 and guid == guid.upper()
    assert guid == hashlib.md5(extended).hexdigest().upper()
    assert not extended.startswith(b"<?xpacket")  # no wrapper and no padding
    assert extended.rstrip().endswith(b"</x:xmpmeta>")
    std = XmpPacket.parse(standard)
    ext = XmpPacket.parse(extended)
    assert std.get("xmpNote:HasExtendedXMP", "text") == guid
    assert std.get("dc:description", "langalt") is None
    assert ext.get("dc:description", "langalt") == BIG_CAPTION
    assert std.get("photoshop:City", "text") == "Seoul"  # small properties stay
    assert std.get("dc:subject", "bag") == ["one", "two"]
    std.merge(ext)
    assert std == original
    assert "xmpNote:HasExtendedXMP" not in std.properties()
    # splitting again gives the same bytes (deterministic GUID)
    assert original.split_extended(JPEG_MAX_STANDARD) == (standard, extended, guid)


def test_split_extended_standard_keeps_some_padding() -> None:
    standard, _, _ = big_packet().split_extended(JPEG_MAX_STANDARD)
    pad = standard[standard.index(b"</x:xmpmeta>\n") + 13 : standard.index(b"<?xpacket end")]
    assert len(pad) == 2048


def test_split_extended_several_big_properties() -> None:
    packet = XmpPacket.new()
    for i in range(6):
        packet.set(f"pmeta:Big{i}", "text", str(i) * 30_000)
    packet.set("pmeta:Small", "text", "s")
    standard, extended, guid = packet.split_extended(JPEG_MAX_STANDARD)
    assert extended is not None
    assert len(standard) <= JPEG_MAX_STANDARD
    std = XmpPacket.parse(standard)
    assert std.get("xmpNote:HasExtendedXMP", "text") == guid
    assert std.get("pmeta:Small", "text") == "s"
    assert 1 <= sum(std.get(f"pmeta:Big{i}", "text") is not None for i in range(6)) <= 2
    std.merge(XmpPacket.parse(extended))
    assert std == packet


def test_split_extended_drops_a_stale_guid() -> None:
    packet = big_packet()
    packet.set("xmpNote:HasExtendedXMP", "text", "0" * 32)
    small = XmpPacket.new()
    small.set("xmpNote:HasExtendedXMP", "text", "0" * 32)
    assert b"HasExtendedXMP" not in small.split_extended(JPEG_MAX_STANDARD)[0]
    standard, extended, guid = packet.split_extended(JPEG_MAX_STANDARD)
    assert extended is not None
    assert guid != "0" * 32
    assert XmpPacket.parse(standard).get("xmpNote:HasExtendedXMP", "text") == guid


def test_split_extended_too_small() -> None:
    with pytest.raises(InvalidValueError):
        big_packet().split_extended(300)


def test_merge_adds_and_overrides() -> None:
    a = XmpPacket.new()
    a.set("photoshop:City", "text", "A")
    a.set("dc:subject", "bag", ["x"])
    b = XmpPacket.parse(
        wrap('<photoshop:City>B</photoshop:City><foo:Y>y</foo:Y>', ns='xmlns:foo="urn:foo#"')
    )
    a.merge(b)
    assert a.get("photoshop:City", "text") == "B"
    assert a.get("dc:subject", "bag") == ["x"]
    assert a.get("foo:Y", "text") == "y"
    assert b'xmlns:foo="urn:foo#"' in a.serialize()
    b.set("foo:Y", "text", "changed")  # merge copied, not shared
    assert a.get("foo:Y", "text") == "y"


# ---------------------------------------------------------------------------------- corpus


def corpus_xmp_files() -> list[Any]:
    """Corpus files that hold XMP: .xmp sidecars and JPEGs (MANIFEST 'has:' notes)."""
    manifest = corpus_root() / "MANIFEST.tsv"
    if not manifest.is_file():
        return [pytest.param(None, id="corpus-missing")]
    out = []
    for line in manifest.read_text("utf-8").splitlines()[1:]:
        cols = line.split("\t")
        folder = cols[0].split("/")[0]
        if folder == "xmp" or (folder == "jpeg" and "xmp" in cols[7].split("has:")[-1]):
            out.append(pytest.param(cols[0], id=cols[0]))
    return out


def jpeg_xmp(data: bytes) -> tuple[bytes | None, list[bytes]]:
    """The standard XMP packet of a JPEG and its reassembled Extended XMP packets."""
    standard = None
    chunks: dict[bytes, dict[int, bytes]] = {}
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker in (0xD9, 0xDA):
            break
        if marker == 0xFF:
            pos += 1
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        body = data[pos + 4 : pos + 2 + length]
        if marker == 0xE1 and body.startswith(XMP_SIG) and standard is None:
            standard = body[len(XMP_SIG) :]
        elif marker == 0xE1 and body.startswith(EXT_SIG):
            head = len(EXT_SIG)
            guid = body[head : head + 32]
            (offset,) = struct.unpack(">I", body[head + 36 : head + 40])
            chunks.setdefault(guid, {})[offset] = body[head + 40 :]
        pos += 2 + length
    extended = [b"".join(parts[k] for k in sorted(parts)) for parts in chunks.values()]
    return standard, extended


def load_corpus_xmp(corpus: Path, rel: str) -> XmpPacket:
    data = (corpus / rel).read_bytes()
    if rel.startswith("xmp/"):
        return XmpPacket.parse(data)
    standard, extended = jpeg_xmp(data)
    assert standard is not None, "MANIFEST says this JPEG has XMP"
    packet = XmpPacket.parse(standard)
    for ext in extended:
        packet.merge(XmpPacket.parse(ext))
    return packet


def truth_list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


@pytest.mark.corpus
@pytest.mark.parametrize("rel", corpus_xmp_files())
def test_corpus_round_trip_and_truth(
    corpus: Path, truth: dict[str, dict[str, Any]], rel: str | None
) -> None:
    rel = str(need_corpus_file(None if rel is None else Path(rel)))
    packet = load_corpus_xmp(corpus, rel)
    names = packet.properties()
    assert names, "every corpus XMP holds properties"
    again = XmpPacket.parse(packet.serialize())
    assert again.properties() == names
    assert again == packet
    for name in names:
        for kind in ("text", "bag"):  # the two readings of any property
            assert again.get(name, kind) == packet.get(name, kind)
    assert XmpPacket.parse(again.serialize()).serialize() == again.serialize()

    record = truth[rel]
    if "XMP-dc:Description" in record:
        assert packet.get("dc:description", "langalt") == str(record["XMP-dc:Description"])
    if "XMP-dc:Subject" in record:
        assert packet.get("dc:subject", "bag") == truth_list(record["XMP-dc:Subject"])
    if "XMP-photoshop:City" in record:
        assert packet.get("photoshop:City", "text") == str(record["XMP-photoshop:City"])
    if "XMP-xmpNote:HasExtendedXMP" in record:
        assert "xmpNote:HasExtendedXMP" not in names  # reassembled
        assert len(names) > 1


@pytest.mark.corpus
def test_corpus_truth_comparisons_happen(truth: dict[str, dict[str, Any]]) -> None:
    """The truth checks above are not vacuous: enough files carry the compared tags."""
    rels = {p.values[0] for p in corpus_xmp_files()}
    for key in ("XMP-dc:Description", "XMP-dc:Subject", "XMP-photoshop:City"):
        assert sum(key in truth[rel] for rel in rels) >= 5, key


def exiftool_xmp(exe: str, paths: list[Path]) -> list[dict[str, Any]]:
    proc = subprocess.run(
        [exe, "-j", "-G1", "-n", "-struct", "-XMP:all", *map(str, paths)],
        capture_output=True,
        check=False,
    )
    records = json.loads(proc.stdout.decode("utf-8"))
    assert len(records) == len(paths)
    return records  # type: ignore[no-any-return]


def comparable(record: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """ExifTool's tags minus what legitimately changes: the toolkit, rdf:about, and the group
    name ExifTool invents for a namespace whose prefix was taken (compared by tag name)."""
    known: dict[str, Any] = {}
    loose = []
    for key, value in record.items():
        if key in ("SourceFile", "XMP-x:XMPToolkit", "XMP-rdf:About"):
            continue
        group, _, tag = key.partition(":")
        if group.startswith("XMP-tmp") or group[-1:].isdigit():
            loose.append((tag, json.dumps(value, sort_keys=True)))
        else:
            known[key] = value
    return known, sorted(loose)


@pytest.mark.corpus
@pytest.mark.exiftool
def test_exiftool_reads_corpus_round_trips_the_same(
    corpus: Path, exiftool: str, tmp_path: Path
) -> None:
    originals: list[Path] = []
    ours: list[Path] = []
    for param in corpus_xmp_files():
        rel = param.values[0]
        if not rel.startswith("xmp/"):
            continue
        src = corpus / rel
        out = tmp_path / rel.replace("/", "_")
        out.write_bytes(XmpPacket.parse(src.read_bytes()).serialize())
        originals.append(src)
        ours.append(out)
    assert len(originals) >= 10
    before = exiftool_xmp(exiftool, originals)
    after = exiftool_xmp(exiftool, ours)
    for src, a, b in zip(originals, before, after, strict=True):
        assert comparable(a) == comparable(b), src.name


# ----------------------------------------------------------------------------------- interop

PHOTOMETA_VALUES: list[tuple[str, Kind, Any]] = [
    ("Iptc4xmpCore:Location", "text", "경복궁 Gyeongbokgung"),
    ("Iptc4xmpExt:LocationShown[1]/Iptc4xmpExt:Sublocation", "text", "경복궁 Gyeongbokgung"),
    ("photoshop:City", "text", "서울 Seoul"),
    ("Iptc4xmpExt:LocationShown[1]/Iptc4xmpExt:City", "text", "서울 Seoul"),
    ("photoshop:State", "text", "Seoul & Capital <Area>"),
    ("Iptc4xmpExt:LocationShown[1]/Iptc4xmpExt:ProvinceState", "text", "Seoul & Capital <Area>"),
    ("photoshop:Country", "text", "대한민국"),
    ("Iptc4xmpExt:LocationShown[1]/Iptc4xmpExt:CountryName", "text", "대한민국"),
    ("Iptc4xmpCore:CountryCode", "text", "KOR"),
    ("Iptc4xmpExt:LocationShown[1]/Iptc4xmpExt:CountryCode", "text", "KOR"),
    ("Iptc4xmpExt:LocationShown[2]/Iptc4xmpExt:City", "text", "부산 Busan"),
    ("Iptc4xmpExt:LocationCreated[1]/Iptc4xmpExt:CountryCode", "text", "KOR"),
    ("photoshop:Headline", "text", "Spring 🌸 \"quoted\""),
    ("dc:description", "langalt", "A long caption: 한국어 and emoji 😀 & <tags>"),
    ("dc:subject", "bag", ["palace", "궁궐", "spring 🌸"]),
    ("Iptc4xmpExt:PersonInImage", "bag", ["김민준", "Jane Doe"]),
    ("Iptc4xmpExt:Event", "langalt", "Lantern Festival"),
    ("dc:creator", "seq", ["Kim Photographer", "이사진"]),
    ("photoshop:Credit", "text", "Agency"),
    ("dc:rights", "langalt", "© 2024 Kim"),
    ("xmpRights:UsageTerms", "langalt", "Editorial use only"),
    ("dc:title", "langalt", "Title"),
    ("Iptc4xmpCore:CreatorContactInfo/Iptc4xmpCore:CiEmailWork", "text", "kim@example.kr"),
    ("Iptc4xmpCore:CreatorContactInfo/Iptc4xmpCore:CiUrlWork", "text", "https://example.kr"),
    ("pmeta:RestrictionStatus", "text", "restricted"),
    ("pmeta:RestrictionCategory", "text", "privacy"),
    ("pmeta:RestrictionReason", "text", "minors 👶"),
    ("pmeta:RestrictionAuthority", "text", "Family"),
    ("photoshop:DateCreated", "text", "2024-04-05T10:20:30+09:00"),
    ("exif:GPSLatitude", "text", "37,34.7N"),
    ("exif:GPSLongitude", "text", "126,58.6E"),
    ("dc:source", "text", "Archive box 12"),
]


def photometa_packet() -> XmpPacket:
    packet = XmpPacket.new()
    for path, kind, value in PHOTOMETA_VALUES:
        packet.set(path, kind, value)
    return packet


@pytest.mark.exiftool
def test_exiftool_reads_what_we_write(exiftool: str, tmp_path: Path) -> None:
    sidecar = tmp_path / "photo.xmp"
    sidecar.write_bytes(photometa_packet().serialize())
    [record] = exiftool_xmp(exiftool, [sidecar])
    assert "ExifTool:Warning" not in record and "ExifTool:Error" not in record
    expected = {
        "XMP-iptcCore:Location": "경복궁 Gyeongbokgung",
        "XMP-photoshop:City": "서울 Seoul",
        "XMP-photoshop:State": "Seoul & Capital <Area>",
        "XMP-photoshop:Country": "대한민국",
        "XMP-iptcCore:CountryCode": "KOR",
        "XMP-photoshop:Headline": 'Spring 🌸 "quoted"',
        "XMP-dc:Description": "A long caption: 한국어 and emoji 😀 & <tags>",
        "XMP-dc:Subject": ["palace", "궁궐", "spring 🌸"],
        "XMP-iptcExt:PersonInImage": ["김민준", "Jane Doe"],
        "XMP-iptcExt:Event": "Lantern Festival",
        "XMP-dc:Creator": ["Kim Photographer", "이사진"],
        "XMP-photoshop:Credit": "Agency",
        "XMP-dc:Rights": "© 2024 Kim",
        "XMP-xmpRights:UsageTerms": "Editorial use only",
        "XMP-dc:Title": "Title",
        "XMP-pmeta:RestrictionStatus": "restricted",
        "XMP-pmeta:RestrictionCategory": "privacy",
        "XMP-pmeta:RestrictionReason": "minors 👶",
        "XMP-pmeta:RestrictionAuthority": "Family",
        "XMP-photoshop:DateCreated": "2024:04:05 10:20:30+09:00",
        "XMP-dc:Source": "Archive box 12",
        "XMP-iptcCore:CreatorContactInfo": {
            "CiEmailWork": "kim@example.kr",
            "CiUrlWork": "https://example.kr",
        },
        "XMP-iptcExt:LocationShown": [
            {
                "Sublocation": "경복궁 Gyeongbokgung",
                "City": "서울 Seoul",
                "ProvinceState": "Seoul & Capital <Area>",
                "CountryName": "대한민국",
                "CountryCode": "KOR",
            },
            {"City": "부산 Busan"},
        ],
        "XMP-iptcExt:LocationCreated": {"CountryCode": "KOR"},
    }
    for key, value in expected.items():
        assert record.get(key) == value, key
    assert record["XMP-exif:GPSLatitude"] == pytest.approx(37 + 34.7 / 60)
    assert record["XMP-exif:GPSLongitude"] == pytest.approx(126 + 58.6 / 60)


@pytest.mark.exiv2
def test_exiv2_reads_what_we_write(exiv2: str, tmp_path: Path) -> None:
    sidecar = tmp_path / "photo.xmp"
    sidecar.write_bytes(photometa_packet().serialize())
    proc = subprocess.run([exiv2, "-px", str(sidecar)], capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr
    lines: dict[str, str] = {}
    for line in proc.stdout.decode("utf-8").splitlines():
        key, _, rest = line.partition(" ")
        parts = rest.split(None, 2)  # type, count, value
        lines[key] = parts[2] if len(parts) == 3 else ""
    caption = "A long caption: 한국어 and emoji 😀 & <tags>"
    assert lines["Xmp.dc.description"] == f'lang="x-default" {caption}'
    assert lines["Xmp.dc.subject"] == "palace, 궁궐, spring 🌸"
    assert lines["Xmp.dc.creator"] == "Kim Photographer, 이사진"
    assert lines["Xmp.iptcExt.PersonInImage"] == "김민준, Jane Doe"
    assert lines["Xmp.photoshop.City"] == "서울 Seoul"
    assert lines["Xmp.photoshop.State"] == "Seoul & Capital <Area>"
    assert lines["Xmp.iptcExt.LocationShown[1]/Iptc4xmpExt:City"] == "서울 Seoul"
    assert lines["Xmp.iptcExt.LocationShown[2]/Iptc4xmpExt:City"] == "부산 Busan"
    assert lines["Xmp.iptcExt.LocationCreated/Iptc4xmpExt:CountryCode"] == "KOR"
    assert lines["Xmp.iptc.CreatorContactInfo/Iptc4xmpCore:CiEmailWork"] == "kim@example.kr"
    assert lines["Xmp.pmeta.RestrictionReason"] == "minors 👶"
    assert lines["Xmp.photoshop.DateCreated"] == "2024-04-05T10:20:30+09:00"


@pytest.mark.exiftool
def test_we_read_what_exiftool_writes(exiftool: str, tmp_path: Path) -> None:
    out = tmp_path / "out.xmp"
    proc = subprocess.run(
        [
            exiftool, "-o", str(out),
            "-XMP-dc:Subject=a", "-XMP-dc:Subject=b & <c>",
            "-XMP-iptcExt:PersonInImage=김민준", "-XMP-iptcExt:PersonInImage=Jane",
            "-XMP-iptcExt:LocationShownCity=서울",
            "-XMP-iptcExt:LocationCreatedCountryCode=KOR",
            "-XMP-dc:Description=캡션 😀", "-XMP-dc:Description-de=Beschriftung",
            "-XMP-dc:Creator=Kim",
            "-XMP-photoshop:City=Seoul",
            "-XMP-iptcCore:CreatorWorkEmail=kim@example.kr",
            "-XMP-xmpRights:UsageTerms=Editorial",
            "-XMP-dc:Rights=© Kim",
        ],
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    packet = XmpPacket.parse(out.read_bytes())
    assert packet.get("dc:subject", "bag") == ["a", "b & <c>"]
    assert packet.get("Iptc4xmpExt:PersonInImage", "bag") == ["김민준", "Jane"]
    assert packet.get("Iptc4xmpExt:LocationShown[1]/Iptc4xmpExt:City", "text") == "서울"
    assert packet.get("Iptc4xmpExt:LocationCreated/Iptc4xmpExt:CountryCode", "text") == "KOR"
    assert packet.get("Iptc4xmpExt:LocationCreated[1]/Iptc4xmpExt:CountryCode", "text") == "KOR"
    assert packet.get("dc:description", "langalt") == "캡션 😀"
    assert packet.get_langalt("dc:description") == {"x-default": "캡션 😀", "de": "Beschriftung"}
    assert packet.get("dc:creator", "seq") == ["Kim"]
    assert packet.get("photoshop:City", "text") == "Seoul"
    assert packet.get("Iptc4xmpCore:CreatorContactInfo/Iptc4xmpCore:CiEmailWork", "text") == (
        "kim@example.kr"
    )
    assert packet.get("xmpRights:UsageTerms", "langalt") == "Editorial"
    assert packet.get("dc:rights", "langalt") == "© Kim"
    # and our rewrite of it reads the same in ExifTool
    ours = tmp_path / "ours.xmp"
    packet.set("photoshop:City", "text", "Busan")
    ours.write_bytes(packet.serialize())
    before, after = exiftool_xmp(exiftool, [out, ours])
    assert after.pop("XMP-photoshop:City") == "Busan"
    before.pop("XMP-photoshop:City")
    assert comparable(before) == comparable(after)


def jpeg_with_xmp(jpeg: bytes, standard: bytes, extended: bytes | None, guid: str | None) -> bytes:
    """Insert APP1 XMP (and Extended XMP chunks, XMP part 3) right after SOI."""
    segments = [XMP_SIG + standard]
    if extended is not None:
        assert guid is not None
        chunk = 65400
        for offset in range(0, len(extended), chunk):
            segments.append(
                EXT_SIG
                + guid.encode("ascii")
                + struct.pack(">II", len(extended), offset)
                + extended[offset : offset + chunk]
            )
    out = bytearray(jpeg[:2])
    for body in segments:
        assert len(body) + 2 <= 0xFFFF
        out += b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body
    return bytes(out + jpeg[2:])


@pytest.mark.exiftool
def test_exiftool_reassembles_our_extended_xmp(
    exiftool: str, make_jpeg: Callable[..., Path], tmp_path: Path
) -> None:
    jpeg = make_jpeg()
    standard, extended, guid = big_packet().split_extended(JPEG_MAX_STANDARD)
    assert extended is not None
    path = tmp_path / "extended.jpg"
    path.write_bytes(jpeg_with_xmp(jpeg.read_bytes(), standard, extended, guid))
    [record] = exiftool_xmp(exiftool, [path])
    assert "ExifTool:Warning" not in record, record.get("ExifTool:Warning")
    assert record["XMP-xmpNote:HasExtendedXMP"] == guid
    assert record["XMP-dc:Description"] == BIG_CAPTION
    assert record["XMP-photoshop:City"] == "Seoul"
    # and our own reader of the test helper reassembles it too
    std, exts = jpeg_xmp(path.read_bytes())
    assert std is not None and len(exts) == 1
    packet = XmpPacket.parse(std)
    packet.merge(XmpPacket.parse(exts[0]))
    assert packet == big_packet()


def test_shared_empty_containers_stay_empty() -> None:
    """Simple values share one empty fields dict / items list; no edit may write into them."""
    from photometa.codecs import xmp

    packet = XmpPacket.parse(ALL_FORMS.encode("utf-8"))
    packet.set("photoshop:City/photoshop:Sub", "text", "struct replaces a simple value")
    packet.set("dc:source[2]", "text", "a simple value becomes an array")
    packet.set("dc:subject/dc:x", "text", "first item becomes a struct")
    packet.set("dc:description", "langalt", "new")
    packet.merge(XmpPacket.parse(ALL_FORMS.encode("utf-8")))
    packet.set("exif:Flash/exif:Fired", "text", None)
    roundtrip(packet.copy())
    packet.split_extended(600)
    assert xmp._NO_FIELDS == {} and xmp._NO_ITEMS == []


# ------------------------------------------------------------------- the two XML parse paths


def _reference_parse(xml: bytes) -> tuple[Any, list[tuple[str, str]]] | str:
    """What defusedxml's parser (the reference) builds from ``xml``, or its error text."""
    from xml.etree.ElementTree import ParseError, TreeBuilder

    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import DefusedXMLParser

    declared: list[tuple[str, str]] = []

    class Target(TreeBuilder):
        def start_ns(self, prefix: str, uri: str) -> None:
            declared.append((prefix, uri))

    parser = DefusedXMLParser(target=Target(), encoding="utf-8", forbid_dtd=True,
                              forbid_entities=True, forbid_external=True)
    try:
        parser.feed(xml)
        root = parser.close()
    except ParseError as exc:
        return f"syntax {exc.position} {exc.msg}"
    except DefusedXmlException as exc:
        return f"forbidden {exc}"
    return _tree(root), declared


def _tree(el: Any) -> Any:
    if el is None:
        return None
    return (el.tag, dict(el.attrib), el.text or "", el.tail or "", [_tree(c) for c in el])


def _ours(
    parse: Callable[[bytes, int], Any], xml: bytes
) -> tuple[Any, list[tuple[str, str]]] | str:
    from xml.parsers import expat

    from defusedxml import DefusedXmlException

    try:
        root, declared = parse(xml, 64)
    except expat.ExpatError as exc:
        return f"syntax {(exc.lineno, exc.offset)} {exc}"
    except DefusedXmlException as exc:
        return f"forbidden {exc}"
    return _tree(root), declared


PARSE_CASES = [
    ALL_FORMS.encode("utf-8"),
    wrap("<dc:source>a<!-- <!DOCTYPE x> -->b<?pi x?>c<![CDATA[<d>&amp;]]>&amp;&#65;</dc:source>"),
    wrap('<dc:source xml:lang="en">t</dc:source><e:x xmlns:e="http://e/" xmlns="http://d/"><y/></e:x>',
         ns='xmlns:u="urn:x:&amp;"'),
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"/>',
    b'<a xmlns="urn:d"><b xmlns="">t</b>tail</a>',
    b"<plain>no namespace</plain>",
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/">\n  <rdf:RDF>\n</x:xmpmeta>',
    wrap("<dc:title>unclosed"),
    wrap("<dc:source>&nope;</dc:source>"),
    b"<a>" + b" " * 3000,
    b"<a></a>\x0c   ",
    b"",
    BILLION_LAUGHS, EXTERNAL_ENTITY, DTD_ONLY, PARAMETER_ENTITY,
]


@pytest.mark.parametrize("xml", PARSE_CASES)
def test_both_parse_paths_build_what_defusedxml_builds(xml: bytes) -> None:
    from photometa.codecs import xmp

    expected = _reference_parse(xml)
    assert _ours(xmp._parse_xml, xml) == expected
    assert _ours(xmp._parse_checked, xml) == expected
    plain = xmp._parse_plain(xml, 64)
    if plain is not None:
        assert (_tree(plain[0]), plain[1]) == expected


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    edits=st.lists(st.tuples(st.integers(0, 1 << 16), st.sampled_from(b'<>/&;"= x:\n\x00')),
                   max_size=4),
    cut=st.integers(0, 1 << 16),
)
def test_parse_paths_agree_on_damaged_packets(edits: list[tuple[int, int]], cut: int) -> None:
    from photometa.codecs import xmp

    data = bytearray(xmp._strip_wrapper(ALL_FORMS.encode("utf-8")))
    for at, value in edits:
        data[at % len(data)] = value
    xml = bytes(data[: len(data) - cut % 50])
    expected = _reference_parse(xml)
    assert _ours(xmp._parse_xml, xml) == expected
    assert _ours(xmp._parse_checked, xml) == expected


def test_errors_and_limits_are_those_of_the_whole_packet() -> None:
    """Trailing padding is skipped when parsing; an error still names the place in the
    packet as given, and the limits bite on the fast path too."""
    from photometa.codecs import xmp

    padded = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">' + b"\n" + b" " * 2000 + b"\n  \n"
    with pytest.raises(CorruptFileError) as info:
        XmpPacket.parse(padded + b'<?xpacket end="w"?>')
    expected = _reference_parse(padded)
    assert isinstance(expected, str) and expected.startswith("syntax (4, 0)")
    assert "at line 4, column 0: no element found" in str(info.value)
    assert info.value.offset == len(padded)
    # exactly at the depth limit is fine on either path, one deeper is refused
    limits = Limits(max_xml_depth=8)
    ok = b"<a>" * 8 + b"</a>" * 8
    assert xmp._parse_plain(ok, 8) is not None
    assert _tree(xmp._parse_xml(ok, 8)[0]) == _tree(xmp._parse_checked(ok, 8)[0])
    deep = b"<a>" * 9 + b"</a>" * 9
    assert xmp._parse_plain(deep, 8) is None
    with pytest.raises(LimitExceededError):
        XmpPacket.parse(deep, limits=limits)
    # a DOCTYPE mentioned in a comment only sends the packet down the checked path
    commented = wrap("<!-- <!DOCTYPE x> --><dc:source>s</dc:source>")
    assert xmp._parse_plain(commented, 64) is None
    assert XmpPacket.parse(commented).get("dc:source", "text") == "s"


def test_no_private_elementtree_hooks() -> None:
    """The C parse gets namespace declarations through the documented ``start_ns`` target
    method, not ``XMLParser._setevents``."""
    import inspect

    from photometa.codecs import xmp

    assert "_setevents" not in inspect.getsource(xmp)
    # comments and processing instructions go through the C builder's own handlers
    xml = wrap("<dc:source>a<!-- c -->b<?pi x?>c</dc:source>")
    stripped = xmp._strip_wrapper(xml)
    plain = xmp._parse_plain(stripped, 64)
    assert plain is not None
    assert (_tree(plain[0]), plain[1]) == _reference_parse(stripped)
    assert XmpPacket.parse(xml).get("dc:source", "text") == "abc"


# ------------------------------------------------------- the tree readers: _Reader and the fast one


def _reader_results(xml: bytes) -> tuple[Any, Any]:
    """(what _Reader reads, what _read_rdf reads) from the rdf:RDF of ``xml``."""
    from photometa.codecs import xmp

    root, _declared = xmp._parse_checked(xml, 64)
    assert root is not None
    rdf = xmp._find_rdf(root)
    assert rdf is not None
    reader = xmp._Reader(rdf, len(xml) + 1000, has_node_ids=False)
    return (reader.props, reader.about), xmp._read_rdf(rdf)


def _dump(node: Any) -> Any:
    return (node.kind, node.value, node.lang, node.uri,
            [(k, _dump(v)) for k, v in node.fields.items()], [_dump(v) for v in node.items])


READER_CASES = [
    ALL_FORMS,
    # typed nodes, several nodes in one property, an array among them, rdf:value attributes
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="' + RDF + '"'
    ' xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:e="http://e/">'
    '<rdf:Description about="old" e:a="1" xml:lang="en" rdf:ID="i" plain="p">'
    '<dc:a><e:T e:f="v"><dc:b>t</dc:b></e:T></dc:a>'
    '<dc:b xml:lang="de"><rdf:Description/><rdf:Bag><rdf:li>1</rdf:li></rdf:Bag></dc:b>'
    '<dc:c xml:lang="fr"><rdf:Seq><rdf:li xml:lang="x">a</rdf:li><e:no>skip</e:no></rdf:Seq></dc:c>'
    '<dc:d rdf:value="v" e:q="w">  text  </dc:d><dc:e e:q="w">   </dc:e>'
    '<dc:f rdf:resource="r" e:q="ignored"/><dc:g rdf:parseType="Literal">a<b>c</b>d</dc:g>'
    '<dc:h rdf:parseType="Resource" xml:lang="it" e:x="1"><e:y>2</e:y>tail</dc:h>'
    '<plain>skipped</plain><dc:a>again</dc:a>'
    '<dc:i xml:space="preserve" rdf:ID="z"> s </dc:i><dc:j><plain e:k="v"/></dc:j>'
    '</rdf:Description><rdf:Bag rdf:about="later"><dc:k>top bag</dc:k></rdf:Bag>'
    "</rdf:RDF></x:xmpmeta>",
]


@pytest.mark.parametrize("text", READER_CASES)
def test_fast_reader_reads_what_reader_reads(text: str) -> None:
    (props, about), (fast_props, fast_about) = _reader_results(text.encode("utf-8"))
    assert fast_about == about
    assert [(k, _dump(v)) for k, v in fast_props.items()] == [
        (k, _dump(v)) for k, v in props.items()
    ]


_XML_NAMES = st.sampled_from(
    ["dc:a", "dc:b", "e:c", "rdf:value", "rdf:type", "rdf:li", "rdf:Description", "rdf:Bag",
     "rdf:Seq", "rdf:Alt", "e:T", "plain"]
)
_XML_ATTRS = st.lists(
    st.sampled_from(
        ['dc:a="1"', 'e:c="2"', 'rdf:value="3"', 'xml:lang="en"', 'xml:lang="x-default"',
         'rdf:parseType="Resource"', 'rdf:parseType="Literal"', 'rdf:resource="r"',
         'rdf:about="ab"', 'about="old"', 'plain="p"', 'xml:space="preserve"', 'rdf:ID="i"']
    ),
    max_size=3,
    unique_by=lambda a: a.split("=")[0],
)
_XML_TEXT = st.sampled_from(["", "t", " ", "\n  ", "a&amp;b", "<![CDATA[<x>]]>", "x<!--c-->y"])


@st.composite
def _rdf_element(draw: st.DrawFn, depth: int = 0) -> str:
    name = draw(_XML_NAMES)
    attrs = "".join(" " + a for a in draw(_XML_ATTRS))
    if depth >= 5 or draw(st.booleans()):
        return f"<{name}{attrs}>{draw(_XML_TEXT)}</{name}>"
    children = draw(st.lists(_rdf_element(depth + 1), min_size=1, max_size=3))
    return f"<{name}{attrs}>{draw(_XML_TEXT)}{''.join(children)}{draw(_XML_TEXT)}</{name}>"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tops=st.lists(_rdf_element(), min_size=1, max_size=3), lead=_XML_TEXT)
def test_fast_reader_agrees_on_any_rdf(tops: list[str], lead: str) -> None:
    xml = (
        f'<rdf:RDF xmlns:rdf="{RDF}" xmlns:dc="http://purl.org/dc/elements/1.1/"'
        f' xmlns:e="http://e/">{lead}{"".join(tops)}</rdf:RDF>'
    ).encode()
    (props, about), (fast_props, fast_about) = _reader_results(xml)
    assert fast_about == about
    assert [(k, _dump(v)) for k, v in fast_props.items()] == [
        (k, _dump(v)) for k, v in props.items()
    ]


def test_deep_limits_and_node_ids_keep_the_reader() -> None:
    """Packets with rdf:nodeID, and parses allowed to nest past the fast reader's depth, are
    read by _Reader: same values, same errors."""
    from photometa.codecs import xmp

    body = "".join(f"<dc:d{i}>" for i in range(150)) + "x" + "".join(
        f"</dc:d{i}>" for i in reversed(range(150))
    )
    deep = wrap(f"<dc:top>{body}</dc:top>")
    with pytest.raises(LimitExceededError):
        XmpPacket.parse(deep)
    generous = Limits(max_xml_depth=xmp._FAST_MAX_DEPTH + 100)
    packet = XmpPacket.parse(deep, limits=generous)
    assert packet.count("dc:top") == 1
    shared = wrap(
        '<dc:a rdf:nodeID="n"/><dc:b rdf:nodeID="n"/>'
        '</rdf:Description><rdf:Description rdf:nodeID="n" dc:c="v"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/">'
    )
    packet = XmpPacket.parse(shared)
    assert packet.get("dc:a/dc:c", "text") == "v" and packet.get("dc:b/dc:c", "text") == "v"


# -- update(), serialize_fitted() and the write fast paths -----------------------------------------

_UPDATE_CASES: list[tuple[str, Kind, Any]] = [
    ("dc:title", "langalt", "New title"),
    ("dc:title", "langalt", "Old title"),
    ("dc:subject", "bag", ["a", "b"]),
    ("dc:subject", "bag", []),
    ("dc:subject", "seq", None),
    ("photoshop:City", "text", "Seoul"),
    ("photoshop:City", "text", None),
    ("photoshop:Country", "text", None),
    ("Iptc4xmpExt:LocationShown[1]/Iptc4xmpExt:City", "text", "Busan"),
    ("Iptc4xmpExt:LocationShown[2]/Iptc4xmpExt:City", "text", "Daegu"),
    ("Iptc4xmpExt:LocationShown[1]/Iptc4xmpExt:City", "text", None),
    ("Iptc4xmpCore:CreatorContactInfo/Iptc4xmpCore:CiUrlWork", "text", "https://e.org"),
    ("Iptc4xmpCore:CreatorContactInfo/Iptc4xmpCore:CiEmailWork", "text", None),
    ("Iptc4xmpExt:LocationCreated[2]/Iptc4xmpExt:City", "text", "x"),
    ("Iptc4xmpExt:LocationShown[4]/Iptc4xmpExt:City", "text", "x"),
    ("zz:Unknown", "text", "x"),
    ("dc:title/zz:Unknown", "text", "x"),
    ("dc:", "text", "x"),
    ("dc:title", "nope", "x"),  # type: ignore[list-item]
    ("dc:title", "text", 5),
    ("dc:subject", "bag", "not a list"),
    ("dc:description", "text", "ctl\x00chars\x01 é\r"),
]


def _outcome(action: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return "ok", action()
    except InvalidValueError as err:
        return "error", (str(err), err.code, err.field)


@pytest.mark.parametrize("with_city", [False, True])
def test_update_is_get_then_set(with_city: bool) -> None:
    """update() changes, returns and raises exactly what get() compared and set() did."""
    city = "<photoshop:City>Seoul</photoshop:City>" if with_city else ""
    data = wrap(
        "<dc:title><rdf:Alt><rdf:li xml:lang='x-default'>Old title</rdf:li>"
        "<rdf:li xml:lang='de'>Alter Titel</rdf:li></rdf:Alt></dc:title>"
        "<dc:subject><rdf:Bag><rdf:li>a</rdf:li></rdf:Bag></dc:subject>"
        "<Iptc4xmpExt:LocationShown><rdf:Bag><rdf:li rdf:parseType='Resource'>"
        "<Iptc4xmpExt:City>Busan</Iptc4xmpExt:City></rdf:li></rdf:Bag>"
        "</Iptc4xmpExt:LocationShown>" + city
    )
    by_update = XmpPacket.parse(data)
    by_get_set = XmpPacket.parse(data)
    for path, kind, value in _UPDATE_CASES:

        def get_then_set(path: str = path, kind: Kind = kind, value: Any = value) -> bool:
            current = by_get_set.get(path, kind)
            if current == value or (current in (None, []) and value in (None, [])):
                return False
            by_get_set.set(path, kind, value)
            return True

        expected = _outcome(get_then_set)
        def update(path: str = path, kind: Kind = kind, value: Any = value) -> bool:
            return by_update.update(path, kind, value)

        got = _outcome(update)
        assert got == expected, (path, kind, value)
        assert by_update.serialize() == by_get_set.serialize(), (path, kind, value)


def test_failed_set_deep_in_an_existing_struct_leaves_the_packet_as_it_was() -> None:
    packet = XmpPacket.parse(wrap(
        "<Iptc4xmpExt:LocationShown><rdf:Bag><rdf:li rdf:parseType='Resource'>"
        "<Iptc4xmpExt:City>Busan</Iptc4xmpExt:City></rdf:li></rdf:Bag>"
        "</Iptc4xmpExt:LocationShown>"
    ))
    before = packet.serialize()
    with pytest.raises(InvalidValueError) as err:
        packet.set("Iptc4xmpExt:LocationShown[1]/Iptc4xmpExt:Sub/zz:Unknown", "text", "x")
    assert err.value.code == "xmp-prefix"
    assert packet.serialize() == before
    with pytest.raises(InvalidValueError):
        packet.update("Iptc4xmpExt:LocationShown[3]/Iptc4xmpExt:City", "text", "x")
    assert packet.serialize() == before


@pytest.mark.parametrize("size", [None, 0, 100, 3000, 5000])
def test_serialize_fitted_is_serialize_to_size_else_serialize(size: int | None) -> None:
    packet = XmpPacket.new()
    packet.set("dc:title", "langalt", "A title")
    packet.set("dc:subject", "bag", ["x", "y"])
    packet.set("Iptc4xmpCore:CreatorContactInfo/Iptc4xmpCore:CiUrlWork", "text", "u")
    fitted = packet.serialize_to_size(size) if size is not None else None
    expected = fitted if fitted is not None else packet.serialize(padding=512)
    assert packet.serialize_fitted(size, padding=512) == expected


def test_serialize_of_every_node_form_is_unchanged() -> None:
    """The inlined forms (plain fields, items with and without xml:lang) and the general ones
    (qualifiers, rdf:resource, empty structs and arrays) write as they always did."""
    packet = XmpPacket.parse(wrap(
        "<dc:title><rdf:Alt><rdf:li xml:lang='x-default'>T &amp; t</rdf:li></rdf:Alt></dc:title>"
        "<dc:subject><rdf:Bag><rdf:li>a</rdf:li><rdf:li rdf:resource='http://r'/>"
        "<rdf:li rdf:parseType='Resource'><rdf:value>q</rdf:value>"
        "<xmpidq:Scheme xmlns:xmpidq='http://ns.adobe.com/xmp/Identifier/qual/1.0/'>s"
        "</xmpidq:Scheme></rdf:li></rdf:Bag></dc:subject>"
        "<dc:creator><rdf:Seq/></dc:creator>"
        "<photoshop:Credit xml:lang='en'>C</photoshop:Credit>"
        "<photoshop:Source rdf:resource='http://s'/>"
        "<Iptc4xmpCore:CreatorContactInfo rdf:parseType='Resource'>"
        "<Iptc4xmpCore:CiUrlWork>u</Iptc4xmpCore:CiUrlWork>"
        "<Iptc4xmpCore:CiEmailWork xml:lang='en'>e</Iptc4xmpCore:CiEmailWork>"
        "<Iptc4xmpCore:CiTelWork rdf:resource='tel:1'/>"
        "<Iptc4xmpCore:CiAdrCity rdf:parseType='Resource'/>"
        "</Iptc4xmpCore:CreatorContactInfo>"
        "<my:Thing xmlns:my='http://example.org/my/'>m</my:Thing>",
    ))
    text = packet.serialize(xpacket=False).decode()
    assert ('\n   <dc:title>\n    <rdf:Alt>\n     <rdf:li xml:lang="x-default">T &amp; t'
            "</rdf:li>") in text
    assert "\n     <rdf:li>a</rdf:li>\n     <rdf:li rdf:resource=\"http://r\"/>\n" in text
    assert "\n     <rdf:li rdf:parseType=\"Resource\">\n      <rdf:value>q</rdf:value>\n" in text
    assert "\n   <dc:creator>\n    <rdf:Seq/>\n   </dc:creator>\n" in text
    assert "\n   <photoshop:Credit xml:lang=\"en\">C</photoshop:Credit>\n" in text
    assert "\n   <photoshop:Source rdf:resource=\"http://s\"/>\n" in text
    assert "\n    <Iptc4xmpCore:CiUrlWork>u</Iptc4xmpCore:CiUrlWork>\n" in text
    assert "\n    <Iptc4xmpCore:CiEmailWork xml:lang=\"en\">e</Iptc4xmpCore:CiEmailWork>\n" in text
    assert "\n    <Iptc4xmpCore:CiTelWork rdf:resource=\"tel:1\"/>\n" in text
    assert "\n    <Iptc4xmpCore:CiAdrCity rdf:parseType=\"Resource\"/>\n" in text
    assert "\n   <my:Thing>m</my:Thing>\n" in text
    assert 'xmlns:my="http://example.org/my/"' in text
    assert XmpPacket.parse(packet.serialize()) == packet


@pytest.mark.parametrize("value", ["plain", "tab\tand\nnewline", "del\x7f", "ctl\x01\x00", "é"])
def test_set_removes_exactly_what_xml_cannot_carry(value: str) -> None:
    packet = XmpPacket.new()
    packet.set("dc:source", "text", value)
    expected = "".join(c for c in value if c in "\t\n\r" or c >= " ")
    assert packet.get("dc:source", "text") == expected
