"""The speed options of a run, their defaults per device, the backend flags they set (in a context that
restores them afterwards: a library must not leave torch changed behind it), and the compiled forward
passes of --compile."""
from __future__ import annotations

import contextlib
import weakref
from typing import TYPE_CHECKING, Any, Callable, Iterator

if TYPE_CHECKING:
    from torch import nn

SPEED_OPTIONS = {
    "amp": "bf16 autocast of the forward passes (losses and penalties stay float32)",
    "channels_last": "NHWC memory layout for convolutions",
    "tf32": "TF32 tensor cores for float32 matmuls and convolutions",
    "cudnn_benchmark": "let cuDNN time and pick convolution algorithms",
    "compile": "torch.compile the networks' passes of the D and G steps (a graph per stage and fade, built at "
               "its first step; passes a penalty differentiates twice stay eager)",
    "cuda_graphs": "with --compile, replay the compiled passes as CUDA graphs (torch.compile's reduce-overhead "
                   "mode; no effect on a CPU)",
}
BF16_OPTIONS = ("amp", "channels_last")
"""The options that also pay on a CPU with native bf16 (oneDNN's bf16 kernels, AVX512-BF16 or AMX): the
default run 1.65× faster on this project's 2-core machine (benchmarks/README.md)."""
ASKED_FOR_ONLY = ("compile", "cuda_graphs")
"""Off unless asked for on every device: compiling costs tens of seconds per stage and fade, and on the CPU
the compiled step was slower than the eager one (benchmarks/README.md); benchmarks/gpu_check.py measures
both on a GPU, where they may pay."""


def default_speed(device: str) -> dict[str, bool]:
    """Every speed option but ASKED_FOR_ONLY on for a CUDA device; on a CPU whose oneDNN has native bf16
    kernels, bf16 autocast and channels_last (without them bf16 is emulated and slower); otherwise all off."""
    import torch

    if device.startswith("cuda"):
        return {name: name not in ASKED_FOR_ONLY for name in SPEED_OPTIONS}
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


class CompiledPasses:
    """The forward passes of the networks a step runs, each network compiled once (torch.compile keeps a
    graph per depth, fade, grad mode and argument set: RECOMPILE_LIMIT of them per network). Alpha goes in
    as a 0-d tensor on the network's device while it fades, so one graph serves the whole fade without a
    copy from the host; a stable stage keeps its Python 1.0 and skips the old path."""

    RECOMPILE_LIMIT = 256
    backend = "inductor"  # tests compile with "aot_eager": the same graphs, without inductor's minutes of codegen

    def __init__(self, cuda_graphs: bool = False):
        self.mode = "reduce-overhead" if cuda_graphs else None
        self._passes: weakref.WeakKeyDictionary[nn.Module, Callable[..., Any]] = weakref.WeakKeyDictionary()

    def __call__(self, network: nn.Module) -> Callable[..., Any]:
        """`network`'s compiled pass: network(x, depth, alpha, **inputs) as eager, the same results."""
        if network not in self._passes:
            self._passes[network] = self._compile(network)
        return self._passes[network]

    def _compile(self, network: nn.Module) -> Callable[..., Any]:
        import torch

        mode = {} if self.backend != "inductor" else {"mode": self.mode}  # modes are inductor's
        compiled = torch.compile(network, backend=self.backend, dynamic=False, **mode)
        device = next(network.parameters()).device

        def forward(x: Any, depth: int, alpha: float | torch.Tensor, **inputs: Any) -> Any:
            if isinstance(alpha, float) and alpha < 1:
                alpha = torch.full((), alpha, device=device)
            with torch._dynamo.config.patch(recompile_limit=self.RECOMPILE_LIMIT):
                return compiled(x, depth, alpha, **inputs)

        return forward
