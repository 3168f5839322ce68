"""Run BN001-fixed scripts for real (tf_keras and Keras 3): the base must end up nested, called with
`training=False`, and its BN layers must give inference-mode outputs in `training=True` calls.

The fixed scripts run with `weights=None` (no download), tiny inputs and one step of `fit` on random
data, in one subprocess per Keras flavour (importing TensorFlow costs seconds).
"""
from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

from bnlint.context import RuleContext
from bnlint.script import analyze_script, apply_fixes
from bnlint.target import parse_target

ROOT = pathlib.Path(__file__).resolve().parents[1]
ALL = frozenset({"BN001", "BN002", "BN003", "BN004", "BN005", "BN006"})
SEED = ROOT / "fixtures" / "example" / "train_flattened.py"
RUNNABLE = [
    ROOT / "fixtures" / "scripts" / "exec_mobilenet_tf_keras.py",
    ROOT / "fixtures" / "scripts" / "exec_resnet_keras_module.py",
    ROOT / "fixtures" / "scripts" / "exec_input_tensor_densenet.py",
]

# The probe runs after each fixed script in the same namespace: `model` is the trained model and
# `BASE` names the variable holding the pretrained base.
PROBE = r'''
import json as _json
import numpy as _np
_model, _base = model, globals()[BASE]
assert any(layer is _base for layer in _model.layers), "base is not a nested layer of the model"
_config = _json.dumps(_model.get_config())
assert '"training": false' in _config, "the nested call did not record training=False"
_x = _np.random.RandomState(2).uniform(-1, 1, (4,) + tuple(_base.input_shape[1:])).astype("float32")
_bn = [layer for layer in _base.layers if "BatchNormalization" in type(layer).__name__]
assert _bn, "no BatchNormalization layer in the base"
_before = [_np.array(layer.moving_mean) for layer in _bn]
_train = _np.array(_model(_x, training=True))
_infer = _np.array(_model(_x, training=False))
assert _np.allclose(_train, _infer, atol=1e-5), "BN layers use batch statistics in a training=True call"
_model.fit(_x, _np.eye(_model.output_shape[-1])[[0] * 4], epochs=1, batch_size=4, verbose=0)
assert all(_np.allclose(b, _np.array(layer.moving_mean)) for b, layer in zip(_before, _bn)), "fit() moved BN statistics"
if FLAVOUR == "tf_keras":
    # tf_keras honours the nested training=False even after unfreezing (the guide's fine-tuning step).
    _base.trainable = True
    _model.compile(optimizer="sgd", loss="categorical_crossentropy")
    _model.fit(_x, _np.eye(_model.output_shape[-1])[[0] * 4], epochs=1, batch_size=4, verbose=0)
    assert _np.allclose(_np.array(_model(_x, training=True)), _np.array(_model(_x, training=False)), atol=1e-5)
print("PASSED", NAME)
'''

RUNNER = r'''
import json, os, sys, traceback
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
cases = json.loads(open(sys.argv[1]).read())
for case in cases:
    namespace = {"__name__": "__main__", "BASE": case["base"], "FLAVOUR": case["flavour"], "NAME": case["name"]}
    try:
        exec(compile(case["source"], case["name"], "exec"), namespace)
        exec(compile(case["probe"], "probe", "exec"), namespace)
    except Exception:
        print("FAILED", case["name"], traceback.format_exc().replace("\n", " | "))
'''


def _fixed(path: pathlib.Path) -> str:
    data = path.read_bytes()
    ctx = RuleContext(enabled=ALL, target=parse_target("tf1"))      # BN001 and its fix: legacy tf.keras
    result = analyze_script(path, str(path), data, ctx)
    bn001 = [f for f in result.findings if f.code == "BN001"]
    assert bn001 and all(f.fix is not None for f in bn001), f"{path.name}: no BN001 fix"
    fixed = apply_fixes(data, path, result.findings)
    again = analyze_script(path, str(path), fixed, ctx)
    assert [f.code for f in again.findings if f.code in ("BN001", "BN003")] == []
    return fixed.decode()


def _runnable(source: str, flavour: str) -> str:
    source = re.sub(r"""weights=(['"])imagenet\1""", "weights=None", source)
    if flavour == "tf_keras":
        source = re.sub(r"\btensorflow\.keras\b", "tf_keras", source)
        source = re.sub(r"^from keras\b", "from tf_keras", source, flags=re.M)
        source = re.sub(r"^import keras$", "import tf_keras as keras", source, flags=re.M)
    return source


def _seed_runnable(source: str, flavour: str) -> str:
    # The seed trains from an image folder: keep the model part, give InceptionV3 its minimum input.
    source = source.split("\n# images resized to IMAGE_SIZE")[0]
    source = source.replace("include_top=False)", "include_top=False, input_shape=(75, 75, 3))")
    source += "\nmodel.fit(_np_random((4, 75, 75, 3)), _np_eye(4), epochs=1, batch_size=4, verbose=0)\n"
    source = ("import numpy as _np\n"
              "_np_random = lambda shape: _np.random.RandomState(0).uniform(-1, 1, shape).astype('float32')\n"
              "_np_eye = lambda n: _np.eye(NUM_CLASSES)[[i % NUM_CLASSES for i in range(n)]]\n") + source
    return _runnable(source, flavour)


def _flavour_available(flavour: str) -> bool:
    module = "tf_keras" if flavour == "tf_keras" else "keras"
    probe = f"import {module}" if flavour == "tf_keras" else "import keras, tensorflow; assert keras.__version__ >= '3'"
    try:
        return subprocess.run([sys.executable, "-c", probe], capture_output=True, timeout=120).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.parametrize("flavour", ["tf_keras", "keras3"])
def test_fixed_scripts_train_with_bn_in_inference_mode(flavour, tmp_path):
    if not _flavour_available(flavour):
        pytest.skip(f"{flavour} is not importable here")
    cases = [{"name": SEED.name, "base": "base_model", "flavour": flavour,
              "source": _seed_runnable(_fixed(SEED), flavour), "probe": PROBE}]
    for path in RUNNABLE:
        cases.append({"name": path.name, "base": "base", "flavour": flavour,
                      "source": _runnable(_fixed(path), flavour), "probe": PROBE})
    spec = tmp_path / "cases.json"
    spec.write_text(json.dumps(cases))
    runner = tmp_path / "runner.py"
    runner.write_text(RUNNER)
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3")
    if flavour == "tf_keras":
        env["TF_USE_LEGACY_KERAS"] = "1"       # `tf.keras` is tf_keras (TF >= 2.16)
    else:
        env.pop("TF_USE_LEGACY_KERAS", None)
    done = subprocess.run([sys.executable, str(runner), str(spec)], capture_output=True, text=True,
                          timeout=900, env=env, cwd=tmp_path)
    report = [line for line in done.stdout.splitlines() if line.startswith(("PASSED", "FAILED"))]
    assert report == [f"PASSED {case['name']}" for case in cases], done.stdout + done.stderr[-3000:]


def test_unfixed_seed_really_is_flattened(tmp_path):
    """Control for the probe: the seed as written fails the 'base is nested' check."""
    source = SEED.read_text()
    assert "Model(inputs=base_model.input" in source
    fixed = _fixed(SEED)
    assert "Model(inputs=inputs, outputs=predictions)" in fixed
    assert "x = base_model(inputs, training=False)" in fixed
    assert "inputs = Input(shape=base_model.input_shape[1:])" in fixed
