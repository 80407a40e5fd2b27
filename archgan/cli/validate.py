"""`archgan validate FILE...`: check architecture and training files; exit 1 with every problem found.
Given one generator and one discriminator (and a training file, else the defaults, as `archgan train`
takes them), or a built-in name, it also runs every check `archgan train` makes before training: the
RunPlan's (the files fit together; batches split into the processes and minibatch-stddev groups; the
schedule shows images). The dataset is not needed, and torch is not imported."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import ArchganError
from ..interop import attn_gan
from ..resources import architectures_dir, builtin_architectures
from ..spec import NetworkSpec, load_spec
from ..spec.parse import read_file
from ..training.config import TrainingConfig, load_training_config
from ..training.memory import format_bytes
from ..training.plan import RunPlan


def register(commands) -> None:
    parser = commands.add_parser("validate", help="check architecture and training files and report every problem")
    parser.add_argument("files", nargs="+", help="generator, discriminator or training files, or built-in names")
    parser.set_defaults(run=run)


def _is_training_file(path: Path) -> bool:
    """Training files have neither `network` nor `stages` (architecture files need one of them) and
    are not attn_gan_pytorch .conf files. A file that cannot be read or parsed raises its SpecError."""
    if attn_gan.is_conf(path) or not path.exists():
        return False  # a missing file: the spec loader's message names the built-ins too
    data = read_file(path).data
    return isinstance(data, dict) and bool(data) and "network" not in data and "stages" not in data


def _describe(spec: NetworkSpec) -> str:
    first, last = spec.resolutions[0], spec.resolutions[-1]
    return f"ok: {spec.source}: {spec.role} '{spec.name}', {len(spec.stages)} stages ({first}×{first} → {last}×{last})"


def _check_plan(generator: NetworkSpec, discriminator: NetworkSpec, training: TrainingConfig) -> str:
    plan = RunPlan.build(generator, discriminator, training)  # refuses what cannot be allocated, too
    batches = sorted({stage.batch_size for stage in plan.stages})
    peak = max(plan.memory.stages, key=lambda stage: stage.total_bytes)
    return (f"ok: {generator.source}, {discriminator.source} and {training.source}: fit together for training, "
            f"{plan.total_images:,} images in {len(plan.periods)} periods, batch {', '.join(map(str, batches))}; "
            f"memory about {format_bytes(peak.total_bytes)} at most ({peak.resolution}×{peak.resolution}, "
            f"batch {peak.batch_size}; `archgan show` has every stage)")


class _Files:
    """What the command line named, sorted into networks and training files as they load."""

    def __init__(self) -> None:
        self.networks: dict[str, list[NetworkSpec]] = {"generator": [], "discriminator": []}
        self.trainings: list[TrainingConfig] = []

    def check(self, source: str) -> list[str]:
        if not Path(source).is_file() and source in builtin_architectures():
            generator, discriminator = load_spec(source, "generator"), load_spec(source, "discriminator")
            lines = [_describe(generator), _describe(discriminator)]
            training_file = architectures_dir() / source / "training.yaml"
            training = load_training_config(training_file if training_file.is_file() else None)
            return lines + [_check_plan(generator, discriminator, training)]
        if _is_training_file(Path(source)):
            config = load_training_config(source)
            self.trainings.append(config)
            return [f"ok: {source}: training file ({config.loss['type']} loss)"]
        spec = load_spec(source)
        self.networks[spec.role].append(spec)
        return [_describe(spec)]

    def check_together(self) -> list[str]:
        """With one generator, one discriminator and at most one training file: the run plan's checks."""
        generators, discriminators = self.networks["generator"], self.networks["discriminator"]
        if len(generators) != 1 or len(discriminators) != 1 or len(self.trainings) > 1:
            return []
        training = self.trainings[0] if self.trainings else load_training_config(None)
        return [_check_plan(generators[0], discriminators[0], training)]


def run(args: argparse.Namespace) -> int:
    files, failed = _Files(), 0
    for source in args.files:
        try:
            print("\n".join(files.check(source)))
        except ArchganError as error:
            failed += 1
            print(f"error: {error}", file=sys.stderr)
    if not failed:
        try:
            for line in files.check_together():
                print(line)
        except ArchganError as error:
            failed += 1
            print(f"error: {error}", file=sys.stderr)
    return 1 if failed else 0
