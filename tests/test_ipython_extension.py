"""`%load_ext bnlint` in a real IPython InteractiveShell running cells."""
import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from traitlets.config import Config


@pytest.fixture
def shell(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)          # the session's [tool.bnlint] is looked up from here
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    InteractiveShell.clear_instance()
    ip = InteractiveShell.instance(config=config)
    yield ip
    ip.run_line_magic("unload_ext", "bnlint") if "bnlint" in ip.extension_manager.loaded else None
    InteractiveShell.clear_instance()


def run(ip, cell):
    """Run one cell; (result, texts bnlint displayed or printed, html displayed)."""
    with capture_output() as captured:
        result = ip.run_cell(cell, store_history=True)
    texts = [o.data.get("text/plain", "") for o in captured.outputs]
    html = [o.data.get("text/html", "") for o in captured.outputs]
    printed = [line for line in captured.stdout.splitlines() if line.startswith("bnlint")]
    return result, texts + printed, html


# Static code whose Keras is settled by its own import (never run: `if False`), so no TensorFlow is
# imported; the cells that use it fail with NameError, but they are part of the executed history.
NO_TF_CELLS = [
    "if False:\n    import tf_keras as keras\n",
    "base_model = keras.applications.EfficientNetB0(include_top=False)\nbase_model.trainable = False\n",
    "inputs = keras.Input(shape=(224, 224, 3))\nx = base_model(inputs)\n",
]


def test_findings_appear_once_under_the_cell_that_causes_them(shell):
    assert run(shell, "%load_ext bnlint")[1] == []
    assert run(shell, NO_TF_CELLS[0])[1] == []
    assert run(shell, NO_TF_CELLS[1])[1] == []
    _, texts, html = run(shell, NO_TF_CELLS[2])
    [text] = texts
    assert text.startswith("bnlint: In [4], line 2: BN003 ") and "`base_model`" in text.splitlines()[0]
    assert "\n  help: " in text and "training=False" in text
    assert "rules/BN003.yaml" in text
    assert "<a href='https://github.com/bnlint/bnlint/blob/main/rules/BN003.yaml'" in html[0]
    assert "In [4], line 2" in html[0]
    # shown once: a later clean cell shows nothing
    assert run(shell, "z = 1")[1] == []
    # `%bnlint` shows every current finding again
    [again] = run(shell, "%bnlint")[1]
    assert "BN003" in again


def test_off_on_and_a_clean_session(shell):
    run(shell, "%load_ext bnlint")
    assert run(shell, "%bnlint")[1] == ["bnlint: no findings in this session"]
    assert run(shell, "%bnlint off")[1] == ["bnlint: checks after each cell are off"]
    for cell in NO_TF_CELLS:
        assert run(shell, cell)[1] == []
    # on again: what the session ran meanwhile is checked right away
    [finding, message] = run(shell, "%bnlint on")[1]
    assert message == "bnlint: checks after each cell are on"
    assert finding.startswith("bnlint: In [6], line 2: BN003")
    assert run(shell, "w = 2")[1] == []


def test_a_cell_that_did_not_compile_hides_nothing(shell):
    run(shell, "%load_ext bnlint")
    run(shell, NO_TF_CELLS[0])
    run(shell, NO_TF_CELLS[1])
    result, texts, _ = run(shell, "def broken(:\n    pass\n")
    assert result.error_before_exec is not None and texts == []
    [text] = run(shell, NO_TF_CELLS[2])[1]
    assert "In [5], line 2: BN003" in text


def test_model_magic_needs_a_variable(shell):
    run(shell, "%load_ext bnlint")
    assert run(shell, "%bnlint missing_model")[1] == ["bnlint: `%bnlint missing_model`: no variable `missing_model` in this session"]
    run(shell, "numbers = [1, 2]")
    [text] = run(shell, "%bnlint numbers")[1]
    assert "BN900" in text and "not a Keras model" in text


@pytest.fixture(scope="module")
def mobilenet_weights(tmp_path_factory):
    """Weights for a tiny MobileNetV2, saved by tf_keras itself, standing in for the ImageNet
    download (the cells load them as `weights=WEIGHTS`, which makes the base pretrained)."""
    import tf_keras

    path = tmp_path_factory.mktemp("weights") / "mobilenet_v2_0.35_32.h5"
    tf_keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, include_top=False,
                                      weights=None).save_weights(str(path))
    return str(path)


def test_live_tf_keras_session_bn002_after_unfreezing_and_bn103_on_the_model(shell, mobilenet_weights):
    import tf_keras

    shell.push({"WEIGHTS": mobilenet_weights})
    cells = [
        "%load_ext bnlint",
        "import numpy as np\nimport tf_keras as keras\nimages, labels = np.zeros((2, 32, 32, 3)), np.zeros(2)",
        "base = keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, include_top=False, weights=WEIGHTS)\n"
        "x = keras.layers.GlobalAveragePooling2D()(base.output)\n"
        "model = keras.Model(inputs=base.input, outputs=keras.layers.Dense(2, activation='softmax')(x))",
        "for layer in base.layers:\n    layer.trainable = False\n"
        "model.compile(optimizer='sgd', loss='sparse_categorical_crossentropy')\n"
        "model.fit(images, labels, epochs=1, verbose=0)",
    ]
    shown_before = []
    for cell in cells:
        result, texts, _ = run(shell, cell)
        assert result.success, result.error_in_exec
        shown_before.extend(texts)
    assert not any(" BN002 " in text for text in shown_before)

    unfreeze = ("for layer in model.layers[100:]:\n    layer.trainable = True\n"
                "model.compile(optimizer='sgd', loss='sparse_categorical_crossentropy')\n"
                "model.fit(images, labels, epochs=1, verbose=0)")
    result, texts, _ = run(shell, unfreeze)
    assert result.success, result.error_in_exec
    [bn002] = [text for text in texts if ": BN002 " in text]
    assert bn002.startswith("bnlint: In [5], line 2: BN002")
    # the kernel's own Keras is the target, as a fact, not an assumption
    assert f"[for tf.keras (TF 2.x) / tf_keras: the kernel runs tf_keras {tf_keras.__version__}]" in bn002

    [report] = run(shell, "%bnlint model")[1]
    assert "bnlint: model `model`, layer " in report and ": BN103 " in report
    assert "tf.keras (TF 2.x) / tf_keras" in report

    # a subclassed model keeps no layer graph in its config: said plainly, nothing raised
    result, _, _ = run(shell, "class Head(keras.Model):\n    def call(self, x):\n        return x\nhead = Head()")
    assert result.success
    [report] = run(shell, "%bnlint head")[1]
    assert ": BN901 " in report and "subclassed model" in report


def test_model_magic_on_a_keras3_model_uses_keras3(shell):
    run(shell, "%load_ext bnlint")
    result, _, _ = run(shell, "import keras\n"
                              "model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4), "
                              "keras.layers.BatchNormalization(), keras.layers.Dense(2)])\n"
                              "model.layers[0].trainable = False")
    assert result.success, result.error_in_exec
    [report] = run(shell, "%bnlint model")[1]
    assert ": BN103 " in report and "layer 'batch_normalization'" in report
    assert "Keras 3 < 3.16" in report                # the running keras 3.15, not tf_keras or a guess


# --- which Keras the kernel runs (bnlint.live reads sys.modules, imports nothing) ---------------

def fake_module(name, version):
    import types

    module = types.ModuleType(name)
    module.__version__ = version
    return module


@pytest.mark.parametrize("modules, imports, env, expected", [
    ({"keras": "2.2.4"}, ["keras"], "", "standalone-2.1.3+"),
    ({"keras": "3.15.1"}, ["keras"], "", "keras3<3.16"),
    ({"keras": "3.16.0"}, ["keras"], "", "keras3>=3.16"),
    ({"tensorflow": "1.15.5"}, ["tensorflow"], "", "tf1"),
    ({"tensorflow": "2.15.1"}, ["tensorflow"], "", "tf2"),
    ({"tensorflow": "2.21.0", "keras": "3.15.1"}, ["tensorflow"], "", "keras3<3.16"),
    ({"tensorflow": "2.21.0", "tf_keras": "2.21.0"}, ["tensorflow"], "1", "tf2"),
    ({"tensorflow": "2.21.0", "tf_keras": "2.21.0"}, ["tf_keras", "tensorflow"], "", "tf2"),
])
def test_session_target_is_the_imported_keras(monkeypatch, modules, imports, env, expected):
    import sys

    from bnlint.live import session_target

    for name in ("keras", "tensorflow", "tf_keras"):
        if name in modules:
            monkeypatch.setitem(sys.modules, name, fake_module(name, modules[name]))
        else:
            monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.setenv("TF_USE_LEGACY_KERAS", env)
    target = session_target(imports)
    assert target.semantics.value == expected and target.observed


def test_no_imported_keras_leaves_the_target_to_the_usual_rules(monkeypatch):
    import sys

    from bnlint.live import session_target

    monkeypatch.delitem(sys.modules, "tf_keras", raising=False)
    assert session_target(["tf_keras"]) is None
