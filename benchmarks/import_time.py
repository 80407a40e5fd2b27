#!/usr/bin/env python3
"""How long `archgan validate` takes on every built-in (generator, discriminator, training file and
their run plan), against `python -c "import torch"`, measured one after the other in the same run:
validating must not pay for torch. Each figure is the median wall time of --repeats fresh processes.

    python benchmarks/import_time.py --repeats 7
"""
from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from archgan.resources import builtin_architectures  # noqa: E402


def seconds(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, cwd=REPO)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    validate = [sys.executable, "-m", "archgan", "validate", *builtin_architectures()]
    torch_import = [sys.executable, "-c", "import torch"]
    seconds(validate), seconds(torch_import)  # warm the file cache for both
    timings: dict[str, list[float]] = {"validate": [], "torch": []}
    for _ in range(args.repeats):  # interleaved, so both see the same machine load
        timings["validate"].append(seconds(validate))
        timings["torch"].append(seconds(torch_import))
    validate_s, torch_s = statistics.median(timings["validate"]), statistics.median(timings["torch"])
    print(f"# {platform.processor() or platform.machine()}, Python {platform.python_version()}, "
          f"median of {args.repeats} processes each")
    print(f"archgan validate {' '.join(builtin_architectures())}: {validate_s:.3f} s")
    print(f'python -c "import torch": {torch_s:.3f} s')
    print(f"ratio: {validate_s / torch_s:.2f} (must stay under 1/3)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
