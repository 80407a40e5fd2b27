#!/usr/bin/env python3
"""Which generator average to keep: one run, many averages.

Trains once as `archgan train` would with the given flags, keeping beside the run's own average one more
per --half_lives (thousands of images, as `ema_kimg`). An average draws no randomness and does not change
training, so each extra one is exactly what a run with that `ema_kimg` would end with, for the cost of one
run. At the end, SWD (×10³, as `archgan metrics`: --metric_images real and generated images, seed 0) of
the trained generator, the run's own average and each extra one. Results in benchmarks/README.md ("The
default run's training file").

    python benchmarks/ema_half_life.py -- --run_dir /tmp/ema --seed 0     # the default run: 8 to 14 min on 2 CPU cores
    python benchmarks/ema_half_life.py --half_lives 1,4 -- --run_dir /tmp/ema --training_config my.yaml
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from torch import nn  # noqa: E402

from archgan.cli.train import add_arguments, settings_from_args  # noqa: E402
from archgan.data.folder import load_image_folder  # noqa: E402
from archgan.loading import load_run  # noqa: E402
from archgan.metrics.measure import compute, generate_uint8, reals_uint8  # noqa: E402
from archgan.training.ema import half_life_decay, make_ema, update_ema  # noqa: E402
from archgan.training.hooks import Hook, StepEvent, default_hooks  # noqa: E402
from archgan.training.trainer import Trainer  # noqa: E402


class ExtraAverages(Hook):
    """Averages of the generator with fixed half-lives in images, updated after every step as `ema_kimg`
    updates the run's own (the decay depends on the stage's batch)."""

    def __init__(self, half_lives_kimg: list[float]):
        self.half_lives_kimg = half_lives_kimg
        self.averages: dict[float, nn.Module] = {}

    def on_start(self, trainer: Trainer) -> None:
        self.averages = {kimg: make_ema(trainer.state.generator) for kimg in self.half_lives_kimg}

    def after_step(self, trainer: Trainer, event: StepEvent) -> None:
        batch = trainer.plan.stage(event.position).batch_size
        for kimg, average in self.averages.items():
            update_ema(average, trainer.state.generator, half_life_decay(batch, kimg))


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--half_lives", default="0.5,1,2,3,4,7,10",
                        help="comma-separated half-lives of the extra averages, in thousands of images")
    parser.add_argument("--metric_images", type=int, default=2048, help="real and generated images for SWD")
    parser.add_argument("train_flags", nargs=argparse.REMAINDER, help="-- then `archgan train` flags")
    args = parser.parse_args(argv)
    train_parser = argparse.ArgumentParser(prog="archgan train")
    add_arguments(train_parser)
    flags = args.train_flags[1:] if args.train_flags[:1] == ["--"] else args.train_flags
    settings = settings_from_args(train_parser.parse_args(flags))

    extra = ExtraAverages([float(kimg) for kimg in args.half_lives.split(",")])
    trainer = Trainer(settings)
    result = trainer.run([*default_hooks(trainer), extra])

    loaded = load_run(result.run_dir, settings.device)  # the saved networks, as `archgan metrics` reads them
    resolution = loaded.generator.resolution(loaded.depth)
    images = load_image_folder(settings.images_dir, settings.generator.resolutions[-1],
                               settings.generator.image_channels,
                               Path(settings.cache_dir) if settings.cache_dir else None).images
    count = min(args.metric_images, len(images))
    real = reals_uint8(images, resolution, count, 0)
    generators = {"trained generator": loaded.generator, "the run's average": loaded.generator_ema}
    for kimg, average in extra.averages.items():
        generators[f"ema_kimg {kimg:g}"] = copy.deepcopy(loaded.generator).eval()
        generators[f"ema_kimg {kimg:g}"].load_state_dict(average.state_dict())
    table = {}
    print(f"SWD ×10³, {count} images at {resolution}², {result.images_shown:,} images shown ({result.run_dir})")
    for name, generator in generators.items():
        if generator is None:
            continue
        fake = generate_uint8(generator, count, loaded.depth, loaded.alpha, settings.device, seed=0)
        table[name] = compute(["swd"], real, fake, device=settings.device, seed=0)
        print(f"{name:20s}", "  ".join(f"{level} {value:7.2f}" for level, value in table[name].items()), flush=True)
    (Path(result.run_dir) / "ema_half_life.json").write_text(json.dumps(table, indent=1))
    return table


if __name__ == "__main__":
    main()
