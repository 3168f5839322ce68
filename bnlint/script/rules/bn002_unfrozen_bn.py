"""BN002: fine-tuning unfreezes a pretrained BN base without keeping BN in inference mode.

Unfrozen BatchNormalization layers normalise with batch statistics in training and update the
pretrained moving statistics, which wrecks what the head learned; inference then uses the drifted
statistics. Silenced by a BN guard (BN layers kept frozen), or by a nested `training=False` on
targets that honour it after unfreezing (tf.keras 2 / tf_keras, Keras >= 3.16).
"""
from __future__ import annotations

from bnlint.script.facts import Facts
from bnlint.script.rules.base import Report
from bnlint.script.rules.common import (
    STANDALONE_BN_FIX,
    changes_covering,
    code_name,
    describe,
    is_transfer_base,
    tf_keras3_note,
)
from bnlint.target import KerasTarget

CODE = "BN002"


def check(facts: Facts, target: KerasTarget):
    for base in facts.bases:
        if not is_transfer_base(facts, base):
            continue
        changes = changes_covering(facts, base)
        unfreezes = [c for c in changes if c.value is True and c.bn != "non_bn" and not c.site.external]
        if not unfreezes or not any(c.value is False and c.bn != "non_bn" for c in changes):
            # Never frozen anywhere: `trainable = True` changes nothing (full fine-tuning from the
            # start is a choice, not this pitfall).
            continue
        if any(c.value is False and c.bn == "bn_only" for c in changes):
            continue        # BN guard: the BatchNormalization layers are kept frozen
        nested_false = any(call.base is base and call.training == "false" for call in facts.base_calls)
        if nested_false and target.honours_nested_training_false_when_trainable:
            continue
        yield Report(CODE, unfreezes[0].site, _message(base, nested_false, target), _help(base, target))


def _message(base, nested_false: bool, target: KerasTarget) -> str:
    text = (f"fine-tuning unfreezes layers of pretrained base {describe(base)} without keeping its "
            "BatchNormalization layers in inference mode: in training they switch to batch statistics "
            "and overwrite the pretrained moving statistics, while inference uses the drifted moving "
            "statistics, so training and validation results disagree")
    if nested_false:
        text += (f"; the nested `{code_name(base)}(..., training=False)` does not protect them on {target.label}: "
                 "`fit()` overrides it once the base is trainable (keras-team/keras#20285)")
    return text


def _help(base, target: KerasTarget) -> str:
    guard = (f"keep the BN layers frozen after unfreezing: `for layer in {code_name(base)}.layers: "
             "if isinstance(layer, BatchNormalization): layer.trainable = False`, then `compile()` again.")
    capitalised = guard[0].upper() + guard[1:]
    if target.standalone:
        return capitalised + " " + STANDALONE_BN_FIX
    if target.honours_nested_training_false_when_trainable:
        return (f"Nest the base and call it with `{code_name(base)}(inputs, training=False)` before unfreezing, "
                "or " + guard + tf_keras3_note(target))
    if target.keras3:
        return capitalised + (" In Keras < 3.16 a nested `training=False` is not enough once the base is "
                              "trainable (keras-team/keras#20285).")
    return capitalised
