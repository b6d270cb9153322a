"""The shortcuts of the XMP codec against the general code they stand for."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from photometa.codecs import xmp
from photometa.codecs.xmp import XmpPacket
from photometa.errors import CorruptFileError

_MARKER = b"<?xpacket end"


def _first_marker(data: bytes, start: int) -> int:
    """The plain forward search ``_packet_end`` stands for."""
    found = re.compile(re.escape(_MARKER)).search(data, start)
    return found.start() if found else -1


_PIECES = [b" " * 7, b"\n", b"<a>", b"</a>", b"<", b"?>", _MARKER, b'<?xpacket end="w"?>', b"x",
           b"<?xpacket", b" end", b"\x00"]


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(st.sampled_from(_PIECES), max_size=12), start=st.integers(0, 40))
def test_packet_end_finds_the_first_marker(parts: list[bytes], start: int) -> None:
    data = b"".join(parts)
    assert xmp._packet_end(data, start) == _first_marker(data, start)


@pytest.mark.parametrize("data", [
    b"",
    _MARKER,
    b"<x/>" + b" " * 3000 + b'<?xpacket end="w"?>',
    b"<x>" + _MARKER + b"</x>" + b" " * 50 + _MARKER,  # an earlier marker, inside the body
    b"<x/>" + _MARKER + b" " * 50 + _MARKER,  # an earlier one right where the body ends
    b"no markup at all " + _MARKER,
    b"<x/>" + b" " * 50,
])
def test_packet_end_on_chosen_cases(data: bytes) -> None:
    for start in range(0, min(len(data), 12) + 1):
        assert xmp._packet_end(data, start) == _first_marker(data, start)


_BODY = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:source>s</dc:source></rdf:Description>'
    "</rdf:RDF></x:xmpmeta>"
)


def _packet(body: str, padding: bytes) -> bytes:
    head = '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
    return (head + body).encode("utf-8") + padding + b'<?xpacket end="w"?>'


def _untrimmed_error(data: bytes) -> tuple[str, int | None]:
    """The error of parsing the whole XML, padding included: what the packet reports."""
    whole = xmp._strip_wrapper(data)
    with pytest.raises(xmp.expat.ExpatError) as info:
        xmp._parse_xml(whole, 64)
    exc = info.value
    return (f"malformed XMP at line {exc.lineno}, column {exc.offset}: {exc}",
            xmp._error_offset(whole, exc.lineno, exc.offset))


@pytest.mark.parametrize("padding", [b" " * 200 + b"\n", b"\n \t\r\n"])
@pytest.mark.parametrize("control", [b"\v", b"\f"])
@pytest.mark.parametrize("where", ["tail-end", "tail-middle", "body", "body-and-tail"])
def test_vertical_tab_and_form_feed_fail_the_packet_wherever_they_are(
    padding: bytes, control: bytes, where: str
) -> None:
    body = _BODY
    if where.startswith("body"):
        body = body.replace("<dc:source>s", "<dc:source>s\v" if control == b"\v" else
                            "<dc:source>s\f")
    if where == "tail-end" or where == "body-and-tail":
        padding = padding + control
    elif where == "tail-middle":
        padding = padding[:1] + control + padding[1:]
    data = _packet(body, padding)
    with pytest.raises(CorruptFileError) as info:
        XmpPacket.parse(data)
    assert (info.value.msg, info.value.offset) == _untrimmed_error(data)
    assert info.value.code == "xmp-syntax"


def test_padding_alone_is_trimmed() -> None:
    packet = XmpPacket.parse(_packet(_BODY, b" \t\r\n" * 500))
    assert packet.get("dc:source", "text") == "s"


_GET_DATA = (
    b'<?xml version="1.0"?><x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" '
    b'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:my="urn:my:ns/" '
    b'xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" my:Plain="p" photoshop:City="c">'
    b"<dc:subject><rdf:Bag><rdf:li>a</rdf:li><rdf:li>b</rdf:li></rdf:Bag></dc:subject>"
    b"<my:Struct rdf:parseType='Resource'><my:Field>f</my:Field></my:Struct>"
    b"</rdf:Description></rdf:RDF></x:xmpmeta>"
)

_GET_PATHS = ["photoshop:City", "photoshop:State", "dc:subject", "my:Plain", "my:Struct",
              "my:Missing", "zz:Unknown", "dc:subject[1]", "my:Struct/my:Field"]


@pytest.mark.parametrize("path", _GET_PATHS)
@pytest.mark.parametrize("kind", ["text", "langalt", "bag", "seq", "alt"])
def test_get_finds_what_the_walk_finds(path: str, kind: Any) -> None:
    packet = XmpPacket.parse(_GET_DATA)
    chain = packet._walk(path, create=False)
    node = xmp._slot_node(chain[-1]) if chain else None
    assert packet._find(path) is node
    expected: Any = None
    if node is not None:
        if kind in ("text", "langalt"):
            expected = node.text()
        elif node.kind in xmp._ARRAY_KINDS:
            expected = [t for t in (item.text() for item in node.items) if t is not None]
        else:
            expected = None if node.text() is None else [node.text()]
    assert packet.get(path, kind) == expected


@pytest.mark.parametrize("path", _GET_PATHS)
@pytest.mark.parametrize("value", ["c", "new", None, ["a", "b"]])
def test_update_on_the_packets_own_prefixes_is_get_then_set(path: str, value: Any) -> None:
    kind: Any = "bag" if isinstance(value, list) else "text"
    by_update, by_get_set = XmpPacket.parse(_GET_DATA), XmpPacket.parse(_GET_DATA)

    def outcome(action: Any) -> Any:
        try:
            return "ok", action()
        except Exception as err:
            return "error", type(err), str(err)

    def get_then_set() -> bool:
        current = by_get_set.get(path, kind)
        if current == value or (current in (None, []) and value in (None, [])):
            return False
        by_get_set.set(path, kind, value)
        return True

    assert outcome(lambda: by_update.update(path, kind, value)) == outcome(get_then_set)
    assert by_update.serialize() == by_get_set.serialize()
