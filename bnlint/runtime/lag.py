"""How far the moving statistics lag behind the batches a BN layer trained on, from its variables alone.

Every training-mode call of a BN layer updates moving = m * moving + (1 - m) * batch, with the batch
mean and a batch variance: Keras 3 (`BatchNormalization.call`, `ops.moments`) and tf_keras' non-fused
path (`tf.nn.moments`) the biased one; tf_keras' fused kernel (4-D inputs, its default) the unbiased
one, n / (n - 1) times larger for n values per channel in a batch (`_bessels_correction_test_only =
True` in its BN base class, so the kernel's correction is never removed; a test measures it). The recovered variance below is
whichever the layer's moving variance converges to. Mixed precision changes nothing here (the
statistics are computed and kept in float32); synchronized BN updates with the global batch statistics.

Over k updates

    moving_k = m^k * moving_0 + (1 - m^k) * b,   b = sum_i (1 - m) * m^(k-1-i) / (1 - m^k) * batch_i

so two reads of the variables k updates apart give exactly b, the momentum-weighted batch statistics
the layer normalised with in training mode, and the lag inference mode still carries,
moving_k - b = m^k * (moving_0 - b). The gap, the mean gap, the log variance ratio and the updates
still needed are then the probe's (bnlint.runtime.measure) with b in place of the held batch's
statistics. No forward pass: the cost is a read of each BN layer's moving mean and variance.
k is the number of training-mode calls: the optimizer's steps for a layer called once per step (a
layer shared by two branches of the model updates twice a step; its recovered statistics are then
an approximation).

A layer whose variables did not change trained in inference mode (frozen, or called with
training=False), or not at all: there is nothing to lag. Layers Keras updates differently are left
out with a note: batch renormalization (`renorm=True`: the moving variance is derived from a moving
standard deviation) and layers without a float momentum.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from bnlint.runtime.keras_env import KerasRuntime
from bnlint.runtime.measure import DivergedLayers, LayerGap, Measurement, _role, layer_gaps


@dataclass
class LagCheck(DivergedLayers):
    """One epoch-end check: the lag of every BN layer that trained in training mode since the last one."""

    epoch: int                        # 0-based epoch at whose end it ran
    first_epoch: int                  # first epoch of the window (the previous check's epoch + 1)
    steps: int                        # training steps (BN updates) in the window
    threshold: float
    layers: list[LayerGap]            # trained layers, forward order; batch_* = the recovered statistics
    batch_statistics: dict[str, tuple[Any, Any]]   # path -> per-channel (mean, variance) recovered
    untouched: int                    # BN layers whose statistics did not move (inference mode / frozen)
    notes: list[str] = field(default_factory=list)
    held: Measurement | None = None   # the held batch in both modes, when it ran at this check


@dataclass
class _Tracked:
    path: str
    mean: Any                          # the moving_mean variable
    variance: Any                      # the moving_variance variable
    momentum: float
    epsilon: float
    channels: int


class StatisticsReader:
    """Reads the moving statistics of every BN layer of a live model (nested models included) at once.

    A reading is one float64 numpy array: every tracked layer's moving mean, then every layer's moving
    variance, layer after layer. On TensorFlow one traced function reads and concatenates all of them
    (one call instead of two variable reads per layer: ~1 ms against ~10 ms for a 52-BN MobileNetV2).
    """

    def __init__(self, bn_layers: list[tuple[str, Any]], runtime: KerasRuntime):
        """`bn_layers`: (path, layer object) in forward order, e.g. from `bn_layers_of`."""
        self.runtime = runtime
        self.tracked: list[_Tracked] = []
        self.notes: list[str] = []
        skipped: dict[str, list[str]] = {}
        for path, obj in bn_layers:
            variables = {_role(v): v for v in obj.weights}
            momentum = getattr(obj, "momentum", None)
            if "moving_mean" not in variables or "moving_variance" not in variables:
                skipped.setdefault("no moving statistics found", []).append(path)
            elif getattr(obj, "renorm", False):
                skipped.setdefault("batch renormalization", []).append(path)
            elif not isinstance(momentum, (int, float)) or not 0.0 <= float(momentum) < 1.0:
                skipped.setdefault("no momentum in [0, 1)", []).append(path)
            else:
                mean, variance = variables["moving_mean"], variables["moving_variance"]
                self.tracked.append(_Tracked(path, mean, variance, float(momentum),
                                             float(getattr(obj, "epsilon", 1e-3)), _size(mean)))
        for why, paths in skipped.items():
            self.notes.append(f"not measured from the variables ({why}): {', '.join(paths[:5])}"
                              + (f" and {len(paths) - 5} more" if len(paths) > 5 else ""))
        self.channels = sum(t.channels for t in self.tracked)
        self._read = None

    def read(self):
        """[moving means of every tracked layer..., moving variances...] as a new float64 numpy array."""
        import numpy

        if not self.tracked:
            return numpy.zeros(0)
        if self._read is None:
            self._read = _concatenating_reader([t.mean for t in self.tracked] + [t.variance for t in self.tracked],
                                               self.runtime)
        return self._read()

    def check(self, before, after, steps: int, *, threshold: float, epoch: int, first_epoch: int) -> LagCheck:
        """The lag after `steps` updates took the statistics from reading `before` to reading `after`."""
        import numpy

        notes, c = list(self.notes), self.channels
        if not self.tracked:
            return LagCheck(epoch, first_epoch, steps, threshold, [], {}, 0, notes)
        sizes = numpy.array([t.channels for t in self.tracked], dtype=numpy.int64)
        starts = numpy.concatenate([[0], numpy.cumsum(sizes)[:-1]]).astype(numpy.int64)
        changed = numpy.add.reduceat((before[:c] != after[:c]) | (before[c:] != after[c:]), starts) > 0
        trained = [i for i, moved in enumerate(changed) if moved]
        untouched = len(self.tracked) - len(trained)
        if trained and steps < 1:
            notes.append("the moving statistics changed but the optimizer counted no training step: not measured "
                         f"({', '.join(self.tracked[i].path for i in trained[:5])})")
            trained = []
        if not trained:
            return LagCheck(epoch, first_epoch, steps, threshold, [], {}, untouched, notes)
        channels = numpy.repeat(changed, sizes)
        momentum = numpy.repeat(numpy.array([t.momentum for t in self.tracked]), sizes)[channels]
        mean_0, var_0 = before[:c][channels], before[c:][channels]
        mean_k, var_k = after[:c][channels], after[c:][channels]
        mean_b, var_b = recover(mean_0, var_0, mean_k, var_k, momentum, steps)
        layers = layer_gaps([self.tracked[i].path for i in trained], [int(sizes[i]) for i in trained], mean_b, var_b,
                            mean_k, var_k, epsilon=[self.tracked[i].epsilon for i in trained],
                            momentum=[self.tracked[i].momentum for i in trained], threshold=threshold)
        bounds = numpy.cumsum([0] + [int(sizes[i]) for i in trained])
        statistics = {layer.path: (mean_b[a:b], var_b[a:b]) for layer, a, b in zip(layers, bounds[:-1], bounds[1:])}
        return LagCheck(epoch=epoch, first_epoch=first_epoch, steps=steps, threshold=threshold, layers=layers,
                        batch_statistics=statistics, untouched=untouched, notes=notes)


def bn_layers_of(model: Any) -> tuple[list[tuple[str, Any]], Any]:
    """(path, BN layer object) pairs in forward order, and the LiveModel (None when the model has no
    layer graph, e.g. a subclassed model: then its BN layers are found by walking its sublayers)."""
    from bnlint.errors import BnlintInputError
    from bnlint.runtime.live_graph import graph_from_live_model

    try:
        live = graph_from_live_model(model)
    except BnlintInputError:
        walk = getattr(model, "_flatten_layers", None)
        found = [obj for obj in (walk(include_self=False, recursive=True) if walk else [])
                 if any(cls.__name__.startswith("BatchNormalization") for cls in type(obj).__mro__)]
        return [(getattr(obj, "name", str(i)), obj) for i, obj in enumerate(found)], None
    return [(layer.path, obj) for layer, obj in live.bn_layers()], live


def recover(mean_0, var_0, mean_k, var_k, momentum, steps: int):
    """The momentum-weighted batch (mean, variance) that took the moving statistics from *_0 to *_k in
    `steps` updates; `momentum` a number or one per channel, each in [0, 1)."""
    import numpy

    decay = numpy.asarray(momentum, dtype=numpy.float64) ** steps
    mean_b = (mean_k - decay * mean_0) / (1.0 - decay)
    var_b = (var_k - decay * var_0) / (1.0 - decay)
    return mean_b, numpy.maximum(var_b, 0.0)       # float32 rounding of a near-zero variance


def _size(variable) -> int:
    shape = getattr(variable, "shape", ())
    return int(math.prod(int(d) for d in shape))


def _concatenating_reader(variables: list, runtime):
    """A function returning the variables' values flattened and concatenated as one float64 numpy array."""
    import numpy

    if runtime.backend == "tensorflow":
        import tensorflow as tf

        handles = [v.value if runtime.keras3 else v for v in variables]

        @tf.function(autograph=False)
        def read_all():
            return tf.concat([tf.reshape(tf.cast(v, tf.float64), [-1]) for v in handles], 0)

        return lambda: read_all().numpy()
    return lambda: numpy.concatenate([numpy.asarray(runtime.to_numpy(v), dtype=numpy.float64).reshape(-1)
                                      for v in variables])


def optimizer_steps(model: Any, runtime) -> int | None:
    """The optimizer's step count (`optimizer.iterations`), or None when the model has none."""
    iterations = getattr(getattr(model, "optimizer", None), "iterations", None)
    if iterations is None:
        return None
    try:
        return int(runtime.to_numpy(iterations))
    except (TypeError, ValueError):
        return None
