"""Checkpoint files: pickle-free state, atomic writes, what is kept, and weights that do not fit."""
from __future__ import annotations

import pytest
import torch

from archgan.networks import build_network
from archgan.errors import WeightsError
from archgan.networks.weights import load_weights, load_weights_file, read_weights, save_weights, trained_position
from archgan.spec import load_spec, load_spec_text
from archgan.training.checkpoint import load_state, prune, save_state, write_checkpoint
from archgan.training.files import PERIODIC_MARK, STATE_FILE, latest_checkpoint, list_checkpoints


def test_optimizer_and_rng_state_round_trip_without_pickle(tmp_path):
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters(), 0.01, betas=(0.0, 0.99))
    model(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    state = {"optimizer": optimizer.state_dict(), "rng": torch.get_rng_state(), "step": 7, "nested": [1, {"a": None}]}
    save_state(state, tmp_path / "state.safetensors")
    loaded = load_state(tmp_path / "state.safetensors")
    assert loaded["step"] == 7 and loaded["nested"] == [1, {"a": None}]
    assert torch.equal(loaded["rng"], state["rng"])
    fresh = torch.optim.Adam(model.parameters(), 0.01, betas=(0.0, 0.99))
    fresh.load_state_dict(loaded["optimizer"])
    assert torch.equal(fresh.state_dict()["state"][0]["exp_avg_sq"], optimizer.state_dict()["state"][0]["exp_avg_sq"])
    assert fresh.state_dict()["param_groups"] == optimizer.state_dict()["param_groups"]


def _fill(folder, marker: bool = False):
    save_state({"x": torch.zeros(1)}, folder / STATE_FILE)
    if marker:
        (folder / PERIODIC_MARK).touch()


def test_a_failed_write_leaves_no_checkpoint(tmp_path):
    def broken(folder):
        _fill(folder)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_checkpoint(tmp_path, 5, broken)
    assert list_checkpoints(tmp_path) == [] and latest_checkpoint(tmp_path) is None
    write_checkpoint(tmp_path, 6, _fill)
    prune(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["step-000000006"]  # the torn temporary folder is gone


def test_periodic_checkpoints_and_the_latest_are_kept(tmp_path):
    write_checkpoint(tmp_path, 1, lambda f: _fill(f, marker=True))
    write_checkpoint(tmp_path, 2, _fill)
    write_checkpoint(tmp_path, 3, _fill)
    write_checkpoint(tmp_path, 4, lambda f: _fill(f, marker=True))
    write_checkpoint(tmp_path, 5, _fill)
    prune(tmp_path)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-000000001", "step-000000004", "step-000000005"]


def test_weights_carry_their_spec(tmp_path):
    generator = build_network(load_spec("pggan-small", "generator"))
    save_weights(generator, tmp_path / "g.safetensors")
    file = read_weights(tmp_path / "g.safetensors")
    rebuilt = build_network(load_spec_text(file.spec_json))
    load_weights(rebuilt, file.tensors, "g.safetensors")
    z = torch.randn(2, 128)
    assert torch.equal(rebuilt(z, 2), generator(z, 2))
    assert (file.depth, file.alpha) == (None, None)  # not written by a run: the file does not say
    save_weights(generator, tmp_path / "trained.safetensors", depth=3, alpha=0.25)
    assert (read_weights(tmp_path / "trained.safetensors").depth, trained_position(tmp_path / "trained.safetensors")) \
        == (3, (3, 0.25))


def test_weights_and_json_files_get_the_same_permissions(tmp_path):
    import os

    save_weights(build_network(load_spec("pggan-small", "generator")), tmp_path / "g.safetensors")
    (tmp_path / "g.json").write_text("{}")
    save_state({"step": 1}, tmp_path / "state.safetensors")
    modes = {os.stat(tmp_path / name).st_mode & 0o777 for name in ("g.safetensors", "g.json", "state.safetensors")}
    assert len(modes) == 1


def test_a_tensor_from_the_file_is_labelled_with_the_files_own_layer(tmp_path, write):
    """The file has a conv where the target spec has a pixelnorm: its tensor is named as the file's conv."""
    with_conv = write("network: generator\nbase: pggan-small\nmax_resolution: 8\nstages:\n"
                      "  - {resolution: 4, layers: [{type: pixelnorm}, {type: dense, channels: 16, reshape: [4, 4]},"
                      " {type: conv, channels: 16}]}\n"
                      "  - {resolution: 8, layers: [{type: upsample}, {type: conv, channels: 16}]}\n", "a/g.yaml")
    with_norm = write("network: generator\nbase: pggan-small\nmax_resolution: 8\nstages:\n"
                      "  - {resolution: 4, layers: [{type: pixelnorm}, {type: dense, channels: 16, reshape: [4, 4]},"
                      " {type: pixelnorm}, {type: conv, channels: 16}]}\n"
                      "  - {resolution: 8, layers: [{type: upsample}, {type: conv, channels: 16}]}\n", "b/g.yaml")
    save_weights(build_network(load_spec(with_conv)), tmp_path / "conv.safetensors")
    with pytest.raises(WeightsError) as caught:
        load_weights_file(build_network(load_spec(with_norm)), tmp_path / "conv.safetensors")
    message = str(caught.value)
    assert "stages.4x4.2.weight [16×16×3×3] — stage 4×4, layer 2 (conv 3×3) in the file's spec" in message
    assert "missing tensors (2):\n    stages.4x4.3.weight [16×16×3×3] — stage 4×4, layer 3 (conv 3×3)" in message


def test_one_error_lists_every_mismatch(tmp_path):
    small = build_network(load_spec("pggan-small", "generator"))
    state = dict(small.state_dict())
    state.pop("stages.8x8.1.weight")
    state["stages.64x64.0.weight"] = torch.zeros(1)
    state["stages.16x16.1.weight"] = torch.zeros(7, 7, 3, 3)
    with pytest.raises(WeightsError) as caught:
        load_weights(build_network(load_spec("pggan-small", "generator")), state, "weights.safetensors")
    message = str(caught.value)
    assert "weights.safetensors: the weights do not fit the network 'pggan-small'" in message
    assert "missing tensors (1):\n    stages.8x8.1.weight [128×128×3×3] — stage 8×8, layer 1 (conv 3×3)" in message
    assert ("unexpected tensors (1):\n    stages.64x64.0.weight [1] — a 64×64 stage, which this spec does not "
            "have") in message
    assert ("shape mismatches (1):\n    stages.16x16.1.weight: expected [64×128×3×3], found [7×7×3×3] — "
            "stage 16×16, layer 1 (conv 3×3)") in message
    report = load_weights(build_network(load_spec("pggan-small", "generator")), state, "w", strict=False)
    assert report.missing == ["stages.8x8.1.weight"] and report.misshapen == ["stages.16x16.1.weight"]
