"""Packaging for archgan: the library, the `archgan` command, and the built-in specs as package data."""
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent


def data_files_under(folder: str) -> list[str]:
    """Every file below `folder`, relative to it, so package_data ships whole trees."""
    root = HERE / folder
    return [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts]


setup(
    name="archgan",
    version="0.1.0",
    description="Progressive GANs whose networks are data: layer lists compiled into growable PyTorch networks.",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["archgan", "archgan.*"]) + ["archgan.architectures", "archgan.schemas"],
    # architectures/ and schemas/ live at the top of the repository for users to read,
    # and are installed inside the package so that a built-in can be named from anywhere.
    package_dir={"archgan.architectures": "architectures", "archgan.schemas": "schemas"},
    package_data={
        "archgan.data": [f"emoji/{name}" for name in data_files_under("archgan/data/emoji")],
        "archgan.architectures": data_files_under("architectures"),
        "archgan.schemas": data_files_under("schemas"),
    },
    install_requires=[
        "torch>=2.4",
        "torchvision>=0.19",
        "numpy",
        "pyyaml>=6",
        "jsonschema>=4.18",
        "safetensors>=0.4",
        "pillow>=10.1",  # Image.has_transparency_data
        "pypng>=0.20220715",  # 16-bit colour PNGs, which Pillow reads as 8 bits by dropping the low byte
        "tqdm>=4.60",
        "tensorboard>=2.10",
        "matplotlib>=3.5",
        "torchmetrics>=1.0",
        "torch-fidelity>=0.3",
    ],
    extras_require={
        "export": ["onnx", "onnxscript"],
        # attn-gan-pytorch (with easydict, which it imports but does not declare): the numerical
        # equivalence tests against FAGAN's own package; onnxruntime checks ONNX exports; hypothesis: tests/test_fuzz.py
        "test": ["pytest>=7", "pytest-xdist>=3", "attn-gan-pytorch", "easydict", "onnx", "onnxscript", "onnxruntime",
                 "scipy", "hypothesis>=6"],
    },
    entry_points={"console_scripts": ["archgan=archgan.cli:main"]},
)
