"""Run fixed scripts for real (tf_keras 2.21 and Keras 3.15.1) and check each fix's promise:

* BN001: the base ends up nested, called with `training=False`, and its BN layers give
  inference-mode outputs in `training=True` calls;
* BN002: after the unfreeze the base's BN layers are not trainable, the others are, `fit()` leaves
  the BN moving statistics alone (also on Keras 3.15, keras-team/keras#20285), and the model was
  compiled after the change;
* BN003 (a subclassed model forwarding `training=training`): the base runs in inference mode in a
  `training=True` call;
* BN004: the last compile() saw the trainable weights the model trains now, with the re-created
  optimizer accepted by both Keras.

Each fixed script runs with `weights=None` (no download), tiny inputs and one step of `fit` on random
data, all in one subprocess per Keras flavour (importing TensorFlow costs seconds). A prelude
records every `compile()` (how many trainable weights it saw). Standalone Keras 2.2.4 / TF 1.15:
tests/test_fix_execution_legacy.py.
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
from bnlint.script import analyze_script
from bnlint.target import parse_target
from test_script_support import fix_all

ROOT = pathlib.Path(__file__).resolve().parents[1]
ALL = frozenset({"BN001", "BN002", "BN003", "BN004", "BN005", "BN006"})
SEED = ROOT / "fixtures" / "example" / "train_flattened.py"
RUNNABLE = [
    ROOT / "fixtures" / "scripts" / "exec_mobilenet_tf_keras.py",
    ROOT / "fixtures" / "scripts" / "exec_resnet_keras_module.py",
    ROOT / "fixtures" / "scripts" / "exec_input_tensor_densenet.py",
]
FIXES = ROOT / "fixtures" / "scripts" / "fixes"

# Runs before each script: data for scripts that take it from elsewhere, and a record of compile().
PRELUDE = r'''
import numpy as _np
images = _np.random.RandomState(0).uniform(-1, 1, (4, 32, 32, 3)).astype("float32")
labels = _np.array([0, 1, 1, 0])
import importlib as _importlib
_Model = _importlib.import_module("tf_keras" if FLAVOUR == "tf_keras" else "keras").Model
_COMPILES = []
if not getattr(_Model.compile, "_recorded", False):
    _real_compile = _Model.compile
    def _recording_compile(self, *args, **kwargs):
        _COMPILES.append((self, len(self.trainable_weights)))
        kwargs.setdefault("run_eagerly", True)     # a few steps on 4 images: tracing would cost more
        return _real_compile(self, *args, **kwargs)
    _recording_compile._recorded = True
    _Model.compile = _recording_compile
else:
    _COMPILES = _Model.compile.__globals__["_COMPILES"]
    _COMPILES.clear()
'''

# BN002: BN frozen after the unfreeze, the rest trainable, compiled after it, fit() keeps BN statistics.
PROBE_BN_FROZEN = r'''
_model, _base = model, globals()[BASE]
_bn = [layer for layer in _base.layers if "BatchNormalization" in type(layer).__name__]
assert _bn and not any(layer.trainable for layer in _bn), "a BN layer is trainable after the fix"
assert any(layer.trainable_weights for layer in _base.layers if layer not in _bn), "nothing was unfrozen"
_seen = [n for m, n in _COMPILES if m is _model]
assert _seen and _seen[-1] == len(_model.trainable_weights), f"no compile() after the trainable change: {_seen}"
_before = [_np.array(layer.moving_mean) for layer in _bn]
_model.fit(images, labels, epochs=1, batch_size=4, verbose=0)
assert all(_np.allclose(b, _np.array(layer.moving_mean)) for b, layer in zip(_before, _bn)), "fit() moved BN statistics"
print("PASSED", NAME)
'''

# BN004: the last compile() saw the trainable weights the model trains with now.
PROBE_COMPILED = r'''
_model = model
_seen = [n for m, n in _COMPILES if m is _model]
assert len(_seen) >= 2 and _seen[-1] == len(_model.trainable_weights), f"no compile() after the trainable change: {_seen}"
_model.fit(images, labels, epochs=1, batch_size=4, verbose=0)
print("PASSED", NAME)
'''

# BN003 in a subclassed model: the base is in inference mode in a training=True call.
PROBE_SUBCLASS = r'''
_model = model
_model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
_model.fit(images, labels, epochs=1, batch_size=4, verbose=0)
assert _np.allclose(_np.array(_model(images, training=True)), _np.array(_model(images, training=False)), atol=1e-5), \
    "the base uses batch statistics in a training=True call"
_model.backbone.trainable = True
assert _np.allclose(_np.array(_model(images, training=True)), _np.array(_model(images, training=False)), atol=1e-5), \
    "after unfreezing, the base uses batch statistics in a training=True call"
print("PASSED", NAME)
'''

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
        exec(compile(case.get("prelude", ""), "prelude", "exec"), namespace)
        exec(compile(case["source"], case["name"], "exec"), namespace)
        exec(compile(case["probe"], "probe", "exec"), namespace)
    except Exception:
        print("FAILED", case["name"], traceback.format_exc().replace("\n", " | "))
'''


def _fixed(path: pathlib.Path, target: str = "tf1", codes=("BN001",)) -> str:
    """The script as `--fix --unsafe-fixes --target-keras TARGET` leaves it; each of `codes` had a fix."""
    data = path.read_bytes()
    ctx = RuleContext(enabled=ALL, target=parse_target(target))
    result = analyze_script(path, str(path), data, ctx)
    for code in codes:
        found = [f for f in result.findings if f.code == code]
        assert found and all(f.fix is not None for f in found), f"{path.name}: no {code} fix"
    fixed = fix_all(data.decode(), target=target, path=str(path), dedent=False)
    again = analyze_script(path, str(path), fixed.encode(), ctx)
    assert [f.code for f in again.findings if f.code in (*codes, "BN003")] == []
    return fixed


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
    cases = [{"name": SEED.name, "base": "base_model", "flavour": flavour, "prelude": PRELUDE,
              "source": _seed_runnable(_fixed(SEED), flavour), "probe": PROBE}]
    for path in RUNNABLE:
        cases.append({"name": path.name, "base": "base", "flavour": flavour, "prelude": PRELUDE,
                      "source": _runnable(_fixed(path), flavour), "probe": PROBE})
    for path, target, codes, probe in (
            (FIXES / "bn002_guide_keras3.py", "keras3", ("BN002",), PROBE_BN_FROZEN),
            (FIXES / "bn002_bn004_unfreeze_loop.py", "keras3", ("BN002", "BN004"), PROBE_BN_FROZEN),
            (ROOT / "fixtures" / "scripts" / "exec_bn004_sequential_keras.py", "keras3", ("BN004",), PROBE_COMPILED),
            (FIXES / "bn003_subclass_forwarding.py", "keras3", ("BN003",), PROBE_SUBCLASS)):
        cases.append({"name": path.name, "base": "base", "flavour": flavour, "prelude": PRELUDE,
                      "source": _runnable(_fixed(path, target, codes), flavour), "probe": probe})
    # Controls: the same probes fail on the code as written (so they can fail).
    for path, probe in ((FIXES / "bn002_guide_keras3.py", PROBE_BN_FROZEN),
                        (ROOT / "fixtures" / "scripts" / "exec_bn004_sequential_keras.py", PROBE_COMPILED)):
        cases.append({"name": f"unfixed-{path.name}", "base": "base", "flavour": flavour, "prelude": PRELUDE,
                      "source": _runnable(path.read_text(), flavour), "probe": probe, "expect": "FAILED"})
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
    expected = [f"{case.get('expect', 'PASSED')} {case['name']}" for case in cases]
    assert [" ".join(line.split()[:2]) for line in report] == expected, done.stdout + done.stderr[-3000:]


def test_unfixed_seed_really_is_flattened(tmp_path):
    """Control for the BN001 fix: the seed as written is flattened, the fix nests it."""
    source = SEED.read_text()
    assert "Model(inputs=base_model.input" in source
    fixed = _fixed(SEED)
    assert "Model(inputs=inputs, outputs=predictions)" in fixed
    assert "x = base_model(inputs, training=False)" in fixed
    assert "inputs = Input(shape=base_model.input_shape[1:])" in fixed
