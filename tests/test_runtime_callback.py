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
    check = BatchNormCheck(data=(raw, labels))
    messages = _fit(model, check, epochs=2)
    assert [f.code for f in check.findings] == ["BN103"] and check.findings[0].layer == "bn1"
    assert messages[0].startswith("bnlint found BatchNormalization pitfalls") and "BN103 bn1:" in messages[0]
    assert "before Keras 3.16, keras-team/keras#20285" in messages[0]
    lag = [m for m in messages[1:]]
    assert [m.split(":")[0] for m in lag] == ["epoch 1", "epoch 2"]
    assert all("divergence starts at 'bn1': moving variance" in m for m in lag)
    assert [(epoch, m.first_divergent.path) for epoch, m in check.measurements] == [(0, "bn1"), (1, "bn1")]


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
    [(epoch, measurement)] = check.measurements              # every=2: only after the second epoch
    assert epoch == 1 and not measurement.diverged
    assert {layer.training_mode for layer in measurement.layers} == {"moving"}


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
