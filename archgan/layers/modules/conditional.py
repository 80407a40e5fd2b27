"""Modules that read the class label: label embedding, conditional batch norm, the projection head, the
label's pick of one score per class, and the auxiliary classifier (whose loss reads the label)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ..conditional import embedding_width
from ..registry import BuildContext, Options, Shape
from .blocks import Inputs, TakesInputs
from .conv import build_dense


class LabelEmbedding(TakesInputs):
    """x (N×C×H×W or N×F) joined with the label's embedding (or one-hot vector), the same at every pixel."""

    def __init__(self, classes: int, width: int, one_hot: bool):
        super().__init__()
        self.classes = classes
        self.embedding = None if one_hot else nn.Embedding(classes, width)

    def forward(self, x: torch.Tensor, inputs: Inputs) -> torch.Tensor:
        label = inputs["label"].long()
        code = F.one_hot(label, self.classes).to(x.dtype) if self.embedding is None else self.embedding(label).to(x.dtype)
        code = code.reshape(*code.shape, *([1] * (x.ndim - 2))).expand(-1, -1, *x.shape[2:])
        return torch.cat([x, code], dim=1)


class ConditionalBatchNorm(TakesInputs):
    """Batch norm without affine, then scale γ[label] and shift β[label] per channel."""

    def __init__(self, channels: int, classes: int, eps: float, momentum: float, is_map: bool):
        super().__init__()
        self.norm = (nn.BatchNorm2d if is_map else nn.BatchNorm1d)(channels, eps=eps, momentum=momentum, affine=False)
        self.scale = nn.Embedding(classes, channels)
        self.shift = nn.Embedding(classes, channels)
        nn.init.ones_(self.scale.weight)
        nn.init.zeros_(self.shift.weight)

    def forward(self, x: torch.Tensor, inputs: Inputs) -> torch.Tensor:
        label = inputs["label"]
        view = (x.shape[0], x.shape[1]) + (1,) * (x.ndim - 2)
        return self.norm(x) * self.scale(label).view(view) + self.shift(label).view(view)


class Projection(TakesInputs):
    """score = dense(h) + ⟨embedding[label], h⟩."""

    def __init__(self, dense: nn.Module, embedding: nn.Module):
        super().__init__()
        self.dense, self.embedding = dense, embedding

    def forward(self, h: torch.Tensor, inputs: Inputs) -> torch.Tensor:
        return self.dense(h) + (self.embedding(inputs["label"]) * h).sum(dim=1, keepdim=True)


def build_label_embedding(options: Options, shape: Shape, context: BuildContext) -> nn.Module:
    return LabelEmbedding(context.classes, embedding_width(options, context), options["mode"] == "one_hot")


def build_conditional_batchnorm(options: Options, shape: Shape, context: BuildContext) -> nn.Module:
    return ConditionalBatchNorm(shape[0], context.classes, options["eps"], options["momentum"], len(shape) == 3)


def build_projection(options: Options, shape: Shape, context: BuildContext) -> nn.Module:
    dense = build_dense({**options, "channels": 1, "reshape": None}, shape, context)
    embedding = nn.Embedding(context.classes, shape[0])
    return Projection(dense, spectral_norm(embedding) if options["spectral_norm"] else embedding)


class LabelSelect(TakesInputs):
    """scores [N, classes] -> the score of each sample's class [N, 1]."""

    def forward(self, scores: torch.Tensor, inputs: Inputs) -> torch.Tensor:
        return scores.gather(1, inputs["label"].long().view(-1, 1))


def build_label_select(options: Options, shape: Shape, context: BuildContext) -> nn.Module:
    return LabelSelect()


def build_auxiliary_classifier(options: Options, shape: Shape, context: BuildContext) -> nn.Module:
    """A dense layer to [score, logit per class]; the Discriminator splits them (the loss reads the label)."""
    return build_dense({**options, "channels": 1 + context.classes, "reshape": None, "activation": {"type": "linear"}},
                       shape, context)
