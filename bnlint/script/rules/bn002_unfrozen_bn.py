"""BN002: during some fit(), BN layers of a pretrained base train in training mode while other
pretrained layers are frozen (issue 11, decision 2).

Two ways real code gets there: a frozen base is unfrozen (wholly or partly) for fine-tuning, or only
part of the base is frozen from the start (`for layer in model.layers[:100]`). BatchNormalization
layers that train then normalise with batch statistics and overwrite the pretrained moving
statistics while the frozen layers around them expect the old ones; inference uses the drifted
moving statistics. A BN guard (BN layers kept frozen) silences it, and so does a nested
`base(x, training=False)` on targets that honour it once the base is trainable (tf.keras 2 /
tf_keras, Keras >= 3.16; not Keras 3.0-3.15, keras-team/keras#20285). A base that was never frozen
and is fine-tuned in full is ordinary fine-tuning.

A model zoo constructor can do the partial freezing itself: segmentation_models'
`encoder_freeze=True` freezes every encoder layer except BatchNormalization (the facts record it
as a change at the constructor call); that finding gets the zoo's own message and fix.
"""
from __future__ import annotations

from bnlint.script.facts import Base, Facts, Fit, TrainableChange
from bnlint.script.fixes import bn002 as fix
from bnlint.script.rules.base import Report
from bnlint.script.rules.common import (
    STANDALONE_BN_FIX,
    changes_covering,
    code_name,
    describe,
    is_transfer_base,
    may_train,
)
from bnlint.target import KerasTarget

CODE = "BN002"

TRAINABLE, FROZEN, PARTLY = "trainable", "frozen", "partly frozen"


def check(facts: Facts, target: KerasTarget):
    for base in facts.bases:
        if not is_transfer_base(facts, base):
            continue
        false_calls = [call for call in facts.base_calls if call.base is base and call.training == "false"]
        nested_false = bool(false_calls)
        if nested_false and target.honours_nested_training_false_when_trainable:
            continue
        if nested_false and all(call.in_subclass_call for call in false_calls) and target.nested_call_accepts_training:
            continue        # an explicit argument in a subclass's call(): every Keras that accepts it honours it
        found = _bn_trains_while_frozen_around(facts, base)
        if found is None:
            continue
        change, fit, unfrozen = found
        site = change.site.reportable or (fit.site.reportable if fit is not None else None)
        if site is None:
            continue
        if base.freezes_all_but_bn and change.site.node is base.site.node:
            yield Report(CODE, site, _encoder_freeze_message(base), _encoder_freeze_help(base, target),
                         related=((fit.site, "trained here with the encoder's BN layers trainable"),)
                         if fit is not None and not fit.site.external else ())
            continue
        called = any(call.base is base for call in facts.base_calls)
        yield Report(CODE, site, _message(base, unfrozen, nested_false, target), _help(base, target, called),
                     fix=fix.offer(facts, base, change, fit, target))


def _bn_trains_while_frozen_around(facts: Facts, base: Base):
    """(the change that put BN into training, the fit that trains so, whether it was an unfreeze)
    for the first training call where some BN layers of `base` are trainable while other layers
    are frozen or were frozen before; None if no training call sees that."""
    changes = changes_covering(facts, base)
    if not changes:
        return None
    bn_state, other_state = TRAINABLE, TRAINABLE
    was_frozen = False
    last_bn_change = None
    fits = [e for e in facts.events if isinstance(e, Fit) and may_train(e, base)
            and getattr(e.model, "fit_trains_bn", True)]
    checkpoints = iter(fits)
    pending = next(checkpoints, None)
    for event in facts.events:
        if event is pending:
            if _bad(bn_state, other_state, was_frozen) and last_bn_change is not None:
                return last_bn_change, event, was_frozen and last_bn_change.value is True
            pending = next(checkpoints, None)
            continue
        if not isinstance(event, TrainableChange) or event not in changes or event.value is None:
            continue
        state = TRAINABLE if event.value else FROZEN
        before = bn_state
        if event.bn == "all":
            bn_state = state if event.whole else _partly(bn_state, state)
        elif event.bn == "bn_only":
            bn_state = state          # a BN test (`isinstance(layer, BatchNormalization)`): every BN layer
        if event.bn == "all":
            other_state = state if event.whole else _partly(other_state, state)
        elif event.bn == "non_bn":
            other_state = state       # `if not isinstance(layer, BatchNormalization)`: every other layer
        if bn_state == FROZEN and other_state == FROZEN:
            was_frozen = True
        # Anchor on the change that let BN train: the unfreeze after a frozen phase, else the first
        # change that left BN trainable among frozen layers.
        if bn_state != FROZEN and (before == FROZEN or (last_bn_change is None and other_state != TRAINABLE)):
            last_bn_change = event
    # The change sits in a function only a caller elsewhere runs (in a file that does train).
    trains_elsewhere = fits and last_bn_change is not None and not facts.ordered(last_bn_change)
    if trains_elsewhere and _bad(bn_state, other_state, was_frozen) and last_bn_change is not None:
        return last_bn_change, None, was_frozen and last_bn_change.value is True
    return None


def _partly(current: str, state: str) -> str:
    return current if current == state else PARTLY


def _bad(bn_state: str, other_state: str, was_frozen: bool) -> bool:
    """Some BN layers train while other pretrained layers are (or were) frozen."""
    return bn_state != FROZEN and (other_state != TRAINABLE or bn_state == PARTLY or was_frozen)


def _message(base: Base, unfrozen: bool, nested_false: bool, target: KerasTarget) -> str:
    how = "unfrozen for fine-tuning" if unfrozen else "partly frozen"
    if nested_false and target.keras3:
        return (f"{describe(base)} is {how}: Keras < 3.16 overrides its `training=False` (keras-team/keras#20285), "
                "so its BN layers train")
    return f"{describe(base)} is {how}: its BN layers train, drifting from the statistics inference uses"


def _help(base: Base, target: KerasTarget, called: bool) -> str:
    name = code_name(base)
    guard = f"set `trainable = False` on each BatchNormalization layer of `{name}` after unfreezing, then compile()"
    if target.standalone:
        # a frozen BN still uses batch statistics there: only a BN layer called with training=False helps
        return STANDALONE_BN_FIX
    if target.legacy:
        return ("On TF 1.x a frozen BN still uses batch statistics, so freezing the BN layers is not enough: "
                "rebuild the base with a BatchNormalization subclass whose `call` passes `training=False`.")
    if target.honours_nested_training_false_when_trainable and called:
        return f"Call it as `{name}(inputs, training=False)`, or {guard}."
    # a base inside a Sequential or flattened into the model is never called: the guard is the fix
    return f"Keep BN frozen: {guard}."


# --- a constructor that freezes every pretrained layer except BN (segmentation_models) ---------

def _encoder_freeze_message(base: Base) -> str:
    return (f"{describe(base)} is built with `encoder_freeze=True`: its encoder's BN layers train on batch "
            "statistics next to frozen convolutions")


def _encoder_freeze_help(base: Base, target: KerasTarget) -> str:
    name = code_name(base)
    quoted = [f'"{prefix}"' for prefix in base.decoder_bn_prefixes or ("decoder_",)]
    prefixes = quoted[0] + "," if len(quoted) == 1 else ", ".join(quoted)
    if target.legacy:
        return STANDALONE_BN_FIX if target.standalone else (
            "On TF 1.x a frozen BN still uses batch statistics: call the encoder's BN layers with `training=False`.")
    return (f"Before compile(), set `trainable = False` on each BatchNormalization layer of `{name}` whose name "
            f"does not start with ({prefixes}) (new decoder BN must train), or train all: "
            f"`sm.utils.set_trainable({name})`.")
