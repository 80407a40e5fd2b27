"""Layers that read the network's class label (its modules: modules/conditional.py): an embedding of the
label joined to the input (a conditional generator's z, as the official ProGAN's label input), batch norm
whose scale and shift come from the label (de Vries et al. 2017, as BigGAN and SNGAN's conditional
generators), and three heads of a conditional discriminator: the projection head (Miyato & Koyama 2018),
StyleGAN's pick of the label's score among one per class, and AC-GAN's auxiliary classifier (Odena et al.
2017), whose class logits the training step scores against the label. Each needs `inputs: {label:
{classes: N}}` in its network's file."""
from __future__ import annotations

from ..lazy import deferred
from .conv import weight_options
from .norm import VARIANCE_EPS
from .registry import (WIDTH, BuildContext, LayerType, Option, Options, Shape, ShapeError, channels_option,
                       register)

LABEL = ("label",)


def classes(context: BuildContext, layer: str) -> int:
    if context.classes is None:
        raise ShapeError(f"{layer} reads the class label, but the network takes none: declare it at the top of the "
                         "file, e.g. `inputs: {label: {classes: 10}}`")
    return context.classes


def embedding_width(options: Options, context: BuildContext) -> int:
    """What label_embedding adds: its `channels`, or one channel per class for one_hot."""
    if options["mode"] == "one_hot":
        return classes(context, "label_embedding")
    if options["channels"] is None:
        raise ShapeError("a learned label embedding needs `channels` (its length), e.g. channels: 128")
    classes(context, "label_embedding")
    return options["channels"]


def _embedding_shape(options: Options, shape: Shape, context: BuildContext) -> Shape:
    return (shape[0] + embedding_width(options, context), *shape[1:])


register(
    LayerType(
        name="label_embedding",
        family="conditional",
        doc="Joins the class label to the input as more channels (or features): a learned embedding of "
        "`channels` values per class (mode embed), or the one-hot vector (mode one_hot, as the official "
        "ProGAN), the same at every pixel.",
        options={
            "mode": Option({"enum": ["embed", "one_hot"]}, "a learned embedding, or the one-hot vector", "embed"),
            "channels": channels_option("the embedding's length (mode embed)",
                                        schema={"anyOf": [WIDTH, {"type": "null"}]}, default=None),
        },
        output_shape=_embedding_shape,
        build=deferred("archgan.layers.modules.conditional:build_label_embedding"),
        parameters=lambda o, shape, context: 0 if o["mode"] == "one_hot" else context.classes * o["channels"],
        example={"type": "label_embedding", "channels": 128},
        label=lambda o: f"label {o['mode'].replace('_', '-')}",
        reads=LABEL,
    )
)


def _conditional_norm_shape(options: Options, shape: Shape, context: BuildContext) -> Shape:
    classes(context, "conditional_batchnorm")
    return shape


register(
    LayerType(
        name="conditional_batchnorm",
        family="conditional",
        doc="Batch normalization without its own scale and shift, then a scale and a shift per channel looked "
        "up for each sample's class (starting at 1 and 0): conditional batch norm.",
        options={
            "eps": VARIANCE_EPS,
            "momentum": Option({"type": "number", "minimum": 0, "maximum": 1}, "running-statistics momentum", 0.1),
        },
        output_shape=_conditional_norm_shape,
        build=deferred("archgan.layers.modules.conditional:build_conditional_batchnorm"),
        parameters=lambda o, shape, context: 2 * context.classes * shape[0],
        example={"type": "conditional_batchnorm"},
        label=lambda o: "batchnorm | label",
        reads=LABEL,
    )
)


def _projection_shape(options: Options, shape: Shape, context: BuildContext) -> Shape:
    if len(shape) != 1:
        raise ShapeError(f"projection reads a feature vector, but receives a {'×'.join(map(str, shape))} map; put "
                         "a {type: global_pool} or {type: flatten} before it")
    classes(context, "projection")
    return (1,)


register(
    LayerType(
        name="projection",
        family="conditional",
        doc="The score of a conditional discriminator from its feature vector h: a dense layer to one value "
        "plus ⟨embed(label), h⟩, a learned embedding of as many values as h per class (Miyato & Koyama 2018); "
        "with spectral_norm, on both.",
        options=weight_options(activation="linear", gain=1.0),
        output_shape=_projection_shape,
        build=deferred("archgan.layers.modules.conditional:build_projection"),
        parameters=lambda o, shape, context: shape[0] * (1 + context.classes) + (1 if o["bias"] else 0),
        example={"type": "projection", "spectral_norm": True},
        reads=LABEL,
    )
)


def _select_shape(options: Options, shape: Shape, context: BuildContext) -> Shape:
    count = classes(context, "label_select")
    if shape != (count,):
        raise ShapeError(f"label_select picks one of {count} scores, one per class, but receives "
                         f"{'×'.join(map(str, shape))} values; end the layers before it in "
                         f"{{type: dense, channels: {count}}}")
    return (1,)


register(
    LayerType(
        name="label_select",
        family="conditional",
        doc="A conditional discriminator's score as StyleGAN's: the layers before it give one score per class, "
        "and the label picks its class's (D_basic's label switch, the sum of the scores times the one-hot label).",
        options={},
        output_shape=_select_shape,
        build=deferred("archgan.layers.modules.conditional:build_label_select"),
        parameters=lambda o, shape, context: 0,
        example={"type": "label_select"},
        reads=LABEL,
    )
)


def _classifier_shape(options: Options, shape: Shape, context: BuildContext) -> Shape:
    if len(shape) != 1:
        raise ShapeError(f"auxiliary_classifier reads a feature vector, but receives a {'×'.join(map(str, shape))} "
                         "map; put a {type: global_pool} or {type: flatten} before it")
    return (1 + classes(context, "auxiliary_classifier"),)


register(
    LayerType(
        name="auxiliary_classifier",
        family="conditional",
        doc="AC-GAN's discriminator head (Odena et al. 2017): from the feature vector h, a dense layer to the "
        "score and one logit per class; the discriminator returns the score, and each training step adds "
        "`weight` × the cross-entropy of the logits with the label: of the real and the generated images to "
        "D's loss, of the generated ones to G's. The last layer of the discriminator.",
        options={name: option for name, option in weight_options(activation="linear", gain=1.0).items()
                 if name != "activation"}
        | {"weight": Option({"type": "number", "minimum": 0, "maximum": 1000},
                            "weight of the classification loss in both networks' losses", 1.0)},
        output_shape=_classifier_shape,
        build=deferred("archgan.layers.modules.conditional:build_auxiliary_classifier"),
        parameters=lambda o, shape, context: (shape[0] + (1 if o["bias"] else 0)) * (1 + context.classes),
        example={"type": "auxiliary_classifier", "weight": 1.0, "equalized_lr": True},
        label=lambda o: f"score + class logits (×{o['weight']:g})",
        reads=LABEL,
    )
)
