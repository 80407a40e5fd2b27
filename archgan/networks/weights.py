"""Loading weights into a network built from a spec, with one clear error for every mismatch.

Our weights are safetensors files whose metadata carries the canonical spec, so a file says what
network it belongs to. Nothing here unpickles anything.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Mapping

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file
from torch import nn

from ..errors import WeightsError
from ..layers import layer_type
from .growable import Discriminator, Generator

SPEC_KEY = "archgan_spec"


def save_weights(network: Generator | Discriminator, path: str | os.PathLike[str]) -> None:
    """Write the network's state as safetensors, with its canonical spec in the metadata."""
    state = {name: tensor.detach().contiguous().cpu() for name, tensor in network.state_dict().items()}
    save_file(state, str(path), metadata={SPEC_KEY: network.spec.to_json()})


def read_weights(path: str | os.PathLike[str]) -> tuple[dict[str, torch.Tensor], str | None]:
    """The tensors of one of our safetensors files and the spec JSON it carries (None if absent)."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        return load_file(str(path)), metadata.get(SPEC_KEY)
    except (SafetensorError, OSError) as error:
        raise WeightsError(f"{path}: not a readable safetensors file ({error})") from None


def describe_key(network: nn.Module, key: str) -> str:
    """'stage 16×16, layer 1 (conv 3×3)' for a state-dict key of a growable network."""
    match = re.match(r"(stages|to_rgb|from_rgb)\.(\d+)x\d+\.(\d+)\.", key)
    spec = getattr(network, "spec", None)
    if not match or spec is None:
        return "not part of any spec layer"
    part, resolution, layer_index = match.group(1), int(match.group(2)), int(match.group(3))
    stage = next((s for s in spec.stages if s.resolution == resolution), None)
    if stage is None:
        return f"a {resolution}×{resolution} stage, which this spec does not have"
    layers = stage.layers if part == "stages" else stage.rgb
    where = f"stage {resolution}×{resolution}" + ("" if part == "stages" else f" {part}")
    if layer_index >= len(layers):
        return f"{where}, layer {layer_index}, which this spec does not have"
    layer = layers[layer_index]
    return f"{where}, layer {layer_index} ({layer_type(layer.type).label(layer.to_dict())})"


def load_weights(
    network: nn.Module, state: Mapping[str, torch.Tensor], source: str, strict: bool = True
) -> list[str]:
    """Copy `state` into `network`. With `strict`, any difference is a WeightsError listing all of them;
    otherwise matching tensors load and the names of those left at their initial values are returned."""
    own = network.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    misshapen = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if strict and (missing or unexpected or misshapen):
        lines = [f"{source}: the weights do not fit the network '{getattr(getattr(network, 'spec', None), 'name', '?')}'"]
        if missing:
            lines.append(f"  missing tensors ({len(missing)}):")
            lines += [f"    {k} [{_shape(own[k])}] — {describe_key(network, k)}" for k in missing]
        if unexpected:
            lines.append(f"  unexpected tensors ({len(unexpected)}):")
            lines += [f"    {k} [{_shape(state[k])}] — {describe_key(network, k)}" for k in unexpected]
        if misshapen:
            lines.append(f"  shape mismatches ({len(misshapen)}):")
            lines += [
                f"    {k}: expected [{_shape(own[k])}], found [{_shape(state[k])}] — {describe_key(network, k)}"
                for k in misshapen
            ]
        lines.append("  check that the spec is the one the weights were trained with, or load a partial match "
                     "on purpose with strict=False (--allow_partial)")
        raise WeightsError("\n".join(lines))
    usable = {k: v for k, v in state.items() if k in own and k not in misshapen}
    network.load_state_dict({**own, **usable})
    return missing + misshapen


def _shape(tensor: torch.Tensor) -> str:
    return "×".join(str(s) for s in tensor.shape) or "scalar"


def read_torch_file(path: str | os.PathLike[str]):
    """A foreign .pth/.pt/.bin file as plain data: torch.load with weights_only, so nothing in it can run."""
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - torch raises many kinds for unreadable or unsafe files
        raise WeightsError(f"{path}: cannot be read as a weights-only torch file ({type(error).__name__}: {error})") from None


def load_weights_file(network: nn.Module, path: str | os.PathLike[str], strict: bool = True) -> list[str]:
    """load_weights from one of our safetensors files."""
    state, _ = read_weights(path)
    return load_weights(network, state, str(Path(path)), strict)
