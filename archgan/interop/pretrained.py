"""Weights and configs of other packages, loaded through explicit key maps; and our own weights.

`load_pretrained(network, path)` is the one entry point: our `.safetensors`, or a `.pth` state dict of
attn_gan_pytorch when the network was built from its `.conf`. Foreign files are read with
`torch.load(weights_only=True)`: nothing in them can run."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..networks.weights import WeightsError, load_weights, load_weights_file
from . import attn_gan


def read_torch_state(path: str | Path) -> dict[str, torch.Tensor]:
    """A plain state dict from a .pth/.pt/.bin file, without unpickling code."""
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - torch raises many kinds for unreadable files
        raise WeightsError(f"{path}: cannot be read as a weights-only torch file ({type(error).__name__}: {error})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path}: not a state dict of tensors")
    return state


def load_pretrained(network: nn.Module, path: str | Path, strict: bool = True) -> list[str]:
    """Load weights into a network built from a spec; returns the tensors left at their initial value
    (only with strict=False). Any mismatch is one WeightsError listing all of it."""
    path = Path(path)
    if path.suffix.lower() == ".safetensors":
        return load_weights_file(network, path, strict)
    source = getattr(getattr(network, "spec", None), "source", "")
    if attn_gan.is_conf(source):
        state = read_torch_state(path)
        converted = attn_gan.read_conf(source, network.spec.role)
        try:
            mapped = attn_gan.convert_state_dict(state, converted)
        except KeyError as missing:
            raise WeightsError(f"{path}: an attn_gan_pytorch state dict for {source} needs {missing}, "
                               "which this file lacks: was it saved from a network built from this config?") from None
        return load_weights(network, mapped, str(path), strict)
    raise WeightsError(
        f"{path}: archgan reads its own .safetensors weights, and .pth state dicts of attn_gan_pytorch "
        "for networks built from its .conf files"
    )
