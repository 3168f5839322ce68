"""Which Keras a script targets when neither the command line nor the project says."""
from __future__ import annotations

import re

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
        if imports.tf1_signal:
            return KerasTarget(Semantics.TF1, f"imports tensorflow.keras; {imports.tf1_signal}")
        return KerasTarget(Semantics.TF2, "imports tensorflow.keras")
    if first == "keras":
        if imports.standalone_pin:
            return KerasTarget(Semantics.STANDALONE_2_1_3, f"imports keras; {imports.standalone_pin}")
        if imports.tf1_signal:
            # Keras 3 needs TF >= 2.16; with TF 1.x, `keras` is standalone Keras 2.x.
            return KerasTarget(Semantics.STANDALONE_2_1_3, f"imports keras; {imports.tf1_signal}")
        if imports.standalone_signals:
            return KerasTarget(Semantics.STANDALONE_2_1_3, f"imports keras; {imports.standalone_signals[0]}")
        return KerasTarget(Semantics.KERAS3_OLD, "imports keras")
    return DEFAULT_TARGET


_TF1_MAGIC = re.compile(r"^[ \t]*%tensorflow_version[ \t]+1", re.M)
_TF1_PIP = re.compile(r"^[ \t]*!.*pip3?[ \t]+install\b.*\btensorflow(?:-gpu|-cpu)?[ \t]*==[ \t]*1\.", re.M)
_KERAS2_PIP = re.compile(r"^[ \t]*!.*pip3?[ \t]+install\b.*\bkeras[ \t]*==[ \t]*(2\.[0-3](?:\.\d+)?)\b", re.M)


_V1_BEHAVIOR = re.compile(r"^[^#\n]*\bdisable_v2_behavior\s*\(", re.M)


def note_install_lines(imports: ImportFacts, text: str) -> None:
    """Record what pins TF 1.x or standalone Keras 2.x: notebook magics and shell installs, and
    `tf.compat.v1.disable_v2_behavior()` (graph mode: a BN frozen after it was called keeps using
    batch statistics, as in TF 1.x)."""
    if imports.tf1_signal is None and (_TF1_MAGIC.search(text) or _TF1_PIP.search(text)):
        imports.tf1_signal = "the notebook selects TensorFlow 1.x"
    if imports.tf1_signal is None and _V1_BEHAVIOR.search(text):
        imports.tf1_signal = "disable_v2_behavior() runs Keras in TF 1.x graph mode"
    if imports.standalone_pin is None and (m := _KERAS2_PIP.search(text)):
        imports.standalone_pin = f"the notebook installs keras=={m.group(1)}"
