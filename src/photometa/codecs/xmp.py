"""XMP packets: parse any RDF/XML serialisation, edit properties by path, serialise losslessly.

The packet is held as a small tree of properties keyed by namespace URI, so prefixes in the
input do not matter for reading. Everything the caller does not touch survives a
parse -> serialize round trip with the same meaning: unknown namespaces (written back with the
prefix the input used), structs, nested arrays, ``xml:lang`` and general qualifiers
(``rdf:value`` form), ``rdf:resource`` URI values.

Paths name a property as ``prefix:Name``; struct fields follow ``/``; ``[n]`` (1-based) picks an
item of an array, usually an array of structs::

    dc:description
    Iptc4xmpCore:CreatorContactInfo/Iptc4xmpCore:CiEmailWork
    Iptc4xmpExt:LocationShown[1]/Iptc4xmpExt:City
    Iptc4xmpExt:LocationCreated/Iptc4xmpExt:City        (a single struct; "[1]" is accepted too)

Prefixes are those of :data:`NAMESPACES`, or, for namespaces photometa does not know, the prefix
the parsed packet used (see :meth:`XmpPacket.properties`).

What is not kept: the ``x:xmptk`` toolkit string, comments, whitespace between elements, the
split into several ``rdf:Description`` elements, attribute-versus-element spelling of simple
properties, ``rdf:nodeID`` identity (node references are resolved into copies, as ExifTool does),
``rdf:parseType="Literal"`` markup (its text is kept), non-namespaced (invalid) property elements.

Values handed to :meth:`XmpPacket.set` lose the characters XML 1.0 cannot carry (C0 controls other
than tab, LF and CR, U+FFFE, U+FFFF and lone surrogates): they are removed, not replaced, so a
trailing NUL from a C string simply disappears. CR is kept (written as ``&#xD;``).
"""

from __future__ import annotations

import hashlib
import re
from collections import deque
from collections.abc import Iterator
from functools import lru_cache
from typing import Final, Literal, overload
from xml.etree.ElementTree import Element, ParseError, TreeBuilder, XMLParser
from xml.parsers import expat

from defusedxml import (
    DefusedXmlException,
    DTDForbidden,
    EntitiesForbidden,
    ExternalReferenceForbidden,
)

from .._binary import DEFAULT_LIMITS, Limits, check_limit
from ..errors import CorruptFileError, InvalidValueError, LimitExceededError

__all__ = ["NAMESPACES", "PHOTOMETA_NS", "Kind", "XmpPacket"]

Kind = Literal["text", "langalt", "bag", "seq", "alt"]

PHOTOMETA_NS: Final = "https://ns.photometa.org/xmp/1.0/"
"""photometa's own XMP namespace (prefix ``pmeta``). It never changes."""

_RDF: Final = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_XML: Final = "http://www.w3.org/XML/1998/namespace"
_META: Final = "adobe:ns:meta/"
_EXT: Final = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
_CORE: Final = "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/"
_PLUS: Final = "http://ns.useplus.org/ldf/xmp/1.0/"
_MM: Final = "http://ns.adobe.com/xap/1.0/mm/"
_NOTE: Final = "http://ns.adobe.com/xmp/note/"

NAMESPACES: Final[dict[str, str]] = {
    "x": _META,
    "rdf": _RDF,
    "xml": _XML,
    "dc": "http://purl.org/dc/elements/1.1/",
    "photoshop": "http://ns.adobe.com/photoshop/1.0/",
    "Iptc4xmpCore": _CORE,
    "Iptc4xmpExt": _EXT,
    "xmpRights": "http://ns.adobe.com/xap/1.0/rights/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "xmpMM": _MM,
    "exif": "http://ns.adobe.com/exif/1.0/",
    "exifEX": "http://cipa.jp/exif/1.0/",
    "tiff": "http://ns.adobe.com/tiff/1.0/",
    "aux": "http://ns.adobe.com/exif/1.0/aux/",
    "xmpNote": _NOTE,
    "plus": _PLUS,
    "pmeta": PHOTOMETA_NS,
    "stRef": "http://ns.adobe.com/xap/1.0/sType/ResourceRef#",
    "stEvt": "http://ns.adobe.com/xap/1.0/sType/ResourceEvent#",
    "stDim": "http://ns.adobe.com/xap/1.0/sType/Dimensions#",
    "stArea": "http://ns.adobe.com/xmp/sType/Area#",
    "mwg-rs": "http://www.metadataworkinggroup.com/schemas/regions/",
    "mwg-kw": "http://www.metadataworkinggroup.com/schemas/keywords/",
    "xmpDM": "http://ns.adobe.com/xmp/1.0/DynamicMedia/",
    "xmpidq": "http://ns.adobe.com/xmp/Identifier/qual/1.0/",
    "pdf": "http://ns.adobe.com/pdf/1.3/",
    "crs": "http://ns.adobe.com/camera-raw-settings/1.0/",
    "lr": "http://ns.adobe.com/lightroom/1.0/",
}
"""Namespace prefix -> URI for the prefixes photometa writes and accepts in paths. Do not mutate."""

_STD_PREFIX: Final[dict[str, str]] = {uri: prefix for prefix, uri in NAMESPACES.items()}

# Clark names ("{uri}local") used by the parser and serializer.
_RDF_RDF: Final = f"{{{_RDF}}}RDF"
_RDF_DESC: Final = f"{{{_RDF}}}Description"
_RDF_LI: Final = f"{{{_RDF}}}li"
_RDF_VALUE: Final = f"{{{_RDF}}}value"
_RDF_ABOUT: Final = f"{{{_RDF}}}about"
_RDF_NODEID: Final = f"{{{_RDF}}}nodeID"
_RDF_RESOURCE: Final = f"{{{_RDF}}}resource"
_RDF_PARSETYPE: Final = f"{{{_RDF}}}parseType"
_XML_LANG: Final = f"{{{_XML}}}lang"
_RDF_TYPE: Final = f"{{{_RDF}}}type"
_XML_ATTR: Final = f"{{{_XML}}}"  # xml:lang, xml:space ... are not properties
_ARRAY_TAGS: Final[dict[str, str]] = {
    f"{{{_RDF}}}Bag": "bag",
    f"{{{_RDF}}}Seq": "seq",
    f"{{{_RDF}}}Alt": "alt",
}
_ARRAY_KINDS: Final = frozenset(("bag", "seq", "alt"))
_ARRAY_WRITE: Final[dict[str, str]] = {"bag": "rdf:Bag", "seq": "rdf:Seq", "alt": "rdf:Alt"}
# rdf: attributes that are RDF/XML syntax, not properties.
_RDF_SYNTAX_ATTRS: Final = frozenset(
    f"{{{_RDF}}}{n}"
    for n in (
        "about", "ID", "nodeID", "bagID", "parseType", "resource", "datatype",
        "aboutEach", "aboutEachPrefix",
    )
)
_HAS_EXTENDED: Final = f"{{{_NOTE}}}HasExtendedXMP"
_KINDS: Final = frozenset(("text", "langalt", "bag", "seq", "alt"))

# Properties whose value is an array of structs (container kind); a path step naming one of them
# without "[n]" means its first item. Everything else spelled without an index is a plain struct.
_STRUCT_ARRAYS: Final[dict[str, str]] = {
    **{
        f"{{{_EXT}}}{n}": "bag"
        for n in (
            "LocationShown", "PersonInImageWDetails", "ArtworkOrObject", "RegistryId",
            "AboutCvTerm", "ProductInImage", "Contributor", "ImageRegion", "Genre",
            "ShownEvent", "DopesheetLink", "EmbdEncRightsExpr", "LinkedEncRightsExpr",
            "SupplyChainSource", "PersonHeard", "VideoShotType", "CircaDateCreated",
        )
    },
    **{
        f"{{{_PLUS}}}{n}": "seq"
        for n in ("Licensee", "ImageCreator", "CopyrightOwner", "ImageSupplier", "Licensor")
    },
    f"{{{_MM}}}History": "seq",
    f"{{{_MM}}}Manifest": "seq",
    f"{{{_MM}}}Ingredients": "bag",
    f"{{{_MM}}}Pantry": "bag",
}
# Single structs that must not become arrays when a path gives them an index above 1.
_SINGLE_STRUCTS: Final = frozenset(
    (
        f"{{{_EXT}}}LocationCreated",
        f"{{{_CORE}}}CreatorContactInfo",
        f"{{{_MM}}}DerivedFrom",
        f"{{{_MM}}}ManagedFrom",
        f"{{{NAMESPACES['exif']}}}Flash",
    )
)

_PACKET_ID: Final = "W5M0MpCehiHzreSzNTczkc9d"
_HEADER: Final = f'<?xpacket begin="\ufeff" id="{_PACKET_ID}"?>\n'
_TRAILER: Final = b'<?xpacket end="w"?>'
_PAD_LINE: Final = b" " * 99 + b"\n"

# Characters XML 1.0 cannot carry (removed from values on set()).
_INVALID_XML_CHARS: Final = re.compile(
    "[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)
# XML 1.0 (fifth edition) NameStartChar / NameChar, without ":" (NCName).
_START_CHARS = (
    "A-Z_a-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u02ff\u0370-\u037d\u037f-\u1fff\u200c-\u200d"
    "\u2070-\u218f\u2c00-\u2fef\u3001-\ud7ff\uf900-\ufdcf\ufdf0-\ufffd\U00010000-\U000effff"
)
_NAME_START = f"[{_START_CHARS}]"
_NAME_CHARS = f"[{_START_CHARS}\\-.0-9\u00b7\u0300-\u036f\u203f-\u2040]*"
_STEP_RE: Final = re.compile(
    rf"({_NAME_START}{_NAME_CHARS}):({_NAME_START}{_NAME_CHARS})(?:\[([0-9]+)\])?\Z"
)
_PREFIX_RE: Final = re.compile(rf"{_NAME_START}{_NAME_CHARS}\Z")

_Step = tuple[str, str, "int | None"]  # prefix, local name, 1-based index or None


_NO_FIELDS: Final[dict[str, _Node]] = {}  # never mutated: only struct nodes get a dict
_NO_ITEMS: Final[list[_Node]] = []  # never mutated: only array nodes get a list


class _Node:
    """One XMP value: a simple value, a struct, or a bag/seq/alt array."""

    __slots__ = ("fields", "items", "kind", "lang", "uri", "value")

    def __init__(self, kind: str, value: str = "", lang: str | None = None) -> None:
        self.kind = kind  # "simple", "struct", "bag", "seq", "alt"
        self.value = value  # simple values only
        self.lang = lang  # xml:lang qualifier
        self.uri = False  # a simple value written as rdf:resource
        # struct fields by Clark name, in order / array items; shared empty ones otherwise
        self.fields: dict[str, _Node] = {} if kind == "struct" else _NO_FIELDS
        self.items: list[_Node] = [] if kind in _ARRAY_KINDS else _NO_ITEMS

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Node):
            return NotImplemented
        return (
            self.kind == other.kind
            and self.value == other.value
            and self.lang == other.lang
            and self.uri == other.uri
            and self.fields == other.fields
            and self.items == other.items
        )

    __hash__ = None  # type: ignore[assignment]

    def copy(self) -> _Node:
        """A deep copy."""
        new = _Node(self.kind, self.value, self.lang)
        new.uri = self.uri
        if self.fields:
            new.fields = {k: v.copy() for k, v in self.fields.items()}
        if self.items:
            new.items = [v.copy() for v in self.items]
        return new

    def text(self) -> str | None:
        """The text this node stands for: its value, the rdf:value of a qualified value,
        the x-default (else first) item of an array; None for a struct or an empty array."""
        if self.kind == "simple":
            return self.value
        if self.kind == "struct":
            inner = self.fields.get(_RDF_VALUE)
            return inner.text() if inner is not None else None
        if not self.items:
            return None
        for item in self.items:
            if item.lang is not None and item.lang.lower() == "x-default":
                return item.text()
        return self.items[0].text()


def _simple(value: str, lang: str | None = None) -> _Node:
    return _Node("simple", value, lang)


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


_MAX_ELEMENTS: Final = 100_000

# Expanded names ("uri}local" from expat) -> Clark names ("{uri}local"), shared by every parse
# (bounded: hostile packets cannot grow it without end).
_CLARK_CACHE: dict[str, str] = {}
_CLARK_CACHE_MAX: Final = 4096


def _forbid_doctype(name: str, sysid: str | None, pubid: str | None, internal: bool) -> None:
    raise DTDForbidden(name, sysid, pubid)


def _forbid_entity(name: str, is_parameter: bool, value: str | None, base: str | None,
                   sysid: str | None, pubid: str | None, notation: str | None) -> None:
    raise EntitiesForbidden(name, value, base, sysid, pubid, notation)


def _forbid_unparsed_entity(name: str, base: str | None, sysid: str | None, pubid: str | None,
                            notation: str | None) -> None:  # pragma: no cover - expat < 1.2
    raise EntitiesForbidden(name, None, base, sysid, pubid, notation)


def _forbid_external(context: str, base: str | None, sysid: str | None,
                     pubid: str | None) -> int:  # pragma: no cover - the DTD is refused first
    raise ExternalReferenceForbidden(context, base, sysid, pubid)


def _parse_xml(xml: bytes, max_depth: int) -> tuple[Element | None, list[tuple[str, str]]]:
    """Parse into an ElementTree tree: (root, namespace declarations in document order).

    DTDs, entity declarations and external references raise defusedxml's exceptions, as its
    parser does; elements nested deeper than ``max_depth`` (or more than ``_MAX_ELEMENTS`` of
    them) raise ``LimitExceededError``; malformed XML raises ``expat.ExpatError``.

    XML that cannot hold any of these (no ``<!DOCTYPE``, few enough tags, not too deep) is
    parsed by ElementTree's C parser and tree builder in one go; everything else by expat with a
    Python callback per event that enforces each rule where it is broken, so that the error is
    the one that comes first in the packet.
    """
    fast = _parse_plain(xml, max_depth)
    return fast if fast is not None else _parse_checked(xml, max_depth)


class _Builder(TreeBuilder):
    """ElementTree's tree builder, also keeping the namespace declarations in document order.

    ``start_ns`` is the documented hook of ``XMLParser`` targets; ``start``, ``end``, ``data``
    and ``close`` stay the C builder's own, so the parser calls no Python code for them.
    """

    declared: list[tuple[str, str]]  # set by the caller (no Python __init__: cheaper)

    def start_ns(self, prefix: str, uri: str) -> None:
        self.declared.append((prefix, uri))


def _parse_plain(
    xml: bytes, max_depth: int
) -> tuple[Element | None, list[tuple[str, str]]] | None:
    """The C parse, or None when the packet needs the checked one."""
    if b"<!DOCTYPE" in xml:  # no DTD means no entity declaration or external reference
        return None
    tags = xml.count(b"<")  # at least one per element
    if tags > _MAX_ELEMENTS:
        return None
    builder = _Builder()
    builder.declared = []
    parser = XMLParser(target=builder, encoding="utf-8")
    try:
        parser.feed(xml)
        root: Element | None = parser.close()
    except ParseError:
        return None
    if root is not None and tags > max_depth:  # else no element can lie deeper
        level = [root]
        for _ in range(max_depth):
            level = [child for el in level for child in el]
            if not level:
                break
        else:
            return None
    return root, builder.declared


def _parse_checked(xml: bytes, max_depth: int) -> tuple[Element | None, list[tuple[str, str]]]:
    """Expat with the defences of defusedxml and the element limits checked as they come."""
    parser = expat.ParserCreate("utf-8", "}")
    builder = TreeBuilder()
    stack: list[str] = []
    declared: list[tuple[str, str]] = []
    cache = _CLARK_CACHE
    elements = 0

    def clark(name: str) -> str:
        fixed = cache.get(name)
        if fixed is None:
            fixed = "{" + name if "}" in name else name
            if len(cache) < _CLARK_CACHE_MAX:
                cache[name] = fixed
        return fixed

    def start(tag: str, attrs: dict[str, str]) -> None:
        nonlocal elements
        if len(stack) >= max_depth:
            raise LimitExceededError(
                f"XMP element nesting deeper than the limit of {max_depth}", code="limit"
            )
        elements += 1
        if elements > _MAX_ELEMENTS:
            raise LimitExceededError(f"XMP holds more than {_MAX_ELEMENTS} elements", code="limit")
        name = clark(tag)
        stack.append(name)
        builder.start(name, {clark(k): v for k, v in attrs.items()})

    def end(tag: str) -> None:
        builder.end(stack.pop())

    def data(text: str) -> None:
        if stack:
            builder.data(text)

    def start_ns(prefix: str | None, uri: str | None) -> None:
        declared.append((prefix or "", uri or ""))

    parser.buffer_text = True
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = data
    parser.StartNamespaceDeclHandler = start_ns
    parser.StartDoctypeDeclHandler = _forbid_doctype
    parser.EntityDeclHandler = _forbid_entity
    parser.UnparsedEntityDeclHandler = _forbid_unparsed_entity
    parser.ExternalEntityRefHandler = _forbid_external
    parser.Parse(xml, False)
    parser.Parse(b"", True)
    root: Element | None = builder.close()
    return root, declared


def _all_text(el: Element) -> str:
    """The character data directly inside ``el`` (around its children too), joined."""
    text = el.text or ""
    for child in el:
        if child.tail:
            text += child.tail
    return text


_UTF_BOMS: Final = (
    (b"\x00\x00\xfe\xff", "utf-32-be", 4),
    (b"\xff\xfe\x00\x00", "utf-32-le", 4),
    (b"\x00\x00\x00<", "utf-32-be", 0),
    (b"<\x00\x00\x00", "utf-32-le", 0),
    (b"\xfe\xff", "utf-16-be", 2),
    (b"\xff\xfe", "utf-16-le", 2),
    (b"\x00<", "utf-16-be", 0),
    (b"<\x00", "utf-16-le", 0),
)
_UTF_FIRST_BYTES: Final = (b"\x00", b"\xfe", b"\xff")  # how every _UTF_BOMS entry starts but "<\0"
_LEADING_PI: Final = re.compile(rb"[\s\x00]*(?:\xef\xbb\xbf)?[\s\x00]*<\?(?:xpacket|xml)[\s?]")


def _to_utf8(data: bytes) -> bytes:
    """Re-encode a UTF-16/32 packet (detected by BOM or the zero-byte pattern) as UTF-8."""
    if data[:1] not in _UTF_FIRST_BYTES and data[1:2] != b"\x00":
        return data  # the common case: no BOM and no zero bytes where UTF-16/32 has them
    head = data[:4]
    for magic, codec, skip in _UTF_BOMS:  # noqa: B007 - used after the loop
        if head.startswith(magic):
            break
    else:
        return data
    unit = 4 if "32" in codec else 2
    body = data[skip:]
    end = body.find("<?xpacket end".encode(codec))
    while end >= 0 and end % unit:
        end = body.find("<?xpacket end".encode(codec), end + 1)
    if end >= 0:
        body = body[:end]
    body = body[: len(body) - len(body) % unit]
    try:
        return body.decode(codec).encode("utf-8")
    except UnicodeError as exc:
        raise CorruptFileError(
            f"XMP packet is not valid {codec.upper()}", code="xmp-encoding"
        ) from exc


_PACKET_END: Final = b"<?xpacket end"


def _packet_end(data: bytes, start: int) -> int:
    """Where the first ``<?xpacket end`` at or after ``start`` begins, or -1.

    Looked for from the end, then only up to the last ``<`` ahead of the one found there: a
    forward search crawls through the padding byte by byte, and the padding holds no ``<``.
    """
    last = data.rfind(_PACKET_END, start)
    if last < 0:
        return -1
    before = data.rfind(b"<", start, last)  # an earlier marker starts at or before it
    first = data.find(_PACKET_END, start, before + len(_PACKET_END)) if before >= 0 else -1
    return last if first < 0 else first


_BLANK_BUT_NEWLINES: Final = bytes(10 if b == 10 else 32 for b in range(256))


def _strip_wrapper(data: bytes) -> bytes:
    """Blank out leading <?xpacket ...?> / <?xml ...?> and cut at <?xpacket end (offsets kept)."""
    pos = 0
    prefix_end = 0
    while True:
        m = _LEADING_PI.match(data, pos)
        if m is None:
            break
        close = data.find(b"?>", m.end() - 1)
        if close < 0:
            break
        pos = prefix_end = close + 2
    end = _packet_end(data, prefix_end)
    body = data[prefix_end:end] if end >= 0 else data[prefix_end:].rstrip(b"\x00 \t\r\n")
    if prefix_end:
        return data[:prefix_end].translate(_BLANK_BUT_NEWLINES) + body
    return body


def _error_offset(data: bytes, line: int, column: int) -> int | None:
    """Byte offset of expat's (1-based line, 0-based column) in data."""
    start = 0
    for _ in range(line - 1):
        start = data.find(b"\n", start) + 1
        if start == 0:
            return None
    return start + column


class _Reader:
    """Turns the element tree of an rdf:RDF element into XMP property nodes."""

    def __init__(self, rdf: Element, budget: int, *, has_node_ids: bool) -> None:
        self.budget = budget
        self.props: dict[str, _Node] = {}
        self.about = ""
        # rdf:nodeID is not XMP, but writers (f-spot, ...) use it: every node element that
        # carries the same nodeID is one node, the union of their properties (as ExifTool reads it).
        self.node_ids: dict[str, list[Element]] = {}
        self.used_ids: set[str] = set()
        self.resolving: list[str] = []
        regular: list[Element] = []
        top_ids: list[Element] = []
        for el in rdf:
            node_id = el.attrib.get(_RDF_NODEID)
            if node_id is not None and _RDF_ABOUT not in el.attrib:
                top_ids.append(el)
                self.node_ids.setdefault(node_id, []).append(el)
            else:
                regular.append(el)
        if has_node_ids:
            self._collect_node_ids(regular + top_ids)
        for el in regular:
            # old writers (ExifTool 4, early Adobe) spelled it without the rdf: prefix
            about = el.attrib.get(_RDF_ABOUT) or el.attrib.get("about")
            if about and not self.about:
                self.about = about
            self._description(el, self.props)
        for el in top_ids:
            if el.attrib[_RDF_NODEID] not in self.used_ids and el.tag == _RDF_DESC:
                self._description(el, self.props)  # an unreferenced node: its properties are ours

    def _collect_node_ids(self, tops: list[Element]) -> None:
        todo = [child for el in tops for child in el]
        while todo:
            el = todo.pop()
            node_id = el.attrib.get(_RDF_NODEID)
            if node_id is not None and (el.tag == _RDF_DESC or el.tag in _ARRAY_TAGS):
                self.node_ids.setdefault(node_id, []).append(el)
            todo.extend(el)

    def _count(self) -> None:
        self.budget -= 1
        if self.budget < 0:
            raise LimitExceededError(
                "XMP expands into more nodes than its size allows (rdf:nodeID loop?)",
                code="limit",
            )

    def _description(self, el: Element, fields: dict[str, _Node]) -> None:
        """Add the properties of a node element (attributes and child elements) to fields."""
        for name, value in el.attrib.items():
            if name[0] == "{" and name not in _RDF_SYNTAX_ATTRS and not name.startswith(_XML_ATTR):
                self._count()
                fields[name] = _simple(value)
        for child in el:
            if child.tag[0] == "{":
                fields[child.tag] = self._value(child)

    def _value(self, el: Element) -> _Node:
        """The value of a property element (or rdf:li)."""
        self._count()
        attrib = el.attrib
        if not attrib and not len(el):  # the common case: plain text
            return _simple(el.text or "")
        lang = attrib.get(_XML_LANG)
        parse_type = attrib.get(_RDF_PARSETYPE)
        children = list(el)
        if parse_type == "Resource":
            node = _Node("struct", lang=lang)
            self._description(el, node.fields)
            return node
        if parse_type is not None:  # "Literal" (or unknown): keep the text content
            return _simple("".join(_itertext(el)), lang)
        if children:
            if len(children) == 1:
                child = children[0]
                kind = _ARRAY_TAGS.get(child.tag)
                if kind is not None:
                    return self._array(child, kind, lang)
                node = _Node("struct", lang=lang)
                self._node_element(child, node.fields)
                return node
            node = _Node("struct", lang=lang)  # invalid RDF (several nodes): keep them all
            for child in children:
                self._node_element(child, node.fields)
            return node
        resource = attrib.get(_RDF_RESOURCE)
        if resource is not None:
            node = _simple(resource, lang)
            node.uri = True
            return node
        node_id = attrib.get(_RDF_NODEID)
        if node_id is not None and node_id in self.node_ids:
            return self._resolve(node_id, lang)
        text = el.text or ""  # no children here
        props = [
            k for k in attrib
            if k[0] == "{" and k not in _RDF_SYNTAX_ATTRS and not k.startswith(_XML_ATTR)
        ]
        if props:
            node = _Node("struct", lang=lang)
            if text.strip():
                node.fields[_RDF_VALUE] = _simple(text)
            self._description(el, node.fields)
            return node
        return _simple(text, lang)

    def _node_element(self, el: Element, fields: dict[str, _Node]) -> None:
        """A node element inside a property: rdf:Description or a typed node (or an array)."""
        kind = _ARRAY_TAGS.get(el.tag)
        if kind is not None:  # an array among other nodes (invalid RDF): keep it under rdf:value
            fields[_RDF_VALUE] = self._array(el, kind, None)
            return
        node_id = el.attrib.get(_RDF_NODEID)
        if node_id is None or node_id not in self.node_ids or node_id in self.resolving:
            self._node_content(el, fields)
            return
        self.used_ids.add(node_id)
        self.resolving.append(node_id)
        try:
            for same in self.node_ids[node_id]:
                if _ARRAY_TAGS.get(same.tag) is None:
                    self._node_content(same, fields)
        finally:
            self.resolving.pop()

    def _node_content(self, el: Element, fields: dict[str, _Node]) -> None:
        if el.tag != _RDF_DESC and el.tag[0] == "{":  # a typed node: its type is a property
            typed = _simple(el.tag[1:].replace("}", "", 1))
            typed.uri = True
            fields[_RDF_TYPE] = typed
        self._description(el, fields)

    def _array(self, el: Element, kind: str, lang: str | None) -> _Node:
        node = _Node(kind, lang=lang)
        items = node.items
        for li in el:
            if li.tag == _RDF_LI:
                items.append(self._value(li))
        return node

    def _resolve(self, node_id: str, lang: str | None) -> _Node:
        """The value of an empty property element that names a node by rdf:nodeID."""
        self.used_ids.add(node_id)
        first = self.node_ids[node_id][0]
        kind = _ARRAY_TAGS.get(first.tag)
        if node_id in self.resolving:  # a cycle: stop with an empty node
            return _Node(kind or "struct", lang=lang)
        if kind is None:
            node = _Node("struct", lang=lang)
            self._node_element(first, node.fields)
            return node
        self.resolving.append(node_id)
        try:
            return self._array(first, kind, lang)
        finally:
            self.resolving.pop()


# Packets without rdf:nodeID (nearly all) are read by the functions below instead of _Reader:
# the same rules without node references, with the usual forms (a property or an rdf:li with
# only text) handled in the loops rather than by a call each. Their recursion is shallower than
# _Reader's; packets allowed to nest deeper than this go to _Reader, so that running out of
# stack is reported the same way.
_FAST_MAX_DEPTH: Final = 100

# Clark attribute name -> whether the attribute is a property (shared, bounded)
_PROPERTY_ATTRS: dict[str, bool] = {}


def _is_property_attr(name: str) -> bool:
    known = _PROPERTY_ATTRS.get(name)
    if known is None:
        known = (
            name[0] == "{" and name not in _RDF_SYNTAX_ATTRS and not name.startswith(_XML_ATTR)
        )
        if len(_PROPERTY_ATTRS) < _CLARK_CACHE_MAX:
            _PROPERTY_ATTRS[name] = known
    return known


def _read_rdf(rdf: Element) -> tuple[dict[str, _Node], str]:
    """The properties and rdf:about of an rdf:RDF element without rdf:nodeID anywhere."""
    props: dict[str, _Node] = {}
    about = ""
    for el in rdf:
        # old writers (ExifTool 4, early Adobe) spelled it without the rdf: prefix
        found = el.get(_RDF_ABOUT) or el.get("about")
        if found and not about:
            about = found
        _read_fields(el, props)
    return props, about


def _read_fields(el: Element, fields: dict[str, _Node]) -> None:
    """Add the properties of a node element (attributes and child elements) to fields."""
    known = _PROPERTY_ATTRS
    for name, value in el.items():
        flag = known.get(name)
        if flag is None:
            flag = _is_property_attr(name)
        if flag:
            fields[name] = _Node("simple", value)
    for child in el:
        tag = child.tag
        if tag[0] == "{":
            if len(child) or child.keys():
                fields[tag] = _read_value(child)
            else:  # plain text
                fields[tag] = _Node("simple", child.text or "")


def _read_value(el: Element) -> _Node:
    """The value of a property element (or rdf:li) with attributes or children."""
    lang = el.get(_XML_LANG)
    parse_type = el.get(_RDF_PARSETYPE)
    if parse_type == "Resource":
        node = _Node("struct", "", lang)
        _read_fields(el, node.fields)
        return node
    if parse_type is not None:  # "Literal" (or unknown): keep the text content
        return _Node("simple", "".join(_itertext(el)), lang)
    count = len(el)
    if count == 1:
        child = el[0]
        kind = _ARRAY_TAGS.get(child.tag)
        if kind is not None:
            return _read_array(child, kind, lang)
        node = _Node("struct", "", lang)
        _read_node(child, node.fields)
        return node
    if count:  # invalid RDF (several nodes): keep them all
        node = _Node("struct", "", lang)
        for child in el:
            _read_node(child, node.fields)
        return node
    resource = el.get(_RDF_RESOURCE)
    if resource is not None:
        node = _Node("simple", resource, lang)
        node.uri = True
        return node
    text = el.text or ""
    known = _PROPERTY_ATTRS
    for name in el.keys():  # noqa: SIM118 - an Element, not a dict
        flag = known.get(name)
        if flag is None:
            flag = _is_property_attr(name)
        if flag:
            break
    else:
        return _Node("simple", text, lang)
    node = _Node("struct", "", lang)
    if text.strip():
        node.fields[_RDF_VALUE] = _Node("simple", text)
    _read_fields(el, node.fields)
    return node


def _read_node(el: Element, fields: dict[str, _Node]) -> None:
    """A node element inside a property: rdf:Description or a typed node (or an array)."""
    tag = el.tag
    kind = _ARRAY_TAGS.get(tag)
    if kind is not None:  # an array among other nodes (invalid RDF): keep it under rdf:value
        fields[_RDF_VALUE] = _read_array(el, kind, None)
        return
    if tag != _RDF_DESC and tag[0] == "{":  # a typed node: its type is a property
        typed = _Node("simple", tag[1:].replace("}", "", 1))
        typed.uri = True
        fields[_RDF_TYPE] = typed
    _read_fields(el, fields)


def _read_array(el: Element, kind: str, lang: str | None) -> _Node:
    node = _Node(kind, "", lang)
    items = node.items
    for li in el:
        if li.tag == _RDF_LI:
            if len(li) or li.keys():
                items.append(_read_value(li))
            else:  # plain text
                items.append(_Node("simple", li.text or ""))
    return node


def _itertext(el: Element) -> Iterator[str]:
    yield _all_text(el)
    for child in el:
        yield from _itertext(child)


def _find_rdf(root: Element) -> Element | None:
    todo = deque([root])  # breadth first: the outermost rdf:RDF
    while todo:
        el = todo.popleft()
        if el.tag == _RDF_RDF:
            return el
        todo.extend(el)
    return None


# --------------------------------------------------------------------------------------------
# Serialising
# --------------------------------------------------------------------------------------------


def _esc_text(s: str) -> str:
    if "&" in s:
        s = s.replace("&", "&amp;")
    if "<" in s:
        s = s.replace("<", "&lt;")
    if ">" in s:
        s = s.replace(">", "&gt;")
    if "\r" in s:
        s = s.replace("\r", "&#xD;")
    return s


def _esc_attr(s: str) -> str:
    s = _esc_text(s)
    if '"' in s:
        s = s.replace('"', "&quot;")
    if "\t" in s:
        s = s.replace("\t", "&#x9;")
    if "\n" in s:
        s = s.replace("\n", "&#xA;")
    return s


def _padding(n: int) -> bytes:
    return (_PAD_LINE * (n // len(_PAD_LINE) + 1))[:n]


def _clean(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise InvalidValueError(
            f"XMP value must be a string, not {type(value).__name__}", code="xmp-value", field=path
        )
    if value.isascii() and value.isprintable():  # " " to "~": nothing to remove
        return value
    return _INVALID_XML_CHARS.sub("", value)


@lru_cache(maxsize=2048)
def _split_path(path: str) -> tuple[_Step, ...]:
    steps: list[_Step] = []
    for part in path.split("/"):
        m = _STEP_RE.match(part)
        if m is None:
            raise InvalidValueError(
                f"bad XMP path {path!r}: expected prefix:Name or prefix:Name[n] steps",
                code="xmp-path",
                field=path,
            )
        index = int(m.group(3)) if m.group(3) is not None else None
        if index is not None and index < 1:
            raise InvalidValueError(
                f"bad XMP path {path!r}: indexes start at 1", code="xmp-path", field=path
            )
        steps.append((m.group(1), m.group(2), index))
    return tuple(steps)


# A path step with its Clark name worked out when the prefix is a standard one (else None: the
# packet's own declarations resolve it): (name, prefix, local name, index).
_Resolved = tuple["str | None", str, str, "int | None"]


@lru_cache(maxsize=2048)
def _resolved_path(path: str) -> tuple[_Resolved, ...]:
    """The steps of ``path`` (raising as :func:`_split_path` does), standard names resolved."""
    out: list[_Resolved] = []
    for prefix, local, index in _split_path(path):
        uri = NAMESPACES.get(prefix)
        out.append((f"{{{uri}}}{local}" if uri else None, prefix, local, index))
    return tuple(out)


# Clark name in a standard namespace -> (URI, qualified name), shared by every packet (bounded)
_STD_QNAMES: dict[str, tuple[str, str]] = {}

_Container = dict[str, _Node] | list[_Node]
_Names = set[str]  # ("set" is a method name inside XmpPacket)
_Slot = tuple[_Container, "str | int"]


def _slot_node(slot: _Slot) -> _Node | None:
    container, key = slot
    if isinstance(container, dict):
        assert isinstance(key, str)
        return container.get(key)
    assert isinstance(key, int)
    return container[key] if key < len(container) else None


def _slot_put(slot: _Slot, node: _Node) -> None:
    container, key = slot
    if isinstance(container, dict):
        assert isinstance(key, str)
        container[key] = node
    else:
        assert isinstance(key, int)
        if key == len(container):
            container.append(node)
        else:
            container[key] = node


def _slot_delete(slot: _Slot) -> None:
    container, key = slot
    if isinstance(container, dict):
        assert isinstance(key, str)
        container.pop(key, None)
    else:
        assert isinstance(key, int)
        if key < len(container):
            del container[key]


class XmpPacket:
    """An XMP packet: a set of properties of one resource, editable by path.

    Build one with :meth:`parse` or :meth:`new`; read with :meth:`get`, change with :meth:`set`,
    write with :meth:`serialize`. Two packets compare equal when they hold the same properties
    and values (prefixes, order of properties and ``rdf:about`` aside).
    """

    __slots__ = ("_about", "_prefix_of", "_props", "_uri_of")

    def __init__(self) -> None:
        self._props: dict[str, _Node] = {}
        self._about = ""
        self._prefix_of: dict[str, str] = {}  # namespace URI -> prefix, for unknown namespaces
        self._uri_of: dict[str, str] = {}  # the reverse

    # ----------------------------------------------------------------------------- building

    @classmethod
    def new(cls) -> XmpPacket:
        """An empty packet."""
        return cls()

    @classmethod
    def parse(cls, data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> XmpPacket:
        """Read an XMP packet (with or without ``<?xpacket?>`` and ``x:xmpmeta``; UTF-8/16/32).

        Raises:
            LimitExceededError: the packet is larger than ``limits.max_xmp_bytes``, nests deeper
                than ``limits.max_xml_depth``, or expands (through ``rdf:nodeID``) past its size.
            CorruptFileError: malformed XML (code ``xmp-syntax``, with line and column), a DTD or
                entity declaration (``xmp-forbidden``), bad encoding (``xmp-encoding``), or XML
                that is not XMP (``xmp-not-rdf``).
        """
        data = bytes(data)
        check_limit(len(data), limits.max_xmp_bytes, "XMP packet size")
        utf8 = _to_utf8(data)
        xml = _strip_wrapper(utf8)
        try:
            # The padding after the root element means nothing; skip it, unless the XML turns
            # out to be malformed: then the error names the place the whole packet gives.
            # rstrip() takes VT and FF too, which are no XML whitespace: trimmed, a packet that
            # ends in them would parse (one that holds them anywhere else fails either way)
            trimmed = xml.rstrip()
            cut = len(trimmed)
            if cut < len(xml) and (xml.find(b"\v", cut) >= 0 or xml.find(b"\f", cut) >= 0):
                trimmed = xml
            try:
                root, declared = _parse_xml(trimmed, limits.max_xml_depth)
            except expat.ExpatError:
                if len(trimmed) == len(xml):
                    raise
                root, declared = _parse_xml(xml, limits.max_xml_depth)
        except expat.ExpatError as exc:
            line, column = exc.lineno, exc.offset
            offset = _error_offset(xml, line, column) if utf8 is data else None
            raise CorruptFileError(
                f"malformed XMP at line {line}, column {column}: {exc}",
                code="xmp-syntax",
                offset=offset,
            ) from None
        except DefusedXmlException as exc:
            raise CorruptFileError(
                f"XMP contains a forbidden construct: {exc}", code="xmp-forbidden"
            ) from None
        except (ValueError, LookupError) as exc:
            if isinstance(exc, CorruptFileError):
                raise
            raise CorruptFileError(f"unreadable XMP: {exc}", code="xmp-syntax") from None
        packet = cls()
        if root is None:
            raise CorruptFileError("XMP packet holds no XML element", code="xmp-syntax")
        rdf = _find_rdf(root)
        if rdf is None:
            if root.tag.startswith(f"{{{_META}}}"):
                return packet  # an x:xmpmeta without rdf:RDF: no properties
            raise CorruptFileError("XML is not XMP: no rdf:RDF element", code="xmp-not-rdf")
        try:
            if b"nodeID" in trimmed or limits.max_xml_depth > _FAST_MAX_DEPTH:
                reader = _Reader(rdf, len(xml) + 1000, has_node_ids=b"nodeID" in trimmed)
                packet._props = reader.props
                packet._about = reader.about
            else:
                packet._props, packet._about = _read_rdf(rdf)
        except RecursionError:
            raise LimitExceededError("XMP nests too deeply", code="limit") from None
        for prefix, uri in declared:
            packet._adopt(uri, prefix)
        return packet

    def _adopt(self, uri: str, hint: str) -> None:
        """Give an unknown namespace URI a prefix, preferring hint (the input's own prefix)."""
        if not uri or uri in _STD_PREFIX or uri in self._prefix_of:
            return
        usable = bool(hint) and _PREFIX_RE.match(hint) and not hint.lower().startswith("xml")
        base = hint if usable else "ns"
        candidate = base
        n = 0
        while candidate in NAMESPACES or candidate in self._uri_of:
            n += 1
            candidate = f"{base}{n}"
        self._prefix_of[uri] = candidate
        self._uri_of[candidate] = uri

    def copy(self) -> XmpPacket:
        """A deep copy."""
        new = XmpPacket()
        new._props = {k: v.copy() for k, v in self._props.items()}
        new._about = self._about
        new._prefix_of = dict(self._prefix_of)
        new._uri_of = dict(self._uri_of)
        return new

    def merge(self, other: XmpPacket) -> None:
        """Add ``other``'s properties (``other`` wins where both have one), e.g. to reassemble
        Extended XMP. ``xmpNote:HasExtendedXMP`` is dropped: the result is one whole packet."""
        for uri, prefix in other._prefix_of.items():
            self._adopt(uri, prefix)
        for name, node in other._props.items():
            self._props[name] = node.copy()
        self._props.pop(_HAS_EXTENDED, None)
        if not self._about:
            self._about = other._about

    # ------------------------------------------------------------------------------ paths

    def _clark(self, prefix: str, local: str, path: str, strict: bool) -> str | None:
        uri = NAMESPACES.get(prefix) or self._uri_of.get(prefix)
        if uri is None:
            if strict:
                raise InvalidValueError(
                    f"unknown XMP namespace prefix {prefix!r} in {path!r}",
                    code="xmp-prefix",
                    field=path,
                )
            return None
        return f"{{{uri}}}{local}"

    def _name(self, clark: str) -> str:
        uri, _, local = clark[1:].rpartition("}")
        return f"{self._prefix(uri)}:{local}"

    def _walk(self, path: str, create: bool) -> list[_Slot] | None:
        """The chain of slots from the top level down to path's value; None if absent
        (create=False). With create=True the structs and arrays on the way are made."""
        steps = _resolved_path(path)
        if len(steps) == 1 and steps[0][3] is None:  # a top-level property, the common case
            std_name, prefix, local, _ = steps[0]
            name = std_name or self._clark(prefix, local, path, strict=create)
            return None if name is None else [(self._props, name)]
        chain: list[_Slot] = []
        fields = self._props
        last = len(steps) - 1
        for i, (std_name, prefix, local, index) in enumerate(steps):
            name = std_name or self._clark(prefix, local, path, strict=create)
            if name is None:
                return None
            node = fields.get(name)
            is_last = i == last
            if index is None:
                chain.append((fields, name))
                if is_last:
                    return chain
                if node is None:
                    if not create:
                        return None
                    akind = _STRUCT_ARRAYS.get(name)
                    node = _Node(akind) if akind else _Node("struct")
                    fields[name] = node
                if node.kind in _ARRAY_KINDS:  # no index: the first item
                    if not node.items:
                        if not create:
                            return None
                        node.items.append(_Node("struct"))
                    chain.append((node.items, 0))
                    node = node.items[0]
            else:
                if node is None:
                    if not create:
                        return None
                    if name in _SINGLE_STRUCTS:  # "[1]" of a single struct is the struct
                        self._check_single(name, index, path)
                        node = fields[name] = _Node("struct")
                    else:
                        node = fields[name] = _Node(_STRUCT_ARRAYS.get(name, "bag"))
                if node.kind not in _ARRAY_KINDS:
                    if index == 1:
                        chain.append((fields, name))
                        if is_last:
                            return chain
                    elif not create:
                        return None
                    else:  # an item beyond the first: the single value becomes an array
                        self._check_single(name, index, path)
                        array = _Node(_STRUCT_ARRAYS.get(name, "bag"))
                        array.items.append(node)
                        node = fields[name] = array
                if node.kind in _ARRAY_KINDS:
                    chain.append((fields, name))
                    items = node.items
                    if index > len(items):
                        if not create:
                            return None
                        if index > len(items) + 1:
                            raise InvalidValueError(
                                f"XMP path {path!r} skips items: {name} has {len(items)}",
                                code="xmp-path",
                                field=path,
                            )
                        if not is_last:
                            items.append(_Node("struct"))
                    chain.append((items, index - 1))
                    if is_last:
                        return chain
                    node = items[index - 1]
            if node.kind != "struct":
                if not create:
                    return None
                node = _Node("struct")  # the caller's schema says struct: replace the value
                _slot_put(chain[-1], node)
            fields = node.fields
        return chain  # pragma: no cover - the loop always returns

    @staticmethod
    def _check_single(name: str, index: int, path: str) -> None:
        if name in _SINGLE_STRUCTS and index != 1:
            raise InvalidValueError(
                f"XMP path {path!r}: this property is a single struct, only [1] exists",
                code="xmp-path",
                field=path,
            )

    def _find(self, path: str) -> _Node | None:
        steps = _resolved_path(path)
        if len(steps) == 1 and steps[0][3] is None:  # a top-level property: no chain to build
            std_name, prefix, local, _ = steps[0]
            name = std_name or self._clark(prefix, local, path, strict=False)
            return None if name is None else self._props.get(name)
        chain = self._walk(path, create=False)
        return _slot_node(chain[-1]) if chain else None

    # ------------------------------------------------------------------------------ values

    @overload
    def get(self, path: str, kind: Literal["text", "langalt"]) -> str | None: ...
    @overload
    def get(self, path: str, kind: Literal["bag", "seq", "alt"]) -> list[str] | None: ...
    @overload
    def get(self, path: str, kind: Kind) -> str | list[str] | None: ...

    def get(self, path: str, kind: Kind) -> str | list[str] | None:
        """The value at ``path`` read as ``kind``, or None when absent.

        ``text`` -> str (an array gives its x-default or first item); ``langalt`` -> the
        x-default item, else the first, as str; ``bag``/``seq``/``alt`` -> list[str] (a simple
        value where an array was expected gives ``[value]``; struct items are skipped).
        """
        if kind not in _KINDS:
            raise InvalidValueError(f"unknown XMP kind {kind!r}", code="xmp-kind", field=path)
        node = self._find(path)
        if node is None:
            return None
        if kind == "text" or kind == "langalt":
            return node.text()
        if node.kind in _ARRAY_KINDS:
            return [t for t in (item.text() for item in node.items) if t is not None]
        text = node.text()
        return None if text is None else [text]

    def get_langalt(self, path: str) -> dict[str, str] | None:
        """All languages of a language alternative: {lang: text}, ``x-default`` first if present.
        A simple value reads as {its xml:lang or "x-default": value}; absent or empty -> None."""
        node = self._find(path)
        if node is None:
            return None
        items = node.items if node.kind in _ARRAY_KINDS else [node]
        out: dict[str, str] = {}
        for item in items:
            text = item.text()
            if text is None:
                continue
            lang = item.lang or "x-default"
            if lang.lower() == "x-default":
                lang = "x-default"
            out.setdefault(lang, text)
        if "x-default" in out:
            out = {"x-default": out.pop("x-default"), **out}
        return out or None

    def count(self, path: str) -> int:
        """How many items the array at ``path`` has (1 for a single value or struct, 0 if absent),
        e.g. ``count("Iptc4xmpExt:LocationShown")``."""
        node = self._find(path)
        if node is None:
            return 0
        return len(node.items) if node.kind in _ARRAY_KINDS else 1

    def set(self, path: str, kind: Kind, value: str | list[str] | None) -> None:
        """Set the value at ``path`` as ``kind``, creating the structs and arrays on the way.

        ``None`` or ``[]`` deletes the value, and then any struct or array of structs it left
        empty. ``langalt`` sets the x-default item and drops other languages only where they
        equalled the old default (real translations stay). Values lose the characters XML 1.0
        cannot carry (see the module docs).

        Raises:
            InvalidValueError: bad path, unknown prefix, wrong value type for ``kind``.
        """
        self._set(path, kind, value, None, None)

    def update(self, path: str, kind: Kind, value: str | list[str] | None) -> bool:
        """:meth:`set`, unless :meth:`get` already reads ``value`` at ``path`` as ``kind`` (or
        both are empty): True when the value was set. Raises what ``get`` and then ``set``
        raise; the path is walked once for both."""
        if kind not in _KINDS:
            raise InvalidValueError(f"unknown XMP kind {kind!r}", code="xmp-kind", field=path)
        steps = _resolved_path(path)
        name = steps[0][0]
        if len(steps) == 1 and steps[0][3] is None and name is not None:
            # a top-level property in a standard namespace, the common case: _walk's one slot
            chain: list[_Slot] | None = [(self._props, name)]
            node = self._props.get(name)
        else:
            chain = self._walk(path, create=False)
            node = _slot_node(chain[-1]) if chain else None
        current: str | list[str] | None = None
        if node is not None:
            if kind == "text" or kind == "langalt":
                current = node.text()
            elif node.kind in _ARRAY_KINDS:
                current = [t for t in (item.text() for item in node.items) if t is not None]
            else:
                text = node.text()
                current = None if text is None else [text]
        if current == value or (current in (None, []) and value in (None, [])):
            return False
        self._set(path, kind, value, chain, node)
        return True

    def _set(self, path: str, kind: Kind, value: str | list[str] | None,
             chain: list[_Slot] | None, old: _Node | None) -> None:
        """:meth:`set`; ``chain`` is what ``_walk(path, create=False)`` gives and ``old`` the
        node it leads to, when known (``None``: worked out here)."""
        if kind not in _KINDS:
            raise InvalidValueError(f"unknown XMP kind {kind!r}", code="xmp-kind", field=path)
        if value is None or (isinstance(value, list) and not value):
            self._delete(path, chain if chain is not None else self._walk(path, create=False))
            return
        if kind == "text" or kind == "langalt":
            if not isinstance(value, str):
                raise InvalidValueError(
                    f"XMP {kind} value must be a string", code="xmp-value", field=path
                )
            text = _clean(value, path)
        else:
            if not isinstance(value, (list, tuple)):
                raise InvalidValueError(
                    f"XMP {kind} value must be a list of strings", code="xmp-value", field=path
                )
            texts = [_clean(v, path) for v in value]
        if chain is None:
            chain = self._make_slots(path)
            old = _slot_node(chain[-1])
        slot = chain[-1]
        if kind == "text":
            if old is not None and old.kind == "struct" and _RDF_VALUE in old.fields:
                old.fields[_RDF_VALUE] = _Node("simple", text)  # keep the qualifiers
                return
            new = _Node("simple", text)
        elif kind == "langalt":
            new = _Node("alt")
            new.items.append(_Node("simple", text, "x-default"))
            if old is not None and old.kind in _ARRAY_KINDS and old.items:
                old_default = old.text()
                for item in old.items:
                    lang = item.lang
                    if lang is None or lang.lower() == "x-default":
                        continue
                    if item.kind == "simple" and item.value == old_default:
                        continue
                    new.items.append(item)
        else:
            new = _Node(kind)
            new.items = [_Node("simple", t) for t in texts]
        _slot_put(slot, new)

    def _make_slots(self, path: str) -> list[_Slot]:
        """The chain of slots to ``path``, making the structs and arrays on the way (all or
        none of them: a failed walk leaves the packet as it was)."""
        top, prefix, local, _ = _resolved_path(path)[0]
        if top is None:
            top = self._clark(prefix, local, path, strict=True)
            assert top is not None
        saved = self._props.get(top)
        # a walk that finds every slot on the way makes nothing, and so cannot fail half-way
        chain = self._walk(path, create=False) if saved is not None else None
        if chain is None:
            backup = saved.copy() if saved is not None else None
            try:
                chain = self._walk(path, create=True)
            except InvalidValueError:  # undo the structs made on the way
                if backup is None:
                    self._props.pop(top, None)
                else:
                    self._props[top] = backup
                raise
            assert chain is not None
        return chain

    def _delete(self, path: str, chain: list[_Slot] | None) -> None:
        """Delete what ``chain`` (``_walk(path, create=False)``) leads to, and the structs and
        arrays that leaves empty."""
        if not chain or _slot_node(chain[-1]) is None:
            return
        _slot_delete(chain[-1])
        for slot in reversed(chain[:-1]):
            node = _slot_node(slot)
            if node is None:
                break
            if (node.kind == "struct" and not node.fields) or (
                node.kind in _ARRAY_KINDS and not node.items
            ):
                _slot_delete(slot)
            else:
                break

    def properties(self) -> list[str]:
        """The top-level property names present, as ``prefix:Name`` (in packet order)."""
        return [self._name(name) for name in self._props]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, XmpPacket):
            return NotImplemented
        return self._props == other._props

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<XmpPacket with {len(self._props)} properties>"

    # ------------------------------------------------------------------------------ writing

    def _emit(self, out: list[str], used: _Names, qname: str, node: _Node, depth: int) -> None:
        pad = " " * depth
        attrs = f' xml:lang="{_esc_attr(node.lang)}"' if node.lang is not None else ""
        kind = node.kind
        if kind == "simple":
            if node.uri:
                out.append(f'{pad}<{qname}{attrs} rdf:resource="{_esc_attr(node.value)}"/>\n')
            else:
                out.append(f"{pad}<{qname}{attrs}>{_esc_text(node.value)}</{qname}>\n")
        elif kind == "struct":
            if not node.fields:
                out.append(f'{pad}<{qname}{attrs} rdf:parseType="Resource"/>\n')
                return
            out.append(f'{pad}<{qname}{attrs} rdf:parseType="Resource">\n')
            inner = pad + " "
            for name, field in node.fields.items():
                sub = self._qname(name, used)
                if field.kind == "simple" and field.lang is None and not field.uri:
                    out.append(f"{inner}<{sub}>{_esc_text(field.value)}</{sub}>\n")
                else:
                    self._emit(out, used, sub, field, depth + 1)
            out.append(f"{pad}</{qname}>\n")
        else:
            tag = _ARRAY_WRITE[kind]
            if not node.items:
                out.append(f"{pad}<{qname}{attrs}>\n{pad} <{tag}/>\n{pad}</{qname}>\n")
                return
            out.append(f"{pad}<{qname}{attrs}>\n{pad} <{tag}>\n")
            inner = pad + "  "
            for item in node.items:
                if item.kind == "simple" and not item.uri:
                    lang = item.lang
                    if lang is None:
                        out.append(f"{inner}<rdf:li>{_esc_text(item.value)}</rdf:li>\n")
                    else:
                        out.append(f'{inner}<rdf:li xml:lang="{_esc_attr(lang)}">'
                                   f"{_esc_text(item.value)}</rdf:li>\n")
                else:
                    self._emit(out, used, "rdf:li", item, depth + 2)
            out.append(f"{pad} </{tag}>\n{pad}</{qname}>\n")

    def _prefix(self, uri: str) -> str:
        prefix = _STD_PREFIX.get(uri) or self._prefix_of.get(uri)
        if prefix is None:  # cannot happen for parsed or set() names; be safe anyway
            self._adopt(uri, "ns")
            prefix = self._prefix_of[uri]
        return prefix

    def _qname(self, clark: str, used: _Names) -> str:
        known = _STD_QNAMES.get(clark)
        if known is not None:
            used.add(known[0])
            return known[1]
        uri, _, local = clark[1:].rpartition("}")
        used.add(uri)
        std = _STD_PREFIX.get(uri)
        if std is not None:
            qname = f"{std}:{local}"
            if len(_STD_QNAMES) < _CLARK_CACHE_MAX:
                _STD_QNAMES[clark] = (uri, qname)
            return qname
        return f"{self._prefix(uri)}:{local}"

    def _render(self, *, xpacket: bool) -> tuple[bytes, bytes]:
        """The packet split where the padding goes: (head, tail)."""
        used: _Names = set()
        body: list[str] = []
        for name, node in self._props.items():
            qname = self._qname(name, used)
            if node.kind == "simple" and node.lang is None and not node.uri:
                body.append(f"   <{qname}>{_esc_text(node.value)}</{qname}>\n")
            else:
                self._emit(body, used, qname, node, 3)
        decls = sorted((self._prefix(uri), uri) for uri in used if uri not in (_RDF, _XML))
        about = f'rdf:about="{_esc_attr(self._about)}"'
        parts = [_HEADER] if xpacket else []
        parts.append(f'<x:xmpmeta xmlns:x="{_META}" x:xmptk="photometa">\n')
        parts.append(f' <rdf:RDF xmlns:rdf="{_RDF}">\n')
        if body:
            parts.append(f"  <rdf:Description {about}")
            parts.extend(f'\n    xmlns:{p}="{_esc_attr(uri)}"' for p, uri in decls)
            parts.append(">\n")
            parts.extend(body)
            parts.append("  </rdf:Description>\n")
        else:
            parts.append(f"  <rdf:Description {about}/>\n")
        parts.append(" </rdf:RDF>\n</x:xmpmeta>")
        if xpacket:
            parts.append("\n")
            return "".join(parts).encode("utf-8"), _TRAILER
        return "".join(parts).encode("utf-8"), b""

    def serialize(self, *, padding: int = 2048, xpacket: bool = True) -> bytes:
        """The packet as UTF-8: ``<?xpacket begin?>``, ``x:xmpmeta``, one ``rdf:Description``,
        ``padding`` bytes of whitespace (a newline every 100) and ``<?xpacket end="w"?>``.
        ``xpacket=False`` gives the bare ``x:xmpmeta`` element without wrapper or padding."""
        head, tail = self._render(xpacket=xpacket)
        if not xpacket:
            return head
        return head + _padding(max(0, padding)) + tail

    def serialize_to_size(self, size: int) -> bytes | None:
        """The packet padded to exactly ``size`` bytes (to rewrite a packet in place), or None
        when it does not fit."""
        head, tail = self._render(xpacket=True)
        room = size - len(head) - len(tail)
        if room < 0:
            return None
        return head + _padding(room) + tail

    def serialize_fitted(self, size: int | None, *, padding: int = 2048) -> bytes:
        """:meth:`serialize_to_size` when ``size`` is given and the packet fits in it, else
        :meth:`serialize` with ``padding`` (the packet is rendered once either way)."""
        head, tail = self._render(xpacket=True)
        if size is not None:
            room = size - len(head) - len(tail)
            if room >= 0:
                return head + _padding(room) + tail
        return head + _padding(max(0, padding)) + tail

    def split_extended(self, max_standard: int) -> tuple[bytes, bytes | None, str | None]:
        """Split for JPEG's 64 KB segments: (standard packet, extended packet, GUID).

        If :meth:`serialize` fits in ``max_standard`` bytes, returns ``(packet, None, None)``.
        Otherwise the largest top-level properties move to an extended packet (serialised
        without wrapper or padding, XMP part 3) until the standard one fits; the standard packet
        gets ``xmpNote:HasExtendedXMP`` = GUID, the uppercase hex MD5 of the extended packet, and
        as much of the usual padding as fits.

        Raises:
            InvalidValueError: ``max_standard`` is too small even for a packet holding only
                ``xmpNote:HasExtendedXMP``.
        """
        work = self.copy()
        work._props.pop(_HAS_EXTENDED, None)
        full = work.serialize()
        if len(full) <= max_standard:
            return full, None, None
        sizes: dict[str, int] = {}
        for name, node in work._props.items():
            out: list[str] = []
            self._emit(out, set(), self._qname(name, set()), node, 3)
            sizes[name] = len("".join(out).encode("utf-8"))
        order = sorted(sizes, key=lambda n: sizes[n], reverse=True)
        standard = work.copy()
        extended = XmpPacket()
        extended._about = work._about
        extended._prefix_of = dict(work._prefix_of)
        extended._uri_of = dict(work._uri_of)
        placeholder = _simple("0" * 32)
        standard._props[_HAS_EXTENDED] = placeholder
        head, tail = standard._render(xpacket=True)
        current = len(head) + len(tail)  # an upper bound as properties leave (see below)
        moved: set[str] = set()
        for name in order:
            if current <= max_standard:
                break
            moved.add(name)
            del standard._props[name]
            current -= sizes[name]  # namespace declarations that go too only shrink it more
        head, tail = standard._render(xpacket=True)
        if len(head) + len(tail) > max_standard:
            raise InvalidValueError(
                f"XMP cannot fit a standard packet in {max_standard} bytes",
                code="xmp-too-large",
            )
        for name, node in work._props.items():
            if name in moved:
                extended._props[name] = node
        ext_bytes = extended.serialize(xpacket=False)
        guid = hashlib.md5(ext_bytes).hexdigest().upper()
        placeholder.value = guid
        std = standard.serialize(padding=min(2048, max_standard - len(head) - len(tail)))
        return std, ext_bytes, guid
