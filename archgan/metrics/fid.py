"""FID and KID through torch-fidelity, with the Inception-v3 weights from a file the user names:
nothing here downloads anything. The file is read with torch.load(weights_only=True), and torch-fidelity
(which unpickles without that guard) gets only a copy of its tensors written by us."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch
from torch.utils.data import Dataset

from ..errors import InceptionWeightsError

ENVIRONMENT = "ARCHGAN_INCEPTION_WEIGHTS"
WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{WEIGHTS_FILE}"


def inception_weights(path: str | os.PathLike[str] | None) -> Path:
    """The weights file from `path` or $ARCHGAN_INCEPTION_WEIGHTS; a clear error when it is missing."""
    given = path or os.environ.get(ENVIRONMENT)
    if not given or not Path(given).is_file():
        where = f"{given} does not exist. " if given else ""
        raise InceptionWeightsError(
            f"FID and KID need the Inception-v3 weights torch-fidelity uses: {where}Get {WEIGHTS_FILE} (about "
            f"92 MB) from {WEIGHTS_URL} on a machine with internet access, then pass --inception_weights PATH "
            f"or set {ENVIRONMENT}=PATH. archgan never downloads it."
        )
    return Path(given)


class _Images(Dataset):
    """uint8 [N, C, H, W] as torch-fidelity reads them: 3-channel uint8 tensors (grayscale repeated)."""

    def __init__(self, images: torch.Tensor):
        self.images = images if images.shape[1] == 3 else images.expand(-1, 3, -1, -1)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.images[index]


def fid_kid(real: torch.Tensor, fake: torch.Tensor, weights: str | os.PathLike[str] | None,
            device: torch.device | str = "cpu", batch: int = 64) -> dict[str, float]:
    """FID and KID (mean) between two uint8 image sets."""
    import torch_fidelity

    source = inception_weights(weights)
    with tempfile.TemporaryDirectory() as folder:
        try:
            state = torch.load(source, map_location="cpu", weights_only=True)
        except Exception as error:  # noqa: BLE001 - torch raises many kinds for unsafe or broken files
            raise InceptionWeightsError(f"{source}: not a plain state dict ({type(error).__name__}: {error})") from None
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise InceptionWeightsError(f"{source}: not a plain state dict of tensors")
        private = Path(folder) / WEIGHTS_FILE  # torch-fidelity unpickles freely: give it only tensors we wrote
        torch.save(state, private)
        result = torch_fidelity.calculate_metrics(
            input1=_Images(fake), input2=_Images(real), fid=True, kid=True, verbose=False,
            cuda=torch.device(device).type == "cuda", batch_size=batch, kid_subset_size=min(1000, len(real), len(fake)),
            feature_extractor_weights_path=str(private), save_cpu_ram=True,
        )
    return {"fid": float(result["frechet_inception_distance"]), "kid": float(result["kernel_inception_distance_mean"])}
