"""Image folders, the uint8 cache, corrupt files, and the per-step real batches."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from archgan.data.folder import load_image_folder
from archgan.data.stream import RealImages
from archgan.errors import DatasetError
from archgan.resources import bundled_emoji_dir
from archgan.cli import main
from archgan.data import folder as folder_module


def test_nested_folder_of_every_format_is_decoded_to_squares(image_folder):
    cache = load_image_folder(image_folder, 16, 3)
    assert cache.images.shape == (40, 3, 16, 16) and cache.images.dtype == np.uint8
    assert {name.rsplit(".", 1)[1] for name in cache.files} == {"png", "jpg", "webp", "bmp"}
    assert all(name.startswith("group") for name in cache.files)
    assert cache.skipped == []


def test_center_crop_and_grayscale(tmp_path):
    image = Image.new("RGB", (30, 10), (0, 0, 0))
    image.paste((255, 255, 255), (10, 0, 20, 10))  # a white middle third: the center crop is all white
    (tmp_path / "wide").mkdir()
    image.save(tmp_path / "wide" / "a.png")
    cache = load_image_folder(tmp_path / "wide", 8, 1)
    assert cache.images.shape == (1, 1, 8, 8) and cache.images.min() == 255


def test_transparent_images_are_composited_on_white(tmp_path):
    (tmp_path / "alpha").mkdir()
    Image.new("RGBA", (8, 8), (255, 0, 0, 0)).save(tmp_path / "alpha" / "clear.png")
    assert load_image_folder(tmp_path / "alpha", 8, 3).images.min() == 255


def test_cache_is_reused_and_keyed_by_contents(image_folder, monkeypatch):
    first = load_image_folder(image_folder, 16, 3)
    monkeypatch.setattr(folder_module, "_decode", lambda *a: pytest.fail("decoded again"))
    again = load_image_folder(image_folder, 16, 3)
    assert again.path == first.path and np.array_equal(again.images, first.images)
    monkeypatch.undo()
    assert load_image_folder(image_folder, 8, 3).path != first.path  # another resolution
    Image.new("RGB", (16, 16)).save(image_folder / "new.png")
    assert load_image_folder(image_folder, 16, 3).path != first.path  # new contents


def test_corrupt_files_are_named_and_skipped(image_folder):
    good = (image_folder / "group0" / "image000.png").read_bytes()
    (image_folder / "truncated.jpg").write_bytes((image_folder / "group1" / "image001.jpg").read_bytes()[:200])
    (image_folder / "empty.png").write_bytes(b"")
    (image_folder / "notes.png").write_text("this is not an image")
    (image_folder / "half.png").write_bytes(good[: len(good) // 2])
    cache = load_image_folder(image_folder, 16, 3)
    assert len(cache.images) == 40
    assert {name for name, _ in cache.skipped} == {"truncated.jpg", "empty.png", "notes.png", "half.png"}
    assert all(why for _, why in cache.skipped)


def test_prepare_fills_the_cache_training_reads_and_names_broken_files(image_folder, tmp_path, capsys, monkeypatch):
    (image_folder / "notes.png").write_text("this is not an image")
    grid = tmp_path / "grid.png"
    assert main(["prepare", str(image_folder), "--grid", str(grid), "--resolution", "16", "--count", "9"]) == 0
    report = capsys.readouterr().out
    assert report.startswith("40 images at 32×32, 3 channel(s), for 'pggan-small'")
    assert f"{image_folder / 'notes.png'}: UnidentifiedImageError" in report
    with Image.open(grid) as picture:  # 8 columns, 2 rows of 16×16 images with 2-pixel padding
        assert picture.size == (2 + 8 * 18, 2 + 2 * 18)
    monkeypatch.setattr(folder_module, "_decode", lambda *_: pytest.fail("decoded again"))
    prepared = load_image_folder(image_folder, 32, 3)  # what the trainer loads at 32×32: already in the cache
    assert str(prepared.path) in report and len(prepared.images) == 40
    assert main(["prepare", str(image_folder), "--grid", str(grid), "--resolution", "24"]) == 1
    assert "--resolution 24: must divide the cache's 32×32" in capsys.readouterr().err


def test_empty_and_unusable_folders_are_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no images found"):
        load_image_folder(tmp_path / "empty", 16, 3)
    with pytest.raises(DatasetError, match="no such folder"):
        load_image_folder(tmp_path / "missing", 16, 3)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "a.png").write_text("nope")
    with pytest.raises(DatasetError, match="none of the 1 image files could be read"):
        load_image_folder(tmp_path / "broken", 16, 3)


def test_bundled_emoji():
    files = sorted(bundled_emoji_dir().glob("*.png"))
    assert len(files) == 3916
    with Image.open(bundled_emoji_dir() / "1f600.png") as face:
        assert face.size == (64, 64) and face.mode == "RGB"


def _stream(count: int = 12, size: int = 8, mirror: bool = False) -> RealImages:
    images = torch.randint(0, 256, (count, 3, size, size), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)
    return RealImages(images.numpy(), torch.device("cpu"), seed=0, mirror=mirror)


def test_batches_cover_every_image_once_per_epoch():
    stream = _stream()
    seen = [stream._indices(5) for _ in range(12)]  # 60 draws = 5 epochs of 12
    flat = torch.cat(seen)
    for epoch in range(5):
        assert sorted(flat[epoch * 12 : (epoch + 1) * 12].tolist()) == list(range(12))


def test_real_batches_are_pooled_and_faded_as_the_official_code():
    stream = _stream()
    stream_copy = _stream()
    full = stream_copy.next(4, 8, 1.0)
    assert full.min() >= -1 and full.max() <= 1
    low = stream.next(4, 4, 1.0)
    assert torch.allclose(low, F.avg_pool2d(full, 2), atol=1e-6)
    faded = _stream().next(4, 8, 0.25)
    coarse = F.interpolate(F.avg_pool2d(full, 2), scale_factor=2, mode="nearest")
    assert torch.allclose(faded, 0.75 * coarse + 0.25 * full, atol=1e-6)


def test_mirror_flips_about_half_the_images():
    plain, mirrored = _stream(count=400, mirror=False), _stream(count=400, mirror=True)
    a, b = plain.next(400, 8, 1.0), mirrored.next(400, 8, 1.0)
    flipped = [(not torch.equal(x, y)) and torch.equal(x.flip(2), y) for x, y in zip(a, b)]
    assert all(torch.equal(x, y) or f for x, y, f in zip(a, b, flipped))
    assert 150 < sum(flipped) < 250


def test_stream_state_round_trip():
    stream = _stream(mirror=True)
    stream.next(5, 8, 1.0)
    state = stream.state_dict()
    expected = stream.next(7, 8, 1.0)
    again = _stream(mirror=True)
    again.load_state_dict(state)
    assert torch.equal(again.next(7, 8, 1.0), expected)
