"""What a user reads in model findings: layer paths, Keras-specific wording and fixes."""
from __future__ import annotations

from pathlib import Path

import pytest

from bnlint.context import RuleContext
from bnlint.finding import Severity
from bnlint.model import analyze_model
from bnlint.model.applications import load_architectures
from bnlint.target import parse_target

MODELS = Path(__file__).resolve().parents[1] / "fixtures" / "models"
ALL = frozenset({"BN101", "BN102", "BN103", "BN104", "BN105", "BN106"})


def findings(rel: str, *, enabled=ALL, target=None, **ctx_args):
    path = MODELS / rel
    if not path.exists():
        pytest.skip(f"fixture {rel} not generated")
    ctx = RuleContext(enabled=frozenset(enabled), target=parse_target(target) if target else None, **ctx_args)
    return analyze_model(path, f"models/{rel}", ctx)


def only(rel: str, code: str, **kw):
    found = [f for f in findings(rel, **kw) if f.code == code]
    assert len(found) == 1, found
    return found[0]


def test_model_findings_point_at_the_file_and_the_layer():
    f = only("tf_keras/nested_no_training.h5", "BN104")
    assert (f.path, f.line, f.column) == ("models/tf_keras/nested_no_training.h5", 1, 1)
    assert f.layer == "base/bn1"
    assert "'base/bn1', 'base/bn2'" in f.message


# ------------------------------------------------------------------ BN101
def test_bn101_one_finding_per_model_listing_the_frozen_bn_layers():
    f = only("keras3/flat_frozen.keras", "BN101")
    assert f.layer == "bn1"
    assert f.message.startswith("2 frozen BN layers of a flattened pretrained base stand at the top level")
    assert "'bn1', 'bn2'" in f.message
    assert "Keras 3 < 3.16" in f.message
    assert "keras-team/keras#20285" in f.help


def test_bn101_under_legacy_keras_says_batch_statistics_in_fit():
    f = only("keras224/flat_frozen.h5", "BN101")
    assert "standalone Keras 2.x" in f.message
    assert "batch statistics in fit()" in f.message and "moving statistics at inference" in f.message


def test_bn101_names_the_keras_application_when_the_table_knows_it():
    if not any(a.name == "MobileNetV2" for a in load_architectures()):
        pytest.skip("bnlint/data/applications.json has no MobileNetV2 yet")
    f = only("tf_keras/app_flat_frozen.h5", "BN101")
    assert f.message.startswith("52 frozen BN layers of a flattened MobileNetV2")
    assert f.link_keys == ("arch:MobileNetV2",)
    assert "and 49 more" in f.message


def test_a_small_custom_base_is_not_taken_for_an_application():
    f = only("tf_keras/flat_frozen.h5", "BN101")
    assert "a flattened pretrained base" in f.message and f.link_keys == ()


# ------------------------------------------------------------------ BN102
def test_bn102_standalone_keras_fix_is_training_false_on_each_bn_layer():
    f = only("keras224/flat_frozen.h5", "BN102")
    assert f.layer == "bn1"
    assert "standalone Keras 2.x" in f.message and "batch statistics in fit()" in f.message
    assert "BatchNormalization(name='bn')(x, training=False)" in f.help
    assert "raises TypeError" in f.help           # base(x, training=False) is not an option there


def test_bn102_tf1_fix_is_the_nested_training_false_and_names_the_ambiguous_version():
    f = only("tf115/nested_no_training.h5", "BN102")
    assert f.layer == "base/bn1" and "in nested model 'base'" in f.message
    assert "tf.keras in TF 1.x" in f.message and "2.2.4-tf" in f.message and "target-keras" in f.message
    assert "x = base(inputs, training=False)" in f.help and "TypeError" not in f.help


def test_bn102_sequential_says_training_false_cannot_be_recorded():
    f = only("keras224/sequential_wrapped.h5", "BN102")
    assert "sits in a Sequential" in f.message


def test_an_explicit_target_settles_2_2_4_tf():
    # Early TF 2 also wrote 2.2.4-tf: under TF 2 semantics the frozen BN layers are in inference mode.
    codes = {f.code for f in findings("tf115/nested_no_training.h5", target="tf2")}
    assert codes == {"BN104"}
    f = only("tf115/flat_frozen.h5", "BN102", target="tf1")
    assert "2.2.4-tf" not in f.message          # the user settled it: no ambiguity note


# ------------------------------------------------------------------ BN103
def test_bn103_keras3_names_the_ignored_training_false_and_issue_20285():
    f = only("keras3/nested_training_false_unfrozen.keras", "BN103")
    assert f.layer == "base/bn1"
    assert "Keras 3 < 3.16" in f.message
    assert "`training=False` recorded on the call of 'base' does not hold them" in f.message
    assert "keras-team/keras#20285" in f.message
    assert "layer.trainable = False" in f.help and "3.16" in f.help


def test_bn103_is_fixed_by_keras_3_16_and_absent_from_tf_keras():
    assert "BN103" not in {f.code for f in findings("keras3/nested_training_false_unfrozen.keras", target="keras3>=3.16")}
    assert "BN103" not in {f.code for f in findings("tf_keras/nested_training_false_unfrozen.h5")}


def test_bn103_tf_keras_partly_unfrozen_base():
    f = only("tf_keras/partly_unfrozen_nested.keras", "BN103")
    assert f.layer == "base/bn2" and "1 trainable BN layer in nested model 'base' ('base/bn2') runs" in f.message
    assert "tf.keras (TF 2.x) / tf_keras" in f.message
    assert "base(inputs, training=False)" in f.help


# ------------------------------------------------------------------ BN104
def test_bn104_nested_base_without_training_false():
    f = only("keras3/nested_no_training.keras", "BN104")
    assert "nested model 'base' is called without `training=False`" in f.message
    assert "once the base is unfrozen" in f.message
    assert "keras-team/keras#20285" in f.help        # Keras < 3.16: training=False alone is not enough


def test_bn104_sequential_asks_for_the_functional_api():
    f = only("tf_keras/sequential_wrapped.h5", "BN104")
    assert "sits in a Sequential, which cannot record `training=False`" in f.message
    assert f.help.startswith("Build the model with the functional API instead of Sequential.")


def test_bn104_deep_nesting_is_reported_once_at_the_outermost_unheld_model():
    f = only("tf_keras/deep_nested.keras", "BN104")
    assert f.layer == "mid/base/bn1" and "nested model 'mid'" in f.message


def test_bn104_standalone_blind_spot_is_said_not_guessed():
    f = only("keras224/nested_flag_only.h5", "BN104")
    assert "standalone Keras 2.2.4 does not save `base.trainable = False`" in f.message
    assert "cannot tell whether the base was frozen" in f.message and "BN102" in f.message


# ------------------------------------------------------------------ BN105 / BN106
@pytest.mark.parametrize("rel", ["keras3/stats_at_init_trained.keras", "tf_keras/stats_at_init_trained_savedmodel",
                                 "tf115/stats_at_init_trained.h5"])
def test_bn105_statistics_at_init_in_a_trained_model(rel):
    f = only(rel, "BN105")
    assert f.layer == "bn1" and "'bn1', 'bn2'" in f.message
    assert "(mean 0, variance 1)" in f.message and "training steps" in f.message
    assert "They are frozen and never saw data" in f.message
    # only legacy Keras trains with batch statistics while inference uses the placeholders
    assert ("unlike fit(), which normalizes with batch statistics" in f.message) == rel.startswith("tf115")
    assert "weights='imagenet'" in f.help


def test_bn106_errors_and_warnings_name_the_channels():
    by_layer = {f.layer: f for f in findings("tf_keras/bad_stats.keras") if f.code == "BN106"}
    assert set(by_layer) == {"bn1", "bn2"}
    assert by_layer["bn1"].severity is None         # the catalogue's default: error
    assert "NaN/Inf in moving_variance (1 of 4 channels)" in by_layer["bn1"].message
    assert "negative moving variance in 1 of 4 channels" in by_layer["bn1"].message
    assert by_layer["bn2"].severity is Severity.WARNING
    assert "above 10000 in 2 of 4 channels" in by_layer["bn2"].message


def test_bn106_variance_limit_comes_from_the_context():
    layers = {f.layer for f in findings("keras3/bad_stats.h5", max_moving_variance=1e7) if f.code == "BN106"}
    assert layers == {"bn1"}
