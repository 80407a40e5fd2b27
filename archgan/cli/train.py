"""`archgan train` / `python train.py`: train any architecture file with the one progressive trainer."""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from ..errors import SetupError
from ..losses import LOSSES
from ..resources import builtin_architectures, bundled_emoji_dir
from ..spec import load_spec
from ..spec.errors import did_you_mean
from ..training.config import load_training_config
from ..training.run import RunSettings, resume_checkpoint
from ..training.speed import SPEED_OPTIONS, default_speed
from .common import HelpFormatter, check_at_most, check_not_files, finite_float, resolve_device, seed

if TYPE_CHECKING:
    from ..training.trainer import Trainer

DEFAULT_ARCH = "pggan-small"
RESUMABLE = {"max_images", "device", "num_workers", "resume", "inception_weights", "gpus", "dry_run", *SPEED_OPTIONS}
"""The flags a resumed run may change; any other flag given with --resume must repeat the run's setting."""

SETTINGS_OF_FLAG = {
    "loss_function": ("training",),
    "batch_size": ("training",),
    "g_lr": ("training",),
    "d_lr": ("training",),
    "training_config": ("training",),
    "generator_config": ("generator",),
    "discriminator_config": ("discriminator",),
    "latent_size": ("generator",),
    "arch": ("generator", "discriminator", "training"),
    "kimg": ("stage_kimg",),
    "num_epochs": ("stage_epochs",),
    "start_stage": ("start_resolution",),
    "labels": ("labels_file",),
    "set": ("training",),
}
"""The RunSettings a flag decides, where they are not named as the flag is."""
TRAINING_OVERRIDES = {"loss": "loss_function", "batch_size": "batch_size", "g_lr": "g_lr", "d_lr": "d_lr"}
"""Training-file options that have a flag of their own: option -> flag."""


def per_stage_batch(text: str) -> int | list[int]:
    """--batch_size: one number, or one per stage separated by commas."""
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a batch size: give a number, or one per stage "
                                         "separated by commas (e.g. 64,64,32)") from None
    return values[0] if len(values) == 1 else values


def resolution(text: str) -> int:
    """--start_stage: a stage's resolution, as 32 or 32x32."""
    side, _, other = text.lower().replace("×", "x").partition("x")
    if not side.isdigit() or (other and other != side):
        raise argparse.ArgumentTypeError(f"'{text}' is not a stage: give its resolution, e.g. 32 or 32x32")
    return int(side)


def training_setting(text: str) -> tuple[str, Any, str]:
    """--set KEY=VALUE: (key, value, the text for messages). The value is read as JSON where it is JSON
    (numbers, true/false, null, lists) and as YAML otherwise (names, {type: hinge}), then checked by the
    training schema like the file's own values."""
    key, equals, raw = text.partition("=")
    if not equals or not key.strip():
        raise argparse.ArgumentTypeError(f"'{text}' is not KEY=VALUE (e.g. loss.gp_weight=5 or batch_size=[32,16])")
    try:
        value = json.loads(raw, parse_constant=lambda name: math.nan)
    except ValueError:
        import yaml

        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            raise argparse.ArgumentTypeError(f"'{text}': the value {raw!r} is neither JSON nor YAML") from None
    if not _finite(value):
        raise argparse.ArgumentTypeError(f"'{text}': numbers must be finite")
    return key.strip(), value, text


def _finite(value: Any) -> bool:
    """No NaN or infinity anywhere in a value (the schema's bounds would let them through)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(item) for item in value.values())
    if isinstance(value, list):
        return all(_finite(item) for item in value)
    return True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    what = parser.add_argument_group("what to train")
    what.add_argument("--arch", default=DEFAULT_ARCH, help="built-in architecture: its generator, discriminator "
                      f"and training files ({', '.join(builtin_architectures())})")
    what.add_argument("--generator_config", help="generator architecture file (replaces the --arch one)")
    what.add_argument("--discriminator_config", help="discriminator architecture file (replaces the --arch one)")
    what.add_argument("--training_config", help="training file (replaces the --arch one)")
    what.add_argument("--generator_file", help="pretrained generator weights to start from (.safetensors; "
                      "or an attn_gan_pytorch .pth with its .conf as --generator_config)")
    what.add_argument("--discriminator_file", help="pretrained discriminator weights to start from (.safetensors; "
                      "or an attn_gan_pytorch .pth with its .conf as --discriminator_config)")
    what.add_argument("--allow_partial", action="store_true", help="let --generator_file/--discriminator_file cover "
                      "only part of the network (e.g. a 128×128 model for a 256×256 one); the rest starts afresh")

    data = parser.add_argument_group("data")
    data.add_argument("--images_dir", default=str(bundled_emoji_dir()),
                      help="folder of training images (jpg, png, webp, bmp, tiff; subfolders too) (default: the bundled emoji)")
    data.add_argument("--data_percentage", type=finite_float, default=100.0, help="percentage of the images to use")
    data.add_argument("--labels", metavar="FILE.json", help="for a class-conditional network: a JSON object mapping "
                      "each image's path (relative to --images_dir) to its class (default: one class per subfolder)")
    data.add_argument("--num_workers", type=int, default=4, help="threads decoding images into the cache")
    data.add_argument("--cache_dir", help="where decoded datasets are cached (default: ~/.cache/archgan/datasets)")
    data.add_argument("--inception_weights", help="Inception-v3 weights file for FID/KID when the training file "
                      "lists fid under metrics (or set ARCHGAN_INCEPTION_WEIGHTS)")

    schedule = parser.add_argument_group("overrides of the training file")
    schedule.add_argument("--loss_function", help=f"loss: {', '.join(LOSSES)}")
    schedule.add_argument("--latent_size", type=int, help="checked against the generator spec (a mismatch is an error)")
    schedule.add_argument("--batch_size", type=per_stage_batch, help="images per step: one number, or one per stage "
                          "separated by commas (lowest resolution first)")
    schedule.add_argument("--g_lr", type=finite_float, help="generator learning rate")
    schedule.add_argument("--d_lr", type=finite_float, help="discriminator learning rate")
    schedule.add_argument("--set", action="append", type=training_setting, default=[], metavar="KEY=VALUE",
                          help="set any option of the training file, checked by its schema; nested keys with dots "
                          "(--set loss.gp_weight=5 --set fade_kimg=[0,300,300] --set ema_beta=0); repeatable")
    schedule.add_argument("--start_stage", type=resolution, metavar="RESOLUTION",
                          help="start the schedule at this stage (e.g. 32), stable, to fine-tune networks trained "
                          "that far (--generator_file/--discriminator_file); the stages below are not trained")
    length = schedule.add_mutually_exclusive_group()
    length.add_argument("--num_epochs", type=finite_float, help="epochs of the dataset per stage (half fading in)")
    length.add_argument("--kimg", type=finite_float, help="thousands of real images per stage (half fading in)")

    run = parser.add_argument_group("run")
    run.add_argument("--run_dir", help="folder for everything the run writes (default: runs/ARCH-DATE-TIME)")
    run.add_argument("--sample_dir", help="sample grids (default: RUN_DIR/samples)")
    run.add_argument("--model_dir", help="checkpoints (default: RUN_DIR/checkpoints)")
    run.add_argument("--feedback_factor", type=finite_float, default=4.0, help="sample grids per epoch of the dataset")
    run.add_argument("--checkpoint_factor", type=finite_float, default=5.0,
                     help="write a checkpoint every this many epochs (these are kept; so is the latest)")
    run.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its newest checkpoint, exactly")
    run.add_argument("--seed", type=seed, default=0, help="random seed of the run")
    run.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (auto: a GPU when there is one)")
    run.add_argument("--max_images", type=int, help="stop once this many real images have been shown in total "
                     "(counting those before a resume)")
    run.add_argument("--dry-run", "--dry_run", dest="dry_run", action="store_true",
                     help="print the resolved run (files, every setting, the schedule per period) and exit")

    speed = parser.add_argument_group("speed (each but compile and cuda_graphs on by default on a GPU; amp and "
                                      "channels_last also on a CPU with native bf16; --no-NAME switches one off)")
    for name, text in SPEED_OPTIONS.items():
        speed.add_argument(f"--{name}", action=argparse.BooleanOptionalAction, default=None, help=text)

    several = parser.add_argument_group("more than one GPU or machine (run under torchrun, or use --gpus)")
    several.add_argument("--gpus", type=int, help="launch torchrun with this many processes on this machine, one per GPU")
    several.add_argument("--sync_bn", action="store_true", help="synchronise batch norm statistics across GPUs")
    several.add_argument("--check_sync", action="store_true",
                         help="check after every step that all processes hold identical parameters (debugging)")


def register(commands) -> None:
    parser = commands.add_parser(
        "train", help="train a generator and a discriminator progressively",
        formatter_class=HelpFormatter,
    )
    add_arguments(parser)
    parser.set_defaults(run=run)


def _check_positive(args: argparse.Namespace) -> None:
    checks = {
        "data_percentage": lambda v: 0 < v <= 100, "num_workers": lambda v: v >= 1, "feedback_factor": lambda v: v > 0,
        "checkpoint_factor": lambda v: v > 0, "max_images": lambda v: v > 0, "num_epochs": lambda v: v > 0,
        "kimg": lambda v: v > 0, "latent_size": lambda v: v > 0,
    }
    for name, ok in checks.items():
        value = getattr(args, name)
        if value is not None and not ok(value):
            allowed = "in (0, 100]" if name == "data_percentage" else "at least 1" if name == "num_workers" else "above 0"
            raise SetupError(f"--{name} {value}: must be {allowed}")
    check_at_most(args)
    check_not_files(args, ("run_dir", "sample_dir", "model_dir", "cache_dir"))


def speed_options(args: argparse.Namespace, device: str) -> dict[str, bool]:
    """Each speed option as given, else the device's default (training/speed.py)."""
    defaults = default_speed(device)
    return {name: defaults[name] if getattr(args, name) is None else getattr(args, name) for name in SPEED_OPTIONS}


def settings_from_args(args: argparse.Namespace) -> RunSettings:
    """Resolve the flags of a new run into RunSettings (the specs and training file loaded and checked)."""
    _check_positive(args)
    device = resolve_device(args.device)
    if args.arch not in builtin_architectures():
        hint = did_you_mean(args.arch, builtin_architectures())
        raise SetupError(f"--arch {args.arch}: no such built-in architecture; choose one of "
                         f"{', '.join(builtin_architectures())}" + (f" ({hint})" if hint else ""))
    generator = load_spec(args.generator_config or args.arch, "generator")
    discriminator = load_spec(args.discriminator_config or args.arch, "discriminator")
    if args.latent_size is not None and args.latent_size != generator.latent_size:
        raise SetupError(
            f"--latent_size {args.latent_size} does not match the generator's latent_size {generator.latent_size} "
            f"({generator.source}); change the spec file, or leave the flag out"
        )
    overrides = {option: getattr(args, flag) for option, flag in TRAINING_OVERRIDES.items()
                 if getattr(args, flag) is not None}
    flags = {option: f"--{flag}" for option, flag in TRAINING_OVERRIDES.items()}
    for key, value, text in args.set:
        overrides[key] = value
        flags[key.split(".")[0]] = f"--set {text}"
    using_arch_files = not (args.generator_config or args.discriminator_config)
    training_source = args.training_config or (args.arch if using_arch_files else None)
    training = load_training_config(training_source, overrides, flags)
    run_dir = Path(args.run_dir or f"runs/{generator.name}-{time.strftime('%Y%m%d-%H%M%S')}")
    return RunSettings(
        generator=generator,
        discriminator=discriminator,
        training=training,
        images_dir=str(args.images_dir),
        run_dir=str(run_dir),
        sample_dir=str(args.sample_dir or run_dir / "samples"),
        model_dir=str(args.model_dir or run_dir / "checkpoints"),
        seed=args.seed,
        device=device,
        max_images=args.max_images,
        stage_kimg=args.kimg,
        stage_epochs=args.num_epochs,
        start_resolution=args.start_stage,
        feedback_factor=args.feedback_factor,
        checkpoint_factor=args.checkpoint_factor,
        data_percentage=args.data_percentage,
        labels_file=args.labels,
        num_workers=args.num_workers,
        cache_dir=args.cache_dir,
        generator_file=args.generator_file,
        discriminator_file=args.discriminator_file,
        allow_partial=args.allow_partial,
        inception_weights=args.inception_weights,
        sync_bn=args.sync_bn,
        check_sync=args.check_sync,
        **speed_options(args, device),
    )


def _flag_defaults() -> dict[str, Any]:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return vars(parser.parse_args([]))


def _difference(name: str, saved: Any, wanted: Any) -> tuple[str, str] | None:
    """How a setting given again differs from the saved one: (the key that differs, in words); None if same."""
    if name in RunSettings.PATHS:
        same = (saved is None) == (wanted is None) and (saved is None or os.path.abspath(saved) == os.path.abspath(wanted))
        return None if same else (name, f"it was {saved}, the flag gives {wanted}")
    if name == "training":
        old, new = saved.to_dict(), wanted.to_dict()
        keys = [key for key in new if old.get(key) != new[key]]
        return (keys[0], "; ".join(f"{key} was {old.get(key)!r}, the flags give {new[key]!r}" for key in keys)) \
            if keys else None
    if name in ("generator", "discriminator"):
        return None if saved == wanted else (name, f"the {name} spec differs from the one the run was started with "
                                                   f"({wanted.source})")
    return None if saved == wanted else (name, f"it was {saved!r}, the flag gives {wanted!r}")


def _blame(name: str, key: str, given: list[str]) -> str:
    """The flag to name for a setting that differs: the override of the training option that differs when
    it was given, else the first given flag that decides the setting."""
    if name == "training" and TRAINING_OVERRIDES.get(key) in given:
        return TRAINING_OVERRIDES[key]
    return next(flag for flag in given if name in SETTINGS_OF_FLAG.get(flag, (flag,)))


def resumed_settings(args: argparse.Namespace) -> tuple[RunSettings, Path]:
    """The saved settings of the run in --resume. Flags that repeat the run's own settings are accepted
    (so the command that started the run works with --resume added); a flag that would change one is
    refused, naming what the run was started with. Without --max_images the run goes to the end of its
    schedule."""
    checkpoint = resume_checkpoint(Path(args.resume))
    saved = RunSettings.load(checkpoint)
    given = [name for name, default in _flag_defaults().items() if name not in RESUMABLE and getattr(args, name) != default]
    if given:
        wanted = settings_from_args(argparse.Namespace(**{**vars(args), "run_dir": args.run_dir or args.resume}))
        for name in dict.fromkeys(setting for flag in given for setting in SETTINGS_OF_FLAG.get(flag, (flag,))):
            difference = _difference(name, getattr(saved, name), getattr(wanted, name))
            if difference:
                key, words = difference
                flag = _blame(name, key, given)
                raise SetupError(f"--{flag}: the run in {args.resume} was started otherwise ({words}); a resumed run "
                                 f"keeps its settings: leave --{flag} out, or start a new run in another --run_dir")
    changes: dict[str, Any] = {"device": resolve_device(saved.device if args.device == "auto" else args.device),
                               "num_workers": args.num_workers, "max_images": args.max_images}
    if args.inception_weights is not None:
        changes["inception_weights"] = args.inception_weights
    changes |= {name: value for name, value in speed_options(args, changes["device"]).items()
                if getattr(args, name) is not None or saved.device != changes["device"]}
    return replace(saved, **changes), checkpoint


def describe_run(settings: RunSettings, checkpoint: Path | None = None) -> str:
    """--dry-run: the files, every setting and the schedule a run would follow, without a tensor made or
    an image decoded (--num_epochs counts the folder's image files)."""
    from ..data.folder import find_images
    from ..data.labels import load_labels
    from ..spec.summary import total_parameters
    from ..training.plan import RunPlan

    dataset = len(find_images(Path(settings.images_dir)).files) if settings.stage_epochs is not None else None
    plan = RunPlan.build(settings.generator, settings.discriminator, settings.training,
                         images_per_stage=settings.images_per_stage(dataset), start_resolution=settings.start_resolution)
    lines = [f"run folder: {settings.run_dir}" + (f" (resuming from {checkpoint})" if checkpoint else "")]
    for spec in (settings.generator, settings.discriminator):
        parameters = total_parameters(spec)
        lines.append(f"{spec.role}: {spec.name} ({spec.source}), {parameters:,} parameters")
    lines.append(f"training: {settings.training.source}")
    lines += [f"  {key}: {json.dumps(value)}" for key, value in settings.training.to_dict().items()]
    shown = {"generator", "discriminator", "training", "run_dir"}
    lines += [f"{name}: {value}" for name, value in vars(settings).items() if name not in shown and value is not None]
    if dataset is not None:
        lines.append(f"dataset: {dataset:,} image files (--num_epochs {settings.stage_epochs:g} per stage)")
    if settings.generator.classes:  # the labels are known from the file names alone
        folder = Path(settings.images_dir)
        files = [str(path.relative_to(folder)) for path, _ in find_images(folder).files]
        labels = load_labels(folder, files, settings.generator.classes, settings.labels_file)
        lines.append("classes: " + ", ".join(f"{name} ({count:,})" for name, count in zip(labels.names, labels.counts())))
    return "\n".join(lines + ["", plan.table()])


class _TqdmHandler(logging.Handler):
    """Log lines printed above the progress bar instead of through it."""

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm import tqdm

        tqdm.write(self.format(record))


@contextlib.contextmanager
def stop_on_signals(trainer: Trainer) -> Iterator[None]:
    """Ctrl-C and SIGTERM ask the trainer to stop after its current step (it then writes a checkpoint);
    the previous handlers come back afterwards."""

    def request_stop(number: int, frame: Any) -> None:
        trainer.stop_requested = True

    previous = {number: signal.signal(number, request_stop) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def launch_torchrun(args: argparse.Namespace, argv: list[str]) -> int:
    """`--gpus N`: the same command under torchrun, one process per GPU of this machine."""
    import torch

    available = torch.cuda.device_count()
    if args.gpus > available:
        raise SetupError(f"--gpus {args.gpus}: this machine has {available} CUDA device(s); for CPU processes run "
                         f"torchrun yourself: torchrun --nproc_per_node=N -m archgan train ...")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={args.gpus}",
               "-m", "archgan", "train", *_without_gpus(argv)]
    return subprocess.call(command)


def _without_gpus(argv: list[str]) -> list[str]:
    kept, skip = [], False
    for word in argv:
        if skip:
            skip = False
        elif word == "--gpus":
            skip = True
        elif not word.startswith("--gpus="):
            kept.append(word)
    return kept


def run(args: argparse.Namespace) -> int:
    if args.gpus and args.gpus > 1 and "WORLD_SIZE" not in os.environ:
        return launch_torchrun(args, sys.argv[sys.argv.index("train") + 1 :] if "train" in sys.argv else sys.argv[1:])
    import torch

    from ..training.distributed import broadcast, init_from_environment
    from ..training.hooks import default_hooks
    from ..training.trainer import Trainer

    distribution, device = init_from_environment(resolve_device(args.device))
    args.device = device
    handler = _TqdmHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    if distribution.is_main:  # one copy of the log, not one per process
        logging.getLogger("archgan").addHandler(handler)
    logging.getLogger("archgan").setLevel(logging.INFO)
    try:
        if args.resume:
            settings, checkpoint = resumed_settings(args)
        else:
            settings, checkpoint = settings_from_args(args), None
            settings = replace(settings, run_dir=broadcast(settings.run_dir, distribution),
                               sample_dir=broadcast(settings.sample_dir, distribution),
                               model_dir=broadcast(settings.model_dir, distribution))
        if args.dry_run:
            if distribution.is_main:
                print(describe_run(settings, checkpoint))
            return 0
        if distribution.is_main:
            print(f"run folder: {settings.run_dir}", flush=True)
        trainer = Trainer(settings, resume_from=checkpoint, distribution=distribution)
        with stop_on_signals(trainer):
            result = trainer.run(default_hooks(trainer))
    finally:
        logging.getLogger("archgan").removeHandler(handler)
        if distribution.enabled:
            torch.distributed.destroy_process_group()
    if result.reason == "interrupted":
        if distribution.is_main:
            print(f"interrupted; continue with: archgan train --resume {result.run_dir}")
        return 130
    return 0
