"""Sliced Wasserstein distance between image sets, as the ProGAN paper (Karras et al. 2018, appendix D)
and its official code (metrics/sliced_wasserstein.py) compute it:

1. a Laplacian pyramid of each image (5×5 binomial filter, mirror padding) from its resolution down to
   16×16, the last level being the low-pass image itself;
2. 128 random 7×7 neighbourhoods per image and level, as descriptors (channels × 7 × 7);
3. per level, descriptors normalized per channel over the whole set (reals and fakes each by their own
   statistics);
4. 4 repeats of 128 random unit directions: project, sort, mean absolute difference; the mean of the
   repeats, ×10³, per level and averaged over the levels.

Images are uint8 values taken as floats in [0, 255], as the official code feeds them. Everything runs
in float32 on the device the images are on, batched. The neighbourhood positions and the directions
can be passed in, so the computation can be checked against a transcription of the official code.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from . import SWD_SMALLEST_LEVEL as SMALLEST_LEVEL

NHOOD_SIZE = 7
NHOODS_PER_IMAGE = 128
DIR_REPEATS = 4
DIRS_PER_REPEAT = 128


def _binomial(channels: int, device: torch.device, scale: float = 1.0) -> torch.Tensor:
    row = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], device=device)
    kernel = torch.outer(row, row) / 256 * scale
    return kernel.expand(channels, 1, 5, 5)


def _filter(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Depthwise 5×5 convolution with 'mirror' borders (d c b | a b c d | c b a: torch's 'reflect')."""
    return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), kernel, groups=x.shape[1])


def pyramid_down(x: torch.Tensor) -> torch.Tensor:
    return _filter(x, _binomial(x.shape[1], x.device))[:, :, ::2, ::2]


def pyramid_up(x: torch.Tensor) -> torch.Tensor:
    n, c, h, w = x.shape
    up = x.new_zeros(n, c, h * 2, w * 2)
    up[:, :, ::2, ::2] = x
    return _filter(up, _binomial(c, x.device, scale=4.0))


def laplacian_pyramid(images: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """Band-pass levels from the full resolution down, and the low-pass image as the last level."""
    pyramid = [images]
    for _ in range(levels - 1):
        pyramid.append(pyramid_down(pyramid[-1]))
        pyramid[-2] = pyramid[-2] - pyramid_up(pyramid[-1])
    return pyramid


def levels_for(resolution: int) -> int:
    """Levels from `resolution` down to 16×16 (4 at 128², 7 at 1024²); at least one."""
    levels = 1
    while resolution // 2 ** levels >= SMALLEST_LEVEL:
        levels += 1
    return levels


def random_positions(images: int, height: int, width: int, generator: torch.Generator | None = None,
                     count: int = NHOODS_PER_IMAGE) -> tuple[torch.Tensor, torch.Tensor]:
    """Neighbourhood centres, uniform as the official code draws them (x first, then y; both in [3, size − 4])."""
    half = NHOOD_SIZE // 2
    x = torch.randint(half, width - half, (images * count,), generator=generator)
    y = torch.randint(half, height - half, (images * count,), generator=generator)
    return x, y


def descriptors(level: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """[N·128, C, 7, 7] neighbourhoods around (x, y), image n // 128 for neighbourhood n. Laid out as the
    official code lays them out: (channel, x, y), i.e. transposed; the metric does not depend on it, but
    the exact numbers for given directions do."""
    n, c, h, w = level.shape
    count = len(x) // n
    half = NHOOD_SIZE // 2
    offsets = torch.arange(-half, half + 1, device=level.device)
    image = torch.arange(len(x), device=level.device) // count
    xs = (x.to(level.device).view(-1, 1) + offsets).view(-1, NHOOD_SIZE, 1)  # [N, 7(x), 1]
    ys = (y.to(level.device).view(-1, 1) + offsets).view(-1, 1, NHOOD_SIZE)  # [N, 1, 7(y)]
    flat = level.permute(0, 2, 3, 1)  # [n, h, w, c]
    patches = flat[image.view(-1, 1, 1), ys, xs]  # [N, 7(x), 7(y), c]
    return patches.permute(0, 3, 1, 2)


def normalize(descriptors: torch.Tensor) -> torch.Tensor:
    """Per channel, over all neighbourhoods and positions: zero mean, unit (population) std; flattened."""
    mean = descriptors.mean(dim=(0, 2, 3), keepdim=True)
    std = descriptors.std(dim=(0, 2, 3), keepdim=True, correction=0)
    return ((descriptors - mean) / std).flatten(1)


def random_directions(dimensions: int, generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """DIR_REPEATS sets of DIRS_PER_REPEAT unit vectors (as columns)."""
    sets = []
    for _ in range(DIR_REPEATS):
        directions = torch.randn(dimensions, DIRS_PER_REPEAT, dtype=torch.float64, generator=generator)
        sets.append((directions / directions.norm(dim=0, keepdim=True)).float())
    return sets


def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, directions: list[torch.Tensor]) -> float:
    """Mean over the direction sets of mean |sort(a·d) − sort(b·d)|."""
    distances = []
    for d in directions:
        d = d.to(a.device).t()
        projected_a, _ = torch.sort(d @ a.t(), dim=1)  # [directions, N]: each row sorted, contiguous
        projected_b, _ = torch.sort(d @ b.t(), dim=1)
        distances.append((projected_a - projected_b).abs().mean())
    return torch.stack(distances).mean().item()


@dataclass
class SWDResult:
    per_level: dict[int, float]  # resolution -> SWD ×10³

    @property
    def average(self) -> float:
        return sum(self.per_level.values()) / len(self.per_level)

    def as_dict(self) -> dict[str, float]:
        return {**{f"swd/{r}": v for r, v in self.per_level.items()}, "swd/avg": self.average}


def level_descriptors(images: torch.Tensor, level: int, levels: int, generator: torch.Generator | None,
                      batch: int) -> torch.Tensor:
    """Normalized descriptors of one pyramid level of a whole set, the pyramid built `batch` images at a
    time; one level at a time keeps memory to one level's descriptors (2M × 147 floats for 16,384 images)."""
    parts = []
    for chunk in images.split(batch):
        band = laplacian_pyramid(chunk.float(), levels)[level]
        x, y = random_positions(len(chunk), band.shape[2], band.shape[3], generator)
        parts.append(descriptors(band, x, y))
    return normalize(torch.cat(parts))


def swd(real: torch.Tensor, fake: torch.Tensor, seed: int = 0, batch: int = 256) -> SWDResult:
    """SWD ×10³ per level between two uint8 image sets of one shape and count (the official code uses
    16,384 of each), in float32 on the images' device."""
    if real.shape != fake.shape:
        raise ValueError(f"SWD compares sets of one shape: {tuple(real.shape)} and {tuple(fake.shape)}")
    resolution = real.shape[-1]
    if resolution < SMALLEST_LEVEL:
        raise ValueError(f"SWD needs images of at least {SMALLEST_LEVEL}×{SMALLEST_LEVEL}, not {resolution}×{resolution}")
    generator = torch.Generator().manual_seed(seed)
    levels = levels_for(resolution)
    result = {}
    for level in range(levels):
        a = level_descriptors(real, level, levels, generator, batch)
        b = level_descriptors(fake, level, levels, generator, batch)
        result[resolution // 2**level] = sliced_wasserstein(a, b, random_directions(a.shape[1], generator)) * 1e3
    return SWDResult(result)
