"""BN004 (trainable changed after compile), BN005 (learning phase forced to 1), BN006 (no preprocess_input)."""
import pytest

from test_script_support import codes, findings, where

AFTER_COMPILE = """\
from tensorflow.keras.applications import ResNet101
from tensorflow.keras.applications.resnet import preprocess_input
from tensorflow.keras import layers, models

base = ResNet101(include_top=False, weights="imagenet", pooling="avg")
inputs = layers.Input((224, 224, 3))
model = models.Model(inputs, layers.Dense(3)(base(preprocess_input(inputs), training=False)))
model.compile("adam", "categorical_crossentropy")
base.trainable = False
history = model.fit(train_ds, epochs=5)
"""


def test_trainable_after_compile_then_fit():
    [finding] = findings(AFTER_COMPILE)
    assert (finding.code, finding.line, finding.column) == ("BN004", 9, 1)
    assert finding.message == "`base.trainable` set after `model.compile()`: `model.fit()` still uses the old value"
    assert [(r.line, r.message) for r in finding.related] == [(8, "compiled here"), (10, "trained here without compiling again")]
    assert "compile(" in finding.help


def test_recompiling_is_fine():
    source = AFTER_COMPILE.replace("base.trainable = False\n", "base.trainable = False\nmodel.compile('adam', 'mse')\n")
    assert codes(source) == []


def test_change_before_compile_is_fine():
    source = AFTER_COMPILE.replace("model.compile(\"adam\", \"categorical_crossentropy\")\nbase.trainable = False",
                                   "base.trainable = False\nmodel.compile(\"adam\", \"categorical_crossentropy\")")
    assert codes(source) == []


def test_change_of_model_layers_after_compile_with_train_on_batch():
    source = """\
    from keras.models import load_model
    model = load_model("checkpoint.keras")
    model.compile(optimizer="sgd", loss="mse")
    for layer in model.layers[:-4]:
        layer.trainable = False
    for batch in batches:
        model.train_on_batch(*batch)
    """
    assert where(source) == [("BN004", 5, 5)]


def test_events_inside_a_function_follow_the_call_order():
    source = """\
    import tensorflow as tf
    def unfreeze(net):
        for layer in net.layers[-30:]:
            layer.trainable = True
    base = tf.keras.applications.Xception(weights="imagenet", include_top=False, pooling="avg")
    base.trainable = False
    model = tf.keras.Sequential([tf.keras.layers.Rescaling(1 / 127.5, offset=-1), base, tf.keras.layers.Dense(2)])
    model.compile("adam", "mse")
    model.fit(ds)
    unfreeze(base)
    model.fit(ds)
    """
    assert where(source) == [("BN002", 4, 9), ("BN004", 4, 9)]


# --- BN005 -------------------------------------------------------------------------------------

@pytest.mark.parametrize("call, fires", [
    ("K.set_learning_phase(1)", True),
    ("K.set_learning_phase(True)", True),
    ("K.set_learning_phase(args.phase)", True),
    ("K.set_learning_phase(0)", False),
    ("K.set_learning_phase(False)", False),
])
def test_learning_phase(call, fires):
    source = f"""\
    from keras import backend as K
    from keras.applications.resnet50 import ResNet50, preprocess_input
    {call}
    base = ResNet50(weights="imagenet", include_top=False)
    """
    assert where(source) == ([("BN005", 3, 1)] if fires else [])


def test_learning_phase_messages_per_target():
    source = "import tensorflow as tf\ntf.keras.backend.set_learning_phase(1)\nbn = tf.keras.layers.BatchNormalization()\n"
    [finding] = findings(source)
    assert finding.message == ("`tf.keras.backend.set_learning_phase(1)` forces training mode: BN uses batch "
                               "statistics in predict() too")
    assert "deprecated" in finding.help
    [legacy] = findings(source, target="2.2.4")
    assert "set_learning_phase(0)" in legacy.help


def test_learning_phase_without_any_bn_in_sight_is_not_a_bn_bug():
    # the TF 1.x autograph guide flips the phase to show dropout; no BN layer, no pretrained base
    source = "import tensorflow as tf\nK = tf.keras.backend\nfor phase in [0, 1]:\n    K.set_learning_phase(phase)\n"
    assert where(source) == []
    assert where(source + "bn = tf.keras.layers.BatchNormalization()\n") == [("BN005", 4, 5)]


# --- BN006 -------------------------------------------------------------------------------------

RAW = """\
from tensorflow.keras.applications import {arch}
base = {arch}(weights="imagenet", include_top=False, input_shape=(224, 224, 3))
"""


@pytest.mark.parametrize("arch, fires", [
    ("ResNet50", True), ("InceptionV3", True), ("MobileNet", True), ("DenseNet201", True), ("VGG19", True),
    ("EfficientNetB3", False), ("EfficientNetV2S", False), ("MobileNetV3Large", False),
    ("RegNetY008", False), ("ResNetRS50", False), ("ConvNeXtTiny", False),
])
def test_missing_preprocess_input(arch, fires):
    result = findings(RAW.format(arch=arch))
    assert [(f.code, f.line, f.column) for f in result] == ([("BN006", 2, 8)] if fires else [])
    if fires:
        assert result[0].severity is None      # the catalogue's default (info) applies
        assert "preprocess_input" in result[0].help


@pytest.mark.parametrize("preprocessing", [
    "x = preprocess_input(images)",
    "gen = ImageDataGenerator(preprocessing_function=tf.keras.applications.resnet50.preprocess_input)",
    "gen = ImageDataGenerator(rescale=1. / 255)",
    "norm = tf.keras.layers.Rescaling(1. / 127.5, offset=-1)",
    "norm = tf.keras.layers.Normalization()",
])
def test_visible_preprocessing_silences_bn006(preprocessing):
    assert codes(RAW.format(arch="ResNet50") + preprocessing + "\n") == []


def test_no_imagenet_weights_no_bn006():
    assert codes(RAW.format(arch="ResNet50").replace('"imagenet"', '"my_weights.h5"')) == []
    assert codes(RAW.format(arch="ResNet50").replace('"imagenet"', "None")) == []


def test_mobilenetv3_without_its_preprocessing_needs_it():
    source = RAW.format(arch="MobileNetV3Small").replace("include_top=False", "include_top=False, include_preprocessing=False")
    assert codes(source) == ["BN006"]


def test_gan_discriminator_frozen_after_compile_is_not_bn004():
    source = """\
    from tensorflow import keras
    discriminator = keras.Sequential([keras.layers.Dense(1, activation="sigmoid")])
    discriminator.compile(optimizer="adam", loss="binary_crossentropy")
    discriminator.trainable = False
    gan = keras.Sequential([generator, discriminator])
    gan.compile(optimizer="adam", loss="binary_crossentropy")
    discriminator.train_on_batch(real, ones)
    gan.train_on_batch(noise, ones)
    """
    assert codes(source) == []


def test_bn004_points_at_the_compile_and_the_fit():
    [finding] = findings(AFTER_COMPILE)
    assert [(r.line, r.column, r.message) for r in finding.related] == [
        (8, 1, "compiled here"), (10, 11, "trained here without compiling again")]


@pytest.mark.parametrize("text", [
    "x = preprocess_input(x)", "layers.Rescaling(1. / 255)", "tf.keras.layers.Rescaling", "MyRescaling()",
    "norm = Normalization ()", "BatchNormalization()", "ImageDataGenerator(preprocessing_function=f)",
    "ImageDataGenerator(rescale = 1/255)", "prescale=2", "x / 255.0", "x/255", "x * 255",
    "preprocess_image(x)", "preprocess (x)", "do_preprocess(x)", "sm.get_preprocessing('resnet34')",
    "get_preprocessing_fn", "nothing to see", "",
])
def test_visible_preprocessing_is_the_pattern_one_alternative_at_a_time(text):
    # BN006 is silenced by visible preprocessing; the check runs the alternatives of PREPROCESSING
    # one by one behind substring tests, and must answer exactly as the whole pattern does.
    from bnlint.script.interpreter.literals import PREPROCESSING, preprocessing_visible
    assert preprocessing_visible(text) == (PREPROCESSING.search(text) is not None)
