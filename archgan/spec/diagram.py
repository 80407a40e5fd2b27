"""A picture of a network as it grows: stages left to right, each a column of layer boxes coloured by
family (attention, minibatch-stddev and style layers outlined), the to_rgb / from_rgb head of every stage
beside it, and the fade-in drawn where a new stage blends with the one before. A block is drawn as its
box, its paths side by side below it (an empty path as a line marked "identity") and the merge. A
generator's mapping network is the first column, its w going to every style layer."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..figures import new_figure
from ..layers import layer_type
from .model import LayerSpec, NetworkSpec
from .stages import total_styles

COLOURS = {
    "block": "#e9edc9",
    "conv": "#8ecae6",
    "rgb": "#ffb703",
    "norm": "#cdb4db",
    "resample": "#d9d9d9",
    "attention": "#fb8500",
    "stddev": "#90be6d",
    "regularization": "#f4acb7",
    "activation": "#f1f1f1",
    "style": "#ffafcc",
    "noise": "#e4f1fe",
    "conditional": "#a2d2ff",
}
MARKED = {"attention", "stddev", "style"}
BOX_W, BOX_H, GAP_X, GAP_Y = 2.6, 0.42, 1.0, 0.12


def _label(layer) -> str:
    options = layer.to_dict()
    text = layer_type(layer.type).label(options)
    if "channels" in options and options["channels"]:
        text += f" · {options['channels']}"
    return f"{layer.name}: {text}" if layer.name else text


def _rows(layers: Sequence[LayerSpec]) -> int:
    """The rows of boxes a layer list takes: one per layer; a block its box, its tallest path, its merge."""
    return sum(1 if not layer_type(layer.type).paths else
               2 + max(max(_rows(path), 1) for _, path in layer.paths()) for layer in layers)


def _merge_label(layer: LayerSpec) -> str:
    options = layer.to_dict()
    return "concat" if options.get("merge") == "concat" else "+" + (f" ×{options['gain']:.3g}" if options["gain"] != 1 else "")


def _draw_network(axis, spec: NetworkSpec, top: float) -> float:
    """Draw one network from height `top` down; returns its height."""
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    generator = spec.role == "generator"
    tallest = _tallest(spec)
    head_y = top - (tallest + 1.6) * (BOX_H + GAP_Y) if generator else top
    body_top = top if generator else top - 1.6 * (BOX_H + GAP_Y)
    axis.text(-0.2, top + 0.55, f"{spec.role} '{spec.name}'", fontsize=11, weight="bold", ha="left")

    def box(x: float, y: float, layer, width: float = BOX_W, text: str | None = None) -> None:
        family = layer_type(layer.type).family
        marked = family in MARKED
        axis.add_patch(FancyBboxPatch((x, y - BOX_H), width, BOX_H, boxstyle="round,pad=0.02,rounding_size=0.06",
                                      facecolor=COLOURS.get(family, "white"), edgecolor="black" if marked else "#555555",
                                      linewidth=1.8 if marked else 0.6))
        axis.text(x + width / 2, y - BOX_H / 2, text or ("★ " if marked else "") + _label(layer), ha="center",
                  va="center", fontsize=6.5 * min(1.0, max(width / BOX_W, 0.55)))

    def arrow(start, end, style="-|>", dashed=False, colour="black") -> None:
        axis.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=8, linewidth=0.8, color=colour,
                                       linestyle="--" if dashed else "-"))

    def draw_layers(layers, x: float, y: float, width: float) -> float:
        """Draw a layer list from (x, y) down; returns the y below it."""
        step = BOX_H + GAP_Y
        for layer in layers:
            box(x, y, layer, width)
            paths = list(layer.paths())
            if not paths:
                y -= step
                continue
            gap = 0.15
            lane = (width - gap * (len(paths) - 1)) / len(paths)
            rows = 2 + max(max(_rows(path), 1) for _, path in paths)
            merge_y = y - (rows - 1) * step
            for number, (name, path) in enumerate(paths):
                lane_x = x + number * (lane + gap)
                centre = lane_x + lane / 2
                if path:
                    end = draw_layers(path, lane_x, y - step, lane) + GAP_Y
                    arrow((centre, y - BOX_H), (centre, y - step))
                else:
                    end = y - BOX_H
                    axis.text(centre + 0.05, (y - BOX_H + merge_y) / 2, "identity", fontsize=5, rotation=90,
                              va="center", color="#555555")
                arrow((centre, end), (centre, merge_y))
            axis.add_patch(FancyBboxPatch((x + width / 2 - 0.45, merge_y - BOX_H), 0.9, BOX_H,
                                          boxstyle="round,pad=0.02,rounding_size=0.2", facecolor="white",
                                          edgecolor="#555555", linewidth=0.6))
            axis.text(x + width / 2, merge_y - BOX_H / 2, _merge_label(layer), ha="center", va="center", fontsize=6)
            y = merge_y - step
        return y

    first = _first_stage_column(spec)
    if first:
        axis.text(BOX_W / 2, body_top + 0.15, "mapping z → w", ha="center", fontsize=8, weight="bold")
        bottom = draw_layers(spec.mapping, 0, body_top, BOX_W)
        axis.text(BOX_W / 2, bottom - 0.1, f"w → its {total_styles(spec)} styles,\nread by the ★ style layers",
                  ha="center", va="top", fontsize=6.5, color="#c9184a")
    columns = []
    for index, stage in enumerate(spec.stages):
        x = (index + first) * (BOX_W + GAP_X)
        axis.text(x + BOX_W / 2, body_top + 0.15, f"{stage.resolution}×{stage.resolution}", ha="center",
                  fontsize=8, weight="bold")
        bottom = draw_layers(stage.layers, x, body_top, BOX_W) + GAP_Y
        head = [(x, head_y - i * (BOX_H + GAP_Y), layer) for i, layer in enumerate(stage.head_layers)]
        for hx, hy, layer in head:
            box(hx, hy, layer)
        columns.append((x, bottom, head))
        if index:  # the main path from the stage before
            previous_x, previous_bottom, _ = columns[index - 1]
            arrow((previous_x + BOX_W, previous_bottom + BOX_H / 2), (x, body_top - BOX_H / 2))
        if head:  # the head branch of this stage
            start = (x + BOX_W / 2, bottom) if generator else (x + BOX_W / 2, head[-1][1] - BOX_H)
            end = (x + BOX_W / 2, head[0][1]) if generator else (x + BOX_W / 2, body_top)
            arrow(start, end, colour="#b07d00")
        if index and head and columns[index - 1][2] and IMAGE_LINKS[spec.role, spec.images]:
            # how images pass between stages: the fade-in's old path, a skip network's running image
            y_mid = (head_y - len(head) * (BOX_H + GAP_Y)) if generator else head_y + 0.25
            arrow((columns[index - 1][0] + BOX_W / 2, y_mid), (x + BOX_W / 2, y_mid), dashed=True, colour="#9d0208")
            if index == 1:  # say once what the dashed arrows are
                axis.text(x - GAP_X / 2 - BOX_W / 2, y_mid + 0.1, IMAGE_LINKS[spec.role, spec.images],
                          fontsize=6, color="#9d0208", ha="center")
    height = (tallest + 3.2) * (BOX_H + GAP_Y) + 1.0
    return height


IMAGE_LINKS = {
    ("generator", "last"): "fade-in: ×2 up, lerp(old, new, α)",
    ("discriminator", "last"): "fade-in: image ↓2, lerp(old, new, α)",
    ("generator", "skip"): "skip: the sum so far ×2 up, + this image (×α while fading)",
    ("discriminator", "skip"): "skip: image ↓2 into each from_rgb, its features merged",
    ("generator", "all"): "",  # every head's image is an output: nothing passes between them
    ("discriminator", "all"): "",
}
"""What the dashed arrows between image heads say, per role and `images` (none: the heads are not linked)."""


def _first_stage_column(spec: NetworkSpec) -> int:
    """1 when the mapping network takes the first column, else 0."""
    return 0 if spec.mapping is None else 1


def _tallest(spec: NetworkSpec) -> int:
    return max([_rows(stage.layers) for stage in spec.stages] + [_rows(spec.mapping or ()) + 2])


def draw(specs: Sequence[NetworkSpec], path: str | Path) -> Path:
    """Save a diagram of one or more networks (e.g. a generator and its discriminator) to `path`."""
    from matplotlib.patches import Patch

    widest = max(len(spec.stages) + _first_stage_column(spec) for spec in specs)
    heights = [(_tallest(spec) + 3.2) * (BOX_H + GAP_Y) + 1.0 for spec in specs]
    figure = new_figure(figsize=(max(6.0, widest * 1.5 + 1), sum(heights) * 0.75 + 0.6))
    axis = figure.subplots()
    top = 0.0
    for spec in specs:
        top -= _draw_network(axis, spec, top)
    families = sorted({layer_type(layer.type).family for spec in specs for layer in spec.all_layers()})
    axis.legend(handles=[Patch(facecolor=COLOURS.get(f, "white"), edgecolor="black", label=f) for f in families],
                loc="lower right", fontsize=7, ncol=min(4, len(families)), frameon=False)
    axis.set_xlim(-0.3, widest * (BOX_W + GAP_X))
    axis.set_ylim(top - 0.2, 1.0)
    axis.axis("off")
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=130)
    return path
