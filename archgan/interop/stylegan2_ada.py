"""stylegan2-ada-pytorch (NVlabs) networks saved as plain tensor dicts (`torch.save(G.state_dict(), path)`, or
D's): the key map into the stylegan2 built-ins (architectures/stylegan2/, stylegan2-256, stylegan2-small and
files based on them), which name their layers as that code does. Their pickles (network-snapshot-*.pkl)
hold code and are never read; export the state dict from their own environment first.

Their generator has `synthesis.b{R}.{const, conv0, conv1, torgb}` and `mapping.fc{i}`: a SynthesisLayer's
weight and affine are our modulated_conv's, its noise_strength our noise layer's, its bias the bias layer's
after the noise; `noise_const` is kept by noise layers of mode fixed (their noise_mode 'const') and is not
needed by those of mode random. Their discriminator has `b{R}.{fromrgb, conv0, conv1, skip}` and the epilogue
`b4.{conv, fc, out}`. The fixed [1, 3, 3, 1] filters (`resample_filter`) are the spec's, not weights.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Mapping

from ..errors import WeightsError
from ..spec.model import stage_key

if TYPE_CHECKING:
    import torch
    from torch import nn

_GENERATOR = (  # (their key, our key) as regular expressions; R is the stage's resolution
    (r"mapping\.w_avg", "w_avg"),
    (r"mapping\.(fc\d+)\.(weight|bias)", r"mapping.\1.\2"),
    (r"synthesis\.b(\d+)\.const", r"stages.{R}.const.value"),
    (r"synthesis\.b(\d+)\.(conv[01])\.(weight|affine\.weight|affine\.bias)", r"stages.{R}.\2.\3"),
    (r"synthesis\.b(\d+)\.conv([01])\.noise_strength", r"stages.{R}.noise\2.strength"),
    (r"synthesis\.b(\d+)\.conv([01])\.noise_const", r"stages.{R}.noise\2.fixed_noise"),
    (r"synthesis\.b(\d+)\.conv([01])\.bias", r"stages.{R}.bias\2.bias"),
    (r"synthesis\.b(\d+)\.torgb\.(weight|affine\.weight|affine\.bias)", r"to_rgb.{R}.torgb.\2"),
    (r"synthesis\.b(\d+)\.torgb\.bias", r"to_rgb.{R}.bias.bias"),
)
_DISCRIMINATOR = (
    (r"b(\d+)\.fromrgb\.(weight|bias)", r"from_rgb.{R}.fromrgb.\2"),
    (r"b(\d+)\.(conv[01])\.(weight|bias)", r"stages.{R}.block.main.\2.\3"),
    (r"b(\d+)\.skip\.weight", r"stages.{R}.block.shortcut.skip.weight"),
    (r"b(4)\.(conv|fc|out)\.(weight|bias)", r"stages.{R}.\2.\3"),
)
_FIXED = re.compile(r"(.+\.)?resample_filter")


def is_state_dict(data: Any) -> bool:
    """A stylegan2-ada-pytorch generator's or discriminator's state dict."""
    return isinstance(data, Mapping) and ("synthesis.b4.const" in data or "b4.out.weight" in data)


def convert_state_dict(state: Mapping[str, torch.Tensor], network: nn.Module) -> dict[str, torch.Tensor]:
    """Their tensors under our names, for `network`; keys we do not know stay as they are, so a strict load
    lists them (a conditional network's `mapping.embed`, say)."""
    role = network.spec.role
    theirs = "generator" if "synthesis.b4.const" in state else "discriminator"
    if theirs != role:
        raise WeightsError(f"this stylegan2-ada-pytorch state dict holds a {theirs}, not a {role}")
    ours = network.state_dict()
    converted = {}
    for key, value in state.items():
        if _FIXED.fullmatch(key):
            continue
        name = _rename(key, _GENERATOR if role == "generator" else _DISCRIMINATOR)
        if name.endswith(".fixed_noise"):
            if name not in ours:  # a noise layer of mode random draws its own
                continue
            value = value.reshape(ours[name].shape)
        converted[name] = value
    return converted


def _rename(key: str, table: tuple[tuple[str, str], ...]) -> str:
    for pattern, target in table:
        match = re.fullmatch(pattern, key)
        if match:
            resolution = int(match.group(1)) if "{R}" in target else None
            return match.expand(target.replace("{R}", stage_key(resolution) if resolution else ""))
    return key

