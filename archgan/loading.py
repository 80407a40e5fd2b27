"""Using trained models from Python: load a generator or discriminator by config and weights, or a
whole run from nothing but its folder (checkpoints carry their specs)."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from .errors import WeightsError
from .interop import pro_gan
from .interop.pretrained import load_pretrained, weights_file
from .networks import Discriminator, Generator, build_network
from .networks.weights import read_torch_file, spec_json_of, trained_position
from .spec import NetworkSpec, Role, load_spec, load_spec_text
from .training.checkpoint import load_state
from .training.files import NETWORK_FILES, STATE_FILE
from .training.run import RunSettings, resume_checkpoint

PathLike = str | os.PathLike[str]
log = logging.getLogger("archgan")


def _spec(role: Role, config: PathLike | None, weights: Path | None, ema: bool) -> NetworkSpec:
    """The spec to build: from a pro_gan_pytorch file's conf (on top of `config`), from `config`, or
    from the spec our weights files carry."""
    if weights is not None and weights.suffix.lower() != ".safetensors":
        data = read_torch_file(weights)
        if pro_gan.is_checkpoint(data):
            conf, _ = pro_gan.network_entry(data, role, ema)
            base = str(Path(config).resolve()) if config and Path(config).is_file() else str(config or pro_gan.BUILTIN)
            return pro_gan.spec_for(conf, role, base)
    if config is not None:
        return load_spec(config, role)
    if weights is not None and weights.suffix.lower() == ".safetensors":
        spec_json = spec_json_of(weights)
        if spec_json:
            return load_spec_text(spec_json, file=f"{weights} (its spec)", role=role)
    raise WeightsError(f"{weights}: this file does not say which network it belongs to: give its config too")


def _load(role: Role, config, weights, depth, ema: bool, strict: bool, device) -> Generator | Discriminator:
    if config is None and weights is None:
        raise WeightsError(f"load_{role} needs a config (a spec file or built-in name), weights, or both")
    path = weights_file(weights, role, ema) if weights is not None else None
    network = build_network(_spec(role, config, path, ema))
    if path is not None:
        load_pretrained(network, path, strict=strict, ema=ema)
        if path.suffix.lower() == ".safetensors":
            _adopt_trained_position(network, path)
    if depth is not None:
        network.default_depth, network.default_alpha = network.check_depth(depth), 1.0
        warn_if_untrained(network, depth)
    return network.to(device).eval()


def _adopt_trained_position(network: Generator | Discriminator, path: Path) -> None:
    """Where the run that wrote `path` had grown its network to, as the network's defaults, when the file
    is of this very network (a partial load into another spec keeps the full depth)."""
    depth, alpha = trained_position(path)
    spec_json = spec_json_of(path) if depth is not None else None
    if spec_json and load_spec_text(spec_json, file=f"{path} (its spec)") == network.spec:
        network.default_depth, network.default_alpha, network.trained_depth = depth, alpha, depth


def warn_if_untrained(network: Generator | Discriminator, depth: int) -> None:
    """A clear warning for a stage deeper than the weights were trained to: its images are noise."""
    trained = network.trained_depth
    if trained is not None and depth > trained:
        reached, asked = network.resolution(trained), network.resolution(depth)
        log.warning("%s: these weights were trained up to %d×%d (depth %d); the %d×%d stage (depth %d) has not "
                    "been trained, so its images will be noise", network.spec.name, reached, reached, trained, asked,
                    asked, depth)


def load_generator(config: PathLike | None = None, weights: PathLike | None = None, depth: int | None = None, *,
                   ema: bool = True, strict: bool = True, device: str | torch.device = "cpu") -> Generator:
    """A generator in eval mode. `config`: a spec file, a built-in name or an attn_gan_pytorch .conf
    (optional when the weights carry their spec); `weights`: our .safetensors, a checkpoint or run folder
    (the averaged generator when `ema`), a pro_gan_pytorch checkpoint, a stylegan2-ada-pytorch state dict or
    an attn_gan_pytorch state dict. `depth` sets the stage `G(z)` uses by default. strict=False loads a
    partial match and logs the rest."""
    return _load("generator", config, weights, depth, ema, strict, device)  # type: ignore[return-value]


def load_discriminator(config: PathLike | None = None, weights: PathLike | None = None, depth: int | None = None, *,
                       strict: bool = True, device: str | torch.device = "cpu") -> Discriminator:
    """A discriminator in eval mode; arguments as load_generator."""
    return _load("discriminator", config, weights, depth, False, strict, device)  # type: ignore[return-value]


@dataclass
class LoadedRun:
    """A run's newest checkpoint: its networks (eval mode) and where the run stood."""

    generator: Generator
    discriminator: Discriminator
    generator_ema: Generator | None
    settings: RunSettings
    checkpoint: Path
    images_shown: int
    depth: int  # the stage the run had reached
    alpha: float  # and how far it was faded in

    @property
    def sampler(self) -> Generator:
        """The generator to sample from: the average when the run keeps one."""
        return self.generator_ema or self.generator


def load_run(run_dir: PathLike, device: str | torch.device = "cpu") -> LoadedRun:
    """Everything from a run folder (or one of its checkpoint folders) alone."""
    path = Path(run_dir)
    checkpoint = path if (path / STATE_FILE).is_file() else resume_checkpoint(path)
    settings = RunSettings.load(checkpoint)
    state = load_state(checkpoint / STATE_FILE)
    depth, alpha = int(state["depth"]), float(state["alpha"])
    specs = {"generator": settings.generator, "discriminator": settings.discriminator,
             "generator_ema": settings.generator}
    networks = {}
    for name, file in NETWORK_FILES.items():
        if (checkpoint / file).is_file():
            network = build_network(specs[name])
            load_pretrained(network, checkpoint / file)
            network.default_depth, network.default_alpha, network.trained_depth = depth, alpha, depth
            networks[name] = network.to(device).eval()
    return LoadedRun(networks["generator"], networks["discriminator"], networks.get("generator_ema"), settings,
                     checkpoint, int(state["images_shown"]), depth, alpha)
