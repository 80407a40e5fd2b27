"""The trainable variables of NVlabs/stylegan's G_style (G_mapping + G_synthesis) and D_basic at 1024², with
the settings its train.py uses, counted from training/networks_stylegan.py @ 1e0d5c781384ef12b50ef20a62fee5d78b38e88f.

That code is TensorFlow 1 and does not run here, so this script follows it variable by variable: each
`tf.get_variable` it makes with `trainable` left at True, with the shape its arguments give, per variable
scope (dense: weight [fan_in, fmaps]; conv2d and the fused up/down-scaling convolutions: weight
[k, k, in, out]; apply_bias: bias [channels]; apply_noise: weight [channels], its noise%d inputs are
trainable=False; style_mod: a dense to 2·channels and its bias; the minibatch stddev adds one channel).
Its generator total equals what the official pretrained_example.py prints for the FFHQ generator (the
repository's README: "Total 26219627"). tests/test_styles.py asserts these numbers against archgan's
stylegan built-in. Run: python scripts/count_stylegan.py
"""
from __future__ import annotations

RESOLUTION_LOG2, CHANNELS, DLATENT = 10, 3, 512


def nf(stage: int) -> int:
    """Feature maps of a stage: fmap_base 8192, fmap_decay 1.0, fmap_max 512."""
    return min(int(8192 / 2.0 ** stage), 512)


def dense(fan_in: int, fmaps: int) -> int:
    return fan_in * fmaps


def conv(fan_in: int, fmaps: int, kernel: int) -> int:
    return kernel * kernel * fan_in * fmaps


def style_mod(channels: int) -> int:
    return dense(DLATENT, 2 * channels) + 2 * channels


def epilogue(channels: int) -> int:
    """layer_epilogue: the noise weight, the bias, the style (instance norm and the activation have none)."""
    return channels + channels + style_mod(channels)


def generator() -> dict[str, int]:
    variables = {f"G_mapping/Dense{i}": dense(512, 512) + 512 for i in range(8)}
    variables["G_synthesis/4x4/Const"] = nf(1) * 4 * 4 + epilogue(nf(1))
    variables["G_synthesis/4x4/Conv"] = conv(nf(1), nf(1), 3) + epilogue(nf(1))
    for res in range(3, RESOLUTION_LOG2 + 1):
        size = f"{2 ** res}x{2 ** res}"
        variables[f"G_synthesis/{size}/Conv0_up"] = conv(nf(res - 2), nf(res - 1), 3) + epilogue(nf(res - 1))
        variables[f"G_synthesis/{size}/Conv1"] = conv(nf(res - 1), nf(res - 1), 3) + epilogue(nf(res - 1))
    for res in range(2, RESOLUTION_LOG2 + 1):
        variables[f"G_synthesis/ToRGB_lod{RESOLUTION_LOG2 - res}"] = conv(nf(res - 1), CHANNELS, 1) + CHANNELS
    return variables


def discriminator() -> dict[str, int]:
    variables = {}
    for res in range(RESOLUTION_LOG2, 1, -1):
        variables[f"FromRGB_lod{RESOLUTION_LOG2 - res}"] = conv(CHANNELS, nf(res - 1), 1) + nf(res - 1)
    for res in range(RESOLUTION_LOG2, 2, -1):
        size = f"{2 ** res}x{2 ** res}"
        variables[f"{size}/Conv0"] = conv(nf(res - 1), nf(res - 1), 3) + nf(res - 1)
        variables[f"{size}/Conv1_down"] = conv(nf(res - 1), nf(res - 2), 3) + nf(res - 2)
    variables["4x4/Conv"] = conv(nf(1) + 1, nf(1), 3) + nf(1)
    variables["4x4/Dense0"] = dense(nf(1) * 16, nf(0)) + nf(0)
    variables["4x4/Dense1"] = dense(nf(0), 1) + 1
    return variables


if __name__ == "__main__":
    for name, variables in (("G_style", generator()), ("D_basic", discriminator())):
        for scope, count in variables.items():
            print(f"{name:8} {scope:28} {count:>12,}")
        print(f"{name:8} {'total':28} {sum(variables.values()):>12,}\n")
