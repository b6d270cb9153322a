#!/usr/bin/env python3
"""Generate the placeholder images of the photometa sample archive.

The sample archive is described by ``manifest.csv`` next to this script: one row per photograph,
with the context photometa is meant to write into the file. The photographs themselves are not
redistributable, so this script draws one stand-in "labelled card" per row (headline, place and
photographer on a background colour and shape pattern derived from the row) and gives it a minimal
camera-like EXIF block (Make, Model, DateTime, Software, Orientation). It deliberately writes none
of the context fields: filling those in from the manifest is photometa's job
(``photometa tag --from manifest.csv``).

Usage::

    python examples/sample-archive/build.py [--out DIR] [--manifest CSV]

Images go to ``<DIR>/<path from the manifest>``, that is ``<DIR>/images/...``; DIR defaults to this
script's folder. When DIR is elsewhere the manifest is copied there too, so DIR is a complete
archive. The output is deterministic: the same manifest and Pillow version give the same bytes on
every run.

Requires Pillow >= 10.1 (for the scalable default font) and nothing else.
"""

from __future__ import annotations

import argparse
import colorsys
import csv
import hashlib
import shutil
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePosixPath

from PIL import Image, ImageDraw, ImageFont

HERE = Path(__file__).resolve().parent
DEFAULT_MANIFEST = HERE / "manifest.csv"

WIDTH, HEIGHT = 1200, 800
BAND_TOP = 470  # the text band covers the lower part of the card
MARGIN = 60
JPEG_QUALITY = 85

CAMERA = "photometa sample"
SOFTWARE = "photometa sample-archive build.py"
# EXIF DateTime is the file's "last changed" stamp, not the capture time (the manifest leaves that
# unknown, so DateTimeOriginal is not written). A fixed base keeps the output reproducible.
BASE_DAY, BASE_HOUR = "2024:01:01", 9

# EXIF tag numbers (IFD0).
_MAKE, _MODEL, _ORIENTATION, _SOFTWARE, _DATETIME = 0x010F, 0x0110, 0x0112, 0x0131, 0x0132

SAVE_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".tif": "TIFF",
                ".tiff": "TIFF"}

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont
RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Card:
    """What one placeholder image shows."""

    index: int
    path: PurePosixPath
    headline: str
    place: str
    photographer: str
    status: str

    def seed(self) -> bytes:
        """Bytes that determine the card's colours and pattern."""
        text = "\x1f".join((str(self.path), self.headline, self.place, self.photographer))
        return hashlib.sha256(text.encode("utf-8")).digest()


class ManifestError(Exception):
    """The manifest cannot be turned into images."""


def read_cards(manifest: Path) -> list[Card]:
    """The cards to draw, one per manifest row, in manifest order."""
    with manifest.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or "path" not in reader.fieldnames:
            raise ManifestError(f"{manifest}: needs a header with a 'path' column")
        cards: list[Card] = []
        seen: set[PurePosixPath] = set()
        for number, row in enumerate(reader, 1):
            path = _safe_path(row.get("path") or "", manifest, reader.line_num)
            if path in seen:
                raise ManifestError(f"{manifest} line {reader.line_num}: duplicate path {path}")
            seen.add(path)
            place = ", ".join(
                v for k in ("location.sublocation", "location.city", "location.country")
                if (v := (row.get(k) or "").strip())
            )
            cards.append(Card(
                index=number,
                path=path,
                headline=(row.get("subject.headline") or "").strip() or path.stem,
                place=place or "Place unknown",
                photographer=(row.get("photographer.name") or "").strip() or "Photographer unknown",
                status=(row.get("restriction.status") or "").strip(),
            ))
    return cards


def _safe_path(text: str, manifest: Path, line: int) -> PurePosixPath:
    path = PurePosixPath(text.strip().replace("\\", "/"))
    where = f"{manifest} line {line}"
    if not text.strip() or path.is_absolute() or ".." in path.parts:
        raise ManifestError(f"{where}: path {text!r} must be relative and stay inside the archive")
    if path.suffix.lower() not in SAVE_FORMATS:
        allowed = ", ".join(sorted(SAVE_FORMATS))
        raise ManifestError(f"{where}: cannot make a {path.suffix!r} image (one of {allowed})")
    return path


@cache
def _font(size: int) -> Font:
    return ImageFont.load_default(size=size)


def _stream(seed: bytes) -> Iterator[int]:
    """An endless, reproducible byte stream derived from ``seed``."""
    counter = 0
    while True:
        yield from hashlib.sha256(seed + counter.to_bytes(4, "big")).digest()
        counter += 1


def _hsv(hue: float, sat: float, val: float) -> RGB:
    r, g, b = colorsys.hsv_to_rgb(hue % 1.0, sat, val)
    return round(r * 255), round(g * 255), round(b * 255)


def _wrap(
    draw: ImageDraw.ImageDraw, text: str, font: Font, width: int, max_lines: int
) -> list[str]:
    """Greedy word wrap to ``width`` pixels; the last line gets an ellipsis when text is cut."""
    lines: list[str] = []
    current = ""
    words = text.split()
    for word in words:
        trial = f"{current} {word}" if current else word
        if draw.textlength(trial, font=font) <= width or not current:
            current = trial
            continue
        lines.append(current)
        current = word
        if len(lines) == max_lines:
            # the remaining words do not fit: cut the last line so that an ellipsis does
            last = lines[-1]
            while last and draw.textlength(f"{last} …", font=font) > width:
                last = last.rsplit(" ", 1)[0] if " " in last else last[:-1]
            lines[-1] = f"{last} …"
            return lines
    if current:
        lines.append(current)
    return lines


def _pattern(draw: ImageDraw.ImageDraw, stream: Iterator[int], hue: float) -> None:
    """Shapes in the upper part of the card; kind, count, places and shades come from the stream."""
    kind = next(stream) % 4
    count = 6 + next(stream) % 10
    for _ in range(count):
        x = next(stream) * WIDTH // 256
        y = next(stream) * BAND_TOP // 256
        size = 40 + next(stream) % 160
        shade = _hsv(hue + (next(stream) - 128) / 2048, 0.35 + next(stream) / 1024,
                     0.45 + next(stream) / 640)
        box = (x - size // 2, y - size // 2, x + size // 2, y + size // 2)
        if kind == 0:
            draw.ellipse(box, fill=shade)
        elif kind == 1:
            draw.rectangle(box, fill=shade)
        elif kind == 2:
            draw.polygon([(x, box[1]), (box[2], box[3]), (box[0], box[3])], fill=shade)
        else:
            draw.line([(x - size, 0), (x + size, BAND_TOP)], fill=shade, width=8 + size // 10)


def render(card: Card) -> Image.Image:
    """Draw the placeholder image for one card."""
    stream = _stream(card.seed())
    hue = next(stream) / 256
    background = _hsv(hue, 0.30 + next(stream) / 1280, 0.55 + next(stream) / 1280)
    band = _hsv(hue, 0.45, 0.22)
    image = Image.new("RGB", (WIDTH, HEIGHT), background)
    draw = ImageDraw.Draw(image)
    _pattern(draw, stream, hue)
    draw.rectangle((0, BAND_TOP, WIDTH, HEIGHT), fill=band)

    text_width = WIDTH - 2 * MARGIN
    light, dim = (250, 250, 245), (205, 205, 195)
    y = BAND_TOP + 30
    headline_font = _font(42)
    for line in _wrap(draw, card.headline, headline_font, text_width, max_lines=2):
        draw.text((MARGIN, y), line, font=headline_font, fill=light)
        y += 54
    y += 14
    for text, size in ((card.place, 30), (f"Photo: {card.photographer}", 28)):
        font = _font(size)
        draw.text((MARGIN, y), _wrap(draw, text, font, text_width, max_lines=1)[0], font=font,
                  fill=dim)
        y += size + 16
    footer = f"#{card.index:02d}  placeholder image  ·  photometa sample archive"
    if card.status and card.status != "unrestricted":
        footer += f"  ·  {card.status}"
    draw.text((MARGIN, HEIGHT - 48), footer, font=_font(20), fill=dim)
    return image


def camera_exif(card: Card) -> Image.Exif:
    """A minimal camera-like EXIF block; DateTime is a fixed base plus the row number in minutes."""
    minute = card.index - 1
    stamp = f"{BASE_DAY} {BASE_HOUR + minute // 60:02d}:{minute % 60:02d}:00"
    exif = Image.Exif()
    exif[_MAKE] = CAMERA
    exif[_MODEL] = CAMERA
    exif[_ORIENTATION] = 1
    exif[_SOFTWARE] = SOFTWARE
    exif[_DATETIME] = stamp
    return exif


def save(image: Image.Image, card: Card, target: Path) -> None:
    """Write ``image`` in the format the target's suffix names, with the camera EXIF."""
    fmt = SAVE_FORMATS[target.suffix.lower()]
    exif = camera_exif(card)
    target.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "JPEG":
        image.save(target, "JPEG", quality=JPEG_QUALITY, progressive=False, optimize=False,
                   exif=exif)
    elif fmt == "WEBP":
        image.save(target, "WEBP", lossless=True, method=4, exif=exif)
    else:
        image.save(target, fmt, exif=exif)


def build(out: Path, manifest: Path = DEFAULT_MANIFEST) -> list[Path]:
    """Generate every image the manifest names under ``out``; return the files written."""
    cards = read_cards(manifest)
    out.mkdir(parents=True, exist_ok=True)
    copy = out / manifest.name
    if copy.resolve() != manifest.resolve():
        shutil.copyfile(manifest, copy)
    written = []
    for card in cards:
        target = out.joinpath(*card.path.parts)
        save(render(card), card, target)
        written.append(target)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=HERE,
                        help="archive folder to write into (default: this script's folder)")
    parser.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST,
                        help="manifest CSV naming the images (default: manifest.csv here)")
    args = parser.parse_args(argv)
    try:
        written = build(args.out, args.manifest)
    except (ManifestError, OSError, csv.Error, UnicodeDecodeError) as err:
        print(f"build.py: {err}", file=sys.stderr)
        return 1
    print(f"wrote {len(written)} images under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
