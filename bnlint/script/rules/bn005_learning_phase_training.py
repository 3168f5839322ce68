"""BN005: the global learning phase forced to training (`set_learning_phase(1)` or non-literal).

With learning phase 1 every BatchNormalization layer normalises with batch statistics everywhere,
also in `predict()` and `evaluate()`. `set_learning_phase(0)` before building the base is the
legacy workaround for frozen BN and is fine.
"""
from __future__ import annotations

from bnlint.script.facts import Facts, LearningPhase
from bnlint.script.rules.base import Report
from bnlint.target import KerasTarget

CODE = "BN005"


def check(facts: Facts, target: KerasTarget):
    for event in facts.events:
        if not isinstance(event, LearningPhase) or event.value == "0" or event.site.external:
            continue
        call = event.site.chunk.code(event.site.node)
        if event.value == "1":
            message = (f"`{call}` forces the global learning phase to training: every BatchNormalization "
                       "layer normalises with batch statistics (and Dropout stays active) also in "
                       "`predict()` and `evaluate()`, so inference does not use the moving statistics")
        else:
            message = (f"`{call}` sets the global learning phase from a value bnlint cannot see; if it is "
                       "1, every BatchNormalization layer uses batch statistics also at inference time")
        if target.legacy:
            help_text = ("Remove it. To keep a frozen base's BN in inference mode, call "
                         "`K.set_learning_phase(0)` before building the base (then 1 is not needed: "
                         "`fit()` sets the phase itself), or call the BN layers with `training=False`.")
        else:
            help_text = ("Remove it: `set_learning_phase` is deprecated in TF2 and gone in Keras 3; pass "
                         "`training=` to layer or model calls instead (`base(x, training=False)`).")
        yield Report(CODE, event.site, message, help_text)
