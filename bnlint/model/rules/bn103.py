"""BN103: a BN layer runs in training mode while fine-tuning next to frozen pretrained layers."""
from __future__ import annotations

from bnlint.finding import Finding
from bnlint.model.advice import ISSUE_20285, agree, count, keep_bn_in_inference, name_list, scope_of, under
from bnlint.model.check import ModelCheck
from bnlint.model.graph import Layer
from bnlint.model.semantics import BNMode
from bnlint.target import Semantics

CODE = "BN103"
NEEDS_WEIGHTS = False


def _has_frozen_siblings(layer: Layer) -> bool:
    """Other pretrained layers in the same model are frozen: the model is being fine-tuned.

    Only plain layers of the BN's own model count, so a new head BN next to a frozen nested base
    is not taken for part of the base.
    """
    return any(s is not layer and s.frozen_flag and s.counts_as_pretrained_weights
               for s in layer.parent.children)


def _fine_tuned(mode: BNMode) -> bool:
    # A recorded training=False that this Keras ignores is evidence too: the author meant the
    # BN to stay in inference mode (the guide's `base(x, training=False)` then `base.trainable = True`).
    return mode.ignored_hold is not None or _has_frozen_siblings(mode.layer)


def check(model: ModelCheck) -> list[Finding]:
    target = model.target
    by_scope: dict = {}
    for mode in model.modes:
        # Frozen BN layers in training mode are BN102's (legacy Keras); here: the unfrozen ones.
        if mode.trains_in_fit and not (target.legacy and mode.frozen) and _fine_tuned(mode):
            by_scope.setdefault(mode.layer.parent, []).append(mode)
    findings = []
    for scope, modes in by_scope.items():
        layers = [m.layer for m in modes]
        n = len(layers)
        arch = model.architecture(layers)
        message = (f"{count(n, 'trainable BN layer')} {scope_of(scope)} ({name_list(layers)}) "
                   f"{agree(n, 'runs', 'run')} in training mode during fit() {under(target)} while other pretrained "
                   f"layers are frozen: {agree(n, 'it normalizes', 'they normalize')} with batch statistics and "
                   f"{agree(n, 'overwrites', 'overwrite')} the pretrained moving statistics, so the features the "
                   "frozen layers were trained on shift (inference then uses the new moving statistics)")
        ignored = next((m.ignored_hold for m in modes if m.ignored_hold is not None), None)
        if ignored is not None:
            where = "its own call" if ignored in layers else f"the call of '{ignored.path}'"
            if target.semantics is Semantics.KERAS3_OLD:
                message += (f"; the `training=False` recorded on {where} does not hold {agree(n, 'it', 'them')}: "
                            f"fit()'s `training=True` overrides it once {agree(n, 'the layer is', 'they are')} "
                            f"trainable ({ISSUE_20285})")
            else:
                message += f"; the `training=False` recorded on {where} is not honoured {under(target)}"
        findings.append(model.finding(CODE, message, layers[0], keep_bn_in_inference(target), architecture=arch))
    return findings
