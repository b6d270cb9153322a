"""Every real PNG of the corpus written losslessly, checked by ExifTool and Pillow (and the shared
lossless check that test_corpus_webp.py uses too)."""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image, ImageSequence

import photometa
from conftest import corpus_files
from photometa import PhotometaError
from test_api import full_context
from test_corpus import EMBEDDED, _comparable, _exiftool_dir, _normalise, _ours


def pixels(data: bytes) -> list[tuple[str, tuple[int, int], bytes]] | None:
    """Every frame as Pillow decodes it, or ``None`` when Pillow cannot decode the file."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            return [(f.mode, f.size, f.tobytes()) for f in ImageSequence.Iterator(img)]
    except Exception:  # Pillow refuses some broken corpus files: nothing to compare then
        return None


def check_lossless(kind: str, corpus: Path, exiftool: str, tmp_path: Path,
                   truth: dict[str, dict[str, Any]], image_data: Callable[[bytes], bytes],
                   may_change: Callable[[str, Any, Any], bool],
                   refusal_ok: Callable[[bytes, PhotometaError], bool]) -> list[Path]:
    """Write the full context into a copy of every corpus file of ``kind`` and check that nothing
    but what photometa sets changed. Returns the corpus files that were refused."""
    files = corpus_files(kind)
    assert files, f"no {kind} files in the corpus"
    work, orig = tmp_path / "work", tmp_path / "orig"
    work.mkdir()
    orig.mkdir()
    copies: dict[str, Path] = {}
    for i, src in enumerate(files):
        name = f"{i:03d}{src.suffix}"
        shutil.copyfile(src, work / name)
        shutil.copyfile(src, orig / name)
        copies[name] = src
    before = _exiftool_dir(exiftool, orig)
    ctx = full_context()
    written, refused, problems = [], [], []
    for name, src in copies.items():
        path = work / name
        original = (orig / name).read_bytes()
        try:
            photometa.write(path, ctx)
        except PhotometaError as err:
            assert path.read_bytes() == original, f"{src}: refused write changed the file"
            assert isinstance(err, photometa.CorruptFileError), (src, err)
            record = truth[src.relative_to(corpus).as_posix()]
            if not (record.get("ExifTool:Warning") or record.get("ExifTool:Error")
                    or refusal_ok(original, err)):
                problems.append(f"{src}: refused without reason ({err})")
            refused.append(src)
            continue
        written.append(name)
        new = path.read_bytes()
        if photometa.read(path) != ctx:
            problems.append(f"{src}: does not read back")
        if image_data(new) != image_data(original):
            problems.append(f"{src}: image data changed")
        old_pixels = pixels(original)
        if old_pixels is not None and pixels(new) != old_pixels:
            problems.append(f"{src}: Pillow decodes other pixels")
    after = _exiftool_dir(exiftool, work)
    for name in written:
        b, a = _normalise(before[name]), _normalise(after[name])
        for tag in EMBEDDED:
            if any(k.endswith(f":{tag}") for k in b):
                old, new = (subprocess.run([exiftool, "-b", f"-{tag}", str(folder / name)],
                                           capture_output=True, check=False).stdout
                            for folder in (orig, work))
                if old != new:
                    problems.append(f"{copies[name]}: embedded {tag} changed")
        for key in sorted(set(b) | set(a)):
            if key == "SourceFile" or _ours(key) or may_change(key, b.get(key), a.get(key)):
                continue
            if _comparable(key, b.get(key)) != _comparable(key, a.get(key)):
                problems.append(f"{copies[name]}: {key}: {b.get(key)!r} -> {a.get(key)!r}")
    assert not problems, "\n".join(problems[:40])
    return refused


def png_chunks(data: bytes) -> list[tuple[bytes, bytes, bool]]:
    """(type, data, CRC correct) of each complete chunk, read independently of photometa."""
    out, pos = [], 8
    while pos + 12 <= len(data):
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        crc = data[pos + 8 + length : pos + 12 + length]
        if len(crc) < 4:
            break
        out.append((ctype, body, zlib.crc32(body, zlib.crc32(ctype)) == int.from_bytes(crc, "big")))
        pos += 12 + length
        if ctype == b"IEND":
            break
    return out


def png_image_data(data: bytes) -> bytes:
    """The image data and what decoding it depends on: every critical chunk, every fdAT."""
    return b"".join(ctype + body for ctype, body, _ in png_chunks(data)
                    if not ctype[0] & 0x20 or ctype == b"fdAT")


def bad_critical_crc(data: bytes, err: PhotometaError) -> bool:
    """photometa refuses a PNG whose critical chunk fails its CRC (ExifTool does not check)."""
    return err.code == "png-crc" and any(not ok and not ctype[0] & 0x20
                                         for ctype, _, ok in png_chunks(data))


def test_lossless_write_on_every_corpus_png(corpus: Path, exiftool: str, tmp_path: Path,
                                           truth: dict[str, dict[str, Any]]) -> None:
    refused = check_lossless("png", corpus, exiftool, tmp_path, truth, png_image_data,
                             lambda key, old, new: False, bad_critical_crc)
    # only the broken files of the corpus are refused
    assert all(src.relative_to(corpus).parts[0] == "malformed" or src.name == "malformedchunks.png"
               for src in refused), refused
    assert len(refused) <= 6, refused
