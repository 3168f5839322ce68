"""BN001: a pretrained BN base flattened into a model through its symbolic tensors, and frozen.

`Model(inputs=base.input, outputs=head(base.output))` copies the base's layers into the new
model, so the base can never be called with `training=False`. On legacy Keras (standalone 2.x, TF 1.x
tf.keras) a frozen BN still uses batch statistics in training: the 100 %-train / chance-validation
symptom. On tf.keras 2.x / tf_keras / Keras 3 a frozen BN is in inference mode, so nothing breaks
until it is unfrozen (BN002), and BN001 does not fire there.
"""
from __future__ import annotations

from bnlint.script.facts import Component, Facts, ModelFact
from bnlint.script.fixes import bn001 as fix
from bnlint.script.rules.base import Report
from bnlint.script.rules.common import (
    STANDALONE_BN_FIX,
    changes_covering,
    code_name,
    describe,
    is_transfer_base,
    trains_after,
)
from bnlint.target import KerasTarget

CODE = "BN001"


def check(facts: Facts, target: KerasTarget):
    # On tf.keras 2.x / tf_keras / Keras 3 a frozen BN is in inference mode: nothing breaks until it
    # is unfrozen, and that is BN002's finding (issue 11, decision 1).
    if not target.legacy:
        return
    for model in facts.models:
        for component in model.components:
            base = component.base
            if component.kind != "flattened" or not is_transfer_base(facts, base) or not base.whole_model_pretrained:
                continue
            freezes = [c for c in changes_covering(facts, base)
                       if c.value is False and c.bn != "non_bn"]
            freezes = [c for c in freezes if trains_after(facts, c, base)]
            if not freezes:
                continue
            yield Report(CODE, model.site, _message(model, component), _help(component, target),
                         fix=fix.offer(facts, model, component, target),
                         related=((freezes[0].site, f"`{code_name(base)}` is frozen here"),))


def _message(model: ModelFact, component: Component) -> str:
    # (the model's name is in the code the finding points at)
    return (f"{describe(component.base)} is flattened and frozen: its BN layers use batch statistics in fit(), "
            "moving ones in predict()")


def _help(component: Component, target: KerasTarget) -> str:
    base = component.base
    if target.standalone:
        return STANDALONE_BN_FIX
    name = code_name(base)
    if component.intermediate:
        return (f"Build a feature extractor `features = Model({name}.input, {name}.get_layer(...).output)` "
                "and call it on a new Input as `features(inputs, training=False)`.")
    if base.input_tensor:
        return (f"Build `{name}` with `input_shape=` instead of `input_tensor=`, call it as "
                f"`{name}(inputs, training=False)` and build the head on that.")
    return (f"Nest the base: `x = {name}(inputs, training=False)` on a new `Input`, build the head on `x`, "
            "then `Model(inputs, outputs)`.")
