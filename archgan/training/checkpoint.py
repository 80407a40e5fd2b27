"""Checkpoints: a folder per save (its files: training/files.py). Every write, a rewrite of the same step
included, goes to a new temporary folder whose files are fsynced before it is renamed into place; the
previous copy is removed only after, so a kill at any instant leaves a complete checkpoint that
`latest_checkpoint` finds. Everything is safetensors or JSON; nothing is pickled. A TrainState's
state_dict() is stored as plain JSON with its tensors in one safetensors file."""
from __future__ import annotations

import errno
import json
import logging
import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file

from ..errors import SetupError, TrainingError
from ..networks.weights import first_non_finite, read_weights, save_weights, write_safetensors
from .files import (DATASET_FILE, NETWORK_FILES, PERIODIC_MARK, REPLACED_PREFIX, STATE_FILE, TEMPORARY_PREFIX,
                    checkpoint_name, is_checkpoint_name, latest_checkpoint, list_checkpoints, replaced_name, step_of,
                    temporary_name)
from .finite import diverged
from .run import RunSettings

if TYPE_CHECKING:
    from .plan import Position
    from .state import TrainState

log = logging.getLogger("archgan.train")
CHECKPOINT_EXTRAS = ("depth", "alpha")
"""Entries of a checkpoint's training state that are not the TrainState's: where the run stood, for generating."""


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
    """A state saved by save_state; a damaged or foreign file is a SetupError naming it."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            skeleton = json.loads((handle.metadata() or {})["state"])
        return unflatten(skeleton, load_file(str(path)))
    except (SafetensorError, OSError, KeyError, TypeError, ValueError) as error:
        raise SetupError(f"{path}: not a readable training state ({type(error).__name__}: {error}); the checkpoint "
                         f"is damaged: delete its folder ({path.parent}) to resume from the one before it") from None


def write_checkpoint(folder: Path, step: int, write: Callable[[Path], None], size: int | None = None) -> Path:
    """checkpoints/step-<step>/, so that a kill at any instant leaves a complete checkpoint: what earlier
    killed writes left is cleaned up first, `write(tmp)` fills a new temporary folder, its files are fsynced,
    and it is renamed into place (an existing copy of the step is renamed aside first and removed after).
    A failed write (a full disk: `size` is what a checkpoint needs, in bytes) removes what it wrote, leaves
    the earlier checkpoints as they were and is a TrainingError saying so."""
    folder.mkdir(parents=True, exist_ok=True)
    recover_interrupted_writes(folder)
    final = folder / checkpoint_name(step)
    temporary = folder / temporary_name(step, os.getpid())
    try:
        temporary.mkdir()
        write(temporary)
        for file in temporary.iterdir():
            _fsync(file)
        _fsync(temporary)
    except BaseException as error:
        shutil.rmtree(temporary, ignore_errors=True)
        if isinstance(error, OSError):
            raise _write_failed(folder, final, error, size) from None
        raise
    try:
        aside = folder / replaced_name(step, os.getpid())
        if final.exists():
            os.replace(final, aside)
        os.replace(temporary, final)
        _fsync(folder)
    except OSError as error:
        recover_interrupted_writes(folder)
        raise _write_failed(folder, final, error, size) from None
    shutil.rmtree(aside, ignore_errors=True)
    return final


def recover_interrupted_writes(folder: Path) -> None:
    """Undo what killed checkpoint writes left in `folder`: temporary folders are removed, and the previous
    copy of a step that was being rewritten goes back into place when the new copy never got there (and
    is removed when it did). Safe to interrupt too: a complete copy of every step stays at each instant.
    Only one run writes a run folder (training/lock.py), so every temporary folder found here is stale."""
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        if path.name.startswith(TEMPORARY_PREFIX):
            shutil.rmtree(path, ignore_errors=True)
    for path in folder.iterdir():
        step = step_of(path)
        if path.name.startswith(REPLACED_PREFIX) and step is not None:
            final = folder / checkpoint_name(step)
            try:
                if final.exists():
                    shutil.rmtree(path)
                else:
                    os.replace(path, final)
            except OSError as error:
                log.warning("%s: left as it is (%s); remove it by hand once %s is complete", path, error, final)


def _fsync(path: Path) -> None:
    """Flush a file, or a folder's entries, to the disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _write_failed(folder: Path, final: Path, error: OSError, size: int | None) -> TrainingError:
    kept = latest_checkpoint(folder)
    kept_words = f"the newest complete checkpoint, {kept}, is intact" if kept else "no earlier checkpoint was written"
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        try:
            free = f", {_megabytes(shutil.disk_usage(folder).free)} free"
        except OSError:
            free = ""
        needs = f"a checkpoint needs about {_megabytes(size)}{free}" if size else f"no space left{free}"
        return TrainingError(f"{folder}: the disk is full: {final.name} could not be written ({needs}); free space "
                             f"there (or move the run folder to a larger disk: it resumes in place) and continue "
                             f"with --resume; {kept_words}")
    return TrainingError(f"{folder}: {final.name} could not be written ({error.strerror or error}); {kept_words}")


def _megabytes(size: int) -> str:
    return f"{size / 2**20:,.1f} MB"


def save_checkpoint(folder: Path, state: TrainState, settings: RunSettings, position: Position, periodic: bool,
                    dataset: Mapping[str, Any] | None = None) -> Path:
    """checkpoints/step-<step>/ for the state: each network with its spec, the rest of the state (with the
    depth and alpha reached, for generating from it), the run's settings and `dataset` (the image folder's
    listing); then older ones pruned. A rewrite of a periodic checkpoint stays periodic. Weights that are
    no longer finite are never written: the run stops with the last good checkpoint kept."""
    networks = state.networks()
    for name, network in networks.items():
        bad = first_non_finite(network.state_dict())
        if bad is not None:
            raise diverged(f"tensor {bad} of the {name} holds NaN or infinite values", state.step, folder)
    rest = {key: value for key, value in state.state_dict().items() if key != "networks"}
    rest |= {"depth": position.depth, "alpha": position.alpha}
    size = _bytes_of([network.state_dict() for network in networks.values()]) + _bytes_of(rest)

    def write(temporary: Path) -> None:
        for name, network in networks.items():
            save_weights(network, temporary / NETWORK_FILES[name], position.depth, position.alpha)
        save_state(rest, temporary / STATE_FILE)
        settings.save(temporary)
        if dataset is not None:
            (temporary / DATASET_FILE).write_text(json.dumps(dict(dataset)) + "\n")
        if periodic or (folder / checkpoint_name(state.step) / PERIODIC_MARK).exists():  # after write_checkpoint's clean-up
            (temporary / PERIODIC_MARK).touch()

    path = write_checkpoint(folder, state.step, write, size)
    prune(folder)
    return path


def _bytes_of(obj: Any) -> int:
    """The bytes of every tensor in a nest of dicts, lists and tuples."""
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(_bytes_of(value) for value in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_bytes_of(value) for value in obj)
    return 0


def read_checkpoint(checkpoint: Path) -> dict[str, Any]:
    """A checkpoint folder as a TrainState state dict (the networks from their safetensors files; the
    entries that are not the TrainState's, CHECKPOINT_EXTRAS, left out)."""
    state = load_state(checkpoint / STATE_FILE)
    if not isinstance(state, dict):
        raise SetupError(f"{checkpoint / STATE_FILE}: not a training state (no table of entries); the checkpoint "
                         f"is damaged: delete {checkpoint} to resume from the one before it")
    for key in CHECKPOINT_EXTRAS:
        state.pop(key, None)
    state["networks"] = {name: read_weights(checkpoint / file).tensors for name, file in NETWORK_FILES.items()
                         if (checkpoint / file).is_file()}
    return state


def prune(folder: Path) -> None:
    """Keep the periodic checkpoints and the newest one; delete the rest."""
    checkpoints = list_checkpoints(folder)
    keep = {p for p in checkpoints if (p / PERIODIC_MARK).exists()} | set(checkpoints[-1:])
    for path in folder.iterdir() if folder.is_dir() else []:
        if is_checkpoint_name(path.name) and path not in keep:
            shutil.rmtree(path, ignore_errors=True)
