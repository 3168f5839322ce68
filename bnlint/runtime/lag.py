"""How far the moving statistics lag behind the batches a BN layer trained on, from its variables alone.

Every training-mode call of a BN layer updates moving = m * moving + (1 - m) * batch, with the batch
mean and a batch variance: Keras 3 (`BatchNormalization.call`, `ops.moments`) and tf_keras' non-fused
path (`tf.nn.moments`) the biased one; tf_keras' fused kernel (4-D inputs, its default) the unbiased
one, n / (n - 1) times larger for n values per channel in a batch (`_bessels_correction_test_only` is
set in the V2 layer, so the correction is never removed; measured). The recovered variance below is
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
from bnlint.runtime.measure import LayerGap, Measurement, _role, layer_gap


@dataclass
class LagCheck:
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

    @property
    def diverged_layers(self) -> list[LayerGap]:
        return [layer for layer in self.layers if layer.diverged]

    @property
    def first_divergent(self) -> LayerGap | None:
        return next(iter(self.diverged_layers), None)

    @property
    def diverged(self) -> bool:
        return bool(self.diverged_layers)


@dataclass
class _Tracked:
    path: str
    mean: Any                          # the moving_mean variable
    variance: Any                      # the moving_variance variable
    momentum: float
    epsilon: float


class StatisticsReader:
    """Reads the moving statistics of every BN layer of a live model (nested models included)."""

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
                self.tracked.append(_Tracked(path, variables["moving_mean"], variables["moving_variance"],
                                             float(momentum), float(getattr(obj, "epsilon", 1e-3))))
        for why, paths in skipped.items():
            self.notes.append(f"not measured from the variables ({why}): {', '.join(paths[:5])}"
                              + (f" and {len(paths) - 5} more" if len(paths) > 5 else ""))
        self._to_numpy = _fast_reader(runtime)

    def read(self) -> dict[str, tuple[Any, Any]]:
        """path -> (moving mean, moving variance) as float64 numpy copies."""
        import numpy

        read = self._to_numpy
        return {t.path: (numpy.array(read(t.mean), dtype=numpy.float64),
                         numpy.array(read(t.variance), dtype=numpy.float64)) for t in self.tracked}

    def check(self, before: dict, after: dict, steps: int, *, threshold: float, epoch: int,
              first_epoch: int) -> LagCheck:
        """The lag after `steps` updates that took the statistics from `before` to `after`."""
        import numpy

        layers, statistics, notes, untouched = [], {}, list(self.notes), 0
        moved_without_steps = []
        for t in self.tracked:
            if t.path not in before or t.path not in after:
                continue
            (mean_0, var_0), (mean_k, var_k) = before[t.path], after[t.path]
            if numpy.array_equal(mean_0, mean_k) and numpy.array_equal(var_0, var_k):
                untouched += 1
                continue
            if steps < 1:
                moved_without_steps.append(t.path)
                continue
            mean_b, var_b = recover(mean_0, var_0, mean_k, var_k, t.momentum, steps)
            statistics[t.path] = (mean_b, var_b)
            layers.append(layer_gap(t.path, len(layers), mean_b, var_b, mean_k, var_k, epsilon=t.epsilon,
                                    momentum=t.momentum, threshold=threshold))
        if moved_without_steps:
            notes.append("the moving statistics changed but the optimizer counted no training step: not measured "
                         f"({', '.join(moved_without_steps[:5])})")
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


def recover(mean_0, var_0, mean_k, var_k, momentum: float, steps: int):
    """The momentum-weighted batch (mean, variance) that took the moving statistics from *_0 to *_k."""
    import numpy

    decay = momentum ** steps
    if decay >= 1.0 or not math.isfinite(decay):
        return mean_k, var_k
    mean_b = (mean_k - decay * mean_0) / (1.0 - decay)
    var_b = (var_k - decay * var_0) / (1.0 - decay)
    return mean_b, numpy.maximum(var_b, 0.0)       # float32 rounding of a near-zero variance


def _fast_reader(runtime):
    """A variable -> numpy function; TensorFlow variables are read directly (3-5x faster than ops)."""
    if runtime.backend == "tensorflow":
        if runtime.keras3:
            return lambda variable: variable.value.numpy()
        return lambda variable: variable.numpy()
    return runtime.to_numpy


def optimizer_steps(model: Any, runtime) -> int | None:
    """The optimizer's step count (`optimizer.iterations`), or None when the model has none."""
    iterations = getattr(getattr(model, "optimizer", None), "iterations", None)
    if iterations is None:
        return None
    try:
        return int(runtime.to_numpy(iterations))
    except (TypeError, ValueError):
        return None
