"""The benchmark's own code runs end to end (on the CPU, at tiny sizes; its figures matter on a GPU)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_throughput_benchmark_runs_at_tiny_sizes(tmp_path):
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "throughput.py"), "--device", "cpu", "--resolutions", "4,8",
         "--batch_scale", "0.0625", "--warmup", "1", "--steps", "1", "--repeats", "1", "--peer_dir",
         str(tmp_path / "peers"), "--json", str(tmp_path / "figures.json")],
        capture_output=True, text=True, timeout=600, env={"XDG_CACHE_HOME": str(tmp_path / "cache"),
                                                          "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "| 4 | 16 |" in result.stdout and "| 64 | 4 |" in result.stdout
    figures = json.loads((tmp_path / "figures.json").read_text())
    assert [row["resolution"] for row in figures["progan"]] == [4, 8]
    assert all(row["archgan"] > 0 and row["tflops"] > 0 for row in figures["progan"] + [figures["fagan"]])
