"""The speed options of a run, their defaults per device, and the backend flags they set, in a context that
restores the flags afterwards (a library must not leave torch changed behind it)."""
from __future__ import annotations

import contextlib
from typing import Iterator

SPEED_OPTIONS = {
    "amp": "bf16 autocast of the forward passes (losses and penalties stay float32)",
    "channels_last": "NHWC memory layout for convolutions",
    "tf32": "TF32 tensor cores for float32 matmuls and convolutions",
    "cudnn_benchmark": "let cuDNN time and pick convolution algorithms",
}
BF16_OPTIONS = ("amp", "channels_last")
"""The options that also pay on a CPU with native bf16 (oneDNN's bf16 kernels, AVX512-BF16 or AMX): the
default run 1.65× faster on this project's 2-core machine (benchmarks/README.md)."""


def default_speed(device: str) -> dict[str, bool]:
    """Every speed option on for a CUDA device; on a CPU whose oneDNN has native bf16 kernels, bf16 autocast
    and channels_last (without them bf16 is emulated and slower); otherwise all off."""
    import torch

    if device.startswith("cuda"):
        return dict.fromkeys(SPEED_OPTIONS, True)
    native_bf16 = device == "cpu" and torch.backends.mkldnn.is_available() and _onednn_has_bf16()
    return {name: native_bf16 and name in BF16_OPTIONS for name in SPEED_OPTIONS}


def _onednn_has_bf16() -> bool:
    """oneDNN's own answer (the private op PyTorch's autocast tests use); off where a torch lacks it."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


@contextlib.contextmanager
def backend_flags(tf32: bool, cudnn_benchmark: bool) -> Iterator[None]:
    """torch.backends' TF32 and cuDNN-benchmark switches as asked, restored on exit."""
    import torch

    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = cudnn_benchmark
    try:
        yield
    finally:
        (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark) = saved
