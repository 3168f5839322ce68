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
    "base = ResNet50()",                                          # never imported
    "from my_models import ResNet50\nbase = ResNet50()",          # someone else's ResNet50
    "import torchvision\nbase = torchvision.models.resnet50(pretrained=True)",
    "import keras\nbase = keras.applications.ResNet50(weights=None)",
    "import keras\nbase = keras.applications.VGG16()",
    "import keras\nbase = keras.applications.ConvNeXtTiny()",
])
def test_not_a_pretrained_bn_base(head):
    assert codes(head + TAIL, enabled={"BN003"}) == []


@pytest.mark.parametrize("source, expected", [
    ("import tf_keras as keras\nbase = keras.applications.ResNet50()", Semantics.TF2),
    ("import tensorflow as tf\nbase = tf.keras.applications.ResNet50()", Semantics.TF2),
    ("from tensorflow.keras.applications import ResNet50\nbase = ResNet50()", Semantics.TF2),
    ("import keras\nbase = keras.applications.ResNet50()", Semantics.KERAS3_OLD),
    ("from keras.applications import ResNet50\nbase = ResNet50()", Semantics.KERAS3_OLD),
    ("from keras.applications.resnet50 import ResNet50\nbase = ResNet50()", Semantics.STANDALONE_2_1_3),
    ("import keras\nfrom keras.engine import Layer\nbase = keras.applications.ResNet50()", Semantics.STANDALONE_2_1_3),
    ("import keras\nbase = keras.applications.ResNet50()\nmodel.fit_generator(gen)", Semantics.STANDALONE_2_1_3),
    ("from keras import backend as K\nimport keras\nK.set_learning_phase(0)\nbase = keras.applications.ResNet50()",
     Semantics.STANDALONE_2_1_3),
    ("base = make_model()", Semantics.KERAS3_OLD),                # no import: the default target
])
def test_target_inferred_from_imports(source, expected):
    from bnlint.script.collector import Collector
    from bnlint.script.chunks import parse_python
    from bnlint.script.facts import Facts
    from bnlint.script.target_inference import infer_target
    facts = Facts()
    Collector(facts, None).run(parse_python(source).chunks)
    assert infer_target(facts.imports).semantics is expected


def test_inferred_target_shows_in_help_and_severity():
    source = ("from keras.applications.resnet50 import ResNet50\nfrom keras.layers import Input\n"
              "base = ResNet50()\ny = base(Input((224, 224, 3)))\n")
    [finding] = findings(source, enabled={"BN003"})
    assert "TypeError" in finding.help and finding.fix is None
    [finding] = findings(source.replace("keras.applications.resnet50", "tensorflow.keras.applications"),
                         enabled={"BN003"})
    assert "TypeError" not in finding.help and finding.fix is not None


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
    """
    [finding] = findings(source)
    assert (finding.code, finding.line) == ("BN001", 6)
    assert "`pretrained` (a loaded model)" in finding.message


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
    """
    [finding] = findings(source, enabled={"BN001"})
    assert finding.severity.value == "error" and finding.fix is None
    assert "TF 1.x" in finding.message
