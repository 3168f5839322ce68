"""Which Keras a script targets when neither the command line nor the project says."""
from __future__ import annotations

from bnlint.script.facts import ImportFacts
from bnlint.target import DEFAULT_TARGET, KerasTarget, Semantics


def infer_target(imports: ImportFacts) -> KerasTarget:
    """tf_keras → tf2; tensorflow.keras → tf2; plain keras → Keras 3 < 3.16, or standalone
    Keras 2.x when standalone-only APIs show; nothing → the default target."""
    roots = imports.keras_roots or imports.import_roots
    if "tf_keras" in roots:
        return KerasTarget(Semantics.TF2, "imports tf_keras")
    first = next((r for r in roots if r in ("keras", "tensorflow.keras", "tensorflow")), None)
    if first in ("tensorflow.keras", "tensorflow"):
        return KerasTarget(Semantics.TF2, "imports tensorflow.keras")
    if first == "keras":
        if imports.standalone_signals:
            return KerasTarget(Semantics.STANDALONE_2_1_3, f"imports keras; {imports.standalone_signals[0]}")
        return KerasTarget(Semantics.KERAS3_OLD, "imports keras")
    return DEFAULT_TARGET
