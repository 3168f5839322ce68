"""Patterns seen in public training scripts (bench/realworld), each as a minimal script written here."""
import json
import pathlib
import textwrap

import pytest

import bnlint

from bnlint.script import analyze_script
from test_script_support import codes, context, where

KERAS3 = "keras3"


def test_fragment_without_imports_uses_the_keras_api_names():
    # a template/notebook export: `keras` and `Model` are never imported
    source = """\
    base_model = keras.applications.xception.Xception(weights="imagenet", include_top=False)
    model = keras.Model(inputs=base_model.input, outputs=keras.layers.Dense(2)(base_model.output))
    for layer in base_model.layers:
        layer.trainable = False
    model.compile("adam", "mse")
    model.fit(x, y)
    for layer in base_model.layers:
        layer.trainable = True
    model.compile("sgd", "mse")
    model.fit(x, y)
    """
    assert where(source, target="tf2", enabled={"BN002"}) == [("BN002", 8, 5)]


def test_a_name_the_file_defines_is_not_the_keras_one():
    source = """\
    def ResNet50(input_shape):
        return build_my_resnet(input_shape)
    base = ResNet50((64, 64, 3))
    y = base(inputs)
    """
    assert codes(source, enabled={"BN003"}) == []


def test_keras_core_is_keras_3():
    source = """\
    import keras_core as keras
    backbone = keras.applications.MobileNetV2(weights="imagenet", include_top=False)
    backbone.trainable = False
    inputs = keras.Input((224, 224, 3))
    x = backbone(inputs)
    """
    assert where(source, enabled={"BN003"}) == [("BN003", 5, 5)]


def test_constructor_picked_from_a_dict():
    source = """\
    import keras.applications as ka
    from keras.models import Model
    from keras.layers import Dense
    base_models = {"xception": (ka.Xception, ka.xception.preprocess_input),
                   "mobilenet": (ka.MobileNetV2, ka.mobilenet_v2.preprocess_input)}
    constructor = base_models[name][0]
    base = constructor(include_top=False, weights="imagenet", pooling="avg")
    model = Model(inputs=base.input, outputs=Dense(2)(base.output))
    for layer in base.layers[:-10]:
        layer.trainable = False
    model.compile("sgd", "mse")
    model.fit(x, y)
    """
    assert set(codes(source, target="2.2.4", enabled={"BN001", "BN002"})) == {"BN001", "BN002"}


def test_guard_inside_a_compound_condition():
    # keras-io: unfreeze from a block on, but never the BatchNormalization layers
    source = """\
    from tensorflow import keras
    from tensorflow.keras import layers
    base = keras.applications.MobileNetV2(weights="imagenet", include_top=False, pooling="avg")
    base.trainable = False
    inputs = keras.Input((224, 224, 3))
    model = keras.Model(inputs, layers.Dense(2)(base(inputs, training=False)))
    model.compile("adam", "mse")
    model.fit(x, y)
    set_trainable = False
    for layer in base.layers:
        if "block_10" in layer.name:
            set_trainable = True
        if set_trainable and not isinstance(layer, layers.BatchNormalization):
            layer.trainable = True
    model.compile("adam", "mse")
    model.fit(x, y)
    """
    assert codes(source, target=KERAS3, enabled={"BN002"}) == []


def test_flag_set_from_a_layer_name_selects_some_layers():
    # Kaggle: layers before `conv5_block1_preact_bn` frozen, the rest trainable
    source = """\
    import tensorflow as tf
    base = tf.keras.applications.ResNet50V2(weights="imagenet", include_top=False, pooling="avg")
    set_trainable = False
    for layer in base.layers:
        if layer.name == "conv5_block1_preact_bn":
            set_trainable = True
        if set_trainable:
            layer.trainable = True
        else:
            layer.trainable = False
    model = tf.keras.Sequential([base, tf.keras.layers.Dense(4)])
    model.compile("adam", "mse")
    model.fit(x, y)
    """
    assert codes(source, target=KERAS3, enabled={"BN002"}) == ["BN002"]


def test_super_init_and_static_helper_of_a_base_class():
    source = """\
    from keras.applications.inception_v3 import InceptionV3
    from keras.layers import Dense
    from keras.models import Model

    class BaseModel(object):
        def __init__(self, freeze=None):
            self.freeze_layers_number = freeze
        @staticmethod
        def make_net_layers_non_trainable(model):
            for layer in model.layers:
                layer.trainable = False
        def train(self):
            self._create()
            self.model.compile("sgd", "mse")
            self.model.fit_generator(batches, epochs=3)

    class Inception(BaseModel):
        def __init__(self, *args, **kwargs):
            super(Inception, self).__init__(*args, **kwargs)
        def _create(self):
            base = InceptionV3(include_top=False, pooling="avg")
            self.make_net_layers_non_trainable(base)
            self.model = Model(input=base.input, output=Dense(5)(base.output))

    Inception().train()
    """
    assert where(source, enabled={"BN001"}) == [("BN001", 23, 22)]


def test_sys_path_append_and_imports_from_the_project_root(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "nets.py").write_text(textwrap.dedent("""\
        import tensorflow as tf
        def build():
            base = tf.keras.applications.ResNet50(weights="imagenet", include_top=False, pooling="avg")
            for layer in base.layers[:-20]:
                layer.trainable = False
            return tf.keras.Model(base.input, tf.keras.layers.Dense(3)(base.output))
        """))
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text(
        "import sys\nsys.path.append('../lib')\nfrom nets import build\nmodel = build()\nmodel.fit(x, y)\n")
    (tmp_path / "src" / "train_root.py").write_text("from lib.nets import build\nmodel = build()\nmodel.fit(x, y)\n")
    for name, line in (("train.py", 4), ("train_root.py", 2)):
        script = tmp_path / "src" / name
        result = analyze_script(script, name, script.read_bytes(), context(KERAS3, enabled={"BN002"}))
        assert [(f.code, f.line) for f in result.findings] == [("BN002", line)], name


def test_utf16_environment_file_pins_the_target(tmp_path):
    from bnlint.pins import target_for_folder
    (tmp_path / ".git").mkdir()
    (tmp_path / "environment.yml").write_bytes("dependencies:\n  - tensorflow-gpu==2.8.0\n".encode("utf-16"))
    target = target_for_folder(tmp_path)
    assert target is not None and target.semantics.value == "tf2"


def test_encoder_extracted_from_a_base_is_itself_a_base():
    # TensorFlow segmentation tutorial: a frozen MobileNetV2 encoder called without training=False
    source = """\
    import tensorflow as tf
    base_model = tf.keras.applications.MobileNetV2(input_shape=[128, 128, 3], include_top=False)
    names = ["block_1_expand_relu", "block_3_expand_relu", "block_16_project"]
    outputs = [base_model.get_layer(name).output for name in names]
    down_stack = tf.keras.Model(inputs=base_model.input, outputs=outputs)
    down_stack.trainable = False

    def unet_model(output_channels):
        inputs = tf.keras.layers.Input(shape=[128, 128, 3])
        skips = down_stack(inputs)
        return tf.keras.Model(inputs=inputs, outputs=tf.keras.layers.Conv2D(output_channels, 3)(skips[-1]))

    model = unet_model(3)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(train_batches, epochs=20)
    """
    assert where(source, target=KERAS3, enabled={"BN001", "BN002", "BN003", "BN006"}) == [
        ("BN006", 2, 14), ("BN003", 10, 13)]


RESNET_HEAD = """\
import tensorflow as tf
base = tf.keras.applications.ResNet50(weights="imagenet", include_top=False)
x = tf.keras.layers.GlobalAveragePooling2D()(base.output)
x = tf.keras.layers.Dense(256, activation="relu")(x)
model = tf.keras.Model(base.input, tf.keras.layers.Dense(2)(x))
"""


@pytest.mark.parametrize("freeze, expected", [
    # ResNet50 without its top has 175 layers: these slices of the combined model cover it all
    ("for layer in model.layers[:175]:\n    layer.trainable = False\nfor layer in model.layers[175:]:\n"
     "    layer.trainable = True\n", []),
    ("for layer in model.layers[:-3]:\n    layer.trainable = False\n", []),
    # layers[:2] are the input and the padding layer: nothing with weights, full fine-tuning
    ("for layer in model.layers[:2]:\n    layer.trainable = False\nfor layer in model.layers[2:]:\n"
     "    layer.trainable = True\n", []),
    # a prefix that leaves the last blocks (and their BN layers) training
    ("for layer in model.layers[:143]:\n    layer.trainable = False\n", ["BN002"]),
    ("for layer in base.layers[:-20]:\n    layer.trainable = False\n", ["BN002"]),
])
def test_slices_are_mapped_to_the_base_layers_they_reach(freeze, expected):
    source = RESNET_HEAD + freeze + "model.compile('adam', 'mse')\nmodel.fit(x, y)\n"
    assert codes(source, target=KERAS3, enabled={"BN002"}) == expected


def test_loaded_weights_make_a_base_pretrained():
    source = """\
    import tensorflow as tf
    base = tf.keras.applications.InceptionV3(weights=None, include_top=False, input_shape=(150, 150, 3))
    base.load_weights("inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5")
    for layer in base.layers:
        layer.trainable = False
    x = tf.keras.layers.Flatten()(base.get_layer("mixed7").output)
    model = tf.keras.Model(base.input, tf.keras.layers.Dense(1)(x))
    model.compile("adam", "binary_crossentropy")
    model.fit(train, epochs=5)
    unfreeze = False
    for layer in base.layers:
        if unfreeze:
            layer.trainable = True
        if layer.name == "mixed6":
            unfreeze = True
    model.compile("sgd", "binary_crossentropy")
    model.fit(train, epochs=5)
    """
    assert codes(source, target=KERAS3, enabled={"BN002"}) == ["BN002"]
    assert codes(source.replace('base.load_weights(', 'print('), target=KERAS3, enabled={"BN002"}) == []


# --- the three public examples of issue 11, as minimal reproductions written here ---------------

TF_TRANSFER_LEARNING_TUTORIAL = """\
import tensorflow as tf

train_dataset = tf.keras.utils.image_dataset_from_directory("cats_and_dogs/train", image_size=(160, 160))
preprocess_input = tf.keras.applications.mobilenet_v2.preprocess_input
base_model = tf.keras.applications.MobileNetV2(input_shape=(160, 160, 3), include_top=False, weights="imagenet")
base_model.trainable = False
inputs = tf.keras.Input(shape=(160, 160, 3))
x = preprocess_input(inputs)
x = base_model(x, training=False)
x = tf.keras.layers.GlobalAveragePooling2D()(x)
outputs = tf.keras.layers.Dense(1)(x)
model = tf.keras.Model(inputs, outputs)
model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate=0.0001), loss="binary_crossentropy")
history = model.fit(train_dataset, epochs=10)

base_model.trainable = True
fine_tune_at = 100
for layer in base_model.layers[:fine_tune_at]:
    layer.trainable = False
model.compile(optimizer=tf.keras.optimizers.RMSprop(learning_rate=0.00001), loss="binary_crossentropy")
history_fine = model.fit(train_dataset, epochs=20, initial_epoch=history.epoch[-1])
"""


def test_tf_transfer_learning_tutorial_is_bn002_on_todays_keras():
    # unpinned tf.keras today is TensorFlow 2.21's Keras 3.15.1: fit() overrides training=False
    [finding] = [f for f in analyze_script(pathlib.Path("t.py"), "t.py", TF_TRANSFER_LEARNING_TUTORIAL.encode(),
                                           context()).findings if f.code in ("BN001", "BN002", "BN003")]
    assert (finding.code, finding.line) == ("BN002", 16)
    assert "keras-team/keras#20285" in finding.message
    assert finding.help.endswith("[assumed Keras 3 < 3.16: no pins, no Keras 2-era API: today's TensorFlow 2.21 "
                                 "ships Keras 3.15.1; set target-keras to change]")
    # pinned to TensorFlow 2.15 (tf.keras 2.x), the nested training=False holds
    assert codes(TF_TRANSFER_LEARNING_TUTORIAL, target="tf-2.15", enabled={"BN001", "BN002", "BN003"}) == []


def test_keras_io_efficientnet_fine_tuning_is_clean_on_todays_keras():
    from test_script_support import FIXTURES
    path = FIXTURES / "efficientnet_input_tensor.py"   # input_tensor=, frozen, unfreezes the top keeping BN frozen
    result = analyze_script(path, path.name, path.read_bytes(), context(enabled={"BN001", "BN002"}))
    assert result.findings == []


def test_submodule_of_a_project_package_and_its_keras_import_date_the_script(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / "src" / "models").mkdir(parents=True)        # a namespace package: no __init__.py
    (tmp_path / "src" / "models" / "effnet.py").write_text(textwrap.dedent("""\
        from keras.applications import EfficientNetB0
        from keras.layers import Dense
        from keras.models import Model
        def build():
            base = EfficientNetB0(weights="imagenet", include_top=False, pooling="avg")
            for layer in base.layers:
                layer.trainable = False
            return Model(input=base.input, output=Dense(3)(base.output))
        """))
    script = tmp_path / "train.py"
    script.write_text("from src.models import effnet\nmodel = effnet.build()\nmodel.compile('sgd', 'mse')\n"
                      "model.fit_generator(batches, epochs=3)\n")
    result = analyze_script(script, "train.py", script.read_bytes(), context(enabled={"BN001"}))
    # the module's `Model(input=...)` says standalone Keras: BN001 is an error, on the line that built it
    assert [(f.code, f.line, f.severity) for f in result.findings] == [("BN001", 2, None)]
    assert "[assumed standalone Keras 2.x: calls Model(input=..., output=...)" in result.findings[0].help


def test_a_module_level_number_bounds_a_slice():
    source = RESNET_HEAD.replace("import tensorflow as tf\n", "import tensorflow as tf\nFREEZE_LAYERS = 2\n") + (
        "for layer in model.layers[:FREEZE_LAYERS]:\n    layer.trainable = False\n"
        "for layer in model.layers[FREEZE_LAYERS:]:\n    layer.trainable = True\n"
        "model.compile('adam', 'mse')\nmodel.fit(x, y)\n")
    assert codes(source, target=KERAS3, enabled={"BN002"}) == []


_LAYER_INDEX_SCRIPT = """\
import tensorflow as tf
from tensorflow.keras import layers
augment = tf.keras.Sequential([layers.RandomFlip("horizontal")])
base = tf.keras.applications.EfficientNetV2B0(include_top=False)
base.trainable = False
inputs = layers.Input(shape=(224, 224, 3))
x = augment(inputs)
x = base(x, training=False)
x = layers.GlobalAveragePooling2D()(x)
outputs = layers.Dense(10)(x)
model = tf.keras.Model(inputs, outputs)
model.compile("adam", "mse")
model.fit(data, epochs=5)
inner = model.layers[INDEX]
inner.trainable = True
for layer in inner.layers[:-10]:
    layer.trainable = False
model.compile("adam", "mse")
model.fit(data, epochs=10)
"""


@pytest.mark.parametrize("index", ["2", "-3"])
def test_model_layers_index_is_the_nested_base(index):
    # Input (0) -> augment (1) -> base (2) -> pooling -> Dense: `model.layers[2]` / `[-3]` is the base;
    # unfreezing it retrains BN on Keras 3.0-3.15 despite the nested training=False
    source = _LAYER_INDEX_SCRIPT.replace("INDEX", index)
    assert where(source, target=KERAS3, enabled={"BN002"}) == [("BN002", 15, 1)]
    assert where(source, target="tf2", enabled={"BN002"}) == []


def test_model_layers_index_of_another_layer_is_not_the_base():
    source = _LAYER_INDEX_SCRIPT.replace("INDEX", "1")     # the augmentation model
    assert where(source, target=KERAS3, enabled={"BN002"}) == []


def test_model_layers_index_after_merging_tensors_is_unknown():
    # two branches merged: Keras orders the layers by depth, bnlint does not guess which is [3]
    source = """\
    import keras
    base = keras.applications.ResNet50(include_top=False, weights="imagenet")
    base.trainable = False
    a = keras.Input((224, 224, 3))
    b = keras.Input((4,))
    x = keras.layers.GlobalAveragePooling2D()(base(a, training=False))
    x = keras.layers.Concatenate()([x, keras.layers.Dense(8)(b)])
    model = keras.Model([a, b], keras.layers.Dense(1)(x))
    model.compile("adam", "mse")
    model.fit(data)
    model.layers[3].trainable = True
    model.compile("adam", "mse")
    model.fit(data)
    """
    assert [c for c, _, _ in where(source, target=KERAS3, enabled={"BN002"})] == []


def test_sequential_layers_index_is_the_nested_base():
    source = """\
    import keras
    base = keras.applications.MobileNetV2(include_top=False, weights="imagenet", pooling="avg")
    base.trainable = False
    model = keras.Sequential([keras.Input((224, 224, 3)), base, keras.layers.Dense(3)])
    model.compile("adam", "mse")
    model.fit(x, y)
    model.layers[0].trainable = True
    model.compile("adam", "mse")
    model.fit(x, y)
    """
    assert where(source, target=KERAS3, enabled={"BN002"}) == [("BN002", 7, 1)]


def test_code_after_an_unconditional_raise_does_not_run():
    source = """\
    from tensorflow.keras.applications import ResNet50
    from tensorflow.keras.layers import BatchNormalization

    def build(train_bn):
        raise NotImplementedError("untested")
        base = ResNet50(weights="imagenet", include_top=False, pooling="avg")
        model = tf.keras.Model(base.input, tf.keras.layers.Dense(2)(base.output))
        base.trainable = False
        model.compile("adam", "mse")
        model.fit(x, y)
        for layer in base.layers:
            layer.trainable = isinstance(layer, BatchNormalization)
        model.compile("adam", "mse")
        model.fit(x, y)

    build(True)
    """
    assert where(source, target="tf2", enabled={"BN002"}) == []
    # a raise caught by the function's own try does not end it
    caught = source.replace('        raise NotImplementedError("untested")\n',
                            '        try:\n            raise ValueError\n        except ValueError:\n            pass\n')
    assert [c for c, _, _ in where(caught, target="tf2", enabled={"BN002"})] == ["BN002"]


def _deep_project(tmp_path, script_imports="tensorflow.keras"):
    """script (a __main__ block only) -> utils/__init__ -> utils/trainer.py (fit) -> nets/__init__ ->
    nets/inception.py (a flattened InceptionResNetV2 with its top 780-428 layers trainable)."""
    (tmp_path / ".git").mkdir()
    (tmp_path / "requirements.txt").write_text("Keras==2.3.1\ntensorflow==2.0.0\n")
    (tmp_path / "nets").mkdir()
    (tmp_path / "nets" / "__init__.py").write_text("from .inception import InceptionNet\n")
    (tmp_path / "nets" / "inception.py").write_text(textwrap.dedent(f"""\
        from {script_imports}.models import Model
        from {script_imports} import layers
        from {script_imports}.applications import InceptionResNetV2
        class InceptionNet:
            def build(self, size):
                base_model = InceptionResNetV2(weights="imagenet", include_top=False, input_shape=(size, size, 3))
                x = layers.GlobalAveragePooling2D()(base_model.output)
                return Model(inputs=base_model.input, outputs=layers.Dense(1)(x))
            def freeze(self, model):
                for layer in model.layers[:428]:
                    layer.trainable = False
                for layer in model.layers[428:]:
                    layer.trainable = True
                return model
        """))
    (tmp_path / "utils").mkdir()
    (tmp_path / "utils" / "__init__.py").write_text("from .trainer import Trainer\n")
    (tmp_path / "utils" / "trainer.py").write_text(textwrap.dedent("""\
        from nets import InceptionNet
        class Trainer:
            def get_model(self, size):
                net = InceptionNet()
                model = net.build(size)
                return net.freeze(model), model
            def train(self, model, data):
                model.compile(loss="binary_crossentropy", optimizer="sgd")
                model.fit_generator(data, epochs=50)
        """))
    script = tmp_path / "pretrain.py"
    script.write_text(textwrap.dedent("""\
        import argparse
        from utils import Trainer

        if __name__ == "__main__":
            trainer = Trainer()
            _, model = trainer.get_model(224)
            trainer.train(model, batches)
        """))
    return script


def test_an_entry_point_leaving_everything_to_project_packages(tmp_path):
    # nothing Keras in the script: the model, its freezing and fit() are two packages away, and
    # the pins' tensorflow decides for the tf.keras code (not the keras 2.3.1 pin beside it)
    script = _deep_project(tmp_path)
    found = bnlint.check_paths([str(script)], select=["BN001", "BN002"], use_config=False)
    assert [(f.code, f.line) for f in found] == [("BN002", 6)]
    assert "requirements.txt pins tensorflow 2.0.0" in found[0].help


def test_the_keras_pin_decides_for_code_importing_keras(tmp_path):
    script = _deep_project(tmp_path, script_imports="keras")
    found = bnlint.check_paths([str(script)], select=["BN001", "BN002"], use_config=False)
    assert [(f.code, f.line) for f in found] == [("BN001", 6), ("BN002", 6)]
    assert "requirements.txt pins keras 2.3.1" in found[0].help


def test_constructor_looked_up_by_getattr_over_a_table_of_names():
    # `from keras.applications import *` binds the submodules too; the class comes from a dict
    source = """\
    from keras.applications import *
    from keras.layers import Input, Dense
    from keras.models import Model
    MODULES = {"densenet121": "densenet", "resnet50": "resnet50"}
    CLASSES = {"densenet121": "DenseNet121", "resnet50": "ResNet50"}

    def pretrained_model(name):
        image = Input(shape=(224, 224, 3))
        base_class = getattr(globals()[MODULES[name]], CLASSES[name])
        base = base_class(include_top=False, weights="imagenet", pooling="avg")
        x = base(image)
        return Model(inputs=image, outputs=Dense(10)(x))
    """
    assert where(source, target="tf2", enabled={"BN003"}) == [("BN003", 11, 9)]


def test_layers_of_get_layer_are_the_nested_base():
    # only a nested model has `.layers`: `model.get_layer(name).layers` are the base's
    source = """\
    import tensorflow as tf
    base = tf.keras.applications.Xception(include_top=False, weights="imagenet", pooling="avg")
    inputs = tf.keras.Input((299, 299, 3))
    model = tf.keras.Model(inputs, tf.keras.layers.Dense(5)(base(inputs)))
    for layer in model.get_layer(name).layers:
        layer.trainable = False
    model.compile("adam", "mse")
    model.fit(x, y)
    for layer in model.get_layer(name).layers:
        layer.trainable = True
    model.compile("adam", "mse")
    model.fit(x, y)
    """
    assert [c for c, _, _ in where(source, target=KERAS3, enabled={"BN002"})] == ["BN002"]


_EVAL_SCRIPT = """\
from keras.applications.inception_resnet_v2 import InceptionResNetV2
from keras.applications.vgg19 import VGG19
from keras.layers import Dense
from keras.models import Model

def build(model_name):
    base_model = eval('{}(include_top=False, weights="imagenet", pooling="avg")'.format(model_name))
    for layer in base_model.layers:
        layer.trainable = False
    model = Model(inputs=base_model.input, outputs=Dense(3)(base_model.output))
    model.compile("sgd", "categorical_crossentropy")
    model.fit_generator(batches, epochs=5)
"""


def test_eval_of_a_constructor_string_with_an_unknown_name():
    # the name is a command-line choice: any application constructor the file has in scope
    assert where(_EVAL_SCRIPT, target="standalone", enabled={"BN001"}) == [("BN001", 10, 13)]


def test_eval_of_a_constructor_string_with_a_known_name():
    source = _EVAL_SCRIPT + "build('VGG19')\n"      # VGG19 has no BN layers
    assert where(source, target="standalone", enabled={"BN001"}) == []


def test_an_attribute_set_in_one_branch_keeps_what_the_other_set():
    source = """\
    import tensorflow as tf

    class Trainer:
        def __call__(self, stages):
            if 1 in stages:
                self.base = tf.keras.applications.ResNet50(include_top=False, weights="imagenet", pooling="avg")
                self.base.trainable = False
                self.model = tf.keras.Sequential([self.base, tf.keras.layers.Dense(2)])
                self.model.compile("adam", "mse")
                self.model.fit(x, y)
            if 2 in stages:
                if len(stages) == 1:
                    self.model = tf.keras.models.load_model("stage1.keras")
                for layer in self.base.layers[-20:]:
                    layer.trainable = True
                self.model.compile("adam", "mse")
                self.model.fit(x, y)

    Trainer()([1, 2])
    """
    assert [c for c, _, _ in where(source, target=KERAS3, enabled={"BN002"})] == ["BN002"]


def test_a_project_architecture_with_batchnorm_that_loads_trained_weights():
    # YOLOv3's Darknet body: the project's own layers with BN, trained weights loaded, a prefix frozen
    source = """\
    from keras.layers import Input, Conv2D, BatchNormalization, LeakyReLU, Lambda
    from keras.models import Model

    def body(inputs):
        x = Conv2D(32, 3, use_bias=False)(inputs)
        x = BatchNormalization()(x)
        return Model(inputs, LeakyReLU(0.1)(x))

    image = Input(shape=(None, None, 3))
    model_body = body(image)
    model_body.load_weights("model_data/yolo_weights.h5", by_name=True)
    for i in range(185):
        model_body.layers[i].trainable = False
    loss = Lambda(lambda t: t)([*model_body.output])
    model = Model([model_body.input, truth], loss)
    model.compile("adam", loss={"yolo_loss": lambda y_true, y_pred: y_pred})
    model.fit_generator(batches, epochs=50)
    """
    assert [c for c, _, _ in where(source, target="standalone", enabled={"BN001"})] == ["BN001"]
    # without trained weights it is trained from scratch: nothing pretrained to protect
    scratch = source.replace('    model_body.load_weights("model_data/yolo_weights.h5", by_name=True)\n', "")
    assert where(scratch, target="standalone", enabled={"BN001", "BN002"}) == []


def test_a_notebook_importing_a_subclassed_model_from_a_drive_folder(tmp_path):
    # Colab: sys.path points at the author's Drive; the module is in this checkout's python_files/Keras.
    # `layers_unfreeze=20 > 0` is known, so only the partial freeze runs: the last 20 layers' BN train.
    (tmp_path / ".git").mkdir()
    (tmp_path / "python_files" / "Keras").mkdir(parents=True)
    (tmp_path / "python_files" / "Keras" / "resnet_tl.py").write_text(textwrap.dedent("""\
        from tensorflow.keras.models import Model
        from tensorflow.keras.layers import Dense, Flatten
        from tensorflow.keras.applications import ResNet50

        class resnet50(Model):
            def __init__(self, classes=10, layers_unfreeze=0):
                super().__init__()
                self.res = ResNet50(include_top=False)
                self.unfreeze = layers_unfreeze
                self.flatten = Flatten()
                self.fc = Dense(classes, activation="softmax")

            def call(self, inputs):
                if self.unfreeze > 0:
                    for layer in self.res.layers[:-self.unfreeze]:
                        layer.trainable = False
                else:
                    for layer in self.res.layers:
                        layer.trainable = False
                return self.fc(self.flatten(self.res(inputs)))
        """))
    cells = [
        "import sys\nsys.path.append('/content/drive/MyDrive/Project/python_files/Keras')",
        "import tensorflow as tf\nfrom resnet_tl import resnet50",
        "res = resnet50(classes=10, layers_unfreeze=20)\nres.compile(optimizer='adam', loss='categorical_crossentropy')",
        "res.fit(x=X_train, y=Y_train, epochs=5)",
    ]
    notebook = tmp_path / "Driver.ipynb"
    notebook.write_text(json.dumps({
        "cells": [{"cell_type": "code", "source": c, "metadata": {}, "outputs": [], "execution_count": None}
                  for c in cells],
        "metadata": {"kernelspec": {"name": "python3", "language": "python"}}, "nbformat": 4, "nbformat_minor": 5}))
    found = bnlint.check_paths([str(notebook)], select=["BN002"], target_keras="keras3", use_config=False)
    assert [(f.code, f.cell) for f in found] == [("BN002", 3)]
    # an explicit training=False in a subclass's call() is honoured by every Keras that accepts it
    # (only a Functional model replays its recorded calls with fit()'s training, keras-team/keras#20285)
    module = tmp_path / "python_files" / "Keras" / "resnet_tl.py"
    module.write_text(module.read_text().replace("self.res(inputs)", "self.res(inputs, training=False)"))
    assert bnlint.check_paths([str(notebook)], select=["BN002"], target_keras="keras3", use_config=False) == []
    module.write_text(module.read_text().replace("self.res(inputs, training=False)", "self.res(inputs)"))
    # with every layer frozen (layers_unfreeze=0) nothing trains
    notebook.write_text(notebook.read_text().replace("layers_unfreeze=20", "layers_unfreeze=0"))
    assert bnlint.check_paths([str(notebook)], select=["BN002"], target_keras="keras3", use_config=False) == []


def test_an_index_loop_over_a_count_of_the_layers():
    # `range(len(model.layers) - 3)` spans `model.layers[:-3]`: here exactly the flattened base
    source = """\
    from keras.applications import NASNetMobile
    from keras.layers import GlobalAveragePooling2D, Dropout, Dense
    from keras.models import Model

    class Net:
        def __init__(self, dropout=None, batchnorm=False):
            base = NASNetMobile(weights="imagenet", include_top=False)
            self.new_layers = 2
            x = GlobalAveragePooling2D()(base.output)
            if dropout and (batchnorm is False):
                x = Dropout(dropout)(x)
                self.new_layers += 1
            self.model = Model(base.input, Dense(10)(x))

        def freeze(self):
            for i in range(len(self.model.layers) - self.new_layers):
                self.model.layers[i].trainable = False

    for learning_rate in [0.1, 0.01]:
        net = Net(dropout=0.5)      # a float argument decides `if dropout and (batchnorm is False)`
        net.freeze()
        net.model.compile("sgd", "categorical_crossentropy")
        net.model.fit_generator(batches, epochs=3)
    """
    assert [c for c, _, _ in where(source, target="standalone", enabled={"BN001", "BN002"})] == ["BN001"]
    # 40 layers short of the base: its last BN layers train while the rest is frozen
    short = source.replace("self.new_layers += 1", "self.new_layers += 40")
    assert sorted(c for c, _, _ in where(short, target="standalone", enabled={"BN001", "BN002"})) == ["BN001", "BN002"]


def test_outputs_unpacked_from_a_comprehension_make_a_feature_extractor():
    # RetinaNet: `c3, c4, c5 = [backbone.get_layer(n).output for n in names]`
    source = """\
    import keras

    def get_backbone():
        backbone = keras.applications.ResNet50(include_top=False, input_shape=[None, None, 3])
        c3, c4, c5 = [backbone.get_layer(n).output for n in ["conv3_block4_out", "conv4_block6_out", "conv5_block3_out"]]
        return keras.Model(inputs=[backbone.inputs], outputs=[c3, c4, c5])

    class RetinaNet(keras.Model):
        def __init__(self, backbone=None):
            super().__init__()
            self.backbone = backbone if backbone else get_backbone()

        def call(self, images, training=False):
            c3, c4, c5 = self.backbone(images, training=training)
            return c5

    backbone = get_backbone()
    model = RetinaNet(backbone)
    model.compile(optimizer="sgd", loss="mse")
    model.fit(train_dataset, epochs=1)
    """
    # the two possible backbones (the argument, or a new one) are one finding at the call
    assert where(source, target=KERAS3, enabled={"BN003"}) == [("BN003", 14, 22)]


def test_a_model_called_in_a_tf_module_method_runs_on_data():
    # DeepDream: forward passes in a tf.Module, nothing is built or trained
    source = """\
    import tensorflow as tf
    base_model = tf.keras.applications.InceptionV3(include_top=False, weights="imagenet")
    dream_model = tf.keras.Model(inputs=base_model.input, outputs=base_model.get_layer("mixed3").output)

    def calc_loss(img, model):
        img_batch = tf.expand_dims(img, axis=0)
        return tf.reduce_mean(model(img_batch))

    class DeepDream(tf.Module):
        def __init__(self, model):
            self.model = model

        def __call__(self, img):
            return calc_loss(img, self.model)

    DeepDream(dream_model)(image)
    """
    assert where(source, target=KERAS3, enabled={"BN003"}) == []


def test_a_loaded_model_named_after_its_architecture_partly_unfrozen_by_name():
    source = """\
    from tensorflow.keras.models import load_model
    model_dir = "/media/models/EffnetV2m_R1_5Class.h5"
    model = load_model(model_dir)
    model.trainable = True
    set_trainable = False
    for layer in model.layers:
        if layer.name.startswith("block7"):
            set_trainable = True
        if set_trainable:
            layer.trainable = True
        else:
            layer.trainable = False
    model.compile("adam", "categorical_crossentropy")
    model.fit(train_generator, epochs=10)
    """
    assert [c for c, _, _ in where(source, target="tf2", enabled={"BN002"})] == ["BN002"]


_SIAMESE = """\
import keras
import tensorflow as tf
base_cnn = keras.applications.ResNet50(weights="imagenet", input_shape=(200, 200, 3), include_top=False)
embedding = keras.Model(base_cnn.input, keras.layers.Dense(256)(keras.layers.Flatten()(base_cnn.output)))
trainable = False
for layer in base_cnn.layers:
    if layer.name == "conv5_block1_out":
        trainable = True
    layer.trainable = trainable
"""


def test_a_flag_turned_on_at_a_layer_freezes_only_the_layers_before_it():
    # keras-io siamese_network: conv5 (with its BN layers) trains, the rest is frozen
    source = _SIAMESE + "embedding.compile('adam', 'mse')\nembedding.fit(x, y)\n"
    assert [(c, line) for c, line, _ in where(source, target=KERAS3, enabled={"BN002"})] == [("BN002", 9)]


def test_a_custom_train_step_without_training_true_runs_bn_in_inference():
    # the model is called in train_step without `training=True`: Keras passes no flag, BN uses the
    # moving statistics, so the trainable conv5 BN layers do not drift
    model = """\
class SiameseModel(keras.Model):
    def __init__(self, network):
        super().__init__()
        self.network = network

    def call(self, inputs):
        return self.network(inputs)

    def train_step(self, data):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(self.network(data)CALL)
        gradients = tape.gradient(loss, self.network.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.network.trainable_weights))
        return {"loss": loss}

siamese = SiameseModel(embedding)
siamese.compile(optimizer="adam")
siamese.fit(train_dataset, epochs=10)
"""
    source = _SIAMESE + model.replace("CALL", "")
    assert where(source, target=KERAS3, enabled={"BN002"}) == []
    trained = _SIAMESE + model.replace("self.network(data)CALL", "self.network(data, training=True)")
    assert [c for c, _, _ in where(trained, target=KERAS3, enabled={"BN002"})] == ["BN002"]


def test_an_index_test_against_the_base_layer_count_freezes_the_base():
    # `False if idx < len(base_model.layers) else True` over the combined model: the base, all of it
    source = """\
    from keras.applications.inception_v3 import InceptionV3
    from keras.layers import Dense, GlobalAveragePooling2D
    from keras.models import Model
    base_model = InceptionV3(weights="imagenet", include_top=False)
    model = Model(base_model.input, Dense(228)(GlobalAveragePooling2D()(base_model.output)))
    for idx_layer, layer in enumerate(model.layers):
        layer.trainable = False if idx_layer < len(base_model.layers) else True
    model.compile("rmsprop", "mse")
    model.fit_generator(batches, epochs=5)
    """
    assert [c for c, _, _ in where(source, target="standalone", enabled={"BN001", "BN002"})] == ["BN001"]
