"""The README's two opening commands, and CI running the same test command."""
from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _opening_commands() -> list[str]:
    return re.findall(r"```sh\n(.+?)\n```", (REPO / "README.md").read_text())[:2]


def test_readme_opens_with_install_and_run_then_install_and_test():
    run, test = _opening_commands()
    assert "pip install torch==2.14.1 torchvision==0.29.1" in run and run.endswith("python train.py")
    assert test.endswith("python -m pytest -q -n 2")


def test_ci_runs_the_readmes_test_command():
    ci = (REPO / ".ci" / "run").read_text()
    test_steps = _opening_commands()[1].split(" && ")[2:]  # after creating and activating the venv
    assert " && ".join(step.replace("pip install", "pip install -q") for step in test_steps) in ci


def test_the_readmes_error_example_is_what_validate_prints(tmp_path, capsys, monkeypatch):
    """The file and the output in the README's 'Errors name the file' section, run for real."""
    from archgan.cli import main

    text = (REPO / "README.md").read_text()
    section = text[text.index("### Errors name the file"):]
    spec, output = re.findall(r"```(?:yaml)?\n(.+?)\n```", section, flags=re.S)[:2]
    (tmp_path / "my_generator.yaml").write_text(spec.split("\n", 1)[1])  # without the file-name comment
    monkeypatch.chdir(tmp_path)
    assert main(["validate", "my_generator.yaml"]) == 1
    assert capsys.readouterr().err.strip() == output.split("\n", 1)[1].strip()


def test_the_readme_names_the_files_generate_writes():
    text = (REPO / "README.md").read_text()
    assert "interpolation.gif" in text and "walk.gif" not in text
