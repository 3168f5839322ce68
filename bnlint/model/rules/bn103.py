"""BN103: a BN layer runs in training mode while fine-tuning next to frozen pretrained layers."""
from __future__ import annotations

from bnlint.finding import Finding
from bnlint.model.advice import ISSUE_20285, agree, count, keep_bn_in_inference, zoo_fix
from bnlint.model.check import ModelCheck
from bnlint.model.graph import Layer
from bnlint.model.semantics import BNMode
from bnlint.target import Semantics

CODE = "BN103"
NEEDS_WEIGHTS = False


def _frozen_pretrained(layer: Layer) -> bool:
    return layer.frozen_flag and layer.counts_as_pretrained_weights


def _fine_tuned(mode: BNMode, frozen_in_parent: dict[Layer, int]) -> bool:
    """Other pretrained layers of the BN's own model are frozen, or a recorded training=False is ignored.

    Only plain layers of the BN's own model count, so a new head BN next to a frozen nested base
    is not taken for part of the base. An ignored training=False shows the author meant the BN to
    stay in inference mode (the guide's `base(x, training=False)` then `base.trainable = True`).
    """
    others = frozen_in_parent.get(mode.layer.parent, 0) - (1 if _frozen_pretrained(mode.layer) else 0)
    return mode.ignored_hold is not None or others > 0


def check(model: ModelCheck) -> list[Finding]:
    target = model.target
    frozen_in_parent: dict[Layer, int] = {}
    for layer in model.graph.layers():
        if _frozen_pretrained(layer):
            frozen_in_parent[layer.parent] = frozen_in_parent.get(layer.parent, 0) + 1
    by_scope: dict = {}
    for mode in model.modes:
        # Frozen BN layers in training mode are BN102's (legacy Keras); here: the unfrozen ones.
        if mode.trains_in_fit and not (target.legacy and mode.frozen) and _fine_tuned(mode, frozen_in_parent):
            by_scope.setdefault(mode.layer.parent, []).append(mode)
    findings = []
    for scope, modes in by_scope.items():
        layers = [m.layer for m in modes]
        n = len(layers)
        subject = f"{count(n, 'trainable BN layer')} {agree(n, 'trains', 'train')}"
        their = agree(n, "its", "their")
        ignored = next((m.ignored_hold for m in modes if m.ignored_hold is not None), None)
        where = "" if ignored is None or ignored in layers else f" on '{ignored.path}'"
        if ignored is not None and target.semantics is Semantics.KERAS3_OLD:
            message = (f"{subject} despite `training=False`{where} ({ISSUE_20285}): fit() overwrites "
                       f"{their} pretrained statistics")
        elif ignored is not None:
            message = (f"{subject} despite `training=False`{where} ({target.label} ignores it): fit() "
                       f"overwrites {their} pretrained statistics")
        else:
            message = f"{subject} next to frozen pretrained layers: fit() overwrites {their} statistics"
        arch = model.architecture(layers)
        findings.append(model.finding(CODE, message, layers, zoo_fix(arch, target) or keep_bn_in_inference(target),
                                      architecture=arch))
    return findings
