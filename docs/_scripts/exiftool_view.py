#!/usr/bin/env python3
"""Capture what ExifTool shows for a sample image tagged by photometa, as docs/exiftool-view.md.

Run from anywhere, with the project's virtualenv and ExifTool installed::

    .venv/bin/python docs/_scripts/exiftool_view.py

It draws one placeholder image of the sample archive (examples/sample-archive/build.py), tags it
with photometa from its manifest row, runs ``exiftool -G1 -a`` on it and writes the page.
tests/test_docs.py runs the same steps and checks that the page still lists what ExifTool prints
(lines that depend on the file system or the ExifTool version are not compared).
"""

from __future__ import annotations

import csv
import importlib.util
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]
ARCHIVE = REPO / "examples" / "sample-archive"
PAGE = REPO / "docs" / "exiftool-view.md"
SAMPLE = "images/15-metro-tunnel.jpg"
"""The manifest row shown: it has a place, a GPS position and a restriction."""

VOLATILE_GROUPS = frozenset({"ExifTool", "System"})
"""ExifTool's version and the file system's name, folder, size, dates and permissions."""


def _build_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sample_archive_build", ARCHIVE / "build.py")
    if spec is None or spec.loader is None:  # pragma: no cover
        raise RuntimeError("cannot load examples/sample-archive/build.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return module


def tagged_sample(folder: Path, sample: str = SAMPLE) -> Path:
    """Draw the sample image ``sample`` (a manifest path) into ``folder`` and tag it with
    photometa from its manifest row; return the image's path."""
    from photometa import write
    from photometa.manifest import row_to_context

    build = _build_module()
    [card] = [c for c in build.read_cards(ARCHIVE / "manifest.csv") if str(c.path) == sample]
    target = folder / Path(sample).name
    build.save(build.render(card), card, target)
    with (ARCHIVE / "manifest.csv").open(encoding="utf-8", newline="") as fh:
        [row] = [r for r in csv.DictReader(fh) if r["path"] == sample]
    values = {k: v for k, v in row.items() if k != "path"}
    write(target, row_to_context(values, where=sample))
    return target


def exiftool_lines(image: Path, exiftool: str = "exiftool") -> list[str]:
    """What ``exiftool -G1 -a`` prints for ``image``, run in the image's folder."""
    proc = subprocess.run([exiftool, "-G1", "-a", image.name], cwd=image.parent,
                          capture_output=True, check=True)
    return proc.stdout.decode("utf-8").splitlines()


def group(line: str) -> str:
    """The ``[Group]`` a line of ``exiftool -G1`` output belongs to."""
    return line[1:line.index("]")] if line.startswith("[") and "]" in line else ""


def stable(lines: list[str]) -> list[str]:
    """The lines that do not depend on the file system or the ExifTool version."""
    return [line.rstrip() for line in lines if group(line) not in VOLATILE_GROUPS]


def listed_lines(page: str) -> list[str]:
    """The ExifTool output shown on the page (the first ``text`` block)."""
    body = page.split("```text\n", 1)[1]
    return body.split("```", 1)[0].splitlines()


def page_text(lines: list[str], sample: str = SAMPLE) -> str:
    """The page, with ``lines`` as the captured output."""
    name = Path(sample).name
    output = "\n".join(line.rstrip() for line in lines)
    return f"""# Seen by ExifTool

What other tools see after photometa has tagged a file. This is the real output of
`exiftool -G1 -a` for one image of the [sample archive](quickstart.md#the-sample-archive),
`{name}`, tagged from its manifest row with `photometa tag --from manifest.csv`. The
page is made by `docs/_scripts/exiftool_view.py`, and a test checks that ExifTool still prints the
same for a freshly tagged copy (except the lines about the file itself: its name, folder, size,
dates and permissions, and ExifTool's version).

<!-- docs-test: skip (tests/test_docs.py compares this page with ExifTool's output itself) -->
```sh
exiftool -G1 -a {name}
```

`-G1` names the group each tag was found in; `-a` shows duplicates, which is the point here:
each field is in every home that some tool reads.

```text
{output}
```

How to read it:

- **`[IFD0]`** is EXIF. Image Description, Artist and Copyright are the EXIF homes of
  `subject.caption`, `photographer.name` and `photographer.copyright`. Make, Model, Software,
  Modify Date and Orientation were there before (the sample's stand-in camera) and are untouched.
- **`[GPS]`** is the EXIF GPS directory: `location.gps`, in degrees, minutes and seconds.
- **`[XMP-…]`** groups are XMP: `dc` (Dublin Core: description, keywords as Subject, creator,
  rights, source), `photoshop` (headline, city, state, country, credit), `iptcCore` and `iptcExt`
  (the IPTC Photo Metadata standard: country code, sub-location, Location Shown, persons) and
  `exif` (the GPS position again, for XMP-only readers).
- **`[XMP-pmeta]`** is photometa's own namespace, `https://ns.photometa.org/xmp/1.0/`, for the
  restriction fields that no standard has. ExifTool shows them by name even without
  `schemas/photometa.exiftool.config`; the config is needed to write them with ExifTool.
- **`[IPTC]`** is IPTC-IIM, the older binary block that newsroom systems read, in UTF-8 (Coded
  Character Set), and **`[Photoshop]`** holds its digest, which matches the Current IPTC Digest
  that ExifTool computes: the IIM block and the XMP were written together.

[Field mapping](mapping.md) lists every home of every field; [Concepts](concepts.md) explains
how photometa reads them back when they disagree.
"""


def main() -> int:
    """Write docs/exiftool-view.md."""
    exiftool = shutil.which("exiftool")
    if exiftool is None:
        print("exiftool_view.py: ExifTool is not installed", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        image = tagged_sample(Path(tmp))
        lines = exiftool_lines(image, exiftool)
    PAGE.write_text(page_text(lines), encoding="utf-8")
    print(f"wrote {PAGE.relative_to(REPO)} ({len(lines)} lines of ExifTool output)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
