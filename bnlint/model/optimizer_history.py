"""What a saved optimizer says about how long the model trained (Keras knowledge, in one place).

Verified with the real writers (fixtures/generate_models.py, `finetune_*` styles, and a recompile
probe): Keras 3.15, tf_keras 2.21 and TF 1.15 tf.keras all save the optimizer of the *last*
`compile()`. `compile("adam")` or `compile(Adam(...))` creates a new optimizer whose counter starts
at 0; only passing the same optimizer instance again keeps counting. So the saved count is the
number of training steps since the last compile() with a new optimizer, a lower bound of the steps
the model trained. The file keeps no trace of earlier optimizers, except their names:

* Keras 3 names optimizers per session like layers: the first Adam is "adam", the next "adam_1"
  (keras.src.utils.naming.auto_name), so "adam_1" says another Adam was created before it.
* TF 1.x tf.keras and standalone Keras 2 put the training ops of each compiled model of a graph
  under a name scope "training", "training_1", ...; the saved optimizer variables carry it
  ("training_2/Adam/iter:0"), so a suffix says other models were compiled before in that graph.
* tf_keras / tf.keras 2 name every Adam "Adam": no trace.

Either trace may come from another model of the same session (a notebook that re-ran a cell), so
it is a reason for doubt, not a proof.
"""
from __future__ import annotations

import re

from bnlint.model.graph import ModelGraph, WeightsSnapshot

_TRAINING_SCOPE = re.compile(r"^training_(\d+)/")


def _keras3_snake_case(name: str) -> str:
    # keras.src.utils.naming.to_snake_case
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def earlier_optimizer_trace(graph: ModelGraph, weights: WeightsSnapshot) -> str | None:
    """Why the saved step count may miss training done before the last compile(), or None."""
    optimizer = graph.optimizer
    version = graph.keras_version or ""
    if optimizer is not None and optimizer.name and optimizer.class_name and version.startswith("3."):
        stem = _keras3_snake_case(optimizer.class_name.split(">")[-1])
        match = re.fullmatch(re.escape(stem) + r"_(\d+)", optimizer.name)
        if match:
            n = int(match.group(1))
            return (f"the optimizer is named '{optimizer.name}': {n} other {optimizer.class_name} "
                    f"optimizer{'s were' if n > 1 else ' was'} created before it in that session")
    for name in weights.optimizer_variable_names:
        match = _TRAINING_SCOPE.match(name)
        if match:
            n = int(match.group(1))
            return (f"the optimizer variables sit under 'training_{n}/': {n} other model"
                    f"{'s were' if n > 1 else ' was'} compiled before in that graph")
    return None
