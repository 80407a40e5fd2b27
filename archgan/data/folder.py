"""Image folders decoded once into a uint8 cache at the top resolution.

A folder (flat or nested) of jpg/png/webp/bmp files is converted to the network's channels,
center-cropped to a square and resized once; the result is kept as a .npy file keyed by the folder's
contents and the resolution, so later runs start at once. Unreadable files are skipped and returned
with the reason, for the caller to report; a folder with no images is an error before any training starts.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import DatasetError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}
log = logging.getLogger(__name__)


@dataclass
class ImageCache:
    images: np.ndarray  # uint8 [N, C, R, R]
    files: list[str]  # relative paths, one per image
    skipped: list[tuple[str, str]]  # (relative path, why)
    path: Path  # the .npy file


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "archgan" / "datasets"


def find_images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise DatasetError(f"{folder}: no such folder; --images_dir must name a folder of images")
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def folder_listing(folder: str | os.PathLike[str]) -> dict[str, int | str]:
    """What a resumed run checks the image folder against: how many image files it holds and a digest of
    their names and sizes (not their times, so a copy of the folder is the same folder)."""
    folder = Path(folder)
    files = find_images(folder)
    names_and_sizes = [(str(p.relative_to(folder)), p.stat().st_size) for p in files]
    return {"image_files": len(files), "sha256": hashlib.sha256(json.dumps(names_and_sizes).encode()).hexdigest()}


def load_image_folder(
    folder: str | os.PathLike[str], resolution: int, channels: int, cache_dir: Path | None = None, num_workers: int = 1
) -> ImageCache:
    """The folder's images as uint8 [N, channels, resolution, resolution], from the cache when fresh."""
    folder = Path(folder)
    files = find_images(folder)
    if not files:
        raise DatasetError(
            f"{folder}: no images found (looked for {', '.join(sorted(IMAGE_SUFFIXES))} files, in subfolders too)"
        )
    relative = [str(p.relative_to(folder)) for p in files]
    fingerprint = json.dumps(
        [resolution, channels, [(r, p.stat().st_size, p.stat().st_mtime_ns) for r, p in zip(relative, files)]]
    )
    key = hashlib.sha256(fingerprint.encode()).hexdigest()[:16]
    cache_dir = cache_dir or default_cache_dir()
    stem = cache_dir / f"{folder.name or 'images'}-{resolution}px-{channels}ch-{key}"
    npy, index = stem.with_suffix(".npy"), stem.with_suffix(".json")
    if npy.is_file() and index.is_file():
        meta = json.loads(index.read_text())
        return ImageCache(np.load(npy, mmap_mode="r"), meta["files"], [tuple(s) for s in meta["skipped"]], npy)

    log.info("decoding %d images from %s at %d×%d (cached in %s)", len(files), folder, resolution, resolution, cache_dir)
    mode = "RGB" if channels == 3 else "L"
    with ThreadPoolExecutor(max(1, num_workers)) as pool:
        decoded = list(pool.map(lambda p: _decode(p, resolution, mode), files))
    kept = [(r, image) for r, image in zip(relative, decoded) if isinstance(image, np.ndarray)]
    skipped = [(r, image) for r, image in zip(relative, decoded) if isinstance(image, str)]
    if not kept:
        raise DatasetError(f"{folder}: none of the {len(files)} image files could be read (e.g. {skipped[0][0]}: {skipped[0][1]})")
    images = np.stack([image for _, image in kept])
    cache_dir.mkdir(parents=True, exist_ok=True)
    _write_atomically(npy, lambda handle: np.save(handle, images))
    _write_atomically(index, lambda handle: handle.write(json.dumps({"files": [r for r, _ in kept], "skipped": skipped}).encode()))
    return ImageCache(np.load(npy, mmap_mode="r"), [r for r, _ in kept], skipped, npy)


def _decode(path: Path, resolution: int, mode: str) -> np.ndarray | str:
    """uint8 [C, R, R], or the reason the file cannot be used."""
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
                rgba = image.convert("RGBA")
                image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
            image = image.convert(mode)
            side = min(image.size)
            left, top = (image.width - side) // 2, (image.height - side) // 2
            image = image.crop((left, top, left + side, top + side))
            if side != resolution:
                image = image.resize((resolution, resolution), Image.Resampling.LANCZOS)
            array = np.asarray(image, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as error:
        return f"{type(error).__name__}: {error}"
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def _write_atomically(path: Path, write) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "wb") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
