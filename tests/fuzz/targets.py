"""Fuzz targets: one per parser, shared by the atheris harness, the CI mutation run and hypothesis.

A target takes any bytes. It must return normally or raise a :class:`~photometa.PhotometaError`,
which it swallows: that is how photometa reports a bad file. Anything else escaping it
(``IndexError``, ``struct.error``, ``RecursionError``, ``MemoryError``...) is a bug, and so is an
``AssertionError`` raised by a target's own checks (a write that does not read back, a block
that does not survive its own encoder).

Targets for containers that do not exist yet (PNG, WebP, ISO BMFF, TIFF are being written) are left
out of :func:`available` and listed by :func:`missing`; every container in
:data:`photometa.formats.REGISTRY` gets a target automatically, named after its module.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import io
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO

from photometa import DEFAULT_LIMITS, Limits, PhotoContext, PhotometaError
from photometa._metadata import Blocks, decode_blocks
from photometa.codecs import exif as exif_codec
from photometa.codecs import iptc
from photometa.codecs.xmp import XmpPacket
from photometa.formats import REGISTRY, Container, sniff
from photometa.mapping import ROWS, to_edits, to_model

__all__ = ["EXPECTED", "SEED_CAP", "Target", "available", "missing", "seeds_for"]

# Smaller limits than the defaults so a fuzzed count or size hits them quickly; the defaults are
# measured separately (run.py measure uses DEFAULT_LIMITS).
LIMITS = Limits(max_segment_bytes=4 << 20, max_xmp_bytes=4 << 20, max_metadata_bytes=8 << 20)
SEED_CAP = 256 * 1024
"""Seeds are cut to this many bytes: mutating multi-megabyte inputs wastes the fuzzer's time."""

# target name -> module it needs. Container targets are named after their module in formats/.
EXPECTED: dict[str, str] = {
    "jpeg": "photometa.formats.jpeg",
    "exif": "photometa.codecs.exif",
    "exif-write": "photometa.codecs.exif",
    "xmp": "photometa.codecs.xmp",
    "iptc": "photometa.codecs.iptc",
    "png": "photometa.formats.png",
    "webp": "photometa.formats.webp",
    "bmff": "photometa.formats.bmff",
    "tiff": "photometa.formats.tiff",
    "write": "photometa.api",
}

CONTEXT = PhotoContext.model_validate({
    "location": {"city": "Chongjin", "country_code": "KP", "sublocation": "Port",
                 "gps": {"latitude": 41.79, "longitude": 129.78}},
    "subject": {"headline": "Dock workers", "keywords": ["port", "항구"],
                "caption": "Workers unload a ship.\nSecond line."},
    "photographer": {"name": "A. Photographer", "copyright": "© A. Photographer"},
    "restriction": {"status": "restricted", "reason": "port facilities"},
    "captured_at": "2015-06-01T08:00:00+09:00",
})


@dataclass(frozen=True)
class Target:
    """A fuzz target: ``run(data)`` feeds any bytes to one parser."""

    name: str
    module: str
    run: Callable[[bytes], None]
    seeds: Callable[[Path], list[bytes]]
    doc: str


# -- scratch files ---------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _scratch_dir() -> Path:
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    path = Path(tempfile.mkdtemp(prefix="photometa-fuzz-", dir=base))
    atexit.register(shutil.rmtree, path, True)
    return path


@contextlib.contextmanager
def _as_file(data: bytes, name: str = "input") -> Iterator[BinaryIO]:
    """The bytes as a real file (containers may memory-map it, as they do for callers)."""
    path = _scratch_dir() / f"{name}-{os.getpid()}"
    path.write_bytes(data)
    with open(path, "rb") as f:
        yield f


# -- targets ---------------------------------------------------------------------------------------


def _container_pipeline(container: Container, data: bytes) -> None:
    """Container walk, block decoding and mapping, tolerant then strict (the write path's read)."""
    for strict in (False, True):
        try:
            with _as_file(data) as f:
                blocks = container.read(f, LIMITS, strict)
                md = decode_blocks(blocks, limits=LIMITS, strict=strict)
            to_model(md)
        except PhotometaError:
            pass


def _module_target(containers: list[Container]) -> Callable[[bytes], None]:
    """Run the containers of one module that accept the input (the first one when none does)."""

    def run(data: bytes) -> None:
        head = data[:64]
        chosen = [c for c in containers if c.accept(head)] or containers[:1]
        for container in chosen:
            _container_pipeline(container, data)

    return run


def _exif(data: bytes) -> None:
    try:
        decoded = exif_codec.decode(data, limits=LIMITS)
    except PhotometaError:
        return
    for entries in decoded.ifds.values():
        for entry in entries.values():
            _ = entry.value, entry.name


@lru_cache(maxsize=1)
def _exif_edits() -> dict[tuple[str, int], exif_codec.ExifWrite | None]:
    return {k: v for k, v in to_edits(CONTEXT, ROWS).exif.items() if v is not None}


def _exif_write(data: bytes) -> None:
    """Plan a patch on any structure; when it succeeds the patched block must decode strictly and
    hold the new values."""
    edits = _exif_edits()
    try:
        patch = exif_codec.plan_patch(data, edits, limits=LIMITS)
    except PhotometaError:
        return
    new = exif_codec.apply_patch(data, patch)
    again = exif_codec.plan_patch(new, {}, limits=LIMITS)  # strict walk of the result
    assert again.tail == b"" and not again.patches, "an empty edit changed the patched block"
    decoded = exif_codec.decode(new, limits=LIMITS)
    for (ifd, tag), write in edits.items():
        assert write is not None
        got = decoded.get(ifd, tag)
        assert got is not None, f"{ifd}:0x{tag:04X} missing after the patch"


def _xmp(data: bytes) -> None:
    try:
        packet = XmpPacket.parse(data, limits=LIMITS)
    except PhotometaError:
        return
    for row in ROWS:
        for home in row.xmp:
            with contextlib.suppress(PhotometaError):
                packet.get(home.path, home.kind)
    out = packet.serialize()
    again = XmpPacket.parse(out, limits=Limits(max_xml_depth=LIMITS.max_xml_depth + 8))
    assert again == packet, "XMP does not survive its own serializer"


def _iptc(data: bytes) -> None:
    try:
        resources = iptc.parse_irb(data, limits=LIMITS)
    except PhotometaError:
        resources = []
    else:
        rebuilt = iptc.build_irb(resources)
        assert iptc.parse_irb(rebuilt, limits=LIMITS) == resources, "IRB does not round-trip"
    blocks = [r.data for r in resources if r.signature == b"8BIM" and r.id == iptc.IRB_IPTC]
    for block in [data, *blocks]:
        try:
            iim = iptc.IimData.decode(block, limits=LIMITS)
        except PhotometaError:
            continue
        values = [(ds.record, ds.number, ds.value) for ds in iim.datasets]
        assert iim.encode() == block, "an unchanged IIM block must encode to its input bytes"
        for record, number, _ in values:
            with contextlib.suppress(PhotometaError):
                iim.get(record, number)
        with contextlib.suppress(PhotometaError):
            iim.set(2, 90, ["Chongjin"])
            again = iptc.IimData.decode(iim.encode(), limits=LIMITS)
            assert again.get(2, 90) == ["Chongjin"], "IIM edit does not read back"


def _write(data: bytes) -> None:
    """The whole write path on a file: when photometa accepts the file the fields read back."""
    import photometa

    folder = _scratch_dir() / f"write-{os.getpid()}"
    shutil.rmtree(folder, ignore_errors=True)  # no sidecar of the previous input
    folder.mkdir()
    path = folder / "image"
    path.write_bytes(data)
    try:
        outcome = photometa.write(path, CONTEXT)
    except PhotometaError:
        outcome = None
    leftovers = [p.name for p in folder.iterdir() if p.name.startswith(".")]
    assert not leftovers, f"write left temporary files behind: {leftovers}"
    if outcome is None:
        assert path.read_bytes() == data, "a failed write changed the file"
        return
    got = photometa.read(path)
    assert got.location.city == "Chongjin", "written city does not read back"
    assert got.subject.keywords == ["port", "항구"], "written keywords do not read back"


# -- seeds -----------------------------------------------------------------------------------------


def _corpus_files(root: Path) -> list[Path]:
    manifest = root / "MANIFEST.tsv"
    if not manifest.is_file():
        return []
    lines = manifest.read_text("utf-8").splitlines()[1:]
    return [root / line.split("\t")[0] for line in lines if line.strip()]


@lru_cache(maxsize=4)
def _corpus_blocks(root: Path) -> tuple[tuple[Path, Container | None, Blocks | None], ...]:
    out = []
    for path in _corpus_files(root):
        try:
            with open(path, "rb") as f:
                container = sniff(f.read(64))
                f.seek(0)
                if container is None:
                    out.append((path, None, None))
                    continue
                blocks = container.read(f, DEFAULT_LIMITS, False)
                if blocks.exif is not None:
                    blocks.exif = bytes(blocks.exif[:SEED_CAP])  # drop any memory map
        except (PhotometaError, OSError):
            continue
        out.append((path, container, blocks))
    return tuple(out)


def _unique(items: list[bytes]) -> list[bytes]:
    seen: dict[bytes, bytes] = {}
    for item in items:
        if item:
            seen.setdefault(hashlib.sha1(item).digest(), item[:SEED_CAP])
    return [seen[k] for k in sorted(seen)]


def _jpeg_head(data: bytes) -> bytes:
    """A JPEG cut a little after its start of scan: metadata is all before it."""
    from photometa.formats import jpeg

    try:
        layout = jpeg.read_layout(io.BytesIO(data), DEFAULT_LIMITS, False)
    except PhotometaError:
        return data[:SEED_CAP]
    if layout.scan_offset is None:
        return data[:SEED_CAP]
    return data[: layout.scan_offset + 512] + b"\xff\xd9"


def _container_seeds(containers: list[Container]) -> Callable[[Path], list[bytes]]:
    def seeds(root: Path) -> list[bytes]:
        out = []
        for path, found, _ in _corpus_blocks(root):
            if found in containers or (found is None and "malformed" in path.parts):
                data = path.read_bytes()
                out.append(_jpeg_head(data) if data[:3] == b"\xff\xd8\xff" else data[:SEED_CAP])
        return _unique(out)

    return seeds


def _block_seeds(pick: Callable[[Blocks], list[bytes | None]], extra: str | None = None
                 ) -> Callable[[Path], list[bytes]]:
    def seeds(root: Path) -> list[bytes]:
        out: list[bytes] = []
        for _, _, blocks in _corpus_blocks(root):
            if blocks is not None:
                out.extend(b for b in pick(blocks) if b)
        if extra is not None:
            out.extend(p.read_bytes() for p in sorted((root / extra).rglob("*")) if p.is_file())
        return _unique(out)

    return seeds


def _irb_and_iim(blocks: Blocks) -> list[bytes | None]:
    found: list[bytes | None] = [blocks.irb, blocks.iim]
    if blocks.irb:
        with contextlib.suppress(PhotometaError):
            found += [r.data for r in iptc.parse_irb(blocks.irb) if r.id == iptc.IRB_IPTC]
    return found


def _write_seeds(root: Path) -> list[bytes]:
    writable = [c for c in REGISTRY if c.write is not None]
    return _container_seeds(writable)(root)


def _exif_seeds(blocks: Blocks) -> list[bytes | None]:
    return [bytes(blocks.exif) if blocks.exif is not None else None]


# -- the list --------------------------------------------------------------------------------------


def _container_module(container: Container) -> str:
    return str(getattr(container.read, "__module__", "") or "")


def available() -> dict[str, Target]:
    """Every target whose parser exists, by name."""
    found: dict[str, Target] = {
        "exif": Target("exif", EXPECTED["exif"], _exif, _block_seeds(_exif_seeds),
                       "TIFF/EXIF IFD walk and every value decoded"),
        "exif-write": Target("exif-write", EXPECTED["exif-write"], _exif_write,
                             _block_seeds(_exif_seeds),
                             "EXIF patch planning on any structure; the result must walk strictly"),
        "xmp": Target("xmp", EXPECTED["xmp"], _xmp,
                      _block_seeds(lambda b: [b.xmp, *b.xmp_extended.values()], extra="xmp"),
                      "XMP/RDF parsing, every mapped property, serializer round trip"),
        "iptc": Target("iptc", EXPECTED["iptc"], _iptc, _block_seeds(_irb_and_iim),
                       "Photoshop IRB and IPTC-IIM datasets, encoder round trip"),
        "write": Target("write", EXPECTED["write"], _write, _write_seeds,
                        "photometa.write on any file: refused cleanly, or written and read back"),
    }
    modules: dict[str, list[Container]] = {}
    for container in REGISTRY:
        modules.setdefault(_container_module(container), []).append(container)
    for module, containers in modules.items():
        name = module.rsplit(".", 1)[-1] or containers[0].name
        kinds = ", ".join(c.name for c in containers)
        found[name] = Target(name, module, _module_target(containers),
                             _container_seeds(containers),
                             f"container walk ({kinds}), block decoding and mapping")
    return {name: found[name] for name in sorted(found)}


def missing() -> list[str]:
    """Expected targets that cannot run yet: their parser module does not exist (or, for a
    container, is not in the registry yet)."""
    have = available()
    return [name for name in EXPECTED if name not in have]


def seeds_for(target: Target, root: Path | None) -> list[bytes]:
    """The target's seeds from the corpus at ``root`` (none without a corpus)."""
    if root is None or not (root / "MANIFEST.tsv").is_file():
        return []
    return target.seeds(root)


def describe() -> dict[str, Any]:
    """What is fuzzed and what is not yet (for ``run.py list``)."""
    return {"targets": {n: t.doc for n, t in available().items()}, "missing": missing()}
