"""Every real fixture model -> the exact set of codes analyze_model reports.

The table is written from the BN semantics (../shared/docs/keras-bn-semantics.md §1, §4), not
copied from bnlint's output:
* keras3 (3.15.1, Keras 3 < 3.16): frozen BN = inference; fit() overrides a recorded
  training=False once BN is trainable (#20285).
* tf_keras (2.21, TF2): frozen BN = inference; a recorded training=False holds BN even unfrozen.
* tf115 (2.2.4-tf, treated as TF 1.x, V1 BN) and keras224 (standalone 2.2.4): a frozen BN still
  normalizes with batch statistics in fit() (BN102) unless a training=False holds it; TF 1.x
  honours it on a nested-model call, standalone Keras cannot record it there.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from bnlint.context import RuleContext
from bnlint.errors import BnlintInputError, NoKerasConfig
from bnlint.model import analyze_model

MODELS = Path(__file__).resolve().parents[1] / "fixtures" / "models"
ALL_MODEL_RULES = frozenset({"BN101", "BN102", "BN103", "BN104", "BN105", "BN106", "BN107"})
CLEAN: frozenset = frozenset()

LEGACY = ("tf115", "keras224")
MODERN = ("keras3", "tf_keras")


def by_family(modern, legacy, **overrides):
    table = {w: frozenset(modern) for w in MODERN}
    table.update({w: frozenset(legacy) for w in LEGACY})
    table.update({w: frozenset(codes) for w, codes in overrides.items()})
    return table


# style -> writer -> codes (a writer missing from a style's row never writes that style)
EXPECTED = {
    # flattened, every base layer frozen: legacy Keras normalizes with batch stats in fit()
    "flat_frozen": by_family({"BN101"}, {"BN101", "BN102"}),
    # base.trainable=False, base(x, training=False): held everywhere it can be written
    "nested_training_false": {w: CLEAN for w in ("keras3", "tf_keras", "tf115")},
    # base(x) without training: fine while frozen in TF2/Keras 3, trains once unfrozen (BN104);
    # legacy: the frozen inner BN layers use batch statistics (BN102)
    "nested_no_training": by_family({"BN104"}, {"BN102"}),
    # keras224 only: base.trainable=False is neither saved nor propagated: blind spot note
    "nested_flag_only": {"keras224": frozenset({"BN104"})},
    # Sequential cannot record training=False
    "sequential_wrapped": by_family({"BN104"}, {"BN102"}),
    # each BN called with training=False: held in every Keras (frozen, so Keras 3 too)
    "bn_training_false": by_family(CLEAN, CLEAN),
    # bn1 frozen at the top level, bn2 trainable next to frozen conv1/bn1; bn2 trained 2 steps
    # (MANIFEST: updated in the last fit) with momentum 0.99: BN107
    "partly_unfrozen_flat": by_family({"BN101", "BN103", "BN107"}, {"BN101", "BN102", "BN103", "BN107"}),
    # bn1 frozen in a base called without training=False, bn2 unfrozen next to frozen conv1 and
    # trained 2 steps (BN107); keras224: the file cannot say whether the nested bn2 updated (its
    # MANIFEST says it did not), so no BN107
    "partly_unfrozen_nested": by_family({"BN103", "BN104", "BN107"}, {"BN102", "BN103", "BN107"},
                                        keras224=frozenset({"BN102", "BN103"})),
    # the guide's recipe: Keras 3 < 3.16 lets fit() override training=False (#20285), so the BN
    # layers also trained 2 steps (BN107); tf_keras and TF 1.x honour it
    "nested_training_false_unfrozen": {"keras3": frozenset({"BN103", "BN107"}), "tf_keras": CLEAN, "tf115": CLEAN},
    # BN107 scenario: pretrained BN CNN flattened, all trainable, fine-tuned on 12 raw-pixel images.
    # 10 steps: 0.99^10 = 0.90 of the pretrained statistics (MANIFEST: fit accuracy 1.0, evaluate 0.33)
    "finetune_short": by_family({"BN107"}, {"BN107"}),
    # 600 steps: converged (MANIFEST: 1.0 / 1.0)
    "finetune_long": by_family(CLEAN, CLEAN),
    # finetune_long, recompiled, 10 more steps: the file records 10 steps. Reported, with the
    # uncertainty at severity info where the file shows the earlier optimizer (all but tf_keras;
    # see tests/test_model_bn107.py)
    "finetune_recompiled": by_family({"BN107"}, {"BN107"}),
    "no_bn_base": by_family(CLEAN, CLEAN),
    "app_flat_frozen": by_family({"BN101"}, {"BN101", "BN102"}),
    # frozen before the only fit, never pretrained: statistics exactly 0/1 in a trained model
    "stats_at_init_trained": by_family({"BN101", "BN105"}, {"BN101", "BN102", "BN105"}),
    # flat_frozen + NaN/negative variance (bn1, error) and 1e6 variance (bn2, warning)
    "bad_stats": by_family({"BN101", "BN106"}, {"BN101", "BN102", "BN106"}),
    # fresh, never compiled nor fitted, nothing frozen: statistics at init are no finding
    "never_trained": by_family(CLEAN, CLEAN),
    "weights_only": by_family({"BN901"}, {"BN901"}),
    "export_savedmodel": {"keras3": frozenset({"BN901"})},
    # outer -> mid -> base (frozen), no training anywhere: reported once, at 'mid'
    "deep_nested": {"tf_keras": frozenset({"BN104"})},
    # mid(img, training=False) holds everything below it in tf_keras
    "deep_nested_training_false": {"tf_keras": CLEAN},
    # frozen BN called twice, only the first call with training=False: not held, flattened
    "shared_bn": {"tf_keras": frozenset({"BN101"})},
    # fixtures/models/zoo: files made by the model zoos themselves (fixtures/generate_zoo_models.py,
    # tf_keras 2.21 or Keras 3.15.1; docs/model-zoos.md). sm's encoder_freeze=True leaves every BN
    # trainable next to the frozen encoder, trained 1 step (BN107 with MobileNetV2's momentum 0.999)
    "sm_unet_mobilenetv2_encoder_freeze": {"zoo": frozenset({"BN103", "BN107"})},
    # the encoder's BN frozen too: flattened frozen BN (BN101); the decoder's new BN layers train
    # next to the frozen encoder for 1 step (BN103, BN107: a file cannot tell new BN layers apart)
    "sm_unet_mobilenetv2_encoder_bn_frozen": {"zoo": frozenset({"BN101", "BN103", "BN107"})},
    # qubvel's EfficientNet flattened and frozen, never unfrozen
    "qubvel_efficientnet_flat_frozen": {"zoo": frozenset({"BN101"})},
    # blind spots: keras_hub saves a backbone as its constructor arguments, a hub.KerasLayer keeps
    # its BN inside the SavedModel it points to: no BN layer in the file's config
    "keras_hub_resnet_nested": {"zoo": CLEAN},
    "tf_hub_keras_layer_trainable": {"zoo": CLEAN},
}


def style_of(path: Path) -> str:
    name = path.name
    for suffix in ("_savedmodel", ".weights.h5", ".h5", ".keras"):
        if name.endswith(suffix) and name != "export_savedmodel":
            return name[: -len(suffix)]
    return name


def fixture_files() -> list[Path]:
    found = []
    for writer_dir in sorted(p for p in MODELS.glob("*") if p.is_dir() and p.name != "hostile"):
        for p in sorted(writer_dir.iterdir()):
            if p.suffix in (".h5", ".keras") or (p.is_dir() and (p / "saved_model.pb").exists()):
                found.append(p)
    return found


def codes_for(path: Path, enabled=ALL_MODEL_RULES) -> frozenset[str]:
    ctx = RuleContext(enabled=frozenset(enabled))
    try:
        return frozenset(f.code for f in analyze_model(path, str(path), ctx))
    except NoKerasConfig:
        return frozenset({"BN901"})
    except BnlintInputError:
        return frozenset({"BN900"})


FILES = fixture_files()


@pytest.mark.skipif(not FILES, reason="fixtures/models not generated yet")
@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fixture_reports_exactly_the_expected_codes(path):
    writer, style = path.parent.name, style_of(path)
    assert style in EXPECTED and writer in EXPECTED[style], (
        f"new fixture {writer}/{path.name}: add its expected codes to EXPECTED (from the semantics)")
    assert codes_for(path) == EXPECTED[style][writer]


@pytest.mark.skipif(not FILES, reason="fixtures/models not generated yet")
def test_every_format_of_one_model_reports_the_same_layers():
    """.h5, .keras and SavedModel of one tf_keras model give the same findings (format-free graph)."""
    ctx = RuleContext(enabled=ALL_MODEL_RULES)
    compared = 0
    for style in EXPECTED:
        variants = [MODELS / "tf_keras" / f"{style}{ext}" for ext in (".h5", ".keras", "_savedmodel")]
        variants = [v for v in variants if v.exists()]
        if len(variants) < 2:
            continue
        try:
            results = {v.name: sorted((f.code, f.layer, f.message) for f in analyze_model(v, "m", ctx)) for v in variants}
        except NoKerasConfig:
            continue
        assert len({repr(r) for r in results.values()}) == 1, results
        compared += 1
    assert compared >= 5
