"""BN001: pretrained BN base flattened into a model through its tensors, and frozen."""
import pytest

from bnlint.catalogue import severity_for
from bnlint.finding import Applicability, Severity
from test_script_support import analyze, codes, findings, fix

FLATTENED_FROZEN = """\
from tensorflow.keras.applications import ResNet50
from tensorflow.keras.applications.resnet50 import preprocess_input
from tensorflow.keras.layers import Dense, GlobalAveragePooling2D
from tensorflow.keras.models import Model

base_model = ResNet50(weights="imagenet", include_top=False)
x = GlobalAveragePooling2D()(base_model.output)
predictions = Dense(10, activation="softmax")(x)
model = Model(inputs=base_model.input, outputs=predictions)
for layer in base_model.layers:
    layer.trainable = False
model.compile(optimizer="adam", loss="categorical_crossentropy")
model.fit(preprocess_input(images), labels, epochs=5)
"""


def test_flattened_and_frozen_is_reported_on_the_model_call():
    [finding] = [f for f in findings(FLATTENED_FROZEN, target="tf1") if f.code == "BN001"]
    assert (finding.line, finding.column, finding.end_line, finding.end_column) == (9, 9, 9, 60)
    assert finding.statement_line == 9
    assert finding.message == ("`base_model` (ResNet50) is flattened and frozen: its BN layers use "
                               "batch statistics in fit(), moving ones in predict()")
    assert "training=False" in finding.help


def test_only_legacy_targets_break():
    # Issue 11, decision 1: on tf.keras 2.x / tf_keras / Keras 3 a frozen BN is in inference mode.
    for modern in ("tf2", "keras3", "keras3>=3.16"):
        assert "BN001" not in codes(FLATTENED_FROZEN, target=modern)
    assert "BN001" not in codes(FLATTENED_FROZEN)        # unpinned tf.keras today is Keras 3.15
    legacy = [f for f in findings(FLATTENED_FROZEN, target="2.2.4") if f.code == "BN001"][0]
    assert severity_for(legacy) is Severity.ERROR
    assert "TypeError" in legacy.help and "BatchNormalization subclass" in legacy.help
    assert legacy.fix is None                      # explicit standalone target: nesting would raise
    tf1 = [f for f in findings(FLATTENED_FROZEN, target="tf1") if f.code == "BN001"][0]
    assert severity_for(tf1) is Severity.ERROR and tf1.fix is not None


def test_keras2_era_code_without_pins_is_reported_with_its_condition():
    # `import keras` + fit_generator: standalone Keras <= 2.3 (breaks) or TF 2's keras 2.x (does not).
    source = FLATTENED_FROZEN.replace("tensorflow.keras", "keras") + "model.fit_generator(batches, epochs=5)\n"
    [finding] = [f for f in findings(source) if f.code == "BN001"]
    assert finding.severity is Severity.WARNING
    assert finding.message.startswith("on standalone Keras 2.x: `base_model` (ResNet50) is flattened")
    assert "[assumed standalone Keras 2.x: imports keras and calls fit_generator (Keras 2 era)" in finding.help
    # the same code with tf.keras is tf.keras 2.x: nothing breaks
    assert "BN001" not in codes(FLATTENED_FROZEN + "model.fit_generator(batches, epochs=5)\n")


def test_tf1_api_makes_it_an_error():
    source = "import tensorflow as tf\nsess = tf.Session()\n" + FLATTENED_FROZEN
    [finding] = [f for f in findings(source) if f.code == "BN001"]
    assert severity_for(finding) is Severity.ERROR
    assert "[assumed tf.keras in TF 1.x: uses tf.Session (TF 1.x only)" in finding.help


def test_freezing_after_the_last_fit_changes_nothing():
    source = FLATTENED_FROZEN.replace("for layer in base_model.layers:\n    layer.trainable = False\n", "")
    source += "for layer in base_model.layers:\n    layer.trainable = False\n"
    assert "BN001" not in codes(source, target="tf1")
    assert "BN001" in codes(source + "model.compile('adam', 'mse')\nmodel.fit(x, y)\n", target="tf1")


def test_a_file_that_never_trains_breaks_nothing():
    # a fragment or a model-building module: the script that trains it gets the finding
    source = FLATTENED_FROZEN.replace("model.fit(preprocess_input(images), labels, epochs=5)\n", "")
    assert "BN001" not in codes(source, target="tf1")


def test_fix_is_unsafe():
    [finding] = [f for f in findings(FLATTENED_FROZEN, target="tf1") if f.code == "BN001"]
    assert finding.fix.applicability is Applicability.UNSAFE


@pytest.mark.parametrize("freeze", [
    "base_model.trainable = False",
    "for layer in base_model.layers[:100]:\n    layer.trainable = False",
    "for layer in model.layers[:-2]:\n    layer.trainable = False",
    "for i, layer in enumerate(base_model.layers):\n    if i < 140:\n        layer.trainable = False",
    "[setattr(l, 'trainable', False) for l in base_model.layers]",
    "for layer in model.layers:\n    if layer.name.startswith('conv1'):\n        layer.trainable = False",
    "model.layers[3].trainable = False",
    "for layer in base_model.layers:\n    if isinstance(layer, BatchNormalization):\n        layer.trainable = False",
])
def test_every_way_of_freezing(freeze):
    source = FLATTENED_FROZEN.replace("for layer in base_model.layers:\n    layer.trainable = False", freeze)
    source = "from tensorflow.keras.layers import BatchNormalization\n" + source
    assert "BN001" in codes(source, target="tf1")


@pytest.mark.parametrize("wiring", [
    "model = Model(base_model.input, predictions)",
    "model = Model(input=base_model.input, output=predictions)",
    "model = Model(inputs=[base_model.input], outputs=[predictions])",
    "model = Model(inputs=base_model.inputs, outputs=predictions)",
    "model = Model(inputs=base_model.layers[0].input, outputs=predictions)",
])
def test_every_way_of_wiring(wiring):
    source = FLATTENED_FROZEN.replace("model = Model(inputs=base_model.input, outputs=predictions)", wiring)
    assert codes(source, target="tf1") == ["BN001"]


def test_intermediate_output_is_reported_without_fix():
    source = FLATTENED_FROZEN.replace("(base_model.output)", "(base_model.get_layer('conv4_block6_out').output)")
    [finding] = findings(source, target="tf1")
    assert finding.code == "BN001"
    assert finding.fix is None
    assert "feature extractor" in finding.help


def test_input_tensor_pattern():
    source = """\
    import tensorflow as tf
    from tensorflow.keras.applications.densenet import preprocess_input
    inputs = tf.keras.Input(shape=(224, 224, 3))
    backbone = tf.keras.applications.DenseNet121(include_top=False, input_tensor=inputs)
    backbone.trainable = False
    x = tf.keras.layers.GlobalAveragePooling2D()(backbone.output)
    clf = tf.keras.Model(inputs, tf.keras.layers.Dense(4)(x))
    clf.fit(images, labels)
    """
    [finding] = findings(source, target="tf1")
    assert (finding.code, finding.line) == ("BN001", 7)
    assert "instead of `input_tensor=`" in finding.help
    fixed = fix(source, target="tf1")
    assert "DenseNet121(include_top=False, input_shape=tuple(inputs.shape[1:]))" in fixed
    assert "GlobalAveragePooling2D()(backbone(inputs, training=False))" in fixed
    assert "clf = tf.keras.Model(inputs, " in fixed


@pytest.mark.parametrize("negative", [
    # never frozen: full fine-tuning is not BN001
    FLATTENED_FROZEN.replace("for layer in base_model.layers:\n    layer.trainable = False\n", ""),
    # VGG has no BatchNormalization
    FLATTENED_FROZEN.replace("ResNet50", "VGG16"),
    # random initialisation: nothing pretrained to protect
    FLATTENED_FROZEN.replace('weights="imagenet"', "weights=None"),
    # only the non-BN layers are frozen
    FLATTENED_FROZEN.replace(
        "for layer in base_model.layers:\n    layer.trainable = False",
        "for layer in base_model.layers:\n    if 'bn' not in layer.name:\n        layer.trainable = False"),
])
def test_negatives(negative):
    assert "BN001" not in codes(negative, target="tf1")


def test_nested_base_is_not_bn001():
    source = """\
    from tensorflow import keras
    base = keras.applications.Xception(weights="imagenet", include_top=False)
    base.trainable = False
    inputs = keras.Input(shape=(150, 150, 3))
    x = base(keras.applications.xception.preprocess_input(inputs), training=False)
    model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.GlobalAveragePooling2D()(x)))
    """
    assert codes(source, target="tf1") == []


def test_unresolvable_base_is_not_a_finding():
    source = """\
    import tensorflow_hub as hub
    from tensorflow.keras.models import Model
    # base_model = ResNet50(weights="imagenet")
    base_model = hub.KerasLayer("https://tfhub.dev/google/imagenet/resnet_v2_50/feature_vector/5")
    for layer in base_model.layers:
        layer.trainable = False
    model = Model(base_model.input, base_model.output)
    """
    assert codes(source, target="tf1") == []


def test_noqa_is_returned_not_applied():
    source = FLATTENED_FROZEN.replace("outputs=predictions)", "outputs=predictions)  # noqa: BN001")
    result = analyze(source, target="tf1")
    assert [f.code for f in result.findings] == ["BN001"]
    assert result.suppressions == {(None, 9): frozenset({"BN001"})}


def test_multiline_model_call_statement_line():
    source = FLATTENED_FROZEN.replace(
        "model = Model(inputs=base_model.input, outputs=predictions)",
        "model = Model(\n    inputs=base_model.input,\n    outputs=predictions,\n)")
    [finding] = findings(source, target="tf1")
    assert (finding.line, finding.statement_line, finding.end_line) == (9, 9, 12)


def test_model_builds_for_linking():
    result = analyze(FLATTENED_FROZEN, target="tf1")
    [build] = result.model_builds
    assert (build.architecture, build.kind, build.line, build.column, build.cell) == ("ResNet50", "flattened", 9, 9, None)


def test_two_flattened_bases_in_one_model_are_two_findings():
    source = """\
    import tensorflow as tf
    from tensorflow.keras.applications import ResNet50, DenseNet121
    a = ResNet50(include_top=False, pooling="avg", input_shape=(224, 224, 3))
    b = DenseNet121(include_top=False, pooling="avg", input_shape=(224, 224, 3))
    for net in (a, b):
        net.trainable = False
    merged = tf.keras.layers.Concatenate()([a.output, b.output])
    ensemble = tf.keras.Model([a.input, b.input], tf.keras.layers.Dense(2)(merged))
    ensemble.fit([x, x], y)
    """
    found = findings(source, target="tf1", enabled={"BN001"})
    assert [(f.code, f.line) for f in found] == [("BN001", 8), ("BN001", 8)]
    assert {m for f in found for m in ("ResNet50", "DenseNet121") if m in f.message} == {"ResNet50", "DenseNet121"}
    assert all(f.fix is None for f in found)


def test_bn001_points_at_the_freeze():
    [finding] = findings(FLATTENED_FROZEN, target="tf1")
    [related] = finding.related
    assert (related.path, related.line, related.column) == ("train.py", 11, 5)
    assert related.message == "`base_model` is frozen here"
