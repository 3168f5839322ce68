"""BN102: a frozen BN layer still normalizes with batch statistics in training (legacy Keras)."""
from __future__ import annotations

from bnlint.finding import Finding
from bnlint.model.advice import agree, count, keep_bn_in_inference, name_list, scope_of, under
from bnlint.model.check import ModelCheck
from bnlint.model.semantics import inside_sequential

CODE = "BN102"
NEEDS_WEIGHTS = False


def check(model: ModelCheck) -> list[Finding]:
    target = model.target
    if not target.legacy:
        return []
    by_scope: dict = {}
    for mode in model.modes:
        if mode.frozen and mode.trains_in_fit:
            by_scope.setdefault(mode.layer.parent, []).append(mode.layer)
    findings = []
    for scope, layers in by_scope.items():
        arch = model.architecture(layers)
        message = (f"{count(len(layers), 'frozen BN layer')} {scope_of(scope)} ({name_list(layers)}) still "
                   f"{agree(len(layers), 'normalizes', 'normalize')} with batch statistics in fit() {under(target)}: "
                   "`trainable=False` only freezes gamma and "
                   "beta, so training sees batch statistics while evaluate()/predict() use the moving statistics")
        if target.frozen_bn_updates_statistics:
            message += ", and fit() keeps overwriting those moving statistics"
        if scope.parent is not None and inside_sequential(scope):
            message += f"; '{scope.path}' sits in a Sequential, which cannot record `training=False`"
        findings.append(model.finding(CODE, message, layers[0], keep_bn_in_inference(target), architecture=arch))
    return findings
