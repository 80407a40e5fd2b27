"""Layer types from plugins: a lab's package, written into a temporary folder, registers a layer type
through an `archgan.layers` entry point (or `--plugin` / ARCHGAN_PLUGINS when it is not installed); the
type then appears in the schemas, `validate`, `show`, the docs and the checkpoints of a two-step run,
and loading those checkpoints without the plugin names it. The archgan runs happen in subprocesses, so
the registry of this test process keeps only the built-in types."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import make_images

import archgan
from archgan.errors import PluginError
from archgan.layers import (
    LayerType,
    layer_types,
    load_plugin,
    no_parameters,
    register,
    same_shape,
)
from archgan.spec import load_spec_text

ARCHGAN_ROOT = Path(archgan.__file__).resolve().parent.parent

PLUGIN = {
    "labgan/__init__.py": '''
        """A lab's layer type: a learned gain per channel (torch-free; its module is imported when built)."""
        from archgan.layers import LayerType, Option, register, same_shape
        from archgan.lazy import deferred

        register(LayerType(
            name="channel_gain",
            family="lab",
            doc="Multiply each channel by a learned gain.",
            options={"init": Option({"type": "number", "minimum": 0}, "starting gain", 1.0)},
            output_shape=same_shape,
            build=deferred("labgan.modules:build"),
            parameters=lambda options, shape, context: shape[0],
            example={"type": "channel_gain", "init": 0.5},
            label=lambda options: f"gain x{options['init']:g}",
        ))
        ''',
    "labgan/modules.py": '''
        import torch
        from torch import nn


        class ChannelGain(nn.Module):
            def __init__(self, channels, init):
                super().__init__()
                self.gain = nn.Parameter(torch.full((channels, 1, 1), float(init)))

            def forward(self, x):
                return x * self.gain


        def build(options, shape, context):
            return ChannelGain(shape[0], options["init"])
        ''',
}
INSTALLED = {  # what `pip install` of a package declaring the entry point leaves beside it
    "labgan-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: labgan\nVersion: 1.0\n",
    "labgan-1.0.dist-info/entry_points.txt": "[archgan.layers]\nlabgan = labgan\n",
}
SPECS = {  # pggan-small cut to 8×8, narrow, with the plugin's layer in both stages of the generator
    "generator.yaml": """
        network: generator
        base: pggan-small
        name: labnet
        stages:
          - resolution: 4
            layers: [{type: pixelnorm}, {type: dense, channels: 16, reshape: [4, 4]}, {type: channel_gain},
                     {type: conv, channels: 16}]
          - {resolution: 8, layers: [{use: grow, channels: 16}, {type: channel_gain, init: 0.5}]}
        """,
    "discriminator.yaml": "network: discriminator\nbase: pggan-small\nmax_resolution: 8\n",
    "training.yaml": "loss: hinge\nfade_kimg: 0.008\nstable_kimg: 0.008\nbatch_size: 8\n",
}


def _write_files(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return folder


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    """tmp_path holding installed/ (the plugin with its entry point), plain/ (the plugin's code only),
    the three spec files, and work/, the folder the commands run in."""
    _write_files(tmp_path / "installed", PLUGIN | INSTALLED)
    _write_files(tmp_path / "plain", PLUGIN)
    _write_files(tmp_path, SPECS)
    (tmp_path / "work").mkdir()
    return tmp_path


def archgan_command(lab: Path, *args: str, path: str | None = None,
                    plugins: str | None = None) -> subprocess.CompletedProcess:
    """`archgan ARGS` in a fresh process with `path` (a folder of `lab`) on the Python path."""
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "ARCHGAN_PLUGINS")}
    env["PYTHONPATH"] = os.pathsep.join([str(ARCHGAN_ROOT)] + ([str(lab / path)] if path else []))
    if plugins is not None:
        env["ARCHGAN_PLUGINS"] = plugins
    return subprocess.run([sys.executable, "-m", "archgan", *args], check=False, cwd=lab / "work", env=env,
                          capture_output=True, text=True, timeout=120)


def test_an_installed_plugin_validates_shows_documents_trains_and_is_named_by_its_checkpoints(lab):
    specs = [str(lab / name) for name in SPECS]
    validated = archgan_command(lab, "validate", *specs, path="installed")
    assert validated.returncode == 0, validated.stderr
    assert "fit together for training" in validated.stdout

    shown = archgan_command(lab, "show", specs[0], path="installed")
    assert shown.returncode == 0, shown.stderr
    assert "gain x1 " in shown.stdout and "gain x0.5 " in shown.stdout
    assert "total trainable parameters: 39,878" in shown.stdout  # 16 + 16 of them are the two gains

    assert archgan_command(lab, "schemas", "--out", "schemas", path="installed").returncode == 0
    schema = json.loads((lab / "work" / "schemas" / "generator.schema.json").read_text())
    assert "channel_gain" in schema["$defs"]["layer_types"]
    assert "init" in schema["$defs"]["layer_types"]["channel_gain"]["properties"]
    assert archgan_command(lab, "docs", "--out", "layers.md", path="installed").returncode == 0
    assert "## lab\n\n### `channel_gain`\n\nMultiply each channel" in (lab / "work" / "layers.md").read_text()

    make_images(lab / "images", count=16, size=8)
    trained = archgan_command(lab, "train", "--generator_config", specs[0], "--discriminator_config", specs[1],
                              "--training_config", specs[2], "--images_dir", str(lab / "images"), "--run_dir", "run",
                              "--max_images", "16", "--num_workers", "1", path="installed")
    assert trained.returncode == 0, trained.stderr
    assert "max_images after 2 steps" in trained.stdout
    checkpoint = lab / "work" / "run" / "checkpoints" / "step-000000002"
    assert json.loads((checkpoint / "generator.json").read_text())["plugins"] == {"labgan": ["channel_gain"]}
    assert "plugins" not in json.loads((checkpoint / "discriminator.json").read_text())

    weights = str(checkpoint / "generator.safetensors")
    missing = archgan_command(lab, "generate", "--generator_file", weights, "--num", "4")
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert (f"{weights} (its spec):8: at $.plugins.labgan: layer type 'channel_gain' comes from the plugin 'labgan', "
            "which is not loaded\n    install it or pass --plugin labgan (or set ARCHGAN_PLUGINS=labgan)"
            ) in missing.stderr
    by_flag = archgan_command(lab, "generate", "--generator_file", weights, "--num", "4", "--plugin", "labgan",
                              path="plain")
    assert by_flag.returncode == 0, by_flag.stderr
    assert len(list((lab / "work" / "generated").glob("*.png"))) == 4


def test_a_plugin_that_is_not_installed_needs_the_flag(lab):
    generator = str(lab / "generator.yaml")
    without = archgan_command(lab, "validate", generator, path="plain")
    assert without.returncode == 1 and "unknown layer type" in without.stderr
    assert archgan_command(lab, "validate", generator, "--plugin", "labgan", path="plain").returncode == 0
    assert archgan_command(lab, "validate", generator, path="plain", plugins=" labgan, ").returncode == 0

    missing = archgan_command(lab, "validate", generator, "--plugin", "labgan")
    assert missing.stderr.strip() == ("error: --plugin labgan: no module of this name on the Python path; install "
                                      "the plugin, or add the folder holding it to PYTHONPATH")
    as_path = archgan_command(lab, "validate", generator, "--plugin", "../plain/labgan/__init__.py")
    assert as_path.returncode == 1 and "not a path or code" in as_path.stderr


def test_a_broken_or_clashing_plugin_gets_one_line(lab):
    _write_files(lab / "plain", {
        "broken.py": "import archgan\nraise RuntimeError('the lab forgot something')\n",
        "clash.py": "from archgan.layers import layer_type, register\nregister(layer_type('conv'))\n",
        "twice.py": "import labgan\n",
    })
    broken = archgan_command(lab, "show", "pggan-small", "--plugin", "broken", path="plain")
    assert broken.returncode == 1 and "Traceback" not in broken.stderr
    assert "--plugin broken: the plugin failed while loading: RuntimeError: the lab forgot something (" in broken.stderr
    assert "broken.py:2)" in broken.stderr

    clash = archgan_command(lab, "show", "pggan-small", "--plugin", "clash", path="plain")
    assert clash.stderr.strip() == ("error: layer type 'conv' is registered by archgan itself and again by the plugin "
                                    "'clash'; layer type names are unique: rename the plugin's type, or leave out one "
                                    "of the two plugins")
    # the entry point's labgan, then labgan again under another name: refused, naming both
    _write_files(lab / "installed", {"labgan_copy/__init__.py": (lab / "plain" / "labgan" / "__init__.py").read_text()})
    both = archgan_command(lab, "show", "pggan-small", path="installed", plugins="labgan_copy")
    assert both.returncode == 1
    assert ("layer type 'channel_gain' is registered by the plugin 'labgan' and again by the plugin 'labgan_copy'"
            in both.stderr)


def test_a_plugin_loaded_after_first_use_is_in_the_schema(lab):
    """The schema caches cannot go stale: a notebook loading a plugin late sees its types everywhere."""
    script = textwrap.dedent("""
        from archgan.layers import load_plugin, layer_type
        from archgan.spec import load_spec
        from archgan.spec.schema import network_schema
        load_spec("pggan-small", "generator")
        assert "channel_gain" not in network_schema("generator")["$defs"]["layer_types"]
        load_plugin("labgan")
        assert "channel_gain" in network_schema("generator")["$defs"]["layer_types"]
        spec = load_spec("../generator.yaml")
        assert layer_type("channel_gain").origin == "labgan"
        print(spec.to_dict()["plugins"])
        """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ARCHGAN_ROOT), str(lab / "plain")])}
    env.pop("ARCHGAN_PLUGINS", None)
    result = subprocess.run([sys.executable, "-c", script], check=False, cwd=lab / "work", env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "{'labgan': ['channel_gain']}"


def test_a_name_that_exists_is_refused_naming_both_origins():
    before = dict(layer_types())
    with pytest.raises(PluginError, match="'pixelnorm' is registered by archgan itself and again by the plugin "
                                          "'test_plugins'"):
        register(LayerType(name="pixelnorm", family="norm", doc="", options={}, output_shape=same_shape,
                           build=lambda options, shape, context: None, parameters=no_parameters, example={}))
    assert dict(layer_types()) == before and layer_types()["pixelnorm"].origin == "archgan"


def test_builtin_specs_name_no_plugins_and_a_record_for_a_loaded_type_is_accepted():
    with pytest.raises(PluginError, match="not a path or code"):
        load_plugin("labgan; import os")
    assert all(kind.origin == "archgan" for kind in layer_types().values())
    spec = load_spec_text('{"network": "generator", "base": "pggan-small", "plugins": {"archgan": ["conv"]}}')
    assert "plugins" not in spec.to_dict()
