"""BN106: NaN/Inf or negative moving statistics (error), or a huge moving variance (warning)."""
from __future__ import annotations

from bnlint.finding import Finding, Severity
from bnlint.model.check import ModelCheck

CODE = "BN106"
NEEDS_WEIGHTS = True

_BROKEN_HELP = ("Retrain from a checkpoint saved before the statistics broke (lower the learning rate, check the "
                "input data for NaN/Inf, use a larger batch), or re-estimate the moving statistics on clean data.")
_HUGE_HELP = ("Check the input scaling (e.g. unnormalized 0-255 pixels fed to a base expecting its "
              "`preprocess_input`), or raise `max-moving-variance` if such variances are expected.")


def check(model: ModelCheck) -> list[Finding]:
    weights = model.graph.weights()
    limit = model.ctx.max_moving_variance
    findings = []
    for layer in model.graph.bn_layers():
        stats = weights.bn.get(layer.path)
        if stats is None:
            continue
        n = stats.channels
        broken = stats.non_finite()
        negative = stats.negative_variance_channels()
        if broken or negative:
            parts = [f"NaN/Inf in {name} ({k} of {n} channels)" for name, k in broken.items()]
            if negative:
                parts.append(f"a negative moving variance in {negative} of {n} channels")
            message = (f"BN layer '{layer.path}' has {' and '.join(parts)}: at inference it divides by "
                       "sqrt(variance + epsilon), so its outputs (and the model's predictions) become NaN or "
                       "garbage, although training with batch statistics may have looked fine")
            findings.append(model.finding(CODE, message, layer, _BROKEN_HELP))
            continue
        huge = stats.channels_above(limit)
        if huge:
            largest = stats.largest_variance()
            message = (f"BN layer '{layer.path}' has a moving variance above {limit:g} in {huge} of {n} channels "
                       f"(largest {largest:.4g}): inference normalizes those channels to almost zero, unlike the "
                       "batch statistics of training")
            findings.append(model.finding(CODE, message, layer, _HUGE_HELP, severity=Severity.WARNING))
    return findings
