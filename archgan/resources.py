"""Where the built-in architectures and the schemas live: inside the installed package, or at the
top of a source checkout (setup.py installs the top-level folders as archgan.architectures/schemas)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parent.parent


def _folder(name: str) -> Path:
    spec = importlib.util.find_spec(f"archgan.{name}")
    for location in (spec.submodule_search_locations or []) if spec else []:
        if Path(location).is_dir():
            return Path(location)
    return _CHECKOUT / name


def architectures_dir() -> Path:
    return _folder("architectures")


def schemas_dir() -> Path:
    return _folder("schemas")


def checkout_docs_dir() -> Path | None:
    """The docs/ folder of the source checkout archgan runs from; None for an installed package."""
    docs = _CHECKOUT / "docs"
    return docs if docs.is_dir() and (_CHECKOUT / "setup.py").is_file() else None


def builtin_architectures() -> list[str]:
    """Names of the built-in architectures: the folders of architectures/ holding a generator.yaml."""
    root = architectures_dir()
    return sorted(p.parent.name for p in root.glob("*/generator.yaml")) if root.is_dir() else []


def bundled_emoji_dir() -> Path:
    """The default training set: 3,916 Noto Color Emoji at 64×64 (see archgan/data/emoji/README.md)."""
    return Path(__file__).resolve().parent / "data" / "emoji" / "images"
