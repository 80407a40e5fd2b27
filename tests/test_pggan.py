"""PGGAN reproduced exactly: parameter counts of the official code and the shapes of the paper's Table 2."""
from __future__ import annotations

import pytest

from archgan.networks import build_network
from archgan.spec.summary import growing_head_parameters, summarize
from archgan.spec import load_spec

# Counted from the official code (tkarras/progressive_growing_of_gans, networks.py G_paper / D_paper,
# fmap_base 8192, fmap_max 512, latent 512, 3 channels): every variable, including the to_rgb /
# from_rgb of every resolution; and the subset the paper's Table 2 lists (final heads only).
OFFICIAL_COUNTS = {
    ("pggan", "generator"): (23_079_115, 23_071_507),
    ("pggan", "discriminator"): (23_087_249, 23_077_137),
    ("pggan-256", "generator"): (23_044_309, 23_036_995),
    ("pggan-256", "discriminator"): (23_052_353, 23_042_625),
    ("pggan-128", "generator"): (22_933_394, 22_926_467),
    ("pggan-128", "discriminator"): (22_941_313, 22_932_097),
}


@pytest.mark.parametrize("name,role", sorted(OFFICIAL_COUNTS))
def test_parameter_counts_equal_the_official_code(name, role):
    """The built network and the registry's parameter rules (what `archgan show` prints) both give them."""
    spec = load_spec(name, role)
    total, paper_subset = OFFICIAL_COUNTS[name, role]
    assert sum(p.numel() for p in build_network(spec).parameters()) == total
    stages = summarize(spec)
    assert sum(stage.parameters for stage in stages) == total
    assert total - growing_head_parameters(spec, stages) == paper_subset


# Table 2 of Karras et al. 2018: (layer, output shape, parameters as printed). Pixelnorm rows are not
# in the paper's table; our dense 4×4 start is the paper's "Conv 4×4" on the 512×1×1 latent and the
# discriminator's first dense is its "Conv 4×4" to 512×1×1 (same weights, flattened).
PAPER_GENERATOR = [
    ("latent z", "512", None),
    ("dense → 512×4×4", "512×4×4", "4.2M"),
    ("conv 3×3", "512×4×4", "2.4M"),
    *[row for size, before, width, convs in [
        (8, 512, 512, ("2.4M", "2.4M")), (16, 512, 512, ("2.4M", "2.4M")), (32, 512, 512, ("2.4M", "2.4M")),
        (64, 512, 256, ("1.2M", "590k")), (128, 256, 128, ("295k", "148k")), (256, 128, 64, ("74k", "37k")),
        (512, 64, 32, ("18k", "9.2k")), (1024, 32, 16, ("4.6k", "2.3k")),
    ] for row in [
        ("upsample ×2", f"{before}×{size}×{size}", None),
        ("conv 3×3", f"{width}×{size}×{size}", convs[0]),
        ("conv 3×3", f"{width}×{size}×{size}", convs[1]),
    ]],
    ("to_rgb 1×1", "3×1024×1024", "51"),
]

PAPER_DISCRIMINATOR = [
    ("image", "3×1024×1024", None),
    ("from_rgb 1×1", "16×1024×1024", "64"),
    *[row for size, widths, convs in [
        (1024, (16, 32), ("2.3k", "4.6k")), (512, (32, 64), ("9.2k", "18k")), (256, (64, 128), ("37k", "74k")),
        (128, (128, 256), ("148k", "295k")), (64, (256, 512), ("590k", "1.2M")), (32, (512, 512), ("2.4M", "2.4M")),
        (16, (512, 512), ("2.4M", "2.4M")), (8, (512, 512), ("2.4M", "2.4M")),
    ] for row in [
        ("conv 3×3", f"{widths[0]}×{size}×{size}", convs[0]),
        ("conv 3×3", f"{widths[1]}×{size}×{size}", convs[1]),
        ("downsample ×2", f"{widths[1]}×{size // 2}×{size // 2}", None),
    ]],
    ("minibatch_stddev g4", "513×4×4", None),
    ("conv 3×3", "512×4×4", "2.4M"),
    ("dense", "512 features", "4.2M"),
    ("dense", "1 feature", "513"),
]


def _as_printed(count: int, printed: str) -> bool:
    """Whether `count` rounded to the printed significant digits is the paper's figure
    (2,359,808 -> '2.4M', 590,080 -> '590k', 9,248 -> '9.2k', 513 -> '513')."""
    scale = {"k": 1e3, "M": 1e6}.get(printed[-1], 1)
    number = printed.rstrip("kM")
    digits = len(number.replace(".", ""))
    return float(f"{count:.{digits}g}") == float(number) * scale


@pytest.mark.parametrize("role,table", [("generator", PAPER_GENERATOR), ("discriminator", PAPER_DISCRIMINATOR)])
def test_every_layer_matches_the_papers_table(role, table):
    stages = summarize(load_spec("pggan", role))
    final_head_stage = stages[-1] if role == "generator" else stages[0]
    rows = [
        row for stage in stages for row in stage.rows
        if row.layer != "pixelnorm" and (not row.head or stage is final_head_stage)
    ]
    assert [(r.layer, r.output_shape) for r in rows] == [(layer, shape) for layer, shape, _ in table]
    for row, (layer, _, printed) in zip(rows, table):
        if printed is not None:
            assert _as_printed(row.parameters, printed), (layer, row.parameters, printed)
    assert f"{sum(r.parameters or 0 for r in rows) / 1e6:.1f}M" == "23.1M"
