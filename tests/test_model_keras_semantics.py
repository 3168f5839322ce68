"""bnlint's verdicts against the real Keras that wrote the fixtures (skipped without tf_keras/keras).

A model bnlint calls clean must give the same output in training and inference mode on a batch
(no BN layer uses batch statistics in fit()); a model it flags with BN103 must not. Runs Keras in
a subprocess so the test process itself stays free of TensorFlow.
"""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bnlint.context import RuleContext
from bnlint.model import analyze_model

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "fixtures" / "models"
ALL = frozenset({"BN101", "BN102", "BN103", "BN104"})

PROBE = """
import json, os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np
if sys.argv[1] == "tf_keras":
    import tf_keras as keras
else:
    import keras
out = {}
x = np.random.default_rng(0).normal(1.0, 2.0, (8, 8, 8, 3)).astype("float32")
for path in sys.argv[2:]:
    model = keras.models.load_model(path, compile=False)
    train = np.asarray(model(x, training=True))
    infer = np.asarray(model(x, training=False))
    out[path] = float(np.max(np.abs(train - infer)))
print(json.dumps(out))
"""


def probe(package: str, rels: list[str]) -> dict[str, float]:
    if importlib.util.find_spec(package) is None:
        pytest.skip(f"{package} is not installed")
    paths = [MODELS / r for r in rels]
    missing = [p for p in paths if not p.exists()]
    if missing:
        pytest.skip(f"fixtures not generated: {missing}")
    result = subprocess.run([sys.executable, "-c", PROBE, package, *map(str, paths)],
                            check=False, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    diffs = json.loads(result.stdout.strip().splitlines()[-1])
    return {rel: diffs[str(MODELS / rel)] for rel in rels}


def codes(rel: str) -> set[str]:
    return {f.code for f in analyze_model(MODELS / rel, rel, RuleContext(enabled=ALL))}


def test_tf_keras_clean_model_is_in_inference_mode_and_bn103_model_is_not():
    clean, flagged = "tf_keras/nested_training_false_unfrozen.h5", "tf_keras/partly_unfrozen_nested.h5"
    diffs = probe("tf_keras", [clean, flagged])
    assert codes(clean) == set() and diffs[clean] == 0.0          # the guide's recipe holds in tf_keras
    assert "BN103" in codes(flagged) and diffs[flagged] > 1e-4    # base/bn2 normalizes with batch stats


def test_keras3_ignores_training_false_after_unfreezing_as_bn103_says():
    clean, flagged = "keras3/nested_training_false.keras", "keras3/nested_training_false_unfrozen.keras"
    diffs = probe("keras", [clean, flagged])
    assert codes(clean) == set() and diffs[clean] == 0.0
    assert codes(flagged) == {"BN103"} and diffs[flagged] > 1e-4  # keras-team/keras#20285
