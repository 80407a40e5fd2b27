"""pro_gan_pytorch (akanimax/pro_gan_pytorch, PyPI pro-gan-pth 3.x) checkpoints.

The package saves a network as {"conf": {depth, num_channels, latent_size, use_eql[, num_classes]},
"state_dict": ...} and its training as {"generator": ..., "discriminator": ..., "shadow_generator":
..., optimizer states}. architectures/pro_gan_pytorch/ reproduces its networks at depth 10; the conf
of a file cuts that spec to the file's depth (and changes its latent size, channels and equalized LR
when they differ), and the key map below renames the tensors. Its depth counts from 2 (4×4); ours
from 1.
"""
from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, Mapping

from ..errors import WeightsError
from ..spec import NetworkSpec, Role, load_spec_text
from ..spec.model import RGB_KEY, stage_key

if TYPE_CHECKING:
    import torch

BUILTIN = "pro_gan_pytorch"


def is_checkpoint(data: Any) -> bool:
    """A dict in either of the package's save formats."""
    return isinstance(data, Mapping) and (
        {"conf", "state_dict"} <= set(data) or {"generator", "discriminator"} <= set(data)
    )


def network_entry(data: Mapping[str, Any], role: Role, ema: bool = True) -> tuple[Mapping[str, Any], Mapping[str, torch.Tensor]]:
    """(conf, state_dict) of the network `role` in a checkpoint; the averaged ('shadow') generator when
    `ema` and the file has one, as the package's own loader prefers."""
    if "conf" in data:
        is_discriminator = "num_classes" in data["conf"]
        if is_discriminator != (role == "discriminator"):
            found = "discriminator" if is_discriminator else "generator"
            raise WeightsError(f"this pro_gan_pytorch file holds a {found}, not a {role}")
        return data["conf"], data["state_dict"]
    key = "shadow_generator" if role == "generator" and ema and data.get("shadow_generator") else role
    return data[key]["conf"], data[key]["state_dict"]


def spec_for(conf: Mapping[str, Any], role: Role, base: str = BUILTIN) -> NetworkSpec:
    """`base` (the built-in spec, or the user's variant of it) at the conf's depth and sizes."""
    if conf.get("num_classes"):
        raise WeightsError("conditional pro_gan_pytorch discriminators (num_classes) are not supported")
    depth = int(conf["depth"])
    document: dict[str, Any] = {
        "network": role,
        "base": base,
        "name": f"{BUILTIN}-depth{depth}",
        "max_resolution": 2**depth,
        "image_channels": int(conf["num_channels"]),
    }
    latent = int(conf["latent_size"])
    if role == "generator":
        document["latent_size"] = latent
    else:  # the final block's 4×4 convolution is latent_size wide
        document["templates"] = {"to_latent": {"type": "conv", "channels": latent, "kernel": 4, "padding": 0}}
    if not conf.get("use_eql", True):
        document["defaults"] = {t: {"equalized_lr": False} for t in ("conv", "conv_transpose", "to_rgb", "from_rgb")}
    return load_spec_text(json.dumps(document), "json", file=f"<{BUILTIN} depth {depth}>", role=role)


def resolutions(role: Role, depth: int) -> list[int]:
    """The stage resolutions of a network of their depth, in our stage order."""
    sizes = [2**d for d in range(2, depth + 1)]
    return sizes if role == "generator" else sizes[::-1]


def _rename(key: str, role: Role, sizes: list[int]) -> str:
    """One of their keys under our name: the built-in spec names its convolutions as they do (conv_1, …), so
    only the stage index becomes a resolution (keys we do not know stay as they are, so a strict load lists
    them)."""
    match = re.match(r"layers\.(\d+)\.(conv_[123]\.(?:weight|bias))$", key)
    if match:
        return f"stages.{stage_key(sizes[int(match.group(1))])}.{match.group(2)}"
    head = r"rgb_converters\.(\d+)\.(weight|bias)$" if role == "generator" else r"from_rgb\.(\d+)\.0\.(weight|bias)$"
    match = re.match(head, key)
    if match:
        return f"{RGB_KEY[role]}.{stage_key(sizes[int(match.group(1))])}.0.{match.group(2)}"
    return key


def convert_state_dict(state: Mapping[str, torch.Tensor], conf: Mapping[str, Any], role: Role) -> dict[str, torch.Tensor]:
    """Their tensors under our names; stages are named by resolution, so a depth-5 file loaded into a
    deeper network fills the stages they share."""
    sizes = resolutions(role, int(conf["depth"]))
    return {_rename(key, role, sizes): value for key, value in state.items()}
