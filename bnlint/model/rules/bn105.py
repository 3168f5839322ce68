"""BN105: moving statistics still at their initial values in a model that was trained."""
from __future__ import annotations

from bnlint.finding import Finding
from bnlint.model.advice import agree, count
from bnlint.model.check import ModelCheck

CODE = "BN105"
NEEDS_WEIGHTS = True


def _training_evidence(model: ModelCheck, at_init: set[str]) -> str | None:
    """Why we believe the model was trained (a short clause), or None for a fresh, never-trained model.

    A training config alone only says the model was compiled, so it does not count.
    """
    weights = model.graph.weights()
    if weights.optimizer_iterations is not None:
        if weights.optimizer_iterations > 0:
            steps = weights.optimizer_iterations
            return f"the optimizer ran {steps} step{'s' if steps != 1 else ''}"
    elif weights.has_optimizer_state:
        return "optimizer state was saved"
    moved = [path for path, stats in weights.bn.items() if path not in at_init]
    if moved:
        return f"'{moved[0]}' moved"
    affine = [path for path, stats in weights.bn.items() if stats.affine_moved()]
    if affine:
        return f"gamma/beta of '{affine[0]}' moved"
    return None


def check(model: ModelCheck) -> list[Finding]:
    weights = model.graph.weights()
    stuck = [layer for layer in model.graph.bn_layers()
             if layer.path in weights.bn and weights.bn[layer.path].at_initial_values()]
    if not stuck:
        return []
    evidence = _training_evidence(model, {layer.path for layer in stuck})
    if evidence is None:
        return []
    by_scope: dict = {}
    for layer in stuck:
        by_scope.setdefault(layer.parent, []).append(layer)
    findings = []
    for layers in by_scope.values():
        n = len(layers)
        message = f"{count(n, 'BN layer')} kept initial moving statistics (0, 1) though {evidence}: predict() is off"
        if all(layer.trainable is False for layer in layers):
            help_text = (f"{agree(n, 'It is', 'They are')} frozen and never saw data: load the pretrained weights "
                         "(`weights='imagenet'`) before freezing, or restore the statistics from the original base.")
        else:
            help_text = ("Load the pretrained weights before freezing, or let the BN layers see the training data "
                         "in training mode before saving.")
        findings.append(model.finding(CODE, message, layers, help_text, architecture=model.architecture(layers)))
    return findings
