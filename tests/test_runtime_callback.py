"""`bnlint.keras.BatchNormCheck` in a real tiny fit(): Keras 3 in this process, tf_keras in a subprocess."""
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import scenarios
from conftest import ROOT


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    return keras


@pytest.fixture(scope="module")
def pretrained(keras):
    return scenarios.pretrained_base(keras).get_weights()


def _fit(model, callback, steps=2, epochs=1):
    raw, labels, _ = scenarios.images()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(np.tile(raw, (steps, 1, 1, 1)), np.tile(labels, steps), batch_size=12, epochs=epochs, verbose=0,
                  shuffle=False, callbacks=[callback])
    from bnlint.keras import BatchNormWarning

    return [str(w.message) for w in caught if issubclass(w.category, BatchNormWarning)]


def test_warns_at_train_begin_and_when_inference_statistics_lag(keras, pretrained):
    from bnlint.keras import BatchNormCheck

    model = scenarios.flattened(keras, scenarios.base_with(keras, pretrained), frozen=("conv1",))
    raw, labels, _ = scenarios.images()
    check = BatchNormCheck(data=(raw, labels), budget=None)    # a check after every epoch, however short
    messages = _fit(model, check, epochs=2)
    assert [f.code for f in check.findings] == ["BN103"] and check.findings[0].layer == "bn1"
    assert messages[0].startswith("bnlint found BatchNormalization pitfalls") and "BN103 bn1:" in messages[0]
    assert "before Keras 3.16, keras-team/keras#20285" in messages[0]
    lag = [m for m in messages[1:]]
    assert [m.split(":")[0] for m in lag] == ["epoch 1", "epoch 2"]
    assert all("after 2 training steps, 'bn1' lags behind the training batches: moving variance" in m for m in lag)
    # the held batch runs once, at the first lag, and says what the outputs do
    assert "on the held batch (12 samples): training and inference disagree on" in lag[0]
    assert "divergence starts at 'bn1'" in lag[0] and "on the held batch" not in lag[1]
    assert [(c.epoch, c.first_divergent.path) for c in check.checks] == [(0, "bn1"), (1, "bn1")]
    assert [(epoch, m.first_divergent.path) for epoch, m in check.measurements] == [(0, "bn1")]


def test_short_fine_tune_warns_from_the_bn_variables_alone_long_one_stays_quiet(keras, pretrained):
    from bnlint.keras import BatchNormCheck

    short = BatchNormCheck()                                   # no data: the BN variables are enough
    messages = _fit(scenarios.flattened(keras, scenarios.base_with(keras, pretrained)), short,
                    steps=scenarios.SHORT_STEPS)
    [message] = messages
    assert message.startswith("epoch 1: inference-mode BN statistics lag behind training mode: after 10 training "
                              "steps, 'bn1' lags behind the training batches: moving variance ")
    assert "updates at momentum 0.99 to come within 0.5" in message and short.measurements == []
    [row] = [layer for layer in short.checks[0].layers if layer.path == "bn1"]
    # raw 0-255 pixels on statistics pretrained for [-1, 1]: after 10 of the ~70 updates needed the moving
    # variance holds ~10 % of the batch variance; ~60 updates to go
    assert row.batch_variance > 5 * row.moving_variance and 30 < row.updates_needed < 100

    long = BatchNormCheck()
    assert _fit(scenarios.flattened(keras, scenarios.base_with(keras, pretrained)), long,
                steps=scenarios.LONG_STEPS) == []
    [check] = long.checks
    assert check.steps == scenarios.LONG_STEPS and {layer.path for layer in check.layers} == {"bn1", "bn2"}
    assert not check.diverged and max(layer.gap for layer in check.layers) < 0.1


def test_lag_of_a_nested_trainable_base_names_the_nested_layer(keras, pretrained):
    from bnlint.keras import BatchNormCheck

    base = scenarios.base_with(keras, pretrained)
    inputs = keras.Input((8, 8, 3), name="image")
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="head")(base(inputs)))
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    check = BatchNormCheck(min_severity="error")
    [message] = _fit(model, check, steps=3)
    assert "after 3 training steps, 'base/bn1' lags behind the training batches" in message
    assert [layer.path for layer in check.checks[0].layers] == ["base/bn1", "base/bn2"]


def test_checks_put_off_by_the_budget_cover_their_epochs_and_run_at_the_end(keras, pretrained):
    from bnlint.keras import BatchNormCheck

    # a budget no check fits in: the first check runs, the rest wait for the end of training
    check = BatchNormCheck(budget=1e-12)
    messages = _fit(scenarios.flattened(keras, scenarios.base_with(keras, pretrained)), check, steps=1, epochs=3)
    assert [(c.first_epoch, c.epoch, c.steps) for c in check.checks] == [(0, 0, 1), (1, 2, 2)]
    assert [m.split(":")[0] for m in messages] == ["epoch 1", "epochs 2-3"]
    assert "after 2 training steps, 'bn1' lags behind the training batches" in messages[1]


def _true_batch_statistics(keras, model, raw):
    """Per-channel (mean, biased variance) of each BN layer's input in the training-mode forward pass of
    `raw`, computed directly; the BN variables that pass updates are put back."""
    saved = model.get_weights()
    names = ("bn1", "bn2")
    inputs = keras.Model(model.inputs, [model.get_layer(name).input for name in names])([raw], training=True)
    model.set_weights(saved)
    inputs = [np.asarray(x, dtype=np.float64) for x in inputs]           # float16 under mixed precision
    return {name: (x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))) for name, x in zip(names, inputs)}


def test_recovered_batch_statistics_are_those_of_the_training_step(keras, pretrained):
    from bnlint.keras import BatchNormCheck

    model = scenarios.flattened(keras, scenarios.base_with(keras, pretrained))
    raw, _, _ = scenarios.images()
    expected = _true_batch_statistics(keras, model, raw)
    check = BatchNormCheck()
    _fit(model, check, steps=1)
    [one_step] = check.checks
    assert one_step.steps == 1
    for name, (mean, variance) in expected.items():
        got_mean, got_variance = one_step.batch_statistics[name]
        np.testing.assert_allclose(got_mean, mean, rtol=2e-4, atol=2e-4 * np.abs(mean).max())
        # Keras 3 moves towards the biased batch variance (ops.moments): not the unbiased one, 1.0013x here
        np.testing.assert_allclose(got_variance, variance, rtol=2e-4)


def test_strict_raises_before_a_single_step(keras, pretrained):
    from bnlint.keras import BatchNormCheck, BatchNormError

    model = scenarios.flattened(keras, scenarios.base_with(keras, pretrained), frozen=("conv1",))
    with pytest.raises(BatchNormError, match="BN103"):
        _fit(model, BatchNormCheck(strict=True))
    assert int(model.optimizer.iterations.numpy()) == 0


def test_quiet_on_a_correctly_nested_frozen_base(keras, pretrained):
    from bnlint.keras import BatchNormCheck

    model = scenarios.nested_frozen(keras, scenarios.base_with(keras, pretrained))
    raw, _, _ = scenarios.images()
    check = BatchNormCheck(data=raw, every=2)
    assert _fit(model, check, epochs=2) == []
    assert check.findings == []
    [only] = check.checks                                      # every=2: only after the second epoch
    assert (only.first_epoch, only.epoch, only.steps) == (0, 1, 4)
    assert only.layers == [] and only.untouched == 2           # frozen BN: its statistics never moved
    assert check.measurements == []                            # no lag: the held batch never ran

    every = BatchNormCheck(data=raw, held_batch="every", budget=None)
    assert _fit(model, every, epochs=2) == []
    assert [epoch for epoch, _ in every.measurements] == [0, 1]
    assert {layer.training_mode for _, m in every.measurements for layer in m.layers} == {"moving"}


def test_tf_keras_fit_in_a_subprocess():
    script = textwrap.dedent(f"""
        import sys, warnings
        sys.path.insert(0, {str(ROOT / "tests")!r})
        import numpy as np, tf_keras as keras, scenarios
        from bnlint.keras import BatchNormCheck, BatchNormWarning
        model = scenarios.flattened(keras, scenarios.pretrained_base(keras), frozen=("conv1",))
        raw, labels, _ = scenarios.images()
        check = BatchNormCheck(data=raw)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            scenarios.fine_tune(model, 2, callbacks=[check])
        print([f.code for f in check.findings], "tf.keras (TF 2.x) / tf_keras" in check.findings[0].help)
        print(sum(issubclass(w.category, BatchNormWarning) for w in caught), check.measurements[0][1].diverged)
        print(type(check).__mro__[1].__module__)
    """)
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run([sys.executable, "-c", script], check=False, cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines() == ["['BN103'] True", "2 True", "tf_keras.src.callbacks"]


def test_tf_keras_recovers_the_batch_statistics_in_a_subprocess():
    # tf_keras' fused kernel (4-D inputs) moves the moving variance towards the unbiased batch variance:
    # n / (n - 1) times the biased one, n = 12 images x 8 x 8 positions per channel
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT / "tests")!r})
        import numpy as np, tf_keras as keras, scenarios
        from test_runtime_callback import _true_batch_statistics
        from bnlint.keras import BatchNormCheck
        model = scenarios.flattened(keras, scenarios.pretrained_base(keras))
        raw, _, _ = scenarios.images()
        expected = _true_batch_statistics(keras, model, raw)
        check = BatchNormCheck()
        scenarios.fine_tune(model, 1, callbacks=[check])
        for name, (mean, variance) in expected.items():
            got_mean, got_variance = check.checks[0].batch_statistics[name]
            print(name, float(np.max(np.abs(got_mean - mean)) / np.abs(mean).max()),
                  float(np.max(np.abs(got_variance / (variance * 768 / 767) - 1))))
    """)
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run([sys.executable, "-c", script], check=False, cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line.split() for line in result.stdout.splitlines()]
    assert [row[0] for row in rows] == ["bn1", "bn2"]
    assert all(float(mean) < 2e-4 and float(variance) < 2e-4 for _, mean, variance in rows), rows


def test_a_step_the_loss_scale_skips_still_counts_as_a_bn_update():
    # mixed precision: overflowing gradients make the loss-scale optimizer skip the step (its step count
    # stays 0) after the forward pass has updated the BN statistics; a global policy, so a subprocess
    script = textwrap.dedent(f"""
        import sys, warnings
        sys.path.insert(0, {str(ROOT / "tests")!r})
        import numpy as np, keras, scenarios
        from test_runtime_callback import _true_batch_statistics
        from bnlint.keras import BatchNormCheck
        weights = scenarios.pretrained_base(keras).get_weights()
        keras.mixed_precision.set_global_policy("mixed_float16")
        model = scenarios.flattened(keras, scenarios.base_with(keras, weights))
        model.compile(keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(1e-3), initial_scale=2.0 ** 40),
                      "sparse_categorical_crossentropy")
        raw, _, _ = scenarios.images()
        mean, variance = _true_batch_statistics(keras, model, raw)["bn1"]
        check = BatchNormCheck()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scenarios.fine_tune(model, 1, callbacks=[check])
        got_mean, got_variance = check.checks[0].batch_statistics["bn1"]
        print(int(model.optimizer.iterations.numpy()), check.checks[0].steps,
              float(np.max(np.abs(got_mean - mean)) / np.abs(mean).max()),
              float(np.max(np.abs(got_variance / variance - 1))))
    """)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("TF_USE_LEGACY_KERAS", None)
    result = subprocess.run([sys.executable, "-c", script], check=False, cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    iterations, steps, mean_error, variance_error = result.stdout.split()
    assert (iterations, steps) == ("0", "1")
    # float16 activations: the direct pass and fit()'s round apart by up to ~1e-3 (a wrong count: 2x off)
    assert float(mean_error) < 3e-3 and float(variance_error) < 3e-3
