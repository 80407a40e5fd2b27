"""Write tests/data/stylegan2_ada_w32.safetensors: a stylegan2-ada-pytorch generator and discriminator at
32×32 and width 32 (stylegan2-small at width 1/16 with a 32-d latent), their weights and what their own code
computes on fixed inputs, which tests/test_stylegan2.py compares with archgan's networks loaded from the same
state dicts through archgan.interop.stylegan2_ada.

Run from a checkout of NVlabs/stylegan2-ada-pytorch at commit d72cc7d041b42ec8e806021a205ed9349f87c6a4 (its
reference ops run on the CPU; it imports click, psutil and requests at module level in places):

    python scripts/make_stylegan2_reference.py /path/to/stylegan2-ada-pytorch

Every parameter and buffer is drawn at random (their initial biases, noise strengths and average w are 0, which
would leave parts of the key map untested). Saved, as tensors named by part:
- G., D.: the state dicts as torch.save(G.state_dict()) writes them;
- z [4, 32]: the latents; images [4, 3, 32, 32]: G(z) with noise_mode 'const' (their noise_const maps);
  truncated: the same with truncation_psi 0.5; scores [4]: D(images).
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

COMMIT = "d72cc7d041b42ec8e806021a205ed9349f87c6a4"
OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "stylegan2_ada_w32.safetensors"
WIDTH, LATENT, RESOLUTION = 32, 32, 32


def main(repo: str) -> int:
    head = subprocess.run(["git", "-C", repo, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    if head != COMMIT:
        print(f"{repo} is at {head or 'no git commit'}, not {COMMIT}", file=sys.stderr)
        return 1
    sys.path.insert(0, repo)
    from training.networks import Discriminator, Generator  # their code, from their checkout

    torch.manual_seed(0)
    generator = Generator(z_dim=LATENT, c_dim=0, w_dim=LATENT, img_resolution=RESOLUTION, img_channels=3,
                          mapping_kwargs={"num_layers": 8},
                          synthesis_kwargs={"channel_base": WIDTH * RESOLUTION, "channel_max": WIDTH,
                                            "num_fp16_res": 0, "conv_clamp": 256}).eval()
    discriminator = Discriminator(c_dim=0, img_resolution=RESOLUTION, img_channels=3, architecture="resnet",
                                  channel_base=WIDTH * RESOLUTION, channel_max=WIDTH, num_fp16_res=0, conv_clamp=256,
                                  epilogue_kwargs={"mbstd_group_size": 4}).eval()
    with torch.no_grad():
        for network in (generator, discriminator):
            for name, tensor in network.named_parameters():
                tensor.add_(torch.randn_like(tensor) * (0.3 if tensor.ndim <= 1 else 0.05))
        generator.mapping.w_avg.normal_(0, 0.5)
        z = torch.randn(4, LATENT, generator=torch.Generator().manual_seed(1))
        images = generator(z, None, truncation_psi=1, noise_mode="const")
        truncated = generator(z, None, truncation_psi=0.5, noise_mode="const")
        scores = discriminator(images, None).flatten()
    tensors = {f"G.{k}": v for k, v in generator.state_dict().items()}
    tensors |= {f"D.{k}": v for k, v in discriminator.state_dict().items()}
    tensors |= {"z": z, "images": images, "truncated": truncated, "scores": scores}
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(OUT),
              metadata={"source": f"NVlabs/stylegan2-ada-pytorch@{COMMIT} training/networks.py"})
    print(f"wrote {OUT}: G {sum(p.numel() for p in generator.parameters()):,} and D "
          f"{sum(p.numel() for p in discriminator.parameters()):,} parameters")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
