"""Offline quality measures: one registry (torch-free) of metric types, used by `archgan metrics`, the
training file's `metrics` list (its schema reads the names from here) and the trainer at the end of
stages. Each entry names its computation (metrics/swd.py, ms_ssim.py, fid.py through measure.py),
imported only when a metric is computed."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from ..errors import MetricError
from ..lazy import deferred
from ..spec.errors import did_you_mean

Values = dict[str, float]
SWD_SMALLEST_LEVEL = 16
"""The SWD's Laplacian pyramid stops at 16×16, as the official code's: smaller images have no level."""


@dataclass(frozen=True)
class MetricType:
    """compute(real, fake, options) -> values, for uint8 image sets [N, C, R, R] of one resolution;
    options: device, seed, inception_weights. `prepare(options)` checks, before a run starts, what the
    metric needs from the user (a weights file). Below `min_resolution` the metric is skipped in
    training and refused by `archgan metrics`."""

    name: str
    doc: str
    compute: Callable[[Any, Any, Mapping[str, Any]], Values]
    min_resolution: int = 1
    prepare: Callable[[Mapping[str, Any]], None] | None = None


METRICS: dict[str, MetricType] = {
    metric.name: metric
    for metric in (
        MetricType("swd", "the ProGAN paper's sliced Wasserstein distance per Laplacian-pyramid level, ×10³ "
                   "(swd/<level>, swd/avg; lower is closer)", deferred("archgan.metrics.measure:swd_values"),
                   min_resolution=SWD_SMALLEST_LEVEL),
        MetricType("msssim", "MS-SSIM of consecutive pairs of generated images (msssim/fake: lower is more "
                   "varied) beside the same for real images (msssim/real)",
                   deferred("archgan.metrics.measure:msssim_values")),
        MetricType("fid", "FID and KID (mean) through torch-fidelity with local Inception weights (fid, kid)",
                   deferred("archgan.metrics.measure:fid_values"), prepare=deferred("archgan.metrics.measure:fid_prepare")),
    )
}


def parse_metric_names(text: str | list[str]) -> list[str]:
    names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text) if n.strip()]
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        hints = "; ".join(filter(None, (did_you_mean(n, METRICS) for n in unknown)))
        raise MetricError(f"unknown metric {', '.join(unknown)}: choose from {', '.join(METRICS)}" + (f" ({hints})" if hints else ""))
    return names


def metrics_at(names: list[str], resolution: int) -> list[str]:
    """The named metrics that can be computed at `resolution`."""
    return [name for name in names if resolution >= METRICS[name].min_resolution]


def check_resolution(names: list[str], resolution: int) -> None:
    """Refuse a metric asked for at a resolution it cannot measure."""
    for name in names:
        if resolution < METRICS[name].min_resolution:
            smallest = METRICS[name].min_resolution
            raise MetricError(f"{name} needs images of at least {smallest}×{smallest}; this stage makes "
                              f"{resolution}×{resolution} (measure a later stage with --resolution)")
