"""Imports go only downward: containers never import codecs, codecs never import containers or the
model."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "photometa"

# A module may import from its own layer's shared modules and from lower layers only.
LAYERS = {
    "errors": 0,
    "_binary": 1,
    "_fileio": 1,
    "codecs": 2,
    "_metadata": 3,
    "formats": 4,
    "model": 2,
    "report": 2,
    "vocab": 2,
    "convert": 4,
    "mapping": 5,
    "policy": 5,
    "api": 6,
    "validate": 7,
    "batch": 7,
    "manifest": 6,
    "schema": 3,
    "reports": 6,
    "_generate": 11,
    "cli": 9,
    "__init__": 10,
    "_git": 1,
    "_cache": 6,
}


def _layer(module: str) -> str:
    return module.split(".")[0]


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text("utf-8"))
    rel = path.relative_to(SRC).with_suffix("")
    package = list(rel.parts[:-1])
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - node.level + 1]
            mod = ".".join([*base, node.module] if node.module else base)
            if mod:
                found.append(mod)
            elif node.names:
                found.extend(n.name for n in node.names)
        elif (
            isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("photometa")
        ):
            found.append(node.module.removeprefix("photometa").lstrip("."))
    return found


def test_imports_go_only_downward() -> None:
    problems = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).with_suffix("")
        me = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        if me not in LAYERS:
            problems.append(f"{rel}: not in LAYERS")
            continue
        for mod in _imports(path):
            other = _layer(mod) if mod else me
            if other == me or other not in LAYERS:
                continue
            if me == "formats" and other == "_metadata":
                continue  # containers fill the Blocks record, which holds no codec types
            if LAYERS[other] >= LAYERS[me]:
                problems.append(f"{rel} imports {mod}")
    assert not problems, problems


def test_containers_do_not_import_each_other_or_codecs() -> None:
    for path in (SRC / "formats").glob("*.py"):
        if path.name == "__init__.py":
            continue
        mods = _imports(path)
        assert not [m for m in mods if m.startswith("codecs")], path
        others = [m for m in mods if m.startswith("formats.") and m != f"formats.{path.stem}"]
        assert not others, (path, others)
