"""The names of everything in a run folder and in a checkpoint: one table, used by the trainer, the
checkpoint writer, the loaders (`load_run`, `load_generator`) and `--resume`.

    RUN/                                          a run folder
      samples/  checkpoints/  logs/  plots/
      checkpoints/step-000001234/                 one checkpoint (written to a temporary folder, then renamed)
      checkpoints/.tmp-step-000001234-PID/        a checkpoint being written (removed by the next write when stale)
      checkpoints/.old-step-000001234-PID/        the previous copy of a step being rewritten, removed once the new
                                                  one is in place; a kill between the two renames leaves only it,
                                                  and it then counts as that step's checkpoint
      .lock                                       pid and host of the run writing the folder (training/lock.py)
        generator.safetensors  discriminator.safetensors  generator_ema.safetensors   (spec in the metadata)
        training_state.safetensors                optimizers, counters, RNG states, data order
        generator.json  discriminator.json  training.json  run.json                    (the run's settings)
        dataset.json                              the image folder the run trains on: count, listing digest, classes
        periodic                                  an empty mark: kept when older checkpoints are pruned
"""
from __future__ import annotations

import re
from pathlib import Path

SAMPLES, CHECKPOINTS, LOGS, PLOTS = "samples", "checkpoints", "logs", "plots"
NETWORK_FILES = {
    "generator": "generator.safetensors",
    "discriminator": "discriminator.safetensors",
    "generator_ema": "generator_ema.safetensors",
}
STATE_FILE = "training_state.safetensors"
SETTINGS_FILES = {"generator": "generator.json", "discriminator": "discriminator.json", "training": "training.json"}
RUN_FILE = "run.json"
DATASET_FILE = "dataset.json"
PERIODIC_MARK = "periodic"
LOCK_FILE = ".lock"
CHECKPOINT_PREFIX = "step-"
TEMPORARY_PREFIX = ".tmp-step-"
REPLACED_PREFIX = ".old-step-"


def checkpoint_name(step: int) -> str:
    return f"{CHECKPOINT_PREFIX}{step:09d}"


def temporary_name(step: int, pid: int) -> str:
    return f"{TEMPORARY_PREFIX}{step:09d}-{pid}"


def replaced_name(step: int, pid: int) -> str:
    return f"{REPLACED_PREFIX}{step:09d}-{pid}"


_CHECKPOINT = re.compile(rf"{CHECKPOINT_PREFIX}(\d+)$")
_REPLACED = re.compile(rf"{re.escape(REPLACED_PREFIX)}(\d+)-\d+$")


def is_checkpoint_name(name: str) -> bool:
    return _CHECKPOINT.match(name) is not None


def step_of(path: Path) -> int | None:
    """The step of a checkpoint folder, or of the previous copy of one being rewritten; None for other names."""
    match = _CHECKPOINT.match(path.name) or _REPLACED.match(path.name)
    return int(match.group(1)) if match else None


def list_checkpoints(folder: Path) -> list[Path]:
    """Complete checkpoints, oldest first, one per step. Temporary folders of interrupted writes are
    ignored; the previous copy of a step stands in for it while (or if a kill left it) not yet replaced."""
    if not folder.is_dir():
        return []
    by_step: dict[int, Path] = {}
    for path in sorted(folder.iterdir(), key=lambda p: not is_checkpoint_name(p.name)):  # final names first
        step = step_of(path)
        if step is not None and step not in by_step and path.is_dir() and (path / STATE_FILE).is_file():
            by_step[step] = path
    return [by_step[step] for step in sorted(by_step)]


def latest_checkpoint(folder: Path) -> Path | None:
    checkpoints = list_checkpoints(folder)
    return checkpoints[-1] if checkpoints else None
