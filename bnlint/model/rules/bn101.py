"""BN101: frozen BN layers at the top level of a saved model (a flattened pretrained base)."""
from __future__ import annotations

from bnlint.finding import Finding
from bnlint.model.advice import agree, count, keep_bn_in_inference, name_list, under, zoo_fix
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
    what = f"a flattened {arch.label}" if arch else "a flattened pretrained base"
    target = model.target
    n = len(flattened)
    if target.legacy:
        effect = (f"{under(target)} {agree(n, 'it still normalizes', 'they still normalize')} with batch "
                  "statistics in fit() and with the moving "
                  "statistics at inference, so evaluate()/predict() disagree with training (BN102)")
    else:
        effect = (f"{under(target)} {agree(n, 'it uses its', 'they use their')} moving statistics only while frozen: "
                  f"unfreeze {agree(n, 'it', 'them')} to "
                  "fine-tune and fit() switches them to batch statistics, overwriting the pretrained moving "
                  "statistics, and no `base(x, training=False)` call exists to hold them")
    message = (f"{count(n, 'frozen BN layer')} of {what} {agree(n, 'stands', 'stand')} at the top level of the model "
               f"({name_list(flattened)}): the base's layers were copied into the model instead of calling the "
               f"base as one nested model; {effect}")
    help = zoo_fix(arch, target) or (
        "Call the pretrained base as one nested model instead of rebuilding the model from `base.input` / "
        "`base.output` or its layers. " + keep_bn_in_inference(target))
    return [model.finding(CODE, message, flattened[0], help, architecture=arch)]
