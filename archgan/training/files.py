"""The names of everything in a run folder and in a checkpoint: one table, used by the trainer, the
checkpoint writer, the loaders (`load_run`, `load_generator`) and `--resume`.

    RUN/                                          a run folder
      samples/  checkpoints/  logs/  plots/
      checkpoints/step-000001234/                 one checkpoint (written to a temporary folder, then renamed)
        generator.safetensors  discriminator.safetensors  generator_ema.safetensors   (spec in the metadata)
        training_state.safetensors                optimizers, counters, RNG states, data order
        generator.json  discriminator.json  training.json  run.json                    (the run's settings)
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
PERIODIC_MARK = "periodic"
CHECKPOINT_PREFIX = "step-"
TEMPORARY_PREFIX = ".tmp-step-"


def checkpoint_name(step: int) -> str:
    return f"{CHECKPOINT_PREFIX}{step:09d}"


_CHECKPOINT = re.compile(rf"{CHECKPOINT_PREFIX}(\d+)$")


def is_checkpoint_name(name: str) -> bool:
    return _CHECKPOINT.match(name) is not None


def list_checkpoints(folder: Path) -> list[Path]:
    """Complete checkpoints, oldest first (temporary folders of interrupted writes are ignored)."""
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.is_dir() and is_checkpoint_name(p.name) and (p / STATE_FILE).is_file()]
    return sorted(found, key=lambda p: int(_CHECKPOINT.match(p.name).group(1)))


def latest_checkpoint(folder: Path) -> Path | None:
    checkpoints = list_checkpoints(folder)
    return checkpoints[-1] if checkpoints else None
