"""The speed options of a run (on by default on a GPU, each switchable) and the backend flags they set,
in a context that restores the flags afterwards (a library must not leave torch changed behind it)."""
from __future__ import annotations

import contextlib
from typing import Iterator

SPEED_OPTIONS = {
    "amp": "bf16 autocast of the forward passes (losses and penalties stay float32)",
    "channels_last": "NHWC memory layout for convolutions",
    "tf32": "TF32 tensor cores for float32 matmuls and convolutions",
    "cudnn_benchmark": "let cuDNN time and pick convolution algorithms",
}


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
