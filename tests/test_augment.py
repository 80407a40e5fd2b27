"""Differentiable augmentation (DiffAugment, ADA): each operation against its plain definition, gradients
through all of them, the adaptive probability's direction, and training with it: logged, resumed exactly,
the same in two processes as in one."""
from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from test_distributed import assert_two_processes_train_as_one, train_run

from archgan.cli import main
from archgan.data.augment import OPERATIONS, normalize_augment
from archgan.data.augment.ops import OPERATIONS as FUNCTIONS
from archgan.data.augment.ops import Augmentation, cutout, translation
from archgan.losses.objectives import LossContext
from archgan.training.checkpoint import load_state
from archgan.training.files import list_checkpoints


def _draws(*values: float) -> torch.Tensor:
    return torch.tensor([values])


def test_every_operation_has_a_function_and_a_doc():
    assert list(FUNCTIONS) == list(OPERATIONS)


@pytest.mark.parametrize("dy, dx", [(2, -1), (-2, 0), (0, 2)])
def test_a_translation_by_k_pixels_moves_the_content_by_k(dy, dx):
    """16×16: shifts of up to 2 pixels; a draw u gives round-down(u·5) − 2."""
    x = torch.zeros(1, 3, 16, 16)
    x[0, :, 7, 8] = 1.0
    moved = translation(x, _draws((dy + 2.5) / 5, (dx + 2.5) / 5))
    assert moved[0, :, 7 + dy, 8 + dx].eq(1).all() and moved.sum() == 3
    edge = torch.ones(1, 1, 16, 16)
    shifted = translation(edge, _draws((dy + 2.5) / 5, (dx + 2.5) / 5))
    assert shifted.sum() == (16 - abs(dy)) * (16 - abs(dx))  # the border it uncovers is 0


def test_cutout_blanks_a_square_of_half_the_side_clipped_at_the_border():
    x = torch.ones(1, 2, 16, 16)
    inside = cutout(x, _draws(8.5 / 17, 8.5 / 17))  # centred at (8, 8): rows and columns 4 … 11
    assert (inside == 0).sum() == 2 * 8 * 8 and inside[0, :, 4:12, 4:12].eq(0).all()
    corner = cutout(x, _draws(0.0, 0.0))  # centred at (0, 0): only its quarter inside
    assert (corner == 0).sum() == 2 * 4 * 4


def test_the_colour_operations_as_defined():
    x = torch.rand(1, 3, 8, 8) * 2 - 1
    brighter = FUNCTIONS["brightness"](x, _draws(0.9, 0))
    assert torch.allclose(brighter - x, torch.full_like(x, 0.4))
    saturated = FUNCTIONS["saturation"](x, _draws(0.75, 0))  # ×1.5 away from each pixel's channel mean
    assert torch.allclose(saturated.mean(1), x.mean(1), atol=1e-6)
    assert torch.allclose(saturated - x.mean(1, keepdim=True), 1.5 * (x - x.mean(1, keepdim=True)), atol=1e-6)
    contrasted = FUNCTIONS["contrast"](x, _draws(0.25, 0))  # ×0.75 away from the image's mean
    assert torch.allclose(contrasted.mean(), x.mean(), atol=1e-6)
    assert torch.allclose(contrasted - x.mean(), 0.75 * (x - x.mean()), atol=1e-6)
    assert torch.equal(FUNCTIONS["flip"](x, _draws(0, 0)), x.flip(3))
    assert torch.equal(FUNCTIONS["rotate90"](x, _draws(0.5, 0)), torch.rot90(x, 2, dims=(2, 3)))


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_gradients_flow_through_every_operation(name):
    x = torch.randn(4, 3, 16, 16, requires_grad=True)
    augment = Augmentation(normalize_augment({"ops": [name]}), torch.device("cpu"))
    out = augment(x, LossContext(16, 16, torch.Generator().manual_seed(0)))
    (out * torch.randn_like(out)).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_the_probability_says_how_often_an_operation_is_applied():
    x = torch.randn(400, 1, 4, 4)
    context = LossContext(4, 4, torch.Generator().manual_seed(0))
    for probability, share in ((0.0, 0.0), (0.3, 0.3), (1.0, 1.0)):
        augment = Augmentation(normalize_augment({"ops": ["flip"], "probability": probability}), torch.device("cpu"))
        flipped = (augment(x, context) != x).flatten(1).any(1).float().mean().item()
        assert flipped == pytest.approx(share, abs=0.06)


def test_ada_raises_p_against_an_overfitting_discriminator_and_lowers_it_otherwise():
    """r_t = E[sign(D(real))]: a discriminator that knows the reals by heart scores them all positive."""
    augment = Augmentation(normalize_augment({"adaptive": {"target": 0.6, "kimg": 1}}), torch.device("cpu"))
    assert augment.probability == 0  # ADA starts at 0
    sums = lambda values: values  # one process
    for _ in range(3):
        augment.record(torch.full((16,), 5.0))
        augment.adjust(64, sums)
    assert augment.probability.item() == pytest.approx(3 * 64 / 1000) and augment.rate == 1
    augment.record(torch.tensor([1.0, -1.0, -2.0, 3.0]))  # r_t 0: not overfitting
    augment.adjust(64, sums)
    assert augment.probability.item() == pytest.approx(2 * 64 / 1000) and augment.rate == 0
    for _ in range(10):
        augment.record(-torch.ones(8))
        augment.adjust(64, sums)
    assert augment.probability == 0  # clamped


@pytest.fixture
def augmented(write) -> list[str]:
    generator = write("network: generator\nbase: pggan-small\nmax_resolution: 16\n", "a/generator.yaml")
    discriminator = write("network: discriminator\nbase: pggan-small\nmax_resolution: 16\n", "a/discriminator.yaml")
    training = write("loss: {type: logistic, r1_gamma: 1, r1_interval: 2}\nbatch_size: 8\nfade_kimg: 0.016\n"
                     "stable_kimg: 0.016\nlog_every: 1\naugment: {ops: [flip, translation, cutout, brightness], "
                     "probability: 0.5, adaptive: {interval: 2, kimg: 0.1}}\n", "a/training.yaml")
    return ["--generator_config", str(generator), "--discriminator_config", str(discriminator),
            "--training_config", str(training)]



def test_an_augmented_run_logs_p_and_resumes_exactly(augmented, image_folder, tmp_path):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert train_run(augmented, image_folder, whole, "--max_images", "96") == 0
    assert train_run(augmented, image_folder, parts, "--max_images", "40") == 0
    assert main(["train", "--resume", str(parts), "--max_images", "96"]) == 0
    for name in ("generator.safetensors", "discriminator.safetensors"):
        a = load_file(list_checkpoints(whole / "checkpoints")[-1] / name)
        b = load_file(list_checkpoints(parts / "checkpoints")[-1] / name)
        assert all(torch.equal(a[key], b[key]) for key in a), name
    states = [load_state(list_checkpoints(run / "checkpoints")[-1] / "training_state.safetensors")["augment"]
              for run in (whole, parts)]
    assert all(torch.equal(states[0][key], states[1][key]) for key in states[0])
    records = [json.loads(line) for line in (whole / "logs" / "metrics.jsonl").read_text().splitlines()]
    probabilities = [r["augment/p"] for r in records if "augment/p" in r]
    assert len(probabilities) == len(records) and len(set(probabilities)) > 1  # it moved
    assert all(-1 <= r["augment/r_t"] <= 1 for r in records if "augment/r_t" in r)


def test_two_processes_augment_a_conditional_network_as_one(write, image_folder, tmp_path):
    """One torchrun run for the augmentation's draws and ADA's probability (its sign counts summed over the
    processes), the real batch's labels shared among them (pggan-conditional for the folder's three classes),
    and a lazy R1 on every second step, whose scores × 0 keep DDP reducing the score's bias."""
    extra = "inputs: {label: {classes: 3}}\nmax_resolution: 16\n"
    generator = write(f"network: generator\nbase: pggan-conditional\n{extra}", "c/generator.yaml")
    discriminator = write(f"network: discriminator\nbase: pggan-conditional\n{extra}", "c/discriminator.yaml")
    training = write("loss: {type: logistic, r1_gamma: 1, r1_interval: 2}\nbatch_size: 8\nfade_kimg: 0.016\n"
                     "stable_kimg: 0.016\nlog_every: 1\naugment: {ops: [flip, translation, cutout, brightness], "
                     "probability: 0.5, adaptive: {interval: 2, kimg: 0.1}}\n", "c/training.yaml")
    files = ["--generator_config", str(generator), "--discriminator_config", str(discriminator),
             "--training_config", str(training)]
    one, two = assert_two_processes_train_as_one(files, image_folder, tmp_path)
    p = [[json.loads(line).get("augment/p") for line in (run / "logs" / "metrics.jsonl").read_text().splitlines()]
         for run in (one, two)]
    assert p[0] == pytest.approx(p[1])
