"""BN107 on the real fine-tune fixtures (fixtures/generate_models.py, `finetune_*` styles).

MANIFEST.json records what the writer measured: after 10 steps fit() accuracy 1.0 and evaluate()
accuracy 0.33 on the same 12 images; after 600 steps 1.0 / 1.0.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bnlint.context import RuleContext
from bnlint.finding import Severity
from bnlint.model import analyze_model

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "fixtures" / "models"
WRITER_FILES = {
    "keras3": ("{}.keras", "{}.h5"),
    "tf_keras": ("{}.h5", "{}.keras", "{}_savedmodel"),
    "tf115": ("{}.h5",),
    "keras224": ("{}.h5",),
}
FILES = [f"{w}/{pattern}" for w, patterns in WRITER_FILES.items() for pattern in patterns]


def findings(rel: str, **ctx):
    path = MODELS / rel
    return [f for f in analyze_model(path, rel, RuleContext(enabled=frozenset({"BN107"}), **ctx))]


@pytest.mark.parametrize("pattern", FILES)
def test_short_fine_tune_is_reported_with_the_arithmetic(pattern):
    found = findings(pattern.format("finetune_short"))
    assert [f.code for f in found] == ["BN107"]
    f = found[0]
    assert f.severity is None            # the catalogue's warning
    assert f.layers == ("bn1", "bn2")
    assert f.message == ("2 BN layers got only 10 updates: 0.99^10 = 90 % of their moving statistics are stale, "
                         "so predict() lags fit()")
    assert f.related == ()
    assert "at least 69 steps" in f.help


@pytest.mark.parametrize("pattern", FILES)
def test_long_fine_tune_is_clean(pattern):
    assert findings(pattern.format("finetune_long")) == []


def test_the_manifest_records_the_gap_the_finding_predicts():
    for writer in WRITER_FILES:
        files = json.loads((MODELS / writer / "MANIFEST.json").read_text())["files"]
        short = next(e["fine_tune"] for name, e in files.items() if name.startswith("finetune_short"))
        long_ = next(e["fine_tune"] for name, e in files.items() if name.startswith("finetune_long"))
        assert short["optimizer_iterations"] == 10 and long_["optimizer_iterations"] == 600
        assert short["fit_accuracy_last_epoch"] == 1.0 and short["evaluate_accuracy_same_images"] < 0.5
        assert long_["evaluate_accuracy_same_images"] == 1.0


@pytest.mark.parametrize("rel, trace", [
    ("keras3/finetune_recompiled.keras", "the optimizer is named 'adam_1'"),
    ("keras3/finetune_recompiled.h5", "the optimizer is named 'adam_1'"),
    ("tf115/finetune_recompiled.h5", "the optimizer variables sit under 'training_2/'"),
    ("keras224/finetune_recompiled.h5", "the optimizer variables sit under 'training_1/'"),
])
def test_recompiled_model_is_info_with_the_uncertainty_where_the_file_shows_an_earlier_optimizer(rel, trace):
    """600 steps, compile() again, 10 steps: the counter says 10 although the statistics converged."""
    (f,) = findings(rel)
    assert f.severity is Severity.INFO
    [note] = f.related
    assert note.message.startswith("uncertain: the step count restarts at every compile()")
    assert trace in note.message


@pytest.mark.parametrize("pattern", WRITER_FILES["tf_keras"])
def test_tf_keras_leaves_no_trace_of_a_recompile_so_the_help_states_the_doubt(pattern):
    (f,) = findings("tf_keras/" + pattern.format("finetune_recompiled"))
    assert f.severity is None
    assert "since the last compile() with a new optimizer" in f.help


def test_threshold_comes_from_the_context():
    # 0.99^10 = 0.904: a limit above it silences the finding
    assert findings("keras3/finetune_short.keras", max_stale_bn_weight=0.95) == []
    assert findings("keras3/finetune_short.keras", max_stale_bn_weight=0.9) != []


def test_no_step_count_no_finding():
    # never compiled (no optimizer saved): nothing to count, nothing said
    assert findings("tf_keras/never_trained.h5") == []


def test_frozen_bn_layers_do_not_count():
    # every BN frozen: modern Keras keeps them in inference mode, legacy uses batch statistics
    # without updating them (BN102), so 2 training steps say nothing about their statistics
    for rel in ("keras3/flat_frozen.keras", "tf_keras/flat_frozen.h5", "tf115/flat_frozen.h5"):
        assert findings(rel) == []


def test_cli_config_key_and_rule_doc(tmp_path):
    target = tmp_path / "m.keras"
    target.write_bytes((MODELS / "keras3" / "finetune_short.keras").read_bytes())
    run = [sys.executable, "-m", "bnlint", "--select", "BN107", str(target)]
    assert subprocess.run(run, capture_output=True, text=True, cwd=tmp_path).returncode == 1
    (tmp_path / "pyproject.toml").write_text("[tool.bnlint]\nmax-stale-bn-weight = 0.95\n")
    assert subprocess.run(run, capture_output=True, text=True, cwd=tmp_path).returncode == 0
    (tmp_path / "pyproject.toml").write_text("[tool.bnlint]\nmax-stale-bn-weight = 1.5\n")
    bad = subprocess.run(run, capture_output=True, text=True, cwd=tmp_path)
    assert bad.returncode == 2 and "max-stale-bn-weight must be a number between 0 and 1" in bad.stderr
    doc = subprocess.run([sys.executable, "-m", "bnlint", "rule", "BN107"], capture_output=True, text=True)
    assert doc.returncode == 0
    assert "m^N" in doc.stdout and "0.99^N" in doc.stdout and "| 10 | 0.904 | 90 % |" in doc.stdout
