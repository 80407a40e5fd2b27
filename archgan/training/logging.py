"""What a run reports: TensorBoard scalars and images, metrics.jsonl, a loss plot, a text log."""
from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import torch
from torch.utils.tensorboard import SummaryWriter

from ..figures import new_figure

log = logging.getLogger("archgan.train")


class RunLog:
    """logs/ of a run: events for TensorBoard, metrics.jsonl (the same scalars, one JSON object per
    line) and train.log; plots/losses.png is redrawn from metrics.jsonl.

    A resumed run (`resumed_at`: the step and images shown of its checkpoint) replays the steps after its
    checkpoint: their records are dropped when the log opens (TensorBoard's too, by its purge_step), and
    a record of the checkpoint's own step written again (a stage's metrics) replaces the earlier one, so
    metrics.jsonl holds each step once after any number of resumes."""

    def __init__(self, logs: Path, plots: Path, resumed_at: tuple[int, int] | None = None):
        logs.mkdir(parents=True, exist_ok=True)
        plots.mkdir(parents=True, exist_ok=True)
        self.logs, self.plots = logs, plots
        self.metrics_file = logs / "metrics.jsonl"
        self._replaceable: set[tuple[str, int]] = set()  # (kind, step) of records a replay may write again
        if resumed_at is not None:
            self._forget_after(resumed_at[0])
        self.tensorboard = SummaryWriter(str(logs), purge_step=resumed_at[1] + 1 if resumed_at else None)
        self._handler = logging.FileHandler(logs / "train.log")
        self._handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        log.addHandler(self._handler)

    def scalars(self, values: dict[str, float], step: int, images: int) -> None:
        for name, value in values.items():
            self.tensorboard.add_scalar(name, value, images)
        self._write({"step": step, "images": images, "time": time.time(), **values})

    def metrics(self, values: dict[str, float], step: int, images: int, resolution: int) -> None:
        """Quality measures: TensorBoard under metrics/, and a metrics.jsonl line marked kind 'metrics'."""
        for name, value in values.items():
            self.tensorboard.add_scalar(f"metrics/{name}", value, images)
        self._write({"kind": "metrics", "step": step, "images": images, "resolution": resolution, "time": time.time(),
                     **values})

    def _write(self, record: dict) -> None:
        key = _key(record)
        if key in self._replaceable:
            self._replaceable.discard(key)
            self._rewrite([record if _key(r) == key else r for r in self._records()])
            return
        with open(self.metrics_file, "a") as handle:
            handle.write(json.dumps(record) + "\n")

    def _forget_after(self, step: int) -> None:
        """Drop the records of the steps after `step` (and a line torn by a kill); those of `step` itself may
        be written again."""
        records = self._records()
        kept = [r for r in records if r["step"] <= step]
        self._replaceable = {_key(r) for r in kept if r["step"] == step}
        if self.metrics_file.exists() and len(self.metrics_file.read_text().splitlines()) != len(kept):
            self._rewrite(kept)

    def _rewrite(self, records: list[dict]) -> None:
        temporary = self.metrics_file.with_name(f".{self.metrics_file.name}.tmp")
        temporary.write_text("".join(json.dumps(r) + "\n" for r in records))
        os.replace(temporary, self.metrics_file)

    def image(self, tag: str, grid: torch.Tensor, images: int) -> None:
        self.tensorboard.add_image(tag, grid, images)

    def plot_losses(self) -> Path:
        """plots/losses.png: every loss term against images shown, stage changes marked."""
        records = [r for r in self._records() if "loss/D" in r]
        path = self.plots / "losses.png"
        figure = new_figure(figsize=(9, 4.5))
        axis = figure.subplots()
        names = sorted({k for r in records for k in r if k.startswith("loss/")})
        for name in names:
            points = [(r["images"] / 1000, r[name]) for r in records if name in r]
            axis.plot(*zip(*points), label=name.removeprefix("loss/"), linewidth=1)
        for previous, record in zip(records, records[1:]):
            if record.get("resolution") != previous.get("resolution"):
                axis.axvline(record["images"] / 1000, color="grey", linewidth=0.5, linestyle=":")
                axis.text(record["images"] / 1000, axis.get_ylim()[1], f" {record['resolution']}²",
                          fontsize=7, va="top", color="grey")
        axis.set_xlabel("thousands of real images shown")
        axis.set_ylabel("loss")
        if names:
            axis.legend(fontsize=8)
        figure.tight_layout()
        figure.savefig(path, dpi=100)
        return path

    def plot_metrics(self) -> Path | None:
        """plots/metrics.png: SWD per level (left) and the other measures (right) at the end of each stage."""
        records = [r for r in self._records() if r.get("kind") == "metrics"]
        if not records:
            return None
        names = sorted({k for r in records for k in r if "/" in k or k in ("fid", "kid")})
        panels = [[n for n in names if n.startswith("swd")], [n for n in names if not n.startswith("swd")]]
        panels = [panel for panel in panels if panel]
        figure = new_figure(figsize=(5 * len(panels), 4))
        axes = figure.subplots(1, len(panels), squeeze=False)
        right = max(r["images"] for r in records) / 1000 * 1.05
        for axis, panel in zip(axes[0], panels):
            for name in panel:
                points = [(r["images"] / 1000, r[name]) for r in records if name in r]
                axis.plot(*zip(*points), marker="o", label=name, linewidth=1)
            for record in records:  # the end of each stage
                axis.axvline(record["images"] / 1000, color="grey", linewidth=0.5, linestyle=":")
                axis.text(record["images"] / 1000, 1.01, f"{record['resolution']}²", fontsize=7, color="grey",
                          ha="center", transform=axis.get_xaxis_transform())
            axis.set_xlim(0, right)
            axis.set_xlabel("thousands of real images shown")
            axis.set_ylabel("SWD ×10³ (lower is closer)" if panel[0].startswith("swd") else "value")
            axis.legend(fontsize=8)
        figure.tight_layout()
        path = self.plots / "metrics.png"
        figure.savefig(path, dpi=100)
        return path

    def _records(self) -> list[dict]:
        """metrics.jsonl's records; a line a kill left half-written is skipped."""
        if not self.metrics_file.exists():
            return []
        records = []
        for line in self.metrics_file.read_text().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get("step"), int):
                records.append(record)
        return records

    def close(self) -> None:
        self.tensorboard.close()
        log.removeHandler(self._handler)
        self._handler.close()


def _key(record: dict) -> tuple[str, int]:
    return record.get("kind", "scalars"), record["step"]
