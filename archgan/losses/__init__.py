"""GAN losses: one registry, each loss with its options (schema, default, docs line) and the class that
computes it (losses/objectives.py, imported when a loss is built: reading the registry needs no torch).
The training schema, `archgan docs` and `--loss_function`'s help all read this table. The generator's
path length regularization (StyleGAN2), which joins any loss, has its options here too."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from ..lazy import deferred
from ..options import Option, options_schema, with_defaults


@dataclass(frozen=True)
class LossType:
    name: str
    doc: str
    make: Callable[[Mapping[str, Any]], Any]  # normalized entry -> a losses.objectives.Loss
    options: Mapping[str, Option] = field(default_factory=dict)
    per_sample: bool = True  # its terms are means of per-sample terms, so a batch may run in micro-batches
    # normalized entry -> whether D's step differentiates a gradient (a penalty's double backward),
    # which keeps about twice D's activations more: the memory estimate (training/memory.py) reads it
    double_backward: Callable[[Mapping[str, Any]], bool] = lambda options: False


_NUMBER = {"type": "number", "minimum": 0}
LOSSES: dict[str, LossType] = {
    loss.name: loss
    for loss in (
        LossType(
            "wgan-gp",
            "WGAN-GP (Gulrajani et al. 2017) as the official ProGAN: D minimizes D(fake) − D(real) "
            "+ λ·(‖∇D(mix)‖ − target)²/target² + ε·D(real)² with one uniform mixing factor per sample; "
            "G minimizes −D(fake).",
            deferred("archgan.losses.objectives:WassersteinGP"),
            {
                "gp_weight": Option(_NUMBER, "λ, weight of the gradient penalty", 10.0),
                "target": Option({"type": "number", "exclusiveMinimum": 0}, "gradient norm the penalty pulls towards", 1.0),
                "drift": Option(_NUMBER, "ε, weight of D(real)² that keeps scores near 0", 0.001),
                "full_resolution_penalty": Option(
                    {"type": "boolean"},
                    "take the gradient norm as the official ProGAN does, w.r.t. images upsampled to the final "
                    "resolution (the native norm × resolution / final resolution); false: at the native resolution",
                    False,
                ),
            },
            double_backward=lambda options: options["gp_weight"] > 0,
        ),
        LossType("hinge", "Hinge loss (Lim & Ye 2017; SAGAN): D minimizes relu(1 − D(real)) + relu(1 + D(fake)), "
                 "G minimizes −D(fake).", deferred("archgan.losses.objectives:Hinge")),
        LossType("relativistic-hinge", "Relativistic average hinge (Jolicoeur-Martineau 2018) as attn_gan_pytorch "
                 "defines it: each score is compared with the mean score of the other kind over the whole batch.",
                 deferred("archgan.losses.objectives:RelativisticHinge"), per_sample=False),
        LossType(
            "lsgan",
            "LSGAN (Mao et al. 2017) with mean squared errors: D minimizes (D(real) − 1)² + D(fake)², "
            "G minimizes (D(fake) − 1)²; optionally with noisy targets.",
            deferred("archgan.losses.objectives:LeastSquares"),
            {"label_noise": Option({"type": "number", "minimum": 0, "maximum": 1}, "width of the noisy-label ranges: "
                                   "targets U[1 − n, 1] for real and U[0, n] for fake images", 0.0)},
        ),
        LossType(
            "logistic",
            "Non-saturating logistic loss (Goodfellow et al. 2014): D minimizes softplus(D(fake)) + softplus(−D(real)), "
            "G minimizes softplus(−D(fake)); with the R1 penalty γ/2·‖∇D(real)‖² (Mescheder et al. 2018), lazily "
            "every r1_interval steps as StyleGAN2.",
            deferred("archgan.losses.objectives:Logistic"),
            {
                "r1_gamma": Option(_NUMBER, "γ of the R1 penalty on real images; 0 turns it off", 0.0),
                "r1_interval": Option({"type": "integer", "minimum": 1}, "apply R1 every this many steps, as its own "
                                      "discriminator step scaled by the interval (lazy regularization, StyleGAN2); "
                                      "1: in every discriminator step", 1),
            },
            double_backward=lambda options: options["r1_gamma"] > 0,
        ),
    )
}


def loss_schema() -> dict[str, Any]:
    """A loss entry: a loss name, or {type: NAME, ...options}. Written as if/then/else rather than anyOf
    so that a wrong entry is reported by the branch it meant (an unknown option of its loss, say)."""
    names = sorted(LOSSES)
    return {
        "if": {"type": "string"},
        "then": {"enum": names},
        "else": {
            "type": "object",
            "title": "a loss entry such as {type: wgan-gp, gp_weight: 10}",
            "required": ["type"],
            "properties": {"type": {"enum": names}},
            "allOf": [
                {
                    "if": {"properties": {"type": {"const": name}}, "required": ["type"]},
                    "then": options_schema(LOSSES[name].options, strict=False, const_type=name),
                }
                for name in names
            ],
        },
    }


def normalize_loss(value: str | Mapping[str, Any]) -> dict[str, Any]:
    """'hinge' or {type: wgan-gp, gp_weight: 5} -> the full entry with every option explicit."""
    entry = {"type": value} if isinstance(value, str) else dict(value)
    loss = LOSSES[entry["type"]]
    return {"type": loss.name, **{name: entry.get(name, option.default) for name, option in loss.options.items()}}


def build_loss(entry: Mapping[str, Any]):
    """The loss object (a losses.objectives.Loss) for a normalized loss entry."""
    return LOSSES[entry["type"]].make(entry)


PATH_LENGTH_OPTIONS: dict[str, Option] = {
    "weight": Option({"type": "number", "exclusiveMinimum": 0}, "the penalty's weight (StyleGAN2: 2)", 2.0),
    "interval": Option({"type": "integer", "minimum": 1, "maximum": 2**20}, "apply it every this many steps, as a "
                       "generator step of its own scaled by the interval (lazy regularization)", 4),
    "decay": Option({"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                    "how fast the target length follows the batches' mean length", 0.01),
    "batch_shrink": Option({"type": "integer", "minimum": 1, "maximum": 2**20},
                           "the penalty's batch is the stage's batch divided by this", 2),
}
"""StyleGAN2's path length regularization of the generator (Karras et al. 2020, section 3.2): for random
images y ~ N(0, 1)/√(H·W), ‖∂(G(w)·y)/∂w‖ is pulled toward its running mean, so a step in w changes the
image by a fixed amount whatever the direction."""


def path_length_schema() -> dict[str, Any]:
    return {"anyOf": [{"type": "null"}, options_schema(PATH_LENGTH_OPTIONS, strict=False)]}


def normalize_path_length(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if value is None else with_defaults(PATH_LENGTH_OPTIONS, value)
