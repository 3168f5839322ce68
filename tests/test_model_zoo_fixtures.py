"""Model files written by the model zoos themselves (fixtures/models/zoo, made by
fixtures/generate_zoo_models.py): the architecture table names what they hold, and the blind
spots stay silent (docs/model-zoos.md)."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import h5py

from bnlint.context import RuleContext
from bnlint.model import analyze_model
from bnlint.model.applications import identify

ZOO = Path(__file__).resolve().parents[1] / "fixtures" / "models" / "zoo"
RULES = frozenset({"BN101", "BN102", "BN103", "BN104", "BN105", "BN106", "BN107"})


def findings(name: str):
    return analyze_model(ZOO / name, f"zoo/{name}", RuleContext(enabled=RULES))


def test_bn101_names_the_encoder_of_a_segmentation_models_unet():
    [bn101] = [f for f in findings("sm_unet_mobilenetv2_encoder_bn_frozen.h5") if f.code == "BN101"]
    assert bn101.message.startswith("52 frozen BN layers of a flattened MobileNetV2 encoder of a "
                                    "segmentation_models Unet: ")
    assert bn101.link_keys == ("arch:segmentation_models.Unet(mobilenetv2)",)


def test_encoder_freeze_file_bn103_lists_encoder_and_decoder_bn_and_links_the_unet():
    [bn103] = [f for f in findings("sm_unet_mobilenetv2_encoder_freeze.h5") if f.code == "BN103"]
    assert bn103.message.startswith("62 trainable BN layers train next to frozen pretrained layers")
    assert bn103.layer == "bn_Conv1"
    assert bn103.link_keys == ("arch:segmentation_models.Unet(mobilenetv2)",)


def test_qubvel_efficientnet_has_the_bn_names_of_keras_applications():
    [bn101] = findings("qubvel_efficientnet_flat_frozen.h5")
    assert "of a flattened EfficientNetB0 or EfficientNetB0 (qubvel efficientnet): " in bn101.message


def test_the_bare_encoder_names_win_without_a_decoder_around_them():
    """Only the model's other BN names tell a Unet from its encoder: without them the keras
    MobileNetV2 (the smaller set the names cover fully) is named."""
    with h5py.File(ZOO / "sm_unet_mobilenetv2_encoder_bn_frozen.h5") as f:
        config = json.loads(f.attrs["model_config"])
    bn = [layer["config"]["name"] for layer in config["config"]["layers"]
          if layer["class_name"] == "BatchNormalization"]
    encoder = [name for name in bn if not name.startswith("decoder_")]
    assert identify(encoder).names == ("MobileNetV2",)
    assert identify(encoder, context=bn).names == ("segmentation_models.Unet(mobilenetv2)",)


def test_keras_hub_backbone_is_saved_as_constructor_arguments_a_blind_spot():
    with zipfile.ZipFile(ZOO / "keras_hub_resnet_nested.keras") as archive:
        config = json.loads(archive.read("config.json"))
    backbone = config["config"]["layers"][1]
    assert backbone["class_name"] == "ResNetBackbone" and "layers" not in backbone["config"]
    assert backbone["config"]["trainable"] is False
    assert findings("keras_hub_resnet_nested.keras") == []


def test_tf_hub_keras_layer_hides_its_bn_in_the_saved_model_a_blind_spot():
    with h5py.File(ZOO / "tf_hub_keras_layer_trainable.h5") as f:
        config = json.loads(f.attrs["model_config"])
    classes = [layer["class_name"] for layer in config["config"]["layers"]]
    assert "KerasLayer" in classes and "BatchNormalization" not in classes
    assert findings("tf_hub_keras_layer_trainable.h5") == []


def test_segmentation_model_help_keeps_encoder_bn_frozen_and_lets_the_decoder_train():
    """A flattened encoder has no call to hold with training=False: the help says what works."""
    for name, code in (("sm_unet_mobilenetv2_encoder_bn_frozen.h5", "BN101"),
                       ("sm_unet_mobilenetv2_encoder_freeze.h5", "BN103")):
        [finding] = [f for f in findings(name) if f.code == code]
        assert finding.help.startswith("segmentation_models flattens its encoder")
        assert "'decoder_', 'center_block'" in finding.help and "base(inputs, training=False)" not in finding.help
