"""Shared test helpers: small specs written to temporary files, image folders, the FAGAN .conf pairs."""
from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
REFERENCE_ENVIRONMENT = "ARCHGAN_REFERENCE_DIR"
"""A folder of real files from the wild (.ci/run points it at the reference folder beside the checkout); tests that read such files
always run on the repository's own copies and, when this is set, on the real ones as well."""


def fagan_conf_folders() -> list[Path]:
    """FAGAN's fagan_1 gen.conf/dis.conf: ours (docs/examples/fagan_1) and the published ones when given."""
    folders = [REPO / "docs" / "examples" / "fagan_1"]
    reference = os.environ.get(REFERENCE_ENVIRONMENT)
    if reference and (Path(reference) / "fagan_1").is_dir():
        folders.append(Path(reference) / "fagan_1")
    return folders


@pytest.fixture(params=fagan_conf_folders(), ids=lambda folder: "reference" if folder.parent.name != "examples"
                else "ours")
def fagan_confs(request) -> Path:
    """A folder holding gen.conf and dis.conf in attn_gan_pytorch's format."""
    return request.param


@pytest.fixture
def write(tmp_path: Path):
    """write(text, name='generator.yaml') -> path of a file holding the dedented text."""

    def _write(text: str, name: str = "generator.yaml") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return _write


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield


def assert_pair_fades_and_trains_backward(generator, discriminator) -> None:
    """A small 4×4 → 8×8 pair of built networks, halfway through the 8×8 fade-in: G makes [4, 3, 8, 8], D
    scores them, and the backward pass reaches every parameter of G."""
    images = generator(torch.randn(4, generator.latent_size), depth=2, alpha=0.5)
    assert images.shape == (4, 3, 8, 8)
    score = discriminator(images, depth=2, alpha=0.5)
    assert score.shape == (4,)
    score.sum().backward()
    assert all(p.grad is not None for p in generator.parameters())


def make_images(folder: Path, count: int = 40, size: int = 32) -> Path:
    """`count` small pictures (a coloured disc or square on a plain background) in nested folders,
    in every supported format."""
    from PIL import Image, ImageDraw

    generator = torch.Generator().manual_seed(123)
    formats = ["png", "jpg", "webp", "bmp"]
    for index in range(count):
        colour = tuple(int(c) for c in torch.randint(0, 256, (3,), generator=generator))
        image = Image.new("RGB", (size + 8 * (index % 3), size), (250, 250, 245))
        draw = ImageDraw.Draw(image)
        box = (size // 4, size // 4, 3 * size // 4, 3 * size // 4)
        (draw.ellipse if index % 2 else draw.rectangle)(box, fill=colour)
        sub = folder / f"group{index % 3}"
        sub.mkdir(parents=True, exist_ok=True)
        image.save(sub / f"image{index:03d}.{formats[index % 4]}")
    return folder


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    return make_images(tmp_path / "images")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch):
    """Each test decodes into its own cache folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
