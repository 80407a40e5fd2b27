"""Class labels of an image folder, for class-conditional networks: one class per subfolder (the name of
the first folder under the image folder; classes numbered in sorted order), or a labels file mapping
each image's path relative to the folder to its class (a name or a number)."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Sequence

import numpy as np

from ..errors import DatasetError
from .folder import printable


@dataclass(frozen=True)
class ClassLabels:
    names: tuple[str, ...]  # class k is names[k]
    of_image: np.ndarray  # int64, the class of each image of the cache, in its order

    def counts(self) -> list[int]:
        return np.bincount(self.of_image, minlength=len(self.names)).tolist()


def _numbered(classes: Sequence[str], files: Sequence[str], source: str) -> ClassLabels:
    names = sorted(set(classes), key=lambda name: (not name.isdigit(), int(name) if name.isdigit() else 0, name))
    if len(names) < 2:
        raise DatasetError(f"{source}: all {len(files)} images are of one class ({names[0]!r}); a class-conditional "
                           "network needs two or more")
    index = {name: number for number, name in enumerate(names)}
    return ClassLabels(tuple(names), np.array([index[name] for name in classes], dtype=np.int64))


def labels_from_subfolders(folder: str | os.PathLike[str], files: Sequence[str]) -> ClassLabels:
    """`files` (relative to `folder`) labelled by their first folder: cats/a.png and cats/x/b.png are 'cats'."""
    loose = [name for name in files if len(PurePath(name).parts) < 2]
    if loose:
        raise DatasetError(
            f"{printable(folder)}: a class-conditional network learns one class per subfolder, but {len(loose)} "
            f"image(s) are not in one (e.g. {', '.join(loose[:3])}); move every image into its class's folder "
            "(cats/…, dogs/…), or give --labels FILE.json")
    return _numbered([PurePath(name).parts[0] for name in files], files, printable(folder))


def labels_from_file(path: str | os.PathLike[str], files: Sequence[str]) -> ClassLabels:
    """`{"cats/a.png": "cat", "b.png": 1, ...}`: every image of the folder needs its class."""
    path = Path(path)
    try:
        given = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DatasetError(f"{printable(path)}: cannot be read as a JSON labels file ({error})") from None
    if not isinstance(given, dict) or not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in given.values()):
        raise DatasetError(f"{printable(path)}: a labels file is one JSON object mapping each image's path (relative "
                           "to the image folder) to its class, a name or a number: {\"cats/a.png\": \"cat\", ...}")
    missing = [name for name in files if name not in given]
    if missing:
        raise DatasetError(f"{printable(path)}: {len(missing)} image(s) of the folder have no class here (e.g. "
                           f"{', '.join(missing[:3])}); every image needs one")
    return _numbered([str(given[name]) for name in files], files, printable(path))


def load_labels(images_dir: str | os.PathLike[str], files: Sequence[str], classes: int,
                labels_file: str | os.PathLike[str] | None = None) -> ClassLabels:
    """The class of each of `files` (relative to `images_dir`): from the labels file when one is given, else
    from the subfolders; refused unless there are as many classes as the networks take."""
    labels = labels_from_file(labels_file, files) if labels_file else labels_from_subfolders(images_dir, files)
    if len(labels.names) != classes:
        shown = ", ".join(labels.names[:8]) + (", …" if len(labels.names) > 8 else "")
        raise DatasetError(
            f"{printable(labels_file or images_dir)}: the images are of {len(labels.names)} classes ({shown}), but the "
            f"networks take {classes}; set `inputs: {{label: {{classes: {len(labels.names)}}}}}` in both network "
            "files (a file with `base:` and that line is enough)")
    return labels
