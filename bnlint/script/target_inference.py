"""Which Keras a script targets when neither the command line, the configuration nor the project's
pins say: the code's era (era_signals.py), else today's releases.

The order (issue 11, decision 3): Keras 3-only API → Keras 3; TF 1.x-only API → TF 1.x tf.keras (or
standalone Keras when the script imports `keras`); Python 2 source → standalone Keras <= 2.3 when it
imports `keras`, TF 1.x or TF 2.0/2.1 tf.keras (undecided) otherwise; API that Keras 3 removed → the Keras 2 era
(`tf.keras` there is tf.keras 2.x; `import keras` is standalone Keras <= 2.3 or the `keras` 2.4-2.15
package TensorFlow 2 installs, and only API that exists in one of them settles it); otherwise
today's releases: TensorFlow 2.21 ships Keras 3.15.1, so unpinned `tf.keras` and `keras` code runs
on Keras 3 < 3.16.

`infer_targets` returns every plausible target, most likely first: more than one when the evidence
cannot settle it, and the rules then state the condition of a verdict that differs between them.
"""
from __future__ import annotations

from bnlint.script.era_signals import PYTHON2_SOURCE, era_signals_in
from bnlint.script.facts import ImportFacts
from bnlint.target import KerasTarget, Semantics

TODAY = "no pins, no Keras 2-era API: today's TensorFlow 2.21 ships Keras 3.15.1"


def infer_targets(imports: ImportFacts) -> tuple[KerasTarget, ...]:
    roots = imports.keras_roots or imports.import_roots or imports.project_roots
    signals = imports.era_signals
    by_era = {}
    for signal in signals:
        by_era.setdefault(signal.era, signal.what)
    if "tf_keras" in roots:
        return (KerasTarget(Semantics.TF2, "imports tf_keras"),)
    first = next((r for r in roots if r in ("keras", "tensorflow.keras", "tensorflow")), None)
    uses_keras = first == "keras"
    if "keras3" in by_era:
        return (KerasTarget(Semantics.KERAS3_OLD, f"{by_era['keras3']} (Keras 3 only); latest release 3.15.1"),)
    if "tf1" in by_era:
        if uses_keras:
            return (KerasTarget(Semantics.STANDALONE_2_1_3, f"imports keras and {by_era['tf1']} (TF 1.x era)"),)
        return (KerasTarget(Semantics.TF1, f"{by_era['tf1']} (TF 1.x only)"),)
    if "standalone" in by_era:
        if first in ("tensorflow.keras", "tensorflow"):
            return (KerasTarget(Semantics.TF2, f"tf.keras and {by_era['standalone']} (Keras 2 era)"),)
        return (KerasTarget(Semantics.STANDALONE_2_1_3, f"{by_era['standalone']} (standalone Keras <= 2.3 only)"),)
    if "python2" in by_era and "tf2keras" not in by_era:
        # Python 2 ran standalone Keras <= 2.3 and TensorFlow <= 2.1 (era_signals.py)
        if uses_keras:
            return (KerasTarget(Semantics.STANDALONE_2_1_3, "imports keras in Python 2 source (Python 2 ran "
                                                            "standalone Keras <= 2.3, not the keras of TF 2.2+)"),)
        if first is not None:
            why = "tf.keras in Python 2 source: TF 1.x or TF 2.0/2.1 (the last TensorFlow with Python 2)"
            return (KerasTarget(Semantics.TF1, why), KerasTarget(Semantics.TF2, why))
        why = "Python 2 source without a Keras import: standalone Keras <= 2.3, TF 1.x or TF 2.0/2.1"
        return tuple(KerasTarget(semantics, why) for semantics in
                     (Semantics.STANDALONE_2_1_3, Semantics.TF1, Semantics.TF2))
    if "keras2" in by_era:
        era = by_era["keras2"]
        if not uses_keras:
            return (KerasTarget(Semantics.TF2, f"tf.keras and {era} (removed in Keras 3): TF 2.x before 2.16"),)
        if "tf2keras" in by_era:
            return (KerasTarget(Semantics.TF2, f"imports keras, {era} (Keras 2 era) and {by_era['tf2keras']} "
                                               "(the keras 2.x package of TF 2)"),)
        why = f"imports keras and {era} (Keras 2 era): standalone Keras <= 2.3 or TF 2's keras 2.x"
        return (KerasTarget(Semantics.STANDALONE_2_1_3, why), KerasTarget(Semantics.TF2, why))
    if first is None:
        return (KerasTarget(Semantics.KERAS3_OLD, "no Keras import, no pins: " + TODAY.split(": ")[1]),)
    return (KerasTarget(Semantics.KERAS3_OLD, TODAY),)


def infer_target(imports: ImportFacts) -> KerasTarget:
    """The most likely target (the first of `infer_targets`)."""
    return infer_targets(imports)[0]


def note_era_signals(imports: ImportFacts, text: str) -> None:
    """Record the era signals of one source text (a script, or one notebook cell)."""
    for signal in era_signals_in(text):
        if signal not in imports.era_signals:
            imports.era_signals.append(signal)


def note_python2(imports: ImportFacts) -> None:
    """Record that the script (or a notebook cell, or the notebook's kernel) is Python 2."""
    if PYTHON2_SOURCE not in imports.era_signals:
        imports.era_signals.append(PYTHON2_SOURCE)
