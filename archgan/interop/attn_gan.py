"""attn_gan_pytorch (the FAGAN package) as a first-class input: its `.conf` files become our specs,
and its state dicts load into the networks built from them through an explicit key map.

A `.conf` file is YAML with an `architecture` list; each entry has a `name` (conv, conv_transpose,
self_attention, full_attention, ignore_attn_maps, batch_norm, dropout), tuples written as strings
"(a, b)" and activations as "lrelu(0.2)". Every entry becomes one or more of our layers; each of our
layers remembers the entry (and the part of it) it came from, which is the key map for weights.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from ..layers.conv import conv_output_size
from ..spec.errors import JsonPath, Location, SpecError, did_you_mean
from ..spec.model import RGB_KEY, Role, stage_key
from ..spec.parse import MAX_INT_DIGITS, ParsedFile, read_file

if TYPE_CHECKING:  # the weights conversion works on tensors it is given; reading a .conf needs no torch
    import torch

LAYER_NAMES = ("conv", "conv_transpose", "self_attention", "full_attention", "ignore_attn_maps", "batch_norm", "dropout")
_TUPLE = re.compile(r"^\(\s*(-?\d+)\s*(?:,\s*(-?\d+)\s*)?\)$")
_LRELU = re.compile(r"^lrelu\(\s*([0-9.eE+-]+)\s*\)$")


def _number(text: str) -> float | None:
    """A finite number written in a string such as "lrelu(0.2)", else None."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


@dataclass
class Converted:
    """A .conf as one of our documents, with the line of every layer and where each layer came from."""

    parsed: ParsedFile  # data: our document; lines: our JSON paths -> lines of the .conf
    origins: list[tuple[int, str]] = field(default_factory=list)  # per layer: (conf entry index, part)


def is_conf(path: str | Path) -> bool:
    return Path(path).suffix.lower() == ".conf"


def guess_role(path: Path, entries: list[Any]) -> Role:
    """A .conf does not say which network it describes: the file name does ('gen', 'dis'), else the last
    layer (one output channel: a discriminator)."""
    name = path.name.lower()
    if "dis" in name:
        return "discriminator"
    if "gen" in name:
        return "generator"
    last = next((e for e in reversed(entries) if isinstance(e, dict) and "channels" in e), None)
    channels = str(last.get("channels")) if last else ""
    match = _TUPLE.match(channels)
    return "discriminator" if match and match.group(2) == "1" else "generator"


def convert(parsed: ParsedFile, role: Role | None) -> Converted:
    """Our generator or discriminator document for the attn_gan_pytorch config in `parsed`."""
    data = parsed.data
    if not isinstance(data, dict) or not isinstance(data.get("architecture"), list) or not data["architecture"]:
        raise SpecError.single(parsed.locate(()), "an attn_gan_pytorch config needs a non-empty `architecture` list",
                               hint="each entry is a layer such as {name: conv, channels: (3, 64), ...}")
    entries = data["architecture"]
    role = role or guess_role(Path(parsed.file), entries)
    converter = _Converter(parsed)
    for index, entry in enumerate(entries):
        converter.entry(index, entry)
    layers = converter.layers
    first_in = converter.first_in_channels
    last_out = converter.channels
    document: dict[str, Any] = {
        "network": role,
        "name": Path(parsed.file).stem,
        "description": f"converted from the attn_gan_pytorch config {Path(parsed.file).name}",
        "image_channels": last_out if role == "generator" else first_in,
    }
    if role == "generator":
        document["latent_size"] = first_in
        resolution = converter.output_size(1)
    else:
        resolution = converter.input_size_for_one_score()
    document["stages"] = [{"resolution": resolution, "layers": layers, RGB_KEY[role]: []}]
    lines = {("stages", 0, "layers", j): line for j, line in enumerate(converter.lines)}
    lines.update({(): 1, ("stages",): 1, ("stages", 0): 1})
    return Converted(ParsedFile(parsed.file, document, lines), converter.origins)


class _Converter:
    def __init__(self, parsed: ParsedFile):
        self.parsed = parsed
        self.layers: list[dict[str, Any]] = []
        self.lines: list[int] = []
        self.origins: list[tuple[int, str]] = []
        self.resizes: list[tuple[int, int, int, bool]] = []  # (kernel, stride, padding, transposed)
        self.channels: int | None = None
        self.first_in_channels: int | None = None

    def _where(self, index: int, key: str | None = None) -> Location:
        path: JsonPath = ("architecture", index) + ((key,) if key else ())
        return self.parsed.locate(path)

    def _get(self, index: int, entry: Mapping[str, Any], key: str) -> Any:
        if key not in entry:
            raise SpecError.single(self._where(index), f"the {entry['name']} layer needs `{key}`",
                                   allowed=", ".join(sorted(entry)))
        return entry[key]

    def _int(self, index: int, entry: Mapping[str, Any], key: str) -> int:
        """A positive integer, as attn_gan_pytorch's int(...) casts would need it (bools and text refused)."""
        value = self._get(index, entry, key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise SpecError.single(self._where(index, key), f"`{key}` must be a whole number of at least 1",
                                   found=repr(value), hint=f"e.g. `{key}: 8`")
        return value

    def _probability(self, index: int, entry: Mapping[str, Any], key: str) -> float:
        value = self._get(index, entry, key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
            raise SpecError.single(self._where(index, key), f"`{key}` must be a probability", found=repr(value),
                                   allowed="a number from 0 up to (not including) 1")
        return float(value)

    def _bool(self, index: int, entry: Mapping[str, Any], key: str, default: bool | None = None) -> bool:
        """True or False as YAML writes them; a quoted "False" is text, which Python would read as true."""
        value = entry.get(key, default) if default is not None else self._get(index, entry, key)
        if not isinstance(value, bool):
            quoted = isinstance(value, str) and value.strip().lower() in ("true", "false")
            raise SpecError.single(self._where(index, key), f"`{key}` must be True or False", found=repr(value),
                                   hint="write True or False without quotes" if quoted else f"e.g. `{key}: True`")
        return value

    def _pair(self, index: int, entry: Mapping[str, Any], key: str, minimum: int, square: bool = True) -> tuple[int, int]:
        value = self._get(index, entry, key)
        match = _TUPLE.match(str(value)) if isinstance(value, str) else None
        if match is None or match.group(2) is None:
            raise SpecError.single(self._where(index, key), f"`{key}` must be a pair written as \"(a, b)\"",
                                   found=repr(value))
        if any(len(number.lstrip("-")) > MAX_INT_DIGITS for number in match.groups()):
            raise SpecError.single(self._where(index, key), f"`{key}` holds a number too large for any layer",
                                   found=value[:40])
        pair = int(match.group(1)), int(match.group(2))
        if min(pair) < minimum:
            raise SpecError.single(self._where(index, key), f"`{key}` must be at least {minimum}", found=value,
                                   allowed=f"\"({max(minimum, 1)}, {max(minimum, 1)})\" or larger")
        if square and pair[0] != pair[1]:
            raise SpecError.single(self._where(index, key), f"archgan supports square {key} only", found=str(value))
        return pair

    def _activation(self, index: int, value: Any) -> dict[str, Any]:
        text = str(value).lower()
        if text in ("relu", "tanh"):
            return {"type": text}
        match = _LRELU.match(text)
        slope = _number(match.group(1)) if match else None
        if slope is not None:
            return {"type": "lrelu", "slope": slope}
        raise SpecError.single(self._where(index, "activation"), "unknown activation", found=repr(value),
                               allowed="relu, tanh, lrelu(slope)", hint=did_you_mean(text, ["relu", "tanh"]))

    def _add(self, layer: dict[str, Any], index: int, part: str) -> None:
        self.layers.append(layer)
        self.lines.append(self._where(index).line or 1)
        self.origins.append((index, part))

    def _chain(self, index: int, in_channels: int, out_channels: int) -> None:
        if self.channels is None:
            self.first_in_channels = in_channels
        elif in_channels != self.channels:
            raise SpecError.single(self._where(index, "channels"),
                                   f"this layer takes {in_channels} channels but the layer before gives {self.channels}",
                                   found=str(in_channels), allowed=str(self.channels))
        self.channels = out_channels

    def entry(self, index: int, entry: Any) -> None:
        if not isinstance(entry, dict) or "name" not in entry:
            raise SpecError.single(self._where(index), "each architecture entry needs a `name`",
                                   allowed=", ".join(LAYER_NAMES))
        name = str(entry["name"]).lower()
        if name not in LAYER_NAMES:
            raise SpecError.single(self._where(index, "name"), "unknown attn_gan_pytorch layer",
                                   found=repr(entry["name"]), allowed=", ".join(LAYER_NAMES),
                                   hint=did_you_mean(name, LAYER_NAMES))
        getattr(self, f"_{name}")(index, {**entry, "name": name})

    def _conv(self, index: int, entry: Mapping[str, Any]) -> None:
        in_channels, out_channels = self._pair(index, entry, "channels", minimum=1, square=False)
        kernel, stride, padding = self._kernel_stride_padding(index, entry)
        transposed = entry["name"] == "conv_transpose"
        self._chain(index, in_channels, out_channels)
        self.resizes.append((kernel, stride, padding, transposed))
        activation = self._activation(index, self._get(index, entry, "activation"))
        batch_norm = self._bool(index, entry, "batch_norm")
        layer = {"type": entry["name"], "channels": out_channels, "kernel": kernel, "stride": stride,
                 "padding": padding, "bias": self._bool(index, entry, "bias"),
                 "spectral_norm": self._bool(index, entry, "spectral_norm", default=False),
                 "activation": {"type": "linear"} if batch_norm else activation}
        self._add(layer, index, "conv")
        if batch_norm:  # attn_gan_pytorch orders a block conv → batch norm → activation
            self._add({"type": "batchnorm"}, index, "block_batchnorm")
            self._add(activation, index, "activation")

    _conv_transpose = _conv

    def _kernel_stride_padding(self, index: int, entry: Mapping[str, Any]) -> tuple[int, int, int]:
        return (self._pair(index, entry, "kernel_dims", minimum=1)[0], self._pair(index, entry, "stride", minimum=1)[0],
                self._pair(index, entry, "padding", minimum=0)[0])

    def _self_attention(self, index: int, entry: Mapping[str, Any]) -> None:
        channels = self._int(index, entry, "channels")
        self._chain(index, channels, channels)
        layer = {"type": "self_attention", "squeeze_factor": self._int(index, entry, "squeeze_factor"),
                 "bias": self._bool(index, entry, "bias")}
        if entry.get("activation"):
            layer["activation"] = self._activation(index, entry["activation"])
        self._add(layer, index, "self_attention")

    def _full_attention(self, index: int, entry: Mapping[str, Any]) -> None:
        in_channels, out_channels = self._pair(index, entry, "channels", minimum=1, square=False)
        kernel, stride, padding = self._kernel_stride_padding(index, entry)
        transposed = self._bool(index, entry, "transpose_conv")
        self._chain(index, in_channels, out_channels)
        self.resizes.append((kernel, stride, padding, transposed))
        layer = {"type": "full_attention", "channels": out_channels, "kernel": kernel, "stride": stride,
                 "padding": padding, "transpose": transposed,
                 "squeeze_factor": self._int(index, entry, "squeeze_factor"),
                 "bias": self._bool(index, entry, "bias"),
                 "spectral_norm": self._bool(index, entry, "use_spectral_norm"),
                 "batchnorm": self._bool(index, entry, "use_batch_norm")}
        if entry.get("activation"):
            layer["activation"] = self._activation(index, entry["activation"])
        self._add(layer, index, "full_attention")

    def _ignore_attn_maps(self, index: int, entry: Mapping[str, Any]) -> None:
        """Our attention layers return only their output: nothing to convert."""

    def _batch_norm(self, index: int, entry: Mapping[str, Any]) -> None:
        channels = self._int(index, entry, "num_channels")
        self._chain(index, channels, channels)
        self._add({"type": "batchnorm"}, index, "batchnorm")

    def _dropout(self, index: int, entry: Mapping[str, Any]) -> None:
        self._add({"type": "dropout", "p": self._probability(index, entry, "drop_prob"), "spatial": True}, index, "dropout")

    def output_size(self, size: int) -> int:
        for kernel, stride, padding, transposed in self.resizes:
            size = conv_output_size(size, kernel, stride, padding, transposed)
        return size

    def input_size_for_one_score(self) -> int:
        """The smallest power-of-two image size this discriminator turns into a 1×1 score."""
        for exponent in range(2, 13):
            if self.output_size(2**exponent) == 1:
                return 2**exponent
        raise SpecError.single(self.parsed.locate(("architecture",)),
                               "no image size from 4 to 4096 reduces to one score through these layers",
                               hint="the last layer of a discriminator must output 1×1")


# --------------------------------------------------------------------------------------- weights


def _l2(vector: torch.Tensor) -> torch.Tensor:
    return vector / (vector.norm() + 1e-12)


def _spectral(their: Mapping[str, torch.Tensor], prefix: str, ours: str, out: dict[str, torch.Tensor]) -> None:
    """Their SpectralNorm (weight_bar, weight_u, weight_v) as torch's parametrization. Their forward runs
    one power iteration from the stored u before using it, in eval mode too; ours in eval mode uses
    the stored vectors as they are: so we store the vectors of that iteration."""
    weight = their[f"{prefix}module.weight_bar"]
    matrix = weight.reshape(weight.shape[0], -1)
    v = _l2(matrix.t() @ their[f"{prefix}module.weight_u"])
    u = _l2(matrix @ v)
    out[f"{ours}parametrizations.weight.original"] = weight
    out[f"{ours}parametrizations.weight.0._u"] = u
    out[f"{ours}parametrizations.weight.0._v"] = v
    if f"{prefix}module.bias" in their:
        out[f"{ours}bias"] = their[f"{prefix}module.bias"]


def _weighted(their: Mapping[str, torch.Tensor], prefix: str, ours: str, out: dict[str, torch.Tensor]) -> None:
    if f"{prefix}module.weight_bar" in their:
        _spectral(their, prefix, ours, out)
    else:
        out[f"{ours}weight"] = their[f"{prefix}weight"]
        if f"{prefix}bias" in their:
            out[f"{ours}bias"] = their[f"{prefix}bias"]


def _batchnorm(their: Mapping[str, torch.Tensor], prefix: str, ours: str, out: dict[str, torch.Tensor]) -> None:
    for name in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
        out[f"{ours}{name}"] = their[f"{prefix}{name}"]


def convert_state_dict(their: Mapping[str, torch.Tensor], converted: Converted) -> dict[str, torch.Tensor]:
    """Their state dict under our names (stages.<R>x<R>.<layer>.…). A key we do not read (the batch norm
    attn_gan_pytorch builds in every full_attention, used or not; activations have none) is left out;
    a key we need that is missing raises KeyError naming it."""
    out: dict[str, torch.Tensor] = {}
    stage = converted.parsed.data["stages"][0]
    for position, ((index, part), layer) in enumerate(zip(converted.origins, stage["layers"])):
        theirs, ours = f"model.{index}.", f"stages.{stage_key(stage['resolution'])}.{position}."
        if part == "conv":
            _weighted(their, f"{theirs}0.", ours, out)
        elif part == "block_batchnorm":
            _batchnorm(their, f"{theirs}1.", ours, out)
        elif part == "batchnorm":
            _batchnorm(their, theirs, ours, out)
        elif part in ("self_attention", "full_attention"):
            out[f"{ours}gamma"] = their[f"{theirs}gamma"]
            for name in ("query", "key", "value") + (("residual",) if part == "full_attention" else ()):
                _weighted(their, f"{theirs}{name}_conv.", f"{ours}{name}.", out)
            if part == "full_attention" and layer.get("batchnorm"):
                _batchnorm(their, f"{theirs}batch_norm.", f"{ours}batchnorm.", out)
    return out


def read_conf(path: str | Path, role: Role | None = None) -> Converted:
    """Parse and convert a .conf file."""
    return convert(read_file(path), role)

