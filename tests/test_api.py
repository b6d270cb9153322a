"""read / write / validate on real JPEG files made by Pillow: merge, clear, no-op, atomicity."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import photometa
from photometa import DEFAULT_LIMITS, PhotoContext, UnsupportedFormatError
from photometa.formats import jpeg

FULL = {
    "location": {
        "sublocation": "Kaeson Youth Park",
        "city": "Pyongyang",
        "region": "Pyongyang",
        "country": "North Korea",
        "country_code": "KP",
        "gps": {"latitude": 39.0392, "longitude": 125.7625, "altitude": 38.5},
    },
    "subject": {
        "headline": "Soldiers resting by the road",
        "caption": "Two soldiers smoke during a break; minders asked the photographer "
        "to delete it.",
        "keywords": ["soldiers", "rest", "평양"],
        "persons": ["soldier", "tour guide"],
        "event": "Day of the Sun",
    },
    "photographer": {
        "name": "Eric Lafforgue",
        "credit": "Eric Lafforgue",
        "copyright": "© Eric Lafforgue",
        "contact": "https://example.org/lafforgue",
    },
    "restriction": {
        "status": "deletion-requested",
        "category": "military",
        "reason": "Pictures of soldiers relaxing are forbidden 🚫",
        "authority": "North Korean government minders",
    },
    "captured_at": "2012-04-15T10:30:05+09:00",
    "source": "Photos Banned By North Korea, But Smuggled Out (web feature)",
}


def full_context() -> PhotoContext:
    return PhotoContext.model_validate(FULL)


def scan_hash(path: Path) -> str:
    """Hash of the bytes from the start of scan on (found by walking the segments)."""
    with open(path, "rb") as f:
        layout = jpeg.read_layout(f, DEFAULT_LIMITS, strict=True)
    assert layout.scan_offset is not None
    return hashlib.sha256(path.read_bytes()[layout.scan_offset :]).hexdigest()


def test_round_trip_full_context(make_jpeg: Callable[..., Path]) -> None:
    path = make_jpeg()
    before = scan_hash(path)
    outcome = photometa.write(path, full_context())
    assert outcome.written
    assert photometa.read(path) == full_context()
    assert scan_hash(path) == before
    result = photometa.read_detailed(path)
    assert [f for f in result.findings if f.severity != "info"] == []


def test_write_merges_with_what_the_file_holds(make_jpeg: Callable[..., Path]) -> None:
    path = make_jpeg()
    photometa.write(path, full_context())
    photometa.write(path, PhotoContext(location={"city": "Kaesong"}))
    ctx = photometa.read(path)
    assert ctx.location.city == "Kaesong"
    assert ctx.photographer.name == "Eric Lafforgue"
    assert ctx.subject.keywords == ["soldiers", "rest", "평양"]


def test_clear_removes_a_field_everywhere(make_jpeg: Callable[..., Path]) -> None:
    path = make_jpeg()
    photometa.write(path, full_context())
    photometa.write(
        path, PhotoContext(), clear=["location.city", "location.gps", "subject.keywords"]
    )
    ctx = photometa.read(path)
    assert ctx.location.city is None
    assert ctx.location.gps is None
    assert ctx.subject.keywords == []
    assert ctx.location.country == "North Korea"


def test_unknown_clear_field_is_an_error(make_jpeg: Callable[..., Path]) -> None:
    with pytest.raises(photometa.InvalidValueError) as info:
        photometa.write(make_jpeg(), PhotoContext(), clear=["location.town"])
    assert info.value.field == "location.town"


def test_rewriting_same_values_does_not_touch_the_file(make_jpeg: Callable[..., Path]) -> None:
    path = make_jpeg()
    photometa.write(path, full_context())
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    data = path.read_bytes()
    outcome = photometa.write(path, full_context())
    assert not outcome.written and not outcome.changes
    assert path.read_bytes() == data
    assert path.stat().st_mtime_ns == 1_000_000_000


def test_dry_run_reports_changes_and_writes_nothing(make_jpeg: Callable[..., Path]) -> None:
    path = make_jpeg()
    data = path.read_bytes()
    outcome = photometa.write(path, PhotoContext(location={"city": "Wonsan"}), dry_run=True)
    assert outcome.changes == {"location.city": (None, "Wonsan")}
    assert not outcome.written
    assert path.read_bytes() == data


def test_repeated_writes_do_not_grow_without_bound(make_jpeg: Callable[..., Path]) -> None:
    path = make_jpeg()
    sizes = []
    for i in range(20):
        photometa.write(
            path,
            PhotoContext(
                subject={"caption": f"caption number {i} " * (i % 3 + 1)},
                photographer={"name": f"Photographer {i}"},
            ),
        )
        sizes.append(path.stat().st_size)
    assert photometa.read(path).photographer.name == "Photographer 19"
    assert sizes[-1] - sizes[2] < 4096, sizes


def test_keeps_mode_and_writes_through_symlink(
    make_jpeg: Callable[..., Path], tmp_path: Path
) -> None:
    path = make_jpeg()
    os.chmod(path, 0o640)
    link = tmp_path / "link.jpg"
    link.symlink_to(path)
    photometa.write(link, PhotoContext(location={"city": "Hamhung"}))
    assert link.is_symlink()
    assert photometa.read(path).location.city == "Hamhung"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".photometa-")]


def test_naive_and_aware_capture_times(make_jpeg: Callable[..., Path]) -> None:
    path = make_jpeg()
    naive = datetime(2012, 9, 9, 8, 0, 0)
    photometa.write(path, PhotoContext(captured_at=naive))
    assert photometa.read(path).captured_at == naive
    aware = datetime(2012, 9, 9, 8, 0, 0, 250000, tzinfo=timezone(timedelta(hours=-5, minutes=-30)))
    photometa.write(path, PhotoContext(captured_at=aware))
    assert photometa.read(path).captured_at == aware


def test_unsupported_format_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("this is not an image")
    with pytest.raises(UnsupportedFormatError) as info:
        photometa.read(path)
    assert info.value.path == path
    assert "notes.jpg" in str(info.value)
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(UnsupportedFormatError, match="empty"):
        photometa.read(empty)


def test_read_result_names_the_file_as_a_path(make_jpeg: Callable[..., Path]) -> None:
    path = make_jpeg()
    photometa.write(path, PhotoContext(source="archive"), sidecar="never")
    for given in (path, str(path), os.fsencode(path).decode()):
        result = photometa.read_detailed(given)
        assert result.path == path and type(result.path) is type(path)
        assert result.context is not None and result.context.source == "archive"
        assert result.sidecar is None and result.format == "jpeg"


def test_truncated_jpeg_reads_tolerantly_but_refuses_write(make_jpeg: Callable[..., Path]) -> None:
    path = make_jpeg()
    photometa.write(path, full_context())
    data = path.read_bytes()
    cut = data.index(b"\xff\xda") - 10  # inside the header segments
    path.write_bytes(data[:cut])
    result = photometa.read_detailed(path)
    assert any(f.code == "jpeg-truncated" for f in result.findings)
    with pytest.raises(photometa.CorruptFileError) as info:
        photometa.write(path, PhotoContext(location={"city": "Nampho"}))
    assert info.value.path == path and info.value.offset is not None
    assert path.read_bytes() == data[:cut]


def test_validate_reports_vocabulary_and_iim_limits(make_jpeg: Callable[..., Path]) -> None:
    path = make_jpeg()
    photometa.write(
        path,
        PhotoContext(restriction={"status": "forbidden-ish"}, location={"city": "X" * 40}),
        iim="never",
    )
    report = photometa.validate(path)
    codes = {(f.field, f.code) for f in report.findings}
    assert ("restriction.status", "vocab-unknown") in codes
    assert ("location.city", "iim-too-long") in codes
    assert not report.ok
    photometa.write(
        path, PhotoContext(restriction={"status": "banned"}, location={"city": "Pyongyang"})
    )
    assert photometa.validate(path).ok


def test_read_many_streams_results_and_errors(
    make_jpeg: Callable[..., Path], tmp_path: Path
) -> None:
    good = [make_jpeg() for _ in range(5)]
    for i, p in enumerate(good):
        photometa.write(p, PhotoContext(location={"city": f"City {i}"}))
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"garbage")
    paths = [*good[:2], bad, *good[2:]]
    results = list(photometa.read_many(paths, workers=2))
    assert [r.path for r in results] == paths
    assert results[2].error is not None and results[2].error.code == "unsupported-format"
    assert [r.context.location.city for r in results if r.context] == [
        f"City {i}" for i in range(5)
    ]


# -- checking the new file before it replaces the old one (verify="sample" / "full") -------------


def _noisy_jpeg(path: Path, size: tuple[int, int] = (640, 480)) -> Path:
    """A JPEG whose image data is far longer than two sample windows (noise compresses badly)."""
    import io
    import random

    from PIL import Image

    rng = random.Random(7)
    img = Image.frombytes("RGB", size, rng.randbytes(3 * size[0] * size[1]))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=92)
    path.write_bytes(buf.getvalue())
    return path


def _temps(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith(".photometa-")]


@pytest.mark.parametrize("verify", ["sample", "full"])
def test_both_verify_modes_write_the_same_file(tmp_path: Path, verify: str) -> None:
    path = _noisy_jpeg(tmp_path / "a.jpg")
    other = _noisy_jpeg(tmp_path / "b.jpg")
    assert photometa.write(path, full_context(), verify=verify).written  # type: ignore[arg-type]
    photometa.write(other, full_context())  # the default: sample
    assert path.read_bytes() == other.read_bytes()
    assert photometa.read(path) == full_context()


def test_a_bad_verify_value_names_the_argument(make_jpeg: Callable[..., Path]) -> None:
    path = make_jpeg()
    data = path.read_bytes()
    with pytest.raises(photometa.InvalidValueError) as info:
        photometa.write(path, full_context(), verify="none")  # type: ignore[arg-type]
    assert info.value.field == "verify" and info.value.code == "bad-argument"
    assert "verify" in str(info.value) and "sample, full" in str(info.value)
    assert path.read_bytes() == data


def _corrupting_copy(monkeypatch: pytest.MonkeyPatch, where: Callable[[int], int]) -> None:
    """Make the JPEG writer's kernel copy of the image data flip one byte, at ``where(length)``
    bytes into the copied range."""
    real = jpeg.copy_range

    def copy(src: Any, src_offset: int, dst: Any, dst_offset: int, length: int) -> int:
        done = real(src, src_offset, dst, dst_offset, length)
        at = dst_offset + where(length)
        byte = os.pread(dst.fileno(), 1, at)
        os.pwrite(dst.fileno(), bytes([byte[0] ^ 0x20]), at)
        return done

    monkeypatch.setattr(jpeg, "copy_range", copy)


@pytest.mark.parametrize("verify", ["sample", "full"])
@pytest.mark.parametrize("where", ["first bytes", "last bytes"])
def test_damage_in_a_sampled_window_fails_both_modes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, verify: str, where: str) -> None:
    path = _noisy_jpeg(tmp_path / "a.jpg")
    data = path.read_bytes()
    _corrupting_copy(monkeypatch, (lambda n: 100) if where == "first bytes" else (lambda n: n - 5))
    with pytest.raises(photometa.WriteError) as info:
        photometa.write(path, full_context(), verify=verify)  # type: ignore[arg-type]
    assert info.value.code == "image-data-changed"
    assert info.value.path == path
    assert path.read_bytes() == data
    assert not _temps(tmp_path)


@pytest.mark.parametrize("verify", ["sample", "full"])
def test_damage_in_the_middle_of_a_long_range_fails_only_full(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, verify: str) -> None:
    path = _noisy_jpeg(tmp_path / "a.jpg")
    data = path.read_bytes()
    start = len(data) - len(scan_bytes(data))
    assert len(data) - start > 4 * 64 * 1024  # the middle lies outside both windows
    _corrupting_copy(monkeypatch, lambda n: n // 2)
    if verify == "full":
        with pytest.raises(photometa.WriteError) as info:
            photometa.write(path, full_context(), verify="full")
        assert info.value.code == "image-data-changed"
        assert path.read_bytes() == data
    else:  # the documented limit of the sampled check: the damage goes through
        assert photometa.write(path, full_context(), verify="sample").written
        assert scan_bytes(path.read_bytes()) != scan_bytes(data)
    assert not _temps(tmp_path)


def scan_bytes(data: bytes) -> bytes:
    import io

    layout = jpeg.read_layout(io.BytesIO(data), DEFAULT_LIMITS, strict=True)
    assert layout.scan_offset is not None
    return data[layout.scan_offset :]


@contextmanager
def _jpeg_writer(fn: Callable[..., Any]) -> Iterator[None]:
    """Swap the JPEG container's write function (the container is a frozen dataclass)."""
    real = jpeg.CONTAINER.write
    object.__setattr__(jpeg.CONTAINER, "write", fn)
    try:
        yield
    finally:
        object.__setattr__(jpeg.CONTAINER, "write", real)


@pytest.mark.parametrize("verify", ["sample", "full"])
def test_a_new_file_of_the_wrong_size_is_refused(tmp_path: Path, verify: str) -> None:
    path = _noisy_jpeg(tmp_path / "a.jpg", size=(64, 48))
    data = path.read_bytes()
    real = jpeg.CONTAINER.write
    assert real is not None

    def write_and_append(src: Any, dst: Any, update: Any, limits: Any) -> Any:
        result = real(src, dst, update, limits)
        dst.seek(0, 2)
        dst.write(b"\xff\xd9")  # two bytes more than the container wrote
        return result

    with _jpeg_writer(write_and_append), pytest.raises(photometa.WriteError) as info:
        photometa.write(path, full_context(), verify=verify)  # type: ignore[arg-type]
    assert info.value.code == "verify-failed"
    assert "bytes" in str(info.value)
    assert path.read_bytes() == data
    assert not _temps(tmp_path)


@pytest.mark.parametrize("verify", ["sample", "full"])
def test_metadata_other_than_what_was_written_is_refused(tmp_path: Path, verify: str) -> None:
    from dataclasses import replace

    path = _noisy_jpeg(tmp_path / "a.jpg", size=(64, 48))
    data = path.read_bytes()
    real = jpeg.write

    def write_other_xmp(src: Any, dst: Any, update: Any, limits: Any) -> Any:
        assert update.xmp is not None
        return real(src, dst, replace(update, xmp=update.xmp.replace(b"Pyongyang", b"Pyongyanx")),
                    limits)

    with _jpeg_writer(write_other_xmp), pytest.raises(photometa.WriteError) as info:
        photometa.write(path, full_context(), verify=verify)  # type: ignore[arg-type]
    assert info.value.code == "verify-failed"
    assert "XMP" in str(info.value)
    assert path.read_bytes() == data
    assert not _temps(tmp_path)


@pytest.mark.parametrize("change", ["chmod", "rewrite"])
def test_a_source_changed_during_the_write_is_refused(tmp_path: Path, change: str) -> None:
    """The source's size, mtime, ctime and inode are compared once the copy is made: even a
    chmod (ctime only) by another program stops the write."""
    path = _noisy_jpeg(tmp_path / "a.jpg", size=(64, 48))
    real = jpeg.write

    def write_then_meddle(src: Any, dst: Any, update: Any, limits: Any) -> Any:
        result = real(src, dst, update, limits)
        if change == "chmod":
            os.chmod(path, 0o640)
        else:
            st = path.stat()
            with open(path, "r+b") as f:  # same size, same mtime: only the ctime tells
                f.seek(-3, 2)
                f.write(b"\x00\xff\xd9")
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        return result

    with _jpeg_writer(write_then_meddle), pytest.raises(photometa.WriteError) as info:
        photometa.write(path, full_context())
    assert info.value.code == "changed-meanwhile"
    assert photometa.read(path).location.city is None  # the other program's version stays
    assert not _temps(tmp_path)


def test_a_write_that_changes_nothing_makes_no_temporary_file(
        make_jpeg: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """Decided from the blocks in memory: no temporary file, no rename, mtime and inode kept."""
    from photometa import api

    path = make_jpeg()
    photometa.write(path, full_context())
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    before = path.stat()

    def never(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a temporary file was made for a write that changes nothing")

    monkeypatch.setattr(api, "atomic_replace", never)
    for verify in ("sample", "full"):
        outcome = photometa.write(path, full_context(), verify=verify)  # type: ignore[arg-type]
        assert not outcome.written and not outcome.changes
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns, after.st_ctime_ns) == (
        before.st_ino, before.st_mtime_ns, before.st_ctime_ns)


def test_the_old_file_is_closed_and_unlocked_after_a_write(make_jpeg: Callable[..., Path]) -> None:
    """The replaced file's last close (which frees its space) runs on a background thread; once
    it has run, no descriptor of this process refers to the old file."""
    import fcntl

    from photometa import _fileio

    path = make_jpeg()
    for i in range(5):
        photometa.write(path, PhotoContext(location={"city": f"City {i}"}))
    _fileio.drain_closes()
    fds = Path("/proc/self/fd")
    if fds.is_dir():
        for link in fds.iterdir():
            try:
                where = os.readlink(link)
            except OSError:
                continue
            assert not where.startswith(str(path.parent)), f"{where} still open"
    with open(path, "rb") as f:  # nobody holds the lock of the file in place
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
