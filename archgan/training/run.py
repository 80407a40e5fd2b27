"""Everything one training run needs, resolved: specs, training config, data, folders and run control.
Saved as run.json with every checkpoint so that `--resume RUN_DIR` needs nothing else. Its paths are
stored relative to the folder run.json is in, so a run folder works from any working directory and a
copy of it (cp -r) is a run of its own that resumes in place."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import ClassVar

from ..errors import SetupError
from ..spec import NetworkSpec, load_spec_text
from .config import TrainingConfig, training_config_from_json
from .files import CHECKPOINTS, LOGS, RUN_FILE, SETTINGS_FILES, latest_checkpoint


@dataclass(frozen=True)
class RunSettings:
    generator: NetworkSpec = field(metadata={"saved": SETTINGS_FILES["generator"]})
    discriminator: NetworkSpec = field(metadata={"saved": SETTINGS_FILES["discriminator"]})
    training: TrainingConfig = field(metadata={"saved": SETTINGS_FILES["training"]})
    images_dir: str
    run_dir: str
    sample_dir: str
    model_dir: str
    seed: int = 0
    device: str = "cpu"
    max_images: int | None = None
    stage_kimg: float | None = None  # --kimg: thousands of images per stage, replacing the file's schedule
    stage_epochs: float | None = None  # --num_epochs: epochs of the dataset per stage
    start_resolution: int | None = None  # --start_stage: the schedule starts there (fine-tuning trained weights)
    feedback_factor: float = 4.0
    checkpoint_factor: float = 5.0
    data_percentage: float = 100.0
    num_workers: int = 4
    cache_dir: str | None = None
    generator_file: str | None = None
    discriminator_file: str | None = None
    allow_partial: bool = False
    inception_weights: str | None = None
    sync_bn: bool = False  # synchronise batch norm across processes (GPUs)
    check_sync: bool = False  # verify after every step that all processes hold the same parameters
    # speed options, on by default on a GPU (see `archgan train --help`)
    amp: bool = False  # bf16 autocast of the forward passes; losses and penalties stay float32
    channels_last: bool = False  # NHWC memory layout for convolutions
    tf32: bool = False  # TF32 tensor cores for float32 matmuls and convolutions
    cudnn_benchmark: bool = False  # let cuDNN pick the fastest convolution algorithms

    PATHS: ClassVar[tuple[str, ...]] = ("images_dir", "run_dir", "sample_dir", "model_dir", "cache_dir",
                                        "generator_file", "discriminator_file", "inception_weights")

    def images_per_stage(self, dataset_size: int | None = None) -> int | None:
        """--kimg or --num_epochs as real images per stage (None: the training file's schedule); epochs
        need the dataset's size."""
        if self.stage_kimg is not None:
            return round(self.stage_kimg * 1000)
        if self.stage_epochs is not None:
            if dataset_size is None:
                raise ValueError("--num_epochs: the images per stage depend on the dataset's size")
            return round(self.stage_epochs * dataset_size)
        return None

    def save(self, folder: Path) -> None:
        """run.json (paths relative to `folder`) plus the canonical JSON of both specs and the training config."""
        plain = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if "saved" in item.metadata:
                (folder / item.metadata["saved"]).write_text(value.to_json() + "\n")
            elif item.name in self.PATHS and value is not None:
                plain[item.name] = os.path.relpath(os.path.abspath(value), os.path.abspath(folder))
            else:
                plain[item.name] = value
        (folder / RUN_FILE).write_text(json.dumps(plain, indent=2) + "\n")

    @classmethod
    def load(cls, folder: Path) -> RunSettings:
        """The settings saved in `folder` by `save`, paths made absolute again (absolute ones, as runs
        written before 2026-12 stored them, stay as they are)."""
        plain = json.loads((folder / RUN_FILE).read_text())
        for name in cls.PATHS:
            if plain.get(name) is not None:
                plain[name] = os.path.abspath(Path(folder) / plain[name])
        files = {name: folder / file for name, file in SETTINGS_FILES.items()}
        return cls(
            generator=load_spec_text(files["generator"].read_text(), file=str(files["generator"])),
            discriminator=load_spec_text(files["discriminator"].read_text(), file=str(files["discriminator"])),
            training=training_config_from_json(files["training"].read_text(), str(files["training"])),
            **plain,
        )


def resume_checkpoint(run_dir: Path) -> Path:
    """The newest complete checkpoint of a run folder (its checkpoint folder may have been moved by --model_dir)."""
    saved = run_dir / LOGS / RUN_FILE
    folder = Path(RunSettings.load(saved.parent).model_dir) if saved.is_file() else run_dir / CHECKPOINTS
    found = latest_checkpoint(folder)
    if found is None:
        raise SetupError(f"{run_dir}: no complete checkpoint in {folder} to resume from")
    return found
