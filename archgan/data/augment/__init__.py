"""Differentiable augmentation of the images the discriminator sees, real and generated alike: DiffAugment
(Zhao et al. 2020) with a fixed probability, or ADA's adaptive one (Karras et al. 2020), from a training
file's `augment:` entry. This registry of operations is read without torch (the training schema, the
docs); the operations and the adaptive probability are in ops.py, built when a run starts."""
from __future__ import annotations

from typing import Any, Mapping

from ...options import Option, options_schema, with_defaults

OPERATIONS: dict[str, str] = {
    "flip": "mirror left-right",
    "rotate90": "rotate by 90°, 180° or 270°",
    "translation": "shift by up to 1/8 of the size in x and y, whole pixels, the border filled with 0 (DiffAugment)",
    "cutout": "set a square of half the size, centred anywhere, to 0 (DiffAugment)",
    "brightness": "add one value from U(−0.5, 0.5) to every pixel (DiffAugment)",
    "saturation": "scale each pixel's colour away from its channel mean by U(0, 2) (DiffAugment)",
    "contrast": "scale the image away from its mean by U(0.5, 1.5) (DiffAugment)",
}
"""Each operation, applied to each image with the augmentation's probability, with its own random draws."""

DIFFAUGMENT = ["brightness", "saturation", "contrast", "translation", "cutout"]
"""DiffAugment's policy 'color,translation,cutout', in its order."""

ADAPTIVE_OPTIONS: dict[str, Option] = {
    "target": Option({"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
                     "the overfitting heuristic r_t = E[sign(D(real))] the probability is steered toward", 0.6),
    "interval": Option({"type": "integer", "minimum": 1, "maximum": 2**20},
                       "adjust the probability every this many steps, from their real batches", 4),
    "kimg": Option({"type": "number", "exclusiveMinimum": 0, "maximum": 10**6},
                   "thousands of images over which the probability can go from 0 to 1", 500),
}
AUGMENT_OPTIONS: dict[str, Option] = {
    "ops": Option({"type": "array", "items": {"enum": list(OPERATIONS)}, "minItems": 1, "uniqueItems": True},
                  "the operations, applied in this order: " + "; ".join(f"{name}: {doc}" for name, doc in OPERATIONS.items()),
                  DIFFAUGMENT),
    "probability": Option({"type": "number", "minimum": 0, "maximum": 1},
                          "the chance that each operation is applied to each image (DiffAugment: 1); with `adaptive`, "
                          "where it starts (default 0 then, as ADA)", 1.0),
    "adaptive": Option({"anyOf": [{"type": "null"}, options_schema(ADAPTIVE_OPTIONS, strict=False)]},
                       "steer the probability as ADA does: every `interval` steps it moves by ±(images in them) / "
                       "(1000·kimg) as r_t is above or below `target`; null: a fixed probability", None),
}


def augment_schema() -> dict[str, Any]:
    return {"anyOf": [{"type": "null"}, options_schema(AUGMENT_OPTIONS, strict=False)]}


def normalize_augment(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """An `augment:` entry with every option explicit (None: no augmentation)."""
    if value is None:
        return None
    entry = with_defaults(AUGMENT_OPTIONS, value)
    if entry["adaptive"] is not None:
        entry["adaptive"] = with_defaults(ADAPTIVE_OPTIONS, entry["adaptive"])
        if "probability" not in value:
            entry["probability"] = 0.0
    return entry
