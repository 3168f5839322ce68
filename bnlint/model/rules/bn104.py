"""BN104: a nested pretrained base is not held in inference mode by `training=False`.

TF 2 / Keras 3: its frozen BN layers are in inference mode only because they are frozen; they
return to training mode as soon as the base is unfrozen for fine-tuning. Standalone Keras: the
file cannot record `base.trainable = False`, so a base whose BN layers look trainable may have
been frozen (the BN102 pitfall) or not; we say so instead of reporting it clean.
"""
from __future__ import annotations

from bnlint.finding import Finding
from bnlint.model.advice import agree, count, keep_bn_in_inference
from bnlint.model.check import ModelCheck
from bnlint.model.graph import Layer
from bnlint.model.semantics import BNMode, inside_sequential

CODE = "BN104"
NEEDS_WEIGHTS = False


def _unheld_frozen(modes: list[BNMode]) -> list[Layer]:
    return [m.layer for m in modes
            if m.layer.frozen_flag and m.held_by is None and not m.layer.always_inference_bn]


def _unheld_unrecorded(modes: list[BNMode]) -> list[Layer]:
    return [m.layer for m in modes
            if not m.frozen and m.held_by is None and not m.layer.always_inference_bn]


def check(model: ModelCheck) -> list[Finding]:
    target, graph = model.target, model.graph
    blind_spot = target.legacy and not graph.nested_freeze_recorded
    if target.legacy and not blind_spot:
        return []          # legacy Keras: frozen BN layers are BN102, trainable ones BN103
    modes_by_layer = {m.layer: m for m in model.modes}
    findings: list[Finding] = []
    reported: set = set()
    for nested in graph.layers():
        if not nested.is_model or any(a in reported for a in nested.ancestors()):
            continue
        modes = [modes_by_layer[layer] for layer in nested.walk() if layer in modes_by_layer]
        if blind_spot:
            # A base frozen layer by layer shows it in the file; only a base with no recorded
            # freeze at all may hide an unrecorded `base.trainable = False`.
            recorded = any(layer.frozen_flag for layer in nested.walk())
            layers = [] if recorded else _unheld_unrecorded(modes)
        else:
            layers = _unheld_frozen(modes)
        if not layers:
            continue
        reported.add(nested)
        n = len(layers)
        if blind_spot:
            version = graph.keras_version or "2.x"
            message = (f"standalone Keras {version} cannot save `base.trainable = False`: if '{nested.path}' was "
                       f"frozen, its {count(n, 'BN layer')} {agree(n, 'uses', 'use')} batch statistics in fit()")
        else:
            how = "in a Sequential cannot take" if inside_sequential(nested) else "lacks"
            message = (f"nested model '{nested.path}' {how} `training=False`: its {count(n, 'frozen BN layer')} "
                       f"{agree(n, 'trains', 'train')} once it is unfrozen")
        help_text = keep_bn_in_inference(target)
        if not blind_spot and inside_sequential(nested):
            help_text = "Build the model with the functional API instead of Sequential. " + help_text
        findings.append(model.finding(CODE, message, layers, help_text, architecture=model.architecture(layers)))
    return findings
