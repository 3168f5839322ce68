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


class DivergedLayers:
    """What a result with per-layer gaps (`layers`) says about divergence."""

    layers: list

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
class Measurement(DivergedLayers):
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
    def disagreement(self) -> float:
        return self.disagreeing / self.predictions if self.predictions else 0.0


def measure(live: LiveModel, batches: list[Any], *, threshold: float = DEFAULT_THRESHOLD,
            target: KerasTarget | None = None) -> Measurement:
    """Run the batches in both modes, eagerly, and compare; the model's weights are unchanged afterwards."""
    return Prober(live, threshold=threshold, target=target).run(batches)


class Prober:
    """Measures one live model, again and again (the callback measures after every epoch).

    `compiled=True` (TensorFlow backends, no emulation) traces both passes once with tf.function,
    the BN observations computed by TensorFlow ops inside the graph, so a measurement costs two
    compiled forward passes instead of two eager ones (an eager Keras pass of a 52-BN MobileNetV2
    takes ~20x longer). Otherwise every pass runs eagerly with numpy observations.
    """

    def __init__(self, live: LiveModel, *, threshold: float = DEFAULT_THRESHOLD, target: KerasTarget | None = None,
                 compiled: bool = False):
        self.live, self.threshold = live, threshold
        runtime = live.keras
        self.target = target or runtime.target
        self.forced: dict[str, bool] = {}
        self.notes: list[str] = []
        if self.target.semantics is not runtime.target.semantics:
            from bnlint.model.semantics import bn_modes

            self.forced = {mode.layer.path: mode.trains_in_fit for mode in bn_modes(live.graph, self.target)}
            n = sum(self.forced.values())
            self.notes.append(f"emulating {self.target.label} ({self.target.source}) on {runtime.label}: {n} BN "
                              f"layer{'s' if n != 1 else ''} normalise with batch statistics in training mode there")
        self.bn = [(layer.path, obj) for layer, obj in live.bn_layers()]
        self.noise = [obj for obj in live.layers.values() if _is_noise(obj)]
        self.compiled = compiled and not self.forced and runtime.backend == "tensorflow"
        self._functions = None

    def run(self, batches: list[Any]) -> Measurement:
        import numpy

        runtime, model = self.live.keras, self.live.model
        notes = list(self.notes)
        inference, training = [], []
        with warnings.catch_warnings():
            # Keras 3 on a model loaded from a Keras 2 file: one array for a one-input list is fine.
            warnings.filterwarnings("ignore", message="The structure of `inputs` doesn't match")
            if self.compiled:
                records = self._run_compiled(batches, inference, training)
            else:
                records = [_Record(path, obj, runtime, self.forced.get(path)) for path, obj in self.bn]
                records = [r for r in records if r.moving_mean is not None and r.moving_variance is not None]
                saved = [(variable, runtime.to_numpy(variable)) for record in records for variable in record.state]
                try:
                    for batch in batches:
                        inference.append(_outputs(model(batch, training=False), runtime))
                    with _Instrumented(records, self.noise, runtime):
                        for batch in batches:
                            training.append(_outputs(model(batch, training=True), runtime))
                finally:
                    for variable, value in saved:
                        variable.assign(value)
        measured = {r.path for r in records}
        unreadable = [path for path, obj in self.bn if path not in measured and _moving_statistics(obj) is None]
        if unreadable:
            notes.append(f"no moving statistics found on {', '.join(unreadable[:5])}: not measured")
        called = sorted((r for r in records if r.calls), key=lambda r: r.first_call)
        layers = [record.result(order, self.threshold) for order, record in enumerate(called)]
        skipped = [path for path, obj in self.bn if path not in measured and path not in unreadable] + \
            [r.path for r in records if not r.calls]
        if skipped:
            notes.append(f"{len(skipped)} BN layer(s) never ran on this data: {', '.join(skipped[:5])}")
        if self.noise:
            notes.append(f"{len(self.noise)} dropout/noise layer(s) held in inference mode in both passes")
        first_inf = numpy.concatenate([outs[0] for outs in inference])
        first_train = numpy.concatenate([outs[0] for outs in training])
        largest = max((float(numpy.max(numpy.abs(a - b))) if a.size else 0.0)
                      for outs_i, outs_t in zip(inference, training) for a, b in zip(outs_i, outs_t))
        predictions, disagreeing, per_sample = _compare_predictions(first_train, first_inf)
        return Measurement(keras=runtime.label, target=self.target, emulated=bool(self.forced),
                           samples=sum(len(b) for b in batches), batch_size=max(len(b) for b in batches),
                           threshold=self.threshold, layers=layers, predictions=predictions, disagreeing=disagreeing,
                           per_sample=per_sample, largest_difference=largest, notes=notes)

    def _run_compiled(self, batches, inference, training) -> list[_Record]:
        """Both passes as tf.functions (traced on first use); records built from what the graph returns."""
        runtime = self.live.keras
        if self._functions is None:
            self._functions = _compile(self.live.model, self.bn, self.noise, runtime)
        infer, train = self._functions
        objects = dict(self.bn)
        records: dict[str, _Record] = {}
        for batch in batches:
            inference.append(_outputs(infer(batch), runtime))
        for batch in batches:
            outputs, observed = train(batch)
            training.append(_outputs(outputs, runtime))
            for path, calls in observed.items():
                for packed in calls:
                    order, used, mean, variance, moving_mean, moving_variance = _unpack(packed.numpy())
                    if path not in records:
                        records[path] = _Record(path, objects[path], runtime, None, weights={
                            "moving_mean": moving_mean, "moving_variance": moving_variance})
                    records[path].add(mean, variance, used, order)
        return list(records.values())


def _moving_statistics(obj: Any):
    roles = {_role(v) for v in obj.weights}
    return roles if {"moving_mean", "moving_variance"} <= roles else None


def _unpack(packed):
    """[order, used, mean..., variance..., moving mean..., moving variance...] (float64)."""
    channels = (len(packed) - 2) // 4
    parts = [packed[2 + i * channels: 2 + (i + 1) * channels] for i in range(4)]
    return (int(packed[0]), bool(packed[1] > 0.5), *parts)


def _compile(model: Any, bn: list[tuple[str, Any]], noise: list[Any], runtime):
    """tf.functions for both passes; the training pass returns each BN call's observations."""
    import tensorflow as tf

    def infer(x):
        return model(x, training=False)

    measured = [(path, obj) for path, obj in bn if _moving_statistics(obj) is not None]
    state = [v for _, obj in measured for v in obj.non_trainable_weights]

    def train(x):
        observed: dict[str, list] = {path: [] for path, _ in measured}
        counter = [0]
        saved = [tf.identity(tf.convert_to_tensor(v)) for v in state]
        patches = _Instrumented([], noise, runtime)
        with patches:
            for path, obj in measured:
                patches._patch(obj, _graph_bn_call(obj, obj.call, observed[path], counter))
            outputs = model(x, training=True)
        for variable, value in zip(state, saved):    # after the pass (automatic control dependencies)
            variable.assign(value)
        return outputs, {path: calls for path, calls in observed.items() if calls}

    return (tf.function(infer, reduce_retracing=True), tf.function(train, reduce_retracing=True))


def _graph_bn_call(obj: Any, original, sink: list, counter: list):
    """A BN `call` that also records (order, batch mean, batch variance, used batch statistics) as tensors."""
    import tensorflow as tf

    variables = {_role(v): v for v in obj.weights}
    epsilon = float(getattr(obj, "epsilon", 1e-3))
    axis = getattr(obj, "axis", -1)
    axes = [int(a) for a in axis] if hasattr(axis, "__iter__") else [int(axis)]

    def read(role):
        v = variables.get(role)
        return None if v is None else tf.identity(tf.cast(tf.convert_to_tensor(v), tf.float32))

    def call(*args, **kwargs):
        inputs = args[0] if args else kwargs["inputs"]
        # read before the layer runs: a training-mode call assigns new moving statistics
        moving_mean, moving_variance = read("moving_mean"), read("moving_variance")
        gamma, beta = read("gamma"), read("beta")
        out = original(*args, **kwargs)
        x = tf.cast(inputs, tf.float32)
        rank = x.shape.rank
        keep = {a % rank for a in axes}
        reduce = [i for i in range(rank) if i not in keep]
        mean, variance = tf.nn.moments(x, reduce, keepdims=True)
        shape = tf.shape(mean)

        def normalise(m, v):
            y = (x - tf.reshape(m, shape)) / tf.sqrt(tf.reshape(v, shape) + epsilon)
            if gamma is not None:
                y = y * tf.reshape(gamma, shape)
            return y + tf.reshape(beta, shape) if beta is not None else y

        y = tf.cast(out, tf.float32)
        by_batch = tf.reduce_mean(tf.abs(y - normalise(mean, variance)))
        by_moving = tf.reduce_mean(tf.abs(y - normalise(moving_mean, moving_variance)))
        counter[0] += 1
        head = tf.stack([tf.constant(float(counter[0])), tf.cast(by_batch < by_moving, tf.float32)])
        sink.append(tf.cast(tf.concat([head, tf.reshape(mean, [-1]), tf.reshape(variance, [-1]),
                                       tf.reshape(moving_mean, [-1]), tf.reshape(moving_variance, [-1])], 0),
                            tf.float64))
        return out

    return call


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

    def __init__(self, path: str, obj: Any, runtime, forced: bool | None, weights: dict | None = None):
        """`weights` by role when already read (the compiled pass returns them); else read here."""
        import numpy

        self.path, self.obj, self.runtime, self.forced = path, obj, runtime, forced
        self.state = list(obj.non_trainable_weights)      # what a forward pass may assign
        if weights is None:
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

    def add(self, mean, variance, used_batch: bool, order: int) -> None:
        """One call's batch statistics, whether the layer normalised with them, its place in the pass."""
        import numpy

        if self.calls == 0:
            self.first_call = order
            self.sum_mean, self.sum_var = numpy.zeros_like(mean), numpy.zeros_like(variance)
        self.calls += 1
        self.sum_mean += mean
        self.sum_var += variance
        self.batch_votes += 1 if used_batch else 0

    def observe(self, x, y, mean, variance) -> None:
        """Add one eager call; `y` None: the mode was forced (emulated), not observed."""
        import numpy

        _Record._calls_so_far += 1
        if y is None:
            used_batch = bool(self.forced)
        else:
            with numpy.errstate(all="ignore"):
                by_batch = numpy.abs(y - self.normalise(x, mean, variance)).mean()
                by_moving = numpy.abs(y - self.normalise(x, self.moving_mean, self.moving_variance)).mean()
            used_batch = bool(by_batch < by_moving)
        self.add(mean, variance, used_batch, _Record._calls_so_far)

    def result(self, order: int, threshold: float) -> LayerGap:
        batch_mode = self.batch_votes * 2 > self.calls
        return layer_gap(self.path, order, self.sum_mean / self.calls, self.sum_var / self.calls, self.moving_mean,
                         self.moving_variance, epsilon=self.epsilon, momentum=self.momentum, threshold=threshold,
                         batch_mode=batch_mode, emulated=self.forced is not None)


def layer_gap(path: str, order: int, mean_b, var_b, mean_m, var_m, *, epsilon: float, momentum: float | None,
              threshold: float, batch_mode: bool = True, emulated: bool = False) -> LayerGap:
    """One BN layer's row from per-channel batch and moving statistics (numpy arrays)."""
    return layer_gaps([path], [mean_m.size], mean_b, var_b, mean_m, var_m, epsilon=[epsilon], momentum=[momentum],
                      threshold=threshold, batch_mode=batch_mode, emulated=emulated, first_order=order)[0]


def layer_gaps(paths: list[str], sizes: list[int], mean_b, var_b, mean_m, var_m, *, epsilon: list[float],
               momentum: list[float | None], threshold: float, batch_mode: bool = True, emulated: bool = False,
               first_order: int = 0) -> list[LayerGap]:
    """Rows of several BN layers at once (the callback checks every BN layer after every epoch).

    The statistics are the layers' per-channel arrays concatenated layer after layer (`sizes[i]`
    channels for `paths[i]`); `epsilon` and `momentum` hold one value per layer. Each measure is a
    per-channel numpy expression averaged per layer with `numpy.add.reduceat`.
    """
    import numpy

    sizes_ = numpy.asarray(sizes, dtype=numpy.int64)
    starts = numpy.concatenate([[0], numpy.cumsum(sizes_)[:-1]]).astype(numpy.int64)
    eps = numpy.repeat(numpy.asarray(epsilon, dtype=numpy.float64), sizes_)

    def per_layer(values):
        return numpy.add.reduceat(values, starts) / sizes_

    with numpy.errstate(all="ignore"):
        d = (mean_b - mean_m) / numpy.sqrt(var_m + eps)
        ratio = (var_b + eps) / (var_m + eps)
        gaps = per_layer(numpy.sqrt((numpy.sqrt(ratio) - 1.0) ** 2 + d ** 2))
        gaps = numpy.where(numpy.isfinite(gaps), gaps, numpy.inf)
        mean_gaps, log_ratios = per_layer(numpy.abs(d)), per_layer(numpy.log(ratio))
        averages = [per_layer(values) for values in (mean_m, var_m, mean_b, var_b)]
    updates = _updates_needed(mean_b, var_b, mean_m, var_m, eps, sizes_, momentum, gaps, threshold) if batch_mode \
        else [None] * len(paths)
    return [LayerGap(
        path=path, order=first_order + i, training_mode="batch" if batch_mode else "moving", emulated=emulated,
        channels=int(sizes_[i]), momentum=momentum[i], epsilon=float(epsilon[i]), moving_mean=float(averages[0][i]),
        moving_variance=float(averages[1][i]), batch_mean=float(averages[2][i]), batch_variance=float(averages[3][i]),
        mean_gap=float(mean_gaps[i]), log_variance_ratio=float(log_ratios[i]), gap=float(gaps[i]),
        diverged=batch_mode and not gaps[i] < threshold, updates_needed=updates[i]) for i, path in enumerate(paths)]


def _updates_needed(mean_b, var_b, mean_m, var_m, eps, sizes, momentum, gaps, threshold) -> list[int | None]:
    """Per layer: the fewest updates n with the gap after n updates below the threshold; None when the
    momentum is unknown or the statistics never get there (NaN/Inf).

    After n updates the moving statistics are batch + momentum**n * (moving - batch). The gap falls
    monotonically with n, so the first n below the threshold is found by bisection, all layers
    together (each step one numpy evaluation over the channels of the layers still over it, at most
    34 in all), in a bracket narrowed first around the guess the mean part alone gives.
    """
    import numpy

    out: list[int | None] = [None if m is None or not 0.0 < m < 1.0 else 0 for m in momentum]
    over = numpy.array([i for i, m in enumerate(out) if m is not None and not gaps[i] < threshold], dtype=numpy.int64)
    if not over.size:
        return out
    sizes_over = sizes[over]
    starts = numpy.concatenate([[0], numpy.cumsum(sizes_over)[:-1]]).astype(numpy.int64)
    channels = numpy.repeat(numpy.isin(numpy.arange(len(sizes)), over), sizes)
    mb, vb, mm, vm, e = (a[channels] for a in (mean_b, var_b, mean_m, var_m, eps))
    rates = numpy.asarray([momentum[i] for i in over], dtype=numpy.float64)
    # per channel, after n updates (t = momentum**n): v = a + t b, d^2 = t^2 c / v, r^2 = a / v
    a, b, c = vb + e, vm - vb, (mm - mb) ** 2

    def below(n):
        t = numpy.repeat(rates ** n.astype(numpy.float64), sizes_over)
        with numpy.errstate(all="ignore"):
            inverse = 1.0 / (a + t * b)
            r = numpy.sqrt(a * inverse)
            per_channel = numpy.sqrt((r - 1.0) ** 2 + t * t * c * inverse)
            gap = numpy.add.reduceat(per_channel, starts) / sizes_over
        return gap < threshold

    # Bracket first: if the gap shrank as momentum**n (the mean part does), n_guess updates would do.
    # The first of n_guess / 2, n_guess, 4 n_guess, 10**9 that gets below the threshold bounds the bisection.
    gap_0 = numpy.asarray([gaps[i] for i in over], dtype=numpy.float64)
    with numpy.errstate(all="ignore"):
        guess = numpy.ceil(numpy.log(threshold / gap_0) / numpy.log(rates))
    guess = numpy.clip(numpy.nan_to_num(guess, nan=1.0, posinf=_MAX_UPDATES), 1, _MAX_UPDATES).astype(numpy.int64)
    low, high = numpy.zeros(over.size, dtype=numpy.int64), numpy.full(over.size, _MAX_UPDATES, dtype=numpy.int64)
    reachable = below(high)
    for candidate in (guess // 2, guess, numpy.minimum(guess * 4, _MAX_UPDATES)):
        hit = below(candidate)
        high = numpy.where(hit & (candidate < high), candidate, high)
        low = numpy.where(~hit & (candidate > low) & (candidate < high), candidate, low)
    while True:
        open_ = reachable & (high - low > 1)
        if not open_.any():
            break
        middle = (low + high) // 2
        hit = below(middle)
        high = numpy.where(open_ & hit, middle, high)
        low = numpy.where(open_ & ~hit, middle, low)
    for j, i in enumerate(over):
        out[i] = int(high[j]) if reachable[j] else None
    return out


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
