"""Training mode against inference mode on real data, BN layer by BN layer (probe and callback).

The same batches go through the model twice: `model(x, training=False)`, then `model(x, training=True)`
with every BN layer's `call` wrapped to observe its input and output. Per BN layer that gives:

* the statistics its input has in training mode (per-channel mean and variance, averaged over the
  batches: what the moving statistics would converge to) against its moving statistics;
* which statistics it actually normalised with in training mode (its output is compared with both
  normalisations, so custom subclasses, frozen layers and nested `training=False` need no guessing);
* the gap: for a channel normalised to z in training mode, inference gives
  z*r + d with r = sqrt((var_batch + eps) / (var_moving + eps)) and d = (mean_batch - mean_moving) /
  sqrt(var_moving + eps), so the RMS difference is sqrt((r - 1)^2 + d^2), in units of the training
  output's standard deviation. The layer's gap is its channels' average;
* the updates the moving statistics need (moving = m * moving + (1 - m) * batch) to get within the
  threshold at the layer's momentum.

Dropout and noise layers are held in inference mode in both passes, so only BN differs. BN variables
are restored afterwards (Keras 3 updates the moving statistics in a training-mode call). When the
target Keras is not the one running (a standalone Keras 2 file), the BN layers the static semantics
say train in fit() are normalised with batch statistics here ("emulated").
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

from bnlint.runtime.live_graph import LiveModel
from bnlint.target import KerasTarget

DEFAULT_THRESHOLD = 0.5
_NOISE_CLASSES = frozenset({"Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
                            "GaussianNoise", "GaussianDropout", "AlphaDropout"})
_MAX_UPDATES = 10**9


@dataclass
class LayerGap:
    path: str
    order: int                       # position in the training-mode forward pass
    training_mode: str               # "batch" or "moving": statistics it normalises with in training mode
    emulated: bool                   # mode set for the target Keras rather than observed
    channels: int
    momentum: float | None
    epsilon: float
    moving_mean: float               # channel averages, for reading
    moving_variance: float
    batch_mean: float
    batch_variance: float
    mean_gap: float                  # mean |mean_batch - mean_moving| / sqrt(var_moving + eps)
    log_variance_ratio: float        # mean log((var_batch + eps) / (var_moving + eps)); > 0: batch larger
    gap: float                       # RMS training-vs-inference difference of the normalised output
    diverged: bool                   # in batch mode and gap >= threshold
    updates_needed: int | None       # updates at `momentum` for the gap to fall below the threshold

    def as_dict(self) -> dict:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in self.__dict__.items()}


@dataclass
class Measurement:
    keras: str                       # "Keras 3.15.1 (tensorflow backend)"
    target: KerasTarget
    emulated: bool
    samples: int
    batch_size: int
    threshold: float
    layers: list[LayerGap]
    predictions: int                 # compared predictions (samples, or positions of a dense output)
    disagreeing: int                 # predictions whose class differs between the modes
    per_sample: bool                 # one prediction per sample
    largest_difference: float        # max |training-mode output - inference-mode output|
    notes: list[str] = field(default_factory=list)

    @property
    def diverged_layers(self) -> list[LayerGap]:
        return [layer for layer in self.layers if layer.diverged]

    @property
    def first_divergent(self) -> LayerGap | None:
        return next(iter(self.diverged_layers), None)

    @property
    def diverged(self) -> bool:
        return bool(self.diverged_layers)

    @property
    def disagreement(self) -> float:
        return self.disagreeing / self.predictions if self.predictions else 0.0


def measure(live: LiveModel, batches: list[Any], *, threshold: float = DEFAULT_THRESHOLD,
            target: KerasTarget | None = None) -> Measurement:
    """Run the batches in both modes and compare; the model's weights are unchanged afterwards."""
    import numpy

    runtime = live.keras
    target = target or runtime.target
    forced: dict[str, bool] = {}
    notes: list[str] = []
    if target.semantics is not runtime.target.semantics:
        from bnlint.model.semantics import bn_modes

        forced = {mode.layer.path: mode.trains_in_fit for mode in bn_modes(live.graph, target)}
        n = sum(forced.values())
        notes.append(f"emulating {target.label} ({target.source}) on {runtime.label}: {n} BN "
                     f"layer{'s' if n != 1 else ''} normalise with batch statistics in training mode there")
    records = [_Record(layer.path, obj, runtime, forced.get(layer.path)) for layer, obj in live.bn_layers()]
    unreadable = [r.path for r in records if r.moving_mean is None or r.moving_variance is None]
    if unreadable:
        notes.append(f"no moving statistics found on {', '.join(unreadable[:5])}: not measured")
        records = [r for r in records if r.path not in unreadable]
    noise = [obj for obj in live.layers.values() if _is_noise(obj)]
    model = live.model
    saved = [(record.obj, record.obj.get_weights()) for record in records]
    inference, training = [], []
    try:
        with warnings.catch_warnings():
            # Keras 3 on a model loaded from a Keras 2 file: one array for a one-input list is fine.
            warnings.filterwarnings("ignore", message="The structure of `inputs` doesn't match")
            for batch in batches:
                inference.append(_outputs(model(batch, training=False), runtime))
            with _Instrumented(records, noise, runtime):
                for batch in batches:
                    training.append(_outputs(model(batch, training=True), runtime))
    finally:
        for obj, weights in saved:
            obj.set_weights(weights)
    called = sorted((r for r in records if r.calls), key=lambda r: r.first_call)
    layers = [record.result(order, threshold) for order, record in enumerate(called)]
    skipped = [r.path for r in records if not r.calls]
    if skipped:
        notes.append(f"{len(skipped)} BN layer(s) never ran on this data: {', '.join(skipped[:5])}")
    if noise:
        notes.append(f"{len(noise)} dropout/noise layer(s) held in inference mode in both passes")
    first_inf = numpy.concatenate([outs[0] for outs in inference])
    first_train = numpy.concatenate([outs[0] for outs in training])
    largest = max((float(numpy.max(numpy.abs(a - b))) if a.size else 0.0)
                  for outs_i, outs_t in zip(inference, training) for a, b in zip(outs_i, outs_t))
    predictions, disagreeing, per_sample = _compare_predictions(first_train, first_inf)
    return Measurement(keras=runtime.label, target=target, emulated=bool(forced),
                       samples=sum(len(b) for b in batches), batch_size=max(len(b) for b in batches),
                       threshold=threshold, layers=layers, predictions=predictions, disagreeing=disagreeing,
                       per_sample=per_sample, largest_difference=largest, notes=notes)


def _is_noise(obj: Any) -> bool:
    return any(cls.__name__ in _NOISE_CLASSES for cls in type(obj).__mro__)


def _outputs(value: Any, runtime) -> list:
    import numpy

    items = value if isinstance(value, (list, tuple)) else \
        list(value.values()) if isinstance(value, dict) else [value]
    return [numpy.asarray(runtime.to_numpy(v), dtype=numpy.float64) for v in items]


def _compare_predictions(train, inference) -> tuple[int, int, bool]:
    """(predictions compared, how many differ in class, one prediction per sample)."""
    import numpy

    if train.ndim >= 2 and train.shape[-1] > 1:
        a, b = train.argmax(-1), inference.argmax(-1)
    else:
        both = numpy.concatenate([train.ravel(), inference.ravel()])
        cut = 0.5 if both.size and both.min() >= 0 and both.max() <= 1 else 0.0
        a, b = train > cut, inference > cut
        if train.ndim >= 2 and train.shape[-1] == 1:
            a, b = a[..., 0], b[..., 0]
    per_sample = a.ndim == 1
    return int(a.size), int((a != b).sum()), per_sample


class _Record:
    """What one BN layer saw in the training-mode pass."""

    _calls_so_far = 0

    def __init__(self, path: str, obj: Any, runtime, forced: bool | None):
        import numpy

        self.path, self.obj, self.runtime, self.forced = path, obj, runtime, forced
        weights = {_role(v): numpy.asarray(runtime.to_numpy(v), dtype=numpy.float64) for v in obj.weights}
        self.moving_mean = weights.get("moving_mean")
        self.moving_variance = weights.get("moving_variance")
        self.gamma, self.beta = weights.get("gamma"), weights.get("beta")
        self.epsilon = float(getattr(obj, "epsilon", 1e-3))
        momentum = getattr(obj, "momentum", None)
        self.momentum = float(momentum) if isinstance(momentum, (int, float)) else None
        axis = getattr(obj, "axis", -1)
        self.axis = [int(a) for a in axis] if hasattr(axis, "__iter__") else [int(axis)]
        self.calls = 0
        self.first_call = 0
        self.sum_mean = self.sum_var = None
        self.batch_votes = 0

    def normalise(self, x, mean, variance):
        import numpy

        shape = self._param_shape(x)
        out = (x - mean.reshape(shape)) / numpy.sqrt(variance.reshape(shape) + self.epsilon)
        if self.gamma is not None:
            out = out * self.gamma.reshape(shape)
        if self.beta is not None:
            out = out + self.beta.reshape(shape)
        return out

    def _param_shape(self, x):
        axes = {a % x.ndim for a in self.axis}
        return [x.shape[i] if i in axes else 1 for i in range(x.ndim)]

    def batch_statistics(self, x):
        axes = {a % x.ndim for a in self.axis}
        reduce = tuple(i for i in range(x.ndim) if i not in axes)
        return x.mean(axis=reduce).reshape(-1), x.var(axis=reduce).reshape(-1)

    def observe(self, x, y, mean, variance) -> None:
        """Add one call: its batch statistics, and whether `y` used them (None: known, forced)."""
        import numpy

        if self.calls == 0:
            _Record._calls_so_far += 1
            self.first_call = _Record._calls_so_far
            self.sum_mean, self.sum_var = numpy.zeros_like(mean), numpy.zeros_like(variance)
        self.calls += 1
        self.sum_mean += mean
        self.sum_var += variance
        if y is None:
            self.batch_votes += 1 if self.forced else 0
            return
        with numpy.errstate(all="ignore"):
            by_batch = numpy.abs(y - self.normalise(x, mean, variance)).mean()
            by_moving = numpy.abs(y - self.normalise(x, self.moving_mean, self.moving_variance)).mean()
        if by_batch < by_moving:
            self.batch_votes += 1

    def result(self, order: int, threshold: float) -> LayerGap:
        import numpy

        mean_b, var_b = self.sum_mean / self.calls, self.sum_var / self.calls
        mean_m, var_m = self.moving_mean, self.moving_variance
        batch_mode = self.batch_votes * 2 > self.calls
        with numpy.errstate(all="ignore"):
            gap = _gap(mean_b, var_b, mean_m, var_m, self.epsilon)
            mean_gap = float(numpy.mean(numpy.abs(mean_b - mean_m) / numpy.sqrt(var_m + self.epsilon)))
            log_ratio = float(numpy.mean(numpy.log((var_b + self.epsilon) / (var_m + self.epsilon))))
        diverged = batch_mode and not gap < threshold
        return LayerGap(
            path=self.path, order=order, training_mode="batch" if batch_mode else "moving",
            emulated=self.forced is not None, channels=int(mean_m.size), momentum=self.momentum,
            epsilon=self.epsilon, moving_mean=float(mean_m.mean()), moving_variance=float(var_m.mean()),
            batch_mean=float(mean_b.mean()), batch_variance=float(var_b.mean()), mean_gap=mean_gap,
            log_variance_ratio=log_ratio, gap=gap, diverged=diverged,
            updates_needed=_updates_needed(mean_b, var_b, mean_m, var_m, self.epsilon, self.momentum, threshold)
            if batch_mode else None)


def _gap(mean_b, var_b, mean_m, var_m, eps) -> float:
    import numpy

    d = (mean_b - mean_m) / numpy.sqrt(var_m + eps)
    r = numpy.sqrt((var_b + eps) / (var_m + eps))
    value = float(numpy.mean(numpy.sqrt((r - 1.0) ** 2 + d ** 2)))
    return value if math.isfinite(value) else math.inf


def _updates_needed(mean_b, var_b, mean_m, var_m, eps, momentum, threshold) -> int | None:
    """Fewest updates n with the gap after n updates below the threshold (it shrinks as momentum**n does)."""
    if momentum is None or not 0.0 < momentum < 1.0:
        return None
    if _gap(mean_b, var_b, mean_m, var_m, eps) < threshold:
        return 0

    def gap_at(t):         # t = momentum ** n: the share the current moving statistics still have
        return _gap(mean_b, var_b, mean_b + t * (mean_m - mean_b), var_b + t * (var_m - var_b), eps)

    if not gap_at(0.0) < threshold:
        return None        # broken statistics (NaN/Inf) never converge
    low, high = 0.0, 1.0   # gap_at(low) < threshold <= gap_at(high)
    for _ in range(60):
        mid = (low + high) / 2
        if gap_at(mid) < threshold:
            low = mid
        else:
            high = mid
    if low <= 0.0:
        return _MAX_UPDATES
    return min(_MAX_UPDATES, max(1, math.ceil(math.log(low) / math.log(momentum))))


def _role(variable: Any) -> str | None:
    from bnlint.readers.bn_weights import role_of

    return role_of(str(getattr(variable, "path", None) or variable.name))


class _Instrumented:
    """Wrap each BN layer's and noise layer's `call` on the instance for the training-mode pass."""

    def __init__(self, records: list[_Record], noise: list[Any], runtime):
        self.records, self.noise, self.runtime = records, noise, runtime
        self.patched: list[tuple[Any, Any]] = []

    def __enter__(self):
        _Record._calls_so_far = 0
        for record in self.records:
            self._patch(record.obj, self._bn_call(record, record.obj.call))
        for obj in self.noise:
            self._patch(obj, self._inference_call(obj.call))
        return self

    def __exit__(self, *exc):
        for obj, previous in reversed(self.patched):
            if previous is None:
                obj.__dict__.pop("call", None)
            else:
                obj.__dict__["call"] = previous
        self.patched.clear()
        return False

    def _patch(self, obj, function) -> None:
        self.patched.append((obj, obj.__dict__.get("call")))
        object.__setattr__(obj, "call", function)     # bypass Keras attribute tracking

    def _bn_call(self, record: _Record, original):
        import numpy

        runtime = self.runtime

        def call(*args, **kwargs):
            inputs = args[0] if args else kwargs["inputs"]
            raw = runtime.to_numpy(inputs)
            x = numpy.asarray(raw, dtype=numpy.float64)
            mean, variance = record.batch_statistics(x)
            if record.forced is True:
                y = record.normalise(x, mean, variance)
                record.observe(x, None, mean, variance)
                return runtime.to_tensor(y.astype(raw.dtype))
            if record.forced is False:
                kwargs = {**_without_training(args, kwargs), "training": False}
                args = args[:1]
                out = original(*args, **kwargs)
                record.observe(x, None, mean, variance)
                return out
            out = original(*args, **kwargs)
            y = numpy.asarray(runtime.to_numpy(out), dtype=numpy.float64)
            record.observe(x, y, mean, variance)
            return out

        return call

    @staticmethod
    def _inference_call(original):
        def call(*args, **kwargs):
            kwargs = {**_without_training(args, kwargs), "training": False}
            return original(*args[:1], **kwargs)

        return call


def _without_training(args: tuple, kwargs: dict) -> dict:
    """Keyword arguments with a positional `training` (second argument) dropped; Keras passes it by keyword."""
    out = dict(kwargs)
    out.pop("training", None)
    if len(args) > 2:
        raise TypeError("unexpected positional arguments after `training`")
    return out
