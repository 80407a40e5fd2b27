"""Shared test helpers: small specs written to temporary files."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import torch


@pytest.fixture
def write(tmp_path: Path):
    """write(text, name='generator.yaml') -> path of a file holding the dedented text."""

    def _write(text: str, name: str = "generator.yaml") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return _write


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield
