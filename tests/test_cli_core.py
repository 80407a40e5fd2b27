"""`archgan show` and `archgan validate`, and a real non-editable install."""
from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

from archgan.cli import main

REPO = Path(__file__).resolve().parent.parent


def test_show_prints_a_table_per_stage_with_totals(capsys):
    assert main(["show", "pggan", "--role", "generator"]) == 0
    out = capsys.readouterr().out
    assert "generator 'pggan'" in out and "9 stages: 4×4 → 1024×1024" in out
    assert "stage 1024×1024" in out
    assert "dense → 512×4×4           lrelu(0.2)   512×4×4            4,194,816" in out
    assert "total trainable parameters: 23,079,115" in out
    assert "23,071,507 without them" in out


def test_show_a_builtin_shows_both_networks(capsys):
    assert main(["show", "pggan-small"]) == 0
    out = capsys.readouterr().out
    assert "generator 'pggan-small'" in out and "discriminator 'pggan-small'" in out
    assert "minibatch_stddev g4" in out and "1 feature " in out


def test_show_json_is_the_canonical_form(capsys):
    assert main(["show", "pggan-small", "--role", "discriminator", "--json"]) == 0
    assert '"network": "discriminator"' in capsys.readouterr().out


def test_validate_exit_codes(write, capsys):
    good = REPO / "architectures" / "pggan-small" / "generator.yaml"
    bad = write("network: generator\nlatent_size: 8\nstages: [{resolution: 4, layers: [{type: conv}]}]\n")
    assert main(["validate", str(good)]) == 0
    assert "ok: " in capsys.readouterr().out
    assert main(["validate", str(good), str(bad)]) == 1
    assert "missing required key 'channels'" in capsys.readouterr().err


def test_non_editable_install_works_from_another_directory(tmp_path):
    """`pip install .` into a fresh virtualenv, then `archgan show pggan` elsewhere. The venv reuses this
    environment's dependencies (torch, setuptools, ...) through a .pth file instead of downloading them."""
    source = tmp_path / "source"
    source.mkdir()
    for item in ("setup.py", "README.md"):
        shutil.copy(REPO / item, source / item)
    for item in ("archgan", "architectures", "schemas"):
        shutil.copytree(REPO / item, source / item, ignore=shutil.ignore_patterns("__pycache__"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    venv_site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    dependencies = [p for p in site.getsitepackages() + [sysconfig.get_paths()["purelib"]] if Path(p).is_dir()]
    Path(venv_site, "host_dependencies.pth").write_text("\n".join(dependencies) + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-build-isolation",
         "--no-index", "-q", str(source)],
        check=True, env={**os.environ, "PIP_CONSTRAINT": ""},
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    located = subprocess.run([python, "-c", "import archgan; print(archgan.__file__)"], cwd=elsewhere,
                             check=True, capture_output=True, text=True).stdout
    assert located.startswith(str(venv))
    result = subprocess.run([venv / "bin" / "archgan", "show", "pggan"], cwd=elsewhere, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "total trainable parameters: 23,079,115" in result.stdout
    assert "total trainable parameters: 23,087,249" in result.stdout
