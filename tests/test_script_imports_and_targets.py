"""Every import form resolves a pretrained base; the Keras target is inferred from the imports."""
import pytest

from bnlint.target import Semantics
from test_script_support import codes, findings

# A symbolic input from another import keeps the tail independent of the import form above.
TAIL = """
from tensorflow.keras import Input as SymbolicInput
base.trainable = False
y = base(SymbolicInput((224, 224, 3)))
"""


@pytest.mark.parametrize("head", [
    "from keras.applications import ResNet50\nbase = ResNet50()",
    "from keras.applications.resnet50 import ResNet50\nbase = ResNet50()",
    "import keras\nbase = keras.applications.ResNet50()",
    "import keras.applications\nbase = keras.applications.ResNet50()",
    "from keras import applications\nbase = applications.ResNet50()",
    "import tensorflow as tf\nbase = tf.keras.applications.ResNet50()",
    "import tensorflow as tf\nbase = tf.keras.applications.resnet50.ResNet50()",
    "import tensorflow.keras.applications as ka\nbase = ka.ResNet50()",
    "from tensorflow.keras.applications import ResNet50 as Backbone\nbase = Backbone()",
    "from tensorflow.keras.applications.resnet50 import ResNet50\nbase = ResNet50()",
    "from tensorflow import keras\nbase = keras.applications.ResNet50()",
    "from tensorflow.python.keras.applications.resnet50 import ResNet50\nbase = ResNet50()",
    "import tf_keras\nbase = tf_keras.applications.ResNet50()",
    "import tf_keras as keras\nbase = keras.applications.resnet.ResNet50()",
    "from keras.applications import *\nbase = ResNet50()",
    "try:\n    from tensorflow.keras.applications import ResNet50\nexcept ImportError:\n    from keras.applications import ResNet50\nbase = ResNet50()",
    "import keras\nbase, other = keras.applications.ResNet50(), None",
    "import keras\nbackbones = {}\nbase = keras.applications.efficientnet.EfficientNetB0()",
])
def test_import_forms(head):
    assert codes(head + TAIL, enabled={"BN003"}) == ["BN003"]


@pytest.mark.parametrize("head", [
    "from my_models import ResNet50\nbase = ResNet50()",          # someone else's ResNet50
    "import torchvision\nbase = torchvision.models.resnet50(pretrained=True)",
    "import keras\nbase = keras.applications.ResNet50(weights=None)",
    "import keras\nbase = keras.applications.VGG16()",
    "import keras\nbase = keras.applications.ConvNeXtTiny()",
])
def test_not_a_pretrained_bn_base(head):
    assert codes(head + TAIL, enabled={"BN003"}) == []


@pytest.mark.parametrize("source, expected", [
    ("import tf_keras as keras\nbase = keras.applications.ResNet50()", [Semantics.TF2]),
    # today's releases: TensorFlow 2.21 ships Keras 3.15.1, so unpinned tf.keras is Keras 3
    ("import tensorflow as tf\nbase = tf.keras.applications.ResNet50()", [Semantics.KERAS3_OLD]),
    ("from tensorflow.keras.applications import ResNet50\nbase = ResNet50()", [Semantics.KERAS3_OLD]),
    ("import keras\nbase = keras.applications.ResNet50()", [Semantics.KERAS3_OLD]),
    ("from keras.applications.resnet50 import ResNet50\nbase = ResNet50()", [Semantics.KERAS3_OLD]),
    # API only standalone Keras <= 2.3 has
    ("import keras\nfrom keras.engine import Layer\nbase = keras.applications.ResNet50()", [Semantics.STANDALONE_2_1_3]),
    ("import keras\nm = keras.models.Model(input=a, output=b)", [Semantics.STANDALONE_2_1_3]),
    ("import keras\nmodel.fit(x, y, nb_epoch=3)", [Semantics.STANDALONE_2_1_3]),
    # Keras 2-era API (removed in Keras 3): tf.keras 2.x, or for `import keras` either Keras 2
    ("import tensorflow as tf\nmodel.fit_generator(gen)", [Semantics.TF2]),
    # tf.keras of TF 2.21 (Keras 3) still exports ImageDataGenerator; plain keras 3 does not
    ("from tensorflow.keras.preprocessing.image import ImageDataGenerator", [Semantics.KERAS3_OLD]),
    ("import tensorflow as tf\nfrom keras.preprocessing.image import ImageDataGenerator", [Semantics.TF2]),
    ("import tensorflow as tf\nopt = tf.keras.optimizers.Adam(lr=1e-4)", [Semantics.TF2]),
    ("import keras\nbase = keras.applications.ResNet50()\nmodel.fit_generator(gen)",
     [Semantics.STANDALONE_2_1_3, Semantics.TF2]),
    ("from keras import backend as K\nimport keras\nK.set_learning_phase(0)\nbase = keras.applications.ResNet50()",
     [Semantics.STANDALONE_2_1_3, Semantics.TF2]),
    ("import keras\nfrom keras.utils import np_utils\nds = keras.utils.image_dataset_from_directory(d)",
     [Semantics.TF2]),
    # TF 1.x-only API
    ("import tensorflow as tf\nsess = tf.Session()\nbase = tf.keras.applications.ResNet50()", [Semantics.TF1]),
    ("import keras\nimport tensorflow as tf\nconfig = tf.ConfigProto()\nbase = keras.applications.ResNet50()",
     [Semantics.STANDALONE_2_1_3]),
    ("from keras import backend as K\nsess = K.get_session()", [Semantics.STANDALONE_2_1_3]),
    # Keras 3-only API wins
    ("import keras\nfrom keras import ops\ny = keras.ops.mean(x)\nmodel.fit_generator(g)", [Semantics.KERAS3_OLD]),
    ("# model.fit_generator(gen)\nimport keras", [Semantics.KERAS3_OLD]),      # a comment is no evidence
    ("base = make_model()", [Semantics.KERAS3_OLD]),                # no import: today's release
])
def test_target_inferred_from_the_code_era(source, expected):
    from bnlint.script.chunks import parse_python
    from bnlint.script.collector import Collector
    from bnlint.script.facts import Facts
    from bnlint.script.target_inference import infer_targets, note_era_signals
    facts = Facts()
    note_era_signals(facts.imports, source)
    Collector(facts, None).run(parse_python(source).chunks)
    assert [t.semantics for t in infer_targets(facts.imports)] == expected


def test_every_era_signal_names_its_source():
    from bnlint.script.era_signals import SIGNALS
    assert all(signal.source and signal.what for signal in SIGNALS)
    assert {signal.era for signal in SIGNALS} == {"tf1", "keras2", "standalone", "tf2keras", "keras3", "python2"}


def test_every_era_signal_word_is_literal_text_of_its_pattern():
    # The words are a substring test run before the expression: a word the pattern does not
    # spell out (a typo) would silently switch its signal off.
    import re
    from bnlint.script.era_signals import SIGNALS
    for signal in SIGNALS:
        if signal.regex is None:            # noted by the analyzer, not found in the text
            assert not signal.words
            continue
        literal = re.sub(r"\\(.)", r"\1", signal.regex)
        assert signal.words and all(word in literal for word in signal.words), signal.what


def test_inferred_target_shows_in_help():
    source = ("from keras.applications.resnet50 import ResNet50\nfrom keras.layers import Input\n"
              "base = ResNet50()\ny = base(Input((224, 224, 3)))\n")
    [finding] = findings(source, enabled={"BN003"})
    assert finding.help.endswith("[assumed Keras 3 < 3.16: no pins, no Keras 2-era API: today's TensorFlow 2.21 "
                                 "ships Keras 3.15.1; set target-keras to change]")
    assert finding.fix is not None
    [finding] = findings(source.replace("from keras.layers", "from keras.engine.topology import Layer\nfrom keras.layers"),
                         enabled={"BN003"})
    assert "TypeError" in finding.help and finding.fix is None
    assert "[assumed standalone Keras 2.x: imports keras.engine (standalone Keras <= 2.3 only)" in finding.help


def test_explicit_target_wins_over_imports():
    source = "import tf_keras as keras\nbase = keras.applications.ResNet50()\ny = base(keras.Input((224, 224, 3)))\n"
    [finding] = findings(source, target="2.2.4", enabled={"BN003"})
    assert finding.fix is None and "TypeError" in finding.help


def test_load_model_used_as_a_frozen_base():
    source = """\
    from tensorflow.keras.models import load_model, Model
    from tensorflow.keras.layers import Dense
    pretrained = load_model("imagenet_resnet.h5")
    for layer in pretrained.layers:
        layer.trainable = False
    model = Model(pretrained.input, Dense(4)(pretrained.layers[-2].output))
    model.fit(x, y)
    """
    [finding] = findings(source, target="tf1")
    assert (finding.code, finding.line) == ("BN001", 6)
    assert "`pretrained` (a loaded model)" in finding.message
    assert findings(source, target="tf2") == []


def test_load_model_just_evaluated_is_not_a_base():
    source = """\
    import keras
    model = keras.models.load_model("model.keras")
    features = keras.Model(model.input, model.layers[-2].output)
    predictions = model.predict(images)
    """
    assert codes(source) == []


def test_disable_v2_behavior_means_tf1_semantics():
    source = """\
    import tensorflow as tf
    tf.compat.v1.disable_v2_behavior()
    base = tf.keras.applications.MobileNetV2(include_top=False, pooling="avg")
    model = tf.keras.Model(base.input, tf.keras.layers.Dense(2)(base.output))
    base.trainable = False
    model.fit(x, y)
    """
    [finding] = findings(source, enabled={"BN001"})
    assert finding.severity is None                  # the rule's default: error
    assert "tf.keras in TF 1.x: runs disable_v2_behavior() (TF 1.x only)" in finding.help


def test_a_loaded_checkpoint_of_unknown_layers_is_not_assumed_to_hold_bn():
    # a project's own small CNN saved earlier: nothing says it has BatchNormalization layers
    source = """\
    from tensorflow.keras.models import load_model, Model
    from tensorflow.keras.layers import Dense
    pretrained = load_model(PATH)
    for layer in pretrained.layers:
        layer.trainable = False
    model = Model(pretrained.input, Dense(4)(pretrained.layers[-2].output))
    model.fit(x, y)
    """
    assert codes(source.replace("PATH", "args.checkpoint"), target="tf1") == []
    assert codes(source.replace("PATH", '"stage1_cnn.h5"'), target="tf1") == []
    assert codes(source.replace("PATH", '"inception_v3_finetuned.h5"'), target="tf1") == ["BN001"]
