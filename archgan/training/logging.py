"""What a run reports: TensorBoard scalars and images, metrics.jsonl, a loss plot, a text log."""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import torch
from torch.utils.tensorboard import SummaryWriter

log = logging.getLogger("archgan.train")


class RunLog:
    """logs/ of a run: events for TensorBoard, metrics.jsonl (the same scalars, one JSON object per
    line) and train.log; plots/losses.png is redrawn from metrics.jsonl."""

    def __init__(self, logs: Path, plots: Path):
        logs.mkdir(parents=True, exist_ok=True)
        plots.mkdir(parents=True, exist_ok=True)
        self.logs, self.plots = logs, plots
        self.tensorboard = SummaryWriter(str(logs))
        self.metrics = logs / "metrics.jsonl"
        self._handler = logging.FileHandler(logs / "train.log")
        self._handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        log.addHandler(self._handler)

    def scalars(self, values: dict[str, float], step: int, images: int) -> None:
        for name, value in values.items():
            self.tensorboard.add_scalar(name, value, images)
        record = {"step": step, "images": images, "time": time.time(), **values}
        with open(self.metrics, "a") as handle:
            handle.write(json.dumps(record) + "\n")

    def image(self, tag: str, grid: torch.Tensor, images: int) -> None:
        self.tensorboard.add_image(tag, grid, images)

    def plot_losses(self) -> Path:
        """plots/losses.png: every loss term against images shown, stage changes marked."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        records = [json.loads(line) for line in self.metrics.read_text().splitlines()] if self.metrics.exists() else []
        records = [r for r in records if "loss/D" in r]
        path = self.plots / "losses.png"
        figure, axis = plt.subplots(figsize=(9, 4.5))
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
        plt.close(figure)
        return path

    def close(self) -> None:
        self.tensorboard.close()
        log.removeHandler(self._handler)
        self._handler.close()
