"""Hostile inputs: every file and flag is checked before use. Each case once ended in a hang, a
traceback or a silent wrong answer; now it is one clear error naming the file (and line) or the flag."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from archgan.cli import main
from archgan.errors import WeightsError
from archgan.interop import attn_gan
from archgan.spec import SpecError, load_spec
from archgan.spec.parse import MAX_FILE_BYTES
from archgan.training.config import load_training_config

from conftest import REPO

GENERATOR = """\
network: generator
latent_size: 16
stages:
  - resolution: 4
    layers:
      - {type: dense, channels: 8, reshape: [4, 4]}
"""
FAGAN = REPO / "docs" / "examples" / "fagan_1"


def spec_error(path, role=None) -> str:
    with pytest.raises(SpecError) as caught:
        load_spec(path, role)
    return str(caught.value)


def validate(path, capsys) -> str:
    """`archgan validate PATH` in-process: it must fail cleanly; returns its stderr."""
    assert main(["validate", str(path)]) == 1
    return capsys.readouterr().err


# ------------------------------------------------------------------------------------ parsing budgets


def billion_laughs() -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_at_once(write, capsys):
    path = write(billion_laughs(), "bomb.yaml")  # 9^10 values once expanded
    started = time.perf_counter()
    message = validate(path, capsys)
    assert time.perf_counter() - started < 5
    assert f"{path}:" in message and "more than 100,000 values once its aliases are expanded" in message


def test_aliases_that_nest_too_deep_are_refused(write):
    nested = "[" * 38 + "1" + "]" * 38  # 40 levels where it is defined, 41 where the alias repeats it
    path = write(GENERATOR + f"description: &deep {nested}\nname: [*deep]\n", "g.yaml")
    assert "nested more than 40 levels deep" in spec_error(path)


def test_alias_inside_its_own_anchor_is_refused(write):
    path = write(GENERATOR + "description: &self [1, *self]\n", "g.yaml")
    assert "an alias inside the anchor it names" in spec_error(path)


def test_aliases_within_budget_still_work(write):
    path = write(GENERATOR.replace("latent_size: 16", "latent_size: &width 16")
                 + "    to_rgb: [{type: to_rgb, gain: *width}]\n", "g.yaml")
    assert load_spec(path).stages[0].rgb[0].options["gain"] == 16


@pytest.mark.parametrize("name", ["deep.yaml", "deep.json"])
def test_deep_nesting_is_refused_with_its_line(write, name, capsys):
    text = '{"network": "generator",\n "x": ' + "[" * 5000 + "]" * 5000 + "}"
    path = write(text, name)
    assert f"{path}:2: mappings and lists are nested more than 40 levels deep" in validate(path, capsys)


def test_json_files_are_parsed_as_json(write):
    path = write(GENERATOR, "generator.JSON")  # YAML text in a .json file: not quietly read as YAML
    assert "JSON syntax error" in spec_error(path)


@pytest.mark.parametrize("character", ["\x00", "\x07", "\x1b"])
def test_control_characters_are_refused_with_line_and_column(write, character, capsys):
    path = write(GENERATOR + f"name: a{character}b\n", "g.yaml")
    message = validate(path, capsys)
    assert f"{path}:7: a control character (U+{ord(character):04X}) at column 8" in message
    assert "Traceback" not in message


def test_huge_integers_are_refused(write, capsys):
    path = write(GENERATOR.replace("latent_size: 16", "latent_size: " + "9" * 5000), "g.yaml")
    assert f"{path}:2: an integer with 5000 digits (at most 30)" in validate(path, capsys)
    path = write('{"network": "generator",\n"latent_size": ' + "9" * 5000 + "}", "g.json")
    assert f"{path}:2: an integer with 5000 digits" in validate(path, capsys)


@pytest.mark.parametrize("value,name", [(".nan", "t.yaml"), ("-.inf", "t.yaml"), ("1.0e+999", "t.yaml"),
                                        ("NaN", "t.json"), ("Infinity", "t.json"), ("1e999", "t.json")])
def test_non_finite_numbers_are_refused(write, value, name):
    text = f'{{"stable_kimg": 1,\n "g_lr": {value}}}' if name.endswith(".json") else f"stable_kimg: 1\ng_lr: {value}\n"
    path = write(text, name)
    with pytest.raises(SpecError, match=f"{path}:2: numbers must be finite"):
        load_training_config(path)


def test_fifo_folder_and_device_are_refused_without_blocking(tmp_path):
    fifo = tmp_path / "generator.yaml"
    os.mkfifo(fifo)
    for path in (fifo, tmp_path, Path("/dev/zero")):
        result = subprocess.run([sys.executable, "-m", "archgan", "validate", str(path)], capture_output=True,
                                text=True, timeout=60, check=False)
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert "not a regular file" in result.stderr or "is a folder" in result.stderr


def test_oversized_and_binary_files_are_refused(write, tmp_path):
    big = write(GENERATOR + "#" * MAX_FILE_BYTES, "big.yaml")
    assert "larger than 1,048,576 bytes" in spec_error(big)
    binary = tmp_path / "g.yaml"
    binary.write_bytes(GENERATOR.encode() + b"name: \xff\xfe\n")
    assert f"{binary}:7: the file is not UTF-8 text" in spec_error(binary)


# ------------------------------------------------------------------------------------ values in files


@pytest.mark.parametrize("change,message", [
    (("channels: 8", "channels: 1000000000"), "channels: value out of range"),
    (("latent_size: 16", "latent_size: 100000"), "latent_size: value out of range"),
    (("resolution: 4", "resolution: 16384"), "resolution: value out of range"),
    (("latent_size: 16", "latent_size: 16\nimage_channels: 2"), "image_channels: value not allowed"),
    (("latent_size: 16", "latent_size: 16\nimage_channels: 4"), "allowed: 1, 3"),
])
def test_out_of_bounds_spec_values_are_refused(write, change, message):
    assert message in spec_error(write(GENERATOR.replace(*change), "g.yaml"))


def test_network_too_large_to_build_is_refused(write):
    wide = GENERATOR.replace("channels: 8", "channels: 16384") + "      - {type: conv, channels: 16384}\n" * 2
    assert "trainable parameters, more than archgan builds (1,073,741,824)" in spec_error(write(wide, "g.yaml"))


def test_from_rgb_in_a_generator_is_refused(write):
    path = write(GENERATOR + "    to_rgb: [{type: from_rgb, channels: 3}]\n", "g.yaml")
    message = spec_error(path)
    assert f"{path}:7: at $.stages[0].to_rgb[0]: from_rgb is the discriminator's image head" in message
    assert "{type: to_rgb}" in message


def test_stride_zero_is_refused_by_the_option_schema(write):
    path = write(GENERATOR + "      - {type: conv, channels: 8, stride: 0}\n", "g.yaml")
    assert "stride: value out of range" in spec_error(path)


def test_training_values_out_of_range_are_refused(write):
    with pytest.raises(SpecError, match="g_lr: value not allowed"):
        load_training_config(write("g_lr: 5\n", "t.yaml"))
    with pytest.raises(SpecError, match="batch_size"):
        load_training_config(write(f"batch_size: {2**40}\n", "t.yaml"))


def conf_with(tmp_path: Path, old: str, new: str, name: str = "gen.conf") -> Path:
    text = (FAGAN / name).read_text()
    assert old in text
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize("name,old,new,message", [
    ("gen.conf", "bias: True", 'bias: "False"', "`bias` must be True or False"),
    ("gen.conf", "squeeze_factor: 8", "squeeze_factor: abc", "`squeeze_factor` must be a whole number"),
    ("gen.conf", "channels: 128, bias", "channels: 12.5, bias", "`channels` must be a whole number"),
    ("dis.conf", 'stride: "(2, 2)"', 'stride: "(0, 0)"', "`stride` must be at least 1"),
    ("dis.conf", "lrelu(0.1)", "lrelu(1.2.3)", "unknown activation"),
    ("gen.conf", 'kernel_dims: "(4, 4)"', f'kernel_dims: "({"9" * 5000}, 4)"', "too large for any layer"),
])
def test_conf_values_are_checked_before_use(tmp_path, name, old, new, message):
    path = conf_with(tmp_path, old, new, name)
    with pytest.raises(SpecError) as caught:
        attn_gan.read_conf(path)
    assert message in str(caught.value) and f"{path}:" in str(caught.value)
    if new == 'bias: "False"':
        assert 'write True or False without quotes' in str(caught.value)


def test_weights_metadata_is_checked(tmp_path):
    import torch
    from safetensors.torch import save_file

    from archgan.networks.weights import trained_position

    for depth, alpha in (("3", "nan"), ("0", "1.0"), ("9" * 5000, "1.0"), ("2", "inf"), ("two", "1")):
        path = tmp_path / "g.safetensors"
        save_file({"x": torch.zeros(1)}, str(path), metadata={"archgan_depth": depth, "archgan_alpha": alpha})
        with pytest.raises(WeightsError, match="are not a stage count from 1 to 14 and a fade-in from 0 to 1"):
            trained_position(path)


# ------------------------------------------------------------------------------------ flags and outputs


@pytest.mark.parametrize("flags,message", [
    (["--device", "meta"], "--device meta: not a device name"),
    (["--device", "mps"], "--device mps: Apple's MPS is not available here"),
    (["--device", "cuda:99"], "--device cuda:99:"),
    (["--num_workers", "100000"], "--num_workers 100000: must be at most 256"),
    (["--kimg", "1e300"], "--kimg 1e+300: must be at most 1,000,000"),
    (["--run_dir", "{file}"], "this is a file, not a folder"),
])
def test_train_flags_are_refused_before_anything_starts(flags, message, tmp_path, capsys):
    import torch

    if "mps" in flags and torch.backends.mps.is_available():
        pytest.skip("MPS is available here")
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    flags = [flag.format(file=a_file) for flag in flags]
    assert main(["train", "--images_dir", str(tmp_path), *flags]) == 1
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error


@pytest.mark.parametrize("flags,message", [
    (["--g_lr", "nan"], "argument --g_lr: 'nan' is not a finite number"),
    (["--data_percentage", "inf"], "'inf' is not a finite number"),
    (["--seed", str(2**64)], "is not a whole number from 0 to 9,223,372,036,854,775,807"),
    (["--seed", "-1"], "is not a whole number from 0"),
])
def test_flag_values_that_cannot_be_numbers_are_refused_by_the_parser(flags, message, capsys):
    with pytest.raises(SystemExit) as caught:
        main(["train", *flags])
    assert caught.value.code == 2 and message in capsys.readouterr().err


def test_convert_never_overwrites_without_force_nor_writes_onto_its_input(tmp_path, capsys):
    conf = tmp_path / "gen.conf"
    conf.write_text((FAGAN / "gen.conf").read_text())
    original = conf.read_text()
    assert main(["convert", str(conf), "-o", str(conf), "--force"]) == 1
    assert "this is the input file" in capsys.readouterr().err and conf.read_text() == original
    out = tmp_path / "generator.yaml"
    out.write_text("mine\n")
    assert main(["convert", str(conf), "-o", str(out)]) == 1
    assert "exists already; choose another name, or add --force" in capsys.readouterr().err
    assert out.read_text() == "mine\n"
    assert main(["convert", str(conf), "-o", str(out), "--force"]) == 0 and "network: generator" in out.read_text()
    assert main(["convert", str(conf), "-o", str(tmp_path)]) == 1
    assert "this is a folder; name the file to write" in capsys.readouterr().err


def test_outputs_of_the_wrong_kind_are_refused(tmp_path, capsys):
    a_file = tmp_path / "taken"
    a_file.write_text("")
    assert main(["generate", "--generator_config", "pggan-small", "--out", str(a_file)]) == 1
    assert f"--out {a_file}: this is a file, not a folder" in capsys.readouterr().err
    assert main(["show", "pggan-small", "--plot", str(tmp_path)]) == 1
    assert "--plot" in capsys.readouterr().err
    assert main(["schemas", "--out", str(a_file)]) == 1 and "this is a file" in capsys.readouterr().err


# ------------------------------------------------------------------------------------ the command itself


def test_an_internal_error_prints_one_line_and_keeps_the_traceback(monkeypatch, tmp_path, capsys):
    from archgan.cli import show

    monkeypatch.setattr("archgan.cli.crash_report_dir", lambda: tmp_path / "crashes")
    monkeypatch.setattr(show, "render", lambda spec: 1 / 0)
    assert main(["show", "pggan-small"]) == 1
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and error.startswith("error: internal error (ZeroDivisionError")
    report = next((tmp_path / "crashes").iterdir())
    assert str(report) in error and "Traceback" in report.read_text() and "1 / 0" in report.read_text()


def test_a_closed_pipe_ends_quietly():
    """`archgan show pggan | head`: the reader is gone (here before the first line is written)."""
    process = subprocess.Popen([sys.executable, "-m", "archgan", "show", "pggan"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    process.stdout.close()
    _, error = process.communicate(timeout=120)
    assert process.returncode == 1 and error == ""


def test_numbers_of_other_commands_are_checked(tmp_path, capsys):
    assert main(["prepare", str(tmp_path), "--resolution", "0"]) == 1  # once a ZeroDivisionError
    assert "--resolution must be at least 1" in capsys.readouterr().err
    assert main(["generate", "--generator_config", "pggan-small", "--num", str(10**7), "--out", str(tmp_path)]) == 1
    assert "--num 10000000: must be at most 1,000,000" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["generate", "--generator_config", "pggan-small", "--alpha", "nan"])
    assert "'nan' is not a finite number" in capsys.readouterr().err
