"""Image folders, the uint8 cache, corrupt files, and the per-step real batches."""
from __future__ import annotations

import logging
import os

import numpy as np
import png
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


def _expected_8_bit(values: np.ndarray) -> np.ndarray:
    return np.rint(values.astype(np.float64) * 255 / 65535).astype(np.uint8)


def test_16_bit_greyscale_is_scaled_not_clipped(tmp_path):
    (tmp_path / "deep").mkdir()
    gradient = np.linspace(0, 65535, 16 * 16).round().astype(np.uint16).reshape(16, 16)
    Image.fromarray(gradient).save(tmp_path / "deep" / "gradient.png")  # mode I;16
    with Image.open(tmp_path / "deep" / "gradient.png") as saved:
        assert saved.mode == "I;16"
    for channels in (1, 3):
        cache = load_image_folder(tmp_path / "deep", 16, channels)
        assert np.array_equal(cache.images[0], np.repeat(_expected_8_bit(gradient)[None], channels, axis=0))


def test_16_bit_colour_pngs_are_scaled_and_their_alpha_composited_on_white(tmp_path):
    (tmp_path / "deep").mkdir()
    values = np.random.default_rng(0).integers(0, 65536, (8, 8, 3), dtype=np.uint16)
    values[0, 0] = (65280, 32896, 257)  # where keeping the high byte (255, 128, 1) differs from scaling (254, 128, 1)
    png.from_array(values.reshape(8, 24), "RGB;16").save(tmp_path / "deep" / "rgb.png")
    assert np.array_equal(load_image_folder(tmp_path / "deep", 8, 3).images[0], _expected_8_bit(values).transpose(2, 0, 1))
    (tmp_path / "deep" / "rgb.png").unlink()
    rgba = np.zeros((8, 8, 4), dtype=np.uint16)
    rgba[:4] = (0, 0, 0, 65535)  # opaque black above, fully transparent red below
    rgba[4:] = (65535, 0, 0, 0)
    png.from_array(rgba.reshape(8, 32), "RGBA;16").save(tmp_path / "deep" / "rgba.png")
    image = load_image_folder(tmp_path / "deep", 8, 3).images[0]
    assert image[:, :4].max() == 0 and image[:, 4:].min() == 255


def test_32_bit_integer_and_float_images_are_scaled(tmp_path):
    """Pillow reads images by their contents: a TIFF of 32-bit integers (read as 16-bit values) or floats
    (in [0, 1]) behind an image suffix is decoded by the same rules."""
    (tmp_path / "deep").mkdir()
    integers = np.linspace(0, 70000, 64).round().astype(np.int32).reshape(8, 8)  # the top row past 65535: clipped
    Image.fromarray(integers, mode="I").save(tmp_path / "deep" / "integers.png", format="TIFF")
    floats = np.linspace(-0.5, 1.5, 64, dtype=np.float32).reshape(8, 8)
    Image.fromarray(floats, mode="F").save(tmp_path / "deep" / "floats.png", format="TIFF")
    cache = load_image_folder(tmp_path / "deep", 8, 1)
    decoded = dict(zip(cache.files, cache.images[:, 0]))
    assert np.array_equal(decoded["integers.png"], _expected_8_bit(np.clip(integers, 0, 65535)))
    assert np.array_equal(decoded["floats.png"], np.rint(np.clip(floats.astype(np.float64), 0, 1) * 255))


@pytest.mark.parametrize("mode", ["RGB", "I;16"])
def test_exif_orientation_is_applied(tmp_path, mode):
    """Orientation 6 (a camera held upright, the picture stored sideways): shown rotated 90° clockwise."""
    (tmp_path / "photos").mkdir()
    stored = np.random.default_rng(1).integers(0, 256, (8, 16), dtype=np.uint8)  # 16 wide, 8 high as stored
    exif = Image.Exif()
    exif[0x0112] = 6
    image = Image.fromarray(stored.astype(np.uint16) * 257) if mode == "I;16" else Image.fromarray(stored).convert("RGB")
    image.save(tmp_path / "photos" / "portrait.png", exif=exif)
    upright = np.rot90(stored, k=-1)  # 8 wide, 16 high
    assert np.array_equal(load_image_folder(tmp_path / "photos", 8, 1).images[0, 0], upright[4:12])


def test_palette_bilevel_greyscale_and_cmyk_images_are_converted(tmp_path):
    folder = tmp_path / "modes"
    folder.mkdir()
    palette = Image.new("P", (4, 4))
    palette.putpalette([0, 0, 0, 10, 200, 30])
    palette.paste(1, (0, 0, 4, 4))
    palette.save(folder / "palette.png")
    Image.new("1", (4, 4), 1).save(folder / "bilevel.png")
    Image.new("L", (4, 4), 77).save(folder / "grey.png")
    Image.new("LA", (4, 4), (0, 0)).save(folder / "transparent-grey.png")
    Image.new("CMYK", (4, 4), (255, 0, 0, 0)).save(folder / "cyan.jpg", quality=100)
    cache = load_image_folder(folder, 4, 3)
    colours = {name: tuple(int(c) for c in image[:, 1, 1]) for name, image in zip(cache.files, cache.images)}
    assert colours["palette.png"] == (10, 200, 30) and colours["bilevel.png"] == (255, 255, 255)
    assert colours["grey.png"] == (77, 77, 77) and colours["transparent-grey.png"] == (255, 255, 255)
    assert np.allclose(colours["cyan.jpg"], (0, 255, 255), atol=3)


def test_cache_of_older_decoding_rules_is_not_reused(image_folder, monkeypatch):
    first = load_image_folder(image_folder, 16, 3)
    monkeypatch.setattr(folder_module, "DECODING_RULES", folder_module.DECODING_RULES + 1)
    assert load_image_folder(image_folder, 16, 3).path != first.path


def test_links_that_loop_or_point_nowhere_are_reported_and_linked_folders_read_once(image_folder):
    (image_folder / "loop").symlink_to(".")  # a folder that contains itself
    (image_folder / "group0" / "up").symlink_to("..")
    (image_folder / "again").symlink_to("group1")  # a second way to the same folder
    (image_folder / "gone.png").symlink_to("missing.png")
    (image_folder / "self.png").symlink_to("self.png")
    (image_folder.parent / "elsewhere").mkdir()
    Image.new("RGB", (16, 16)).save(image_folder.parent / "elsewhere" / "extra.png")
    (image_folder / "linked").symlink_to(image_folder.parent / "elsewhere")  # followed
    for _ in range(2):  # decoded, then from the cache: the folder's problems are reported both times
        cache = load_image_folder(image_folder, 16, 3)
        assert len(cache.images) == 41 and "linked/extra.png" in cache.files
        assert dict(cache.skipped) == {
            "loop": "symlink loop: leads back to '.', a folder that contains it",
            "group0/up": "symlink loop: leads back to '.', a folder that contains it",
            "again": "the same folder as 'group1', already read",
            "gone.png": "broken link: its target 'missing.png' does not exist",
            "self.png": "symlink loop: the link leads back to itself",
        }


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_files_and_folders_are_reported(image_folder):
    (image_folder / "group0" / "image000.png").chmod(0)
    (image_folder / "group1").chmod(0)
    try:
        cache = load_image_folder(image_folder, 16, 3)
    finally:
        (image_folder / "group1").chmod(0o755)
    assert dict(cache.skipped) == {"group0/image000.png": "PermissionError: Permission denied",
                                   "group1": "cannot list this folder: Permission denied"}
    assert len(cache.images) == 40 - 1 - 13


def test_names_that_are_not_utf8_are_reported_printably(image_folder, capsys, caplog):
    good, broken = os.fsdecode(b"caf\xe9.png"), os.fsdecode(b"broken-\xff.png")
    Image.new("RGB", (16, 16)).save(image_folder / good, format="PNG")
    (image_folder / broken).write_text("not an image")
    with caplog.at_level(logging.INFO, logger="archgan.data.folder"):
        cache = load_image_folder(image_folder, 32, 3)
    assert len(cache.images) == 41 and good in cache.files
    assert [name for name, _ in cache.skipped] == ["broken-\\xff.png"]
    cache.skipped[0][1].encode("utf-8")  # the reason (Pillow's message names the file) is printable too
    assert main(["prepare", str(image_folder)]) == 0
    report = capsys.readouterr().out
    assert f"{image_folder}/broken-\\xff.png: UnidentifiedImageError" in report
    report.encode("utf-8")


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
    full, _ = stream_copy.next(4, 8, 1.0)
    assert full.min() >= -1 and full.max() <= 1
    low, _ = stream.next(4, 4, 1.0)
    assert torch.allclose(low, F.avg_pool2d(full, 2), atol=1e-6)
    faded, _ = _stream().next(4, 8, 0.25)
    coarse = F.interpolate(F.avg_pool2d(full, 2), scale_factor=2, mode="nearest")
    assert torch.allclose(faded, 0.75 * coarse + 0.25 * full, atol=1e-6)


def test_mirror_flips_about_half_the_images():
    plain, mirrored = _stream(count=400, mirror=False), _stream(count=400, mirror=True)
    (a, _), (b, _) = plain.next(400, 8, 1.0), mirrored.next(400, 8, 1.0)
    flipped = [(not torch.equal(x, y)) and torch.equal(x.flip(2), y) for x, y in zip(a, b)]
    assert all(torch.equal(x, y) or f for x, y, f in zip(a, b, flipped))
    assert 150 < sum(flipped) < 250


def test_stream_state_round_trip():
    stream = _stream(mirror=True)
    stream.next(5, 8, 1.0)
    state = stream.state_dict()
    expected, _ = stream.next(7, 8, 1.0)
    again = _stream(mirror=True)
    again.load_state_dict(state)
    assert torch.equal(again.next(7, 8, 1.0)[0], expected)


def test_16_bit_tiff_files_are_training_images(tmp_path):
    """TIFF, where most 16-bit and float images come from, is read like the other formats."""
    folder = tmp_path / "tiffs"
    folder.mkdir()
    Image.fromarray(np.full((8, 8), 65535, dtype=np.uint16)).save(folder / "white.tif")
    cache = load_image_folder(folder, 4, 3)
    assert cache.files == ["white.tif"] and (cache.images == 255).all()
