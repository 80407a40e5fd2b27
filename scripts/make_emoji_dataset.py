#!/usr/bin/env python3
"""Build archgan's bundled default training set from the Noto Color Emoji font.

Every glyph the font can draw is rendered once: single code points from the
cmap plus every multi-code-point sequence the font ligates through GSUB
(flags, skin tones, ZWJ sequences, keycaps...). Each glyph is centered on a
plain square background and downscaled to a small RGB PNG named after its
code points, e.g. ``1f600.png`` or ``1f468-200d-1f469.png``.

The output depends only on the font file and the arguments, so the bundled
folder can be re-created byte for byte:

    python scripts/make_emoji_dataset.py

Needs fontTools, emoji (Unicode's list of emoji sequences, used only to pick
file names) and a Pillow built with libraqm (for ligature shaping); these are
build-time dependencies of this script, not of archgan.
"""

from __future__ import annotations

import argparse
import math
import sys
import unicodedata
from pathlib import Path

import emoji
from fontTools.ttLib import TTFont
from PIL import Image, ImageColor, ImageDraw, ImageFont, features

DEFAULT_FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "archgan" / "data" / "emoji" / "images"
# Noto Color Emoji is a CBDT bitmap font with a single 109 ppem strike;
# FreeType refuses any other size for it.
FONT_SIZE = 109

Sequence = tuple[int, ...]


def font_sequences(tt: TTFont) -> list[Sequence]:
    """Return every code point sequence the font draws as one glyph.

    Glyph names are not used because Debian's build of the font renames the
    ligature glyphs to ``glyphNNNNN``; the GSUB ligature lookups are the
    authoritative list of supported sequences instead.
    """
    cmap = tt.getBestCmap()
    code_point_of: dict[str, int] = {}
    for code_point, glyph in sorted(cmap.items()):
        code_point_of.setdefault(glyph, code_point)

    sequences: set[Sequence] = {(code_point,) for code_point in cmap}
    for lookup in tt["GSUB"].table.LookupList.Lookup:
        for subtable in lookup.SubTable:
            # Extension lookups (type 7) only wrap the real subtable.
            subtable = getattr(subtable, "ExtSubTable", subtable)
            if subtable.LookupType != 4:
                continue
            for first, ligatures in subtable.ligatures.items():
                for ligature in ligatures:
                    glyphs = [first, *ligature.Component]
                    if all(glyph in code_point_of for glyph in glyphs):
                        sequences.add(tuple(code_point_of[glyph] for glyph in glyphs))
    return list(sequences)


def naming_order(sequences: list[Sequence]) -> list[Sequence]:
    """Sort sequences so that, among pixel-identical images, the standard name wins.

    The font also ligates each ZWJ sequence with its elements in reverse
    order (``2640-200d-26f9`` besides ``26f9-200d-2640``) so that right-to-left
    text shapes too, and some standard emoji share one image (Spain's flag
    serves Ceuta & Melilla as well). Nothing in the font says which name is
    the real one, so Unicode's list of emoji (via the emoji package) decides:
    the emoji introduced in the oldest Emoji version wins, sequences unknown
    to Unicode come last, and code point order breaks ties. Variation
    selector 16 is dropped from Unicode's spellings because this font does
    not map it.
    """
    introduced = {
        tuple(ord(char) for char in text if char != "\ufe0f"): data["E"]
        for text, data in emoji.EMOJI_DATA.items()
    }
    return sorted(
        sequences, key=lambda sequence: (introduced.get(sequence, math.inf), sequence)
    )


def font_version(tt: TTFont) -> str:
    """Return the version from the name table, e.g. ``2.042``."""
    version = tt["name"].getDebugName(5) or "unknown"
    return version.split(";")[0].removeprefix("Version ").strip()


def render(
    font: ImageFont.FreeTypeFont,
    text: str,
    max_advance: float,
    size: int,
    background: tuple[int, int, int],
) -> Image.Image | None:
    """Render ``text`` as a ``size``x``size`` RGB image, or None if it draws nothing.

    The glyph's ink is centered in a square as wide as the glyph cell, so
    every emoji keeps the scale the font designed it at and none is clipped.
    The box filter averages exactly the source pixels each output pixel
    covers: no Lanczos ringing around sharp edges, and PNGs about 30%
    smaller.
    """
    if font.getlength(text) > max_advance:
        raise RuntimeError(
            f"{text!r} did not shape to a single glyph; is Pillow built with libraqm?"
        )
    _, _, right, bottom = font.getbbox(text)
    canvas = Image.new("RGBA", (right, bottom), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((0, 0), text, font=font, embedded_color=True)
    ink = canvas.getchannel("A").getbbox()
    if ink is None:
        return None
    glyph = canvas.crop(ink)
    side = max(canvas.size)
    square = Image.new("RGBA", (side, side), (*background, 255))
    square.alpha_composite(glyph, ((side - glyph.width) // 2, (side - glyph.height) // 2))
    return square.convert("RGB").resize((size, size), Image.Resampling.BOX)


def file_name(sequence: Sequence) -> str:
    """Name a file after its code points, e.g. ``1f468-200d-1f469.png``."""
    return "-".join(f"{code_point:x}" for code_point in sequence) + ".png"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--font", type=Path, default=DEFAULT_FONT, help="path to NotoColorEmoji.ttf")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (its PNGs are replaced)")
    parser.add_argument("--size", type=int, default=64, help="side of the square output images")
    parser.add_argument("--background", default="#ffffff", help="background color")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if not args.font.is_file():
        sys.exit(
            f"error: font not found: {args.font}\n"
            "install it with: apt-get install fonts-noto-color-emoji (or pass --font PATH)"
        )
    if not features.check("raqm"):
        sys.exit("error: this Pillow lacks libraqm, so emoji sequences cannot be shaped")
    background = ImageColor.getrgb(args.background)[:3]

    tt = TTFont(args.font)
    sequences = naming_order(font_sequences(tt))
    # No glyph is wider than the widest advance, so a longer text means the
    # shaper drew several glyphs instead of one ligature.
    max_advance = max(advance for advance, _ in tt["hmtx"].metrics.values())
    max_advance_px = max_advance * FONT_SIZE / tt["head"].unitsPerEm + 0.5
    font = ImageFont.truetype(str(args.font), FONT_SIZE, layout_engine=ImageFont.Layout.RAQM)

    # Render everything before touching the output folder so that a failure
    # leaves the previous dataset intact.
    images: dict[str, Image.Image] = {}
    seen: set[bytes] = set()
    control = blank = duplicates = 0
    for sequence in sequences:
        # The font maps a few control characters (NUL, CR) to empty glyphs
        # because OpenType requires it; they are not text that can be laid
        # out (raqm fails on CR), so they are skipped before rendering.
        if any(unicodedata.category(chr(code_point)) == "Cc" for code_point in sequence):
            control += 1
            continue
        image = render(font, "".join(map(chr, sequence)), max_advance_px, args.size, background)
        if image is None:
            blank += 1
            continue
        pixels = image.tobytes()
        if pixels in seen:
            duplicates += 1
            continue
        seen.add(pixels)
        images[file_name(sequence)] = image

    args.out.mkdir(parents=True, exist_ok=True)
    for stale in args.out.glob("*.png"):
        stale.unlink()
    total = 0
    for name, image in images.items():
        path = args.out / name
        image.save(path, optimize=True)
        total += path.stat().st_size

    print(f"font:          Noto Color Emoji {font_version(tt)} ({args.font})")
    print(f"found:         {len(sequences)} sequences")
    print(f"skipped control characters: {control}")
    print(f"rendered:      {len(sequences) - control}")
    print(f"skipped blank: {blank}")
    print(f"deduplicated:  {duplicates}")
    print(f"written:       {len(images)} images to {args.out}")
    print(f"total size:    {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
