"""BN002 (unfreezing without keeping BN in inference mode) and BN003 (base call without training=False)."""
import pytest

from bnlint.finding import Applicability
from test_script_support import codes, findings, fix, where

NESTED = """\
import tensorflow as tf
from tensorflow import keras

base = keras.applications.MobileNetV2(input_shape=(160, 160, 3), include_top=False, weights="imagenet")
base.trainable = False
inputs = keras.Input(shape=(160, 160, 3))
x = keras.applications.mobilenet_v2.preprocess_input(inputs)
x = base(x, training=False)
x = keras.layers.GlobalAveragePooling2D()(x)
outputs = keras.layers.Dense(1)(x)
model = keras.Model(inputs, outputs)
model.compile(optimizer="adam", loss="binary_crossentropy")
model.fit(train_ds, epochs=10)

base.trainable = True
for layer in base.layers[:100]:
    layer.trainable = False
model.compile(optimizer=keras.optimizers.RMSprop(1e-5), loss="binary_crossentropy")
model.fit(train_ds, epochs=10)
"""


def test_guide_recipe_is_clean_on_tf_keras():
    assert codes(NESTED, target="tf2") == []
    assert codes(NESTED.replace("from tensorflow import keras", "import tf_keras as keras")) == []


def test_guide_recipe_on_keras3_before_316_is_bn002_with_the_issue():
    [finding] = findings(NESTED, target="keras3")
    assert (finding.code, finding.line, finding.column) == ("BN002", 15, 1)
    assert "keras-team/keras#20285" in finding.message
    assert "`trainable = False` on each BatchNormalization layer of `base`" in finding.help


def test_keras316_honours_nested_training_false():
    assert codes(NESTED, target="keras3>=3.16") == []


@pytest.mark.parametrize("guard", [
    "for layer in base.layers:\n    if isinstance(layer, keras.layers.BatchNormalization):\n        layer.trainable = False",
    "for layer in base.layers:\n    if 'bn' in layer.name:\n        layer.trainable = False",
    "for layer in base.layers:\n    if layer.__class__.__name__ == 'BatchNormalization':\n        layer.trainable = False",
    "for layer in base.layers:\n    layer.trainable = not isinstance(layer, keras.layers.BatchNormalization)",
    "bn_layers = [l for l in base.layers if isinstance(l, keras.layers.BatchNormalization)]\nfor l in bn_layers:\n    l.trainable = False",
])
def test_bn_guard_silences_bn002_on_keras3(guard):
    source = NESTED.replace("for layer in base.layers[:100]:\n    layer.trainable = False", guard)
    assert codes(source, target="keras3") == []


def test_unfreezing_a_flattened_base_is_bn002_everywhere():
    source = """\
    from keras.applications.inception_v3 import InceptionV3, preprocess_input
    from keras.models import Model
    from keras.layers import Dense, GlobalAveragePooling2D
    base_model = InceptionV3(weights='imagenet', include_top=False)
    x = GlobalAveragePooling2D()(base_model.output)
    model = Model(inputs=base_model.input, outputs=Dense(200, activation='softmax')(x))
    for layer in base_model.layers:
        layer.trainable = False
    model.compile(optimizer='rmsprop', loss='categorical_crossentropy')
    model.fit(x_train, y_train)
    for layer in model.layers[:249]:
        layer.trainable = False
    for layer in model.layers[249:]:
        layer.trainable = True
    model.compile(optimizer='sgd', loss='categorical_crossentropy')
    model.fit(x_train, y_train)
    """
    assert where(source, target="2.2.4") == [("BN001", 6, 9), ("BN002", 14, 5)]
    for target in ("tf2", "keras3"):
        assert where(source, target=target) == [("BN002", 14, 5)], target
    [bn002] = [f for f in findings(source, target="2.2.4") if f.code == "BN002"]
    assert "TypeError" in bn002.help


def test_unfreezing_only_non_bn_layers_is_fine():
    source = NESTED.replace(
        "base.trainable = True\nfor layer in base.layers[:100]:\n    layer.trainable = False",
        "for layer in base.layers[100:]:\n    if not isinstance(layer, keras.layers.BatchNormalization):\n"
        "        layer.trainable = True")
    assert codes(source, target="keras3") == []


def test_unfreezing_a_vgg_base_is_fine():
    source = NESTED.replace("MobileNetV2", "VGG16").replace("mobilenet_v2", "vgg16")
    assert codes(source, target="keras3") == []


# --- BN003 -------------------------------------------------------------------------------------

CALLED = """\
import tensorflow as tf

base_model = tf.keras.applications.EfficientNetB0(include_top=False, weights="imagenet")
base_model.trainable = False
inputs = tf.keras.layers.Input(shape=(224, 224, 3))
x = base_model(inputs)
x = tf.keras.layers.GlobalAveragePooling2D()(x)
model = tf.keras.Model(inputs, tf.keras.layers.Dense(5)(x))
"""


def test_call_without_training_false():
    [finding] = findings(CALLED)
    assert (finding.code, finding.line, finding.column, finding.end_column) == ("BN003", 6, 5, 23)
    assert "`base_model` (EfficientNetB0)" in finding.message
    assert finding.fix.applicability is Applicability.SAFE
    assert "x = base_model(inputs, training=False)" in fix(CALLED)


@pytest.mark.parametrize("call, fixed", [
    ("base_model(inputs, training=True)", "base_model(inputs, training=False)"),
    ("base_model(inputs, training=None)", "base_model(inputs, training=False)"),
    ("base_model(\n    inputs,\n)", "base_model(\n    inputs, training=False,\n)"),
])
def test_call_variants_and_their_fix(call, fixed):
    source = CALLED.replace("base_model(inputs)", call)
    assert codes(source) == ["BN003"]
    assert fixed in fix(source)


def test_training_false_spelled_zero_is_fine():
    assert codes(CALLED.replace("base_model(inputs)", "base_model(inputs, training=0)")) == []


def test_time_distributed():
    source = CALLED.replace("x = base_model(inputs)", "x = tf.keras.layers.TimeDistributed(base_model)(inputs)")
    assert where(source) == [("BN003", 6, 5)]
    assert "TimeDistributed(base_model)(inputs, training=False)" in fix(source)


def test_sequential_is_not_bn003():
    source = """\
    import tensorflow as tf
    base = tf.keras.applications.ResNet50V2(include_top=False, pooling="avg")
    base.trainable = False
    model = tf.keras.Sequential([tf.keras.layers.Rescaling(1 / 127.5, offset=-1), base, tf.keras.layers.Dense(3)])
    """
    assert codes(source) == []


def test_forwarded_training_in_subclassed_model():
    source = """\
    import keras

    class Classifier(keras.Model):
        def __init__(self, num_classes):
            super().__init__()
            self.backbone = keras.applications.EfficientNetV2B0(include_top=False, pooling="avg")
            self.backbone.trainable = False
            self.head = keras.layers.Dense(num_classes)

        def call(self, images, training=None):
            features = self.backbone(images, training=training)
            return self.head(features)
    """
    [finding] = findings(source)
    assert (finding.code, finding.line, finding.column) == ("BN003", 11, 20)
    assert "`self.backbone`" in finding.message and "forwarded" in finding.message
    assert "self.backbone(images, training=False)" in fix(source)


def test_standalone_target_has_other_advice_and_no_fix():
    [finding] = findings(CALLED, target="2.2.4")
    assert finding.code == "BN003" and finding.fix is None
    assert "TypeError" in finding.help


def test_random_init_base_call_is_fine():
    assert codes(CALLED.replace('weights="imagenet"', "weights=None")) == []


def test_base_from_helper_function_and_alias():
    source = """\
    from tensorflow.keras.applications import NASNetMobile
    from tensorflow.keras import layers, Model

    def pretrained_backbone():
        net = NASNetMobile(include_top=False, weights="imagenet", input_shape=(224, 224, 3))
        net.trainable = False
        return net

    conv_base = pretrained_backbone()
    feature_extractor = conv_base
    inputs = layers.Input((224, 224, 3))
    outputs = layers.Dense(2)(layers.Flatten()(feature_extractor(inputs)))
    """
    assert where(source, enabled={"BN003"}) == [("BN003", 12, 44)]
    [finding] = findings(source, enabled={"BN003"})
    assert "NASNetMobile" in finding.message


def test_trainable_true_on_a_never_frozen_base_is_not_bn002():
    source = """\
    import keras
    base = keras.applications.ResNet50(include_top=False, pooling="avg")
    base.trainable = True          # the default: full fine-tuning from the start
    model = keras.Sequential([keras.layers.Rescaling(1 / 255), base, keras.layers.Dense(2)])
    """
    assert codes(source, target="keras3") == []


def test_calling_the_base_on_a_data_batch_is_inference_not_bn003():
    source = """\
    import tensorflow as tf
    base_model = tf.keras.applications.MobileNetV2(input_shape=(160, 160, 3), include_top=False)
    images, labels = next(iter(train_dataset))
    features = base_model(images)            # look at the feature shape
    print(features.shape)
    inputs = tf.keras.Input(shape=(160, 160, 3))
    x = tf.keras.applications.mobilenet_v2.preprocess_input(inputs)
    x = base_model(x)                        # this one builds the model
    model = tf.keras.Model(inputs, tf.keras.layers.Dense(1)(x))
    """
    assert where(source) == [("BN003", 8, 5)]


def test_call_whose_result_is_wired_into_a_model_counts_even_without_an_input_layer():
    source = """\
    import tensorflow as tf
    def build(base, images):
        return tf.keras.Model(images, tf.keras.layers.Dense(2)(base(images)))
    base = tf.keras.applications.ResNet152(include_top=False, pooling="avg")
    base.trainable = False
    model = build(base, some_symbolic_tensor)
    """
    assert where(source, enabled={"BN003"}) == [("BN003", 3, 60)]


def test_base_assigned_through_a_global_statement():
    source = """\
    import tensorflow as tf
    backbone = None
    def load():
        global backbone
        backbone = tf.keras.applications.Xception(include_top=False, pooling="avg")
        backbone.trainable = False
    load()
    inputs = tf.keras.Input((299, 299, 3))
    model = tf.keras.Model(inputs, tf.keras.layers.Dense(2)(backbone(inputs)))
    """
    assert where(source, enabled={"BN003"}) == [("BN003", 9, 57)]


def test_unfreezing_a_nested_base_through_get_layer():
    source = """\
    import keras
    inputs = keras.Input((224, 224, 3))
    x = keras.applications.efficientnet.preprocess_input(inputs)
    x = keras.applications.EfficientNetB0(include_top=False, pooling="avg")(x, training=False)
    model = keras.Model(inputs, keras.layers.Dense(4)(x))
    model.get_layer("efficientnetb0").trainable = False
    model.compile("adam", "mse")
    model.fit(ds)
    model.get_layer("efficientnetb0").trainable = True
    model.compile(keras.optimizers.Adam(1e-5), "mse")
    model.fit(ds)
    """
    assert where(source, target="keras3") == [("BN002", 9, 1)]
    assert where(source, target="tf2") == []
