"""BN105: moving statistics still at their initial values in a model that was trained."""
from __future__ import annotations

from bnlint.finding import Finding
from bnlint.model.advice import agree, count, name_list
from bnlint.model.check import ModelCheck

CODE = "BN105"
NEEDS_WEIGHTS = True


def _training_evidence(model: ModelCheck, at_init: set[str]) -> str | None:
    """Why we believe the model was trained, or None for a fresh, never-trained model.

    A training config alone only says the model was compiled, so it does not count.
    """
    weights = model.graph.weights()
    if weights.optimizer_iterations is not None:
        if weights.optimizer_iterations > 0:
            return f"the optimizer state records {weights.optimizer_iterations} training steps"
    elif weights.has_optimizer_state:
        return "optimizer state was saved"
    moved = [path for path, stats in weights.bn.items() if path not in at_init]
    if moved:
        return f"other BN layers' moving statistics moved (e.g. '{moved[0]}')"
    affine = [path for path, stats in weights.bn.items() if stats.affine_moved()]
    if affine:
        return f"gamma/beta of '{affine[0]}' moved from their initial values"
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
    n = len(stuck)
    stuck_paths = {layer.path for layer in stuck}
    in_training_mode = any(m.trains_in_fit for m in model.modes if m.layer.path in stuck_paths)
    message = (f"{count(n, 'BN layer')} ({name_list(stuck)}) still {agree(n, 'holds', 'hold')} the initial moving "
               f"statistics (mean 0, variance 1) although the model was trained ({evidence}): at inference "
               f"{agree(n, 'it normalizes', 'they normalize')} with these placeholders instead of statistics of "
               "real data")
    if in_training_mode:
        message += ", unlike fit(), which normalizes with batch statistics"
    if all(layer.trainable is False for layer in stuck):
        message += (f". {agree(n, 'It is', 'They are')} frozen and never saw data: the base was probably built "
                    "without its pretrained weights (weights=None) or its statistics were reset")
    help = ("Load the pretrained weights before freezing (e.g. `weights='imagenet'`), or let the BN layers see "
            "the training data in training mode before saving; check the model outputs at inference after training.")
    return [model.finding(CODE, message, stuck[0], help, architecture=model.architecture(stuck))]
