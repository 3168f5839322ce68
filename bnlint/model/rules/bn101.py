"""BN101: frozen BN layers at the top level of a saved model (a flattened pretrained base)."""
from __future__ import annotations

from bnlint.finding import Finding
from bnlint.model.advice import agree, count, nest_the_base, zoo_fix
from bnlint.model.check import ModelCheck

CODE = "BN101"
NEEDS_WEIGHTS = False


def check(model: ModelCheck) -> list[Finding]:
    # A BN its own call already holds with training=False was deliberately fixed (the standalone
    # Keras fix for a flattened base); only the others betray a base copied in layer by layer.
    flattened = [m.layer for m in model.modes
                 if m.layer.parent is model.graph.root and m.layer.frozen_flag and m.held_by is not m.layer]
    if not flattened:
        return []
    arch = model.architecture(flattened)
    what = f"a flattened {arch.label}" if arch else "a flattened base"
    n = len(flattened)
    if model.target.legacy:
        effect = f"fit() still runs {agree(n, 'it', 'them')} on batch statistics (BN102)"
    else:
        effect = f"unfreezing {agree(n, 'it', 'them')} switches fit() to batch statistics"
    message = f"{count(n, 'frozen BN layer')} of {what}: {effect}"
    return [model.finding(CODE, message, flattened, zoo_fix(arch, model.target) or nest_the_base(model.target),
                          architecture=arch)]
