"""The augmentation operations on image batches [N, C, R, R] (differentiable: gathers, masks and
arithmetic only), their per-image random draws, and ADA's adaptive probability. Draws come from the
training step's loss context, drawn for the global batch and cut to this process's rows, so any number of
processes and micro-batches draws what one process would, and a resumed run draws what it would have."""
from __future__ import annotations

import math
from typing import Any, Callable, Mapping

import torch

from ...losses.objectives import LossContext
from ...networks.images import Images, batch_size, each_image

Operation = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""(images [N, C, R, R], draws [N, 2] from U[0, 1)) -> augmented images."""


def _whole(draws: torch.Tensor, count: int) -> torch.Tensor:
    """U[0, 1) draws as integers 0 … count − 1."""
    return (draws * count).long().clamp_max(count - 1)


def flip(x: torch.Tensor, draws: torch.Tensor) -> torch.Tensor:
    return x.flip(3)


def rotate90(x: torch.Tensor, draws: torch.Tensor) -> torch.Tensor:
    turns = _whole(draws[:, 0], 3) + 1
    rotated = torch.stack([torch.rot90(x, k, dims=(2, 3)) for k in (1, 2, 3)])
    return rotated[turns - 1, torch.arange(len(x), device=x.device)]


def translation(x: torch.Tensor, draws: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Content moves by (dy, dx), each a whole number of pixels in [−s, s] with s = round(R·ratio)."""
    size = x.shape[-1]
    shift = int(size * ratio + 0.5)
    dy, dx = (_whole(draws[:, i], 2 * shift + 1) - shift for i in (0, 1))
    padded = torch.nn.functional.pad(x, (shift, shift, shift, shift))
    grid = torch.arange(size, device=x.device)
    rows = (grid.view(1, -1) - dy.view(-1, 1) + shift).view(-1, 1, size, 1)
    cols = (grid.view(1, -1) - dx.view(-1, 1) + shift).view(-1, 1, 1, size)
    batch = torch.arange(len(x), device=x.device).view(-1, 1, 1, 1)
    channel = torch.arange(x.shape[1], device=x.device).view(1, -1, 1, 1)
    return padded[batch, channel, rows, cols]


def cutout(x: torch.Tensor, draws: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    """A square of side round(R·ratio), centred on a uniformly drawn pixel and clipped to the image, set to 0."""
    size = x.shape[-1]
    side = int(size * ratio + 0.5)
    starts = [_whole(draws[:, i], size + (1 - side % 2)) - side // 2 for i in (0, 1)]
    grid = torch.arange(size, device=x.device).view(1, -1)
    inside_rows, inside_cols = ((grid >= start.view(-1, 1)) & (grid < start.view(-1, 1) + side) for start in starts)
    blank = inside_rows.view(-1, 1, size, 1) & inside_cols.view(-1, 1, 1, size)
    return x.masked_fill(blank, 0.0)


def brightness(x: torch.Tensor, draws: torch.Tensor) -> torch.Tensor:
    return x + (draws[:, 0] - 0.5).view(-1, 1, 1, 1).to(x.dtype)


def saturation(x: torch.Tensor, draws: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (draws[:, 0] * 2).view(-1, 1, 1, 1).to(x.dtype) + mean


def contrast(x: torch.Tensor, draws: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (draws[:, 0] + 0.5).view(-1, 1, 1, 1).to(x.dtype) + mean


OPERATIONS: dict[str, Operation] = {"flip": flip, "rotate90": rotate90, "translation": translation, "cutout": cutout,
                                    "brightness": brightness, "saturation": saturation, "contrast": contrast}


class Augmentation:
    """The training file's `augment:` (normalized): its operations in order, each applied to each image with
    the probability — fixed, or steered by ADA's heuristic (`record` the real scores of every discriminator
    step, `adjust` every `interval` steps). The probability lives on the device: nothing here waits for it."""

    def __init__(self, entry: Mapping[str, Any], device: torch.device):
        self.operations = [OPERATIONS[name] for name in entry["ops"]]
        self.adaptive = entry["adaptive"]
        self.probability = torch.tensor(float(entry["probability"]), device=device)
        self.signs = torch.zeros(2, device=device)  # Σ sign(D(real)), the number of real scores, since the last adjust
        self.rate = torch.tensor(float("nan"), device=device)  # r_t at the last adjustment

    def __call__(self, images: Images, context: LossContext) -> Images:
        """The images augmented; a list of one batch per stage (MSG-GAN) gets the same draws at every size, so
        its images stay views of one picture."""
        for operation in self.operations:
            draws = context.uniform((batch_size(images), 3), self.probability)
            applied = (draws[:, 2] < self.probability).view(-1, 1, 1, 1)
            images = each_image(images, lambda x: torch.where(applied, operation(x, draws[:, :2]), x))
        return images

    def record(self, real_scores: torch.Tensor) -> None:
        """ADA's r_t counts the signs of the discriminator's real scores."""
        if self.adaptive is not None:
            self.signs += torch.stack([real_scores.detach().float().sign().sum(), real_scores.new_tensor(len(real_scores))])

    def adjust(self, images: int, reduce: Callable[[torch.Tensor], torch.Tensor]) -> None:
        """p ← clamp(p + sign(r_t − target) · images / (1000·kimg), 0, 1), r_t over every process's real scores
        since the last adjustment (`reduce` sums across processes); `images`: the global batches in between."""
        total = reduce(self.signs)
        rate = total[0] / total[1].clamp_min(1)
        step = torch.sign(rate - self.adaptive["target"]) * images / (1000 * self.adaptive["kimg"])
        self.probability = (self.probability + step).clamp(0, 1)
        self.rate, self.signs = rate, torch.zeros_like(self.signs)

    def logged(self) -> dict[str, float]:
        """What the logs show (read back from the device at logging steps): p, and ADA's r_t once measured."""
        values = {"augment/p": self.probability.item()}
        rate = self.rate.item()
        return values | ({"augment/r_t": rate} if self.adaptive is not None and math.isfinite(rate) else {})

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"probability": self.probability.clone(), "signs": self.signs.clone(), "rate": self.rate.clone()}

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        device = self.probability.device
        self.probability, self.signs, self.rate = (state[key].to(device).clone() for key in ("probability", "signs", "rate"))
