"""`bnlint.keras.BatchNormCheck`: a Keras callback that catches BN pitfalls in the running fit().

    from bnlint.keras import BatchNormCheck
    model.fit(x, y, epochs=10, callbacks=[BatchNormCheck(data=x_val[:64])])

At `on_train_begin` it runs the model rules on the live model with the Keras actually running (its
`get_config()`, live `trainable` flags, BN variables; see bnlint.check_model) and warns, or raises
with `strict=True`, before a single step is spent. At the end of every `every`-th epoch it runs
`data` through the model in training mode and in inference mode (as `bnlint probe` does, BN
variables restored afterwards) and warns when the inference-mode statistics lag behind: the layer
where the modes part ways, with the numbers and the updates still needed. Keras does not pass
`validation_data` to callbacks, so give the held batch as `data` (an array, or an (x, y) tuple);
without it only the start-of-training check runs. Measurements run eagerly; from the second one on,
when at least 20 remain in this fit() on a TensorFlow backend, both passes are traced once with
tf.function (10 to 30 eager measurements' worth) and each later measurement is two compiled forward
passes.

Works with Keras 3 and tf_keras (the base class follows TF_USE_LEGACY_KERAS; the hooks tf_keras
looks for are defined either way). Importing this module imports Keras.
"""
from __future__ import annotations

import warnings
from typing import Any

from bnlint.runtime.keras_env import legacy_keras_requested

if legacy_keras_requested():
    from tf_keras.callbacks import Callback as _Callback
else:
    from keras.callbacks import Callback as _Callback

__all__ = ["BatchNormCheck", "BatchNormError", "BatchNormWarning"]

_RANK = {"info": 0, "warning": 1, "error": 2}
# From the second measurement on, trace both passes when at least this many measurements remain.
COMPILE_WHEN_CHECKS_LEFT = 20


class BatchNormWarning(UserWarning):
    """A BN pitfall found in the model being trained (static rule or measured gap)."""


class BatchNormError(RuntimeError):
    """Raised by `BatchNormCheck(strict=True)` at the start of training when a model rule reports."""


class BatchNormCheck(_Callback):
    """Check BatchNormalization before and during `fit()`.

    Args:
        data: a held batch of inputs (array, or an (x, y[, weights]) tuple) for the epoch-end
            measurement; None: only the start-of-training check.
        every: measure at the end of every N-th epoch (default 1).
        threshold: gap (standard deviations of a BN layer's training-mode output) from which a layer
            counts as lagging (default 0.5, as `bnlint probe`).
        strict: raise BatchNormError at `on_train_begin` instead of warning.
        min_severity: lowest severity of the model rules that warns ("info", "warning", "error").
        target_keras: assume another Keras for the model rules (default: the one running).
        samples: at most this many inputs of `data` are used (default 64).
        batch_size: batch size of the measurement (default: 32).

    After fit(): `findings` holds the start-of-training findings, `measurements` a list of
    (epoch, Measurement) pairs.
    """

    # tf_keras' CallbackList asks every callback these; Keras 3 does not, and ignores them.
    _supports_tf_logs = False

    def __init__(self, data: Any = None, *, every: int = 1, threshold: float | None = None, strict: bool = False,
                 min_severity: str = "warning", target_keras: Any = None, samples: int = 64, batch_size: int = 32):
        super().__init__()
        from bnlint.runtime.measure import DEFAULT_THRESHOLD

        if min_severity not in _RANK:
            raise ValueError(f"min_severity must be one of {', '.join(_RANK)}, not {min_severity!r}")
        if every < 1 or samples < 1 or batch_size < 1:
            raise ValueError("every, samples and batch_size must be at least 1")
        self.data = data
        self.every = every
        self.threshold = DEFAULT_THRESHOLD if threshold is None else threshold
        self.strict = strict
        self.min_severity = min_severity
        self.target_keras = target_keras
        self.samples = samples
        self.batch_size = batch_size
        self.findings: list = []
        self.measurements: list = []
        self._batches: list | None = None
        self._prober = None

    def _implements_train_batch_hooks(self) -> bool:
        return False

    def _implements_test_batch_hooks(self) -> bool:
        return False

    def _implements_predict_batch_hooks(self) -> bool:
        return False

    def on_train_begin(self, logs=None):
        from bnlint.api import check_model

        self._prober = None            # trainable flags may have changed since the last fit()
        options = {"target_keras": self.target_keras} if self.target_keras is not None else {}
        self.findings = check_model(self.model, **options)
        shown = [f for f in self.findings if f.severity.rank >= _RANK[self.min_severity]]
        if not shown:
            return
        text = "bnlint found BatchNormalization pitfalls in the model about to be trained:\n" + "\n".join(
            f"  {f.code} {f.layer or ''}: {f.message}" + (f"\n    help: {f.help}" if f.help else "") for f in shown)
        if self.strict:
            raise BatchNormError(text)
        warnings.warn(text, BatchNormWarning, stacklevel=2)

    def on_epoch_end(self, epoch, logs=None):
        if self.data is None or (epoch + 1) % self.every:
            return
        from bnlint.runtime.live_graph import graph_from_live_model
        from bnlint.runtime.measure import Prober
        from bnlint.runtime.report import verdict

        model = self.model
        if self._prober is None:
            self._prober = Prober(graph_from_live_model(model), threshold=self.threshold)
        elif not self._prober.compiled and self._checks_left(epoch) >= COMPILE_WHEN_CHECKS_LEFT:
            # Tracing both passes costs 10-30 eager measurements; after it a measurement is two
            # compiled forward passes (TensorFlow backends). Worth it only for many more checks.
            self._prober = Prober(self._prober.live, threshold=self.threshold, compiled=True)
        if self._batches is None:
            self._batches = self._held_batches(self._prober.live.keras)
        measurement = self._prober.run(self._batches)
        self.measurements.append((epoch, measurement))
        if measurement.diverged:
            warnings.warn(f"epoch {epoch + 1}: inference-mode BN statistics lag behind training mode: "
                          f"{verdict(measurement)}", BatchNormWarning, stacklevel=2)

    def _checks_left(self, epoch: int) -> int:
        """Measurements still to come in this fit(), counting this one (0 when Keras does not say)."""
        epochs = (self.params or {}).get("epochs") or 0
        return max(0, (epochs - epoch - 1) // self.every + 1)

    def _held_batches(self, runtime) -> list:
        import numpy

        data = self.data
        if isinstance(data, (tuple, list)) and 1 <= len(data) <= 3 and not numpy.isscalar(data[0]) \
                and getattr(data[0], "ndim", None) is not None:
            data = data[0]                      # (x, y) or (x, y, sample_weight)
        array = numpy.asarray(runtime.to_numpy(data) if not isinstance(data, numpy.ndarray) else data)[:self.samples]
        if len(array) == 0:
            raise ValueError("BatchNormCheck: `data` holds no samples")
        count = -(-len(array) // self.batch_size)
        return [batch for batch in numpy.array_split(array, count) if len(batch)]
