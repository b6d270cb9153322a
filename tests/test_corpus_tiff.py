"""Every TIFF-structured file of the corpus: read without surprises and told apart by content; every
TIFF written losslessly (image data, pixels, ExifTool before/after); DNG and RAW never in place."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import photometa
from conftest import corpus_files, corpus_root, need_corpus_file, run_exiftool
from photometa import DEFAULT_LIMITS, PhotometaError
from photometa._metadata import decode_blocks
from photometa.formats import tiff
from test_api import full_context
from test_corpus import _comparable, _exiftool_dir, _normalise, _ours, copy_numbered

# MANIFEST format -> the container that must take the file (judged on the whole file)
KINDS = {"tiff": "tiff", "btf": "bigtiff", "dng": "dng", "cr2": "raw-cr2", "nef": "raw-nef",
         "arw": "raw-arw", "rw2": "raw-rw2", "iiq": "raw-iiq", "orf": "raw-orf"}
READ_ONLY = {k for k, v in KINDS.items() if v != "tiff"}


def _files(kinds: set[str], *, malformed: bool = False) -> list[Path]:
    root = corpus_root()
    return [f for kind in sorted(kinds) for f in corpus_files(kind)
            if malformed or f.relative_to(root).parts[0] != "malformed"]


def _params(kinds: set[str], *, malformed: bool = False) -> list[Any]:
    files = _files(kinds, malformed=malformed)
    if not files:
        return [pytest.param(None, id="corpus-missing")]
    root = corpus_root()
    return [pytest.param(f, id=f.relative_to(root).as_posix()) for f in files]


def _manifest_kind(path: Path) -> str:
    rel = path.relative_to(corpus_root()).as_posix()
    for line in (corpus_root() / "MANIFEST.tsv").read_text("utf-8").splitlines()[1:]:
        cols = line.split("\t")
        if cols[0] == rel:
            return cols[1]
    raise AssertionError(f"{rel} is not in MANIFEST.tsv")


@pytest.mark.parametrize("path", _params(set(KINDS), malformed=True))
def test_every_tiff_structure_reads_and_is_told_apart(path: Path | None) -> None:
    path = need_corpus_file(path)
    data = path.read_bytes()
    kind = tiff.kind_of(data)
    if path.relative_to(corpus_root()).parts[0] != "malformed":
        assert kind == KINDS[_manifest_kind(path)]
    try:
        result = photometa.read_detailed(path)
    except PhotometaError as err:
        assert err.path == path and err.code
        return
    assert result.context is not None
    assert result.format is not None and result.format in {c.name for c in tiff.CONTAINERS}
    if kind != "tiff":
        assert result.format == kind  # the first 4 KB the api sniffs are enough for the corpus


@pytest.mark.parametrize("path", _params(READ_ONLY))
def test_dng_and_raw_are_never_written_in_place(path: Path | None, tmp_path: Path) -> None:
    path = need_corpus_file(path)
    copy = tmp_path / path.name
    shutil.copyfile(path, copy)
    with pytest.raises(PhotometaError) as info:
        photometa.write(copy, full_context(), sidecar="never")
    assert copy.read_bytes() == path.read_bytes()
    assert info.value.code in ("read-only-format", "exif-header", "value-out-of-range"), info.value
    outcome = photometa.write(copy, full_context())  # the default: an XMP sidecar
    assert copy.read_bytes() == path.read_bytes()
    assert outcome.sidecar is not None and outcome.sidecar.is_file()


def _ours_tiff(key: str) -> bool:
    """ExifTool calls the second IPTC block of a TIFF (the one in the Photoshop IRB) IPTC2."""
    group, _, name = key.partition(":")
    return _ours(f"IPTC:{name}" if group == "IPTC2" else key)


def _pixels(path: Path) -> bytes | None:
    try:
        with Image.open(path) as img:
            frames = []
            for i in range(getattr(img, "n_frames", 1)):
                img.seek(i)
                frames.append(img.tobytes())
            return b"".join(frames)
    except Exception:  # Pillow cannot decode every corpus TIFF (old JPEG, odd layouts)
        return None


def _image_digest(data: bytes) -> tuple[list[tuple[int, int]], bytes]:
    ranges = tiff.image_data(data)
    return ranges, hashlib.sha256(b"".join(data[o : o + n] for o, n in ranges)).digest()


def test_lossless_write_on_every_corpus_tiff(corpus: Path, exiftool: str, tmp_path: Path,
                                            truth: dict[str, dict[str, Any]]) -> None:
    files = _files({"tiff"})
    assert len(files) > 20
    work = tmp_path / "work"
    copies = copy_numbered(files, work)
    before = _exiftool_dir(exiftool, work)
    originals = {name: (work / name).read_bytes() for name in copies}
    written, refused = [], []
    ctx = full_context()
    problems = []
    for name, src in copies.items():
        path = work / name
        old_pixels = _pixels(path)
        try:
            photometa.write(path, ctx, sidecar="never")
        except PhotometaError as err:
            refused.append((src, err))
            assert path.read_bytes() == originals[name], f"{src}: refused write changed the file"
            continue
        written.append(name)
        new = path.read_bytes()
        if photometa.read(path) != ctx:
            problems.append(f"{src}: does not read back")
        ranges, digest = _image_digest(originals[name])
        if b"".join(new[o : o + n] for o, n in ranges) != b"".join(
                originals[name][o : o + n] for o, n in ranges):
            problems.append(f"{src}: image data changed")
        if _image_digest(new) != (ranges, digest):
            problems.append(f"{src}: image data moved")
        if old_pixels is not None and _pixels(path) != old_pixels:
            problems.append(f"{src}: pixels changed")
    after = _exiftool_dir(exiftool, work)
    for name in written:
        b, a = _normalise(before[name]), _normalise(after[name])
        for key in sorted(set(b) | set(a)):
            if _ours_tiff(key):
                continue
            old = b.get(key)
            if old is None and key.startswith("IPTC2:"):  # IIM newly copied into the IRB
                old = b.get(f"IPTC:{key.partition(':')[2]}")
            if _comparable(key, old) != _comparable(key, a.get(key)):
                problems.append(f"{copies[name]}: {key}: {old!r} -> {a.get(key)!r}")
    assert not problems, "\n".join(problems[:40])
    # a refused file must be one whose structure is really broken: ExifTool complains about it too
    for src, error in refused:
        assert isinstance(error, photometa.CorruptFileError), (src, error)
        record = truth[src.relative_to(corpus).as_posix()]
        assert record.get("ExifTool:Warning") or record.get("ExifTool:Error"), (src, error)
    assert len(written) >= 0.9 * len(files), [str(s) for s, _ in refused]


IIM_TAGS = {"Keywords": (2, 25), "City": (2, 90), "By-line": (2, 80), "ObjectName": (2, 5),
            "Caption-Abstract": (2, 120)}


def _iptc_files(*, in_place_only: bool = False) -> list[Any]:
    """Corpus TIFF-structured files with IPTC (only plain TIFFs, which are written in place)."""
    from conftest import _truth

    root = corpus_root()
    if not (root / "MANIFEST.tsv").is_file():
        return [pytest.param(None, id="corpus-missing")]
    truth = _truth(str(root))
    out = []
    for path in _files({"tiff", "nef"}):
        record = truth.get(path.relative_to(root).as_posix(), {})
        if in_place_only and tiff.kind_of(path.read_bytes()) != "tiff":
            continue
        if any(f"IPTC:{t}" in record for t in IIM_TAGS):
            out.append(pytest.param(path, id=path.relative_to(root).as_posix()))
    return out or [pytest.param(None, id="no-iptc-files")]


@pytest.mark.parametrize("path", _iptc_files())
def test_iptc_in_corpus_tiffs_reads_as_exiftool_reads_it(path: Path | None, corpus: Path,
                                                        truth: dict[str, dict[str, Any]]) -> None:
    path = need_corpus_file(path)
    record = truth[path.relative_to(corpus).as_posix()]
    with open(path, "rb") as f:
        md = decode_blocks(tiff.read(f, DEFAULT_LIMITS, False))
    assert md.iim is not None
    for tag, key in IIM_TAGS.items():
        expected = record.get(f"IPTC:{tag}")
        if expected is None:
            continue
        expected = [str(v) for v in expected] if isinstance(expected, list) else [str(expected)]
        # ExifTool turns the IIM line separators it finds into "\n"... compare the words
        got = md.iim.get(*key)
        assert [" ".join(v.split()) for v in got] == [" ".join(v.split()) for v in expected], tag


@pytest.mark.parametrize("path", _iptc_files(in_place_only=True))
def test_exiftool_reads_our_iptc_from_a_corpus_tiff(path: Path | None, tmp_path: Path,
                                                    exiftool: str) -> None:
    path = need_corpus_file(path)
    copy = tmp_path / path.name
    shutil.copyfile(path, copy)
    photometa.write(copy, full_context(), sidecar="never")
    [tags] = run_exiftool(exiftool, "-a", "-G1", "-IPTC:all", "-IPTC2:all", "-IPTCDigest",
                          "-CurrentIPTCDigest", copy)
    assert tags["IPTC:City"] == "Pyongyang"
    assert tags["IPTC:By-line"] == "Eric Lafforgue"
    assert tags["IPTC:Keywords"] == ["soldiers", "rest", "평양"]
    if "IPTC2:City" in tags:  # the copy in the Photoshop IRB agrees
        assert tags["IPTC2:City"] == "Pyongyang"
    [orig] = run_exiftool(exiftool, "-G1", "-IPTCDigest", "-CurrentIPTCDigest", path)
    if orig.get("Photoshop:IPTCDigest") == orig.get("File:CurrentIPTCDigest") is not None:
        # a digest that was current stays current
        assert tags["Photoshop:IPTCDigest"] == tags["File:CurrentIPTCDigest"]
