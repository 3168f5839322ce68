"""BN106: NaN/Inf or negative moving statistics (error), or a huge moving variance (warning).

One finding per model scope and kind, at its first layer; the other layers are notes with their own
numbers."""
from __future__ import annotations

from bnlint.finding import Finding, Severity
from bnlint.model.check import ModelCheck

CODE = "BN106"
NEEDS_WEIGHTS = True
MAX_NOTES = 5

_BROKEN_HELP = ("Retrain from a checkpoint saved before the statistics broke (lower the learning rate, check the "
                "inputs for NaN/Inf), or re-estimate the moving statistics on clean data.")
_HUGE_HELP = ("Check the input scaling (0-255 pixels fed to a base that expects its `preprocess_input`), or raise "
              "`max-moving-variance` if such variances are expected.")


def check(model: ModelCheck) -> list[Finding]:
    weights = model.graph.weights()
    limit = model.ctx.max_moving_variance
    broken: dict = {}     # scope -> [(layer, what)]
    huge: dict = {}
    for layer in model.graph.bn_layers():
        stats = weights.bn.get(layer.path)
        if stats is None:
            continue
        n = stats.channels
        non_finite = stats.non_finite()
        negative = stats.negative_variance_channels()
        if non_finite or negative:
            parts = [f"NaN/Inf in {name} ({k}/{n} channels)" for name, k in non_finite.items()]
            if negative:
                parts.append(f"negative variance ({negative}/{n})")
            broken.setdefault(layer.parent, []).append((layer, ", ".join(parts)))
            continue
        above = stats.channels_above(limit)
        if above:
            what = f"a moving variance above {limit:g} ({above}/{n} channels, max {stats.largest_variance():.3g})"
            huge.setdefault(layer.parent, []).append((layer, what))
    findings = []
    for entries in broken.values():
        findings.append(_finding(model, entries, "predictions turn NaN or garbage", _BROKEN_HELP, None))
    for entries in huge.values():
        findings.append(_finding(model, entries, "inference squashes those channels to ~0", _HUGE_HELP,
                                 Severity.WARNING))
    return findings


def _finding(model: ModelCheck, entries, effect: str, help_text: str, severity) -> Finding:
    layers = [layer for layer, _ in entries]
    first = entries[0][1]
    if len(entries) == 1:
        message = f"{first}: {effect}"
    else:
        message = f"{len(entries)} BN layers with broken statistics, here {first}: {effect}"
    # the location counts every layer; the notes give the numbers of the next few
    return model.finding(CODE, message, layers, help_text, severity=severity, notes=entries[1:1 + MAX_NOTES])
