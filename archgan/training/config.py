"""Training files (training.yaml): the schedule, batch sizes, learning rates, optimizer, EMA and loss.

Checked by a JSON Schema built from the options below and the loss registry, with the same friendly
errors as architecture files; command-line overrides go through the same checks and are reported
against the flag that set them.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Mapping

from jsonschema import Draft202012Validator

from ..data.augment import augment_schema, normalize_augment
from ..losses import loss_schema, normalize_loss, normalize_path_length, path_length_schema
from ..metrics import METRICS
from ..options import Option, options_schema, with_defaults
from ..resources import architectures_dir, builtin_architectures
from ..spec.errors import JsonPath, Location, SpecError, did_you_mean
from ..spec.parse import parse_text, read_file
from ..spec.schema import DRAFT
from ..spec.validate import schema_problems

MAX_COUNT = 2**20
"""Upper bound of batch sizes, step intervals and image counts: far above any real setting, and small
enough that no schedule overflows or allocates without end."""
MAX_KIMG = 10**6  # a billion images per stage
_COUNT = {"type": "integer", "minimum": 1, "maximum": MAX_COUNT}
_KIMG = {"type": "number", "minimum": 0, "maximum": MAX_KIMG}
_LEARNING_RATE = {"type": "number", "minimum": 0, "maximum": 1}


def _per_stage(item: Mapping[str, Any]) -> dict[str, Any]:
    return {"anyOf": [item, {"type": "array", "items": item, "minItems": 1}]}


PER_STAGE = "a number for every stage, or a list with one per stage (lowest resolution first)"

TRAINING_OPTIONS: dict[str, Option] = {
    "loss": Option({"$ref": "#/$defs/loss"}, "the GAN loss: a name or {type: NAME, ...options}", "wgan-gp",
                   normalize=normalize_loss),
    "fade_kimg": Option(_per_stage(_KIMG), f"thousands of real images shown while a stage fades in; {PER_STAGE} "
                        "(the first stage has no fade-in)", 600),
    "stable_kimg": Option(_per_stage(_KIMG), f"thousands of real images shown once a stage is faded in; {PER_STAGE}", 600),
    "batch_size": Option(_per_stage(_COUNT), f"images per step; {PER_STAGE} (like APGAN's batch_size_list)", 16),
    "accumulate": Option(_per_stage(_COUNT), "compute each batch in this many micro-batches and sum their "
                         "gradients, for batches larger than memory (the same gradients as the whole batch: "
                         "minibatch_stddev groups stay whole, penalty draws are the same; batch norm sees micro-batch "
                         f"statistics); {PER_STAGE}", 1),
    "g_lr": Option(_per_stage(_LEARNING_RATE), f"generator learning rate; {PER_STAGE}", 0.001),
    "d_lr": Option(_per_stage(_LEARNING_RATE), f"discriminator learning rate; {PER_STAGE}", 0.001),
    "adam_betas": Option({"type": "array", "items": {"type": "number", "minimum": 0, "exclusiveMaximum": 1},
                          "minItems": 2, "maxItems": 2}, "Adam's beta1 and beta2", [0.0, 0.99]),
    "adam_eps": Option({"type": "number", "exclusiveMinimum": 0, "maximum": 1}, "Adam's epsilon", 1e-8),
    "n_critic": Option(_COUNT, "discriminator steps per generator step", 1),
    "reset_optimizers_on_grow": Option(
        {"type": "boolean"},
        "clear both optimizers' state when a stage starts to fade in and when it is faded in, as the official ProGAN",
        True,
    ),
    "ema_beta": Option({"type": "number", "minimum": 0, "exclusiveMaximum": 1},
                       "keep an exponential moving average of the generator with this decay; 0 turns it off", 0.999),
    "ema_warmup": Option(
        {"type": "boolean"},
        "average faster at first: decay min(ema_beta, (1 + t)/(10 + t)) after t steps (TensorFlow's "
        "ExponentialMovingAverage rule), so that short runs get a useful average; the official ProGAN does not",
        False,
    ),
    "ema_kimg": Option({"anyOf": [{"type": "number", "exclusiveMinimum": 0, "maximum": MAX_KIMG}, {"type": "null"}]},
                       "the average's half-life in thousands of images instead of a fixed decay: each step decays it by "
                       "0.5^(batch / (1000·ema_kimg)), so every stage's batch averages over as many images (StyleGAN's "
                       "G_smoothing_kimg 10, stylegan2-ada's ema_kimg); null: ema_beta's decay. ema_beta: 0 turns the "
                       "average off either way", None),
    "style_mixing": Option({"type": "number", "minimum": 0, "maximum": 1},
                           "style-mixing regularization (StyleGAN: 0.9): with this probability a step's generated images "
                           "take the styles from a random crossover on (among the style layers the step runs) from a "
                           "second latent; needs a generator with a mapping network", 0.0),
    "w_avg_beta": Option({"type": "number", "minimum": 0, "maximum": 1},
                         "a mapping network's average w, which truncation pulls toward, follows each generator step's "
                         "batch mean with this decay (StyleGAN: 0.995)", 0.995),
    "path_length": Option({"$ref": "#/$defs/path_length"},
                          "StyleGAN2's path length regularization of a style-based generator: {weight: 2, interval: 4, "
                          "decay: 0.01, batch_shrink: 2} (those are the defaults: {} turns it on); null: none",
                          None, normalize=normalize_path_length),
    "samples_from_ema": Option({"type": "boolean"}, "draw sample grids from the averaged generator", True),
    "mirror": Option({"type": "boolean"}, "flip each real image left-right with probability 1/2", False),
    "augment": Option({"$ref": "#/$defs/augment"},
                      "differentiable augmentation of every image the discriminator sees, real and generated (for "
                      "small datasets): {ops: [...], probability: p} (DiffAugment: the default ops, p 1) or with "
                      "adaptive: {target: 0.6} (ADA); null: none", None, normalize=normalize_augment),
    "log_every": Option(_COUNT, "read the losses back from the device and log them every this many steps", 20),
    "metrics": Option({"type": "array", "items": {"enum": sorted(METRICS)}, "uniqueItems": True},
                      "quality measures computed at the end of every stage and of training: "
                      + "; ".join(f"{name}: {metric.doc}" for name, metric in sorted(METRICS.items()))
                      + " (fid needs --inception_weights)", []),
    "metrics_images": Option(_COUNT, "real and generated images each metric compares", 2048),
}


@lru_cache(maxsize=None)
def training_schema() -> dict[str, Any]:
    schema = options_schema(TRAINING_OPTIONS, strict=False)
    schema["properties"] = {
        "$schema": {"type": "string", "description": "path or URL of this schema, for editors"},
        "description": {"type": "string", "description": "free text: what this schedule reproduces"},
        **schema["properties"],
    }
    return {
        "$schema": DRAFT,
        "$id": "https://archgan.readthedocs.io/schemas/training.schema.json",
        "title": "archgan training",
        **schema,
        "$defs": {"loss": loss_schema(), "augment": augment_schema(), "path_length": path_length_schema()},
    }


@lru_cache(maxsize=None)
def _validator() -> Draft202012Validator:
    return Draft202012Validator(training_schema())


@dataclass(frozen=True)
class TrainingConfig:
    """A resolved training file: every option explicit. Per-stage options hold a number or a list."""

    loss: Mapping[str, Any]
    fade_kimg: float | list[float]
    stable_kimg: float | list[float]
    batch_size: int | list[int]
    accumulate: int | list[int]
    g_lr: float | list[float]
    d_lr: float | list[float]
    adam_betas: list[float]
    adam_eps: float
    n_critic: int
    reset_optimizers_on_grow: bool
    ema_beta: float
    ema_warmup: bool
    ema_kimg: float | None
    style_mixing: float
    w_avg_beta: float
    path_length: Mapping[str, Any] | None
    samples_from_ema: bool
    mirror: bool
    augment: Mapping[str, Any] | None
    log_every: int
    metrics: list[str]
    metrics_images: int
    description: str = ""
    source: str = field(default="<memory>", compare=False)
    locations: Mapping[str, Location] = field(default_factory=dict, compare=False, repr=False)

    @property
    def keeps_average(self) -> bool:
        """Whether the run keeps a generator average: `ema_beta: 0` turns it off whichever decay it would use,
        so one flag (`--set ema_beta=0`) does it for files that give a half-life (ema_kimg) too."""
        return self.ema_beta > 0

    def per_stage(self, name: str, num_stages: int) -> list:
        """The option as one value per stage; a list of the wrong length is a SpecError at its line."""
        value = getattr(self, name)
        if not isinstance(value, list):
            return [value] * num_stages
        if len(value) != num_stages:
            raise SpecError.single(
                self.locations.get(name, Location(self.source, (name,))),
                f"{name} lists {len(value)} values, but the network has {num_stages} stages",
                found=str(value),
                allowed=f"one number, or a list of {num_stages}",
            )
        return value

    def to_dict(self) -> dict[str, Any]:
        document = {f.name: getattr(self, f.name) for f in fields(self) if f.compare}
        return {k: v for k, v in document.items() if k != "description" or v}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def _config(data: Mapping[str, Any], source: str, locate: Callable[[JsonPath], Location]) -> TrainingConfig:
    values = with_defaults(TRAINING_OPTIONS, data)
    locations = {name: locate((name,)) for name in data}
    return TrainingConfig(**values, description=data.get("description", ""), source=source, locations=locations)


def load_training_config(
    source: str | os.PathLike[str] | None,
    overrides: Mapping[str, Any] | None = None,
    flags: Mapping[str, str] | None = None,
) -> TrainingConfig:
    """Load a training file (a path, or a built-in architecture's name for its training.yaml; None for
    the defaults alone) and apply command-line `overrides`, in order, keyed by option or by a dotted path
    into one (`loss.gp_weight`); problems with an override name its flag (`flags` maps options to the flag
    that set them where it is not --OPTION, e.g. loss -> --loss_function)."""
    data: dict[str, Any] = {}
    locate: Callable[[JsonPath], Location] = lambda path: Location("<defaults>", tuple(path))
    name = "<defaults>"
    if source is not None:
        path = _resolve(source)
        parsed = read_file(path)
        if not isinstance(parsed.data, dict):
            raise SpecError.single(Location(str(path), (), 1), "the top level must be a mapping of keys",
                                   found=type(parsed.data).__name__)
        problems = schema_problems(parsed.data, _validator(), parsed.locate)
        if problems:
            raise SpecError(problems)
        data, locate, name = dict(parsed.data), parsed.locate, str(path)
    if overrides:
        flags = flags or {}
        overrides = _nested_overrides(data, overrides, flags)

        def flag(path: JsonPath) -> Location:
            return Location(f"command line {flags.get(str(path[0]), f'--{path[0]}')}" if path else "command line")

        flag_problems = schema_problems(dict(overrides), _validator(), flag)
        if flag_problems:
            raise SpecError(flag_problems)
        data.update(overrides)
        file_locate = locate
        locate = lambda path: flag(path) if path and path[0] in overrides else file_locate(path)
    return _config(data, name, locate)


def _nested_overrides(data: Mapping[str, Any], overrides: Mapping[str, Any], flags: Mapping[str, str]) -> dict[str, Any]:
    """Overrides by option, dotted paths (`loss.gp_weight`) set inside the option's value as the file (or
    the default) gives it; an option given as a name (loss: wgan-gp) is expanded to its mapping first."""
    resolved: dict[str, Any] = {}
    for key, value in overrides.items():
        name, *inner = key.split(".")
        if not inner:
            resolved[name] = value
            continue
        current = resolved.get(name, data.get(name, TRAINING_OPTIONS[name].default if name in TRAINING_OPTIONS else {}))
        option = TRAINING_OPTIONS.get(name)
        if not isinstance(current, Mapping) and option is not None and option.normalize is not None:
            try:
                current = option.normalize(current)
            except (KeyError, TypeError, ValueError):
                pass  # an invalid value: the schema check below reports it
        if not isinstance(current, Mapping):
            raise SpecError.single(Location(f"command line {flags.get(name, key)}"),
                                   f"{name} is {current!r}, not a mapping of options: {key} cannot be set inside it",
                                   hint=f"set the whole value: {name}=VALUE")
        resolved[name] = _with_value(current, inner, value)
    return resolved


def _with_value(mapping: Mapping[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    """A copy of `mapping` with `value` at `path` (the mappings on the way copied, or made)."""
    head, *rest = path
    inner = mapping.get(head, {})
    return {**mapping, head: _with_value(inner if isinstance(inner, Mapping) else {}, rest, value) if rest else value}


def training_config_from_json(text: str, source: str = "<checkpoint>") -> TrainingConfig:
    """The canonical JSON saved in checkpoints and run folders, back to a config."""
    parsed = parse_text(text, source, "json")
    problems = schema_problems(parsed.data, _validator(), parsed.locate)
    if problems:
        raise SpecError(problems)
    return _config(parsed.data, source, parsed.locate)


def _resolve(source: str | os.PathLike[str]) -> Path:
    path = Path(source)
    if path.exists():  # read_file refuses folders, FIFOs and devices
        return path
    if str(source) in builtin_architectures() and (architectures_dir() / str(source) / "training.yaml").is_file():
        return architectures_dir() / str(source) / "training.yaml"
    raise SpecError.single(
        Location(str(source)),
        "no such training file, and no built-in architecture of this name with a training.yaml",
        found=f"'{source}'",
        hint=did_you_mean(str(source), builtin_architectures()),
    )
