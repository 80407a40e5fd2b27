"""Drawing images from a generator: batches of latents rendered to [0, 1] images, and latent-space
walks (spherical interpolation, which keeps Gaussian latents at their typical norm along the way)."""
from __future__ import annotations

import math

import torch

from .networks import Generator
from .networks.images import final_image
from .networks.styles import Truncation


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between latents `a` and `b` at fractions `t`."""
    a_unit, b_unit = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    omega = torch.acos((a_unit * b_unit).sum(-1, keepdim=True).clamp(-1, 1))
    sin = torch.sin(omega)
    linear = (1 - t) * a + t * b
    spherical = (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / sin.clamp_min(1e-8)
    return torch.where(sin.abs() < 1e-6, linear, spherical)


def walk(points: torch.Tensor, frames: int) -> torch.Tensor:
    """Latents visiting every point in turn and returning to the first, `frames` steps per leg."""
    t = torch.arange(frames, dtype=points.dtype).view(-1, 1) / frames
    legs = [slerp(points[i].expand(frames, -1), points[(i + 1) % len(points)].expand(frames, -1), t)
            for i in range(len(points))]
    return torch.cat(legs)


@torch.no_grad()
def render(generator: Generator, latents: torch.Tensor, depth: int, alpha: float, batch_size: int, device,
           labels: torch.Tensor | None = None, truncation: Truncation | None = None) -> torch.Tensor:
    """The generator's images for `latents` (and, for a class-conditional generator, `labels`; for a
    style-based one, with its styles truncated if asked), in batches, as [0, 1] floats on the CPU; of a
    generator that makes every scale, the largest."""
    chunks = []
    truncated = {} if truncation is None else {"truncation": truncation}
    for start in range(0, len(latents), batch_size):
        inputs = {} if labels is None else {"label": labels[start:start + batch_size].to(device)}
        images = generator(latents[start:start + batch_size].to(device), depth, alpha, **truncated, **inputs)
        chunks.append(final_image(images).clamp(-1, 1).cpu())
    return (torch.cat(chunks) + 1) / 2


def class_labels(generator: Generator, count: int, chosen: int | None) -> torch.Tensor | None:
    """Labels for `count` images of a class-conditional generator: all of class `chosen`, or the classes in
    turn (0, 1, 2, …); None for a generator that takes no label (which `chosen` must then be too)."""
    classes = generator.spec.classes
    if classes is None:
        if chosen is not None:
            raise ValueError(f"{generator.spec.name} takes no class label (its spec declares no `inputs: {{label: ...}}`)")
        return None
    if chosen is not None and not 0 <= chosen < classes:
        raise ValueError(f"class {chosen}: {generator.spec.name} has classes 0 to {classes - 1}")
    return torch.full((count,), chosen) if chosen is not None else torch.arange(count) % classes


def truncation_of(generator: Generator, psi: float | None, cutoff: int | None) -> Truncation | None:
    """The truncation --truncation and --truncation_cutoff ask for (None: none), once the generator has a
    mapping network and the cutoff is one of its style layers."""
    if psi is None:
        if cutoff is not None:
            raise ValueError("a cutoff is given but no psi (--truncation PSI)")
        return None
    if generator.mapping is None:
        raise ValueError(f"{generator.spec.name} has no mapping network: only a style-based generator (StyleGAN) "
                         "truncates its styles")
    if cutoff is not None and not 1 <= cutoff <= generator.num_styles:
        raise ValueError(f"the cutoff must be between 1 and the generator's {generator.num_styles} style layers, "
                         f"got {cutoff}")
    return Truncation(psi, cutoff)


GRID_MIN_WIDTH = 256


def image_grid(images: torch.Tensor, nrow: int, min_width: int = GRID_MIN_WIDTH) -> torch.Tensor:
    """[0, 1] images [N, C, R, R] as one grid image of `nrow` columns, each image enlarged by a whole
    factor (nearest neighbour) so that the grid is at least `min_width` pixels wide: an 8×8 stage's
    grid is a picture one can look at, not 82 pixels."""
    from torchvision.utils import make_grid

    columns = min(nrow, len(images))
    factor = max(1, math.ceil(min_width / (columns * images.shape[-1])))
    if factor > 1:
        images = torch.nn.functional.interpolate(images, scale_factor=factor, mode="nearest")
    return make_grid(images, nrow=nrow, padding=2)


SCALE_ROWS = 8


def scales_grid(images: list[torch.Tensor], rows: int = SCALE_ROWS) -> torch.Tensor:
    """A generator's images at every scale (MSG-GAN), [-1, 1], as one [0, 1] grid: a row per sample (the
    first `rows`), a column per scale, lowest first, each enlarged (nearest neighbour) to the largest."""
    size = images[-1].shape[-1]
    columns = [torch.nn.functional.interpolate(image[:rows].float().clamp(-1, 1), size=size, mode="nearest")
               for image in images]
    cells = torch.stack(columns, dim=1).flatten(0, 1)  # sample by sample, its scales in a row
    return image_grid((cells + 1) / 2, nrow=len(images))
