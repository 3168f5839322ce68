"""BN102: a frozen BN layer still normalizes with batch statistics in training (legacy Keras)."""
from __future__ import annotations

from bnlint.finding import Finding
from bnlint.model.advice import agree, count, keep_bn_in_inference
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
        n = len(layers)
        message = (f"{count(n, 'frozen BN layer')} {agree(n, 'uses', 'use')} batch statistics in fit(), moving "
                   f"ones in predict() on {target.label}")
        if target.frozen_bn_updates_statistics:
            message += ", and fit() overwrites the latter"
        help_text = keep_bn_in_inference(target)
        if scope.parent is not None and inside_sequential(scope) and not target.standalone:
            help_text = f"'{scope.path}' is in a Sequential: use the functional API. " + help_text
        findings.append(model.finding(CODE, message, layers, help_text, architecture=model.architecture(layers)))
    return findings
