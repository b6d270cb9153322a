"""The batch engine: lazy in-order parallel runs, folder walking, progress, and `tag` at scale
(interrupted runs finish on the next run, no-op re-tags, dry runs, streamed read output)."""

from __future__ import annotations

import io
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import photometa
from photometa import PhotoContext, batch
from photometa.cli import Progress, main


def _square(x: int) -> int:
    return x * x


def _pid(_: object) -> int:
    return os.getpid()


def _slow_pid(_: object) -> int:
    time.sleep(0.001)
    return os.getpid()


def _fails_on_7(x: int) -> int:
    if x == 7:
        raise ValueError("seven")
    return x


def _recover(x: int, err: BaseException) -> int:
    return -x if isinstance(err, ValueError) else 0


# -- run_many ------------------------------------------------------------------------------------


def test_run_many_keeps_order_across_workers() -> None:
    items = list(range(300))
    assert list(batch.run_many(_square, items, workers=2, chunk=7)) == [x * x for x in items]


def test_small_batches_run_in_this_process() -> None:
    me = os.getpid()
    assert set(batch.run_many(_pid, range(10), workers=2)) == {me}
    many = set(batch.run_many(_pid, range(200), workers=2, in_process_below=50, chunk=4))
    assert me not in many and len(many) >= 1


def test_run_many_consumes_items_lazily() -> None:
    """An endless input: only a bounded window is ever taken from it (streaming, bounded memory)."""
    taken = 0

    def endless() -> Iterator[int]:
        nonlocal taken
        for i in itertools.count():
            taken += 1
            yield i

    results = batch.run_many(_square, endless(), workers=2, chunk=8)
    first = list(itertools.islice(results, 100))
    results.close()  # type: ignore[attr-defined]
    assert first == [i * i for i in range(100)]
    # the in-process probe (48) plus at most 3 chunks per worker ahead of what was consumed
    assert taken <= 100 + batch.IN_PROCESS_BELOW + 2 * 3 * 8 + 8


def test_run_many_on_error_reports_and_goes_on() -> None:
    out = list(batch.run_many(_fails_on_7, range(100), workers=2, on_error=_recover))
    assert out[7] == -7 and out[:7] == list(range(7)) and out[8:] == list(range(8, 100))
    with pytest.raises(ValueError, match="seven"):
        list(batch.run_many(_fails_on_7, range(100), workers=2))


def test_run_many_shared_keeps_order_and_works_in_this_process_too() -> None:
    """share=True: this process is one of the workers (one worker process fewer)."""
    items = list(range(400))
    assert list(batch.run_many(_square, items, workers=2, chunk=3, in_process_below=2,
                               share=True)) == [x * x for x in items]
    me = os.getpid()
    pids = list(batch.run_many(_slow_pid, range(300), workers=3, chunk=2, in_process_below=2,
                               share=True))
    assert len(pids) == 300 and me in pids
    assert len(set(pids) - {me}) <= 2  # workers - 1 processes besides this one
    out = list(batch.run_many(_fails_on_7, range(100), workers=2, chunk=4, in_process_below=2,
                              share=True, on_error=_recover))
    assert out[7] == -7 and out[:7] == list(range(7)) and out[8:] == list(range(8, 100))
    with pytest.raises(ValueError, match="seven"):
        list(batch.run_many(_fails_on_7, range(100), workers=2, chunk=4, share=True))


def test_run_many_shared_consumes_items_lazily() -> None:
    taken = 0

    def endless() -> Iterator[int]:
        nonlocal taken
        for i in itertools.count():
            taken += 1
            yield i

    results = batch.run_many(_square, endless(), workers=2, chunk=8, in_process_below=2,
                             share=True)
    first = list(itertools.islice(results, 100))
    results.close()  # type: ignore[attr-defined]
    assert first == [i * i for i in range(100)]
    # the probe, then the chunks queued for the worker process and a few more here
    assert taken <= 100 + 2 + (batch.SHARED_QUEUE + 5) * 8


def test_job_error_names_the_file() -> None:
    path, err = batch.job_error((Path("x.jpg"), "ctx"), KeyError("boom"))
    assert path == Path("x.jpg") and err.code == "internal" and err.path == Path("x.jpg")


# -- expand_paths --------------------------------------------------------------------------------


def test_expand_paths_order_hidden_and_links(tmp_path: Path) -> None:
    for name in ("b.jpg", "a.JPG", "notes.txt", ".hidden.jpg", "sub/c.png", "sub/z/d.tif",
                 ".git/e.jpg", "sub/.photometa-x.tmp"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "loop").symlink_to(tmp_path, target_is_directory=True)
    found = [p.relative_to(tmp_path).as_posix() for p in batch.expand_paths([tmp_path])]
    assert found == ["a.JPG", "b.jpg", "sub/c.png", "sub/z/d.tif"]
    assert batch.count_paths([tmp_path, tmp_path / "b.jpg"]) == 5
    named = list(batch.expand_paths([tmp_path / "missing.jpg"]))
    assert named == [tmp_path / "missing.jpg"]  # named directly: reported later, not dropped


def test_iter_files_is_expand_paths_as_strings(tmp_path: Path) -> None:
    for name in ("b.jpg", "a.JPG", "sub/c.png", "sub/.d.jpg", "notes.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    given = [tmp_path, tmp_path / "missing.jpg", f"{tmp_path}/./b.jpg"]
    found = list(batch.iter_files(given))
    assert all(isinstance(p, str) for p in found)
    assert [Path(p) for p in found] == list(batch.expand_paths(given))
    assert found[-1] == str(tmp_path / "b.jpg")  # named directly: as Path(name) spells it


def test_read_many_reports_a_bad_file_and_goes_on(make_jpeg: Callable[..., Path],
                                                  tmp_path: Path) -> None:
    good = make_jpeg("good.jpg")
    photometa.write(good, PhotoContext(location={"city": "Nampho"}))
    folder = tmp_path / "many"
    folder.mkdir()
    data = good.read_bytes()
    for i in range(60):
        (folder / f"{i:03d}.jpg").write_bytes(data if i != 30 else b"this is not an image")
    results = list(photometa.read_many([folder], workers=2))
    assert [r.path.name for r in results] == [f"{i:03d}.jpg" for i in range(60)]
    assert [i for i, r in enumerate(results) if not r.ok] == [30]
    assert all(r.context is not None and r.context.location.city == "Nampho"
               for i, r in enumerate(results) if i != 30)


# -- progress ------------------------------------------------------------------------------------


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_terminal_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    stream = _Tty()
    progress = Progress(lambda: 4, "tagging", stream)
    for _ in range(4):
        progress.step()
    progress.close()
    text = stream.getvalue()
    assert "tagging [" in text and "4/4" in text and "/s ETA" in text

    def never() -> int:
        raise AssertionError("the total is not counted where no bar is shown")

    quiet = io.StringIO()
    progress = Progress(never, "reading", quiet)
    progress.step()
    progress.close()
    assert quiet.getvalue() == ""
    monkeypatch.setenv("CI", "true")
    ci = _Tty()
    progress = Progress(never, "reading", ci)
    progress.step()
    assert ci.getvalue() == "" and not progress.enabled


def test_progress_hides_before_a_line_and_comes_back_below_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    stream = _Tty()
    progress = Progress(10, "tagging", stream)
    progress.step()
    drawn = stream.getvalue()
    assert drawn.startswith("\rtagging [") and progress.shown
    progress.step()  # within 0.1 s of the last drawing: not drawn again
    assert stream.getvalue() == drawn
    progress.hide()
    cleared = stream.getvalue()
    assert cleared == drawn + "\r" + " " * 79 + "\r" and not progress.shown
    progress.hide()  # nothing shown, nothing cleared
    assert stream.getvalue() == cleared
    stream.write("img0001.jpg: changed\n")
    progress.step()  # hidden: drawn again at once, on the line below
    redrawn = stream.getvalue()[len(cleared):]
    assert redrawn.startswith("img0001.jpg: changed\n\rtagging [" + "#" * 9 + ".")
    assert " 3/10 " in redrawn
    progress.close()
    assert stream.getvalue().endswith("\r" + " " * 79 + "\r")


def _screen(text: str) -> list[str]:
    """The lines a terminal shows for ``text``: a carriage return starts its line over."""
    lines = []
    for line in text.split("\n"):
        shown = ""
        for part in line.split("\r"):
            shown = part + shown[len(part):]
        lines.append(shown.rstrip())
    return lines


def test_tag_on_a_terminal_prints_no_line_onto_the_bar(make_jpeg: Callable[..., Path],
                                                       tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _folder_of_jpegs(make_jpeg, tmp_path, 3)
    (folder / "broken.jpg").write_bytes(b"this is not an image")
    terminal = _Tty()  # stdout and stderr on one terminal, as in an interactive shell
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(sys, "stdout", terminal)
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["tag", str(folder), "--set", "location.city=Chongjin", "--jobs", "1"]) == 2
    text = terminal.getvalue()
    assert "tagging [" in text  # the bar was shown
    lines = _screen(text)
    assert [line for line in lines if ": changed" in line] == [
        f"{folder / f'img{i:04d}.jpg'}: changed" for i in range(3)]
    assert any(line.startswith("photometa: ") and "broken.jpg" in line for line in lines)
    assert not any("tagging [" in line for line in lines)  # cleared at the end, too
    assert "wrote 3, unchanged 0, failed 1" in lines[-2]


# -- the CLI at scale ----------------------------------------------------------------------------


def _folder_of_jpegs(make_jpeg: Callable[..., Path], tmp_path: Path, n: int) -> Path:
    data = make_jpeg("seed.jpg").read_bytes()
    folder = tmp_path / "archive"
    folder.mkdir()
    for i in range(n):
        (folder / f"img{i:04d}.jpg").write_bytes(data)
    return folder


def test_retagging_rewrites_nothing(make_jpeg: Callable[..., Path], tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    folder = _folder_of_jpegs(make_jpeg, tmp_path, 5)
    args = ["tag", str(folder), "--set", "location.city=Sariwon", "--set",
            "subject.keywords=farm; tractor", "--jobs", "1"]
    assert main(args) == 0
    assert "wrote 5, unchanged 0, failed 0" in capsys.readouterr().err
    stamps = {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in folder.iterdir()}
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert "wrote 0, unchanged 5, failed 0" in err and out == ""
    assert {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in folder.iterdir()} == stamps


def test_dry_run_shows_old_and_new_per_file(make_jpeg: Callable[..., Path], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    folder = _folder_of_jpegs(make_jpeg, tmp_path, 2)
    first = folder / "img0000.jpg"
    photometa.write(first, PhotoContext(location={"city": "Kanggye"}))
    before = {p: p.read_bytes() for p in folder.iterdir()}
    assert main(["tag", str(folder), "--set", "location.city=Hyesan", "--dry-run",
                 "--jobs", "1"]) == 0
    out, err = capsys.readouterr()
    assert f"{first}: would change\n  location.city: Kanggye -> Hyesan\n" in out
    assert f"{folder / 'img0001.jpg'}: would change\n  location.city: (none) -> Hyesan\n" in out
    assert "would write 2" in err
    assert {p: p.read_bytes() for p in folder.iterdir()} == before


def test_read_streams_json_csv_and_summarises(make_jpeg: Callable[..., Path], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    folder = _folder_of_jpegs(make_jpeg, tmp_path, 3)
    photometa.write(folder / "img0001.jpg", PhotoContext(subject={"keywords": ["a;b", "c"]}))
    (folder / "broken.jpg").write_bytes(b"this is not an image")
    code = main(["read", str(folder), "--format", "json", "--jobs", "1"])
    out, err = capsys.readouterr()
    docs = json.loads(out)
    assert code == 2 and len(docs) == 3  # the broken file is reported, the rest are read
    assert json.dumps(docs, ensure_ascii=False, indent=2) + "\n" == out  # json.dump's layout
    assert "broken.jpg" in err and "read 3, failed 1" in err
    assert main(["read", str(tmp_path / "empty-dir-does-not-exist.jpg"), "--format", "json",
                 "--jobs", "1"]) == 2
    capsys.readouterr()
    (tmp_path / "nothing").mkdir()
    assert main(["read", str(tmp_path / "nothing"), "--format", "json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == [] and "no image files found" in err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_interrupted_tag_run_finishes_when_run_again(make_jpeg: Callable[..., Path],
                                                     tmp_path: Path, sig: int) -> None:
    n = 400
    folder = _folder_of_jpegs(make_jpeg, tmp_path, n)
    cmd = [sys.executable, "-u", "-m", "photometa.cli", "tag", str(folder),
           "--set", "location.city=Hamhung", "--set", "subject.keywords=fertiliser; plant",
           "--jobs", "2"]
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, start_new_session=True)
    assert proc.stdout is not None
    seen = 0
    for line in proc.stdout:
        if line.endswith(": changed\n"):
            seen += 1
            if seen == 30:
                os.killpg(proc.pid, sig)  # as Ctrl-C does (the whole group), or a hard kill
                break
    _, err = proc.communicate(timeout=120)
    if sig == signal.SIGINT:
        assert proc.returncode == 130
        assert "stopped early" in err and "run the same command again" in err
    else:
        assert proc.returncode == -signal.SIGKILL
    time.sleep(0.2)  # let killed workers go

    images = sorted(folder.glob("*.jpg"))
    assert len(images) == n  # no file lost, no half-written image under an image's name
    done = [p for p in images if photometa.read(p).location.city == "Hamhung"]
    assert 30 <= len(done) < n
    assert all(photometa.read(p).subject.keywords == ["fertiliser", "plant"] for p in done)
    stamps = {p: p.stat().st_mtime_ns for p in done}

    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300,
                           check=False)
    assert again.returncode == 0, again.stderr
    assert f"wrote {n - len(done)}, unchanged {len(done)}, failed 0" in again.stderr
    assert all(photometa.read(p).location.city == "Hamhung" for p in images)
    assert {p: p.stat().st_mtime_ns for p in done} == stamps  # finished files left alone


def _replace_with_new(path: Path) -> Path:
    from photometa._fileio import atomic_replace

    with atomic_replace(path) as f:
        f.write(b"new")
    return path


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_a_chunk_syncs_its_folder_once_before_its_results(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    paths = [tmp_path / f"f{i}" for i in range(5)]
    for p in paths:
        p.write_bytes(b"old")
    folder_syncs: list[str] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        if os.path.isdir(f"/proc/self/fd/{fd}"):
            folder_syncs.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    seen = []
    for done in batch.run_many(_replace_with_new, paths, workers=1, chunk=2):
        seen.append((done, len(folder_syncs)))
    # chunks of 2, 2 and 1 files: one folder fsync each, made before the chunk's results
    assert seen == [(paths[0], 1), (paths[1], 1), (paths[2], 2), (paths[3], 2), (paths[4], 3)]
    assert set(folder_syncs) == {str(tmp_path.resolve())}
