"""Questions several rules ask about the facts (kept here so no rule duplicates them)."""
from __future__ import annotations

from bnlint.script.facts import Base, Facts, Fit, ModelFact, TrainableChange


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


def trains_after(facts: Facts, event, base: Base) -> bool:
    """Does a training call that can involve `base` follow `event` in program order? A change after
    the last `fit()` changes nothing for that training, and a file that never trains (a fragment, a
    module only imported elsewhere) trains nothing: the file that trains it gets the finding. A
    change in a function the file never calls runs whenever a caller elsewhere decides."""
    fits = [e for e in facts.events if isinstance(e, Fit)]
    if not fits:
        return False
    if not facts.ordered(event):
        return True
    position = facts.events.index(event)
    return any(facts.events.index(fit) > position and may_train(fit, base) for fit in fits)


def may_train(fit: Fit, base: Base) -> bool:
    model = fit.model
    if model is None or model is base:
        return True
    return isinstance(model, ModelFact) and (base in model.bases() or model.kind == "subclass")


def affects(change: TrainableChange, model) -> bool:
    """Does the trainable change reach layers of `model` (itself, a base in it, its layers)?"""
    if change.owner is model:
        return True
    if isinstance(model, ModelFact):
        return any(covers(change, base) or change.owner is base for base in model.bases())
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


STANDALONE_BN_FIX = (
    "Standalone Keras cannot call a model with `training=False` (TypeError): rebuild the base with a "
    "BatchNormalization subclass whose `call` passes `training=False`, or move to tf.keras 2.x / Keras 3.")
