"""Tests of the IPTC-IIM codec and Photoshop image resource blocks (photometa.codecs.iptc)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from photometa._binary import Limits
from photometa.codecs.iptc import (
    CODED_CHARSET_UTF8,
    DATASET_MAX_BYTES,
    DATASET_NAMES,
    IRB_IPTC,
    IRB_IPTC_DIGEST,
    REPEATABLE,
    DataSet,
    IimData,
    IrbResource,
    build_irb,
    decode_text,
    iim_digest,
    parse_irb,
    truncate_utf8,
)
from photometa.errors import CorruptFileError, InvalidValueError, LimitExceededError

PS_HEADER = b"Photoshop 3.0\x00"


# -- helpers ---------------------------------------------------------------------------------------


def ds(record: int, number: int, value: bytes) -> bytes:
    """One dataset with the standard 2-byte length."""
    return bytes((0x1C, record, number)) + struct.pack(">H", len(value)) + value


def ds_ext(record: int, number: int, value: bytes, width: int = 4) -> bytes:
    """One dataset with an extended length held in ``width`` bytes."""
    return (
        bytes((0x1C, record, number))
        + struct.pack(">H", 0x8000 | width)
        + len(value).to_bytes(width, "big")
        + value
    )


def photoshop_app13(data: bytes) -> bytes | None:
    """Concatenated IRB data of the APP13 "Photoshop 3.0" segments of a JPEG (None if none)."""
    if data[:2] != b"\xff\xd8":
        return None
    pos, parts = 2, []
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            break
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # standalone markers
            pos += 2
            continue
        if marker in (0xDA, 0xD9):  # SOS / EOI: metadata is over
            break
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        payload = data[pos + 4 : pos + 2 + length]
        if marker == 0xED and payload.startswith(PS_HEADER):
            parts.append(payload[len(PS_HEADER) :])
        pos += 2 + length
    return b"".join(parts) if parts else None


def plain_jpeg() -> bytes:
    """A small Pillow JPEG without metadata."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 30, 60)).save(buf, "JPEG")
    return buf.getvalue()


def jpeg_with_app13(irb: bytes) -> bytes:
    """A small Pillow JPEG with ``irb`` stored in one APP13 segment right after SOI."""
    jpeg = plain_jpeg()
    payload = PS_HEADER + irb
    assert len(payload) + 2 <= 0xFFFF
    return jpeg[:2] + b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def iim_of_jpeg(data: bytes) -> bytes | None:
    """The 0x0404 resource of a JPEG, or None."""
    irb = photoshop_app13(data)
    if irb is None:
        return None
    for res in parse_irb(irb):
        if res.signature == b"8BIM" and res.id == IRB_IPTC:
            return res.data
    return None


def exiftool_json(exe: str, *args: str | Path) -> dict[str, Any]:
    proc = subprocess.run([exe, "-j", *map(str, args)], capture_output=True, check=True)
    result: list[dict[str, Any]] = json.loads(proc.stdout.decode("utf-8"))
    return result[0]


def as_list(value: Any) -> list[str]:
    """ExifTool JSON gives a scalar for one value and may turn digits into numbers."""
    values = value if isinstance(value, list) else [value]
    return [str(v) for v in values]


LATIN1_BLOCK = (
    ds(1, 0, b"\x00\x04")
    + ds(2, 0, b"\x00\x02")
    + ds(2, 120, "Café au lait".encode("latin-1"))
    + ds(2, 90, "München".encode("latin-1"))
    + ds(2, 25, b"plain")
    + ds(2, 202, b"\xff\xd8\xe9\x00\xc4")
)


# -- IIM decoding and exact round trips ----------------------------------------------------------


def test_decode_lists_datasets_in_order() -> None:
    raw = ds(2, 0, b"\x00\x04") + ds(2, 25, b"one") + ds(2, 120, b"cap") + ds(2, 25, b"two")
    iim = IimData.decode(raw)
    assert iim.datasets == [
        DataSet(2, 0, b"\x00\x04"),
        DataSet(2, 25, b"one"),
        DataSet(2, 120, b"cap"),
        DataSet(2, 25, b"two"),
    ]
    assert iim.get(2, 25) == ["one", "two"]
    assert iim.get_raw(2, 0) == [b"\x00\x04"]
    assert iim.get(2, 5) == []
    assert iim.encode() == raw


def test_empty_block() -> None:
    iim = IimData.decode(b"")
    assert iim.datasets == []
    assert iim.encode() == b""
    assert not iim.utf8


@pytest.mark.parametrize(
    "raw",
    [
        ds(1, 0, b"\x00\x04") + ds(1, 90, CODED_CHARSET_UTF8) + ds(2, 0, b"\x00\x04"),
        ds(2, 120, b"no version dataset"),  # Pillow's test file has no 2:00: keep it that way
        ds(2, 0, b"\x00\x02") + ds(2, 5, b"x") + b"\x00\x00\x00",  # NUL padding kept
        ds(2, 0, b"\x00\x04") + ds_ext(2, 120, b"short but extended", 2),  # non-canonical
        ds(2, 0, b"\x00\x04") + ds_ext(2, 202, bytes(range(256)) * 200, 4),
        ds(2, 25, b"") + ds(2, 25, b"k"),  # empty value
        ds(2, 120, b"unsorted") + ds(1, 90, CODED_CHARSET_UTF8) + ds(2, 0, b"\x00\x04"),
    ],
)
def test_unchanged_block_encodes_to_its_input(raw: bytes) -> None:
    assert IimData.decode(raw).encode() == raw


def test_extended_length_values_are_read() -> None:
    big = "x" * 40_000
    raw = ds(2, 0, b"\x00\x04") + ds_ext(2, 120, big.encode(), 4) + ds_ext(2, 5, b"name", 1)
    iim = IimData.decode(raw)
    assert iim.get(2, 120) == [big]
    assert iim.get(2, 5) == ["name"]


def test_new_large_value_uses_extended_length_and_reads_back() -> None:
    iim = IimData.decode(ds(1, 90, CODED_CHARSET_UTF8) + ds(2, 0, b"\x00\x04"))
    caption = "é" * 20_000  # 40000 bytes > 32767
    iim.set(2, 120, [caption])
    out = iim.encode()
    header = out.index(b"\x1c\x02\x78")
    assert out[header + 3 : header + 5] == b"\x80\x04"
    assert int.from_bytes(out[header + 5 : header + 9], "big") == 40_000
    assert IimData.decode(out).get(2, 120) == [caption]


def test_untouched_datasets_keep_their_header_bytes_after_an_edit() -> None:
    raw = ds(1, 90, CODED_CHARSET_UTF8) + ds(2, 0, b"\x00\x04") + ds_ext(2, 120, b"cap", 2)
    iim = IimData.decode(raw + b"\x00")
    iim.set(2, 25, ["kw"])
    out = iim.encode()
    assert ds_ext(2, 120, b"cap", 2) in out
    # 2:25 goes in number order, before 2:120; the padding goes once the block changed
    assert out == raw.replace(b"\x1c\x02\x78", ds(2, 25, b"kw") + b"\x1c\x02\x78")


def test_trailing_nul_strings_are_trimmed_in_get() -> None:
    iim = IimData.decode(ds(2, 120, b"Caption\x00\x00"))
    assert iim.get(2, 120) == ["Caption"]
    assert iim.get_raw(2, 120) == [b"Caption\x00\x00"]


# -- charsets ------------------------------------------------------------------------------------


def test_utf8_block() -> None:
    text = "Zürich – 서울 😀"
    iim = IimData.decode(ds(1, 90, CODED_CHARSET_UTF8) + ds(2, 120, text.encode()))
    assert iim.utf8
    assert iim.get(2, 120) == [text]


def test_undeclared_utf8_is_read_as_utf8() -> None:
    iim = IimData.decode(ds(2, 90, "Kraków".encode()))
    assert not iim.utf8
    assert iim.get(2, 90) == ["Kraków"]


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"Caf\xe9", "Café"),  # Latin-1 / cp1252
        (b"\x80 5", "€ 5"),  # cp1252 only
        (b"Jos\x8e", "JosŽ"),  # Mac Roman é, read as cp1252 like ExifTool does
        (b"a\x81b", "a\x81b"),  # undefined in cp1252: Latin-1
        (b"", ""),
    ],
)
def test_legacy_text(raw: bytes, text: str) -> None:
    assert decode_text(raw) == text
    assert IimData.decode(ds(2, 120, raw)).get(2, 120) == [text]


def test_invalid_bytes_in_a_utf8_block_do_not_raise() -> None:
    iim = IimData.decode(ds(1, 90, CODED_CHARSET_UTF8) + ds(2, 120, b"Caf\xe9"))
    assert iim.get(2, 120) == ["Café"]


def test_editing_a_latin1_block_converts_it_to_utf8() -> None:
    iim = IimData.decode(LATIN1_BLOCK)
    assert not iim.utf8
    iim.set(2, 25, ["Köln", "日本"])
    assert iim.utf8
    # 1:90 goes after 1:00 and before record 2
    assert [(d.record, d.number) for d in iim.datasets][:3] == [(1, 0), (1, 90), (2, 0)]
    assert iim.get_raw(1, 90) == [b"\x1b%G"]
    # untouched Latin-1 values were re-encoded, not reinterpreted
    assert iim.get_raw(2, 120) == ["Café au lait".encode()]
    assert iim.get_raw(2, 90) == ["München".encode()]
    assert iim.get(2, 25) == ["Köln", "日本"]
    # binary datasets are left alone
    assert iim.get_raw(2, 0) == [b"\x00\x02"]
    assert iim.get_raw(2, 202) == [b"\xff\xd8\xe9\x00\xc4"]
    again = IimData.decode(iim.encode())
    assert again.utf8
    assert again.get(2, 120) == ["Café au lait"]
    assert again.get(2, 90) == ["München"]
    assert again.get(2, 25) == ["Köln", "日本"]


def test_conversion_replaces_a_legacy_coded_character_set() -> None:
    raw = ds(1, 90, b"\x1b-A") + ds(2, 0, b"\x00\x04") + ds(2, 120, b"Caf\xe9")
    iim = IimData.decode(raw)
    iim.set(2, 105, ["Headline"])
    assert iim.get_raw(1, 90) == [CODED_CHARSET_UTF8]
    assert iim.get_raw(2, 120) == ["Café".encode()]


def test_utf8_block_is_not_converted_twice() -> None:
    raw = ds(1, 90, CODED_CHARSET_UTF8) + ds(2, 0, b"\x00\x04") + ds(2, 120, "ä".encode())
    iim = IimData.decode(raw)
    iim.set(2, 120, ["ö"])
    assert iim.get_raw(1, 90) == [CODED_CHARSET_UTF8]
    assert iim.encode() == ds(1, 90, CODED_CHARSET_UTF8) + ds(2, 0, b"\x00\x04") + ds(
        2, 120, "ö".encode()
    )


@pytest.mark.parametrize("text", ["한국어 캡션입니다", "🏔️ 👩‍👩‍👧 🇨🇭", "mixed Ωμέγα 😀 ascii"])
def test_korean_and_emoji_round_trip(text: str) -> None:
    iim = IimData()
    iim.set(2, 120, [text])
    iim.set(2, 25, [text[:3], "😀"])
    again = IimData.decode(iim.encode())
    assert again.utf8
    assert again.get(2, 120) == [text]
    assert again.get(2, 25) == [text[:3], "😀"]


# -- set placement ------------------------------------------------------------------------------


def test_set_on_an_empty_block_adds_charset_and_record_version() -> None:
    iim = IimData()
    iim.set(2, 120, ["caption"])
    assert iim.encode() == (
        ds(1, 90, CODED_CHARSET_UTF8) + ds(2, 0, b"\x00\x04") + ds(2, 120, b"caption")
    )


def test_set_replaces_at_the_first_old_position() -> None:
    raw = (
        ds(1, 90, CODED_CHARSET_UTF8)
        + ds(2, 0, b"\x00\x04")
        + ds(2, 25, b"a")
        + ds(2, 120, b"c")
        + ds(2, 25, b"b")
        + ds(2, 5, b"n")
    )
    iim = IimData.decode(raw)
    iim.set(2, 25, ["x", "y", "z"])
    keys = [(d.record, d.number, d.value) for d in iim.datasets]
    assert keys == [
        (1, 90, CODED_CHARSET_UTF8),
        (2, 0, b"\x00\x04"),
        (2, 25, b"x"),
        (2, 25, b"y"),
        (2, 25, b"z"),
        (2, 120, b"c"),
        (2, 5, b"n"),
    ]


def test_set_inserts_new_datasets_in_record_number_order() -> None:
    raw = ds(1, 90, CODED_CHARSET_UTF8) + ds(2, 0, b"\x00\x04") + ds(2, 25, b"k") + ds(2, 120, b"c")
    iim = IimData.decode(raw)
    iim.set(2, 90, ["City"])
    iim.set(2, 5, ["Name"])
    iim.set(2, 200, [])  # deleting something absent changes nothing
    assert [(d.record, d.number) for d in iim.datasets] == [
        (1, 90), (2, 0), (2, 5), (2, 25), (2, 90), (2, 120)
    ]


def test_set_empty_deletes() -> None:
    raw = ds(1, 90, CODED_CHARSET_UTF8) + ds(2, 0, b"\x00\x04") + ds(2, 25, b"a") + ds(2, 25, b"b")
    iim = IimData.decode(raw)
    iim.set(2, 25, [])
    assert iim.get(2, 25) == []
    assert iim.encode() == ds(1, 90, CODED_CHARSET_UTF8) + ds(2, 0, b"\x00\x04")


def test_set_adds_missing_record_version_before_record_2() -> None:
    iim = IimData.decode(ds(1, 90, CODED_CHARSET_UTF8) + ds(2, 120, b"c"))
    iim.set(2, 25, ["k"])
    assert [(d.record, d.number) for d in iim.datasets] == [(1, 90), (2, 0), (2, 25), (2, 120)]
    assert iim.get_raw(2, 0) == [b"\x00\x04"]


def test_encode_adds_record_version_for_hand_built_blocks() -> None:
    iim = IimData([DataSet(2, 120, b"c")])
    assert iim.encode() == ds(2, 0, b"\x00\x04") + ds(2, 120, b"c")


def test_set_does_not_truncate() -> None:
    caption = "ü" * 1500  # 3000 bytes, above the 2000-byte IIM limit
    iim = IimData()
    iim.set(2, 120, [caption])
    assert len(iim.get_raw(2, 120)[0]) == 3000 > DATASET_MAX_BYTES[(2, 120)]
    assert IimData.decode(iim.encode()).get(2, 120) == [caption]


def test_set_raw_keeps_bytes() -> None:
    iim = IimData.decode(LATIN1_BLOCK)
    iim.set_raw(2, 202, [b"\x00\x01\x02"])
    assert iim.get_raw(2, 202) == [b"\x00\x01\x02"]
    assert not iim.utf8  # raw writes do not convert
    assert iim.get_raw(2, 120) == [b"Caf\xe9 au lait"]


@pytest.mark.parametrize(
    ("record", "number", "values"),
    [(2, 120, "a string, not a list"), (256, 5, ["x"]), (2, -1, ["x"]), (2, 25, [b"bytes"])],
)
def test_set_rejects_bad_arguments(record: int, number: int, values: Any) -> None:
    iim = IimData()
    with pytest.raises(InvalidValueError):
        iim.set(record, number, values)
    assert iim.datasets == []


# -- truncate_utf8 --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("Café", 4, "Caf"),
        ("Café", 5, "Café"),
        ("서울시", 7, "서울"),
        ("a😀b", 4, "a"),
        ("a😀b", 5, "a😀"),
        ("abc", 0, ""),
        ("", 3, ""),
    ],
)
def test_truncate_utf8(text: str, limit: int, expected: str) -> None:
    assert truncate_utf8(text, limit) == expected


def test_truncate_utf8_rejects_negative_limit() -> None:
    with pytest.raises(InvalidValueError):
        truncate_utf8("abc", -1)


@given(st.text(), st.integers(min_value=0, max_value=64))
def test_truncate_utf8_is_the_longest_fitting_prefix(text: str, limit: int) -> None:
    cut = truncate_utf8(text, limit)
    assert text.startswith(cut)
    assert len(cut.encode("utf-8")) <= limit
    if cut != text:
        assert len(text[: len(cut) + 1].encode("utf-8")) > limit


# -- dataset tables -------------------------------------------------------------------------------


def test_dataset_tables() -> None:
    assert DATASET_NAMES[(2, 120)] == "Iptc.Application2.Caption"
    assert DATASET_NAMES[(2, 25)] == "Iptc.Application2.Keywords"
    assert DATASET_NAMES[(1, 90)] == "Iptc.Envelope.CharacterSet"
    expected_limits = {
        (2, 5): 64, (2, 25): 64, (2, 40): 256, (2, 55): 8, (2, 60): 11, (2, 80): 32,
        (2, 85): 32, (2, 90): 32, (2, 92): 32, (2, 95): 32, (2, 100): 3, (2, 101): 64,
        (2, 103): 32, (2, 105): 256, (2, 110): 32, (2, 115): 32, (2, 116): 128, (2, 118): 128,
        (2, 120): 2000, (2, 122): 32,
    }  # fmt: skip
    for key, limit in expected_limits.items():
        assert DATASET_MAX_BYTES[key] == limit, key
    assert {(2, 25), (2, 80), (2, 20), (2, 12)} <= REPEATABLE
    assert (2, 120) not in REPEATABLE and (2, 90) not in REPEATABLE


# -- Photoshop image resource blocks ------------------------------------------------------------


def test_irb_round_trip_with_padding() -> None:
    resources = [
        IrbResource(b"8BIM", IRB_IPTC, b"", ds(2, 120, b"odd")),  # 8 bytes: no padding
        IrbResource(b"8BIM", 0x03ED, b"Resolution", b"\x00" * 16),  # even name: padded
        IrbResource(b"8BIM", 0x040A, b"x", b"\x01"),  # odd name: no name padding, odd data
        IrbResource(b"PHUT", 0x0BB8, b"", b"opaque"),
        IrbResource(b"MeSa", 0x2710, b"", b""),
    ]
    built = build_irb(resources)
    assert len(built) % 2 == 0
    # hand-checked layout of the first resource
    assert built[:12] == b"8BIM\x04\x04\x00\x00\x00\x00\x00\x08"
    assert built[12:20] == ds(2, 120, b"odd")
    # third resource: name "x" (2 bytes with its length), size 1, data byte + pad byte
    third = built.index(b"8BIM\x04\x0a")
    assert built[third : third + 14] == b"8BIM\x04\x0a\x01x\x00\x00\x00\x01\x01\x00"
    assert parse_irb(built) == resources
    assert build_irb(parse_irb(built)) == built


def test_irb_tolerates_trailing_nuls_and_a_missing_last_pad() -> None:
    one = IrbResource(b"8BIM", IRB_IPTC, b"", b"abc")
    built = build_irb([one])
    assert parse_irb(built + b"\x00\x00\x00\x00") == [one]
    assert parse_irb(built[:-1]) == [one]  # writer omitted the final pad byte


@pytest.mark.parametrize(
    ("data", "code", "offset"),
    [
        (b"8BIM\x04\x04\x00\x00\x00\x00\x00\x08abc", "irb-length", 8),
        (b"8BIM\x04\x04\x00", "irb-truncated", 0),
        (b"8BIM\x04\x04\x05ab", "irb-truncated", 0),
        (b"8BIM\x04\x04\x00\x00\x00\x00\x00\x00" + b"XXXX" + bytes(8), "irb-signature", 12),
        (b"8BIM\x04\x04\x00\x00\x00\x00\x00\x008BI", "irb-truncated", 12),
    ],
)  # fmt: skip
def test_irb_errors(data: bytes, code: str, offset: int) -> None:
    with pytest.raises(CorruptFileError) as info:
        parse_irb(data)
    assert info.value.code == code
    assert info.value.offset == offset
    assert f"byte {offset}" in str(info.value)


def test_irb_limits() -> None:
    built = build_irb([IrbResource(b"8BIM", i, b"", b"") for i in range(5)])
    assert len(parse_irb(built, limits=Limits(max_boxes=5))) == 5
    with pytest.raises(LimitExceededError):
        parse_irb(built, limits=Limits(max_boxes=4))
    with pytest.raises(LimitExceededError):
        parse_irb(built, limits=Limits(max_metadata_bytes=len(built) - 1))


@pytest.mark.parametrize(
    "resource",
    [
        IrbResource(b"8BI", 1, b"", b""),
        IrbResource(b"8BIM", 0x10000, b"", b""),
        IrbResource(b"8BIM", 1, b"n" * 256, b""),
    ],
)
def test_build_irb_rejects_bad_resources(resource: IrbResource) -> None:
    with pytest.raises(InvalidValueError):
        build_irb([resource])


def test_digest_is_md5_of_the_stored_block() -> None:
    # value from jpeg/exiftool/IPTC.jpg's current digest is checked in the corpus test; here the
    # padding rule: NUL padding inside the resource counts, the IRB pad byte does not
    block = ds(2, 0, b"\x00\x02") + ds(2, 5, b"x") + b"\x00"
    assert iim_digest(block) == hashlib.md5(block).digest()
    assert iim_digest(block) != iim_digest(block[:-1])
    assert len(iim_digest(b"")) == 16


# -- hostile input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "code", "offset"),
    [
        (ds(2, 120, b"abc")[:-1], "iim-length", 3),
        (ds(2, 120, b"abc") + b"\x1c\x02", "iim-truncated", 8),
        (ds(2, 120, b"abc") + b"X", "iim-marker", 8),
        (ds(2, 120, b"abc") + b"\x00\x00\x01", "iim-marker", 8),  # not only NULs
        (b"\x1c\x02\x78\x80\x00", "iim-extended-length", 3),
        (b"\x1c\x02\x78\x80\x09" + b"\x00" * 9, "iim-extended-length", 3),
        (b"\x1c\x02\x78\x80\x04\x00\x00", "iim-truncated", 5),
        (b"\x1c\x02\x78\x80\x04\x7f\xff\xff\xffabc", "iim-length", 3),
    ],
)
def test_iim_errors(data: bytes, code: str, offset: int) -> None:
    with pytest.raises(CorruptFileError) as info:
        IimData.decode(data)
    assert info.value.code == code
    assert info.value.offset == offset


def test_iim_limits() -> None:
    raw = ds(2, 25, b"a") + ds(2, 25, b"b") + ds(2, 25, b"c")
    assert len(IimData.decode(raw, limits=Limits(max_iim_datasets=3)).datasets) == 3
    with pytest.raises(LimitExceededError):
        IimData.decode(raw, limits=Limits(max_iim_datasets=2))
    with pytest.raises(LimitExceededError):
        IimData.decode(raw, limits=Limits(max_segment_bytes=len(raw) - 1))


def test_every_truncation_of_a_real_block_fails_cleanly() -> None:
    raw = LATIN1_BLOCK + ds_ext(2, 116, b"(c) someone", 4)
    for cut in range(len(raw)):
        try:
            iim = IimData.decode(raw[:cut])
        except CorruptFileError as exc:
            assert exc.offset is not None and 0 <= exc.offset <= cut
        else:
            assert iim.encode() == raw[:cut]


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_random_bytes_only_raise_corrupt_file_errors(data: bytes) -> None:
    for parse in (IimData.decode, parse_irb):
        with contextlib.suppress(CorruptFileError):  # LimitExceededError is a subclass
            parse(data, limits=Limits(max_iim_datasets=50, max_boxes=50))


@settings(max_examples=300)
@given(st.lists(st.tuples(st.integers(0, len(LATIN1_BLOCK) - 1), st.integers(0, 255)), max_size=4))
def test_mutated_blocks_only_raise_corrupt_file_errors(edits: list[tuple[int, int]]) -> None:
    raw = bytearray(LATIN1_BLOCK)
    for at, byte in edits:
        raw[at] = byte
    for parse in (IimData.decode, parse_irb):
        try:
            result = parse(bytes(raw))
        except CorruptFileError:
            continue
        if isinstance(result, IimData):
            assert result.encode() == bytes(raw)
            for record, number in {(d.record, d.number) for d in result.datasets}:
                result.get(record, number)  # decoding text never raises


@settings(max_examples=200)
@given(
    st.lists(
        st.tuples(st.integers(1, 9), st.integers(0, 255), st.binary(max_size=40000)), max_size=5
    )
)
def test_hand_built_blocks_round_trip(items: list[tuple[int, int, bytes]]) -> None:
    iim = IimData([DataSet(r, n, v) for r, n, v in items])
    encoded = iim.encode()
    again = IimData.decode(encoded)
    expected = [DataSet(r, n, v) for r, n, v in items]
    if any(r == 2 for r, _, _ in items) and not any(r == 2 and n == 0 for r, n, _ in items):
        assert again.get_raw(2, 0) == [b"\x00\x04"]
        first = next(i for i, d in enumerate(expected) if d.record == 2)
        expected.insert(first, DataSet(2, 0, b"\x00\x04"))
    assert again.datasets == expected
    assert again.encode() == encoded


# -- corpus ---------------------------------------------------------------------------------------


def _corpus_jpegs(corpus: Path, folder: str) -> list[Path]:
    return sorted(
        p for p in (corpus / folder).rglob("*") if p.suffix.lower() in (".jpg", ".jpeg")
    )


def _truth(corpus: Path) -> dict[str, dict[str, Any]]:
    out = {}
    with open(corpus / "exiftool-truth.jsonl", encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            out[record["SourceFile"]] = record
    return out


@pytest.mark.corpus
def test_corpus_jpegs_agree_with_exiftool(corpus: Path) -> None:
    truth = _truth(corpus)
    problems: list[str] = []
    irb_files = iim_files = digest_checks = value_checks = 0
    for path in _corpus_jpegs(corpus, "jpeg"):
        rel = path.relative_to(corpus).as_posix()
        irb = photoshop_app13(path.read_bytes())
        if irb is None:
            continue
        irb_files += 1
        resources = parse_irb(irb)
        if build_irb(resources) != irb:
            problems.append(f"{rel}: build_irb(parse_irb(x)) != x")
        expected = truth.get(rel, {})
        stored = [r.data for r in resources if r.id == IRB_IPTC_DIGEST]
        if "Photoshop:IPTCDigest" in expected:
            digest_checks += 1
            if not stored or stored[0].hex() != expected["Photoshop:IPTCDigest"]:
                problems.append(f"{rel}: stored digest {stored!r} != ExifTool's")
        blocks = [r.data for r in resources if r.signature == b"8BIM" and r.id == IRB_IPTC]
        if not blocks:
            continue
        iim_files += 1
        block = blocks[0]
        iim = IimData.decode(block)
        if iim.encode() != block:
            problems.append(f"{rel}: IIM decode/encode is not the identity")
        if "File:CurrentIPTCDigest" in expected:
            digest_checks += 1
            if iim_digest(block).hex() != expected["File:CurrentIPTCDigest"]:
                problems.append(f"{rel}: iim_digest != ExifTool's CurrentIPTCDigest")
        for key, dataset in (
            ("IPTC:Caption-Abstract", (2, 120)),
            ("IPTC:Keywords", (2, 25)),
            ("IPTC:City", (2, 90)),
        ):
            ours = iim.get(*dataset)
            if key in expected:
                value_checks += 1
                if ours != as_list(expected[key]):
                    problems.append(f"{rel}: {key} {ours!r} != {expected[key]!r}")
            elif ours:
                problems.append(f"{rel}: {key} read {ours!r}, ExifTool read nothing")
    assert not problems, "\n".join(problems)
    # the corpus holds a few dozen such JPEGs; make sure the loop did real work
    assert irb_files >= 20 and iim_files >= 15
    assert digest_checks >= 20 and value_checks >= 20


_TIFF_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8}


def tiff_ifd0_tag(data: bytes, wanted: int) -> bytes | None:
    """Raw value bytes of tag ``wanted`` in IFD0 of a TIFF-based file (None if absent)."""
    if data[:2] not in (b"II", b"MM") or len(data) < 8:
        return None
    order = "<" if data[:2] == b"II" else ">"
    (ifd,) = struct.unpack_from(order + "I", data, 4)
    if ifd + 2 > len(data):
        return None
    (count,) = struct.unpack_from(order + "H", data, ifd)
    for i in range(count):
        at = ifd + 2 + 12 * i
        if at + 12 > len(data):
            return None
        tag, typ, n = struct.unpack_from(order + "HHI", data, at)
        if tag != wanted:
            continue
        size = _TIFF_TYPE_SIZES.get(typ, 1) * n
        if size <= 4:
            return data[at + 8 : at + 8 + size]
        (offset,) = struct.unpack_from(order + "I", data, at + 8)
        return data[offset : offset + size]
    return None


@pytest.mark.corpus
def test_corpus_tiff_iim_blocks_agree_with_exiftool(corpus: Path) -> None:
    """TIFF tag 33723 holds bare IIM, often NUL-padded to whole LONGs: padding is accepted,
    kept by encode and counted by the digest, as ExifTool does."""
    truth = _truth(corpus)
    problems: list[str] = []
    checked = 0
    for folder in ("tiff", "raw", "dng"):
        for path in sorted(p for p in (corpus / folder).rglob("*") if p.is_file()):
            rel = path.relative_to(corpus).as_posix()
            data = path.read_bytes()
            block = tiff_ifd0_tag(data, 33723)
            irb = tiff_ifd0_tag(data, 34377)
            if irb is not None and build_irb(parse_irb(irb)) != irb:
                problems.append(f"{rel}: IRB in tag 34377 does not round-trip")
            if block is None:
                continue
            checked += 1
            expected = truth.get(rel, {})
            iim = IimData.decode(block)
            if iim.encode() != block:
                problems.append(f"{rel}: IIM decode/encode is not the identity")
            if iim_digest(block).hex() != expected.get("File:CurrentIPTCDigest"):
                problems.append(f"{rel}: digest differs from ExifTool's CurrentIPTCDigest")
            if "IPTC:Caption-Abstract" in expected and iim.get(2, 120) != as_list(
                expected["IPTC:Caption-Abstract"]
            ):
                problems.append(f"{rel}: caption {iim.get(2, 120)!r} differs from ExifTool's")
    assert not problems, "\n".join(problems)
    assert checked >= 4


@pytest.mark.corpus
def test_malformed_corpus_jpegs_fail_cleanly(corpus: Path) -> None:
    seen = 0
    for path in _corpus_jpegs(corpus, "malformed"):
        irb = photoshop_app13(path.read_bytes())
        if irb is None:
            continue
        seen += 1
        try:
            resources = parse_irb(irb)
        except CorruptFileError:
            continue
        for res in resources:
            if res.id == IRB_IPTC:
                with contextlib.suppress(CorruptFileError):
                    IimData.decode(res.data)
    assert seen >= 1


# -- interoperability ----------------------------------------------------------------------------


@pytest.mark.exiftool
def test_reads_what_exiftool_writes(exiftool: str, tmp_path: Path) -> None:
    path = tmp_path / "et.jpg"
    path.write_bytes(plain_jpeg())
    caption = "Café crème – 한국어 😀"
    subprocess.run(
        [
            exiftool, "-q", "-overwrite_original", "-codedcharacterset=utf8",
            f"-IPTC:Caption-Abstract={caption}", "-IPTC:Keywords=Zürich", "-IPTC:Keywords=서울",
            "-IPTC:City=Genève", str(path),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    data = path.read_bytes()
    irb = photoshop_app13(data)
    assert irb is not None
    resources = parse_irb(irb)
    assert build_irb(resources) == irb
    block = next(r.data for r in resources if r.id == IRB_IPTC)
    iim = IimData.decode(block)
    assert iim.utf8
    assert iim.get(2, 120) == [caption]
    assert iim.get(2, 25) == ["Zürich", "서울"]
    assert iim.get(2, 90) == ["Genève"]
    assert iim.encode() == block
    info = exiftool_json(exiftool, "-File:CurrentIPTCDigest", path)
    assert iim_digest(block).hex() == info["CurrentIPTCDigest"]


def _our_jpeg(tmp_path: Path, iim: IimData) -> tuple[Path, bytes]:
    block = iim.encode()
    irb = build_irb(
        [
            IrbResource(b"8BIM", IRB_IPTC, b"", block),
            IrbResource(b"8BIM", IRB_IPTC_DIGEST, b"", iim_digest(block)),
        ]
    )
    path = tmp_path / "ours.jpg"
    path.write_bytes(jpeg_with_app13(irb))
    return path, block


@pytest.mark.exiftool
@pytest.mark.exiv2
def test_exiftool_and_exiv2_read_what_we_write(exiftool: str, exiv2: str, tmp_path: Path) -> None:
    iim = IimData.decode(LATIN1_BLOCK)  # legacy block: the edit converts it
    iim.set(2, 25, ["Köln", "서울", "😀"])
    iim.set(2, 80, ["Ana Núñez"])
    path, block = _our_jpeg(tmp_path, iim)

    info = exiftool_json(exiftool, "-G1", "-IPTC:all", "-File:CurrentIPTCDigest",
                         "-Photoshop:IPTCDigest", "-Warning", path)  # fmt: skip
    assert "ExifTool:Warning" not in info and "Warning" not in info, info
    assert info["IPTC:CodedCharacterSet"] == "UTF8"
    assert info["IPTC:Caption-Abstract"] == "Café au lait"
    assert info["IPTC:City"] == "München"
    assert as_list(info["IPTC:Keywords"]) == ["Köln", "서울", "😀"]
    assert info["IPTC:By-line"] == "Ana Núñez"
    assert info["File:CurrentIPTCDigest"] == iim_digest(block).hex()
    assert info["Photoshop:IPTCDigest"] == info["File:CurrentIPTCDigest"]

    proc = subprocess.run([exiv2, "-pi", str(path)], capture_output=True, check=True)
    lines = proc.stdout.decode("utf-8").splitlines()
    seen: dict[str, list[str]] = {}
    for line in lines:
        key, _type, _count, *rest = line.split(None, 3)
        seen.setdefault(key, []).append(rest[0] if rest else "")
    assert seen[DATASET_NAMES[(2, 120)]] == ["Café au lait"]
    assert seen[DATASET_NAMES[(2, 90)]] == ["München"]
    assert seen[DATASET_NAMES[(2, 25)]] == ["Köln", "서울", "😀"]
    assert seen[DATASET_NAMES[(2, 80)]] == ["Ana Núñez"]
    # every key exiv2 names is the one our table gives for that dataset
    ours = {DATASET_NAMES[(d.record, d.number)] for d in IimData.decode(block).datasets}
    assert set(seen) == ours


@pytest.mark.exiftool
@pytest.mark.exiv2
def test_external_readers_handle_extended_lengths(
    exiftool: str, exiv2: str, tmp_path: Path
) -> None:
    caption = "Ω" * 20_000  # 40000 bytes: needs the extended length form
    iim = IimData()
    iim.set(2, 120, [caption])
    path, _ = _our_jpeg(tmp_path, iim)
    info = exiftool_json(exiftool, "-IPTC:Caption-Abstract", path)
    assert info["Caption-Abstract"] == caption
    proc = subprocess.run([exiv2, "-pi", str(path)], capture_output=True, check=False)
    caption_lines = [
        line for line in proc.stdout.decode("utf-8").splitlines()
        if line.startswith("Iptc.Application2.Caption")
    ]  # fmt: skip
    assert len(caption_lines) == 1
    assert caption_lines[0].split(None, 3)[3] == caption


def test_decoded_metadata_digest_is_computed_when_asked() -> None:
    from photometa._metadata import Blocks, Metadata, decode_blocks

    iim = ds(1, 90, CODED_CHARSET_UTF8) + ds(2, 120, b"Caption")
    stale = hashlib.md5(b"another block").digest()
    irb = build_irb([IrbResource(b"8BIM", IRB_IPTC, b"", iim),
                     IrbResource(b"8BIM", IRB_IPTC_DIGEST, b"", iim_digest(iim))])
    md = decode_blocks(Blocks(irb=irb))
    assert md.iim_block == iim
    assert md.current_digest == md.stored_digest == iim_digest(iim)
    assert md.iim_in_sync
    out_of_sync = build_irb([IrbResource(b"8BIM", IRB_IPTC, b"", iim),
                             IrbResource(b"8BIM", IRB_IPTC_DIGEST, b"", stale)])
    md = decode_blocks(Blocks(irb=out_of_sync))
    assert md.current_digest == iim_digest(iim) and not md.iim_in_sync
    bare = decode_blocks(Blocks(iim=iim))
    assert bare.current_digest == iim_digest(iim) and bare.stored_digest is None
    assert Metadata().current_digest is None and Metadata().iim_in_sync
    assert decode_blocks(Blocks(iim=b"\x1c\x02")).current_digest is None  # unreadable IIM


# -- set() places datasets as the plain algorithm does ---------------------------------------------

def _plain_replace(datasets: list[DataSet], record: int, number: int,
                   values: list[bytes]) -> list[DataSet]:
    """Drop every record:number dataset; the new ones go where the first was, else before the
    first dataset that sorts after record:number; record 2 gets its 2:00 (the rule spelled out)."""
    kept = [d for d in datasets if (d.record, d.number) != (record, number)]
    olds = [i for i, d in enumerate(datasets) if (d.record, d.number) == (record, number)]
    if olds:
        at = olds[0]
    else:
        at = next((i for i, d in enumerate(kept) if (d.record, d.number) > (record, number)),
                  len(kept))
    kept[at:at] = [DataSet(record, number, v) for v in values]
    if record == 2 and number != 0 and values and not any(
            d.record == 2 and d.number == 0 for d in kept):
        first = next((i for i, d in enumerate(kept) if d.record == 2), None)
        if first is not None:
            kept.insert(first, DataSet(2, 0, b"\x00\x04"))
    return kept


_KEYS = st.sampled_from([(1, 20), (1, 90), (2, 0), (2, 5), (2, 25), (2, 25), (2, 120), (3, 10)])


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(_KEYS, st.binary(max_size=3)), max_size=8),
    st.lists(st.tuples(_KEYS, st.lists(st.binary(max_size=3), max_size=3)), max_size=6),
)
def test_set_raw_places_datasets_like_the_plain_rule(
    start: list[tuple[tuple[int, int], bytes]],
    edits: list[tuple[tuple[int, int], list[bytes]]],
) -> None:
    block = b"".join(ds(r, n, v) for (r, n), v in start)
    iim = IimData.decode(block)
    expected = list(iim.datasets)
    for (record, number), values in edits:
        iim.set_raw(record, number, values)
        expected = _plain_replace(expected, record, number, values)
        assert iim.datasets == expected


def test_encode_writes_new_headers_in_both_length_forms() -> None:
    iim = IimData.decode(ds(1, 90, CODED_CHARSET_UTF8) + ds(2, 0, b"\x00\x04") + ds(2, 5, b"x"))
    iim.set_raw(2, 120, [b"a" * 0x7FFF])
    iim.set_raw(2, 122, [b"b" * 0x8000])
    data = iim.encode()
    assert data.startswith(ds(1, 90, CODED_CHARSET_UTF8) + ds(2, 0, b"\x00\x04") + ds(2, 5, b"x"))
    assert bytes((0x1C, 2, 120, 0x7F, 0xFF)) + b"a" * 0x7FFF in data
    assert data.endswith(bytes((0x1C, 2, 122, 0x80, 0x04)) + struct.pack(">I", 0x8000)
                         + b"b" * 0x8000)
    iim.datasets.append(DataSet(2, 300, b"z"))  # edited by hand: still checked
    with pytest.raises(InvalidValueError):
        iim.encode()


def test_set_converts_a_legacy_block_once() -> None:
    iim = IimData.decode(ds(2, 0, b"\x00\x04") + ds(2, 90, "Gen\xe8ve".encode("cp1252")))
    iim.set(2, 25, ["a"])
    iim.set(2, 120, ["b"])
    assert iim.utf8
    assert iim.get(2, 90) == ["Genève"]
    assert [(d.record, d.number) for d in iim.datasets] == [(1, 90), (2, 0), (2, 25), (2, 90),
                                                            (2, 120)]
