#!/usr/bin/env python3
"""The one prepared GPU check: every figure the speed work needs, from one run of at most 7 minutes on an
H200, written as JSON and as markdown tables (benchmarks/gpu_check.sh installs the carried wheels first).

1. throughput against the peers in the same process (benchmarks/throughput.py: pro_gan_pytorch 4²–256²
   at its batch sizes, attn_gan_pytorch's FAGAN);
2. archgan's own images/s, peak GPU memory and achieved TFLOP/s (against the bf16 dense peak) per stage
   of every built-in family at its training file's batches (pggan up to 1024²);
3. each speed switch on its own: pro_gan_pytorch's architecture at 64², images/s with every option off,
   each alone, the device's defaults, with --compile and with CUDA graphs, and with the equalized-LR weight
   scales left out (the most folding them into the weights once per step could win);
   bf16 autocast against float32: the losses of 50 steps from the same start;
4. a one-process torchrun training of pggan-small (NCCL on a GPU) for 2,000 images;
5. `archgan generate` and the ONNX export of that run's generator.

`--dry-run` does all of it on the CPU at tiny sizes (a test runs it), so the GPU's minutes go to figures.

    bash benchmarks/gpu_check.sh --out results/              # on the GPU machine
    python benchmarks/gpu_check.py --dry-run --out /tmp/check  # here
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from throughput import PROGAN_BATCH, PROGAN_TRAINING, achieved_tflops, images_per_second, our_step, our_trainer  # noqa: E402

from archgan.resources import architectures_dir  # noqa: E402
from archgan.spec import load_spec_text  # noqa: E402
from archgan.training.config import load_training_config  # noqa: E402
from archgan.layers.modules.conv import WeightedLayer  # noqa: E402
from archgan.training.speed import ASKED_FOR_ONLY, SPEED_OPTIONS, CompiledPasses, backend_flags, default_speed  # noqa: E402

PER_STAGE = ("fade_kimg", "stable_kimg", "g_lr", "d_lr", "accumulate")
BF16_PEAK_TFLOPS = 790.0
"""An 8192³ bf16 matrix product on the H200 here (benchmarks/README.md)."""
FAMILIES = {  # built-in: top resolution measured on the GPU
    "pggan": 1024, "pggan-resnet": 256, "apgan": 256, "fagan": 64, "fagan-progressive": 64,
    "pggan-conditional": 32, "dcgan": 64, "sngan-resnet": 32, "stylegan": 256,
}


def family_rows(name: str, device: torch.device, work: Path, dry: bool, speed: dict) -> list[dict]:
    """Per stage of a built-in: images/s, peak memory and TFLOP/s at its training file's batches, up to
    FAMILIES' resolution (all its stages for a built-in not listed there)."""
    config = load_training_config(architectures_dir() / name / "training.yaml")
    every = load_spec_stages(name, None)  # the training file's per-stage lists are for all of them
    top = FAMILIES.get(name, every[-1])
    resolution = next((size for size in every if size >= 8), every[-1]) if dry else top  # dry: up to 8² only
    trainer_spec_stages = load_spec_stages(name, resolution)
    count = len(trainer_spec_stages)
    batches = [4 if dry else b for b in config.per_stage("batch_size", len(every))[:count]]
    training = {key: value[:count] if isinstance(value, list) and key in PER_STAGE else value
                for key, value in config.to_dict().items() if key not in ("batch_size", "metrics")}
    trainer = our_trainer(name, resolution, training, batches, str(device), work, speed)
    rows = []
    for stage, (size, batch) in enumerate(zip(trainer_spec_stages, batches)):
        if not any(period.stage == stage for period in trainer.plan.periods):
            continue  # a stage its schedule never trains (StyleGAN's 4×4)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        rate = images_per_second(our_step(trainer, stage), batch, device, 1 if dry else 2, 1 if dry else 5, 1 if dry else 3)
        peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
        tflops = achieved_tflops(trainer, stage, batch / rate)
        rows.append({"family": name, "resolution": size, "batch": batch, "images_per_second": rate,
                     "peak_gib": peak, "tflops": tflops, "of_peak": tflops / BF16_PEAK_TFLOPS})
    return rows


def load_spec_stages(name: str, resolution: int | None) -> list[int]:
    """The stage resolutions of a built-in's generator, up to `resolution` (None: all)."""
    cut = {} if resolution is None else {"max_resolution": resolution}
    return load_spec_text(json.dumps({"network": "generator", "base": name, **cut}), role="generator").resolutions


def switch_rows(device: torch.device, work: Path, dry: bool) -> list[dict]:
    """Images/s of a step of pro_gan_pytorch's architecture fading in to 64² (dry: 8²) at its batch, per
    set of speed options (section 3 of the module's docstring)."""
    resolution = 8 if dry else 64
    batch = 4 if dry else PROGAN_BATCH[resolution]
    off = dict.fromkeys(SPEED_OPTIONS, False)
    defaults = default_speed(device.type)
    variants = {"every option off": off,
                **{f"{name} alone": off | {name: True} for name in SPEED_OPTIONS if name not in ASKED_FOR_ONLY},
                "the defaults": defaults, "defaults + compile": defaults | {"compile": True},
                "defaults + compile + cuda_graphs": defaults | {"compile": True, "cuda_graphs": True},
                "defaults, weight scales left out": defaults}
    batches = [4 if dry else PROGAN_BATCH[4 * 2**k] for k in range(resolution.bit_length() - 2)]  # 4² … resolution
    rows = []
    for index, (name, speed) in enumerate(variants.items()):
        trainer = our_trainer("pro_gan_pytorch", resolution, PROGAN_TRAINING, batches, str(device), work / str(index), speed)
        step = our_step(trainer, len(batches) - 1)
        if name.endswith("left out"):
            for layer in [*trainer.state.generator.modules(), *trainer.state.discriminator.modules()]:
                if isinstance(layer, WeightedLayer):
                    layer.weight_scale = layer.bias_scale = 1.0
        torch._dynamo.reset()  # each compiled variant compiles afresh: its first step's time is its own
        start = time.perf_counter()
        with backend_flags(speed["tf32"], speed["cudnn_benchmark"]):
            step()  # the first step: graphs compiled, kernels picked
            first = time.perf_counter() - start
            rate = images_per_second(step, batch, device, 1 if dry else 3, 1 if dry else 10, 1 if dry else 3)
        rows.append({"options": name, "resolution": resolution, "batch": batch, "images_per_second": rate,
                     "first_step_seconds": first})
        print(f"measured {name}", flush=True)
    return rows


def bf16_against_float32(device: torch.device, work: Path, dry: bool) -> dict:
    """pggan-small at 32² for 50 steps (dry: 3) from the same weights and data, with and without autocast."""
    steps = 3 if dry else 50
    training = {"loss": "wgan-gp", "batch_size": 16, "log_every": 1}
    losses = {}
    for amp in (False, True):
        trainer = our_trainer("pggan-small", 32, training, [16] * 4, str(device), work / f"amp{amp}",
                              {"amp": amp, "channels_last": False, "tf32": False, "cudnn_benchmark": False})
        position = trainer.plan.position_in(3, 1.0)
        losses[amp] = [float(trainer.train_step(position)["loss/D"]) for _ in range(steps)]
    difference = [abs(a - b) / max(abs(a), 1e-6) for a, b in zip(losses[False], losses[True])]
    return {"steps": steps, "float32": losses[False], "bf16": losses[True], "median_relative_difference":
            statistics.median(difference), "max_relative_difference": max(difference)}


def run_command(command: list[str], environment: dict[str, str]) -> dict:
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=600)
    return {"command": " ".join(command[1:]), "seconds": time.perf_counter() - start, "returncode": result.returncode,
            "output": (result.stdout + result.stderr)[-1500:]}


def end_to_end(device: torch.device, work: Path, dry: bool) -> dict:
    """torchrun (one process) trains pggan-small; then generate and the ONNX export read its run."""
    from throughput import image_folder

    images = work / "images"
    images.mkdir(parents=True)
    image_folder(images, 32, 64)
    environment = {**os.environ, "XDG_CACHE_HOME": str(work / "cache")}
    run = work / "run"
    figures = {"torchrun": run_command([sys.executable, "-m", "torch.distributed.run", "--standalone",
                                        "--nproc_per_node=1", str(REPO / "train.py"), "--arch", "pggan-small",
                                        "--images_dir", str(images), "--run_dir", str(run), "--device", str(device),
                                        "--max_images", "32" if dry else "2000", "--num_workers", "1"], environment)}
    archgan = [sys.executable, "-m", "archgan"]
    figures["generate"] = run_command([*archgan, "generate", "--checkpoint", str(run), "--num", "16" if dry else "1024",
                                       "--device", str(device), "--out", str(work / "generated")], environment)
    figures["onnx"] = run_command([*archgan, "export", "--checkpoint", str(run), "--format", "onnx", "--out",
                                   str(work / "generator.onnx")], environment)
    return figures


def markdown(results: dict) -> str:
    lines = [f"# GPU check: {results['device']}, torch {results['torch']}, {results['date']}", "",
             "| family | resolution | batch | img/s | peak GiB | TFLOP/s (≥) | of bf16 peak |", "|---|---|---|---|---|---|---|"]
    for row in results["families"]:
        peak = f"{row['peak_gib']:.2f}" if row["peak_gib"] is not None else "n/a"
        lines.append(f"| {row['family']} | {row['resolution']} | {row['batch']} | {row['images_per_second']:,.1f} | "
                     f"{peak} | {row['tflops']:.3f} | {row['of_peak']:.1%} |")
    if results["switches"]:
        lines += ["", "| speed options (pro_gan_pytorch's architecture, fading in) | resolution | batch | img/s | "
                  "against all off | first step s |", "|---|---|---|---|---|---|"]
    for row in results["switches"]:
        base = results["switches"][0]["images_per_second"]
        lines.append(f"| {row['options']} | {row['resolution']} | {row['batch']} | {row['images_per_second']:,.1f} | "
                     f"{row['images_per_second'] / base:.2f}× | {row['first_step_seconds']:.1f} |")
    bf16 = results["bf16"]
    lines += ["", f"bf16 against float32 over {bf16['steps']} steps: D-loss relative difference median "
              f"{bf16['median_relative_difference']:.2e}, max {bf16['max_relative_difference']:.2e}", ""]
    for name, figure in results["end_to_end"].items():
        lines.append(f"- {name}: {'ok' if figure['returncode'] == 0 else 'FAILED'} in {figure['seconds']:.1f} s")
    if "throughput" in results:
        lines += ["", "Throughput against the peers: see throughput.json / the tables printed above."]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry-run", action="store_true", help="everything on the CPU at tiny sizes")
    parser.add_argument("--out", type=Path, default=Path("gpu_check"), help="folder for gpu_check.json and .md")
    parser.add_argument("--families", default=",".join(FAMILIES), help="the built-ins of section 2")
    parser.add_argument("--peers", action=argparse.BooleanOptionalAction, default=True,
                        help="section 1 (the peers come from the carried wheels on the GPU machine)")
    parser.add_argument("--switches", action=argparse.BooleanOptionalAction, default=True,
                        help="section 3's speed switches (compiling twice takes a few minutes)")
    args = parser.parse_args()
    device = torch.device("cpu" if args.dry_run or not torch.cuda.is_available() else "cuda")
    args.out.mkdir(parents=True, exist_ok=True)
    gpu = device.type == "cuda"
    speed = default_speed(device.type)
    results: dict = {"device": torch.cuda.get_device_name(device) if gpu else "CPU (dry run)" if args.dry_run else "CPU",
                     "torch": torch.__version__, "date": time.strftime("%Y-%m-%d")}
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        if args.peers:
            tiny = ["--resolutions", "4,8", "--batch_scale", "0.0625", "--warmup", "1", "--steps", "1", "--repeats", "1"]
            figures = run_command([sys.executable, str(REPO / "benchmarks" / "throughput.py"), "--device", str(device),
                                   *(tiny if args.dry_run else []), "--json", str(args.out / "throughput.json")],
                                  {**os.environ, "XDG_CACHE_HOME": str(work / "cache")})
            print(figures["output"])
            results["throughput"] = json.loads((args.out / "throughput.json").read_text()) \
                if figures["returncode"] == 0 else figures
        results["families"] = []
        for name in args.families.split(","):
            (work / name / "images").mkdir(parents=True)
            results["families"] += family_rows(name, device, work / name, args.dry_run, speed)
            print(f"measured {name}", flush=True)
        if args.dry_run:  # the graphs a GPU compiles, without inductor's minutes of CPU code generation
            CompiledPasses.backend = "aot_eager"
        results["switches"] = switch_rows(device, work / "switches", args.dry_run) if args.switches else []
        results["bf16"] = bf16_against_float32(device, work / "bf16", args.dry_run)
        results["end_to_end"] = end_to_end(device, work / "e2e", args.dry_run)
    (args.out / "gpu_check.json").write_text(json.dumps(results, indent=2))
    (args.out / "gpu_check.md").write_text(markdown(results))
    print(markdown(results))
    return 0 if all(f["returncode"] == 0 for f in results["end_to_end"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
