"""Pretrained bases from model zoos beyond keras.applications (docs/model-zoos.md): how each
provider's constructor is read, and the verdict the rules give on it."""
import pathlib

import pytest

from bnlint.script.chunks import parse_python
from bnlint.script.collector import Collector
from bnlint.script.facts import Facts
from test_script_support import codes, findings, where

TARGETS = ["standalone-2.1.3+", "tf1", "tf2", "keras3<3.16", "keras3>=3.16"]


def facts_of(source: str) -> Facts:
    facts = Facts()
    Collector(facts, pathlib.Path("train.py")).run(parse_python(source).chunks)
    return facts


# --- segmentation_models ---------------------------------------------------------------------

SM_ENCODER_FREEZE = """\
import segmentation_models as sm

BACKBONE = "resnet34"
preprocess_input = sm.get_preprocessing(BACKBONE)
model = sm.Unet(BACKBONE, encoder_weights="imagenet", encoder_freeze=True, classes=3)
model.compile("Adam", loss=sm.losses.bce_jaccard_loss, metrics=[sm.metrics.iou_score])
model.fit(x_train, y_train, epochs=2)

sm.utils.set_trainable(model)
model.fit(x_train, y_train, epochs=100)
"""


@pytest.mark.parametrize("target", TARGETS)
def test_sm_encoder_freeze_is_bn002_at_the_constructor_on_every_keras(target):
    [finding] = findings(SM_ENCODER_FREEZE, target=target)
    assert (finding.code, finding.line, finding.column) == ("BN002", 5, 9)
    assert "`model` (segmentation_models.Unet(resnet34)) is built with `encoder_freeze=True`" in finding.message
    assert "its encoder's BN layers train" in finding.message
    if target.startswith(("tf2", "keras3")):
        assert 'does not start with ("decoder_", "center_block")' in finding.help
        assert "sm.utils.set_trainable(model)" in finding.help
    assert [(r.line, r.message) for r in finding.related] == [
        (7, "trained here with the encoder's BN layers trainable")]


@pytest.mark.parametrize("model, prefixes", [
    ("FPN", '("segm_stage", "final_stage")'),
    ("Linknet", '("decoder_",)'),
    ("PSPNet", '("psp_level", "aggregation")'),
])
def test_sm_help_names_the_decoder_bn_layers_of_each_model(model, prefixes):
    source = SM_ENCODER_FREEZE.replace("sm.Unet(", f"sm.{model}(")
    [finding] = findings(source, target="tf2")
    assert f"segmentation_models.{model}(resnet34)" in finding.message
    assert f"does not start with {prefixes}" in finding.help


@pytest.mark.parametrize("change", [
    # the default backbone is VGG16: no BN in the encoder
    ('sm.Unet(BACKBONE, encoder_weights="imagenet", ', 'sm.Unet(encoder_weights="imagenet", '),
    ('BACKBONE = "resnet34"', 'BACKBONE = "vgg19"'),
    # random encoder: nothing pretrained to overwrite
    ('encoder_weights="imagenet"', "encoder_weights=None"),
    ("encoder_freeze=True", "encoder_freeze=False"),
    # never trained with the encoder frozen
    ("model.fit(x_train, y_train, epochs=2)\n", ""),
])
def test_sm_without_the_pitfall_is_clean(change):
    source = SM_ENCODER_FREEZE.replace(*change)
    assert source != SM_ENCODER_FREEZE
    assert codes(source, target="tf2") == []


SM_BN_GUARD = ("model.compile(", "for layer in model.layers:\n    if isinstance(layer, keras.layers.BatchNormalization) "
               "and not layer.name.startswith('decoder_'):\n        layer.trainable = False\nmodel.compile(")


def test_sm_encoder_bn_frozen_too_is_clean_until_everything_is_unfrozen():
    """The fix in the help: the encoder's BN layers frozen as well. `set_trainable` later unfreezes
    every layer after that frozen phase, which is the ordinary BN002 of unfreezing (line 12)."""
    source = SM_ENCODER_FREEZE.replace(*SM_BN_GUARD)
    [finding] = findings(source, target="tf2")
    assert (finding.code, finding.line) == ("BN002", 12)
    assert "unfrozen for fine-tuning" in finding.message
    assert codes(source.replace("sm.utils.set_trainable(model)\n", ""), target="tf2") == []


def test_sm_set_trainable_before_any_training_is_clean():
    source = SM_ENCODER_FREEZE.replace("model.fit(x_train, y_train, epochs=2)\n\n", "")
    assert codes(source, target="keras3") == []


def test_sm_imported_names_and_the_3d_fork():
    source = """\
from segmentation_models_3D import Linknet
from segmentation_models_3D.utils import set_trainable

model = Linknet(backbone_name="efficientnetb3", encoder_freeze=True)
model.compile("adam", "binary_crossentropy")
model.fit(volumes, masks)
"""
    bn002, bn006 = findings(source, target="tf2")
    assert [(f.code, f.line, f.column) for f in (bn002, bn006)] == [("BN002", 4, 9), ("BN006", 4, 9)]
    assert "segmentation_models.Linknet(efficientnetb3)" in bn002.message
    assert '`segmentation_models.get_preprocessing("efficientnetb3")`' in bn006.help
    preprocessed = source + "x = sm.get_preprocessing('efficientnetb3')(volumes)\n"
    assert codes(preprocessed, target="tf2") == ["BN002"]


def test_sm_model_inside_a_new_model_is_not_bn003():
    """The README's N-channel recipe: the Unet's decoder BN layers are new and must train, so
    `base_model(l1, training=False)` would be wrong advice."""
    source = """\
from segmentation_models import Unet
from keras.layers import Input, Conv2D
from keras.models import Model

base_model = Unet(backbone_name="resnet34", encoder_weights="imagenet")
inp = Input(shape=(None, None, 5))
l1 = Conv2D(3, (1, 1))(inp)
out = base_model(l1)
model = Model(inp, out, name=base_model.name)
model.compile("adam", "binary_crossentropy")
model.fit(x, y)
"""
    assert codes(source, target="tf2") == []


def test_sm_set_trainable_recompiles_unless_told_not_to():
    source = SM_ENCODER_FREEZE.replace('encoder_freeze=True', 'encoder_freeze=False')
    assert codes(source, target="tf2") == []
    no_recompile = source.replace("sm.utils.set_trainable(model)", "sm.utils.set_trainable(model, recompile=False)")
    assert codes(no_recompile, target="tf2") == ["BN004"]


def test_sm_facts():
    [base] = facts_of(SM_ENCODER_FREEZE).bases
    assert (base.provider, base.architecture, base.weights, base.has_bn) == (
        "segmentation_models", "segmentation_models.Unet(resnet34)", "imagenet", True)
    assert base.freezes_all_but_bn and not base.whole_model_pretrained


# --- efficientnet (qubvel) -------------------------------------------------------------------

EFN_NESTED = """\
import tensorflow as tf
import efficientnet.tfkeras as efn

base = efn.EfficientNetB3(weights="noisy-student", include_top=False, input_shape=(300, 300, 3))
base.trainable = False
inputs = tf.keras.Input(shape=(300, 300, 3))
x = base(inputs)
x = tf.keras.layers.GlobalAveragePooling2D()(x)
model = tf.keras.Model(inputs, tf.keras.layers.Dense(5)(x))
model.compile("adam", "sparse_categorical_crossentropy")
model.fit(train_ds)
"""


def test_qubvel_efficientnet_is_a_pretrained_bn_base():
    found = findings(EFN_NESTED, target="tf2")
    assert [(f.code, f.line) for f in found] == [("BN006", 4), ("BN003", 7)]
    bn006, bn003 = found
    assert "`base` (efficientnet.EfficientNetB3)" in bn003.message
    # qubvel's EfficientNet has no preprocessing layer, unlike keras.applications'
    assert "`efficientnet.tfkeras.preprocess_input`" in bn006.help


def test_qubvel_efficientnet_preprocessed_and_called_right_is_clean():
    source = EFN_NESTED.replace("x = base(inputs)", "x = base(efn.preprocess_input(inputs), training=False)")
    assert codes(source, target="tf2") == []


def test_qubvel_efficientnet_flattened_and_frozen_on_standalone_keras_is_bn001():
    source = """\
from efficientnet.keras import EfficientNetB0, preprocess_input
from keras.models import Model
from keras.layers import Dense, GlobalAveragePooling2D

base = EfficientNetB0(include_top=False, weights="imagenet")
x = GlobalAveragePooling2D()(base.output)
model = Model(inputs=base.input, outputs=Dense(2, activation="softmax")(x))
for layer in base.layers:
    layer.trainable = False
model.compile("adam", "categorical_crossentropy")
model.fit_generator(train_gen)
"""
    assert where(source, target="standalone-2.1.3+") == [("BN001", 7, 9)]


def test_qubvel_efficientnet_star_import_and_random_weights():
    source = EFN_NESTED.replace("import efficientnet.tfkeras as efn", "from efficientnet.tfkeras import *") \
        .replace("efn.EfficientNetB3", "EfficientNetB3")
    assert codes(source, target="tf2") == ["BN006", "BN003"]
    assert codes(EFN_NESTED.replace('weights="noisy-student"', "weights=None"), target="tf2") == []


# --- classification_models (image-classifiers) -----------------------------------------------

CM_FINETUNE = """\
from classification_models.tfkeras import Classifiers
from tensorflow import keras

ResNet34, preprocess_input = Classifiers.get("resnet34")
base = ResNet34((224, 224, 3), weights="imagenet", include_top=False)
base.trainable = False
inputs = keras.Input(shape=(224, 224, 3))
x = base(inputs, training=False)
model = keras.Model(inputs, keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(x)))
model.compile("adam", "sparse_categorical_crossentropy")
model.fit(train_ds)
base.trainable = True
model.compile(keras.optimizers.Adam(1e-5), "sparse_categorical_crossentropy")
model.fit(train_ds)
"""


def test_classifiers_get_returns_a_pretrained_bn_constructor():
    assert codes(CM_FINETUNE, target="tf2") == []                 # nested with training=False
    [finding] = findings(CM_FINETUNE, target="keras3<3.16")      # keras-team/keras#20285
    assert (finding.code, finding.line) == ("BN002", 12)
    assert "`base` (classification_models.ResNet34)" in finding.message


def test_classification_models_resnets_default_to_random_weights():
    """ResNet18...152 of classification_models default to `weights=None`, unlike keras.applications."""
    source = CM_FINETUNE.replace('(224, 224, 3), weights="imagenet", include_top=False',
                                 "(224, 224, 3), include_top=False")
    assert codes(source, target="keras3<3.16") == []
    positional = CM_FINETUNE.replace('(224, 224, 3), weights="imagenet", include_top=False',
                                     '(224, 224, 3), None, "imagenet", include_top=False')
    assert codes(positional, target="keras3<3.16") == ["BN002"]


@pytest.mark.parametrize("name, expected", [
    ("densenet121", ["BN002"]),       # a keras_applications builder: weights="imagenet" by default
    ("vgg16", []),                    # no BatchNormalization
    ("seresnext50", []),              # classification_models' own SE-Nets: weights=None by default
])
def test_classifiers_get_other_architectures(name, expected):
    source = CM_FINETUNE.replace('Classifiers.get("resnet34")', f'Classifiers.get("{name}")') \
        .replace('(224, 224, 3), weights="imagenet", include_top=False', "input_shape=(224, 224, 3), include_top=False")
    assert codes(source, target="keras3<3.16") == expected


def test_classifiers_get_result_indexed():
    source = CM_FINETUNE.replace('ResNet34, preprocess_input = Classifiers.get("resnet34")\n'
                                 'base = ResNet34(',
                                 'base = Classifiers.get("resnet50")[0](')
    assert "classification_models.ResNet50" in findings(source, target="keras3<3.16")[0].message


# --- keras_hub / keras_cv presets ------------------------------------------------------------

HUB_TASK = """\
import keras
import keras_hub

classifier = keras_hub.models.ImageClassifier.from_preset("resnet_50_imagenet", num_classes=2)
classifier.backbone.trainable = False
classifier.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
classifier.fit(train_ds, epochs=3)

classifier.backbone.trainable = True
classifier.compile(optimizer=keras.optimizers.Adam(1e-5), loss="sparse_categorical_crossentropy")
classifier.fit(train_ds, epochs=3)
"""


def test_keras_hub_task_unfreezing_its_backbone_is_bn002():
    [finding] = findings(HUB_TASK, target="keras3<3.16")
    assert (finding.code, finding.line) == ("BN002", 9)
    assert "ImageClassifier.from_preset('resnet_50_imagenet')" in finding.message


@pytest.mark.parametrize("change", [
    ('"resnet_50_imagenet"', '"vit_base_patch16_224_imagenet"'),       # LayerNormalization, no BN
    ('num_classes=2)', 'num_classes=2, load_weights=False)'),          # not pretrained
    ("classifier.backbone.trainable = True\n",
     "classifier.backbone.trainable = True\nfor layer in classifier.backbone.layers:\n"
     "    if isinstance(layer, keras.layers.BatchNormalization):\n        layer.trainable = False\n"),
])
def test_keras_hub_task_clean_variants(change):
    source = HUB_TASK.replace(*change)
    assert source != HUB_TASK
    assert codes(source, target="keras3<3.16") == []


def test_keras_hub_backbone_called_without_training_false_is_bn003_with_its_fix():
    source = """\
import keras
import keras_hub

backbone = keras_hub.models.Backbone.from_preset("efficientnet_b0_ra_imagenet")
backbone.trainable = False
inputs = keras.Input(shape=(224, 224, 3))
x = backbone(inputs)
outputs = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(x))
model = keras.Model(inputs, outputs)
"""
    [finding] = findings(source, target="keras3<3.16")
    assert (finding.code, finding.line) == ("BN003", 7)
    assert finding.fix is not None and "training=False" in finding.fix.message


def test_keras_hub_preset_frozen_by_its_trainable_argument():
    source = """\
import keras
import keras_hub

backbone = keras_hub.models.ResNetBackbone.from_preset("resnet_50_imagenet", trainable=False)
inputs = keras.Input(shape=(224, 224, 3))
x = backbone(inputs, training=False)
model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(x)))
model.compile("adam", "sparse_categorical_crossentropy")
model.fit(train_ds)
backbone.trainable = True
model.compile("adam", "sparse_categorical_crossentropy")
model.fit(train_ds)
"""
    assert where(source, target="keras3<3.16") == [("BN002", 10, 1)]
    assert codes(source, target="keras3>=3.16") == []
    # never frozen: full fine-tuning from the start is no pitfall
    assert codes(source.replace(", trainable=False", ""), target="keras3<3.16") == []


def test_keras_cv_backbone_preset():
    source = """\
import keras_cv
from tensorflow import keras

PRESET = "resnet50_v2_imagenet"
backbone = keras_cv.models.ResNetV2Backbone.from_preset(PRESET)
backbone.trainable = False
inputs = keras.Input(shape=(224, 224, 3))
x = backbone(inputs, training=False)
model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(x)))
model.compile("adam", "sparse_categorical_crossentropy")
model.fit(train_ds)
backbone.trainable = True
model.compile("adam", "sparse_categorical_crossentropy")
model.fit(train_ds)
"""
    assert codes(source, target="tf2") == []
    [finding] = findings(source, target="keras3<3.16")
    assert finding.code == "BN002" and "ResNetV2Backbone.from_preset('resnet50_v2_imagenet')" in finding.message


# --- tensorflow_hub --------------------------------------------------------------------------

TF_HUB = """\
import tensorflow as tf
import tensorflow_hub as hub

feature_extractor = hub.KerasLayer(
    "https://tfhub.dev/google/imagenet/mobilenet_v2_100_224/feature_vector/5", trainable=False)
model = tf.keras.Sequential([feature_extractor, tf.keras.layers.Dense(5)])
model.compile("adam", "sparse_categorical_crossentropy")
model.fit(train_ds)
feature_extractor.trainable = True
model.compile("adam", "sparse_categorical_crossentropy")
model.fit(train_ds)
"""


def test_tensorflow_hub_layer_is_a_base_whose_bn_is_unknown():
    """Whether the SavedModel behind a handle holds BN cannot be known without downloading it:
    bnlint records the base and reports nothing it cannot be sure of."""
    [base] = facts_of(TF_HUB).bases
    assert (base.provider, base.architecture, base.family, base.has_bn) == (
        "tensorflow_hub", "tensorflow_hub.KerasLayer", None, False)
    for target in TARGETS:
        assert codes(TF_HUB, target=target) == []


@pytest.mark.parametrize("model, preset, has_bn", [
    ("Backbone", "resnet_50_imagenet", True),
    ("ImageClassifier", "efficientnet_b0_ra_imagenet", True),
    ("Backbone", "mobilenet_v3_large_imagenet", True),
    ("Backbone", "csp_darknet_tiny_imagenet", True),
    ("Backbone", "densenet_121_imagenet", True),
    ("YOLOV8Backbone", "yolo_v8_s_backbone_coco", True),
    ("ImageClassifier", "vgg_16_imagenet", False),
    ("ImageClassifier", "vit_base_patch16_224_imagenet", False),
    ("MiTBackbone", None, False),
])
def test_preset_architectures(model, preset, has_bn):
    from bnlint.script.applications import preset_architecture

    label, family = preset_architecture(model, preset)
    assert family is not None and family.has_bn is has_bn
    assert label.startswith(f"{model}.from_preset")


def test_unknown_presets_are_not_guessed():
    from bnlint.script.applications import preset_architecture

    assert preset_architecture("Backbone", "gemma_2b_en")[1] is None
    assert preset_architecture("Backbone", None)[1] is None


def test_keras_hub_preprocessing_presets_are_no_bases():
    source = """\
import keras
import keras_hub

preprocessor = keras_hub.layers.ImageConverter.from_preset("xception_41_imagenet", image_size=(180, 180))
converter = keras_hub.models.ResNetImageClassifierPreprocessor.from_preset("resnet_50_imagenet")
inputs = keras.Input(shape=(180, 180, 3))
x = converter(preprocessor(inputs))
"""
    assert facts_of(source).bases == []
    assert codes(source, target="keras3<3.16") == []
