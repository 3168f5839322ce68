"""BN107: BN moving statistics that have not converged (too few updates in training mode).

Evidence: the saved optimizer's step count N, each BN layer's `momentum` m, and whether the layer
updates its moving statistics in fit() under the file's Keras. The starting values still weigh
m**N (bnlint.staleness). N counts only the steps since the last compile() with a new optimizer
(bnlint.model.optimizer_history), so it is a lower bound: when the file shows that an earlier
optimizer existed, the finding drops to `info` and says why. No count, no finding.
"""
from __future__ import annotations

from bnlint.finding import Finding, Related, Severity
from bnlint.model.advice import agree, count
from bnlint.model.check import ModelCheck
from bnlint.model.optimizer_history import earlier_optimizer_trace
from bnlint.model.semantics import BNMode
from bnlint.staleness import DEFAULT_MOMENTUM, percent, stale_weight, updates_needed

CODE = "BN107"
NEEDS_WEIGHTS = True


def _momentum(mode: BNMode) -> float | None:
    value = mode.layer.config.get("momentum", DEFAULT_MOMENTUM)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        return None
    return float(value)


def _updates_statistics(mode: BNMode, model: ModelCheck) -> bool:
    """fit() moves this layer's moving statistics (a frozen legacy BN uses batch statistics but
    does not update them, except in Keras 2.0-2.1.2: that is BN102)."""
    if not model.graph.nested_freeze_recorded and mode.layer.parent is not model.graph.root:
        # Standalone Keras does not save `base.trainable = False` on a nested base (BN104's blind
        # spot), and 2.2.4 leaves out the updates of a base frozen when it was called: unknown.
        return False
    return mode.trains_in_fit and (not mode.frozen or model.target.frozen_bn_updates_statistics)


def check(model: ModelCheck) -> list[Finding]:
    weights = model.graph.weights()
    steps = weights.optimizer_iterations
    if steps is None or steps < 1:
        return []           # no count (weights only, no optimizer saved) or not trained since compile()
    limit = model.ctx.max_stale_bn_weight
    stale = []
    for mode in model.modes:
        stats = weights.bn.get(mode.layer.path)
        momentum = _momentum(mode)
        # Statistics still at 0/1 never saw a batch: BN105 says so.
        if stats is None or momentum is None or stats.at_initial_values() or not _updates_statistics(mode, model):
            continue
        if stale_weight(momentum, steps) > limit:
            stale.append((mode.layer, momentum))
    if not stale:
        return []
    trace = earlier_optimizer_trace(model.graph, weights)
    by_scope: dict = {}
    for layer, momentum in stale:
        by_scope.setdefault(layer.parent, []).append((layer, momentum))
    return [_finding(model, entries, steps, limit, trace) for entries in by_scope.values()]


def _finding(model: ModelCheck, stale, steps: int, limit: float, trace: str | None) -> Finding:
    layers = [layer for layer, _ in stale]
    momentum = max(m for _, m in stale)
    n = len(layers)
    share = percent(stale_weight(momentum, steps))
    message = (f"{count(n, 'BN layer')} got only {steps} update{'s' if steps != 1 else ''}: {momentum:g}^{steps} = "
               f"{share} of {agree(n, 'its', 'their')} moving statistics are stale, so predict() lags fit()")
    severity = None
    notes = ()
    if trace is not None:
        # the count may miss training before the last compile(): said, and one level lower
        severity = Severity.INFO
        notes = (Related(model.display_path, 1, 1, f"uncertain: the step count restarts at every compile(), and {trace}"),)
    needed = updates_needed(momentum, limit)
    help_text = (f"Train at least {needed} steps (momentum {momentum:g}) or re-estimate the statistics before "
                 "evaluating (`bnlint rule BN107`); steps count since the last compile() with a new optimizer.")
    finding = model.finding(CODE, message, layers, help_text, severity=severity, architecture=model.architecture(layers))
    return finding.with_(related=notes)
