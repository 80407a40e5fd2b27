"""Checkpoints: a folder per save (its files: training/files.py), written under a temporary name and
renamed, so a kill never leaves a torn checkpoint. Everything is safetensors or JSON; nothing is pickled.
A TrainState's state_dict() is stored as plain JSON with its tensors in one safetensors file."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file

from ..networks.weights import read_weights, save_weights, write_safetensors
from .files import (NETWORK_FILES, PERIODIC_MARK, STATE_FILE, TEMPORARY_PREFIX, checkpoint_name, is_checkpoint_name,
                    list_checkpoints)
from .run import RunSettings

if TYPE_CHECKING:
    from .plan import Position
    from .state import TrainState



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
    write_safetensors(tensors, path, metadata={"state": json.dumps(skeleton)})


def load_state(path: Path) -> dict[str, Any]:
    with safe_open(str(path), framework="pt") as handle:
        skeleton = json.loads(handle.metadata()["state"])
    return unflatten(skeleton, load_file(str(path)))


def write_checkpoint(folder: Path, step: int, write) -> Path:
    """Create checkpoints/step-<step>/ atomically: `write(tmp_dir)` fills a temporary folder, which is
    synced and renamed into place (an existing checkpoint of the same step is replaced)."""
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / checkpoint_name(step)
    temporary = folder / f"{TEMPORARY_PREFIX}{step:09d}-{os.getpid()}"
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


def save_checkpoint(folder: Path, state: TrainState, settings: RunSettings, position: Position, periodic: bool) -> Path:
    """checkpoints/step-<step>/ for the state: each network with its spec, the rest of the state (with the
    depth and alpha reached, for generating from it) and the run's settings; then older ones pruned."""
    rest = {key: value for key, value in state.state_dict().items() if key != "networks"}
    rest |= {"depth": position.depth, "alpha": position.alpha}

    def write(temporary: Path) -> None:
        for name, network in state.networks().items():
            save_weights(network, temporary / NETWORK_FILES[name], position.depth, position.alpha)
        save_state(rest, temporary / STATE_FILE)
        settings.save(temporary)
        if periodic:
            (temporary / PERIODIC_MARK).touch()

    path = write_checkpoint(folder, state.step, write)
    prune(folder)
    return path


def read_checkpoint(checkpoint: Path) -> dict[str, Any]:
    """A checkpoint folder as a TrainState state dict (the networks from their safetensors files)."""
    state = load_state(checkpoint / STATE_FILE)
    state["networks"] = {name: read_weights(checkpoint / file).tensors for name, file in NETWORK_FILES.items()
                         if (checkpoint / file).is_file()}
    return state


def prune(folder: Path) -> None:
    """Keep the periodic checkpoints and the newest one; delete the rest and any torn writes."""
    checkpoints = list_checkpoints(folder)
    keep = {p for p in checkpoints if (p / PERIODIC_MARK).exists()} | set(checkpoints[-1:])
    for path in folder.iterdir() if folder.is_dir() else []:
        if path.name.startswith(TEMPORARY_PREFIX) or (is_checkpoint_name(path.name) and path not in keep):
            shutil.rmtree(path, ignore_errors=True)
