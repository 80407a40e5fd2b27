"""Attention layers against plain computations, and FAGAN's own package loaded into ours."""
from __future__ import annotations

import shutil

import pytest
import torch
import torch.nn.functional as F

from archgan.interop.pretrained import load_pretrained
from archgan.layers import BuildContext, layer_type
from archgan.layers.activations import normalize_activation
from archgan.networks import build_network
from archgan.spec import load_spec

CONTEXT = BuildContext(image_channels=3)


def build(type_name: str, shape, **options):
    kind = layer_type(type_name)
    merged = {"type": type_name, **kind.defaults(), **options}
    merged["activation"] = normalize_activation(merged["activation"])
    return kind.build(merged, shape, CONTEXT)


def _conv(layer, x):
    """A 1×1 WeightedLayer (possibly spectrally normalized) applied by hand."""
    return F.conv2d(x, layer.weight, layer.bias)


def _reference_self_attention(layer, x, pool: bool):
    batch, channels, height, width = x.shape
    q = _conv(layer.query, x).flatten(2)  # [B, Ck, N]
    k, v = _conv(layer.key, x), _conv(layer.value, x)
    if pool:
        k, v = F.max_pool2d(k, 2), F.max_pool2d(v, 2)
    energy = torch.bmm(q.transpose(1, 2), k.flatten(2))  # [B, N, N'], no 1/sqrt(d)
    attention = torch.softmax(energy, dim=-1)
    out = torch.bmm(v.flatten(2), attention.transpose(1, 2)).view(batch, -1, height, width)
    if layer.output is not None:
        out = _conv(layer.output, out)
    return layer.gamma * out + x


@pytest.mark.parametrize(
    "variant",
    [
        {},  # SAGAN: C/8 keys, C values
        {"value_squeeze_factor": 2, "pool": True, "output_projection": True, "bias": False, "spectral_norm": True},
    ],
    ids=["sagan", "biggan"],
)
def test_self_attention_matches_explicit_bmm_softmax(variant):
    layer = build("self_attention", (32, 8, 8), **variant).eval()
    x = torch.randn(2, 32, 8, 8)
    with torch.no_grad():
        assert torch.equal(layer(x), x)  # gamma starts at 0: the identity
        layer.gamma.fill_(0.7)
        assert torch.allclose(layer(x), _reference_self_attention(layer, x, variant.get("pool", False)), atol=1e-5)
    assert layer.query.weight.shape[0] == 4 and layer.value.weight.shape[0] == 32 // variant.get("value_squeeze_factor", 1)


def test_full_attention_matches_explicit_computation():
    layer = build("full_attention", (16, 4, 4), channels=8, kernel=4, stride=2, padding=1, transpose=True,
                  squeeze_factor=4, activation={"type": "lrelu", "slope": 0.3}).eval()
    x = torch.randn(2, 16, 4, 4)
    with torch.no_grad():
        layer.gamma.fill_(0.4)
        deconv = lambda conv: F.conv_transpose2d(x, conv.weight, conv.bias, stride=2, padding=1)
        q, k, v = deconv(layer.query).flatten(2), deconv(layer.key).flatten(2), deconv(layer.value)
        attention = torch.softmax(torch.bmm(q.transpose(1, 2), k), dim=-1)
        o = torch.bmm(v.flatten(2), attention.transpose(1, 2)).view(v.shape)
        r = layer.batchnorm(deconv(layer.residual))
        expected = 0.4 * F.leaky_relu(o, 0.3) + 0.6 * F.leaky_relu(r, 0.3)
        assert torch.allclose(layer(x), expected, atol=1e-5)


def test_attention_supports_the_double_backward_of_gradient_penalties():
    layer = build("self_attention", (16, 4, 4))
    with torch.no_grad():
        layer.gamma.fill_(1.0)
    x = torch.randn(2, 16, 4, 4, requires_grad=True)
    (gradient,) = torch.autograd.grad(layer(x).sum(), x, create_graph=True)
    gradient.square().sum().backward()
    assert layer.query.weight.grad is not None


# ------------------------------------------------------------------- the real attn_gan_pytorch


@pytest.fixture(scope="module")
def attn_gan(request):
    """The package itself (a test dependency). Its get_config calls yaml.load without a Loader,
    which PyYAML 6 refuses: the shim gives it the safe loader, inside this test only."""
    pytest.importorskip("attn_gan_pytorch", reason="attn-gan-pytorch could not be installed from PyPI")
    pytest.importorskip("easydict", reason="easydict (needed by attn_gan_pytorch) could not be installed")
    import yaml

    from attn_gan_pytorch import ConfigManagement, Networks, Utils

    original = yaml.load
    yaml.load = lambda stream, Loader=yaml.SafeLoader, **kw: original(stream, Loader=Loader, **kw)
    request.addfinalizer(lambda: setattr(yaml, "load", original))
    return ConfigManagement, Networks, Utils


@pytest.mark.parametrize("role,conf", [("generator", "gen.conf"), ("discriminator", "dis.conf")])
def test_fagan_weights_give_identical_outputs(attn_gan, role, conf, fagan_confs, tmp_path):
    config_management, networks, utils = attn_gan
    torch.manual_seed(1)
    config = config_management.get_config(str(fagan_confs / conf))
    layers = list(map(utils.get_layer, config.architecture))
    theirs = networks.Generator(layers, 128) if role == "generator" else networks.Discriminator(layers)
    with torch.no_grad():  # non-trivial gammas and batch-norm statistics, so every path counts
        for name, tensor in theirs.state_dict().items():
            if name.endswith("gamma"):
                tensor.uniform_(0.2, 0.8)
            elif name.endswith("running_mean"):
                tensor.normal_(0, 0.1)
            elif name.endswith("running_var"):
                tensor.uniform_(0.5, 1.5)
    torch.save(theirs.state_dict(), tmp_path / "GAN_GEN_10.pth")
    shutil.copy(fagan_confs / conf, tmp_path / conf)

    ours = build_network(load_spec(tmp_path / conf, role))
    assert load_pretrained(ours, tmp_path / "GAN_GEN_10.pth").left == []
    theirs.eval()
    ours.eval()
    inputs = torch.randn(4, 128, 1, 1) if role == "generator" else torch.rand(4, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        expected = theirs(inputs)
        got = ours(inputs.flatten(1) if role == "generator" else inputs)
    assert got.shape == (expected.shape if role == "generator" else (4,))
    assert (got - expected.reshape(got.shape)).abs().max().item() < 1e-5
