"""Loading weights into a network built from a spec, with one clear error for every mismatch.

Our weights are safetensors files whose metadata carries the canonical spec, so a file says what
network it belongs to. Nothing here unpickles anything.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save
from torch import nn

from ..errors import WeightsError
from ..layers import layer_type
from ..layers.registry import MAX_SIZE
from ..spec import NetworkSpec, load_spec_text
from .growable import Discriminator, Generator

SPEC_KEY, DEPTH_KEY, ALPHA_KEY = "archgan_spec", "archgan_depth", "archgan_alpha"
MAX_STAGES = MAX_SIZE.bit_length()  # stages double the resolution from 1 up to MAX_SIZE


@dataclass(frozen=True)
class WeightsFile:
    """One of our safetensors files: the tensors, the canonical spec they belong to, and, when a training
    run wrote it, the depth and alpha the run had reached (None when the file does not say)."""

    tensors: dict[str, torch.Tensor]
    spec_json: str | None
    depth: int | None = None
    alpha: float | None = None


@dataclass(frozen=True)
class LoadReport:
    """What a load copied, and what a partial load (strict=False) left at the network's initial values."""

    loaded: list[str]
    missing: list[str]  # not in the file
    misshapen: list[str]  # in the file with another shape

    @property
    def left(self) -> list[str]:
        return self.missing + self.misshapen

    @property
    def resolutions(self) -> list[int]:
        """The stages (by resolution) of which at least one tensor was loaded."""
        found = {int(match.group(1)) for key in self.loaded if (match := re.match(r"\w+\.(\d+)x\d+\.", key))}
        return sorted(found)


def write_safetensors(tensors: Mapping[str, torch.Tensor], path: str | os.PathLike[str], metadata: dict[str, str]) -> None:
    """The safetensors bytes written through an ordinary file: a full disk is an OSError (ENOSPC) the
    checkpoint writer can report, and the file gets the permissions any other file gets under the user's
    umask (safetensors' own save_file writes 0600)."""
    data = save(dict(tensors), metadata=metadata)
    with open(path, "wb") as handle:
        handle.write(data)


def save_weights(network: Generator | Discriminator, path: str | os.PathLike[str], depth: int | None = None,
                 alpha: float | None = None) -> None:
    """Write the network's state as safetensors, with its canonical spec (and the depth and alpha it was
    trained to, when given) in the metadata."""
    state = {name: tensor.detach().contiguous().cpu() for name, tensor in network.state_dict().items()}
    metadata = {SPEC_KEY: network.spec.to_json()}
    if depth is not None:
        metadata |= {DEPTH_KEY: str(depth), ALPHA_KEY: repr(float(alpha if alpha is not None else 1.0))}
    write_safetensors(state, path, metadata)


def read_weights(path: str | os.PathLike[str]) -> WeightsFile:
    """One of our safetensors files."""
    metadata = _metadata(path)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as error:
        raise WeightsError(f"{path}: not a readable safetensors file ({error})") from None
    depth, alpha = trained_position(path, metadata)
    return WeightsFile(tensors, metadata.get(SPEC_KEY), depth, alpha)


def _metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    try:
        with safe_open(str(path), framework="pt") as handle:
            return handle.metadata() or {}
    except (SafetensorError, OSError) as error:
        raise WeightsError(f"{path}: not a readable safetensors file ({error})") from None


def spec_json_of(path: str | os.PathLike[str]) -> str | None:
    """The canonical spec one of our safetensors files carries, from its metadata alone (no tensors read)."""
    return _metadata(path).get(SPEC_KEY)


def trained_position(path: str | os.PathLike[str], metadata: dict[str, str] | None = None) -> tuple[int | None, float | None]:
    """The (depth, alpha) a training run had reached when it wrote this file, from its metadata alone;
    (None, None) when the file does not say (weights written before 2026-12, or not by a run)."""
    metadata = _metadata(path) if metadata is None else metadata
    if DEPTH_KEY not in metadata:
        return None, None
    text = metadata[DEPTH_KEY], metadata.get(ALPHA_KEY, "1.0")
    try:
        depth, alpha = int(text[0]), float(text[1])
    except ValueError:  # also for more digits than Python converts
        depth, alpha = 0, math.nan
    if not (1 <= depth <= MAX_STAGES and 0 <= alpha <= 1):  # NaN fails both comparisons
        raise WeightsError(f"{path}: its metadata's depth/alpha ({text[0][:20]!r}, {text[1][:20]!r}) are not a "
                           f"stage count from 1 to {MAX_STAGES} and a fade-in from 0 to 1; the file is damaged "
                           "or was not written by archgan")
    return depth, alpha


def describe_key(spec: NetworkSpec | None, key: str) -> str:
    """'stage 16×16, layer 1 (conv 3×3)' for a state-dict key of a growable network of `spec`; inside a
    block, 'stage 16×16, layer res0 (residual), main, layer 1 (conv 3×3)'; 'mapping network, layer 1 (dense)'."""
    if spec is not None and spec.mapping is not None and key == "w_avg":
        return "the mapping network's average w"
    if spec is not None and spec.mapping is not None and key.startswith("mapping."):
        layers, rest, where = spec.mapping, key.split(".")[1:], ["mapping network"]
    else:
        match = re.match(r"(stages|to_rgb|from_rgb)\.(\d+)x\d+\.(.+)$", key)
        if not match or spec is None:
            return "not part of any spec layer"
        part, resolution, rest = match.group(1), int(match.group(2)), match.group(3).split(".")
        stage = next((s for s in spec.stages if s.resolution == resolution), None)
        if stage is None:
            return f"a {resolution}×{resolution} stage, which this spec does not have"
        layers = stage.layers if part == "stages" else stage.head_layers
        where = [f"stage {resolution}×{resolution}" + ("" if part == "stages" else f" {part}")]
    while rest:
        names = {layer.name or str(index): layer for index, layer in enumerate(layers)}
        layer = names.get(rest[0])
        if layer is None:
            return f"{', '.join(where)}, layer {rest[0]}, which this spec does not have"
        where.append(f"layer {rest[0]} ({layer_type(layer.type).label(layer.to_dict())})")
        paths = dict(layer.paths())
        path = next((p for p in paths if rest[1:1 + p.count(".") + 1] == p.split(".")), None)
        if path is None:
            break
        where.append(path)
        layers, rest = paths[path], rest[2 + path.count("."):]
    return ", ".join(where)


def load_weights(network: nn.Module, state: Mapping[str, torch.Tensor], source: str, strict: bool = True,
                 file_spec: NetworkSpec | None = None) -> LoadReport:
    """Copy `state` into `network`. With `strict`, any difference is a WeightsError listing all of them:
    each tensor of the network labelled with its layer, each tensor of the file with the layer of the spec
    the file carries (`file_spec`) when it carries one. Otherwise matching tensors load and the report
    says which stayed at their initial values."""
    own, spec = network.state_dict(), getattr(network, "spec", None)
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    misshapen = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if strict and (missing or unexpected or misshapen):
        lines = [f"{source}: the weights do not fit the network '{getattr(spec, 'name', '?')}'"]
        if missing:
            lines.append(f"  missing tensors ({len(missing)}):")
            lines += [f"    {k} [{_shape(own[k])}] — {describe_key(spec, k)}" for k in missing]
        if unexpected:
            lines.append(f"  unexpected tensors ({len(unexpected)}):")
            where = " in the file's spec" if file_spec is not None else ""
            lines += [f"    {k} [{_shape(state[k])}] — {describe_key(file_spec or spec, k)}{where}" for k in unexpected]
        if misshapen:
            lines.append(f"  shape mismatches ({len(misshapen)}):")
            lines += [f"    {k}: expected [{_shape(own[k])}], found [{_shape(state[k])}] — {describe_key(spec, k)}"
                      + (f"; in the file: {describe_key(file_spec, k)}" if file_spec is not None
                         and describe_key(file_spec, k) != describe_key(spec, k) else "")
                      for k in misshapen]
        lines.append("  check that the spec is the one the weights were trained with, or load a partial match "
                     "on purpose with strict=False (--allow_partial)")
        raise WeightsError("\n".join(lines))
    usable = {k: v for k, v in state.items() if k in own and k not in misshapen}
    bad = first_non_finite(usable)
    if bad is not None:
        raise WeightsError(f"{source}: tensor {bad} ({describe_key(spec, bad)}) holds NaN or infinite values: the "
                           "run that wrote it diverged, or the file is damaged; load an earlier checkpoint")
    network.load_state_dict({**own, **usable})
    return LoadReport(list(usable), missing, misshapen)


def first_non_finite(tensors: Mapping[str, torch.Tensor]) -> str | None:
    """The name of the first floating-point tensor holding a NaN or an infinity; None when all are finite."""
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            return name
    return None


def _shape(tensor: torch.Tensor) -> str:
    return "×".join(str(s) for s in tensor.shape) or "scalar"


def read_torch_file(path: str | os.PathLike[str]):
    """A foreign .pth/.pt/.bin file as plain data: torch.load with weights_only, so nothing in it can run."""
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - torch raises many kinds for unreadable or unsafe files
        raise WeightsError(f"{path}: cannot be read as a weights-only torch file ({type(error).__name__}: {error})") from None


def load_weights_file(network: nn.Module, path: str | os.PathLike[str], strict: bool = True) -> LoadReport:
    """load_weights from one of our safetensors files, its tensors labelled by the spec it carries."""
    file = read_weights(path)
    file_spec = load_spec_text(file.spec_json, file=f"{path} (its spec)") if file.spec_json else None
    return load_weights(network, file.tensors, str(Path(path)), strict, file_spec)
