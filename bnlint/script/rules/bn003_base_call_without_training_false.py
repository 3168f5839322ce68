"""BN003: a pretrained BN base called as a layer without `training=False`.

Without it the base's BN layers follow the outer call's training flag: as soon as the base is
unfrozen for fine-tuning, `fit()` runs them with batch statistics and updates the moving statistics.
"""
from __future__ import annotations

from bnlint.script.facts import BaseCall, Facts
from bnlint.script.fixes import bn003 as fix
from bnlint.script.rules.base import Report
from bnlint.script.rules.common import (
    STANDALONE_BN_FIX,
    code_name,
    describe,
    is_transfer_base,
)
from bnlint.target import KerasTarget

CODE = "BN003"

_HOW = {
    "absent": "without `training=False`",
    "forwarded": "with the outer `training` flag forwarded",
    "true": "with `training=True`",
    "other": "with a `training` value that is not `False`",
}


def check(facts: Facts, target: KerasTarget):
    wired = {id(c.call) for m in facts.models for c in m.components if c.call is not None}
    for call in facts.base_calls:
        if call.training == "false" or not is_transfer_base(facts, call.base):
            continue
        if not call.base.whole_model_pretrained:
            continue        # a segmentation model: its new decoder's BN layers must train
        if not call.symbolic and id(call) not in wired:
            continue        # `base(image_batch)` on data: plain inference, nothing is being built
        yield Report(CODE, call.site, _message(call), _help(call, target),
                     fix=fix.offer(call, target))


def _message(call: BaseCall) -> str:
    return f"{describe(call.base)} is called {_HOW[call.training]}: its BN layers train once it is unfrozen"


def _help(call: BaseCall, target: KerasTarget) -> str:
    if target.standalone:
        return STANDALONE_BN_FIX
    text = f"Call it as `{code_name(call.base)}(x, training=False)` (the Keras transfer-learning guide)."
    if target.keras3 and not target.honours_nested_training_false_when_trainable:
        text += " On Keras < 3.16 also keep its BN layers frozen when unfreezing (keras-team/keras#20285)."
    return text
