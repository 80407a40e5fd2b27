"""The one loader of pretrained weights for a network built from a spec, whatever wrote them:
our .safetensors files, a checkpoint or run folder of ours, a pro_gan_pytorch checkpoint, a
stylegan2-ada-pytorch state dict (for the stylegan2 built-ins), or an attn_gan_pytorch state dict (for a
network built from its .conf). Foreign files are read with
torch.load(weights_only=True): nothing in them can run."""
from __future__ import annotations

import logging
from pathlib import Path

from torch import nn

from ..errors import WeightsError
from ..networks.weights import LoadReport, load_weights, load_weights_file, read_torch_file
from ..training.files import CHECKPOINTS, NETWORK_FILES, STATE_FILE, latest_checkpoint
from . import attn_gan, pro_gan, stylegan2_ada

log = logging.getLogger("archgan")


def weights_file(path: str | Path, role: str, ema: bool = True) -> Path:
    """The file to read for `role`: the path itself, or inside a checkpoint folder (the averaged
    generator when `ema` and there is one), or in the newest checkpoint of a run folder."""
    path = Path(path)
    if not path.is_dir():
        if not path.exists():
            raise WeightsError(f"{path}: no such weights file or folder")
        return path
    if not (path / STATE_FILE).is_file() and not (path / NETWORK_FILES[role]).is_file():
        checkpoint = latest_checkpoint(path / CHECKPOINTS)
        if checkpoint is None:
            raise WeightsError(f"{path}: neither a checkpoint folder nor a run folder with {CHECKPOINTS}/")
        path = checkpoint
    if role == "generator" and ema and (path / NETWORK_FILES["generator_ema"]).is_file():
        return path / NETWORK_FILES["generator_ema"]
    if not (path / NETWORK_FILES[role]).is_file():
        raise WeightsError(f"{path}: no {NETWORK_FILES[role]} in this checkpoint")
    return path / NETWORK_FILES[role]


def load_pretrained(network: nn.Module, path: str | Path, strict: bool = True, ema: bool = True) -> LoadReport:
    """Load weights into `network`; returns what was loaded and what stayed at its initial values (only
    possible with strict=False). Both are logged. Any mismatch under strict is one WeightsError listing all of it."""
    role = network.spec.role
    path = weights_file(path, role, ema)
    if path.suffix.lower() == ".safetensors":
        report = load_weights_file(network, path, strict)
    else:
        report = load_weights(network, _foreign_state(network, path, ema), str(path), strict)
    stages = ", ".join(f"{size}×{size}" for size in report.resolutions) or "none"
    log.info("%s: %d tensors loaded from %s (stages %s)", role, len(report.loaded), path, stages)
    for names, why in ((report.missing, "not in the file"), (report.misshapen, "of another shape in the file")):
        if names:
            log.warning("%s: %d tensors %s keep their initial values: %s", path, len(names), why, ", ".join(names))
    return report


def _foreign_state(network: nn.Module, path: Path, ema: bool) -> dict:
    data = read_torch_file(path)
    role, source = network.spec.role, network.spec.source
    if pro_gan.is_checkpoint(data):
        conf, state = pro_gan.network_entry(data, role, ema)
        return pro_gan.convert_state_dict(state, conf, role)
    if stylegan2_ada.is_state_dict(data):
        return stylegan2_ada.convert_state_dict(data, network)
    if attn_gan.is_conf(source):
        if not isinstance(data, dict):
            raise WeightsError(f"{path}: not a state dict of tensors")
        try:
            return attn_gan.convert_state_dict(data, attn_gan.read_conf(source, role))
        except KeyError as missing:
            raise WeightsError(f"{path}: an attn_gan_pytorch state dict for {source} needs {missing}, which this "
                               "file lacks: was it saved from a network built from this config?") from None
    raise WeightsError(
        f"{path}: archgan reads its own .safetensors weights (or checkpoint and run folders), pro_gan_pytorch "
        "checkpoints, stylegan2-ada-pytorch state dicts (torch.save(G.state_dict()), not their .pkl snapshots) "
        "and attn_gan_pytorch .pth state dicts for networks built from their .conf files"
    )
