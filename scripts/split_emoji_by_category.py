"""Copy the bundled emoji into one folder per category, a labelled image folder for class-conditional
networks (archgan train --images_dir OUT; one class per subfolder):

    python scripts/split_emoji_by_category.py OUT

The categories, by the code points a file is named after: flags (regional-indicator pairs and subdivision
flags), skin-tones (any sequence with a skin-tone modifier), faces (the smileys of the Emoticons and
Supplemental Symbols blocks) and other. Made the README's class-conditional grid.
"""
from __future__ import annotations

import shutil
import sys
from collections import Counter
from pathlib import Path

EMOJI = Path(__file__).resolve().parent.parent / "archgan" / "data" / "emoji" / "images"
FACES = [(0x1F600, 0x1F64F), (0x1F910, 0x1F92F), (0x1F970, 0x1F97A), (0x1F9D0, 0x1F9D0)]


def category(name: str) -> str:
    points = [int(part, 16) for part in name.split("-")]
    if 0x1F1E6 <= points[0] <= 0x1F1FF or points[0] == 0x1F3F4:
        return "flags"
    if any(0x1F3FB <= point <= 0x1F3FF for point in points):
        return "skin-tones"
    if any(low <= points[0] <= high for low, high in FACES):
        return "faces"
    return "other"


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    out, counts = Path(sys.argv[1]), Counter()
    for path in sorted(EMOJI.glob("*.png")):
        name = category(path.stem)
        (out / name).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, out / name / path.name)
        counts[name] += 1
    print(f"wrote {sum(counts.values())} images to {out}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
