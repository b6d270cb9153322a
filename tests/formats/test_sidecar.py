"""XMP sidecars: naming, the read precedence, sidecar-only writes for every format, updates that
keep other tools' data, atomic creation, and interoperability with ExifTool and Exiv2."""

from __future__ import annotations

import builtins
import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import photometa
from conftest import REPO, corpus_params, need_corpus_file, run_exiftool
from photometa import (
    CorruptFileError,
    InvalidValueError,
    PhotoContext,
    UnsupportedFormatError,
    WriteError,
)
from photometa.batch import expand_paths
from photometa.codecs.xmp import XmpPacket
from photometa.formats import sidecar, sniff
from test_api import full_context

CONFIG = REPO / "schemas" / "photometa.exiftool.config"

FOREIGN = b"""<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Adobe XMP Core 7.0">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/"
    xmlns:darktable="http://darktable.sf.net/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    crs:Exposure2012="+0.35" darktable:history_end="4">
   <dc:description><rdf:Alt><rdf:li xml:lang="x-default">Caption from the sidecar</rdf:li>
   </rdf:Alt></dc:description>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def jpeg_with_caption(make_jpeg: Callable[..., Path], caption: str = "Caption in the file",
                      name: str = "photo.jpg") -> Path:
    path: Path = make_jpeg(name)
    photometa.write(path, PhotoContext(subject={"caption": caption}), sidecar="never")
    return path


def avif(tmp_path: Path, name: str = "photo.avif") -> Path:
    path = tmp_path / name
    Image.new("RGB", (40, 30), (20, 120, 60)).save(path, "AVIF")
    return path


# -- naming --------------------------------------------------------------------------------------


def test_names(tmp_path: Path) -> None:
    image = tmp_path / "IMG_0042.CR2"
    assert sidecar.sidecar_path(image) == tmp_path / "IMG_0042.xmp"
    assert sidecar.sidecar_path(image, "append") == tmp_path / "IMG_0042.CR2.xmp"
    assert sidecar.sidecar_path(tmp_path / "scan") == tmp_path / "scan.xmp"
    assert sidecar.candidates(image) == [tmp_path / "IMG_0042.xmp", tmp_path / "IMG_0042.XMP",
                                         tmp_path / "IMG_0042.CR2.xmp",
                                         tmp_path / "IMG_0042.CR2.XMP"]
    assert sidecar.candidates(image, "append")[0] == tmp_path / "IMG_0042.CR2.xmp"


def test_find_prefers_the_configured_name_and_falls_back(tmp_path: Path) -> None:
    image = tmp_path / "a.dng"
    image.write_bytes(b"")
    assert sidecar.find(image) is None
    (tmp_path / "a.dng.xmp").write_bytes(FOREIGN)
    assert sidecar.find(image) == tmp_path / "a.dng.xmp"  # darktable's, found with "replace"
    (tmp_path / "a.XMP").write_bytes(FOREIGN)
    assert sidecar.find(image) == tmp_path / "a.XMP"
    assert sidecar.find(image, "append") == tmp_path / "a.dng.xmp"
    assert sidecar.find(tmp_path / "a.XMP") is None  # an XMP file has no sidecar


FIND_NAMES = ["photo.jpg", "photo", "IMG.CR2", "a.b.tiff", "x.", ".hidden", ".hidden.jpg",
              "y.JPG", "z.tar.gz", "w.Xmp", "v.xmp.jpg", "u..jpg", "café.jpeg", "sp ace.png"]


@pytest.mark.parametrize("naming", [*sidecar.NAMINGS, "other"])
def test_find_takes_the_first_existing_candidate(tmp_path: Path, naming: Any) -> None:
    """find() stats names it builds as strings: the same answer as each candidate's is_file()."""
    for n, name in enumerate(FIND_NAMES):
        names = [p.name for p in sidecar.candidates(Path(name), naming)]
        for mask in range(1 << len(names)):
            folder = tmp_path / f"{n}-{mask}"
            folder.mkdir()
            image = folder / name
            image.write_bytes(b"")
            for i, side in enumerate(names):
                if mask >> i & 1:
                    (folder / side).write_bytes(FOREIGN)
            want = next((folder / s for i, s in enumerate(names) if mask >> i & 1), None)
            if name.lower().endswith(".xmp"):
                want = None
            assert sidecar.find(image, naming) == want, (name, mask)
            assert sidecar._find_paths(image, naming) == want


def test_find_skips_what_is_not_a_regular_file(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    image = tmp_path / "a.jpg"
    image.write_bytes(b"")
    (tmp_path / "a.xmp").mkdir()
    (tmp_path / "a.XMP").symlink_to(tmp_path / "nowhere")
    assert sidecar.find(image) is None
    (tmp_path / "target").write_bytes(FOREIGN)
    (tmp_path / "a.jpg.xmp").symlink_to(tmp_path / "target")
    assert sidecar.find(image) == tmp_path / "a.jpg.xmp"
    monkeypatch.chdir(tmp_path)  # a relative path gives a relative sidecar path
    assert sidecar.find(Path("a.jpg")) == Path("a.jpg.xmp")
    (tmp_path / "sub").mkdir()
    assert sidecar.find(Path("sub/../a.jpg"), "append") == Path("sub/../a.jpg.xmp")
    with pytest.raises(ValueError):  # no name to derive one from, as before
        sidecar.find(Path("/"))


def test_find_raises_what_is_file_raises(tmp_path: Path) -> None:
    image = tmp_path / ("a" * 250 + ".jpg")  # the appended name is too long for the file system
    errors = []
    for find in (sidecar.find, sidecar._find_paths):
        with pytest.raises(OSError) as caught:
            find(image, "replace")
        errors.append(caught.value.errno)
    assert errors[0] == errors[1]


def test_xmp_files_are_sniffed_by_content() -> None:
    for head in (b"<?xpacket begin='\xef\xbb\xbf' id='W5M0MpCehiHzreSzNTczkc9d'?>",
                 b"\xef\xbb\xbf<x:xmpmeta xmlns:x='adobe:ns:meta/'>",
                 b"  \n<rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'>",
                 b'<?xml version="1.0" encoding="UTF-8"?>\n<x:xmpmeta xmlns:x="adobe:ns:meta/">',
                 b'<?xml version="1.0"?>\n<!-- darktable -->\n<x:xmpmeta>'):
        assert sniff(head) is sidecar.CONTAINER, head
    for head in (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg">',
                 b"<html>", b"GIF89a"):
        assert sniff(head) is not sidecar.CONTAINER, head


def test_expand_paths_does_not_list_sidecars(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"x")
    (tmp_path / "a.xmp").write_bytes(FOREIGN)
    (tmp_path / "b.CR2").write_bytes(b"x")
    (tmp_path / "b.CR2.XMP").write_bytes(FOREIGN)
    assert sorted(p.name for p in expand_paths([tmp_path])) == ["a.jpg", "b.CR2"]


# -- reading -------------------------------------------------------------------------------------


def test_the_sidecar_wins_over_the_file(make_jpeg: Callable[..., Path]) -> None:
    path = jpeg_with_caption(make_jpeg)
    photometa.write(path, PhotoContext(location={"city": "Wonsan"}), sidecar="never")
    (path.parent / "photo.xmp").write_bytes(FOREIGN)
    result = photometa.read_detailed(path)
    assert result.sidecar == path.parent / "photo.xmp"
    assert result.context is not None
    assert result.context.subject.caption == "Caption from the sidecar"
    assert result.context.location.city == "Wonsan"  # not in the sidecar: the file's value
    [override] = [f for f in result.findings if f.code == "sidecar-overrides"]
    assert override.field == "subject.caption" and override.severity == "info"
    alone = photometa.read_detailed(path, sidecar="never")
    assert alone.sidecar is None
    assert alone.context is not None
    assert alone.context.subject.caption == "Caption in the file"


def test_an_unreadable_sidecar_is_reported_and_not_used(make_jpeg: Callable[..., Path]) -> None:
    path = jpeg_with_caption(make_jpeg)
    (path.parent / "photo.xmp").write_bytes(b"<x:xmpmeta><rdf:RDF><broken")
    result = photometa.read_detailed(path)
    assert result.sidecar is None
    assert result.context is not None
    assert result.context.subject.caption == "Caption in the file"
    assert [f.code for f in result.findings] == ["sidecar-unreadable"]


@pytest.mark.parametrize("path", corpus_params(folder="xmp"))
def test_corpus_xmp_packets_read_as_sidecars(path: Path | None, tmp_path: Path,
                                             make_jpeg: Callable[..., Path]) -> None:
    path = need_corpus_file(path)
    direct = photometa.read_detailed(path)
    assert direct.format == "xmp" and direct.context is not None
    image = make_jpeg("shot.jpg")
    shutil.copyfile(path, tmp_path / "shot.xmp")
    via = photometa.read_detailed(image)
    assert via.sidecar == tmp_path / "shot.xmp"
    assert via.context == direct.context


def test_corpus_xmp_values_agree_with_exiftool(corpus: Path, truth: dict[str, dict[str, object]]
                                               ) -> None:
    checked = 0
    for name, record in truth.items():
        if not name.startswith("xmp/"):
            continue
        ctx = photometa.read(corpus / name)
        if isinstance(record.get("XMP-dc:Description"), str):
            assert ctx.subject.caption == record["XMP-dc:Description"], name
            checked += 1
        if isinstance(record.get("XMP-photoshop:City"), str):
            assert ctx.location.city == record["XMP-photoshop:City"], name
            checked += 1
    assert checked >= 3


def test_reads_a_sidecar_exiftool_wrote(tmp_path: Path, exiftool: str) -> None:
    image = avif(tmp_path)
    side = tmp_path / "photo.xmp"
    proc = subprocess.run(
        [exiftool, "-config", str(CONFIG), "-o", str(side),
         "-XMP-dc:Description=Written by ExifTool", "-XMP-dc:Subject=market",
         "-XMP-dc:Subject=평양", "-XMP-dc:Creator=Eric Lafforgue",
         "-XMP-photoshop:City=Pyongyang", "-XMP-photoshop:DateCreated=2013:02:16 11:12:13+09:00",
         "-XMP-exif:GPSLatitude=39.0194", "-XMP-exif:GPSLatitudeRef=N",
         "-XMP-exif:GPSLongitude=125.7381", "-XMP-exif:GPSLongitudeRef=E",
         "-XMP-pmeta:RestrictionStatus=restricted", str(image)],
        capture_output=True, check=False)
    assert side.is_file(), proc.stderr
    ctx = photometa.read(image)
    assert ctx.subject.caption == "Written by ExifTool"
    assert ctx.subject.keywords == ["market", "평양"]
    assert ctx.photographer.name == "Eric Lafforgue"
    assert ctx.location.city == "Pyongyang"
    assert ctx.restriction.status == "restricted"
    assert ctx.captured_at is not None and ctx.captured_at.isoformat() == \
        "2013-02-16T11:12:13+09:00"
    assert ctx.location.gps is not None
    assert abs(ctx.location.gps.latitude - 39.0194) < 1e-6
    assert abs(ctx.location.gps.longitude - 125.7381) < 1e-6


# -- writing -------------------------------------------------------------------------------------


def test_read_only_format_goes_to_a_new_sidecar(tmp_path: Path) -> None:
    image = avif(tmp_path)
    before = sha(image)
    outcome = photometa.write(image, full_context())
    assert outcome.written and outcome.sidecar == tmp_path / "photo.xmp"
    assert set(outcome.changes) >= {"subject.caption", "location.gps", "captured_at"}
    assert sha(image) == before
    assert photometa.read(image) == full_context()
    assert photometa.read(image, sidecar="never") == PhotoContext()
    data = outcome.sidecar.read_bytes()
    assert b"xmpMM" not in data and b"<?xpacket end=" in data
    assert data.rstrip().endswith(b'<?xpacket end="w"?>')
    assert b"   \n" * 2 not in data  # no padding in a sidecar


def test_sidecar_only_mode_never_opens_the_image_for_writing(
        make_jpeg: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> None:
    path = jpeg_with_caption(make_jpeg)
    before, inode = sha(path), path.stat().st_ino
    writes: list[str] = []
    real_open, real_os_open = builtins.open, os.open

    def spy_open(file: Any, mode: str = "r", *args: Any, **kw: Any) -> Any:
        if isinstance(file, (str, os.PathLike)) and os.fspath(file) == os.fspath(path) \
                and set(mode) & set("wax+"):
            writes.append(mode)
        return real_open(file, mode, *args, **kw)

    def spy_os_open(file: Any, flags: int, *args: Any, **kw: Any) -> int:
        if os.fspath(file) == os.fspath(path) and flags & (os.O_WRONLY | os.O_RDWR):
            writes.append(str(flags))
        return real_os_open(file, flags, *args, **kw)

    monkeypatch.setattr(builtins, "open", spy_open)
    monkeypatch.setattr(os, "open", spy_os_open)
    path.chmod(0o444)
    outcome = photometa.write(path, full_context(), sidecar="always")
    monkeypatch.undo()
    assert outcome.written and outcome.sidecar == path.with_suffix(".xmp")
    assert writes == []
    assert sha(path) == before and path.stat().st_ino == inode
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert photometa.read(path) == full_context()
    # the file's own caption is still there, under the sidecar's
    assert photometa.read(path, sidecar="never").subject.caption == "Caption in the file"


def test_auto_writes_in_place_and_keeps_an_existing_sidecar_in_agreement(
        make_jpeg: Callable[..., Path]) -> None:
    path = jpeg_with_caption(make_jpeg)
    assert photometa.write(path, PhotoContext(location={"city": "Kaesong"})).sidecar is None
    assert not path.with_suffix(".xmp").exists()
    side = path.with_suffix(".xmp")
    side.write_bytes(FOREIGN)
    outcome = photometa.write(path, PhotoContext(subject={"caption": "New caption"}))
    assert outcome.written and outcome.sidecar == side
    assert photometa.read(path, sidecar="never").subject.caption == "New caption"
    assert photometa.read(path).subject.caption == "New caption"
    packet = XmpPacket.parse(side.read_bytes())
    assert packet.get("dc:description", "langalt") == "New caption"
    assert packet.get("photoshop:City", "text") == "Kaesong"  # the whole context is in it


def test_an_update_keeps_other_tools_data(tmp_path: Path) -> None:
    image = avif(tmp_path)
    side = tmp_path / "photo.avif.xmp"  # darktable's name, found even with the default naming
    side.write_bytes(FOREIGN)
    outcome = photometa.write(image, PhotoContext(location={"city": "Hamhung"}))
    assert outcome.sidecar == side
    assert not (tmp_path / "photo.xmp").exists()
    text = side.read_text("utf-8")
    assert 'crs:Exposure2012>+0.35<' in text or 'crs:Exposure2012="+0.35"' in text
    assert "darktable:history_end" in text
    ctx = photometa.read(image)
    assert ctx.location.city == "Hamhung"
    assert ctx.subject.caption == "Caption from the sidecar"


def test_append_naming(tmp_path: Path) -> None:
    image = avif(tmp_path)
    outcome = photometa.write(image, PhotoContext(location={"city": "Nampo"}),
                              sidecar_naming="append")
    assert outcome.sidecar == tmp_path / "photo.avif.xmp"
    assert photometa.read(image, sidecar_naming="append").location.city == "Nampo"
    assert photometa.read(image).location.city == "Nampo"  # found by the fallback too


def test_nothing_to_change_creates_no_sidecar(make_jpeg: Callable[..., Path]) -> None:
    path = jpeg_with_caption(make_jpeg)
    outcome = photometa.write(path, PhotoContext(subject={"caption": "Caption in the file"}),
                              sidecar="always")
    assert not outcome.written and outcome.changes == {}
    assert not path.with_suffix(".xmp").exists()
    dry = photometa.write(path, full_context(), sidecar="always", dry_run=True)
    assert dry.changes and not dry.written and dry.sidecar == path.with_suffix(".xmp")
    assert not path.with_suffix(".xmp").exists()


def test_never_refuses_read_only_formats(tmp_path: Path) -> None:
    image = avif(tmp_path)
    with pytest.raises(UnsupportedFormatError) as err:
        photometa.write(image, full_context(), sidecar="never")
    assert err.value.code == "read-only-format" and err.value.path == image
    assert not (tmp_path / "photo.xmp").exists()


def test_clearing_a_value_the_image_holds_is_refused(make_jpeg: Callable[..., Path]) -> None:
    path = jpeg_with_caption(make_jpeg)
    photometa.write(path, PhotoContext(location={"city": "Wonsan"}), sidecar="always")
    side = path.with_suffix(".xmp")
    before = side.read_bytes()
    with pytest.raises(InvalidValueError) as err:
        photometa.write(path, PhotoContext(), clear=["subject.caption"], sidecar="always")
    assert err.value.code == "sidecar-cannot-clear" and err.value.field == "subject.caption"
    assert side.read_bytes() == before
    # a value only the sidecar holds can be cleared
    outcome = photometa.write(path, PhotoContext(), clear=["location.city"], sidecar="always")
    assert outcome.changes == {"location.city": ("Wonsan", None)}
    assert photometa.read(path).location.city is None
    # in auto mode on a writable file both are cleared
    photometa.write(path, PhotoContext(subject={"caption": "x"}), sidecar="always")
    photometa.write(path, PhotoContext(), clear=["subject.caption"])
    assert photometa.read(path).subject.caption is None
    assert photometa.read(path, sidecar="never").subject.caption is None


def test_a_broken_sidecar_is_never_overwritten(tmp_path: Path) -> None:
    image = avif(tmp_path)
    side = tmp_path / "photo.xmp"
    side.write_bytes(b"<x:xmpmeta><rdf:RDF><oops")
    with pytest.raises(CorruptFileError) as err:
        photometa.write(image, full_context())
    assert err.value.path == side
    assert side.read_bytes() == b"<x:xmpmeta><rdf:RDF><oops"


def test_writing_an_xmp_file_itself(tmp_path: Path) -> None:
    side = tmp_path / "loose.xmp"
    side.write_bytes(FOREIGN)
    outcome = photometa.write(side, PhotoContext(subject={"keywords": ["a", "b"]}))
    assert outcome.written and outcome.sidecar is None and outcome.path == side
    ctx = photometa.read(side)
    assert ctx.subject.keywords == ["a", "b"]
    assert ctx.subject.caption == "Caption from the sidecar"
    assert b"crs:Exposure2012" in side.read_bytes()


def test_new_sidecar_permissions_follow_the_image(tmp_path: Path) -> None:
    image = avif(tmp_path)
    image.chmod(0o640)
    side = photometa.write(image, full_context()).sidecar
    assert side is not None
    assert stat.S_IMODE(side.stat().st_mode) == 0o640


def test_a_sidecar_appearing_meanwhile_is_not_clobbered(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    image = avif(tmp_path)
    side = tmp_path / "photo.xmp"
    real_link = os.link

    def racing_link(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        Path(dst).write_bytes(FOREIGN)  # another program creates it first
        real_link(src, dst)

    monkeypatch.setattr(os, "link", racing_link)
    with pytest.raises(WriteError) as err:
        photometa.write(image, full_context())
    assert err.value.code == "changed-meanwhile"
    assert side.read_bytes() == FOREIGN
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".photometa-")] == []


def test_bad_arguments(tmp_path: Path) -> None:
    image = avif(tmp_path)
    with pytest.raises(InvalidValueError):
        photometa.write(image, full_context(), sidecar="sometimes")  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError):
        photometa.read(image, sidecar_naming="prefix")  # type: ignore[arg-type]


def test_write_file_creates_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "x.xmp"
    sidecar.write_file(target, b"one")
    assert target.read_bytes() == b"one"
    sidecar.write_file(target, b"two")
    assert target.read_bytes() == b"two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.xmp"]


def test_sidecar_read_is_bounded() -> None:
    limits = photometa.Limits(max_xmp_bytes=100)
    with pytest.raises(photometa.LimitExceededError):
        sidecar.read(io.BytesIO(b"<x:xmpmeta>" + b" " * 200), limits, False)
    with pytest.raises(CorruptFileError):
        sidecar.read(io.BytesIO(b"   \n"), photometa.DEFAULT_LIMITS, False)


# -- interoperability ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["dng/exiftool/DNG.dng", "raw/exiftool/CanonRaw.cr2",
                                  "heif/exif-py/iphone_13_pro_max.heic"])
def test_exiftool_and_exiv2_read_sidecars_of_raw_files(name: str, corpus: Path, tmp_path: Path,
                                                       exiftool: str, exiv2: str) -> None:
    copy = tmp_path / Path(name).name
    shutil.copyfile(corpus / name, copy)
    before = sha(copy)
    side = photometa.write(copy, full_context()).sidecar
    assert side is not None and sha(copy) == before
    ctx = full_context()
    [tags] = run_exiftool(exiftool, "-config", CONFIG, "-G1", "-struct", "-n", side)
    assert tags["XMP-dc:Description"] == ctx.subject.caption
    assert tags["XMP-dc:Subject"] == ["soldiers", "rest", "평양"]
    assert tags["XMP-dc:Creator"] == ["Eric Lafforgue"]
    assert tags["XMP-dc:Rights"] == "© Eric Lafforgue"
    assert tags["XMP-photoshop:City"] == "Pyongyang"
    assert tags["XMP-iptcCore:CountryCode"] == "KP"
    assert tags["XMP-pmeta:RestrictionStatus"] == "deletion-requested"
    out = subprocess.run([exiv2, "-pa", "-q", str(side)], capture_output=True, check=False)
    lines = out.stdout.decode("utf-8", "replace")
    assert "Xmp.dc.description" in lines and "Two soldiers smoke" in lines
    assert "Xmp.photoshop.City" in lines and "Pyongyang" in lines
    assert "Xmp.pmeta.RestrictionCategory" in lines and "military" in lines


@pytest.mark.parametrize("path", corpus_params(folder="xmp"))
def test_exiftool_rewritten_corpus_sidecar_still_reads(path: Path | None, tmp_path: Path,
                                                       exiftool: str) -> None:
    path = need_corpus_file(path)
    copy = tmp_path / "image.xmp"
    shutil.copyfile(path, copy)
    subprocess.run([exiftool, "-overwrite_original", "-m", "-XMP-photoshop:City=Sinuiju",
                    str(copy)], capture_output=True, check=False)
    assert photometa.read(copy).location.city == "Sinuiju"


# -- command line --------------------------------------------------------------------------------


def test_cli_sidecar_options(make_jpeg: Callable[..., Path], tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    from photometa.cli import main

    path = jpeg_with_caption(make_jpeg)
    heic_like = avif(tmp_path, "other.avif")
    before = sha(path), sha(heic_like)
    code = main(["tag", str(path), str(heic_like), "--set", "location.city=Wonsan",
                 "--sidecar", "always", "--sidecar-naming", "append", "--jobs", "1"])
    capsys.readouterr()
    assert code == 0
    assert (sha(path), sha(heic_like)) == before
    assert (tmp_path / "photo.jpg.xmp").is_file() and (tmp_path / "other.avif.xmp").is_file()
    code = main(["read", str(tmp_path), "--format", "jsonl", "--jobs", "1"])
    out = capsys.readouterr().out
    assert code == 0
    docs = {Path(d["path"]).name: d for d in map(json.loads, out.splitlines())}
    assert set(docs) == {"photo.jpg", "other.avif"}  # the sidecars are not listed as images
    assert docs["photo.jpg"]["context"]["location"]["city"] == "Wonsan"
    code = main(["read", str(path), "--format", "jsonl", "--sidecar", "never", "--jobs", "1"])
    out = capsys.readouterr().out
    assert json.loads(out)["context"]["location"].get("city") is None
    code = main(["tag", str(heic_like), "--set", "location.city=Hamhung", "--sidecar", "never",
                 "--jobs", "1"])
    err = capsys.readouterr().err
    assert code == 2 and "cannot be written in place" in err


def test_a_broken_sidecar_stops_an_in_place_write_before_it_starts(
        make_jpeg: Callable[..., Path]) -> None:
    path = jpeg_with_caption(make_jpeg)
    before = sha(path)
    path.with_suffix(".xmp").write_bytes(b"<x:xmpmeta><rdf:RDF><oops")
    with pytest.raises(CorruptFileError):
        photometa.write(path, full_context())
    assert sha(path) == before
    assert photometa.write(path, full_context(), sidecar="never").written
