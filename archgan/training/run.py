"""Everything one training run needs, resolved: specs, training config, data, folders and run control.
Saved as run.json with every checkpoint so that `--resume RUN_DIR` needs nothing else. Its paths are
stored relative to the folder run.json is in, so a run folder works from any working directory and a
copy of it (cp -r) is a run of its own that resumes in place."""
from __future__ import annotations

import json
import os
import types
import typing
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from ..errors import SetupError
from ..spec import NetworkSpec, load_spec_text
from ..spec.errors import did_you_mean
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
    labels_file: str | None = None  # --labels: each image's class, for class-conditional networks (else: subfolders)
    num_workers: int = 4
    cache_dir: str | None = None
    generator_file: str | None = None
    discriminator_file: str | None = None
    allow_partial: bool = False
    inception_weights: str | None = None
    sync_bn: bool = False  # synchronise batch norm across processes (GPUs)
    check_sync: bool = False  # verify after every step that all processes hold the same parameters
    # speed options; the CLI's defaults per device are training/speed.py's default_speed
    amp: bool = False  # bf16 autocast of the forward passes; losses and penalties stay float32
    channels_last: bool = False  # NHWC memory layout for convolutions
    tf32: bool = False  # TF32 tensor cores for float32 matmuls and convolutions
    cudnn_benchmark: bool = False  # let cuDNN pick the fastest convolution algorithms
    compile: bool = False  # torch.compile the passes of the D and G steps
    cuda_graphs: bool = False  # with compile: replay them as CUDA graphs

    PATHS: ClassVar[tuple[str, ...]] = ("images_dir", "run_dir", "sample_dir", "model_dir", "cache_dir",
                                        "generator_file", "discriminator_file", "inception_weights", "labels_file")

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
        written before 2026-12 stored them, stay as they are). A file that is missing, unreadable or not as
        `save` writes it (unknown keys, keys missing, values of the wrong type) is a SetupError naming the
        file, the line and the fix; the specs and training config are checked as any spec file is."""
        folder = Path(folder)
        plain = _run_file(folder / RUN_FILE)
        for name in cls.PATHS:
            if plain.get(name) is not None:
                plain[name] = os.path.abspath(folder / plain[name])
        texts = {name: _read(folder / file) for name, file in SETTINGS_FILES.items()}
        files = {name: str(folder / file) for name, file in SETTINGS_FILES.items()}
        return cls(
            generator=load_spec_text(texts["generator"], file=files["generator"]),
            discriminator=load_spec_text(texts["discriminator"], file=files["discriminator"]),
            training=training_config_from_json(texts["training"], files["training"]),
            **plain,
        )


FIX = "the run folder was changed by hand: restore the file from a copy of the run, or resume from another checkpoint"


def _read(file: Path) -> str:
    try:
        return file.read_text()
    except FileNotFoundError:
        raise SetupError(f"{file}: missing; {FIX}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise SetupError(f"{file}: cannot be read ({error}); {FIX}") from None


def _run_file(file: Path) -> dict[str, Any]:
    """run.json as `RunSettings.save` writes it: every problem in it listed, each with its line."""
    text = _read(file)
    try:
        plain = json.loads(text)
    except ValueError as error:
        line = f":{error.lineno}" if isinstance(error, json.JSONDecodeError) else ""
        raise SetupError(f"{file}{line}: not valid JSON ({error}); {FIX}") from None
    if not isinstance(plain, dict):
        raise SetupError(f"{file}: holds {type(plain).__name__}, not the table of a run's settings; {FIX}")
    types = typing.get_type_hints(RunSettings)
    kept = [item for item in fields(RunSettings) if "saved" not in item.metadata]
    names = [item.name for item in kept]
    problems = [f"{file}{_line_of(text, key)}: unknown key '{key}'"
                + (f" ({hint})" if (hint := did_you_mean(key, names)) else "") for key in plain if key not in names]
    problems += [f"{file}: the key '{item.name}' is missing" for item in kept
                 if item.name not in plain and item.default is MISSING]
    problems += [f"{file}{_line_of(text, key)}: '{key}' must be {_words(types[key])}, found {value!r}"
                 for key, value in plain.items() if key in names and not _is_of(value, types[key])]
    if problems:
        raise SetupError("\n".join(problems) + f"\n{FIX}")
    return plain


def _line_of(text: str, key: str) -> str:
    """':LINE' of the line that holds "key": in a JSON text, '' when none does."""
    return next((f":{number}" for number, line in enumerate(text.splitlines(), 1) if f'"{key}":' in line), "")


def _is_of(value: Any, annotation: Any) -> bool:
    """Whether a JSON value fits a field's type: str, int, float (an int too), bool, or one of them | None."""
    allowed = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    for kind in allowed:
        if kind is type(None) and value is None:
            return True
        if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return True
        if kind is int and isinstance(value, int) and not isinstance(value, bool):
            return True
        if kind in (str, bool) and isinstance(value, kind):
            return True
    return False


def _words(annotation: Any) -> str:
    allowed = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    words = {str: "a string", int: "a whole number", float: "a number", bool: "true or false", type(None): "null"}
    return " or ".join(words.get(kind, getattr(kind, "__name__", str(kind))) for kind in allowed)


def resume_checkpoint(run_dir: Path) -> Path:
    """The newest complete checkpoint of a run folder (its checkpoint folder may have been moved by --model_dir)."""
    saved = run_dir / LOGS / RUN_FILE
    folder = Path(RunSettings.load(saved.parent).model_dir) if saved.is_file() else run_dir / CHECKPOINTS
    found = latest_checkpoint(folder)
    if found is None:
        raise SetupError(f"{run_dir}: no complete checkpoint in {folder} to resume from")
    return found
