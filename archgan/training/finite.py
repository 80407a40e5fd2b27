"""Stopping a run whose numbers left the finite range. Losses are checked where the trainer reads them
back to the host anyway (its logging steps) and weights where a checkpoint copies them to the host anyway,
so no step ever waits for the device to be checked, and no checkpoint holds NaN weights."""
from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

from ..errors import TrainingError
from .files import latest_checkpoint


def check_finite(values: Mapping[str, float], step: int, model_dir: Path) -> None:
    """Stop the run (a TrainingError) when a value read back at `step` is NaN or infinite."""
    bad = [name for name, value in values.items() if not math.isfinite(value)]
    if bad:
        raise diverged(f"{bad[0]} is {values[bad[0]]}" + (f" (and {', '.join(bad[1:])})" if bad[1:] else ""),
                       step, model_dir)


def diverged(what: str, step: int, model_dir: Path) -> TrainingError:
    """The error that stops a diverged run: what went wrong, where, what was kept and what to try."""
    kept = latest_checkpoint(model_dir)
    if kept is None:
        kept_words = "no checkpoint had been written yet"
        retry = "start again with lower learning rates (--g_lr, --d_lr)"
    else:
        kept_words = f"the last good checkpoint, {kept}, is kept"
        retry = (f"start a new run from its weights (--generator_file {kept} --discriminator_file {kept}) with lower "
                 "learning rates (--g_lr, --d_lr)")
    return TrainingError(f"training diverged by step {step}: {what}; {kept_words}. Try: {retry}, or without mixed "
                         "precision (--no-amp, which a --resume may also change)")
