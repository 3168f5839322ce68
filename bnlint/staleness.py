"""How much of their starting values BN moving statistics still hold after N updates (BN107, BN007).

Keras updates a BN layer's moving statistics once per training step in training mode:
`moving = m * moving + (1 - m) * batch_statistic`, with m the layer's `momentum`. After N updates
the starting values (the pretrained statistics, or mean 0 / variance 1 for a new layer) still
weigh m**N: 0.99**10 = 0.90, 0.99**69 = 0.4998, 0.99**459 = 0.0099.
"""
from __future__ import annotations

import math

from bnlint.target import KerasTarget, Semantics

# BatchNormalization's default momentum in every Keras (standalone 2.x, tf.keras, tf_keras, Keras 3).
DEFAULT_MOMENTUM = 0.99


def stale_weight(momentum: float, updates: int) -> float:
    """The share m**N of the moving statistics that still comes from their starting values."""
    return momentum ** updates


def updates_needed(momentum: float, limit: float) -> int:
    """The fewest updates that bring m**N down to `limit` (69 at m = 0.99, limit 0.5)."""
    if momentum <= 0.0:
        return 1
    return max(1, math.ceil(math.log(limit) / math.log(momentum) - 1e-9))


def percent(weight: float) -> str:
    return f"{weight * 100:.0f} %"


def reestimate_snippet(target: KerasTarget) -> str:
    """Code that refreshes the moving statistics on the training data without a weight update."""
    if target.legacy:
        backend = "keras.backend" if target.standalone else "tf.keras.backend"
        return (f"`K = {backend}; refresh = K.function(model.inputs + [K.learning_phase()], model.outputs, "
                "updates=model.updates)`, then `refresh([x_batch, 1])` over the training batches a few hundred "
                "times (graph mode: the BN update ops run, no optimizer step)")
    if target.semantics in (Semantics.KERAS3_OLD, Semantics.KERAS3_NEW):
        return ("`for x_batch in batches: model(x_batch, training=True)` repeated a few hundred times (each call "
                "updates the moving statistics of the trainable BN layers, no optimizer step)")
    return ("`for x_batch in batches: model(x_batch, training=True)` repeated a few hundred times (eager calls in "
            "training mode update the moving statistics, no optimizer step)")
