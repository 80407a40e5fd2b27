"""Run folders made safe: checkpoint writes that survive a kill or a full disk at every file operation,
the run folder's lock, tampered run folders and changed image folders refused with clear errors,
metrics.jsonl holding each step once after resumes, and NaN losses or weights stopping a run."""
from __future__ import annotations

import builtins
import errno
import io
import json
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from archgan.cli import main
from archgan.data.stream import RealImages
from archgan.errors import SetupError, TrainingError, WeightsError
from archgan.interop.pretrained import load_pretrained
from archgan.networks import Discriminator, Generator, build_network
from archgan.networks.weights import load_weights, save_weights
from archgan.spec import load_spec
from archgan.training.checkpoint import load_state, read_checkpoint, save_checkpoint
from archgan.training.config import load_training_config
from archgan.training.ema import make_ema
from archgan.training.files import LOCK_FILE, STATE_FILE, latest_checkpoint, list_checkpoints
from archgan.training.lock import RunLock
from archgan.training.run import RunSettings
from archgan.training.state import AdamSettings, TrainState

from conftest import make_images

# ------------------------------------------------------------------ checkpoints under fault injection


class Killed(BaseException):
    """The process killed at an operation: nothing after it happens."""


@contextmanager
def file_operations(monkeypatch, fail_at: int | None, kill: bool):
    """Count every file operation a checkpoint write makes (creating folders and files, writing, fsync,
    renames, removals); the `fail_at`-th raises: Killed (and so does every later one), or ENOSPC once."""
    count = {"n": 0, "dead": False}

    def operation():
        count["n"] += 1
        if count["dead"] or count["n"] == fail_at:
            if kill:
                count["dead"] = True
                raise Killed
            raise OSError(errno.ENOSPC, "No space left on device")

    def counted(function):
        def wrapper(*args, **kwargs):
            operation()
            return function(*args, **kwargs)
        return wrapper

    class Writer:
        def __init__(self, handle):
            self.handle = handle

        def write(self, data):
            operation()
            return self.handle.write(data)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def __getattr__(self, name):
            return getattr(self.handle, name)

    real_open = builtins.open

    def opening(file, mode="r", *args, **kwargs):
        if not any(flag in mode for flag in "wax+"):
            return real_open(file, mode, *args, **kwargs)
        operation()
        return Writer(real_open(file, mode, *args, **kwargs))

    with monkeypatch.context() as patch:
        for name in ("mkdir", "replace", "rename", "fsync", "open", "unlink", "rmdir"):
            patch.setattr(os, name, counted(getattr(os, name)))
        patch.setattr(builtins, "open", opening)
        patch.setattr(io, "open", opening)
        yield count


TINY_GENERATOR = """
network: generator
latent_size: 4
image_channels: 3
stages:
  - resolution: 4
    layers: [{type: dense, channels: 4, reshape: [4, 4]}, {type: conv, channels: 4}]
  - {resolution: 8, layers: [{type: upsample}, {type: conv, channels: 4}]}
"""
TINY_DISCRIMINATOR = """
network: discriminator
image_channels: 3
stages:
  - resolution: 8
    from_rgb: [{type: from_rgb, channels: 4}]
    layers: [{type: conv, channels: 4}, {type: downsample}]
  - resolution: 4
    layers: [{type: conv, channels: 4}, {type: dense, channels: 1, activation: linear}]
"""


@pytest.fixture
def small_state(tmp_path):
    """A TrainState and RunSettings of two tiny 8×8 networks, built by hand (no image decoding)."""
    spec = load_spec(str(_write(tmp_path / "g.yaml", TINY_GENERATOR)))
    discriminator_spec = load_spec(str(_write(tmp_path / "d.yaml", TINY_DISCRIMINATOR)))

    def make() -> TrainState:
        torch.manual_seed(0)  # the same weights every time
        generator, discriminator = Generator(spec), Discriminator(discriminator_spec)
        data = RealImages(np.zeros((4, 3, 8, 8), np.uint8), torch.device("cpu"), 0, mirror=True)
        state = TrainState(generator, discriminator, make_ema(generator), torch.Generator().manual_seed(2), data,
                           AdamSettings((0.0, 0.99), 1e-8, {}))
        state.reset_optimizers(1e-3, 1e-3)
        return state

    run_dir = tmp_path / "run"
    settings = RunSettings(generator=spec, discriminator=discriminator_spec,
                           training=load_training_config("pggan-small"), images_dir=str(tmp_path / "images"),
                           run_dir=str(run_dir), sample_dir=str(run_dir / "samples"), model_dir=str(run_dir / "checkpoints"))
    return make, settings


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


POSITION = SimpleNamespace(depth=2, alpha=1.0)


def _generator_weights(checkpoint: Path) -> torch.Tensor:
    return read_checkpoint(checkpoint)["networks"]["generator"]["stages.4x4.0.weight"]


def _assert_loadable(fresh: TrainState, checkpoint: Path) -> None:
    """Every tensor loads into a TrainState and every settings file is whole (RunSettings.load would
    validate the specs too, a second per call)."""
    fresh.load_state_dict(read_checkpoint(checkpoint), str(checkpoint))
    for name in ("run.json", "generator.json", "discriminator.json", "training.json"):
        json.loads((checkpoint / name).read_text())


@pytest.mark.parametrize("same_step", [True, False], ids=["rewrite-of-the-same-step", "next-step"])
def test_a_kill_or_a_full_disk_at_any_file_operation_leaves_a_complete_checkpoint(small_state, monkeypatch, same_step):
    make, settings = small_state
    folder = Path(settings.model_dir)
    state = make()
    state.step = 5
    save_checkpoint(folder, state, settings, POSITION, periodic=True)
    old = _generator_weights(folder / "step-000000005")
    with torch.no_grad():
        state.generator.stages["4x4"][0].weight.add_(1.0)  # the new copy differs from the old
    new = state.generator.state_dict()["stages.4x4.0.weight"].clone()
    state.step = 5 if same_step else 6
    backup = folder.parent / "backup"
    shutil.copytree(folder, backup)
    with file_operations(monkeypatch, None, kill=False) as count:
        save_checkpoint(folder, state, settings, POSITION, periodic=False)
    operations = count["n"]
    RunSettings.load(folder / "step-000000005")
    fresh = make()
    assert operations > 20  # every file, its fsync, the renames and removals are counted

    for kill in (True, False):
        for k in range(1, operations + 1):
            shutil.rmtree(folder)
            shutil.copytree(backup, folder)
            error = None
            with file_operations(monkeypatch, k, kill) as count:
                try:
                    save_checkpoint(folder, state, settings, POSITION, periodic=False)
                except (Killed, TrainingError) as caught:
                    error = caught
            where = f"{'kill' if kill else 'ENOSPC'} at operation {k}"
            latest = latest_checkpoint(folder)
            assert latest is not None, where
            weights = _generator_weights(latest)
            assert torch.equal(weights, old) or torch.equal(weights, new), where
            _assert_loadable(fresh, latest)
            if isinstance(error, TrainingError):
                assert f"{folder}: the disk is full" in str(error) and "a checkpoint needs about" in str(error), where
                assert "is intact" in str(error), where
                assert not [p.name for p in folder.iterdir() if p.name.startswith(".tmp")], where
            if not kill:
                assert isinstance(error, TrainingError) or error is None, where
            # the next write (or a resume) cleans up whatever the kill left, and keeps the periodic one
            save_checkpoint(folder, state, settings, POSITION, periodic=False)
            names = sorted(p.name for p in folder.iterdir())
            assert names == (["step-000000005"] if same_step else ["step-000000005", "step-000000006"]), where
            assert (folder / "step-000000005" / "periodic").exists(), where  # a rewrite stays periodic
            assert torch.equal(_generator_weights(latest_checkpoint(folder)), new), where


def test_a_state_with_nan_weights_is_never_written(small_state):
    make, settings = small_state
    folder = Path(settings.model_dir)
    state = make()
    state.step = 3
    save_checkpoint(folder, state, settings, POSITION, periodic=False)
    with torch.no_grad():
        state.discriminator.stages["4x4"][0].weight[0] = float("nan")
    state.step = 4
    with pytest.raises(TrainingError) as error:
        save_checkpoint(folder, state, settings, POSITION, periodic=False)
    assert "training diverged by step 4: tensor stages.4x4.0.weight of the discriminator holds NaN" in str(error.value)
    assert f"the last good checkpoint, {folder / 'step-000000003'}, is kept" in str(error.value)
    assert [p.name for p in list_checkpoints(folder)] == ["step-000000003"]


# --------------------------------------------------------------------------------------- the lock


def test_a_second_lock_is_refused_and_a_dead_processes_lock_taken_over(tmp_path, caplog):
    first = RunLock(tmp_path)
    first.acquire()
    with pytest.raises(SetupError) as error:
        RunLock(tmp_path).acquire()
    message = str(error.value)
    assert f"another run is writing this folder (pid {os.getpid()} on " in message
    assert f"delete {tmp_path / LOCK_FILE}" in message
    first.release()
    assert not (tmp_path / LOCK_FILE).exists()

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    record = first.record | {"pid": gone.pid, "token": "old"}
    (tmp_path / LOCK_FILE).write_text(json.dumps(record))
    second = RunLock(tmp_path)
    second.acquire()
    assert f"taking over the lock of pid {gone.pid}" in caplog.text
    assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
    second.release()

    (tmp_path / LOCK_FILE).write_text(json.dumps(record | {"host": "elsewhere"}))
    with pytest.raises(SetupError, match="another run is writing this folder .* on elsewhere"):
        RunLock(tmp_path).acquire()
    assert [p.name for p in tmp_path.iterdir()] == [LOCK_FILE]  # no aside file left behind


# ------------------------------------------------------------------------- runs, resumes, tampering


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """An 8×8 run (hinge, batch 8, log_every 1) stopped after 16 of its 24 images, in a folder of its own."""
    root = tmp_path_factory.mktemp("finished")
    images = make_images(root / "images", count=24)
    (root / "g.yaml").write_text("network: generator\nbase: pggan-small\nmax_resolution: 8\n")
    (root / "d.yaml").write_text("network: discriminator\nbase: pggan-small\nmax_resolution: 8\n")
    (root / "t.yaml").write_text("loss: hinge\nfade_kimg: 0.008\nstable_kimg: 0.008\nbatch_size: 8\nlog_every: 1\n")
    command = ["train", "--generator_config", str(root / "g.yaml"), "--discriminator_config", str(root / "d.yaml"),
               "--training_config", str(root / "t.yaml"), "--images_dir", str(images), "--num_workers", "1"]
    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(root / "cache")
    try:
        assert main([*command, "--run_dir", str(root / "run"), "--max_images", "16"]) == 0
    finally:
        os.environ.pop("XDG_CACHE_HOME") if old is None else os.environ.__setitem__("XDG_CACHE_HOME", old)
    return root, command


@pytest.fixture
def run_copy(finished_run, tmp_path):
    """A copy of the finished run with its image folder beside it (so its relative paths hold)."""
    root, command = finished_run
    shutil.copytree(root / "images", tmp_path / "images")
    shutil.copytree(root / "run", tmp_path / "run")
    for name in ("g.yaml", "d.yaml", "t.yaml"):
        shutil.copy(root / name, tmp_path / name)
    return tmp_path / "run", [word.replace(str(root), str(tmp_path)) for word in command]


def _records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "logs" / "metrics.jsonl").read_text().splitlines()]


def test_a_run_on_a_locked_folder_is_refused_before_writing(run_copy, capsys):
    run_dir, _ = run_copy
    lock = RunLock(run_dir)
    lock.record["token"] = "someone else"
    lock.acquire()
    before = sorted(str(p) for p in run_dir.rglob("*"))
    assert main(["train", "--resume", str(run_dir)]) == 1
    error = capsys.readouterr().err
    assert f"error: {run_dir}: another run is writing this folder (pid {os.getpid()}" in error
    assert sorted(str(p) for p in run_dir.rglob("*")) == before
    lock.release()
    assert main(["train", "--resume", str(run_dir)]) == 0  # to the end of the schedule
    assert not (run_dir / LOCK_FILE).exists()


def test_replayed_steps_replace_their_records_in_metrics_jsonl(run_copy):
    run_dir, _ = run_copy
    metrics = run_dir / "logs" / "metrics.jsonl"
    saved_step = load_state(latest_checkpoint(run_dir / "checkpoints") / STATE_FILE)["step"]
    assert [r["step"] for r in _records(run_dir) if "kind" not in r] == list(range(1, saved_step + 1))
    # what a process killed after its checkpoint had logged: two later steps and a half-written line
    with open(metrics, "a") as handle:
        handle.write(json.dumps({"step": saved_step + 1, "images": 0, "loss/D": 9.0}) + "\n")
        handle.write(json.dumps({"step": saved_step + 2, "images": 0, "loss/D": 9.0}) + "\n{\"step\": 1")
    for _ in range(2):  # to the end, then once more with nothing left to train
        assert main(["train", "--resume", str(run_dir)]) == 0
    records = _records(run_dir)
    keys = [(r.get("kind", "scalars"), r["step"]) for r in records]
    assert len(keys) == len(set(keys)), keys
    final_step = load_state(latest_checkpoint(run_dir / "checkpoints") / STATE_FILE)["step"]
    assert final_step > saved_step and [r["step"] for r in records if "kind" not in r] == list(range(1, final_step + 1))
    assert all(r["loss/D"] != 9.0 for r in records if "loss/D" in r)


@pytest.mark.parametrize("tamper, expected", [
    (lambda c: _edit_json(c / "run.json", lambda d: d | {"sead": 1}), "run.json:{sead}: unknown key 'sead' (did you mean 'seed'?)"),
    (lambda c: _edit_json(c / "run.json", lambda d: d | {"seed": "zero"}), "'seed' must be a whole number, found 'zero'"),
    (lambda c: _edit_json(c / "run.json", lambda d: {k: v for k, v in d.items() if k != "images_dir"}),
     "the key 'images_dir' is missing"),
    (lambda c: (c / "run.json").write_text("{\"seed\": 0,\n"), "run.json:2: not valid JSON"),
    (lambda c: (c / "training.json").unlink(), "training.json: missing; the run folder was changed by hand"),
    (lambda c: (c / "generator_ema.safetensors").unlink(),
     "the generator_ema network (generator_ema.safetensors) is missing"),
    (lambda c: _edit_state(c, lambda s: {k: v for k, v in s.items() if k != "data"}), "(data is missing)"),
    (lambda c: _edit_state(c, lambda s: s | {"extra": 1}), "(extra is not an entry of a training state)"),
    (lambda c: _edit_state(c, lambda s: s | {"data": {"order": s["data"]["order"]}}), "KeyError"),
    (lambda c: (c / STATE_FILE).write_bytes(b"not safetensors"), "not a readable training state"),
], ids=["unknown-key", "wrong-type", "missing-key", "torn-json", "missing-file", "missing-network", "missing-entry",
        "extra-entry", "damaged-entry", "damaged-file"])
def test_a_tampered_run_folder_is_refused_with_the_file_and_the_fix(run_copy, capsys, tamper, expected):
    run_dir, _ = run_copy
    checkpoint = latest_checkpoint(run_dir / "checkpoints")
    tamper(checkpoint)
    if "{sead}" in expected:  # the line the key was written on
        lines = (checkpoint / "run.json").read_text().splitlines()
        expected = expected.format(sead=next(n for n, line in enumerate(lines, 1) if '"sead"' in line))
    assert main(["train", "--resume", str(run_dir)]) == 1
    error = capsys.readouterr().err
    assert expected in error and str(checkpoint) in error and "Traceback" not in error, error
    assert "restore" in error or "delete" in error


def _edit_json(path: Path, change) -> None:
    path.write_text(json.dumps(change(json.loads(path.read_text())), indent=2))


def _edit_state(checkpoint: Path, change) -> None:
    from archgan.training.checkpoint import save_state

    save_state(change(load_state(checkpoint / STATE_FILE)), checkpoint / STATE_FILE)


@pytest.mark.parametrize("change", ["added", "renamed"])
def test_a_changed_image_folder_is_refused_on_resume(run_copy, capsys, change):
    run_dir, _ = run_copy
    images = run_dir.parent / "images"
    first = min(images.rglob("*.png"))
    if change == "added":
        shutil.copy(first, images / "new.png")
    else:
        first.rename(first.with_name("renamed.png"))
    assert main(["train", "--resume", str(run_dir)]) == 1
    error = capsys.readouterr().err
    assert "a resumed run trains on the images it started with" in error and "--generator_file" in error, error
    assert ("24 images, but the image folder gives 25" if change == "added" else "the same 24 image files") in error


def test_nan_losses_stop_the_run_with_the_last_good_checkpoint_kept(run_copy, capsys, monkeypatch):
    import archgan.training.trainer as trainer_module

    run_dir, _ = run_copy
    real_step = trainer_module.train_step

    def diverging(context, phases):
        terms = real_step(context, phases)
        if context.state.step >= 3:
            with torch.no_grad():
                for parameter in context.state.generator.parameters():
                    parameter.fill_(float("nan"))
            return {**terms, "loss/G": terms["loss/G"] * float("nan")}
        return terms

    monkeypatch.setattr(trainer_module, "train_step", diverging)
    assert main(["train", "--resume", str(run_dir)]) == 1  # from step 2; log_every 1 reads step 3's losses
    error = capsys.readouterr().err
    assert "error: training diverged by step 3: loss/G is nan" in error, error
    kept = run_dir / "checkpoints" / "step-000000002"
    assert f"the last good checkpoint, {kept}, is kept" in error and "--no-amp" in error and "--g_lr" in error
    assert latest_checkpoint(run_dir / "checkpoints") == kept
    assert not (run_dir / LOCK_FILE).exists()


def test_a_record_of_the_checkpoints_own_step_written_again_replaces_the_first(tmp_path):
    from archgan.training.logging import RunLog

    logs = tmp_path / "logs"
    first = RunLog(logs, tmp_path / "plots")
    for step in (1, 2, 3):
        first.scalars({"loss/D": float(step)}, step, 8 * step)
    first.metrics({"swd": 1.0}, 2, 16, 8)
    first.close()
    resumed = RunLog(logs, tmp_path / "plots", resumed_at=(2, 16))  # step 3 is replayed, step 2's metrics redone
    resumed.metrics({"swd": 2.0}, 2, 16, 8)
    resumed.scalars({"loss/D": 30.0}, 3, 24)
    resumed.close()
    records = [json.loads(line) for line in (logs / "metrics.jsonl").read_text().splitlines()]
    assert [(r.get("kind", "scalars"), r["step"]) for r in records] == [("scalars", 1), ("scalars", 2),
                                                                        ("metrics", 2), ("scalars", 3)]
    assert records[2]["swd"] == 2.0 and records[3]["loss/D"] == 30.0


# ------------------------------------------------------------------------------ non-finite weights


def test_non_finite_weights_are_refused_when_loaded(tmp_path, capsys):
    generator = build_network(load_spec("pggan-small", "generator"))
    with torch.no_grad():
        generator.stages["8x8"][1].weight[0, 0, 0, 0] = float("inf")
    save_weights(generator, tmp_path / "g.safetensors")
    fresh = build_network(load_spec("pggan-small", "generator"))
    with pytest.raises(WeightsError, match=r"g.safetensors: tensor stages.8x8.1.weight \(stage 8×8, layer 1"):
        load_pretrained(fresh, tmp_path / "g.safetensors")
    with pytest.raises(WeightsError, match=r"other.pth: tensor stages.8x8.1.weight .* holds NaN or infinite values"):
        load_weights(fresh, generator.state_dict(), str(tmp_path / "other.pth"))  # as foreign files are loaded
    assert main(["generate", "--generator_file", str(tmp_path / "g.safetensors"), "--out", str(tmp_path / "out")]) == 1
    assert "holds NaN or infinite values" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
