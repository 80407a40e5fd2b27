"""Images at every scale: a network's `images` (last, skip, all) and a discriminator's `merge`, stages without
an image head, what the trainer and the losses do with one image per stage (MSG-GAN), and the built-in
msggan (akanimax/BMSG-GAN's counts)."""
from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

from archgan.cli import main
from archgan.errors import SetupError
from archgan.losses import build_loss, normalize_loss
from archgan.losses.objectives import LossContext
from archgan.networks import build_network
from archgan.networks.fade import upsample_old_image
from archgan.networks.images import real_pyramid
from archgan.spec import SpecError, load_spec
from archgan.spec.stages import every_plan, plan_problem
from archgan.spec.summary import total_parameters
from archgan.training.config import load_training_config
from archgan.training.plan import RunPlan

GENERATOR = """
network: generator
latent_size: 8
images: {images}
fade_resample: {resample}
defaults: {{conv: {{activation: lrelu}}}}
to_rgb: [{{type: to_rgb}}]
stages:
  - {{resolution: 4, layers: [{{type: dense, channels: 8, reshape: [4, 4]}}]}}
  - {{resolution: 8, layers: [{{type: upsample}}, {{type: conv, channels: 6}}]}}
  - {{resolution: 16, layers: [{{type: upsample}}, {{type: conv, channels: 4}}]}}
"""

DISCRIMINATOR = """
network: discriminator
images: {images}
merge: {merge}
defaults: {{conv: {{activation: lrelu}}}}
stages:
  - resolution: 16
    from_rgb: [{{type: from_rgb, channels: 4}}]
    layers: [{{type: conv, channels: 6}}, {{type: downsample}}]
  - resolution: 8
    from_rgb: [{{type: from_rgb, channels: {width8}}}]
    layers: [{{type: conv, channels: 8}}, {{type: downsample}}]
  - resolution: 4
    from_rgb: [{{type: from_rgb, channels: {width4}}}]
    layers: [{{type: minibatch_stddev}}, {{type: dense, channels: 1}}]
"""


def d_text(images: str, merge: str, width8, width4) -> str:
    """The discriminator file above; a discriminator with images: last states no merge (it merges nothing)."""
    text = DISCRIMINATOR.format(images=images, merge=merge, width8=width8, width4=width4)
    return text.replace(f"merge: {merge}\n", "") if images == "last" else text


def generator(write, images: str, resample: str = "nearest"):
    torch.manual_seed(0)
    return build_network(load_spec(write(GENERATOR.format(images=images, resample=resample), f"g-{images}.yaml")))


def discriminator(write, images: str, merge: str = "concat"):
    widths = {"concat": (3, 5), "sum": (6, 8)}[merge]
    text = d_text(images, merge, widths[0], widths[1])
    torch.manual_seed(0)
    return build_network(load_spec(write(text, f"d-{images}-{merge}.yaml")))


# ---------------------------------------------------------------------------------------- generators


@pytest.mark.parametrize("resample", ["nearest", "fir"])
def test_a_skip_generator_sums_the_upsampled_images_of_every_stage(write, resample):
    network = generator(write, "skip", resample).eval()
    z = torch.randn(3, 8)
    with torch.no_grad():
        h4 = network.stage(0)(z.view(3, 8, 1, 1))
        h8 = network.stage(1)(h4)
        h16 = network.stage(2)(h8)
        rgb = [network.head(i)(h) for i, h in enumerate((h4, h8, h16))]
        up = lambda image: upsample_old_image(image, resample)
        assert torch.allclose(network(z), up(up(rgb[0]) + rgb[1]) + rgb[2], atol=1e-6)
        assert torch.allclose(network(z, depth=2), up(rgb[0]) + rgb[1], atol=1e-6)
        # fading the 16×16 stage in adds its image times alpha: alpha 0 is the 8×8 sum brought up
        assert torch.allclose(network(z, 3, 0.0), up(up(rgb[0]) + rgb[1]), atol=1e-6)
        assert torch.allclose(network(z, 3, 0.25), up(up(rgb[0]) + rgb[1]) + 0.25 * rgb[2], atol=1e-6)
    assert [plan.heads for plan in every_plan(network.spec)][-1] == (0, 1, 2)  # every head runs (and trains)


def test_an_all_generator_gives_every_stage_image_lowest_first_and_does_not_fade(write):
    network = generator(write, "all").eval()
    with torch.no_grad():
        images = network(torch.randn(2, 8))
        assert [tuple(image.shape) for image in images] == [(2, 3, 4, 4), (2, 3, 8, 8), (2, 3, 16, 16)]
        assert [tuple(image.shape[-1:]) for image in network(torch.randn(2, 8), depth=2)] == [(4,), (8,)]
    assert [(plan.depth, plan.fading) for plan in every_plan(network.spec)] == [(1, False), (2, False), (3, False)]
    with pytest.raises(ValueError, match="does not fade in"):
        network(torch.randn(2, 8), 3, 0.5)


# ------------------------------------------------------------------------------------ discriminators


def test_an_all_discriminator_concatenates_each_from_rgb_before_the_features_from_above(write):
    network = discriminator(write, "all").eval()
    images = [torch.randn(4, 3, size, size) for size in (4, 8, 16)]
    with torch.no_grad():
        x = network.stage(0)(network.head(0)(images[2]))
        x = network.stage(1)(torch.cat([network.head(1)(images[1]), x], dim=1))
        x = network.stage(2)(torch.cat([network.head(2)(images[0]), x], dim=1))
        assert torch.allclose(network(images), x.reshape(4), atol=1e-6)
    assert [(plan.depth, plan.fading) for plan in every_plan(network.spec)] == [(3, False)]  # concat: full depth only
    assert "runs at its full depth only" in plan_problem(network.spec, 2, False)
    with pytest.raises(ValueError, match=r"a list of images \[N, 3×4×4\], \[N, 3×8×8\], \[N, 3×16×16\]"):
        network(images[2])
    with pytest.raises(ValueError, match="lowest resolution first"):
        network(images[::-1])


def test_a_skip_discriminator_adds_each_from_rgb_of_the_downsampled_image(write):
    network = discriminator(write, "skip", merge="sum").eval()
    image = torch.randn(4, 3, 16, 16)
    half = F.avg_pool2d(image, 2)
    with torch.no_grad():
        x = network.stage(0)(network.head(0)(image))
        x = network.stage(1)(network.head(1)(half) + x)
        x = network.stage(2)(network.head(2)(F.avg_pool2d(half, 2)) + x)
        assert torch.allclose(network(image), x.reshape(4), atol=1e-6)
        # a sum merge grows: at depth 2 the 8×8 stage reads its from_rgb alone
        assert network(half, depth=2).shape == (4,)
    assert [(plan.depth, plan.fading) for plan in every_plan(network.spec)] == [(1, False), (2, False), (3, False)]


def test_merged_widths_that_do_not_fit_are_told_at_the_from_rgb(write):
    text = DISCRIMINATOR.format(images="all", merge="sum", width8=3, width4=5)
    with pytest.raises(SpecError, match=r"d.yaml:10: at \$.stages\[1\].from_rgb\[0\]: the from_rgb of the 8×8 stage gives 3×8×8 but the stage above hands "
                       r"down 6×8×8; merge: sum adds them"):
        load_spec(write(text, "d.yaml"))
    merge_alone = DISCRIMINATOR.format(images="last", merge="sum", width8="null", width4="null")
    with pytest.raises(SpecError, match=r"d3.yaml:3: at \$.merge: merge joins .* only a discriminator with images: "
                       r"skip or all has"):
        load_spec(write(merge_alone, "d3.yaml"))
    missing = DISCRIMINATOR.format(images="all", merge="concat", width8="null", width4=5)
    with pytest.raises(SpecError, match="the from_rgb of the 8×8 discriminator stage needs `channels`"):
        load_spec(write(missing, "d2.yaml"))


def test_msg_gans_other_combine_functions_are_an_empty_from_rgb_and_a_first_1x1_convolution(write):
    """MSG-GAN's "simple" joins the image itself (an empty from_rgb: the identity), its "cat_lin" follows the
    join with a 1×1 convolution (the stage's first layer), its "lin_cat" is concat after a 1×1 from_rgb."""
    text = DISCRIMINATOR.format(images="all", merge="concat", width8=3, width4=5).replace(
        "    from_rgb: [{type: from_rgb, channels: 3}]\n    layers: [", "    from_rgb: []\n    layers: [{type: conv, "
        "kernel: 1, channels: 6}, ")
    network = build_network(load_spec(write(text, "d.yaml"))).eval()
    images = [torch.randn(4, 3, size, size) for size in (4, 8, 16)]
    with torch.no_grad():
        above = network.stage(0)(network.head(0)(images[2]))
        x = network.stage(1)(torch.cat([images[1], above], dim=1))  # the 8×8 image itself, then the features
        x = network.stage(2)(torch.cat([network.head(2)(images[0]), x], dim=1))
        assert torch.allclose(network(images), x.reshape(4), atol=1e-6)
    assert network.stage(1)[0].weight.shape == (6, 9, 1, 1)  # 3 image channels + 6 features, then 1×1


# --------------------------------------------------------------------------------- stages without heads


def test_a_stage_without_a_head_holds_no_head_and_cannot_be_the_newest(write):
    text = d_text("last", "concat", 6, 8).replace(
        "    from_rgb: [{type: from_rgb, channels: 6}]", "    from_rgb: null")
    spec = load_spec(write(text, "d.yaml"))
    network = build_network(spec)
    assert "8x8" not in network.from_rgb and total_parameters(spec) == sum(p.numel() for p in network.parameters())
    assert [(plan.depth, plan.fading) for plan in every_plan(spec)] == [(1, False), (3, False)]
    assert "the 8×8 stage has no image head" in plan_problem(spec, 2, False)
    assert "the 8×8 stage has no image head" in plan_problem(spec, 3, True)  # fading from it
    with pytest.raises(ValueError, match="the 8×8 stage has no image head"):
        network(torch.randn(2, 3, 8, 8), depth=2)
    head_first = text.replace("from_rgb: [{type: from_rgb, channels: 4}]", "from_rgb: null")
    with pytest.raises(SpecError, match="the first .* discriminator stage needs a from_rgb"):
        load_spec(write(head_first, "d2.yaml"))


def test_a_schedule_that_runs_what_a_network_cannot_is_refused_before_training(write):
    g, d = (load_spec(write(GENERATOR.format(images="all", resample="nearest"), "g.yaml")),
            load_spec(write(DISCRIMINATOR.format(images="all", merge="concat", width8=3, width4=5), "d.yaml")))
    growing = load_training_config(write("fade_kimg: 1\nstable_kimg: 1\n", "t.yaml"))
    with pytest.raises(SpecError, match=r"t.yaml:2: at \$.stable_kimg: the schedule trains the 4×4 stage stable, but "
                       r"the discriminator d cannot run there: at 4×4 the stage's from_rgb gives 5×4×4 alone, but the "
                       r"stage takes 13×4×4 .* runs at its full depth only; give the lower stages no images"):
        RunPlan.build(g, d, growing)
    fading = load_training_config(write("fade_kimg: 1\nstable_kimg: [0, 0, 1]\n", "t2.yaml"))
    with pytest.raises(SpecError, match=r"t2.yaml:1: at \$.fade_kimg: the schedule trains the 8×8 stage fading in, "
                       r"but the generator g cannot run there: a network with images: all does not fade in"):
        RunPlan.build(g, d, fading)
    plan = RunPlan.build(g, d, load_training_config(write("fade_kimg: 0\nstable_kimg: [0, 0, 1]\n", "t3.yaml")))
    assert [(p.stage, p.fading) for p in plan.periods] == [(2, False)]
    last = load_spec(write(d_text("last", "concat", "null", "null"), "d3.yaml"))
    with pytest.raises(SetupError, match=r"makes one image per stage \(images: all\) but the discriminator reads one"):
        RunPlan.build(g, last, growing)


# ----------------------------------------------------------------------------------------- losses


def critic_of(network):
    return lambda images: network(images).float()


def test_the_gradient_penalty_mixes_every_scale_by_one_factor_and_takes_one_norm_over_all(write):
    network = discriminator(write, "all")
    real = [torch.zeros(4, 3, s, s) for s in (4, 8, 16)]
    fake = [torch.ones(4, 3, s, s) for s in (4, 8, 16)]
    seen = []
    network.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    loss = build_loss(normalize_loss({"type": "wgan-gp", "drift": 0}))
    context = LossContext(16, 16, torch.Generator().manual_seed(0))
    terms = loss.discriminator(critic_of(network), real, fake, context)
    mixed = seen[2]  # after the real and fake passes
    factors = mixed[0][:, 0, 0, 0]
    assert all(torch.equal(image, factors.view(4, 1, 1, 1).expand_as(image)) for image in mixed)
    inputs = [image.detach().requires_grad_(True) for image in mixed]
    gradients = torch.autograd.grad(network(inputs).sum(), inputs)
    norm = torch.cat([g.flatten(1) for g in gradients], dim=1).norm(dim=1)
    assert torch.allclose(terms["penalty"], 10 * ((norm - 1) ** 2).mean(), rtol=1e-4)
    per_scale = [g.flatten(1).norm(dim=1) for g in gradients]
    assert all(value.min() > 0 for value in per_scale)  # every scale reaches the score, so every one is penalized


def test_r1_sums_the_squared_gradients_of_every_scale(write):
    network = discriminator(write, "all")
    real = [torch.randn(4, 3, s, s) for s in (4, 8, 16)]
    loss = build_loss(normalize_loss({"type": "logistic", "r1_gamma": 2, "r1_interval": 4}))
    penalty = loss.regularizers[0].penalty(critic_of(network), real, LossContext(16, 16))
    inputs = [image.clone().requires_grad_(True) for image in real]
    gradients = torch.autograd.grad(network(inputs).sum(), inputs)
    assert torch.allclose(penalty, sum(g.square().flatten(1).sum(1) for g in gradients).mean(), rtol=1e-5)


def test_real_images_for_every_scale_are_the_batch_average_pooled():
    images = torch.randn(2, 3, 16, 16)
    pyramid = real_pyramid(images, 3)
    assert [tuple(x.shape[-2:]) for x in pyramid] == [(4, 4), (8, 8), (16, 16)]
    assert torch.equal(pyramid[2], images) and torch.allclose(pyramid[0], F.avg_pool2d(images, 4), atol=1e-6)


# ---------------------------------------------------------------------------------------- msggan


def test_msggan_counts_equal_bmsg_gans_own_code():
    """akanimax/BMSG-GAN at depth 7 (256²) with equalized learning rate, as its code counts (run at 863b1f37):
    the generator's blocks and rgb converters, the discriminator's from_rgb, blocks and final block."""
    generator, discriminator = (load_spec("msggan", role) for role in ("generator", "discriminator"))
    assert total_parameters(generator) == 23_044_309 and total_parameters(discriminator) == 18_733_185
    assert sum(p.numel() for p in build_network(discriminator).parameters()) == 18_733_185
    assert (generator.images, discriminator.images, discriminator.merge) == ("all", "all", "concat")


def test_msggan_small_trains_every_scale_and_samples_them(image_folder, tmp_path):
    run = tmp_path / "run"
    assert main(["train", "--arch", "msggan-small", "--images_dir", str(image_folder), "--run_dir", str(run),
                 "--batch_size", "8", "--max_images", "32", "--feedback_factor", "1", "--set", "log_every=1"]) == 0
    records = [json.loads(line) for line in (run / "logs" / "metrics.jsonl").read_text().splitlines()]
    assert records and all(torch.isfinite(torch.tensor(r["loss/D"])) for r in records if "loss/D" in r)
    assert list((run / "samples").glob("32x32-stable-*-final-scales.png"))
    out = tmp_path / "generated"
    assert main(["generate", "--checkpoint", str(run), "--out", str(out), "--num", "2"]) == 0
    assert len(list(out.glob("*.png"))) == 2


def test_a_skip_generator_fades_in_through_the_trainer(write, image_folder, tmp_path):
    """A skip generator grows with fade-in against ProGAN's discriminator: 4×4, then 8×8 and 16×16 each faded in."""
    g = write(GENERATOR.format(images="skip", resample="fir"), "g.yaml")
    d = write(d_text("last", "concat", "null", "null"), "d.yaml")
    t = write("loss: {type: logistic, r1_gamma: 1}\nbatch_size: 8\nfade_kimg: 0.016\nstable_kimg: 0.008\n"
              "log_every: 1\n", "t.yaml")
    run = tmp_path / "run"
    assert main(["train", "--generator_config", str(g), "--discriminator_config", str(d), "--training_config", str(t),
                 "--images_dir", str(image_folder), "--run_dir", str(run)]) == 0
    records = [json.loads(line) for line in (run / "logs" / "metrics.jsonl").read_text().splitlines()]
    alphas = [r["schedule/alpha"] for r in records if r["schedule/resolution"] == 16]
    assert any(0 < alpha < 1 for alpha in alphas) and alphas[-1] == 1 and all(math.isfinite(r["loss/D"]) for r in records)


def test_an_all_generator_exports_one_onnx_output_per_scale(write, tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    from archgan.networks.export import export_generator

    network = generator(write, "all").eval()
    path = export_generator(network, tmp_path / "g.onnx", "onnx", depth=3)
    session = onnxruntime.InferenceSession(str(path))
    assert [output.name for output in session.get_outputs()] == ["images_4x4", "images_8x8", "images_16x16"]
    z = torch.randn(3, 8)
    with torch.no_grad():
        expected = network(z)
    for image, output in zip(expected, session.run(None, {"z": z.numpy()})):
        assert abs(image.numpy() - output).max() < 1e-4
