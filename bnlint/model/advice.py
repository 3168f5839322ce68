"""Wording shared by the model rules: per-Keras fix advice, behaviour phrases, name lists."""
from __future__ import annotations

from collections.abc import Sequence

from bnlint.model.applications import Match
from bnlint.model.graph import Layer
from bnlint.model.semantics import NO_KERAS_VERSION
from bnlint.target import KerasTarget, Semantics

ISSUE_20285 = "keras-team/keras#20285"


def keep_bn_in_inference(target: KerasTarget) -> str:
    """How to keep BN layers in inference mode during fit(), for the Keras that runs the model."""
    sem = target.semantics
    if target.standalone:
        return ("Standalone Keras: call each BatchNormalization layer with `training=False` when building the "
                "model (`x = BatchNormalization(name='bn')(x, training=False)`), or use a BN subclass whose "
                "call() forces `training=False`. `base(x, training=False)` raises TypeError here (Network.call "
                "has no `training` argument), and `trainable=False` alone does not switch BN to inference mode.")
    if sem is Semantics.TF1:
        return ("tf.keras on TF 1.x uses the V1 BatchNormalization, which ignores `trainable` in call(): build "
                "the model with `x = base(inputs, training=False)` (or call the BN layers with `training=False`).")
    if sem is Semantics.KERAS3_OLD:
        return (f"Keras 3 before 3.16 lets fit() override a recorded `training=False` once a layer is trainable "
                f"({ISSUE_20285}): keep `layer.trainable = False` on every BatchNormalization layer while "
                "fine-tuning (`for l in base.layers: "
                "l.trainable = not isinstance(l, keras.layers.BatchNormalization)`), "
                "then recompile; or upgrade to Keras >= 3.16.")
    if sem is Semantics.KERAS3_NEW:
        return ("Build the model with `x = base(inputs, training=False)` (functional API); Keras >= 3.16 keeps "
                "the base's BN layers in inference mode after `base.trainable = True`. Or keep "
                "`trainable = False` on the BatchNormalization layers while fine-tuning.")
    return ("Build the model with `x = base(inputs, training=False)` (functional API); tf.keras 2 / tf_keras keeps "
            "the base's BN layers in inference mode after `base.trainable = True`. Or keep `trainable = False` "
            "on the BatchNormalization layers while fine-tuning, and recompile after changing `trainable`.")


def zoo_fix(arch: Match | None, target: KerasTarget) -> str | None:
    """The fix for a model zoo's own model, when the table names one whose encoder is built
    flattened with a new decoder (segmentation_models): there is no base to call with
    `training=False`, and the decoder's BN layers must train (docs/model-zoos.md)."""
    from bnlint.script.applications import SM_DECODER_BN_PREFIXES

    for name in arch.names if arch else ():
        model = name.partition("(")[0].removeprefix("segmentation_models.")
        if name.startswith("segmentation_models.") and model in SM_DECODER_BN_PREFIXES:
            prefixes = ", ".join(f"'{prefix}'" for prefix in SM_DECODER_BN_PREFIXES[model])
            text = ("segmentation_models builds the encoder flattened into the model, so no encoder call can take "
                    "`training=False`: keep the encoder's BatchNormalization layers frozen (`trainable = False`) "
                    f"while fine-tuning and recompile; the decoder's BN layers (names starting {prefixes}) are new "
                    "and must train. `encoder_freeze=True` leaves the encoder's BN trainable.")
            if target.legacy:
                text += (f" {target.label}: a frozen BN still normalizes with batch statistics in fit(), so call "
                         "the encoder's BN layers with `training=False` (a frozen-BN subclass) instead.")
            return text
    return None


def under(target: KerasTarget) -> str:
    """'under tf.keras in TF 1.x' plus the 2.2.4-tf caveat when the writer is ambiguous."""
    text = f"under {target.label}"
    if target.ambiguous:
        text += (f" (keras_version {target.version} is written by TF 1.13-1.15 and by early TF 2; treated as "
                 "TF 1.x: set target-keras to settle it)")
    elif target.source.startswith(NO_KERAS_VERSION):     # guessed from the config format, or the default
        text += " (assumed: the file records no keras_version; set target-keras to settle it)"
    return text


def name_list(layers: Sequence[Layer], limit: int = 3) -> str:
    names = ", ".join(f"'{layer.path}'" for layer in layers[:limit])
    rest = len(layers) - limit
    return f"{names} and {rest} more" if rest > 0 else names


def count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun.replace('layer', 'layers')}"


def scope_of(model: Layer) -> str:
    """Where a group of layers sits: "in nested model 'base'" or "at the top level of the model"."""
    return f"in nested model '{model.path}'" if model.parent is not None else "at the top level of the model"


def agree(n: int, one: str, many: str) -> str:
    """The verb form for a subject of n layers: agree(1, 'stands', 'stand')."""
    return one if n == 1 else many
