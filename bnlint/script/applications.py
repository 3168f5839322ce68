"""What bnlint knows about the constructors of pretrained models: `keras.applications` and the
model zoos people fine-tune (segmentation_models, efficientnet, classification_models, keras_hub,
keras_cv, tensorflow_hub). This module is that knowledge, as data; the facts pass reads it, rules
read the facts. docs/model-zoos.md gives the source of every row.

`Family.has_bn`: the architecture contains BatchNormalization layers (the pitfall needs them).
`Family.preprocesses_inside`: the model applies its own input preprocessing, so `preprocess_input`
is a pass-through (EfficientNet, EfficientNetV2, MobileNetV3, RegNet, ResNetRS, ConvNeXt; the
classification_models ResNets, whose first layer `bn_data` normalises the input).
`Family.bn_momentum`: the `momentum` its BatchNormalization layers are built with (keras/src/applications
in Keras 3.15.1: 0.999 in MobileNetV2/V3, 0.9997 in NASNet, 0.9 in EfficientNetV2, else the default;
keras_hub's ResNet backbones 0.9; classification_models and qubvel's efficientnet the default).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Family:
    name: str                  # "ResNet", "EfficientNet", ...
    has_bn: bool
    preprocesses_inside: bool
    module: str                # keras.applications.<module> that holds preprocess_input ("" for a zoo)
    bn_momentum: float = 0.99
    preprocess: str = ""       # a zoo's own `preprocess_input`, spelt as users import it


def _names(prefix: str, suffixes: str) -> list[str]:
    return [prefix + s for s in suffixes.split()]


_TABLE: list[tuple[Family, list[str]]] = [
    (Family("ResNet", True, False, "resnet"), ["ResNet50", "ResNet101", "ResNet152"]),
    (Family("ResNetV2", True, False, "resnet_v2"), ["ResNet50V2", "ResNet101V2", "ResNet152V2"]),
    (Family("InceptionV3", True, False, "inception_v3"), ["InceptionV3"]),
    (Family("InceptionResNetV2", True, False, "inception_resnet_v2"), ["InceptionResNetV2"]),
    (Family("Xception", True, False, "xception"), ["Xception"]),
    (Family("MobileNet", True, False, "mobilenet"), ["MobileNet"]),
    (Family("MobileNetV2", True, False, "mobilenet_v2", 0.999), ["MobileNetV2"]),
    (Family("MobileNetV3", True, True, "mobilenet_v3", 0.999), ["MobileNetV3Small", "MobileNetV3Large"]),
    (Family("DenseNet", True, False, "densenet"), ["DenseNet121", "DenseNet169", "DenseNet201"]),
    (Family("NASNet", True, False, "nasnet", 0.9997), ["NASNetMobile", "NASNetLarge"]),
    (Family("EfficientNet", True, True, "efficientnet"), _names("EfficientNetB", "0 1 2 3 4 5 6 7")),
    (Family("EfficientNetV2", True, True, "efficientnet_v2", 0.9),
     _names("EfficientNetV2", "B0 B1 B2 B3 S M L")),
    (Family("RegNet", True, True, "regnet"),
     _names("RegNetX", "002 004 006 008 016 032 040 064 080 120 160 320")
     + _names("RegNetY", "002 004 006 008 016 032 040 064 080 120 160 320")),
    (Family("ResNetRS", True, True, "resnet_rs"), _names("ResNetRS", "50 101 152 200 270 350 420")),
    (Family("VGG", False, False, "vgg16"), ["VGG16", "VGG19"]),
    (Family("ConvNeXt", False, True, "convnext"), _names("ConvNeXt", "Tiny Small Base Large XLarge")),
]

FAMILIES: dict[str, Family] = {name: family for family, names in _TABLE for name in names}
# Architecture names in a model file's name (`imagenet_resnet.h5`, "inception_v3_finetuned.keras"): a
# loaded model of unknown layers is taken to hold BN only when its name says it is one of these.
_BN_ARCHITECTURE_IN_NAME = re.compile("|".join(sorted(
    {re.sub(r"[^a-z]", "", f.name.lower()).rstrip("v") for f in FAMILIES.values() if f.has_bn}
    | {"effnet", "mobilenet", "resnext", "darknet", "yolo"})))   # common short names of the same


def names_bn_architecture(path: str | None) -> bool:
    return path is not None and _BN_ARCHITECTURE_IN_NAME.search(re.sub(r"[^a-z]", "", path.lower())) is not None


# A model the project builds itself from layers including BatchNormalization (YOLO's Darknet, a
# U-Net): pretrained once it loads trained weights.
PROJECT_ARCHITECTURE = Family("project architecture with BatchNormalization", True, False, "")
# The submodules of `keras.applications` (a star import binds them too: `globals()["densenet"]`);
# Keras 2 also had `resnet50` and `vgg19` modules.
APPLICATION_MODULES = frozenset({family.module for family in FAMILIES.values()} | {"resnet50", "vgg19"})

# Families whose `include_preprocessing=False` switches the built-in preprocessing off.
_OPTIONAL_PREPROCESSING = {"MobileNetV3", "EfficientNetV2", "ConvNeXt"}


def family_of(constructor: str) -> Family | None:
    return FAMILIES.get(constructor)


def preprocessing_optional(family: Family) -> bool:
    return family.name in _OPTIONAL_PREPROCESSING


# --- model zoos --------------------------------------------------------------------------------
#
# The qubvel zoos (classification_models a.k.a. image-classifiers 1.0.0, segmentation_models 1.0.1,
# efficientnet 1.1.1) name their architectures in lower case; classification_models builds the
# ResNets / SE-Nets / ResNeXts itself and takes every other one from keras_applications 1.0.8
# (the builders of keras.applications, same layer names).

_CM_PREPROCESS = "the `preprocess_input` that `Classifiers.get(...)` returns"
# classification_models' own ResNets and ResNeXts normalise the input in their first layer
# (`bn_data`); their preprocess_input returns x unchanged. Its SE-Nets use torch-style scaling.
_CM_RESNET = Family("ResNet (classification_models)", True, True, "", preprocess=_CM_PREPROCESS)
_CM_SENET = Family("SE-ResNet/SE-ResNeXt (classification_models)", True, False, "", preprocess=_CM_PREPROCESS)
_CM_RESNEXT = Family("ResNeXt (classification_models)", True, True, "", preprocess=_CM_PREPROCESS)
# qubvel's EfficientNets have no preprocessing layer: efficientnet.model.preprocess_input scales
# torch-style (mean/std), unlike keras.applications' EfficientNet.
_QUBVEL_EFFICIENTNET = Family("EfficientNet (qubvel efficientnet)", True, False, "",
                              preprocess="`efficientnet.tfkeras.preprocess_input`")

# lower-case zoo name -> (architecture as bnlint names it, family)
ZOO_ARCHITECTURES: dict[str, tuple[str, Family]] = {
    **{f"resnet{n}": (f"ResNet{n}", _CM_RESNET) for n in (18, 34, 50, 101, 152)},
    **{f"seresnet{n}": (f"SEResNet{n}", _CM_RESNET) for n in (18, 34)},
    **{f"seresnet{n}": (f"SEResNet{n}", _CM_SENET) for n in (50, 101, 152)},
    "seresnext50": ("SEResNeXt50", _CM_SENET), "seresnext101": ("SEResNeXt101", _CM_SENET),
    "senet154": ("SENet154", _CM_SENET),
    "resnext50": ("ResNeXt50", _CM_RESNEXT), "resnext101": ("ResNeXt101", _CM_RESNEXT),
    **{f"efficientnetb{n}": (f"EfficientNetB{n}", _QUBVEL_EFFICIENTNET) for n in range(8)},
    **{name.lower(): (name, FAMILIES[name]) for name in (
        "VGG16", "VGG19", "DenseNet121", "DenseNet169", "DenseNet201", "InceptionV3",
        "InceptionResNetV2", "Xception", "MobileNet", "MobileNetV2", "NASNetLarge", "NASNetMobile",
        "ResNet50V2", "ResNet101V2", "ResNet152V2")},
}


@dataclass(frozen=True)
class ZooConstructor:
    """How one zoo call creates a pretrained model (the facts pass reads the call through it)."""

    provider: str                          # "segmentation_models", "efficientnet", ...
    weights_keyword: str | None = "weights"
    weights_position: int | None = 1       # positional index of the weights argument
    default_weights: str = "imagenet"      # "imagenet" | "none" when the call does not say
    # The architecture: from the callable's name, or from an argument (sm's `backbone_name`).
    architecture_keyword: str | None = None
    architecture_position: int | None = None
    default_architecture: str | None = None
    # sm's `encoder_freeze=True`: every encoder layer is frozen EXCEPT BatchNormalization.
    freeze_all_but_bn_keyword: str | None = None
    # False: the model adds a new decoder with its own BN layers (sm), so it is no base to call
    # with training=False or to flatten and freeze as a whole; only its encoder is pretrained.
    whole_model_pretrained: bool = True
    # keras_hub / keras_cv tasks hold their pretrained backbone in this attribute.
    backbone_attribute: str | None = None
    # A preset loads pretrained weights unless `load_weights=False`.
    weights_off_keyword: str | None = None
    # `from_preset(..., trainable=False)` freezes the model as it is built (keras_hub/src/models/backbone.py).
    trainable_keyword: str | None = None


_SM = ZooConstructor("segmentation_models", weights_keyword="encoder_weights", weights_position=None,
                     architecture_keyword="backbone_name", architecture_position=0,
                     default_architecture="vgg16", freeze_all_but_bn_keyword="encoder_freeze",
                     whole_model_pretrained=False)
SEGMENTATION_MODELS = ("Unet", "FPN", "Linknet", "PSPNet")
# Name prefixes of the BN layers each sm model adds in its decoder (read from real models).
SM_DECODER_BN_PREFIXES = {"Unet": ("decoder_", "center_block"), "Linknet": ("decoder_",),
                          "FPN": ("segm_stage", "final_stage"), "PSPNet": ("psp_level", "aggregation")}
# Classifiers.get(name) returns (constructor, preprocess_input): the ResNets/SE-Nets/ResNeXts of
# classification_models take (input_shape, input_tensor, weights=None, ...); the keras_applications
# builders (include_top, weights='imagenet', ...).
_CM_OWN = ZooConstructor("classification_models", weights_position=2, default_weights="none")
_CM_KERAS_APPLICATIONS = ZooConstructor("classification_models")
_QUBVEL_EFFICIENTNET_CONSTRUCTOR = ZooConstructor("efficientnet")
_PRESET = ZooConstructor("keras_hub", weights_keyword=None, weights_position=None,
                         weights_off_keyword="load_weights", backbone_attribute="backbone",
                         trainable_keyword="trainable")
_HUB_LAYER = ZooConstructor("tensorflow_hub", weights_keyword=None, weights_position=None)

# keras_hub / keras_cv: a class or preset name that starts with one of these -> (architecture, has BN).
# Which backbones hold BN: keras_hub/src/models/<name>/<name>_backbone.py, keras_cv/src/models/backbones.
_PRESET_ARCHITECTURES: list[tuple[re.Pattern[str], str, bool]] = [
    (re.compile(r"res_?net|resnet", re.I), "ResNet", True),
    (re.compile(r"efficient_?net", re.I), "EfficientNet", True),
    (re.compile(r"mobile_?net", re.I), "MobileNet", True),
    (re.compile(r"csp_?dark_?net|csp_?net", re.I), "CSPDarkNet", True),
    (re.compile(r"dense_?net", re.I), "DenseNet", True),
    (re.compile(r"xception", re.I), "Xception", True),
    (re.compile(r"yolo_?v8", re.I), "YOLOV8", True),
    (re.compile(r"vgg", re.I), "VGG", False),
    (re.compile(r"vit|mit(?:_|backbone)|mix_?transformer|dino|clip|siglip|sam_|swin|convnext|segformer", re.I),
     "Transformer", False),
]
PRESET_PROVIDERS = ("keras_hub", "keras_cv", "keras_nlp")
# `from_preset` of keras_hub.models classes that are no models (tokenizers, image converters...).
_NOT_MODELS = ("Preprocessor", "Tokenizer", "Converter")

# Module roots of every zoo (the byte prefilter and the statement filter look for them).
ZOO_ROOTS = ("segmentation_models", "segmentation_models_3D", "efficientnet", "classification_models",
             "classification_models_3D", "keras_hub", "keras_cv", "keras_nlp", "tensorflow_hub")
# Names whose presence makes a statement worth analysing.
ZOO_NAMES = frozenset({*SEGMENTATION_MODELS, "Classifiers", "from_preset", "KerasLayer", "EfficientNetL2",
                       "set_trainable", "backbone", "encoder_freeze", *ZOO_ROOTS})


@dataclass(frozen=True)
class ZooCall:
    """What the table says about one qualified call."""

    constructor: ZooConstructor
    architecture: str | None       # fixed by the callable (None: read it from the arguments)
    family: Family | None
    model: str = ""                # sm: "Unet", ...; presets: the class ("ResNetBackbone")
    root: str = ""                 # the package the call comes from ("keras_hub", "keras_cv")


def zoo_call(parts: list[str]) -> ZooCall | None:
    """The zoo constructor a qualified call (`segmentation_models.Unet`) names, if any."""
    root, last = parts[0], parts[-1]
    if root in ("segmentation_models", "segmentation_models_3D") and last in SEGMENTATION_MODELS:
        return ZooCall(_SM, None, None, model=last)
    if root == "efficientnet" and (last in FAMILIES and last.startswith("EfficientNetB") or last == "EfficientNetL2"):
        family = replace(_QUBVEL_EFFICIENTNET, preprocess=f"`{'.'.join(parts[:-1])}.preprocess_input`")
        return ZooCall(_QUBVEL_EFFICIENTNET_CONSTRUCTOR, f"efficientnet.{last}", family)
    if root == "classification_models" and len(parts) >= 2 and parts[-2] == "Classifiers:get":
        found = ZOO_ARCHITECTURES.get(last)
        if found is None:
            return None
        name, family = found
        if family.module:       # a keras_applications builder: the keras.applications architecture
            return ZooCall(_CM_KERAS_APPLICATIONS, name, family)
        return ZooCall(_CM_OWN, f"classification_models.{name}", family)
    if root in PRESET_PROVIDERS and last == "from_preset" and len(parts) >= 2 and "models" in parts \
            and not parts[-2].endswith(_NOT_MODELS):
        return ZooCall(_PRESET, None, None, model=parts[-2], root=root)
    if root == "tensorflow_hub" and last == "KerasLayer":
        # Whether the SavedModel behind a handle holds BN is not knowable offline: unknown family.
        return ZooCall(_HUB_LAYER, "tensorflow_hub.KerasLayer", None)
    return None


def classifiers_get(parts: list[str], name: str | None) -> list[str] | None:
    """`Classifiers.get("resnet34")` of classification_models: the qualified name bnlint gives the
    constructor it returns (resolved by `zoo_call`), or None."""
    if parts[0] == "classification_models" and parts[-2:] == ["Classifiers", "get"] and name:
        return ["classification_models", "Classifiers:get", name.lower()]
    return None


def zoo_utility(parts: list[str]) -> str | None:
    """A zoo helper that changes `trainable`: sm's `utils.set_trainable(model, recompile=True)` makes
    every layer trainable (BN included) and compiles again."""
    if parts[0] in ("segmentation_models", "segmentation_models_3D") and parts[-1] == "set_trainable":
        return "unfreeze_all_and_recompile"
    return None


def sm_architecture(model: str, backbone: str | None) -> tuple[str, Family | None]:
    """(architecture, family) of a segmentation_models model on a backbone name."""
    name = (backbone or "").lower()
    found = ZOO_ARCHITECTURES.get(name)
    family = replace(found[1], preprocess=f'`segmentation_models.get_preprocessing("{name}")`') if found else None
    return f"segmentation_models.{model}({name or '?'})", family


def preset_architecture(model: str, preset: str | None, root: str = "keras_hub") -> tuple[str, Family | None]:
    """(architecture, family) of a keras_hub / keras_cv `from_preset` call: the class name tells
    the architecture (`ResNetBackbone`), else the preset name (`Backbone.from_preset("resnet_50_imagenet")`)."""
    for text in (model, preset or ""):
        for pattern, name, has_bn in _PRESET_ARCHITECTURES:
            if pattern.match(text):
                label = f"{model}.from_preset({preset!r})" if preset else f"{model}.from_preset"
                # keras_hub's ResNet backbones build BN with momentum=0.9 (resnet_backbone.py); the
                # others take it from the preset's config: the default is assumed.
                momentum = 0.9 if name == "ResNet" and root == "keras_hub" else 0.99
                return label, Family(f"{name} (keras_hub/keras_cv)", has_bn, True, "", momentum)
    label = f"{model}.from_preset({preset!r})" if preset else f"{model}.from_preset"
    return label, None


def names_zoo_architecture(text: str) -> bool:
    """Is a string constant a zoo architecture or preset name (`BACKBONE = "resnet34"`)? Such
    assignments are kept for the facts pass, which reads the name where the model is built."""
    return text.lower() in ZOO_ARCHITECTURES or (
        len(text) < 64 and any(pattern.match(text) for pattern, _, _ in _PRESET_ARCHITECTURES))
