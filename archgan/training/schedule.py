"""The progressive schedule: which stage trains, whether it fades in, alpha, batch size and learning
rates, all as functions of the number of real images shown so far (as the official ProGAN counts)."""
from __future__ import annotations

from dataclasses import dataclass

from .config import TrainingConfig


@dataclass(frozen=True)
class Phase:
    """A stretch of training: stage `stage` (0-based) either fading in or stable."""

    index: int
    stage: int
    fading: bool
    start: int  # images shown before this phase
    images: int

    @property
    def end(self) -> int:
        return self.start + self.images


@dataclass(frozen=True)
class Position:
    phase: Phase
    alpha: float  # weight of the newest stage: ramps 0 -> 1 while fading, 1 when stable

    @property
    def depth(self) -> int:
        return self.phase.stage + 1


class Schedule:
    """Phases in order: stage 0 stable, then for every later stage a fade-in and a stable phase.
    `images_per_stage`, when given (from --kimg or --num_epochs), replaces the file's numbers: each
    stage then shows that many images, the first half fading in (the first stage: all stable).
    The file's fade_kimg of the first stage is ignored: there is nothing to fade from."""

    def __init__(self, config: TrainingConfig, resolutions: list[int], images_per_stage: int | None = None):
        count = len(resolutions)
        self.resolutions = resolutions
        self.batch_sizes: list[int] = config.per_stage("batch_size", count)
        self.g_lrs: list[float] = config.per_stage("g_lr", count)
        self.d_lrs: list[float] = config.per_stage("d_lr", count)
        if images_per_stage is None:
            fade = [round(k * 1000) for k in config.per_stage("fade_kimg", count)]
            stable = [round(k * 1000) for k in config.per_stage("stable_kimg", count)]
        else:
            fade = [images_per_stage // 2] * count
            stable = [images_per_stage - images_per_stage // 2] * count
            stable[0] = images_per_stage
        fade[0] = 0  # nothing to fade from
        self.phases: list[Phase] = []
        start = 0
        for stage in range(count):
            for fading, images in ((True, fade[stage]), (False, stable[stage])):
                if images > 0:
                    self.phases.append(Phase(len(self.phases), stage, fading, start, images))
                    start += images
        if not self.phases:
            raise ValueError("the schedule shows no images: give fade_kimg/stable_kimg (or --kimg) above 0")

    @property
    def total_images(self) -> int:
        return self.phases[-1].end

    def position(self, images_shown: int) -> Position:
        """Where training is after `images_shown` images (past the end: the last phase, stable)."""
        for phase in self.phases:
            if images_shown < phase.end:
                alpha = (images_shown - phase.start) / phase.images if phase.fading else 1.0
                return Position(phase, alpha)
        return Position(self.phases[-1], 1.0)

    def describe(self, position: Position) -> str:
        """'16×16 fade' or '16×16 stable', as the progress bar and logs say it."""
        size = self.resolutions[position.phase.stage]
        return f"{size}×{size} {'fade' if position.phase.fading else 'stable'}"
