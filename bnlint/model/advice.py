"""Wording shared by the model rules: the per-Keras fix, the target tail, counts.

Messages are one sentence of what is wrong and what the user sees; the location already names the
layer (`model.h5: layer 'conv1_bn' (and 52 more)`), so messages do not list layers. The help is the
fix for the Keras that runs the model plus a short tail saying which Keras that is and why; the long
explanation lives in the rule's catalogue entry (`bnlint rule CODE`).
"""
from __future__ import annotations


from bnlint.model.applications import Match
from bnlint.model.semantics import NO_KERAS_VERSION
from bnlint.target import KerasTarget, Semantics

ISSUE_20285 = "keras-team/keras#20285"


def keep_bn_in_inference(target: KerasTarget) -> str:
    """How to keep BN layers in inference mode during fit(), for the Keras that runs the model."""
    sem = target.semantics
    if target.standalone:
        return ("Call each BN layer with `training=False` when building the model "
                "(`BatchNormalization(name='bn')(x, training=False)`); `base(x, training=False)` raises TypeError "
                "on standalone Keras.")
    if sem is Semantics.TF1:
        return ("Build the model with `x = base(inputs, training=False)`: the TF 1.x BatchNormalization "
                "ignores `trainable`.")
    if sem is Semantics.KERAS3_OLD:
        return ("Keep `trainable = False` on every BatchNormalization layer while fine-tuning, then recompile "
                f"(fit() overrides `training=False` before Keras 3.16, {ISSUE_20285}).")
    return ("Build the model with `x = base(inputs, training=False)`: it keeps the base's BN layers in "
            "inference mode after unfreezing.")


def nest_the_base(target: KerasTarget) -> str:
    """The fix for a flattened base: call it as one nested model (standalone Keras cannot)."""
    if target.standalone:
        return ("Standalone Keras cannot hold a nested base with `training=False`: fix its BN layers as BN102 says, "
                "or move to tf.keras 2 / Keras 3 and call the base as `base(inputs, training=False)`.")
    text = ("Call the base as one nested model, `x = base(inputs, training=False)`, instead of rebuilding "
            "the model from `base.input` / `base.output`.")
    if target.semantics is Semantics.KERAS3_OLD:
        text += " Before Keras 3.16 also keep its BN layers frozen when fine-tuning."
    return text


def zoo_fix(arch: Match | None, target: KerasTarget) -> str | None:
    """The fix for a model zoo's own model, when the table names one whose encoder is built
    flattened with a new decoder (segmentation_models): there is no base to call with
    `training=False`, and the decoder's BN layers must train (docs/model-zoos.md)."""
    from bnlint.script.applications import SM_DECODER_BN_PREFIXES

    for name in arch.names if arch else ():
        model = name.partition("(")[0].removeprefix("segmentation_models.")
        if name.startswith("segmentation_models.") and model in SM_DECODER_BN_PREFIXES:
            prefixes = ", ".join(f"'{prefix}'" for prefix in SM_DECODER_BN_PREFIXES[model])
            text = ("segmentation_models flattens its encoder (no call can take `training=False`): keep the "
                    f"encoder's BN layers frozen while fine-tuning, not the decoder's (names starting {prefixes}), "
                    "and recompile.")
            if target.legacy:
                text = ("Call the encoder's BN layers with `training=False` (a frozen-BN subclass): a frozen BN still "
                        "uses batch statistics here; the decoder's BN layers must train.")
            return text
    return None


def with_target(help_text: str, target: KerasTarget) -> str:
    """The help with which Keras it is for and why: the file's own keras_version, or an assumption."""
    source = target.source
    if source.startswith("--target-keras"):
        return help_text
    if target.ambiguous:
        return (f"{help_text} [assumed {target.label}: keras_version {target.version} (early TF 2 wrote it too); "
                "set target-keras to change]")
    if source.startswith(NO_KERAS_VERSION):
        return f"{help_text} [assumed {target.label}: no keras_version in the file; set target-keras to change]"
    if source.startswith("file keras_version") or target.observed:     # a fact, not an assumption
        return f"{help_text} [for {target.label}: {source}]"
    return f"{help_text} [assumed {target.label}: {source}]"


def count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun.replace('layer', 'layers')}"


def agree(n: int, one: str, many: str) -> str:
    """The verb form for a subject of n layers: agree(1, 'stands', 'stand')."""
    return one if n == 1 else many
