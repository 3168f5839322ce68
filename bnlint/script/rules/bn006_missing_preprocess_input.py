"""BN006: an ImageNet-weighted `keras.applications` (or model-zoo) base whose family needs `preprocess_input`,
with no preprocessing visible anywhere in the script.

The pretrained filters and BN moving statistics expect the family's ImageNet preprocessing
(caffe BGR mean subtraction, or scaling to [-1, 1]); raw [0, 255] pixels shift every activation.
"""
from __future__ import annotations

from bnlint.script.applications import preprocessing_optional
from bnlint.script.facts import Facts
from bnlint.script.rules.base import Report
from bnlint.script.rules.common import code_name, describe
from bnlint.target import KerasTarget

CODE = "BN006"


def check(facts: Facts, target: KerasTarget):
    if facts.preprocessing_visible:
        return
    for base in facts.bases:
        family = base.family
        if family is None or base.weights != "imagenet" or base.site.external or base.derived_from is not None:
            continue
        inside = family.preprocesses_inside and not (
            preprocessing_optional(family) and base.include_preprocessing is False)
        if inside:
            continue
        # ResNet50 has its own module in every Keras; ResNet101/152 only share `resnet`.
        submodule = "resnet50" if base.architecture == "ResNet50" else family.module
        # a model zoo names its own preprocessing (bnlint/script/applications.py)
        apply = family.preprocess or f"`keras.applications.{submodule}.preprocess_input`"
        yield Report(
            CODE, base.site,
            f"{describe(base)} has ImageNet weights but no `preprocess_input`: every activation shifts",
            f"Apply {apply} to the images, in the input pipeline or as the model's first step before "
            f"`{code_name(base)}`.")
