"""BN007: a fine-tune whose literal step count leaves the BN statistics mostly pretrained."""
from __future__ import annotations

import pathlib
import textwrap

import pytest

from bnlint.context import RuleContext
from bnlint.script import analyze_script
from bnlint.target import parse_target

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "fixtures" / "scripts"
KERAS3 = parse_target("keras3<3.16")
TF2 = parse_target("tf2")

HEAD = """\
import numpy as np
from tensorflow import keras

base = keras.applications.{arch}(weights="imagenet", include_top=False, pooling="avg")
"""
FLAT = """\
model = keras.Model(base.input, keras.layers.Dense(3, activation="softmax")(base.output))
model.compile("adam", "sparse_categorical_crossentropy")
"""


def counted(f) -> str:
    """How the steps were counted: the finding's note at the fit()."""
    prefix = "steps counted: "
    [note] = [r.message for r in f.related if r.message.startswith(prefix)]
    return note[len(prefix):]


def bn007(source: str, target=KERAS3, **ctx) -> list:
    context = RuleContext(enabled=frozenset({"BN007"}), target=target, **ctx)
    data = textwrap.dedent(source).encode()
    return analyze_script(pathlib.Path("train.py"), "train.py", data, context).findings


def script(body: str, arch: str = "ResNet50") -> str:
    return HEAD.format(arch=arch) + textwrap.dedent(body)


def test_the_12_image_10_epoch_fixture_is_reported_at_fit_with_the_numbers():
    path = SCRIPTS / "few_bn_updates.py"
    ctx = RuleContext(enabled=frozenset({"BN007"}), target=KERAS3)
    (f,) = analyze_script(path, "few_bn_updates.py", path.read_bytes(), ctx).findings
    assert (f.code, f.line, f.column) == ("BN007", 12, 1)
    assert "`base_model` (ResNet50)" in f.message
    assert "only 10 steps" in f.message and counted(f) == "10 epochs x 1 step of 12 samples at batch size 12"
    assert "0.99^10 = 90 %" in f.message
    assert "predict() lags fit()" in f.message
    assert "at least 69 steps" in f.help


def test_enough_steps_fixture_is_clean():
    path = SCRIPTS / "enough_bn_updates.py"
    ctx = RuleContext(enabled=frozenset({"BN007"}), target=KERAS3)
    assert analyze_script(path, "enough_bn_updates.py", path.read_bytes(), ctx).findings == []


def test_literal_steps_per_epoch():
    (f,) = bn007(script(FLAT + "model.fit(train_ds, epochs=5, steps_per_epoch=4)\n"))
    assert "only 20 steps" in f.message and counted(f) == "5 epochs x 4 steps"
    assert bn007(script(FLAT + "model.fit(train_ds, epochs=50, steps_per_epoch=4)\n")) == []


def test_names_bound_to_literals_and_array_shapes_count():
    source = script(textwrap.dedent("""\
        EPOCHS = 10
        BATCH_SIZE = 16
        images = np.zeros((40, 224, 224, 3))
    """) + FLAT + "model.fit(images, labels, batch_size=BATCH_SIZE, epochs=EPOCHS)\n")
    (f,) = bn007(source)
    assert "only 30 steps" in f.message and counted(f) == "10 epochs x 3 steps of 40 samples at batch size 16"


def test_default_batch_size_and_validation_split():
    source = script("x = np.random.rand(100, 224, 224, 3)\n" + FLAT
                    + "model.fit(x, y, epochs=2, validation_split=0.2)\n")
    (f,) = bn007(source)
    assert "2 epochs x 3 steps of 80 samples at batch size 32" in counted(f)


@pytest.mark.parametrize("fit", [
    "model.fit(train_ds, epochs=10)",                          # a dataset: steps unknown
    "model.fit(x_train, y_train, epochs=10, batch_size=12)",   # x of unknown size
    "model.fit(x, y, epochs=n_epochs, steps_per_epoch=1)",     # epochs not a literal
    "model.fit(x, y, **fit_args)",
])
def test_unknown_counts_give_no_finding(fit):
    assert bn007(script(FLAT + fit + "\n")) == []


def test_frozen_base_does_not_update_statistics_and_only_unfrozen_fits_count():
    frozen = script("base.trainable = False\n" + FLAT + "model.fit(x, y, epochs=5, steps_per_epoch=1)\n")
    assert bn007(frozen) == []
    two_phase = frozen + textwrap.dedent("""\
        base.trainable = True
        model.compile(keras.optimizers.Adam(1e-5), "sparse_categorical_crossentropy")
        model.fit(x, y, epochs=3, steps_per_epoch=2)
    """)
    (f,) = bn007(two_phase)
    assert f.line == 11 and "only 6 steps" in f.message and counted(f) == "3 epochs x 2 steps"


def test_bn_guard_keeps_the_statistics_pretrained():
    source = script(textwrap.dedent("""\
        for layer in base.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = False
    """) + FLAT + "model.fit(x, y, epochs=10, steps_per_epoch=1)\n")
    assert bn007(source) == []


def test_nested_training_false_holds_bn_where_the_target_honours_it():
    source = script("""\
        inputs = keras.Input((224, 224, 3))
        x = base(inputs, training=False)
        model = keras.Model(inputs, keras.layers.Dense(3)(x))
        model.compile("adam", "mse")
        model.fit(x_train, y_train, epochs=10, steps_per_epoch=1)
    """)
    assert bn007(source, target=TF2) == []
    assert bn007(source, target=parse_target("tf1")) == []     # the V1 BN honours training=False
    # Keras 3.0-3.15: fit() overrides the nested training=False of a trainable base (#20285)
    assert [f.code for f in bn007(source, target=KERAS3)] == ["BN007"]


def test_the_architecture_momentum_is_used():
    # MobileNetV2 builds its BN layers with momentum 0.999: 600 steps leave 0.999^600 = 55 %
    (f,) = bn007(script(FLAT + "model.fit(x, y, epochs=600, steps_per_epoch=1)\n", arch="MobileNetV2"))
    assert "momentum 0.999" in f.help and "0.999^600 = 55 %" in f.message
    assert bn007(script(FLAT + "model.fit(x, y, epochs=600, steps_per_epoch=1)\n")) == []


def test_threshold_comes_from_the_context():
    source = script(FLAT + "model.fit(x, y, epochs=10, steps_per_epoch=1)\n")
    assert bn007(source, max_stale_bn_weight=0.95) == []
    assert len(bn007(source, max_stale_bn_weight=0.9)) == 1


def test_standalone_target_help_uses_bn_layer_training_false():
    source = script(FLAT + "model.fit(x, y, epochs=10, steps_per_epoch=1)\n")
    (f,) = bn007(source, target=parse_target("2.2.4"))
    assert "Call the BN layers with `training=False` (a BatchNormalization subclass" in f.help
    assert "bnlint rule BN007" in f.help          # the re-estimation code (K.function) is in the rule doc


def test_freezing_a_slice_leaves_the_later_bn_layers_training():
    source = script(textwrap.dedent("""\
        for layer in base.layers[:100]:
            layer.trainable = False
    """) + FLAT + "model.fit(x, y, epochs=10, steps_per_epoch=1)\n")
    assert [f.code for f in bn007(source)] == ["BN007"]


def test_initial_epoch_is_subtracted():
    (f,) = bn007(script(FLAT + "model.fit(x, y, epochs=300, initial_epoch=290, steps_per_epoch=1)\n"))
    assert "only 10 steps" in f.message and counted(f) == "10 epochs x 1 step"


@pytest.mark.parametrize("body", [
    "for epoch in range(100):\n    model.fit(x, y, epochs=1, steps_per_epoch=1)\n",
    "while True:\n    model.fit(x, y, epochs=1, steps_per_epoch=1)\n",
    "def train(m):\n    m.fit(x, y, epochs=1, steps_per_epoch=1)\nfor _ in range(100):\n    train(model)\n",
    "def train(m):\n    m.fit(x, y, epochs=1, steps_per_epoch=1)\n",          # never called here
])
def test_fit_in_a_loop_or_an_uncalled_function_is_an_unknown_count(body):
    assert bn007(script(FLAT + body)) == []


def test_a_helper_called_twice_counts_twice():
    body = "def train(m):\n    m.fit(x, y, epochs=5, steps_per_epoch=1)\ntrain(model)\ntrain(model)\n"
    (f,) = bn007(script(FLAT + body))
    assert "only 10 steps" in f.message and counted(f) == "5 epochs x 1 step + 5 epochs x 1 step"
