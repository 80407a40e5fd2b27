"""The benchmark's own code runs end to end (on the CPU, at tiny sizes; its figures matter on a GPU)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_throughput_benchmark_runs_at_tiny_sizes(tmp_path):
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "throughput.py"), "--device", "cpu", "--resolutions", "4",
         "--batch_scale", "0.0625", "--warmup", "1", "--steps", "1", "--repeats", "1", "--peer_dir",
         str(tmp_path / "peers"), "--json", str(tmp_path / "figures.json")],
        capture_output=True, text=True, timeout=600, env={"XDG_CACHE_HOME": str(tmp_path / "cache"),
                                                          "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "| 4 | 16 |" in result.stdout and "| 64 | 4 |" in result.stdout
    figures = json.loads((tmp_path / "figures.json").read_text())
    assert [row["resolution"] for row in figures["progan"]] == [4]
    assert all(row["archgan"] > 0 and row["tflops"] > 0 for row in figures["progan"] + [figures["fagan"]])


def test_the_gpu_check_runs_dry_on_the_cpu(tmp_path):
    """benchmarks/gpu_check.sh --dry-run: every section of the GPU check (but the peers, which the test above
    runs) on the CPU at tiny sizes, writing its JSON and markdown."""
    out = tmp_path / "out"
    result = subprocess.run(
        ["bash", str(REPO / "benchmarks" / "gpu_check.sh"), "--dry-run", "--no-peers", "--families", "dcgan,pggan-conditional",
         "--out", str(out)], capture_output=True, text=True, timeout=600,
        env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figures = json.loads((out / "gpu_check.json").read_text())
    assert [(row["family"], row["resolution"]) for row in figures["families"]] == \
        [("dcgan", 64), ("pggan-conditional", 4), ("pggan-conditional", 8)]
    assert all(row["images_per_second"] > 0 and row["tflops"] > 0 for row in figures["families"])
    assert figures["bf16"]["steps"] == 3 and figures["bf16"]["max_relative_difference"] < 0.05
    assert all(step["returncode"] == 0 for step in figures["end_to_end"].values())
    assert "| dcgan | 64 | 4 |" in (out / "gpu_check.md").read_text()
