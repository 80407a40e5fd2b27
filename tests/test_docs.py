"""The docs cannot rot: the layer reference is regenerated and compared, the tutorial's commands are
run one by one (their shown output must appear), `archgan new` works for every built-in, and the
network diagrams draw."""
from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest

from archgan.cli import main
from archgan.cli.docs import layer_reference
from archgan.networks import build_network
from archgan.resources import builtin_architectures
from archgan.spec import load_spec

REPO = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"(?:<!-- in (?P<file>\S+), replace: \"(?P<old>.*?)\" -->\n)?```(?P<kind>\w+)\n(?P<body>.*?)\n```", re.S)


def test_layer_reference_is_fresh():
    assert (REPO / "docs" / "layers.md").read_text(encoding="utf-8") == layer_reference(), (
        "docs/layers.md is stale: run `archgan docs`"
    )


def _arguments(line: str, images: Path) -> list[str]:
    """The command line as `archgan` arguments, on tiny images for training."""
    words = shlex.split(line)
    if words[:2] == ["archgan", "train"]:  # tiny images, a few steps: the same code path as the full run
        return ["train", *words[2:], "--images_dir", str(images), "--max_images", "48"]
    if words[0] == "archgan":
        return words[1:]
    raise AssertionError(f"the tutorial runs only archgan commands (and cp): {line}")


def test_the_tutorial_runs_as_written(tmp_path, image_folder, monkeypatch, capsys):
    text = (REPO / "docs" / "writing-an-architecture.md").read_text(encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    output, returncode, ran = None, None, 0
    for block in BLOCK.finditer(text):
        kind, body = block["kind"], block["body"]
        if block["file"]:
            target = work / block["file"]
            content = target.read_text(encoding="utf-8")
            assert block["old"] in content, f"{block['file']} does not contain {block['old']!r}"
            target.write_text(content.replace(block["old"], body, 1), encoding="utf-8")
        elif kind == "sh":
            for line in body.splitlines():
                words = shlex.split(line)
                if words[0] == "cp":
                    shutil.copy(work / words[1], work / words[2])
                    output, returncode = "", 0
                    continue
                capsys.readouterr()
                returncode = main(_arguments(line, image_folder))
                captured = capsys.readouterr()
                output = captured.out + captured.err
                ran += 1
        elif kind == "text" and output is not None:
            expected = "\n".join(l.rstrip() for l in body.splitlines())
            got = "\n".join(l.rstrip() for l in output.splitlines())
            assert expected in got, f"the tutorial shows\n{expected}\nbut the command printed\n{got}"
            assert returncode == (1 if expected.startswith("error:") else 0), got
            output = None
    assert ran >= 7
    assert list((work / "runs" / "attngan" / "checkpoints").glob("step-*"))


@pytest.mark.parametrize("name", builtin_architectures())
def test_archgan_new_copies_every_builtin(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["new", f"my-{name}", "--from", name]) == 0
    for role in ("generator", "discriminator"):
        spec = load_spec(tmp_path / f"my-{name}" / f"{role}.yaml", role)
        assert spec.name == f"my-{name}"
        build_network(spec)
    original = (REPO / "architectures" / name / "generator.yaml").read_text()
    copy = (tmp_path / f"my-{name}" / "generator.yaml").read_text()
    assert original.splitlines()[0] in copy  # comments kept
    assert main(["new", f"my-{name}", "--from", name]) == 1  # no silent overwrite


def test_copied_pggan_small_trains(tmp_path, image_folder, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["new", "mine", "--from", "pggan-small"]) == 0
    assert main(["train", "--generator_config", "mine/generator.yaml", "--discriminator_config", "mine/discriminator.yaml",
                 "--training_config", "mine/training.yaml", "--images_dir", str(image_folder), "--run_dir", "run",
                 "--max_images", "32"]) == 0
    assert list((tmp_path / "run" / "checkpoints").glob("step-000000004"))  # four steps of 8


@pytest.mark.parametrize("name", ["pggan-small", "apgan", "fagan", "sngan-resnet", "pggan-resnet"])
def test_diagrams_draw(name, tmp_path, capsys):
    assert main(["show", name, "--plot", str(tmp_path / f"{name}.png")]) == 0
    assert (tmp_path / f"{name}.png").stat().st_size > 10_000


def test_shipped_json_files_reference_the_schema_and_load():
    paths = list((REPO / "architectures").rglob("*.json")) + list((REPO / "docs").rglob("*.json"))
    assert paths
    for path in paths:
        assert '"$schema": "../../schemas/' in path.read_text(), path
    assert load_spec(REPO / "docs" / "examples" / "generator.json").stages == load_spec("pggan-small", "generator").stages
