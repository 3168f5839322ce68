"""BN104: a nested pretrained base is not held in inference mode by `training=False`.

TF 2 / Keras 3: its frozen BN layers are in inference mode only because they are frozen; they
return to training mode as soon as the base is unfrozen for fine-tuning. Standalone Keras: the
file cannot record `base.trainable = False`, so a base whose BN layers look trainable may have
been frozen (the BN102 pitfall) or not; we say so instead of reporting it clean.
"""
from __future__ import annotations

from bnlint.finding import Finding
from bnlint.model.advice import agree, count, keep_bn_in_inference, name_list, under
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
        arch = model.architecture(layers)
        if blind_spot:
            version = graph.keras_version or "2.x"
            message = (f"nested model '{nested.path}' holds {count(len(layers), 'BN layer')} recorded as "
                       f"trainable ({name_list(layers)}), but standalone Keras {version} does not save "
                       "`base.trainable = False`, so bnlint cannot tell whether the base was frozen: if it was, "
                       "its BN layers still normalize "
                       "with batch statistics in fit() and with moving statistics at inference (the BN102 "
                       "pitfall); if not, fit() trains them and overwrites their moving statistics")
        else:
            if inside_sequential(nested):
                how = "sits in a Sequential, which cannot record `training=False`"
            else:
                how = "is called without `training=False`"
            n = len(layers)
            message = (f"nested model '{nested.path}' {how}: its {count(n, 'frozen BN layer')} "
                       f"({name_list(layers)}) {agree(n, 'uses its', 'use their')} moving statistics {under(target)} "
                       f"only because {agree(n, 'it is', 'they are')} frozen; once the base is unfrozen for "
                       f"fine-tuning, fit() runs {agree(n, 'it', 'them')} in training mode with batch statistics and "
                       "overwrites the pretrained moving statistics")
        help = keep_bn_in_inference(target)
        if not blind_spot and inside_sequential(nested):
            help = "Build the model with the functional API instead of Sequential. " + help
        findings.append(model.finding(CODE, message, layers[0], help, architecture=arch))
    return findings
