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
    assert f.layer == "base/bn1" and f.layers == ("base/bn1", "base/bn2")
    assert "2 frozen BN layers" in f.message


def test_help_ends_with_the_keras_it_is_for_and_why():
    assert only("tf_keras/nested_no_training.h5", "BN104").help.endswith(
        "[for tf.keras (TF 2.x) / tf_keras: file keras_version 2.21.0]")
    assert only("tf115/nested_no_training.h5", "BN102").help.endswith(
        "[assumed tf.keras in TF 1.x: keras_version 2.2.4-tf (early TF 2 wrote it too); set target-keras to change]")
    assert "[" not in only("tf115/nested_no_training.h5", "BN102", target="tf1").help   # the user said it


# ------------------------------------------------------------------ BN101
def test_bn101_one_finding_per_model_at_the_frozen_bn_layers():
    f = only("keras3/flat_frozen.keras", "BN101")
    assert (f.layer, f.layers) == ("bn1", ("bn1", "bn2"))
    assert f.message == "2 frozen BN layers of a flattened base: unfreezing them switches fit() to batch statistics"
    assert "keras-team/keras#20285" not in f.message and "Keras 3 < 3.16" in f.help


def test_bn101_under_legacy_keras_says_batch_statistics_in_fit():
    f = only("keras224/flat_frozen.h5", "BN101")
    assert "fit() still runs them on batch statistics (BN102)" in f.message
    assert f.help.endswith("[for standalone Keras 2.x: file keras_version 2.2.4]") and "as BN102 says" in f.help


def test_bn101_names_the_keras_application_when_the_table_knows_it():
    if not any(a.name == "MobileNetV2" for a in load_architectures()):
        pytest.skip("bnlint/data/applications.json has no MobileNetV2 yet")
    f = only("tf_keras/app_flat_frozen.h5", "BN101")
    assert f.message.startswith("52 frozen BN layers of a flattened MobileNetV2:")
    assert f.link_keys == ("arch:MobileNetV2",)
    assert len(f.layers) == 52


def test_a_small_custom_base_is_not_taken_for_an_application():
    f = only("tf_keras/flat_frozen.h5", "BN101")
    assert "a flattened base" in f.message and f.link_keys == ()


# ------------------------------------------------------------------ BN102
def test_bn102_standalone_keras_fix_is_training_false_on_each_bn_layer():
    f = only("keras224/flat_frozen.h5", "BN102")
    assert f.layer == "bn1"
    assert f.message == ("2 frozen BN layers use batch statistics in fit(), moving ones in predict() on "
                         "standalone Keras 2.x")
    assert "BatchNormalization(name='bn')(x, training=False)" in f.help
    assert "raises TypeError" in f.help           # base(x, training=False) is not an option there


def test_bn102_tf1_fix_is_the_nested_training_false_and_names_the_ambiguous_version():
    f = only("tf115/nested_no_training.h5", "BN102")
    assert f.layer == "base/bn1"
    assert "tf.keras in TF 1.x" in f.message and "2.2.4-tf" in f.help and "target-keras" in f.help
    assert "x = base(inputs, training=False)" in f.help and "TypeError" not in f.help


def test_bn102_sequential_asks_for_the_functional_api_where_it_helps():
    assert "functional API" not in only("keras224/sequential_wrapped.h5", "BN102").help   # standalone: no use
    assert only("tf115/sequential_wrapped.h5", "BN102").help.startswith(
        "'base' is in a Sequential: use the functional API.")


def test_an_explicit_target_settles_2_2_4_tf():
    # Early TF 2 also wrote 2.2.4-tf: under TF 2 semantics the frozen BN layers are in inference mode.
    codes = {f.code for f in findings("tf115/nested_no_training.h5", target="tf2")}
    assert codes == {"BN104"}
    f = only("tf115/flat_frozen.h5", "BN102", target="tf1")
    assert "2.2.4-tf" not in f.help             # the user settled it: no ambiguity note


# ------------------------------------------------------------------ BN103
def test_bn103_keras3_names_the_ignored_training_false_and_issue_20285():
    f = only("keras3/nested_training_false_unfrozen.keras", "BN103")
    assert f.layer == "base/bn1"
    assert "despite `training=False` on 'base' (keras-team/keras#20285)" in f.message
    assert "layer.trainable = False" not in f.help and "`trainable = False` on every BatchNormalization" in f.help
    assert "3.16" in f.help


def test_bn103_is_fixed_by_keras_3_16_and_absent_from_tf_keras():
    assert "BN103" not in {f.code for f in findings("keras3/nested_training_false_unfrozen.keras", target="keras3>=3.16")}
    assert "BN103" not in {f.code for f in findings("tf_keras/nested_training_false_unfrozen.h5")}


def test_bn103_tf_keras_partly_unfrozen_base():
    f = only("tf_keras/partly_unfrozen_nested.keras", "BN103")
    assert f.layer == "base/bn2" and f.layers == ()
    assert f.message == "1 trainable BN layer trains next to frozen pretrained layers: fit() overwrites its statistics"
    assert "tf.keras (TF 2.x) / tf_keras" in f.help
    assert "base(inputs, training=False)" in f.help


# ------------------------------------------------------------------ BN104
def test_bn104_nested_base_without_training_false():
    f = only("keras3/nested_no_training.keras", "BN104")
    assert f.message == "nested model 'base' lacks `training=False`: its 2 frozen BN layers train once it is unfrozen"
    assert "keras-team/keras#20285" in f.help        # Keras < 3.16: training=False alone is not enough


def test_bn104_sequential_asks_for_the_functional_api():
    f = only("tf_keras/sequential_wrapped.h5", "BN104")
    assert "nested model 'base' in a Sequential cannot take `training=False`" in f.message
    assert f.help.startswith("Build the model with the functional API instead of Sequential.")


def test_bn104_deep_nesting_is_reported_once_at_the_outermost_unheld_model():
    f = only("tf_keras/deep_nested.keras", "BN104")
    assert f.layer == "mid/base/bn1" and "nested model 'mid'" in f.message


def test_bn104_standalone_blind_spot_is_said_not_guessed():
    f = only("keras224/nested_flag_only.h5", "BN104")
    assert f.message == ("standalone Keras 2.2.4 cannot save `base.trainable = False`: if 'base' was frozen, its "
                         "2 BN layers use batch statistics in fit()")


# ------------------------------------------------------------------ BN105 / BN106
@pytest.mark.parametrize("rel", ["keras3/stats_at_init_trained.keras", "tf_keras/stats_at_init_trained_savedmodel",
                                 "tf115/stats_at_init_trained.h5"])
def test_bn105_statistics_at_init_in_a_trained_model(rel):
    f = only(rel, "BN105")
    assert (f.layer, f.layers) == ("bn1", ("bn1", "bn2"))
    assert f.message.startswith("2 BN layers kept initial moving statistics (0, 1) though the optimizer ran ")
    assert f.help.startswith("They are frozen and never saw data") and "weights='imagenet'" in f.help


def test_bn106_one_finding_per_kind_with_the_numbers():
    found = [f for f in findings("tf_keras/bad_stats.keras") if f.code == "BN106"]
    by_layer = {f.layer: f for f in found}
    assert set(by_layer) == {"bn1", "bn2"}
    assert by_layer["bn1"].severity is None         # the catalogue's default: error
    assert by_layer["bn1"].message == ("NaN/Inf in moving_variance (1/4 channels), negative variance (1/4): "
                                       "predictions turn NaN or garbage")
    assert by_layer["bn2"].severity is Severity.WARNING
    assert by_layer["bn2"].message.startswith("a moving variance above 10000 (2/4 channels, max 1e+06)")


def test_bn106_variance_limit_comes_from_the_context():
    layers = {f.layer for f in findings("keras3/bad_stats.h5", max_moving_variance=1e7) if f.code == "BN106"}
    assert layers == {"bn1"}


def test_bn106_groups_the_layers_of_one_base_with_the_rest_as_notes():
    [f] = [f for f in findings("tf_keras/app_flat_frozen.h5", enabled={"BN106"}, max_moving_variance=1e-12)]
    assert len(f.layers) == 52 and f.message.startswith("52 BN layers with broken statistics, here a moving variance")
    assert [r.layer for r in f.related] == list(f.layers[1:6])
    assert all(r.message.startswith("a moving variance above 1e-12") for r in f.related)
