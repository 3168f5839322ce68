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
    if not _bn_in_play(facts):
        return      # no BN layer anywhere in sight: the phase changes dropout, not what this rule is about
    for event in facts.events:
        if not isinstance(event, LearningPhase) or event.value == "0" or event.site.external:
            continue
        call = event.site.chunk.code(event.site.node)
        if len(call) > 48 or "\n" in call:
            call = "set_learning_phase(...)"
        if event.value == "1":
            message = f"`{call}` forces training mode: BN uses batch statistics in predict() too"
        else:
            message = f"`{call}` may force training mode: BN would use batch statistics at inference too"
        if target.legacy:
            help_text = ("Remove it: fit() sets the phase itself. To keep a frozen base's BN in inference mode, call "
                         "`K.set_learning_phase(0)` before building the base.")
        else:
            help_text = ("Remove it (deprecated in TF 2, gone in Keras 3) and pass `training=` to layer or model "
                         "calls instead.")
        yield Report(CODE, event.site, message, help_text)


def _bn_in_play(facts: Facts) -> bool:
    """A pretrained base or a loaded model (whose layers may be BN), or BatchNormalization layers the
    code builds."""
    return bool(facts.bases) or any("BatchNorm" in source.text for source in facts.sources)
