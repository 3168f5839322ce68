"""What a measurement says: the verdict line, the table, JSON, the plot, and the static findings it confirms."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

from bnlint.finding import Finding
from bnlint.runtime.lag import LagCheck
from bnlint.runtime.measure import LayerGap, Measurement

# Model findings about what happens once a frozen base is unfrozen: a probe of the model as it is
# cannot show them.
_LATENT = {"BN101", "BN104"}


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    if not math.isfinite(value):
        return str(value)
    return f"{value:.3g}"


def _pct(part: int, whole: int) -> str:
    share = 100.0 * part / whole if whole else 0.0
    return f"{share:.0f} %" if share >= 1 or share == 0 else f"{share:.1g} %"


def layer_numbers(layer: LayerGap) -> str:
    """'moving variance 637 vs batch variance 6.17e+03 (moving mean -2.22 vs batch mean -22.1)'."""
    return (f"moving variance {_num(layer.moving_variance)} vs batch variance {_num(layer.batch_variance)} "
            f"(moving mean {_num(layer.moving_mean)} vs batch mean {_num(layer.batch_mean)})")


def updates_phrase(layer: LayerGap, threshold: float) -> str:
    if layer.updates_needed is None:
        return "the moving statistics cannot converge (NaN/Inf)" if layer.momentum else ""
    return (f"about {layer.updates_needed} updates at momentum {layer.momentum:g} to come within {threshold:g}")


def agreement(m: Measurement) -> str:
    """'training and inference disagree on 67 % of the samples (8 of 12, largest output difference 0.41)'."""
    what = "samples" if m.per_sample else "predictions"
    return (f"training and inference disagree on {_pct(m.disagreeing, m.predictions)} of the {what} "
            f"({m.disagreeing} of {m.predictions}, largest output difference {_num(m.largest_difference)})")


def _more_diverged(result) -> str:
    """"; 2 more BN layers over the threshold" after the first divergent layer (or nothing)."""
    more = len(result.diverged_layers) - 1
    return f"; {more} more BN layer{'s' if more > 1 else ''} over the threshold" if more > 0 else ""


def verdict(m: Measurement) -> str:
    """One line: how often the modes disagree, where the divergence starts, with the numbers."""
    outputs = agreement(m)
    first = m.first_divergent
    if first is not None:
        return (f"{outputs}; divergence starts at '{first.path}': {layer_numbers(first)}, gap {_num(first.gap)}; "
                f"{updates_phrase(first, m.threshold)}{_more_diverged(m)}")
    if not m.layers:
        return f"{outputs}; no BatchNormalization layer ran on this data"
    batch = [layer for layer in m.layers if layer.training_mode == "batch"]
    if not batch:
        return (f"{outputs}; no BN layer uses batch statistics in training mode here (all {len(m.layers)} "
                "are frozen or held in inference mode), so training and inference normalise alike")
    worst = max(batch, key=lambda layer: layer.gap)
    return (f"{outputs}; the moving statistics match this data: largest gap {_num(worst.gap)} at '{worst.path}', "
            f"under the threshold {m.threshold:g}")



def lag_verdict(check: LagCheck) -> str:
    """The epoch-end check in one line: the first lagging layer with the numbers, then the held batch if it ran.

    "after 1 training step, 'bn1' lags behind the training batches: moving variance 119 vs batch
    variance 1.18e+04 (moving mean ...), gap 10; about 71 updates at momentum 0.99 to come within 0.5;
    1 more BN layer over the threshold; on the held batch (12 samples): training and inference disagree ..."

    """
    steps = f"after {check.steps} training step{'s' if check.steps != 1 else ''}"
    first = check.first_divergent
    if first is not None:
        text = (f"{steps}, '{first.path}' lags behind the training batches: {layer_numbers(first)}, "
                f"gap {_num(first.gap)}; {updates_phrase(first, check.threshold)}{_more_diverged(check)}")
    elif check.layers:
        worst = max(check.layers, key=lambda layer: layer.gap)
        text = (f"{steps}, the moving statistics follow the training batches: largest gap {_num(worst.gap)} at "
                f"'{worst.path}', under the threshold {check.threshold:g}")
    else:
        text = f"{steps}, no BN layer trained in training mode"
    held = check.held
    if held is not None:
        where = f"; divergence starts at '{held.first_divergent.path}'" if held.first_divergent else \
            "; no BN layer over the threshold on it"
        text += f"; on the held batch ({held.samples} samples): {agreement(held)}{where}"
    return text

@dataclass
class Confirmation:
    finding: Finding
    confirmed: bool | None       # None: the layer did not run on this data
    evidence: str


def confirm(findings: list[Finding], m: Measurement) -> list[Confirmation]:
    """For each static finding on a layer: does the data show what it predicts?"""
    rows = {layer.path: layer for layer in m.layers}
    out = []
    for finding in findings:
        row = rows.get(finding.layer or "")
        if row is None:
            out.append(Confirmation(finding, None, "not measured: the layer did not run on this data"
                                    if finding.layer else "not a layer finding"))
        elif row.diverged:
            out.append(Confirmation(finding, True, f"confirmed: '{row.path}' normalises with batch statistics in "
                                                   f"training mode, {layer_numbers(row)}, gap {_num(row.gap)}"))
        elif row.training_mode == "batch":
            out.append(Confirmation(finding, False, f"'{row.path}' runs in training mode, but its moving statistics "
                                                    f"match this data (gap {_num(row.gap)})"))
        else:
            text = f"'{row.path}' uses its moving statistics in training mode here, so the modes agree at this layer"
            if finding.code in _LATENT:
                text += " (the finding is about what happens once the base is unfrozen)"
            out.append(Confirmation(finding, False, text))
    return out


_COLUMNS = ("#", "layer", "training mode", "moving mean", "batch mean", "moving var", "batch var", "mean gap",
            "log var ratio", "gap", "updates needed")


def table(m: Measurement) -> str:
    rows = [_COLUMNS]
    for layer in m.layers:
        mode = layer.training_mode + (" (emulated)" if layer.emulated else "")
        rows.append((str(layer.order), layer.path, mode, _num(layer.moving_mean), _num(layer.batch_mean),
                     _num(layer.moving_variance), _num(layer.batch_variance), _num(layer.mean_gap),
                     _num(layer.log_variance_ratio), _num(layer.gap) + (" !" if layer.diverged else ""),
                     "-" if layer.updates_needed is None else str(layer.updates_needed)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    left = {1, 2}
    return "\n".join("  ".join(cell.ljust(w) if i in left else cell.rjust(w)
                               for i, (cell, w) in enumerate(zip(row, widths))).rstrip() for row in rows)


def text_report(model: str, m: Measurement, confirmations: list[Confirmation]) -> str:
    context = (f"{model}: probed with {m.keras} on {m.samples} samples in batches of up to {m.batch_size}; target "
               f"{m.target.describe()}; gap threshold {m.threshold:g} ('!' = over it in training mode)")
    lines = [verdict(m), context, ""]
    lines.append(table(m) if m.layers else "(no BatchNormalization layer ran)")
    if confirmations:
        lines += ["", f"static findings on {model}:"]
        for c in confirmations:
            where = f" '{c.finding.layer}'" if c.finding.layer else ""
            lines.append(f"  {c.finding.code}{where}: {c.evidence}")
    if m.notes:
        lines += ["", "notes:"] + [f"  {note}" for note in m.notes]
    return "\n".join(lines) + "\n"


def json_report(model: str, m: Measurement, confirmations: list[Confirmation]) -> str:
    first = m.first_divergent
    data = {
        "model": model,
        "keras": m.keras,
        "target": {"semantics": m.target.semantics.value, "source": m.target.source},
        "emulated": m.emulated,
        "samples": m.samples,
        "batch_size": m.batch_size,
        "threshold": m.threshold,
        "verdict": verdict(m),
        "diverged": m.diverged,
        "first_divergent_layer": first.path if first else None,
        "output": {"predictions": m.predictions, "disagreeing": m.disagreeing, "disagreement": m.disagreement,
                   "per_sample": m.per_sample, "largest_difference": m.largest_difference},
        "layers": [layer.as_dict() for layer in m.layers],
        "static_findings": [{"code": c.finding.code, "layer": c.finding.layer, "message": c.finding.message,
                             "confirmed": c.confirmed, "evidence": c.evidence} for c in confirmations],
        "notes": m.notes,
    }
    return json.dumps(data, indent=2, allow_nan=False, default=str) + "\n"


PLOT_SUFFIXES = (".png", ".svg", ".pdf")


def plot(m: Measurement, path, title: str) -> None:
    """Bar chart of the gap per BN layer in forward order, the threshold as a line (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(m.layers)
    import textwrap

    from matplotlib.patches import Patch

    width = min(24.0, max(8.0, 0.12 * n + 3))
    fig, ax = plt.subplots(figsize=(width, 5.0))
    try:
        gaps = [layer.gap if math.isfinite(layer.gap) else 1e6 for layer in m.layers]
        colours = ["tab:red" if layer.diverged else "tab:blue" if layer.training_mode == "batch" else "tab:gray"
                   for layer in m.layers]
        ax.bar(range(n), gaps, color=colours)
        line = ax.axhline(m.threshold, color="black", linestyle="--", linewidth=1)
        if gaps and max(gaps) > 0 and max(gaps) / max(min(g for g in gaps if g > 0) if any(gaps) else 1, 1e-12) > 100:
            ax.set_yscale("symlog", linthresh=min(m.threshold, 0.1))
        step = max(1, n // 60)
        ax.set_xticks(range(0, n, step))
        ax.set_xticklabels([m.layers[i].path for i in range(0, n, step)], rotation=90, fontsize=7)
        ax.set_ylabel("training vs inference gap (output std)")
        ax.set_xlabel("BN layers in forward order", fontsize=8)
        ax.set_title(textwrap.fill(title, int(width * 13)), fontsize=8)
        ax.legend([line, Patch(color="tab:red"), Patch(color="tab:blue"), Patch(color="tab:gray")],
                  [f"threshold {m.threshold:g}", "over it, batch statistics in training", "batch statistics in training",
                   "moving statistics in training"], fontsize=7)
        fig.tight_layout()
        fig.savefig(str(path))
    finally:
        plt.close(fig)
