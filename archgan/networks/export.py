"""A generator frozen at one stage, as a standalone model: ONNX (torch.onnx, the torch.export-based
exporter; needs the `onnx` and `onnxscript` packages) or TorchScript. The exported model maps a batch
of latents [N, latent] (and, for a class-conditional generator, labels [N] int64) to images
[N, C, R, R] in [-1, 1]-ish range, the batch size left free; a generator that makes every scale (MSG-GAN)
has one output per stage, `images_4x4` … lowest resolution first."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
from torch import nn

from ..errors import ExportError
from ..spec.model import stage_key
from .growable import Generator
from .styles import Truncation


class FixedStage(nn.Module):
    """G(z, depth, alpha[, label]) with depth, alpha (and a style-based generator's truncation) fixed, so the
    graph's inputs are z (and the label)."""

    def __init__(self, generator: Generator, depth: int, alpha: float, truncation: Truncation | None = None):
        super().__init__()
        self.generator, self.depth, self.alpha = generator, depth, alpha
        self.fixed = {} if truncation is None else {"truncation": truncation}

    def forward(self, z: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor | tuple[torch.Tensor, ...]:
        images = self.generator(z, self.depth, self.alpha, **self.fixed, **({} if label is None else {"label": label}))
        return tuple(images) if isinstance(images, list) else images

    def output_names(self) -> list[str]:
        plan = self.generator.plan(self.depth, self.alpha)
        if self.generator.spec.images != "all":
            return ["images"]
        return [f"images_{stage_key(self.generator.spec.stages[index].resolution)}" for index in plan.stages]


def export_generator(generator: Generator, path: str | os.PathLike[str], fmt: str, depth: int, alpha: float = 1.0,
                     truncation: Truncation | None = None) -> Path:
    """Write the generator at `depth` (its styles truncated, if asked) as `fmt` ('onnx' or 'torchscript') to `path`."""
    model = FixedStage(generator.eval(), depth, alpha, truncation).eval()
    example: tuple[torch.Tensor, ...] = (torch.randn(2, generator.latent_size),)
    names = ["z"]
    if generator.spec.classes:
        example, names = example + (torch.tensor([0, generator.spec.classes - 1]),), names + ["label"]
    path = Path(path)
    if fmt == "torchscript":
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)  # the input-shape checks become constants
            torch.jit.trace(model, example).save(str(path))
        return path
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        raise ExportError("ONNX export needs the onnx and onnxscript packages: pip install 'archgan[export]'") from None
    batch = torch.export.Dim("batch", min=1)
    with warnings.catch_warnings():  # z and label share the batch axis on purpose
        warnings.filterwarnings("ignore", message="The axis name: batch will not be used")
        program = torch.onnx.export(model, example, dynamic_shapes={name: {0: batch} for name in names},
                                    input_names=names, output_names=model.output_names(), dynamo=True,
                                    verbose=False)
    program.save(str(path))
    return path
