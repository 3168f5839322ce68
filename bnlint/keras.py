"""`bnlint.keras.BatchNormCheck`: a Keras callback that catches BN pitfalls in the running fit().

    from bnlint.keras import BatchNormCheck
    model.fit(x, y, epochs=10, callbacks=[BatchNormCheck(data=x_val[:64])])

At `on_train_begin` it runs the model rules on the live model with the Keras actually running (its
`get_config()`, live `trainable` flags, BN variables; see bnlint.check_model) and warns, or raises
with `strict=True`, before a single step is spent.

At the end of every `every`-th epoch it measures how far each BN layer's moving statistics lag behind
the batches the layer trained on, from the BN variables alone (bnlint.runtime.lag): their values at
the start of the window and now, and the optimizer's step count in between, give the momentum-weighted
batch statistics exactly. No forward pass, so the check costs a read of the BN variables and needs no
data. It warns when a layer lags (the BN107 situation, measured), with the layer, the numbers and the
updates still needed. A check takes a millisecond or a few; when epochs are so short that this is more
than `budget` (2 %) of the training time since the last check, the next check waits for more epochs
(exact over any number of them), and a check still owed runs at `on_train_end`.

With a held batch `data`, the first check in a fit() that finds a lag also runs it through the model
in training mode and in inference mode (as `bnlint probe` does, BN variables restored afterwards): how
often the predictions differ and where the modes part ways join that warning. `held_batch="every"`
runs it at every check (two forward passes each time); from the second one on, when at least 20
remain in this fit() on a TensorFlow backend, both passes are traced once with tf.function. Keras does
not pass `validation_data` to callbacks, so give the held batch as `data` (an array, or an (x, y) tuple).

Works with Keras 3 and tf_keras (the base class follows TF_USE_LEGACY_KERAS; the hooks tf_keras
looks for are defined either way). Importing this module imports Keras.
"""
from __future__ import annotations

import time
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
        data: a held batch of inputs (array, or an (x, y[, weights]) tuple) to run in both modes when
            a check finds a lag (see `held_batch`); None: the checks read the BN variables only.
        every: check at the end of every N-th epoch (default 1), over the steps since the last check.
        threshold: gap (standard deviations of a BN layer's training-mode output) from which a layer
            counts as lagging (default 0.5, as `bnlint probe`).
        strict: raise BatchNormError at `on_train_begin` instead of warning.
        min_severity: lowest severity of the model rules that warns ("info", "warning", "error").
        target_keras: assume another Keras for the model rules (default: the one running).
        samples: at most this many inputs of `data` are used (default 64).
        batch_size: batch size of the held-batch measurement (default: 32).
        held_batch: when `data` runs through the model: "first" (default), at the first check of each
            fit() that finds a lag; "every", at every check.
        budget: the share of training time the epoch-end checks may take (default 0.02). When the
            last check cost more than that of the training time since the check before, the next
            check waits for more epochs (the measurement covers any number of epochs exactly), and a
            check still owed runs at the end of training. None: check after every `every`-th epoch.

    After fit(): `findings` holds the start-of-training findings, `checks` the epoch-end checks
    (bnlint.runtime.lag.LagCheck: per BN layer that trained, the recovered batch statistics, the gap
    and the updates needed), `measurements` a list of (epoch, Measurement) pairs for the held batch.
    """

    # tf_keras' CallbackList asks every callback these; Keras 3 does not, and ignores them.
    _supports_tf_logs = False

    def __init__(self, data: Any = None, *, every: int = 1, threshold: float | None = None, strict: bool = False,
                 min_severity: str = "warning", target_keras: Any = None, samples: int = 64, batch_size: int = 32,
                 held_batch: str = "first", budget: float | None = 0.02):
        super().__init__()
        from bnlint.runtime.measure import DEFAULT_THRESHOLD

        if min_severity not in _RANK:
            raise ValueError(f"min_severity must be one of {', '.join(_RANK)}, not {min_severity!r}")
        if every < 1 or samples < 1 or batch_size < 1:
            raise ValueError("every, samples and batch_size must be at least 1")
        if held_batch not in ("first", "every"):
            raise ValueError(f"held_batch must be 'first' or 'every', not {held_batch!r}")
        if budget is not None and not budget > 0:
            raise ValueError(f"budget must be a positive share of the training time or None, not {budget!r}")
        self.data = data
        self.every = every
        self.threshold = DEFAULT_THRESHOLD if threshold is None else threshold
        self.strict = strict
        self.min_severity = min_severity
        self.target_keras = target_keras
        self.samples = samples
        self.batch_size = batch_size
        self.held_batch = held_batch
        self.budget = budget
        self.findings: list = []
        self.checks: list = []
        self.measurements: list = []
        self._batches: list | None = None
        self._prober = None
        self._reader = None
        self._live = None
        self._held_this_fit = False
        self._window = None            # (first epoch, step count, statistics) at the start of the window
        self._epoch_started = 0.0      # perf_counter() at on_epoch_begin
        self._since_check = 0.0        # seconds of epochs since the last check
        self._check_cost = 0.0         # seconds the last check took (reading and analysis)
        self._checked = 0              # checks in this fit()
        self._owed: int | None = None  # last epoch of a window a check was put off for (budget)

    def _implements_train_batch_hooks(self) -> bool:
        return False

    def _implements_test_batch_hooks(self) -> bool:
        return False

    def _implements_predict_batch_hooks(self) -> bool:
        return False

    def on_train_begin(self, logs=None):
        from bnlint.api import check_model
        from bnlint.runtime.keras_env import keras_of
        from bnlint.runtime.lag import StatisticsReader, bn_layers_of

        # trainable flags may have changed since the last fit(): rebuild what depends on them
        self._prober = None
        self._window = None
        self._held_this_fit = False
        self._since_check, self._check_cost, self._checked, self._owed = 0.0, 0.0, 0, None
        bn_layers, self._live = bn_layers_of(self.model)
        self._reader = StatisticsReader(bn_layers, keras_of(self.model))
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

    def on_epoch_begin(self, epoch, logs=None):
        # The previous check's reading opens the next window; read here only when there is none (the
        # first epoch of a fit()). JAX: the trainer synced its state into the variables before this.
        if self._window is None and self._reader is not None:
            self._window = self._read(epoch)
        self._epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if self._reader is None or self._window is None:
            return
        self._since_check += time.perf_counter() - self._epoch_started
        if (epoch + 1) % self.every:
            return
        if self.budget is not None and self._checked and self._check_cost > self.budget * self._since_check:
            self._owed = epoch           # too soon for the budget: the window grows by this epoch
            return
        self._check(epoch)

    def on_train_end(self, logs=None):
        if self._owed is not None and self._window is not None and self._window[0] <= self._owed:
            self._check(self._owed)      # the epochs the budget put off

    def _check(self, epoch: int) -> None:
        from bnlint.runtime.report import lag_verdict

        started = time.perf_counter()
        first_epoch, steps_0, before = self._window
        self._window = now = self._read(epoch + 1)
        check = self._reader.check(before, now[2], self._steps(steps_0, now[1], epoch - first_epoch + 1),
                                   threshold=self.threshold, epoch=epoch, first_epoch=first_epoch)
        self._check_cost, self._since_check, self._owed = time.perf_counter() - started, 0.0, None
        self._checked += 1
        if self.data is not None and self._live is not None and \
                (self.held_batch == "every" or (check.diverged and not self._held_this_fit)):
            check.held = self._measure_held(epoch)
        self.checks.append(check)
        if check.diverged or (check.held is not None and check.held.diverged):
            epochs = f"epoch {epoch + 1}" if first_epoch == epoch else f"epochs {first_epoch + 1}-{epoch + 1}"
            warnings.warn(f"{epochs}: inference-mode BN statistics lag behind training mode: {lag_verdict(check)}",
                          BatchNormWarning, stacklevel=3)

    def _read(self, epoch: int):
        from bnlint.runtime.lag import optimizer_steps

        return epoch, optimizer_steps(self.model, self._reader.runtime), self._reader.read()

    def _steps(self, before: int | None, after: int | None, epochs: int) -> int:
        """BN updates in the window: the optimizer's steps. A loss-scale optimizer skips the step (but
        not the forward pass) on overflowing gradients, so there the epochs' step count is used."""
        counted = after - before if before is not None and after is not None else 0
        optimizer = getattr(self.model, "optimizer", None)
        steps = (self.params or {}).get("steps")
        if type(optimizer).__name__ == "LossScaleOptimizer" and steps and not self.model.stop_training:
            return max(counted, steps * epochs)
        return counted

    def _measure_held(self, epoch: int):
        from bnlint.runtime.measure import Prober

        live = self._live
        if self._prober is None:
            self._prober = Prober(live, threshold=self.threshold)
        elif self.held_batch == "every" and not self._prober.compiled and \
                self._checks_left(epoch) >= COMPILE_WHEN_CHECKS_LEFT:
            # Tracing both passes costs 10-30 eager measurements; after it a measurement is two
            # compiled forward passes (TensorFlow backends). Worth it only for many more checks.
            self._prober = Prober(live, threshold=self.threshold, compiled=True)
        if self._batches is None:
            self._batches = self._held_batches(live.keras)
        measurement = self._prober.run(self._batches)
        self._held_this_fit = True
        self.measurements.append((epoch, measurement))
        return measurement

    def _checks_left(self, epoch: int) -> int:
        """Checks still to come in this fit(), counting this one (0 when Keras does not say)."""
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
