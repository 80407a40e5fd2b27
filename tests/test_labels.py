"""Class labels: the layers that read them (computed as their definitions say), networks that declare them,
labelled image folders (subfolders or a labels file), and class-conditional training that resumes exactly,
trains in two processes as in one, draws a row per class and exports with the label as an input."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from test_distributed import train_run

from archgan import load_generator
from archgan.cli import main
from archgan.errors import SetupError
from archgan.networks import build_network
from archgan.spec import SpecError, load_spec
from archgan.training.files import list_checkpoints
from archgan.training.plan import check_fit
from archgan.training.config import load_training_config

CLASSES = 3  # the conftest image folder: group0, group1, group2


@pytest.fixture
def conditional(write) -> list[str]:
    """pggan-conditional for the three classes of the test folder, up to 16×16."""
    extra = f"inputs: {{label: {{classes: {CLASSES}}}}}\nmax_resolution: 16\n"
    generator = write(f"network: generator\nbase: pggan-conditional\n{extra}", "c/generator.yaml")
    discriminator = write(f"network: discriminator\nbase: pggan-conditional\n{extra}", "c/discriminator.yaml")
    training = write("loss: {type: logistic, r1_gamma: 1, r1_interval: 2}\nbatch_size: 8\nfade_kimg: 0.016\n"
                     "stable_kimg: 0.016\nlog_every: 1\n", "c/training.yaml")
    return ["--generator_config", str(generator), "--discriminator_config", str(discriminator),
            "--training_config", str(training)]


def _label_spec(write, layers: str, role: str = "discriminator", inputs: str = "inputs: {label: {classes: 4}}\n"):
    head = "from_rgb: [{type: from_rgb, channels: 6}]\n    " if role == "discriminator" else ""
    latent = "latent_size: 8\n" if role == "generator" else ""
    return load_spec(write(f"network: {role}\n{latent}{inputs}stages:\n  - resolution: 4\n    {head}layers: {layers}\n"
                           + ("    to_rgb: [{type: to_rgb}]\n" if role == "generator" else ""), f"{role}.yaml"))


# ----------------------------------------------------------------------------------------- layers


def test_label_embedding_joins_the_embedding_or_the_one_hot_vector(write):
    spec = _label_spec(write, "[{type: label_embedding, channels: 5, name: e}, {type: label_embedding, mode: one_hot},"
                       " {type: dense, channels: 16, reshape: [2, 2]}, {type: upsample}]", role="generator")
    network = build_network(spec)
    z, label = torch.randn(3, 8), torch.tensor([0, 3, 1])
    stage = network.stage(0)
    out = stage[1](stage.e(z.view(3, 8, 1, 1), {"label": label}), {"label": label})
    table = stage.e.embedding.weight
    assert torch.equal(out[:, :8, 0, 0], z) and torch.equal(out[:, 8:13, 0, 0], table[label])
    assert torch.equal(out[:, 13:, 0, 0], F.one_hot(label, 4).float())
    assert torch.equal(network(z, label=label), network(z, label=label.int()))  # int32 labels work too


def test_conditional_batchnorm_scales_and_shifts_by_class(write):
    spec = _label_spec(write, "[{type: conditional_batchnorm, name: n}, {type: flatten}, {type: projection, name: p}]")
    stage = build_network(spec).stage(0)
    h, label = torch.randn(5, 6, 4, 4), torch.tensor([0, 1, 2, 3, 1])
    with torch.no_grad():
        stage.n.scale.weight.uniform_(0.5, 2)
        stage.n.shift.weight.normal_()
    expected = F.batch_norm(h, None, None, training=True) * stage.n.scale.weight[label].view(5, 6, 1, 1) \
        + stage.n.shift.weight[label].view(5, 6, 1, 1)
    assert torch.allclose(stage.n(h, {"label": label}), expected, atol=1e-5)


def test_the_projection_head_adds_the_inner_product_with_the_class_embedding(write):
    spec = _label_spec(write, "[{type: flatten}, {type: projection, name: p}]")
    network = build_network(spec)
    head = network.stage(0).p
    h, label = torch.randn(5, 96), torch.tensor([0, 1, 2, 3, 1])
    expected = head.dense(h) + (head.embedding.weight[label] * h).sum(1, keepdim=True)
    assert torch.allclose(head(h, {"label": label}), expected, atol=1e-6)
    assert sum(p.numel() for p in head.parameters()) == 96 * (1 + 4) + 1
    images = torch.randn(5, 3, 4, 4)
    scores = network(images, label=label)
    assert scores.shape == (5,) and not torch.allclose(scores, network(images, label=(label + 1) % 4))


def test_label_select_picks_the_score_of_each_samples_class(write):
    spec = _label_spec(write, "[{type: flatten}, {type: dense, channels: 4, name: scores}, {type: label_select}]")
    network = build_network(spec)
    images, label = torch.randn(5, 3, 4, 4), torch.tensor([0, 1, 2, 3, 1])
    stage = network.stage(0)
    every = stage.scores(stage[0](network.head(0)(images)))
    assert torch.allclose(network(images, label=label), every[torch.arange(5), label])
    assert torch.equal(network(images, label=label.int()), network(images, label=label))
    with pytest.raises(SpecError, match=r"label_select picks one of 4 scores, one per class, but receives 3 values"):
        _label_spec(write, "[{type: flatten}, {type: dense, channels: 3}, {type: label_select}]")


def test_the_auxiliary_classifier_gives_the_score_and_one_logit_per_class(write):
    spec = _label_spec(write, "[{type: flatten}, {type: auxiliary_classifier, weight: 0.5, name: head}]")
    network = build_network(spec)
    assert sum(p.numel() for p in network.parameters()) == 3 * 6 + 6 + (6 * 16 + 1) * 5  # from_rgb, the head
    images, label = torch.randn(5, 3, 4, 4), torch.tensor([0, 1, 2, 3, 1])
    stage = network.stage(0)
    every = stage.head(stage[0](network.head(0)(images)))
    scores, logits = network(images, label=label, logits=True)
    assert torch.equal(scores, every[:, 0]) and torch.equal(logits, every[:, 1:]) and logits.shape == (5, 4)
    assert torch.equal(network(images, label=label), scores)
    with pytest.raises(SpecError, match="an auxiliary_classifier gives the score and the class logits: it is the last"):
        _label_spec(write, "[{type: flatten}, {type: auxiliary_classifier}, {type: dense, channels: 1}]")


def test_the_classification_loss_reads_the_logits_of_the_pass_the_loss_made(write):
    """weight × cross-entropy with the labels, per image batch, from the logits of the scoring pass (a
    detached copy of the images, as R1 makes, included): no second pass through D."""
    from types import SimpleNamespace

    from archgan.training.step import MicroBatch, StepContext

    network = build_network(_label_spec(write, "[{type: flatten}, {type: auxiliary_classifier, weight: 0.5}]"))
    passes = []
    network.register_forward_hook(lambda module, args, output: passes.append(1))
    labels = torch.tensor([0, 1, 2, 3, 1, 0])
    context = StepContext(state=SimpleNamespace(discriminator=network, augment=None), position=SimpleNamespace(depth=1, alpha=1.0),
                          stage=None, loss=None, loss_context=None, generator=None, discriminator=network, labels=labels)
    micro = MicroBatch(1.0, None, None, True)
    critic = context.critic(micro)
    real, fake = torch.randn(6, 3, 4, 4), torch.randn(6, 3, 4, 4)
    scores = critic(real.detach().requires_grad_(True)) + critic(fake)
    terms = context.classified({"loss": scores.mean()}, critic, micro, real, fake)
    assert len(passes) == 2
    expected = 0.5 * (F.cross_entropy(network(real, label=labels, logits=True)[1], labels)
                      + F.cross_entropy(network(fake, label=labels, logits=True)[1], labels))
    assert torch.allclose(terms["ac"], expected) and torch.allclose(terms["loss"], scores.mean() + expected)


@pytest.mark.parametrize("layers, inputs, message", [
    ("[{type: flatten}, {type: projection}]", "", "projection reads the class label, but the network takes none: "
     "declare it at the top of the file, e.g. `inputs: {label: {classes: 10}}`"),
    ("[{type: flatten}, {type: dense, channels: 1}]", "inputs: {label: {classes: 4}}\n",
     "the discriminator declares a label input, but none of its layers reads it"),
    ("[{type: projection}]", "inputs: {label: {classes: 4}}\n", "put a {type: global_pool} or {type: flatten} before it"),
    ("[{type: flatten}, {type: projection}]", "inputs: {label: {classes: 1}}\n", "at $.inputs.label.classes: value out of range"),
])
def test_label_mistakes_in_specs_are_told(layers, inputs, message, write):
    with pytest.raises(SpecError) as caught:
        _label_spec(write, layers, inputs=inputs)
    assert message in str(caught.value)


def test_networks_refuse_missing_unknown_and_out_of_range_labels():
    generator = build_network(load_spec("pggan-conditional", "generator"))
    z = torch.randn(2, 128)
    with pytest.raises(ValueError, match=r"takes label= \(label missing\); a label is a class per sample, 0 to 9"):
        generator(z)
    with pytest.raises(ValueError, match=r"\(got colours\)"):
        generator(z, label=torch.tensor([0, 1]), colours=torch.zeros(2))
    with pytest.raises(ValueError, match="has no mapping network: it takes no styles"):
        generator(z, label=torch.tensor([0, 1]), styles=torch.zeros(2))
    with pytest.raises(ValueError, match="labels must be classes 0 to 9, got 0 to 10"):
        generator(z, label=torch.tensor([0, 10]))
    with pytest.raises(ValueError, match="label must be 2 integers"):
        generator(z, label=torch.tensor([0.0, 1.0]))


def test_a_conditional_generator_needs_a_conditional_discriminator():
    with pytest.raises(SetupError, match="the generator takes labels of 10 classes but the discriminator no labels"):
        check_fit(load_spec("pggan-conditional", "generator"), load_spec("pggan-small", "discriminator"),
                  load_training_config(None))


# ------------------------------------------------------------------------------------- training



def test_class_conditional_training_draws_a_row_per_class_and_records_the_classes(conditional, image_folder, tmp_path,
                                                                                    capsys):
    run = tmp_path / "run"
    assert train_run(conditional, image_folder, run) == 0
    checkpoint = list_checkpoints(run / "checkpoints")[-1]
    assert json.loads((checkpoint / "dataset.json").read_text())["classes"] == ["group0", "group1", "group2"]
    final = next((run / "samples").glob("16x16-stable-*-final.png"))
    from PIL import Image

    with Image.open(final) as grid:  # 8 columns, 3 rows of 16×16 images enlarged ×2, 2-pixel padding
        assert grid.size == (8 * 34 + 2, CLASSES * 34 + 2)
    generator = load_generator(None, checkpoint / "generator_ema.safetensors")
    images = generator(torch.randn(4, 128), label=torch.tensor([0, 1, 2, 2]))
    assert images.shape == (4, 3, 16, 16)
    out = tmp_path / "class2"
    assert main(["generate", "--generator_file", str(checkpoint / "generator_ema.safetensors"), "--num", "3",
                 "--class", "2", "--out", str(out)]) == 0
    assert len(list(out.glob("*.png"))) == 3
    capsys.readouterr()
    assert main(["generate", "--generator_file", str(checkpoint / "generator_ema.safetensors"), "--class", "3",
                 "--out", str(out)]) == 1
    assert "--class 3: class 3: " in capsys.readouterr().err
    onnx = pytest.importorskip("onnxruntime")
    assert main(["export", "--generator_file", str(checkpoint / "generator_ema.safetensors"), "--format", "onnx",
                 "--out", str(tmp_path / "g.onnx")]) == 0
    session = onnx.InferenceSession(str(tmp_path / "g.onnx"))
    assert [i.name for i in session.get_inputs()] == ["z", "label"]
    z, label = torch.randn(3, 128), torch.tensor([2, 0, 1])
    exported = session.run(None, {"z": z.numpy(), "label": label.numpy()})[0]
    assert torch.allclose(torch.from_numpy(exported), generator.eval()(z, label=label), atol=1e-4)


@pytest.mark.parametrize("loss", ["wgan-gp", "hinge", "relativistic-hinge", "lsgan"])
def test_every_loss_trains_a_conditional_network(loss, conditional, image_folder, tmp_path):
    """(logistic with lazy R1 is the fixture's own loss, trained by the tests above)"""
    run = tmp_path / "run"
    assert train_run(conditional, image_folder, run, "--loss_function", loss, "--max_images", "48") == 0
    records = [json.loads(line) for line in (run / "logs" / "metrics.jsonl").read_text().splitlines()]
    assert records and all(torch.isfinite(torch.tensor([r["loss/D"], r["loss/G"]])).all() for r in records)


def test_an_ac_gan_trains_with_its_classification_losses(conditional, image_folder, write, tmp_path):
    """pggan-conditional's discriminator with an auxiliary classifier in place of the projection head."""
    discriminator = write(f"""network: discriminator
base: pggan-conditional
inputs: {{label: {{classes: {CLASSES}}}}}
max_resolution: 16
stages:
  - {{resolution: 32, from_rgb: [{{type: from_rgb, channels: 32}}], layers: [{{use: down, in: 32, out: 64}}]}}
  - {{resolution: 16, layers: [{{use: down, in: 64, out: 128}}]}}
  - {{resolution: 8, layers: [{{use: down, in: 128, out: 128}}]}}
  - resolution: 4
    layers: [{{use: score, channels: 128}}]
templates:
  score:
    params: [channels]
    layers: [{{type: flatten}}, {{type: dense, channels: $channels}}, {{type: auxiliary_classifier, equalized_lr: true}}]
""", "ac/discriminator.yaml")
    arguments = list(conditional)
    arguments[arguments.index("--discriminator_config") + 1] = str(discriminator)
    run = tmp_path / "run"
    assert train_run(arguments, image_folder, run, "--max_images", "48") == 0
    records = [json.loads(line) for line in (run / "logs" / "metrics.jsonl").read_text().splitlines()]
    assert all(torch.isfinite(torch.tensor([r["loss/D_ac"], r["loss/G_ac"]])).all() for r in records if "loss/D" in r)


def test_a_resumed_conditional_run_continues_exactly(conditional, image_folder, tmp_path):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert train_run(conditional, image_folder, whole, "--max_images", "96") == 0
    assert train_run(conditional, image_folder, parts, "--max_images", "40") == 0
    assert main(["train", "--resume", str(parts), "--max_images", "96"]) == 0
    a = load_file(list_checkpoints(whole / "checkpoints")[-1] / "generator.safetensors")
    b = load_file(list_checkpoints(parts / "checkpoints")[-1] / "generator.safetensors")
    assert all(torch.equal(a[key], b[key]) for key in a)


def test_a_resume_with_other_classes_is_refused(conditional, image_folder, tmp_path, capsys):
    """A label means one class all through a run: a renamed class folder (or another --labels file) is refused."""
    run = tmp_path / "run"
    assert train_run(conditional, image_folder, run, "--max_images", "16") == 0
    (image_folder / "group2").rename(image_folder / "renamed")
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--max_images", "32"]) == 1
    assert ("the run was trained with the classes ['group0', 'group1', 'group2'] (in " in capsys.readouterr().err)
    (tmp_path / "labels.json").write_text("{}")
    assert main(["train", "--resume", str(run), "--labels", str(tmp_path / "labels.json")]) == 1
    assert "--labels: the run in" in capsys.readouterr().err


def test_a_dry_run_counts_the_classes_from_the_file_names(conditional, image_folder, tmp_path, capsys):
    assert train_run(conditional, image_folder, tmp_path / "run", "--dry-run") == 0
    assert "classes: group0 (14), group1 (13), group2 (13)" in capsys.readouterr().out
    assert not (tmp_path / "run").exists()


def test_labels_from_a_file_and_what_an_unlabelled_folder_is_told(conditional, image_folder, tmp_path, capsys):
    files = sorted(str(p.relative_to(image_folder)) for p in image_folder.rglob("*.*"))
    (tmp_path / "labels.json").write_text(json.dumps({name: index % CLASSES for index, name in enumerate(files)}))
    assert train_run(conditional, image_folder, tmp_path / "run", "--labels", str(tmp_path / "labels.json"),
                "--max_images", "16") == 0
    (tmp_path / "partial.json").write_text(json.dumps({name: 0 for name in files[1:]}))
    capsys.readouterr()
    assert train_run(conditional, image_folder, tmp_path / "run2", "--labels", str(tmp_path / "partial.json")) == 1
    assert f"1 image(s) of the folder have no class here (e.g. {files[0]})" in capsys.readouterr().err
    flat = tmp_path / "flat"
    flat.mkdir()
    for path in sorted(image_folder.rglob("*.png"))[:4]:
        (flat / path.name).write_bytes(path.read_bytes())
    assert train_run(conditional, flat, tmp_path / "run3") == 1
    assert "a class-conditional network learns one class per subfolder, but 4 image(s) are not in one" in \
        capsys.readouterr().err
    assert main(["train", "--images_dir", str(image_folder), "--run_dir", str(tmp_path / "run5"), "--labels",
                 str(tmp_path / "labels.json")]) == 1
    assert "these networks take no class label" in capsys.readouterr().err
    two = image_folder / "group2"
    for path in two.iterdir():
        path.rename(image_folder / "group1" / f"moved-{path.name}")
    two.rmdir()
    assert train_run(conditional, image_folder, tmp_path / "run4") == 1
    assert ("the images are of 2 classes (group0, group1), but the networks take 3; set `inputs: {label: "
            "{classes: 2}}` in both network files") in capsys.readouterr().err
