"""What `bnlint.keras.BatchNormCheck` costs inside fit(): its per-epoch work against the epoch.

Not part of the test suite. Run from the repository root:

    .venv/bin/python bench/callback_overhead.py            # Keras 3 (TensorFlow backend), writes bench/CALLBACK.md
    TF_USE_LEGACY_KERAS=1 .venv/bin/python bench/callback_overhead.py --keras tf_keras --append

Models: the runtime tests' scenario model (tests/scenarios.py: a flattened 2-BN CNN on 8x8x3 inputs,
fine-tuned on 12 raw images, one batch of 12 per step) and a keras.applications MobileNetV2 (alpha 0.35,
32x32x3, weights=None, 52 BN layers, flattened and trainable) as the fixtures' application model. For each,
fit() runs N epochs of S steps (N = 11 for S <= 10, else 6) with two callbacks: a timer first (epoch
begin/end times) and BatchNormCheck(data=<the held batch>) with its on_epoch_begin, on_epoch_end and
on_train_end timed, once with the default budget (2 % of training time) and once with budget=None (a
check after every epoch). A check reads the BN variables and computes the lag from them (no forward
pass). When the first epoch lags (all but the 100-step scenario CNN), the held batch runs through the
model in both modes once, at the end of epoch 1: that epoch's check is reported apart, as "once per
fit", with on_train_begin (the model rules and the BN layer lookup); epoch 1 also traces fit(). The
overhead is the callback's time in epochs 2-N (and at on_train_end, where a check the budget put off
runs) over the time of epochs 2-N (the timer's spans without the callback's on_epoch_begin); the worst
single epoch is the largest per-epoch share.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _keras(name: str):
    if name == "tf_keras":
        os.environ["TF_USE_LEGACY_KERAS"] = "1"
        import tf_keras as keras
    else:
        import keras
    return keras


def _models(keras):
    import numpy as np
    import scenarios

    raw, labels, _ = scenarios.images()
    weights = scenarios.pretrained_base(keras).get_weights()

    def scenario():
        return scenarios.flattened(keras, scenarios.base_with(keras, weights)), raw, labels

    def mobilenet():
        base = keras.applications.MobileNetV2(alpha=0.35, input_shape=(32, 32, 3), include_top=False, weights=None)
        x = keras.layers.GlobalAveragePooling2D()(base.output)
        model = keras.Model(base.input, keras.layers.Dense(3, activation="softmax")(x))
        model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
        rng = np.random.default_rng(0)
        return model, rng.integers(0, 256, size=(32, 32, 32, 3)).astype("float32"), np.arange(32) % 3

    return [("scenario CNN (2 BN, 8x8x3)", scenario, 12), ("MobileNetV2 a=0.35 (52 BN, 32x32x3)", mobilenet, 32)]


def _run(keras, build, batch: int, steps: int, budget: float | None, epochs: int):
    import warnings

    import numpy as np

    from bnlint.keras import BatchNormCheck

    model, x, y = build()

    class Timer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.epochs = []

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.epochs.append(time.perf_counter() - self.start)

    class TimedCheck(BatchNormCheck):
        def on_train_begin(self, logs=None):
            start = time.perf_counter()
            super().on_train_begin(logs)
            self.begin = time.perf_counter() - start
            self.costs, self.openings, self.ran, self.end = [], [], [], 0.0

        def on_epoch_begin(self, epoch, logs=None):
            start = time.perf_counter()
            super().on_epoch_begin(epoch, logs)
            self.opening = time.perf_counter() - start

        def on_epoch_end(self, epoch, logs=None):
            before = len(self.checks)
            start = time.perf_counter()
            super().on_epoch_end(epoch, logs)
            self.costs.append(self.opening + time.perf_counter() - start)
            self.openings.append(self.opening)
            self.ran.append(len(self.checks) > before)

        def on_train_end(self, logs=None):
            before = len(self.checks)
            start = time.perf_counter()
            super().on_train_end(logs)
            self.end = time.perf_counter() - start
            self.flushed = len(self.checks) > before

    timer, check = Timer(), TimedCheck(data=x[:batch], budget=budget)
    repeat = -(-steps * batch // len(x))
    xs, ys = np.concatenate([x] * repeat)[:steps * batch], np.concatenate([y] * repeat)[:steps * batch]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(xs, ys, batch_size=batch, epochs=epochs, verbose=0, shuffle=False, callbacks=[timer, check])
    held = [epoch for epoch, _ in check.measurements]
    assert held in ([], [0]), f"the held batch ran after epochs {held}: expected at most once, after the first"
    epoch_times = [t - o for t, o in zip(timer.epochs, check.openings)][1:]
    costs, ran = check.costs[1:], check.ran[1:]
    single = [c for c, r in zip(costs, ran) if r]
    return {
        "epoch": statistics.median(epoch_times),
        "one check": statistics.median(single) if single else check.end,
        "checks": f"{sum(ran)} of {len(ran)}" + (" + 1 at the end" if check.flushed else ""),
        "share": (sum(costs) + check.end) / sum(epoch_times),
        "worst epoch": max(c / e for c, e in zip(costs, epoch_times)),
        "first": check.costs[0] if held else None,
        "begin": check.begin,
    }


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--keras", choices=("keras", "tf_keras"), default="keras")
    p.add_argument("--steps", default="1,10,100", help="steps per epoch to try (comma separated)")
    p.add_argument("--results", type=Path, default=ROOT / "bench" / "CALLBACK.md")
    p.add_argument("--append", action="store_true", help="add rows to the results instead of rewriting them")
    args = p.parse_args()
    keras = _keras(args.keras)
    version = f"{'Keras' if args.keras == 'keras' else 'tf_keras'} {keras.__version__}"
    rows = []
    for name, build, batch in _models(keras):
        for steps in (int(s) for s in args.steps.split(",")):
            for budget in (0.02, None):
                r = _run(keras, build, batch, steps, budget, epochs=11 if steps <= 10 else 6)
                first = "no lag: not run" if r["first"] is None else f"{r['first'] * 1000:.0f} ms"
                row = (f"| {version} | {name} | {steps} x {batch} | {'2 %' if budget else 'none'} | "
                       f"{r['epoch'] * 1000:.0f} ms | {r['one check'] * 1000:.2f} ms | {r['checks']} | "
                       f"**{r['share'] * 100:.2f} %** | {r['worst epoch'] * 100:.1f} % | {first} | "
                       f"{r['begin'] * 1000:.0f} ms |")
                print(row, flush=True)
                rows.append(row)
    load = os.getloadavg()
    header = ("# BatchNormCheck overhead\n\nWritten by `bench/callback_overhead.py` (see its docstring for the "
              f"method). Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
              f"{platform.python_version()}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the end of "
              "the first run (the machine is shared).\n\n"
              "| Keras | model | steps x batch per epoch | budget | epoch (median) | one check (median) | "
              "checks after epochs 2-N | check time / epoch time, epochs 2-N | worst single epoch | "
              "epoch 1 check with the held batch (once per fit) | on_train_begin (once per fit) |\n"
              "|---|---|---|---|---|---|---|---|---|---|---|\n")
    if args.append and args.results.exists():
        args.results.write_text(args.results.read_text() + "\n".join(rows) + "\n")
    else:
        args.results.write_text(header + "\n".join(rows) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
