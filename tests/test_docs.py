"""The documentation: every example in it runs, and the generated and captured pages are current.

Each page's code blocks run in document order in a fresh workspace (``workspace`` below) that holds
the files the examples name:

- ``photo.jpg``: a sample-archive image (row 15, the metro tunnel) tagged from its manifest row;
- ``new.jpg``: a sample-archive image (row 14) with no context yet;
- ``archive/``: the whole sample archive, tagged: ``manifest.csv``, ``photometa.toml``, ``images/``;
- ``examples/sample-archive/``: the sample archive as ``build.py`` leaves it (not tagged yet);
- ``schemas/``: the repository's schemas folder (for ``exiftool -config schemas/...``).

What runs: ```python blocks (one namespace per page; no block may be skipped), and in ```sh /
```bash / ```console blocks and in the ``run:`` / ``script:`` steps of ```yaml blocks (GitHub
Actions, GitLab CI), the lines that start with
``photometa`` (and ``exiftool``; a block that needs ExifTool skips outside CI when it is missing).
``photometa validate`` may exit 1 (findings); any other command must exit 0.

HTML comments just before a block steer the run:

- ``<!-- docs-test: file PATH -->``: write the block's text to PATH in the workspace first;
- ``<!-- docs-test: output -->``: the block is what the previous command or python block printed
  (compared, ignoring trailing spaces);
- ``<!-- docs-test: requires MODULE -->``: the python block needs MODULE (skips when missing);
- ``<!-- docs-test: skip (why) -->``: a shell block that cannot run here (not allowed on python).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import photometa
from conftest import IN_CI, REPO
from photometa.manifest import read_manifest

DOCS = REPO / "docs"
SAMPLE = REPO / "examples" / "sample-archive"
PAGES = sorted(p for p in DOCS.rglob("*.md") if "_scripts" not in p.relative_to(DOCS).parts)
DOC_FILES = [REPO / "README.md", *PAGES]

SHELL_LANGS = frozenset({"sh", "bash", "shell", "console"})
RUNNABLE = frozenset({"python", "yaml", *SHELL_LANGS})
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\n]*)$")
_MARKER = re.compile(
    r"^\s*<!--\s*docs-test:\s*(?P<what>[a-z]+)\s*(?P<arg>[^\s(]*)\s*(?:\([^)]*\))?\s*-->\s*$")


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


hooks = _load("photometa_docs_hooks", DOCS / "_scripts" / "mkdocs_hooks.py")
exiftool_view = _load("photometa_docs_exiftool_view", DOCS / "_scripts" / "exiftool_view.py")


# -- finding the blocks ------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    """One fenced code block of a Markdown file."""

    file: Path
    line: int  # the line of the first line of code (1-based)
    lang: str
    code: str
    marker: str = ""
    marker_arg: str = ""

    @property
    def where(self) -> str:
        name = self.file.relative_to(REPO) if self.file.is_relative_to(REPO) else self.file
        return f"{name}:{self.line}"


def blocks(path: Path) -> list[Block]:
    """The fenced code blocks of ``path`` with the ``docs-test`` marker before each, if any."""
    lines = path.read_text("utf-8").splitlines()
    found: list[Block] = []
    marker = ("", "")
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m is None:
            mark = _MARKER.match(lines[i])
            if mark is not None:
                marker = (mark["what"], mark["arg"])
            elif lines[i].strip():
                marker = ("", "")
            i += 1
            continue
        indent, fence = len(m["indent"]), m["fence"]
        lang = (m["info"].split() or [""])[0].lstrip(".{").lower()
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not (lines[j].strip().startswith(fence[0] * len(fence))
                                      and lines[j].strip().strip(fence[0]) == ""):
            text = lines[j]
            body.append(text[indent:] if text[:indent].strip() == "" else text.lstrip())
            j += 1
        found.append(Block(path, i + 2, lang, "\n".join(body) + "\n", *marker))
        marker = ("", "")
        i = j + 1
    return found


def _has_examples(path: Path) -> bool:
    return any(b.lang in RUNNABLE or b.marker for b in blocks(path))


EXAMPLE_FILES = [p for p in DOC_FILES if _has_examples(p)]


def test_the_block_finder_sees_markers_and_indented_fences(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text(
        "Text\n\n<!-- docs-test: file a.toml -->\n```toml\nx = 1\n```\n\n"
        "!!! note\n    ```python\n    print(1)\n      # indented\n    ```\n\n"
        "<!-- docs-test: skip (no git here) -->\n```sh\nphotometa schema\n```\n", "utf-8")
    found = blocks(page)
    assert [(b.lang, b.marker, b.marker_arg, b.line) for b in found] == [
        ("toml", "file", "a.toml", 5), ("python", "", "", 10), ("sh", "skip", "", 16)]
    assert found[1].code == "print(1)\n  # indented\n"
    page.write_text("<!-- docs-test: output -->\nsome prose\n```text\nx\n```\n", "utf-8")
    assert [b.marker for b in blocks(page)] == [""], "prose between marker and block cancels it"


# -- the workspace -----------------------------------------------------------------------------


def _tag_all(manifest: Path) -> None:
    for row in read_manifest(manifest):
        photometa.write(row.path, row.context)


@pytest.fixture(scope="session")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The workspace the examples expect, built once; each page gets a copy."""
    root = tmp_path_factory.mktemp("docs-workspace")
    build = _load("photometa_docs_sample_build", SAMPLE / "build.py")
    policy = SAMPLE / "photometa.toml"
    assert policy.is_file(), "examples/sample-archive/photometa.toml is missing"

    untagged = root / "examples" / "sample-archive"
    build.build(untagged, SAMPLE / "manifest.csv")
    shutil.copyfile(policy, untagged / "photometa.toml")

    archive = root / "archive"
    shutil.copytree(untagged, archive)
    _tag_all(archive / "manifest.csv")

    shutil.copyfile(archive / "images" / "15-metro-tunnel.jpg", root / "photo.jpg")
    shutil.copyfile(untagged / "images" / "14-soldiers-smoking-break.jpg", root / "new.jpg")
    (root / "schemas").symlink_to(REPO / "schemas", target_is_directory=True)
    return root


@pytest.fixture
def workspace(prepared: Path, tmp_path: Path) -> Path:
    target = tmp_path / "ws"
    shutil.copytree(prepared, target, symlinks=True)
    return target


def test_workspace_holds_what_the_examples_name(prepared: Path) -> None:
    assert photometa.read(prepared / "photo.jpg").location.city == "Pyongyang"
    assert photometa.read(prepared / "new.jpg").is_empty()
    assert photometa.read(prepared / "archive/images/17-mother-daughter-resting.jpg"
                          ).restriction.status == "deletion-requested"
    assert photometa.read(prepared / "examples/sample-archive/images/01-kaeson-youth-park-funfair"
                          ".jpg").is_empty()


# -- running the blocks ------------------------------------------------------------------------


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["NO_COLOR"] = "1"
    env.pop("PHOTOMETA_CACHE_DIR", None)
    return env


def _commands(block: Block) -> Iterator[str]:
    """The runnable command lines of a shell or YAML block (continuations joined)."""
    if block.lang == "yaml":
        yaml = pytest.importorskip("yaml")
        doc = yaml.safe_load(block.code)
        scripts: list[str] = []
        _collect_runs(doc, scripts)
        text = "\n".join(scripts)
    else:
        text = block.code
    text = re.sub(r"\\\n\s*", " ", text)
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("$ "):
            line = line[2:]
        words = shlex.split(line, comments=True) if line else []
        if words and words[0] in ("photometa", "exiftool"):
            yield line


def _collect_runs(node: Any, out: list[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "run" and isinstance(value, str):
                out.append(value)
            elif key == "script" and isinstance(value, list):
                out.extend(str(v) for v in value)
            else:
                _collect_runs(value, out)
    elif isinstance(node, list):
        for item in node:
            _collect_runs(item, out)


def _run_command(line: str, cwd: Path, where: str) -> str:
    words = shlex.split(line, comments=True)
    if words[0] == "exiftool" and shutil.which("exiftool") is None:
        if IN_CI:
            pytest.fail(f"{where}: exiftool is required in CI", pytrace=False)
        pytest.skip("exiftool not available")
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", line], cwd=cwd, env=_env(),
                          capture_output=True, text=True, timeout=300, check=False)
    allowed = (0, 1) if words[:2] == ["photometa", "validate"] else (0,)
    assert proc.returncode in allowed, (
        f"{where}: `{line}` exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def _run_python(block: Block, namespace: dict[str, Any]) -> str:
    """Run a python block (tracebacks name the Markdown file's lines); return what it printed."""
    source = "\n" * (block.line - 1) + block.code
    code = compile(source, str(block.file), "exec")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(code, namespace)
    return printed.getvalue()


def run_page(path: Path, workspace: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Run every example of ``path`` in ``workspace``; return the blocks skipped, with why."""
    monkeypatch.chdir(workspace)
    monkeypatch.setenv("NO_COLOR", "1")
    namespace: dict[str, Any] = {"__name__": "__docs__"}
    last_output: str | None = None
    skipped: list[str] = []
    for block in blocks(path):
        if block.marker == "file":
            target = workspace / block.marker_arg
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.code, "utf-8")
        elif block.marker == "output":
            assert last_output is not None, f"{block.where}: no command ran before this output"
            shown = [line.rstrip() for line in block.code.rstrip("\n").splitlines()]
            printed = [line.rstrip() for line in last_output.rstrip("\n").splitlines()]
            assert printed == shown, f"{block.where}: the command printed something else"
        elif block.marker == "skip":
            assert block.lang != "python", f"{block.where}: python examples always run"
        elif block.lang == "python":
            if block.marker == "requires" and importlib.util.find_spec(block.marker_arg) is None:
                skipped.append(f"{block.where} needs {block.marker_arg}")
                continue
            last_output = _run_python(block, namespace)
        elif block.lang in SHELL_LANGS or block.lang == "yaml":
            for line in _commands(block):
                last_output = _run_command(line, workspace, block.where)
    return skipped


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_examples_run(path: Path, workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    skipped = run_page(path, workspace, monkeypatch)
    if skipped:
        message = "the other examples ran; skipped: " + "; ".join(skipped)
        if IN_CI:  # CI installs every example's requirements: nothing may be left out there
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


def test_an_example_that_fails_is_reported(workspace: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    page = tmp_path / "bad.md"
    page.write_text("```python\nimport photometa\nphotometa.read('missing.jpg')\n```\n", "utf-8")
    with pytest.raises(photometa.PhotometaError):
        run_page(page, workspace, monkeypatch)
    page.write_text("```sh\nphotometa read photo.jpg\n```\n<!-- docs-test: output -->\n"
                    "```text\nsomething else\n```\n", "utf-8")
    with pytest.raises(AssertionError, match="printed something else"):
        run_page(page, workspace, monkeypatch)
    page.write_text("```sh\nphotometa tag --set nonsense=1 photo.jpg\n```\n", "utf-8")
    with pytest.raises(AssertionError, match="exited 2"):
        run_page(page, workspace, monkeypatch)


def test_every_page_has_examples_or_is_reference() -> None:
    """The pages a reader learns from have runnable examples (so they are tested)."""
    for rel in ("index.md", "quickstart.md", "concepts.md", "api.md",
                "recipes/tag-from-spreadsheet.md", "recipes/validate-in-ci.md",
                "recipes/notebook.md"):
        assert DOCS / rel in EXAMPLE_FILES, rel
    assert REPO / "README.md" in EXAMPLE_FILES


# -- the site's structure ----------------------------------------------------------------------


def _mkdocs_nav() -> list[Any]:
    yaml = pytest.importorskip("yaml")
    text = (REPO / "mkdocs.yml").read_text("utf-8")
    config = yaml.safe_load(text)
    nav: list[Any] = config["nav"]
    return nav


def test_every_page_is_in_the_nav() -> None:
    pages = hooks.nav_pages(hooks.resolve_nav(_mkdocs_nav(), DOCS))
    assert len(pages) == len(set(pages)), "a page is listed twice"
    missing = [p.relative_to(DOCS).as_posix() for p in PAGES
               if p.relative_to(DOCS).as_posix() not in pages]
    assert not missing, f"pages missing from the nav in mkdocs.yml: {missing}"


def test_nav_leaves_out_missing_pages_and_expands_globs(tmp_path: Path) -> None:
    (tmp_path / "formats").mkdir()
    for rel in ("index.md", "a.md", "formats/png.md", "formats/index.md", "formats/jpeg.md"):
        (tmp_path / rel).write_text("# x\n", "utf-8")
    nav = [{"Home": "index.md"}, {"Gone": "gone.md"}, "a.md",
           {"Section": [{"Also gone": "b.md"}]},
           {"Formats": "formats/*.md"}, {"More": ["formats/jpeg.md", "formats/*.md"]}]
    assert hooks.resolve_nav(nav, tmp_path) == [
        {"Home": "index.md"}, "a.md",
        {"Formats": ["formats/index.md", "formats/png.md"]},
        {"More": ["formats/jpeg.md"]},
    ]


def test_decisions_index_lists_every_adr() -> None:
    index = (DOCS / "decisions" / "index.md").read_text("utf-8")
    adrs = sorted(p.name for p in (DOCS / "decisions").glob("[0-9][0-9][0-9][0-9]-*.md"))
    assert adrs
    linked = re.findall(r"\]\(([^)#]+\.md)\)", index)
    assert sorted(linked) == adrs


def test_api_page_documents_every_public_name() -> None:
    text = (DOCS / "api.md").read_text("utf-8")
    documented = {m.split(".")[-1] for m in re.findall(r"^::: (\S+)", text, re.M)}
    public = {name for name in photometa.__all__ if not name.startswith("__")}
    assert public - documented <= {"DEFAULT_LIMITS"}, public - documented
    assert "DEFAULT_LIMITS" in text


def test_relative_links_resolve() -> None:
    """Links between pages (and from the README into docs/) name files that exist."""
    link = re.compile(r"\]\((?!https?://|mailto:|#)([^)\s#]+)(?:#[^)]*)?\)")
    for path in DOC_FILES:
        text = re.sub(r"```.*?```", "", path.read_text("utf-8"), flags=re.S)
        for target in link.findall(text):
            assert (path.parent / target).exists(), f"{path.relative_to(REPO)} links {target}"


# -- the ExifTool page -------------------------------------------------------------------------


def test_exiftool_page_matches_what_exiftool_prints(exiftool: str, tmp_path: Path) -> None:
    page = (DOCS / "exiftool-view.md").read_text("utf-8")
    listed = exiftool_view.listed_lines(page)
    image = exiftool_view.tagged_sample(tmp_path)
    fresh = exiftool_view.exiftool_lines(image, exiftool)
    assert exiftool_view.stable(listed) == exiftool_view.stable(fresh), (
        "docs/exiftool-view.md is stale: run .venv/bin/python docs/_scripts/exiftool_view.py")
    groups = {exiftool_view.group(line) for line in fresh}
    assert {"IFD0", "GPS", "XMP-dc", "XMP-pmeta", "IPTC"} <= groups
    assert page == exiftool_view.page_text(listed), "edit exiftool_view.py, not the page"
