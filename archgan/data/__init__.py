"""Training data: image folders, their uint8 cache, per-step batches, and the bundled emoji."""
from pathlib import Path

from .folder import DatasetError, ImageCache, load_image_folder
from .stream import RealImages


def bundled_emoji_dir() -> Path:
    """The default training set: 3,916 Noto Color Emoji at 64×64 (see emoji/README.md)."""
    return Path(__file__).resolve().parent / "emoji" / "images"


__all__ = ["DatasetError", "ImageCache", "RealImages", "bundled_emoji_dir", "load_image_folder"]
