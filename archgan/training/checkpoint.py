"""Checkpoints: a folder per save, written under a temporary name and renamed, so a kill never leaves
a torn checkpoint. Everything is safetensors or JSON; nothing is pickled.

    checkpoints/step-000001234/
        generator.safetensors  discriminator.safetensors  generator_ema.safetensors   (spec in metadata)
        training_state.safetensors   optimizer states, schedule position, RNG states, data order
        generator.json  discriminator.json  training.json  run.json   (readable copies)
"""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

STATE_FILE = "training_state.safetensors"
_STEP = re.compile(r"step-(\d+)$")


def flatten(obj: Any, tensors: dict[str, torch.Tensor], prefix: str = "") -> Any:
    """Replace every tensor in a nest of dicts/lists by a reference into `tensors`; the rest is JSON."""
    if isinstance(obj, torch.Tensor):
        tensors[prefix] = obj.detach().contiguous().cpu()
        return {"__tensor__": prefix}
    if isinstance(obj, dict):
        return {"__dict__": [[flatten(k, tensors, f"{prefix}/k{i}"), flatten(v, tensors, f"{prefix}/{i}")]
                             for i, (k, v) in enumerate(obj.items())]}
    if isinstance(obj, tuple):
        return {"__tuple__": [flatten(v, tensors, f"{prefix}/{i}") for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [flatten(v, tensors, f"{prefix}/{i}") for i, v in enumerate(obj)]
    return obj


def unflatten(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict) and "__tensor__" in obj:
        return tensors[obj["__tensor__"]]
    if isinstance(obj, dict) and "__tuple__" in obj:
        return tuple(unflatten(v, tensors) for v in obj["__tuple__"])
    if isinstance(obj, dict):
        return {unflatten(k, tensors): unflatten(v, tensors) for k, v in obj["__dict__"]}
    if isinstance(obj, list):
        return [unflatten(v, tensors) for v in obj]
    return obj


def save_state(state: dict[str, Any], path: Path) -> None:
    tensors: dict[str, torch.Tensor] = {}
    skeleton = flatten(state, tensors)
    save_file(tensors, str(path), metadata={"state": json.dumps(skeleton)})


def load_state(path: Path) -> dict[str, Any]:
    with safe_open(str(path), framework="pt") as handle:
        skeleton = json.loads(handle.metadata()["state"])
    return unflatten(skeleton, load_file(str(path)))


def write_checkpoint(folder: Path, step: int, write) -> Path:
    """Create checkpoints/step-<step>/ atomically: `write(tmp_dir)` fills a temporary folder, which is
    synced and renamed into place (an existing checkpoint of the same step is replaced)."""
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"step-{step:09d}"
    temporary = folder / f".tmp-step-{step:09d}-{os.getpid()}"
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir()
    write(temporary)
    for file in temporary.iterdir():
        with open(file, "rb") as handle:
            os.fsync(handle.fileno())
    if final.exists():
        shutil.rmtree(final)
    os.replace(temporary, final)
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return final


def list_checkpoints(folder: Path) -> list[Path]:
    """Complete checkpoints, oldest first (temporary folders of interrupted writes are ignored)."""
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.is_dir() and _STEP.match(p.name) and (p / STATE_FILE).is_file()]
    return sorted(found, key=lambda p: int(_STEP.match(p.name).group(1)))


def latest_checkpoint(folder: Path) -> Path | None:
    checkpoints = list_checkpoints(folder)
    return checkpoints[-1] if checkpoints else None


PERIODIC_MARK = "periodic"
"""An empty file marking a checkpoint written every --checkpoint_factor epochs; those are kept."""


def prune(folder: Path) -> None:
    """Keep the periodic checkpoints and the newest one; delete the rest and any torn writes."""
    checkpoints = list_checkpoints(folder)
    keep = {p for p in checkpoints if (p / PERIODIC_MARK).exists()} | set(checkpoints[-1:])
    for path in folder.iterdir() if folder.is_dir() else []:
        if path.name.startswith(".tmp-step-") or (_STEP.match(path.name) and path not in keep):
            shutil.rmtree(path, ignore_errors=True)
