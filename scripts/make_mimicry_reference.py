"""Write tests/data/mimicry_sngan32_w8.safetensors: kwotsin/mimicry's SNGAN-32 generator and discriminator
at width 8 (ngf = ndf = 8), their weights and their outputs on fixed inputs, which tests/test_builtins.py
compares with archgan's sngan-resnet at the same width, loaded with the same weights.

Run with mimicry and safetensors importable (pip install torch-mimicry safetensors, or PYTHONPATH=<a
checkout>); commit
a7fda06c4aff1e6af8dc4c4a35ed6636e434c766 made the committed file:

    python scripts/make_mimicry_reference.py

Saved, as tensors named by part (`G.l1.weight`, `D.block1.c1.weight_orig`, `z`, ...):
- G., D.: the state dicts, D's after one forward in training mode, so that its spectral norms' u and v are
  the ones that forward used (in eval mode spectral norm does no power iteration and reads u and v);
- z [4, 128], x [4, 3, 32, 32]: the inputs;
- G_eval, G_train: G(z) in eval mode (batch norm reads its running statistics, 0 and 1) and in training
  mode (batch statistics); D_eval: D(x) in eval mode.
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch_mimicry.nets.sngan.sngan_32 import SNGANDiscriminator32, SNGANGenerator32

WIDTH = 8
OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "mimicry_sngan32_w8.safetensors"
COMMIT = "a7fda06c4aff1e6af8dc4c4a35ed6636e434c766"


def main() -> int:
    torch.manual_seed(0)
    generator, discriminator = SNGANGenerator32(ngf=WIDTH), SNGANDiscriminator32(ndf=WIDTH)
    z = torch.randn(4, 128, generator=torch.Generator().manual_seed(1))
    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(2)) * 2 - 1
    with torch.no_grad():
        g_state = {k: v.clone() for k, v in generator.state_dict().items()}
        g_eval = generator.eval()(z)
        g_train = generator.train()(z)
        discriminator.train()(x.clone())  # one power iteration per spectral norm
        d_eval = discriminator.eval()(x.clone())
    tensors = {f"G.{k}": v for k, v in g_state.items()} | {f"D.{k}": v.clone() for k, v in discriminator.state_dict().items()}
    tensors |= {"z": z, "x": x, "G_eval": g_eval, "G_train": g_train, "D_eval": d_eval}
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(OUT),
              metadata={"source": f"kwotsin/mimicry@{COMMIT} sngan_32.py", "width": str(WIDTH)})
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
