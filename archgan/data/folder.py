"""Image folders decoded once into a uint8 cache at the top resolution.

A folder (flat or nested) of jpg/png/webp/bmp/tiff files is converted to the network's channels,
center-cropped to a square and resized once; the result is kept as a .npy file keyed by the folder's
contents, the resolution and the version of the decoding rules, so later runs start at once.

How a file becomes 8-bit pixels (`_eight_bit`, then `_flatten`):
- 16-bit images (greyscale `I;16`, 16-bit RGB/RGBA PNGs, which Pillow would cut to their high byte, read
  with pypng) are scaled as value × 255 / 65535, rounded; 32-bit integer (`I`) images are taken as 16-bit
  values, float (`F`) ones as values in [0, 1], both clipped to that range first.
- The EXIF orientation is applied, so a portrait taken sideways is trained upright.
- Transparency (an alpha channel or a transparent palette colour) is composited on white, as emoji and
  product photos are drawn; palette, bilevel, CMYK and greyscale images are converted by Pillow to the
  network's channels (RGB, or luminance for one channel).

Files that cannot be used are skipped and returned with the reason, for the caller to report: files
that do not decode or cannot be opened, folders that cannot be listed, links that point nowhere or
back into a folder already read (symlinked folders are followed, each real folder once). Names are
reported as printable text: bytes that are not UTF-8 appear as `\\xNN`. A folder with no images is an
error before any training starts.
"""
from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import png
from PIL import Image, ImageOps

from ..errors import DatasetError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}
DECODING_RULES = 2
"""The version of the rules above, part of every cache key: a cache decoded by older rules (version 1
clipped 16-bit images and ignored the EXIF orientation) is decoded again, never reused."""
log = logging.getLogger(__name__)


@dataclass
class ImageCache:
    images: np.ndarray  # uint8 [N, C, R, R]
    files: list[str]  # relative paths, one per image
    skipped: list[tuple[str, str]]  # (relative path, why), printable
    path: Path  # the .npy file


@dataclass
class FolderListing:
    files: list[tuple[Path, os.stat_result]]  # the image files found, sorted, with what os.stat said
    problems: list[tuple[str, str]]  # (relative path, why) of entries that could not be listed or followed


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "archgan" / "datasets"


def printable(name: str | os.PathLike[str]) -> str:
    """A file name as text that can always be printed and logged: the bytes of a name that is not
    UTF-8 (which Python keeps as surrogates) are written as `\\xNN`."""
    return os.fsencode(name).decode("utf-8", errors="backslashreplace")


def find_images(folder: Path) -> FolderListing:
    """Every image file under `folder`, following symlinked files and folders, each real folder once;
    what could not be listed or followed is named with the reason instead of being passed over."""
    if not folder.is_dir():
        raise DatasetError(f"{printable(folder)}: no such folder; --images_dir must name a folder of images")
    listing = FolderListing([], [])

    def relative(path: str | Path) -> str:
        return printable(Path(path).relative_to(folder))

    def unlistable(error: OSError) -> None:
        listing.problems.append((relative(error.filename), f"cannot list this folder: {error.strerror}"))

    first_seen = {_identity(os.stat(folder)): Path(".")}
    for top, folders, names in os.walk(folder, onerror=unlistable, followlinks=True):
        here = Path(top)
        for name in sorted(folders, key=lambda name: (here / name).is_symlink()):  # real folders claim first
            path = here / name
            identity = _identity(os.stat(path))
            first = first_seen.get(identity)
            if first is None:
                first_seen[identity] = path.relative_to(folder)
                continue
            folders.remove(name)
            loop = first in path.relative_to(folder).parents
            listing.problems.append((relative(path), f"symlink loop: leads back to '{printable(first)}', a folder "
                                     "that contains it" if loop else f"the same folder as '{printable(first)}', "
                                     "already read"))
        for name in names:
            path = here / name
            try:
                status = os.stat(path)
            except OSError as error:
                listing.problems.append((relative(path), _link_problem(path, error)))
                continue
            if stat.S_ISREG(status.st_mode) and path.suffix.lower() in IMAGE_SUFFIXES:
                listing.files.append((path, status))
    listing.files.sort(key=lambda entry: entry[0])
    listing.problems.sort()
    return listing


def _identity(status: os.stat_result) -> tuple[int, int]:
    return status.st_dev, status.st_ino


def _link_problem(path: Path, error: OSError) -> str:
    """Why an entry listed in a folder cannot be opened (os.walk lists broken links among the files)."""
    if error.errno == errno.ELOOP:
        return "symlink loop: the link leads back to itself"
    if path.is_symlink() and error.errno == errno.ENOENT:
        return f"broken link: its target '{printable(os.readlink(path))}' does not exist"
    return f"{type(error).__name__}: {error.strerror}"


def folder_listing(folder: str | os.PathLike[str]) -> dict[str, int | str]:
    """What a resumed run checks the image folder against: how many image files it holds and a digest of
    their names and sizes (not their times, so a copy of the folder is the same folder)."""
    folder = Path(folder)
    files = find_images(folder).files
    names_and_sizes = [(str(path.relative_to(folder)), info.st_size) for path, info in files]
    return {"image_files": len(files), "sha256": hashlib.sha256(json.dumps(names_and_sizes).encode()).hexdigest()}


def load_image_folder(
    folder: str | os.PathLike[str], resolution: int, channels: int, cache_dir: Path | None = None, num_workers: int = 1
) -> ImageCache:
    """The folder's images as uint8 [N, channels, resolution, resolution], from the cache when fresh."""
    folder = Path(folder)
    listing = find_images(folder)
    files = [path for path, _ in listing.files]
    if not files:
        problems = "".join(f"; {name}: {why}" for name, why in listing.problems[:3])
        raise DatasetError(f"{printable(folder)}: no images found (looked for {', '.join(sorted(IMAGE_SUFFIXES))} "
                           f"files, in subfolders too){problems}")
    relative = [str(p.relative_to(folder)) for p in files]
    fingerprint = json.dumps([DECODING_RULES, resolution, channels,
                              [(r, s.st_size, s.st_mtime_ns) for r, (_, s) in zip(relative, listing.files)]])
    key = hashlib.sha256(fingerprint.encode()).hexdigest()[:16]
    cache_dir = cache_dir or default_cache_dir()
    stem = cache_dir / f"{printable(folder.name or 'images')}-{resolution}px-{channels}ch-{key}"
    npy, index = stem.with_suffix(".npy"), stem.with_suffix(".json")
    if npy.is_file() and index.is_file():
        meta = json.loads(index.read_text())
        skipped = listing.problems + [tuple(s) for s in meta["skipped"]]
        return ImageCache(np.load(npy, mmap_mode="r"), meta["files"], skipped, npy)

    log.info("decoding %d images from %s at %d×%d (cached in %s)", len(files), printable(folder), resolution,
             resolution, printable(cache_dir))
    mode = "RGB" if channels == 3 else "L"
    with ThreadPoolExecutor(max(1, num_workers)) as pool:
        decoded = list(pool.map(lambda p: _decode(p, resolution, mode), files))
    kept = [(r, image) for r, image in zip(relative, decoded) if isinstance(image, np.ndarray)]
    unreadable = [(printable(r), printable(image)) for r, image in zip(relative, decoded) if isinstance(image, str)]
    if not kept:
        name, why = unreadable[0]
        raise DatasetError(f"{printable(folder)}: none of the {len(files)} image files could be read (e.g. {name}: {why})")
    images = np.stack([image for _, image in kept])
    cache_dir.mkdir(parents=True, exist_ok=True)
    _write_atomically(npy, lambda handle: np.save(handle, images))
    _write_atomically(index, lambda handle: handle.write(json.dumps({"files": [r for r, _ in kept],
                                                                     "skipped": unreadable}).encode()))
    return ImageCache(np.load(npy, mmap_mode="r"), [r for r, _ in kept], listing.problems + unreadable, npy)


def _decode(path: Path, resolution: int, mode: str) -> np.ndarray | str:
    """uint8 [C, R, R], or the reason the file cannot be used."""
    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(_eight_bit(image, path))
            image = _flatten(image, mode)
            side = min(image.size)
            left, top = (image.width - side) // 2, (image.height - side) // 2
            image = image.crop((left, top, left + side, top + side))
            if side != resolution:
                image = image.resize((resolution, resolution), Image.Resampling.LANCZOS)
            array = np.asarray(image, dtype=np.uint8)
    except OSError as error:  # also UnidentifiedImageError; a file that cannot be opened says why, not where
        return f"{type(error).__name__}: {error.strerror or error}"
    except (ValueError, png.Error, Image.DecompressionBombError) as error:
        return f"{type(error).__name__}: {error}"
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def _eight_bit(image: Image.Image, path: Path) -> Image.Image:
    """The image with 8 bits per channel, deeper values scaled (not clipped); EXIF data kept."""
    if image.format == "PNG" and image.mode in ("RGB", "RGBA") and image.tile and image.tile[0].args.endswith(";16B"):
        width, height, rows, info = png.Reader(filename=os.fspath(path)).asDirect()  # Pillow keeps the high byte only
        values = np.vstack([np.asarray(row, dtype=np.uint16) for row in rows]).reshape(height, width, info["planes"])
        return _with_exif(Image.fromarray(_scaled(values, 65535)), image)
    if image.mode.startswith("I;16"):
        return _with_exif(Image.fromarray(_scaled(np.asarray(image), 65535)), image)
    if image.mode in ("I", "F"):
        top = 65535 if image.mode == "I" else 1.0
        return _with_exif(Image.fromarray(_scaled(np.asarray(image), top)), image)
    image.load()
    return image


def _scaled(values: np.ndarray, top: float) -> np.ndarray:
    """Values in [0, top] as uint8: value × 255 / top, rounded (outside the range: clipped)."""
    return np.rint(np.clip(values.astype(np.float64), 0, top) * (255 / top)).astype(np.uint8)


def _with_exif(converted: Image.Image, original: Image.Image) -> Image.Image:
    """`converted` carrying `original`'s EXIF data, so its orientation is still applied."""
    converted.info["exif"] = original.getexif().tobytes()
    return converted


def _flatten(image: Image.Image, mode: str) -> Image.Image:
    """`mode` ('RGB' or 'L'), transparent pixels composited on white."""
    if image.has_transparency_data:
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    return image.convert(mode)


def _write_atomically(path: Path, write) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "wb") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
