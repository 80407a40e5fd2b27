"""The file format: round trips, JSON templates, YAML anchors, bases, and the generated schemas."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from archgan.resources import architectures_dir, schemas_dir
from archgan.spec import load_spec, load_spec_text
from archgan.cli.schemas import write_schemas
from archgan.spec.schema import network_schema

SHIPPED = sorted(p for p in architectures_dir().glob("*/*.yaml") if p.stem in ("generator", "discriminator"))


def test_every_builtin_is_shipped():
    assert {p.parent.name for p in SHIPPED} >= {"pggan", "pggan-256", "pggan-128", "pggan-small"}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_json_round_trip_is_the_identity(path):
    spec = load_spec(path)
    again = load_spec_text(spec.to_json())
    assert again == spec
    assert again.to_json() == spec.to_json()


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_shipped_and_canonical_files_pass_the_published_schema(path):
    """What an editor does with the $schema line: plain jsonschema against the file in schemas/."""
    raw = yaml.safe_load(path.read_text())
    schema = json.loads((schemas_dir() / f"{raw['network']}.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(raw)
    jsonschema.Draft202012Validator(schema).validate(json.loads(load_spec(path).to_json()))


@pytest.mark.parametrize("path", sorted(architectures_dir().glob("*/training.yaml")), ids=lambda p: p.parent.name)
def test_shipped_training_files_pass_the_published_schema(path):
    schema = json.loads((schemas_dir() / "training.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(yaml.safe_load(path.read_text()))


def test_every_builtin_has_a_training_file():
    assert {p.parent.name for p in SHIPPED} == {p.parent.name for p in architectures_dir().glob("*/training.yaml")}


def test_schema_files_are_fresh(tmp_path):
    """schemas/ is generated from the layer registry by `archgan schemas`; this fails when it is stale."""
    for written in write_schemas(tmp_path):
        assert written.read_text() == (schemas_dir() / written.name).read_text(), (
            f"schemas/{written.name} is stale: run `archgan schemas`"
        )


def test_schema_is_draft_2020_12():
    for role in ("generator", "discriminator"):
        schema = network_schema(role)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        jsonschema.Draft202012Validator.check_schema(schema)


SMALL_GENERATOR_JSON = {
    "network": "generator",
    "name": "pggan-small",
    "latent_size": 128,
    "defaults": {
        "conv": {"equalized_lr": True, "activation": "lrelu"},
        "dense": {"equalized_lr": True, "activation": "lrelu"},
        "to_rgb": {"equalized_lr": True},
    },
    "templates": {
        "conv_pn": [{"type": "conv"}, {"type": "pixelnorm"}],
        "grow": [{"type": "upsample"}, {"use": "conv_pn"}, {"use": "conv_pn"}],
    },
    "stages": [
        {"resolution": 4, "layers": [
            {"type": "pixelnorm"},
            {"type": "dense", "channels": 128, "reshape": [4, 4], "gain": 0.3535533905932738},
            {"type": "pixelnorm"},
            {"use": "conv_pn", "channels": 128},
        ]},
        {"resolution": 8, "layers": [{"use": "grow", "channels": 128}]},
        {"resolution": 16, "layers": [{"use": "grow", "channels": 64}]},
        {"resolution": 32, "layers": [{"use": "grow", "channels": 32}]},
    ],
}


def test_json_templates_with_overrides_equal_the_yaml_builtin(tmp_path):
    path = tmp_path / "generator.json"
    path.write_text(json.dumps(SMALL_GENERATOR_JSON, indent=2))
    assert load_spec(path) == load_spec("pggan-small", "generator")


def test_yaml_anchors_and_merge_keys(write):
    path = write(
        """
        network: generator
        latent_size: 16
        templates:
          c: &conv {type: conv, channels: 8, equalized_lr: true, activation: lrelu}
        stages:
          - resolution: 4
            layers:
              - {type: dense, channels: 8, reshape: [4, 4]}
              - *conv
              - {<<: *conv, channels: 4}
        """
    )
    spec = load_spec(path)
    conv, narrow = spec.stages[0].layers[1], spec.stages[0].layers[2]
    assert conv.options["channels"] == 8 and narrow.options["channels"] == 4
    assert narrow.options["activation"] == {"type": "lrelu", "slope": 0.2, "gain": 1.0, "clamp": None}


def test_errors_inside_an_anchor_point_at_the_anchor(write):
    path = write(
        """
        network: generator
        latent_size: 16
        templates:
          c: &conv {type: conv, channels: 8, kernell: 3}
        stages:
          - resolution: 4
            layers:
              - {type: dense, channels: 8, reshape: [4, 4]}
              - {<<: *conv, channels: 4}
        """
    )
    with pytest.raises(Exception) as caught:
        load_spec(path)
    assert f"{path}:4: at $.templates.c.kernell: unknown key 'kernell'" in str(caught.value)


def test_defaults_apply_unless_a_layer_overrides_them(write):
    path = write(
        """
        network: generator
        latent_size: 16
        defaults: {conv: {activation: {type: lrelu, slope: 0.1}, equalized_lr: true}}
        stages:
          - resolution: 4
            layers:
              - {type: dense, channels: 8, reshape: [4, 4]}
              - {type: conv, channels: 8}
              - {type: conv, channels: 8, activation: tanh}
        """
    )
    layers = load_spec(path).stages[0].layers
    assert layers[1].options["activation"] == {"type": "lrelu", "slope": 0.1, "gain": 1.0, "clamp": None}
    assert layers[1].options["equalized_lr"] is True
    assert layers[2].options["activation"] == {"type": "tanh", "gain": 1.0, "clamp": None}
    assert layers[0].options["equalized_lr"] is False  # defaults are per type


def test_base_with_max_resolution_keeps_the_lower_stages(write):
    path = write("network: discriminator\nbase: pggan\nmax_resolution: 64\nname: mine\n", "discriminator.yaml")
    spec = load_spec(path)
    full = load_spec("pggan", "discriminator")
    assert spec.name == "mine" and spec.resolutions == [64, 32, 16, 8, 4]
    assert spec.stages == full.stages[4:]
    assert spec.stages[0].rgb[0].options["channels"] == 256  # inferred on the full network


def test_base_merges_defaults(write):
    path = write(
        "network: generator\nbase: pggan-small\ndefaults: {conv: {activation: relu}}\n", "generator.yaml"
    )
    conv = load_spec(path).stages[0].layers[3]
    assert conv.type == "conv" and conv.options["activation"] == {"type": "relu", "gain": 1.0, "clamp": None}
    assert conv.options["equalized_lr"] is True  # the base's other conv defaults remain


def test_canonical_json_is_fully_explicit():
    document = json.loads(load_spec("pggan-small", "discriminator").to_json())
    assert "templates" not in document and "defaults" not in document
    conv = document["stages"][0]["layers"][0]
    assert conv == {
        "type": "conv", "channels": 32, "kernel": 3, "stride": 1, "padding": "same", "bias": True,
        "activation": {"type": "lrelu", "slope": 0.2, "gain": 1.0, "clamp": None}, "equalized_lr": True,
        "gain": 1.4142135623730951,
        "spectral_norm": False, "init": "auto", "init_scale": 1.0, "lr_multiplier": 1.0,
    }
    assert document["stages"][1]["from_rgb"][0]["channels"] == 64


def test_name_defaults_to_the_folder(write):
    path = write(Path(architectures_dir() / "pggan-small" / "generator.yaml").read_text().replace("name: pggan-small\n", ""),
                 "my_arch/generator.yaml")
    assert load_spec(path).name == "my_arch"
