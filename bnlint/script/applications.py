"""What bnlint knows about the `keras.applications` constructors.

`has_bn`: the architecture contains BatchNormalization layers (the pitfall needs them).
`preprocesses_inside`: the model applies its own input preprocessing, so `preprocess_input`
is a pass-through (EfficientNet, EfficientNetV2, MobileNetV3, RegNet, ResNetRS, ConvNeXt).
`bn_momentum`: the `momentum` its BatchNormalization layers are built with (keras/src/applications
in Keras 3.15.1: 0.999 in MobileNetV2/V3, 0.9997 in NASNet, 0.9 in EfficientNetV2, else the default).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    name: str                  # "ResNet", "EfficientNet", ...
    has_bn: bool
    preprocesses_inside: bool
    module: str                # keras.applications.<module> that holds preprocess_input
    bn_momentum: float = 0.99


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

# Families whose `include_preprocessing=False` switches the built-in preprocessing off.
_OPTIONAL_PREPROCESSING = {"MobileNetV3", "EfficientNetV2", "ConvNeXt"}


def family_of(constructor: str) -> Family | None:
    return FAMILIES.get(constructor)


def preprocessing_optional(family: Family) -> bool:
    return family.name in _OPTIONAL_PREPROCESSING
