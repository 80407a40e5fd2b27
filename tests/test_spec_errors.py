"""Malformed architecture files: each gives one specific message naming the file, the JSON path,
the line, what was found, what is allowed and a fix."""
from __future__ import annotations

import subprocess
import sys

import pytest

from archgan.spec import SpecError, load_spec
from archgan.spec.errors import did_you_mean

GENERATOR_HEAD = """
network: generator
latent_size: 16
stages:
  - resolution: 4
    layers:
      - {type: dense, channels: 8, reshape: [4, 4]}
"""


def error_of(path, role=None) -> str:
    with pytest.raises(SpecError) as caught:
        load_spec(path, role)
    return str(caught.value)


def test_unknown_layer_type(write):
    path = write(GENERATOR_HEAD + "      - {type: convv, channels: 8}\n")
    message = error_of(path)
    assert f"{path}:7: at $.stages[0].layers[1].type: unknown layer type" in message
    assert "found:   'convv'" in message and "did you mean 'conv'?" in message
    assert "allowed: auxiliary_classifier, batchnorm, bias, blur, branches, conditional_batchnorm, constant, conv, conv_transpose" in message


def test_misspelled_key(write):
    path = write(GENERATOR_HEAD + "      - {type: conv, chanels: 8}\n")
    message = error_of(path)
    assert f"{path}:7: at $.stages[0].layers[1].chanels: unknown key 'chanels' for layer type 'conv'" in message
    assert "did you mean 'channels'?" in message


def test_wrong_value_type(write):
    path = write(GENERATOR_HEAD + "      - {type: conv, channels: 8, kernel: '3'}\n")
    message = error_of(path)
    assert f"{path}:7: at $.stages[0].layers[1].kernel: expected an integer ≥ 1 and ≤ 8192, found string" in message
    assert "found:   '3'" in message


def test_missing_required_option(write):
    path = write(GENERATOR_HEAD + "      - {type: conv, kernel: 3}\n")
    assert f"{path}:7: at $.stages[0].layers[1]: missing required key 'channels' for layer type 'conv'" in error_of(path)


def test_channels_that_cannot_chain(write):
    path = write(
        """
        network: discriminator
        stages:
          - resolution: 8
            from_rgb: [{type: from_rgb, channels: 16}]
            layers: [{type: conv, channels: 32}, {type: downsample}]
          - resolution: 4
            from_rgb: [{type: from_rgb, channels: 64}]
            layers: [{type: dense, channels: 1}]
        """,
        "discriminator.yaml",
    )
    message = error_of(path)
    assert f"{path}:6: at $.stages[1].from_rgb: from_rgb of the 4×4 stage outputs 64×4×4" in message
    assert "the channels cannot chain" in message and "allowed: 32×4×4" in message


def test_stage_that_does_not_double(write):
    path = write(GENERATOR_HEAD + "  - {resolution: 16, layers: [{type: upsample, factor: 4}]}\n")
    message = error_of(path)
    assert f"{path}:7: at $.stages[1].resolution: stage resolution 16 after a 4 stage: each generator stage doubles" in message
    assert "found:   16" in message and "allowed: 8" in message


def test_stage_that_ends_at_the_wrong_size(write):
    path = write(GENERATOR_HEAD + "  - {resolution: 8, layers: [{type: conv, channels: 8}]}\n")
    message = error_of(path)
    assert "at $.stages[1].layers: the 8×8 stage ends at 8×4×4, not 8×8" in message
    assert "add an `upsample` layer" in message


def test_missing_latent_size(write):
    path = write(GENERATOR_HEAD.replace("latent_size: 16\n", ""))
    assert f"{path}:1: missing required key 'latent_size'" in error_of(path)


def test_broken_yaml_syntax(write):
    path = write(GENERATOR_HEAD.replace("reshape: [4, 4]}", "reshape: [4, 4]"))
    message = error_of(path)
    assert f"{path}:7: YAML syntax error" in message and "check the indentation" in message


def test_empty_file(write):
    path = write("\n")
    assert f"{path}: the file is empty" in error_of(path)


def test_json_trailing_comma(write):
    path = write(
        """
        {
          "network": "generator",
          "latent_size": 16,
          "stages": [{"resolution": 4, "layers": [{"type": "dense", "channels": 8,}]}]
        }
        """,
        "generator.json",
    )
    message = error_of(path)
    assert f"{path}:4: JSON syntax error" in message and "a trailing comma before '}'" in message
    assert "remove the comma" in message


def test_json_errors_carry_line_numbers(write):
    path = write(
        """
        {
          "network": "generator",
          "latent_size": 16,
          "stages": [
            {"resolution": 4,
             "layers": [
               {"type": "dense", "channels": 8, "reshape": [4, 4]},
               {"type": "pixelnrom"}
             ]}
          ]
        }
        """,
        "generator.json",
    )
    message = error_of(path)
    assert f"{path}:8: at $.stages[0].layers[1].type: unknown layer type" in message
    assert "did you mean 'pixelnorm'?" in message


def test_unknown_template(write):
    path = write(
        """
        network: generator
        latent_size: 16
        templates:
          block: [{type: upsample}, {type: conv}]
        stages:
          - {resolution: 4, layers: [{type: dense, channels: 8, reshape: [4, 4]}]}
          - {resolution: 8, layers: [{use: blok, channels: 8}]}
        """
    )
    message = error_of(path)
    assert f"{path}:7: at $.stages[1].layers[0].use: unknown template 'blok'" in message
    assert "did you mean 'block'?" in message


def test_template_override_no_layer_accepts(write):
    path = write(
        """
        network: generator
        latent_size: 16
        templates:
          block: [{type: upsample}, {type: conv}]
        stages:
          - {resolution: 4, layers: [{type: dense, channels: 8, reshape: [4, 4]}]}
          - {resolution: 8, layers: [{use: block, chanels: 8}]}
        """
    )
    message = error_of(path)
    assert "at $.stages[1].layers[0].chanels: no layer of template 'block' has an option 'chanels'" in message
    assert "did you mean 'channels'?" in message


def test_template_that_uses_itself(write):
    path = write(
        """
        network: generator
        latent_size: 16
        templates:
          a: [{use: b}]
          b: [{use: a}]
        stages:
          - {resolution: 4, layers: [{type: dense, channels: 8, reshape: [4, 4]}, {use: a}]}
        """
    )
    assert "template 'a' uses itself: a → b → a" in error_of(path)


def test_missing_option_inside_a_template_points_at_the_use(write):
    path = write(
        """
        network: generator
        latent_size: 16
        templates:
          block: [{type: upsample}, {type: conv}]
        stages:
          - {resolution: 4, layers: [{type: dense, channels: 8, reshape: [4, 4]}]}
          - {resolution: 8, layers: [{use: block}]}
        """
    )
    message = error_of(path)
    assert f"{path}:7: at $.stages[1].layers[0] (template 'block', item 1): missing required key 'channels'" in message


def test_bad_activation_name(write):
    path = write(GENERATOR_HEAD + "      - {type: conv, channels: 8, activation: lreluu}\n")
    message = error_of(path)
    assert "at $.stages[0].layers[1].activation: value not allowed" in message
    assert "did you mean 'lrelu'?" in message


def test_network_key_missing_or_misspelled(write):
    assert "the file must say which network it describes" in error_of(write("latent_size: 3\nstages: []\n"))
    message = error_of(write("network: generatr\n"))
    assert "did you mean 'generator'?" in message


def test_wrong_role(write):
    path = write("network: discriminator\nstages: [{resolution: 4, layers: [{type: dense, channels: 1}]}]\n", "d.yaml")
    message = error_of(path, role="generator")
    assert "this file describes a discriminator, but a generator file is expected here" in message


def test_duplicate_yaml_key(write):
    path = write(GENERATOR_HEAD + "      - {type: conv, channels: 8, channels: 16}\n")
    assert "the key 'channels' appears twice in one mapping" in error_of(path)


def test_discriminator_must_end_in_a_score(write):
    path = write(
        """
        network: discriminator
        stages:
          - resolution: 4
            from_rgb: [{type: from_rgb, channels: 8}]
            layers: [{type: conv, channels: 8}]
        """,
        "discriminator.yaml",
    )
    message = error_of(path)
    assert "the last discriminator stage must end in one score per image" in message and "found:   8×4×4" in message


def test_first_from_rgb_needs_channels(write):
    path = write(
        "network: discriminator\nstages: [{resolution: 4, layers: [{type: dense, channels: 1}]}]\n", "d.yaml"
    )
    assert "the from_rgb of the first (highest-resolution) discriminator stage needs `channels`" in error_of(path)


def test_equalized_lr_and_spectral_norm_together(write):
    path = write(GENERATOR_HEAD + "      - {type: conv, channels: 8, equalized_lr: true, spectral_norm: true}\n")
    assert "sets both equalized_lr and spectral_norm" in error_of(path)


def test_same_padding_needs_an_odd_kernel(write):
    path = write(GENERATOR_HEAD + "      - {type: conv, channels: 8, kernel: 4}\n")
    assert "padding 'same' needs an odd kernel, but kernel is 4" in error_of(path)


def test_unknown_builtin_name():
    message = error_of("pgan", role="generator")
    assert "no such file, and no built-in architecture of this name" in message and "did you mean 'pggan'?" in message


def test_max_resolution_must_be_a_stage(write):
    path = write("network: generator\nbase: pggan-small\nmax_resolution: 20\n")
    message = error_of(path)
    assert "max_resolution must be the resolution of one of the stages" in message and "allowed: 4, 8, 16, 32" in message


def test_cli_reports_without_a_traceback(write):
    path = write(GENERATOR_HEAD + "      - {type: convv, channels: 8}\n")
    result = subprocess.run([sys.executable, "-m", "archgan", "validate", str(path)], capture_output=True, text=True)
    assert result.returncode == 1
    assert "unknown layer type" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("typo,expected", [("convv", "conv"), ("sead", "seed"), ("rleu", "relu"), ("pixelnrom", "pixelnorm"),
                                           ("hinj", "hinge"), ("noise", None), ("repeat", None)])
def test_did_you_mean_suggests_only_close_matches(typo, expected):
    candidates = ["conv", "dense", "seed", "relu", "pixelnorm", "reshape", "hinge"]
    assert did_you_mean(typo, candidates) == (f"did you mean '{expected}'?" if expected else None)
