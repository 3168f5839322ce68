"""Questions several rules ask about the facts (kept here so no rule duplicates them)."""
from __future__ import annotations

from bnlint.script.facts import Base, Facts, ModelFact, TrainableChange
from bnlint.target import KerasTarget


def changes_covering(facts: Facts, base: Base) -> list[TrainableChange]:
    """Trainable changes that reach layers of `base` (directly or through a model holding it)."""
    found = []
    for event in facts.events:
        if isinstance(event, TrainableChange) and covers(event, base):
            found.append(event)
    return found


def covers(change: TrainableChange, base: Base) -> bool:
    owner = change.owner
    if owner is base:
        return True
    if isinstance(owner, ModelFact):
        for component in owner.components:
            if component.base is base:
                # The outer model's layers are the base's layers only when it was flattened in.
                return component.kind == "flattened" or change.whole
    return False


def is_transfer_base(facts: Facts, base: Base) -> bool:
    """A pretrained base with BN; a loaded model counts only once the script freezes or unfreezes it."""
    if not base.pretrained_bn_base:
        return False
    return not base.loaded or bool(changes_covering(facts, base))


def describe(base: Base) -> str:
    if base.name.startswith("<"):          # never bound to a variable
        return "(a loaded model)" if base.loaded else f"{base.architecture}"
    if base.loaded:
        return f"`{base.name}` (a loaded model)"
    return f"`{base.name}` ({base.architecture})"


def code_name(base: Base) -> str:
    """The base's variable, for code in messages ("base" when it was never bound to one)."""
    return "base" if base.name.startswith("<") else base.name


def keras_name(target: KerasTarget) -> str:
    return target.label


def tf_keras3_note(target: KerasTarget) -> str:
    """tf.keras is Keras 3 from TF 2.16: say so where keras-team/keras#20285 matters."""
    if "tensorflow.keras" in target.source:
        return (" Note: with TensorFlow >= 2.16, `tf.keras` is Keras 3, where `fit()` overrides a nested "
                "`training=False` once the base is unfrozen (keras-team/keras#20285, fixed in Keras 3.16);"
                " keep BN layers frozen there too.")
    return ""


STANDALONE_BN_FIX = (
    "In standalone Keras 2.x a frozen BatchNormalization layer still normalises with batch statistics "
    "in training, and `base(x, training=False)` raises TypeError (Network.call has no `training` "
    "argument). Call the BatchNormalization layers themselves with `training=False` (e.g. rebuild the "
    "base with a frozen-BN layer: a BatchNormalization subclass whose `call` passes `training=False`), "
    "or move to tf.keras 2.x / tf_keras / Keras 3 and nest the base with `base(inputs, training=False)`.")
