"""Every real WebP of the corpus written losslessly, checked by ExifTool and Pillow."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

from test_corpus_png import check_lossless

IMAGE_CHUNKS = {b"VP8 ", b"VP8L", b"ALPH", b"ANMF", b"ANIM", b"ICCP"}


def webp_image_data(data: bytes) -> bytes:
    """The bitstream, alpha, animation and ICC chunks, read independently of photometa."""
    out, pos = [], 12
    while pos + 8 <= len(data):
        fourcc, size = struct.unpack("<4sI", data[pos : pos + 8])
        if fourcc in IMAGE_CHUNKS:
            out.append(data[pos : pos + 8 + size])
        pos += 8 + size + (size & 1)
    return b"".join(out)


def may_change(key: str, old: Any, new: Any) -> bool:
    """The VP8X flags now announce EXIF and XMP; a simple WebP becomes an extended one."""
    if key == "RIFF:WebP_Flags":
        return True
    return key == "File:FileType" and (old, new) == ("WEBP", "Extended WEBP")


def test_lossless_write_on_every_corpus_webp(corpus: Path, exiftool: str, tmp_path: Path,
                                            truth: dict[str, dict[str, Any]]) -> None:
    refused = check_lossless("webp", corpus, exiftool, tmp_path, truth, webp_image_data,
                             may_change, lambda data, err: False)
    assert refused == []
