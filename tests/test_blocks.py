"""Stages as small graphs: residual and branches blocks, templates with params, repeat, names and the width
scale; what they compute, how they are named, and what a mistake in them is told."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from archgan.cli import main
from archgan.layers.registry import RESERVED_NAMES
from archgan.networks import build_network
from archgan.networks.weights import describe_key
from archgan.spec import SpecError, load_spec, load_spec_text
from archgan.spec.summary import summarize

HEAD = "network: discriminator\nname: t\n"


def _spec(text: str, write, name: str = "d.yaml"):
    return load_spec(write(text, name))


def _problems(text: str, write) -> str:
    with pytest.raises(SpecError) as caught:
        _spec(text, write)
    return str(caught.value)


ONE_STAGE = HEAD + """
stages:
  - resolution: 8
    from_rgb: [{{type: from_rgb, channels: 4}}]
    layers:
{layers}
      - {{type: flatten}}
      - {{type: dense, channels: 1, name: score}}
"""


def _one_stage(layers: str) -> str:
    return ONE_STAGE.format(layers="\n".join("      " + line for line in layers.strip("\n").splitlines()))


def test_a_residual_block_computes_main_plus_shortcut_times_gain(write):
    spec = _spec(_one_stage("""
- type: residual
  name: res
  gain: 0.5
  main: [{type: conv, channels: 6, activation: relu}, {type: conv, channels: 6}, {type: downsample}]
  shortcut: [{type: downsample}, {type: conv, channels: 6, kernel: 1, bias: false}]
"""), write)
    network = build_network(spec)
    x = torch.randn(2, 3, 8, 8)
    stage = network.stages["8x8"]
    head = network.from_rgb["8x8"][0]
    h = F.conv2d(x, head.weight, head.bias)
    main_path, shortcut = stage.res.main, stage.res.shortcut
    expected_main = F.avg_pool2d(F.conv2d(F.relu(F.conv2d(h, main_path[0].weight, main_path[0].bias, padding=1)),
                                          main_path[1].weight, main_path[1].bias, padding=1), 2)
    expected_shortcut = F.conv2d(F.avg_pool2d(h, 2), shortcut[1].weight)
    assert torch.allclose(stage.res(h), 0.5 * (expected_main + expected_shortcut), atol=1e-6)
    assert set(network.state_dict()) >= {"stages.8x8.res.main.0.weight", "stages.8x8.res.shortcut.1.weight",
                                         "stages.8x8.score.weight"}
    assert "stages.8x8.res.shortcut.1.bias" not in network.state_dict()


def test_an_empty_shortcut_is_the_identity_and_branches_sum_or_concatenate(write):
    spec = _spec(_one_stage("""
- {type: residual, name: res, main: [{type: conv, channels: 4}]}
- {type: branches, name: cat, merge: concat, branches: [[{type: conv, channels: 2, kernel: 1}], []]}
- {type: branches, name: add, gain: 2, branches: [[{type: conv, channels: 6, kernel: 1}], [{type: conv, channels: 6}]]}
"""), write)
    stage = build_network(spec).stages["8x8"]
    h = torch.randn(2, 4, 8, 8)
    assert torch.allclose(stage.res(h), stage.res.main(h) + h)
    concatenated = stage.cat(h)
    assert concatenated.shape == (2, 6, 8, 8)
    assert torch.equal(concatenated[:, 2:], h)
    first, second = stage.add.branches
    assert torch.allclose(stage.add(concatenated), 2 * (first(concatenated) + second(concatenated)), atol=1e-6)


def test_defaults_and_templates_reach_the_paths_of_blocks(write):
    spec = _spec(HEAD + """
defaults:
  conv: {equalized_lr: true, activation: lrelu}
templates:
  pair: [{type: conv, channels: 4}, {type: conv, channels: 4}]
stages:
  - resolution: 8
    from_rgb: [{type: from_rgb, channels: 4}]
    layers:
      - {type: residual, main: [{use: pair}], shortcut: [{type: residual, main: [{type: conv, channels: 4}]}]}
      - {type: flatten}
      - {type: dense, channels: 1}
""", write)
    block = spec.stages[0].layers[0]
    convs = [layer for layer in block.walk() if layer.type == "conv"]
    assert len(convs) == 3 and all(layer.options["equalized_lr"] for layer in convs)
    assert all(layer.options["activation"]["type"] == "lrelu" for layer in convs)
    assert load_spec_text(spec.to_json(), role="discriminator") == spec  # the canonical JSON holds the tree


def test_a_template_with_params_changes_width_in_the_middle(write):
    spec = _spec(HEAD + """
templates:
  down:
    params: [in, out]
    layers:
      - type: residual
        name: res
        main: [{type: conv, channels: $in}, {type: conv, channels: $out}, {type: downsample}]
        shortcut: [{type: downsample}, {type: conv, channels: $out, kernel: 1}]
stages:
  - resolution: 8
    from_rgb: [{type: from_rgb, channels: 4}]
    layers: [{use: down, in: 4, out: 8}]
  - resolution: 4
    layers: [{type: flatten}, {type: dense, channels: 1}]
""", write)
    main_path = spec.stages[0].layers[0].options["main"]
    assert [layer.options.get("channels") for layer in main_path] == [4, 8, None]
    assert spec.stages[1].rgb[0].options["channels"] == 8  # inferred from the block's output


def test_repeat_copies_an_entry_and_numbers_its_name(write):
    spec = _spec(_one_stage("""
- {type: residual, name: res, repeat: 3, main: [{type: conv, channels: 4}]}
- {type: conv, channels: 4, repeat: 2}
"""), write)
    names = [layer.name for layer in spec.stages[0].layers]
    assert names == ["res0", "res1", "res2", None, None, None, "score"]
    keys = build_network(spec).state_dict()
    assert "stages.8x8.res2.main.0.weight" in keys and "stages.8x8.4.weight" in keys


def test_a_name_keeps_parameter_names_when_a_layer_is_inserted_before_it(write):
    before = build_network(_spec(_one_stage("- {type: conv, channels: 4, name: first}"), write, "a.yaml"))
    after = build_network(_spec(_one_stage("- {type: pixelnorm}\n- {type: conv, channels: 4, name: first}"), write, "b.yaml"))
    assert set(before.state_dict()) == set(after.state_dict())
    after.load_state_dict(before.state_dict())


def test_unnamed_layers_keep_their_positions_as_names():
    """Checkpoints written before names existed load: a built-in without names is named by position."""
    keys = list(build_network(load_spec("pggan", "discriminator")).state_dict())
    assert keys[:4] == ["stages.1024x1024.0.weight", "stages.1024x1024.0.bias", "stages.1024x1024.1.weight",
                        "stages.1024x1024.1.bias"]


def test_reserved_names_cover_every_attribute_of_torchs_modules():
    attributes = {name for name in dir(nn.Sequential) if not name.startswith("_")}
    assert attributes <= RESERVED_NAMES, sorted(attributes - RESERVED_NAMES)


@pytest.mark.parametrize("layers, message", [
    ("- {type: conv, channels: 4, name: a}\n- {type: conv, channels: 4, name: a}", "two entries of this list are named 'a'"),
    ("- {type: conv, channels: 4, name: forward}", "'forward' cannot name an entry"),
    ("- {type: conv, channels: 4, name: 2x}",
     "found:   '2x'\n    allowed: a name of at most 64 letters, digits and _, not starting with a digit"),
    ("- {type: residual, main: [{type: conv, channels: 8}]}",
     "the main path gives 8×8×8 but the shortcut gives 4×8×8"),
    ("- {type: branches, branches: [[{type: conv, channels: 8}], [{type: downsample}]]}",
     "branch 0 gives 8×8×8; branch 1 gives 4×4×4: a sum needs every branch to give the same shape"),
    ("- {type: branches, merge: concat, branches: [[{type: conv, channels: 8}], [{type: downsample}]]}",
     "concat joins channels, so every branch must give the same size"),
    ("- {type: residual, shortcut: []}", "missing required key 'main' for layer type 'residual'"),
])
def test_mistakes_in_blocks_and_names_are_told_clearly(layers, message, write):
    assert message in _problems(_one_stage(layers), write)


def test_an_error_inside_a_block_names_its_path_and_line(write):
    text = _one_stage("""
- type: residual
  main:
    - {type: conv, channels: 4}
    - {type: conv, chanels: 4}
""")
    problems = _problems(text, write)
    line = next(number for number, line in enumerate(text.splitlines(), 1) if "chanels" in line)
    assert f"d.yaml:{line}: at $.stages[0].layers[0].main[1].chanels: unknown key 'chanels'" in problems
    assert "did you mean 'channels'?" in problems
    problems = _problems(_one_stage("- {type: residual, main: [{type: cnov, channels: 4}]}"), write)
    assert "main[0].type: unknown layer type" in problems and "did you mean 'conv'?" in problems


def test_template_params_that_are_missing_or_unknown_are_told(write):
    template = HEAD + """
templates:
  down:
    params: [in, out]
    layers: [{type: conv, channels: $in}, {type: conv, channels: $ot}]
stages:
  - resolution: 8
    from_rgb: [{type: from_rgb, channels: 4}]
    layers: [{use: down, in: 4%s}, {type: flatten}, {type: dense, channels: 1}]
"""
    assert "template 'down' needs out" in _problems(template % "", write)
    problems = _problems(template % ", out: 8", write)
    assert "'$ot' names no parameter of template 'down'" in problems and "did you mean 'out'?" in problems


def test_repeats_that_multiply_beyond_the_budget_are_refused_quickly(write):
    problems = _problems(HEAD + """
templates:
  many: [{type: conv, channels: 4, repeat: 1000}]
stages:
  - resolution: 8
    from_rgb: [{type: from_rgb, channels: 4}]
    layers: [{use: many, repeat: 1000}, {type: flatten}, {type: dense, channels: 1}]
""", write)
    assert "expands to more than 4,096 layers" in problems


def test_a_name_on_a_template_of_several_layers_is_refused(write):
    problems = _problems(HEAD + """
templates:
  pair: [{type: conv, channels: 4}, {type: conv, channels: 4}]
stages:
  - resolution: 8
    from_rgb: [{type: from_rgb, channels: 4}]
    layers: [{use: pair, name: p}, {type: flatten}, {type: dense, channels: 1}]
""", write)
    assert "template 'pair' makes 2 layers, and one name cannot name several" in problems


def test_width_scales_pggan_and_keeps_its_score(write):
    spec = _spec("network: discriminator\nbase: pggan\nmax_resolution: 32\nwidth: {multiplier: 0.25, max_channels: 64}\n",
                 write)
    widths = [layer.options["channels"] for stage in spec.stages for layer in stage.layers if "channels" in layer.options]
    assert widths == [64] * 8 + [1]  # 512 × 0.25 = 128, at most 64; the score stays 1
    assert spec.stages[0].rgb[0].options["channels"] == 64  # the top from_rgb: 512 → 64


def test_show_prints_blocks_indented_with_their_counts(write, capsys):
    path = write(_one_stage("""
- type: residual
  name: res
  main: [{type: conv, channels: 4}]
  shortcut: []
"""), "d.yaml")
    assert main(["show", str(path)]) == 0
    out = capsys.readouterr().out
    block = 4 * 4 * 9 + 4
    assert "res: residual" in out and f"{block:,}" in out
    lines = out.splitlines()
    index = next(i for i, line in enumerate(lines) if "res: residual" in line)
    assert lines[index + 1].startswith("    main") and lines[index + 2].startswith("      conv 3×3")
    assert lines[index + 3].startswith("    shortcut (identity)")
    spec = load_spec(path)
    assert sum(stage.parameters for stage in summarize(spec)) == sum(p.numel() for p in build_network(spec).parameters())


def test_weights_errors_describe_keys_inside_blocks(write):
    spec = _spec(_one_stage("- {type: residual, name: res, main: [{type: conv, channels: 4}]}"), write)
    assert describe_key(spec, "stages.8x8.res.main.0.weight") == \
        "stage 8×8, layer res (residual), main, layer 0 (conv 3×3)"
    assert "layer nope, which this spec does not have" in describe_key(spec, "stages.8x8.nope.weight")


def test_the_residual_gain_of_stylegan2_reads_as_one_over_root_two(write):
    spec = _spec(_one_stage(f"- {{type: residual, gain: {math.sqrt(0.5)!r}, main: [{{type: conv, channels: 4}}]}}"), write)
    assert summarize(spec)[0].rows[2].layer == "residual ×1/√2"


def test_a_param_can_stand_for_a_whole_entry_or_path(write):
    spec = _spec(HEAD + """
templates:
  wrap:
    params: [inner, shortcut]
    layers: [$inner, {type: residual, main: [{type: conv, channels: 4}], shortcut: $shortcut}]
stages:
  - resolution: 8
    from_rgb: [{type: from_rgb, channels: 4}]
    layers: [{use: wrap, inner: {type: relu}, shortcut: []}, {type: flatten}, {type: dense, channels: 1}]
""", write)
    layers = spec.stages[0].layers
    assert [layers[0].type, layers[1].type, layers[1].options["shortcut"]] == ["relu", "residual", ()]


def test_references_to_other_layers_are_told_how_the_format_says_it(write):
    problems = _problems(_one_stage("- {type: conv, channels: 4, from: -2}"), write)
    assert "unknown key 'from' for layer type 'conv'" in problems
    assert "put them in a block: {type: residual" in problems
