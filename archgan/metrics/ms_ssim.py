"""MS-SSIM between pairs of generated images, the ProGAN paper's measure of diversity: the mean
similarity of consecutive pairs (0 and 1, 2 and 3, ...) as the official code pairs them; lower means
more varied samples. Computed by torchmetrics (Wang et al.'s multi-scale SSIM, data range 255, negative
terms clipped at 0 as the official code does)."""
from __future__ import annotations

import torch
from torchmetrics.functional.image import multiscale_structural_similarity_index_measure

WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)  # the five scales of Wang et al. 2003
WINDOWS = (11, 7, 5, 3)


def scales_for(size: int) -> tuple[int, int]:
    """(window, scales): as many of the five scales as the image size allows, each with the largest
    window that still fits (torchmetrics' rule); the official code likewise shrinks its 11-pixel
    Gaussian window on small images."""
    for scales in range(5, 1, -1):
        for window in WINDOWS:
            if size // (scales - 1) ** 2 > window - 1:
                return window, scales
    raise ValueError(f"MS-SSIM needs images of at least 8×8, not {size}×{size}")


def ms_ssim_pairs(images: torch.Tensor) -> float:
    """Mean MS-SSIM of consecutive pairs of a uint8 image set [N, C, H, W]."""
    if len(images) < 2:
        raise ValueError("MS-SSIM needs at least one pair of images")
    count = len(images) // 2 * 2
    first, second = images[0:count:2].float(), images[1:count:2].float()
    window, scales = scales_for(min(images.shape[-2:]))
    weights = torch.tensor(WEIGHTS[:scales])
    values = multiscale_structural_similarity_index_measure(
        first, second, sigma=1.5 * window / 11, kernel_size=window, data_range=255.0, reduction="none",
        betas=tuple((weights / weights.sum()).tolist()), normalize="relu",
    )
    return values.mean().item()
