"""The Python API: bnlint.check_paths / check_source / check_model return the CLI's findings as objects."""
import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest
import scenarios
from conftest import FIXTURES, ROOT

BN005 = "import keras\nkeras.backend.set_learning_phase(1)\nnorm = keras.layers.BatchNormalization()\n"


def test_import_bnlint_stays_light_and_check_source_imports_no_tensorflow():
    code = textwrap.dedent(f"""
        import sys, bnlint
        heavy = lambda: sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras', 'libcst', 'h5py'))
        assert not [m for m in sys.modules if m in ('bnlint.api', 'bnlint.engine', 'bnlint.catalogue')], sys.modules.keys()
        assert heavy() == [], heavy()
        found = bnlint.check_source({BN005!r}, path='train.py', target_keras='keras3', use_config=False)
        print([(f.code, f.line, f.severity.value) for f in found], heavy())
    """)
    result = subprocess.run([sys.executable, "-c", code], check=False, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[('BN005', 2, 'warning')] []"


def test_check_source_honours_noqa_options_and_reports_bad_input():
    import bnlint

    assert [f.code for f in bnlint.check_source(BN005, target_keras="keras3", use_config=False)] == ["BN005"]
    assert bnlint.check_source(BN005.replace("(1)", "(1)  # noqa: BN005"), use_config=False) == []
    assert bnlint.check_source(BN005, ignore=["BN0"], use_config=False) == []
    assert bnlint.check_source(BN005, select="BN1", use_config=False) == []
    [broken] = bnlint.check_source("import keras\nx = keras.applications.ResNet50(\n", path="broken.py",
                                   use_config=False)
    assert (broken.code, broken.path) == ("BN900", "broken.py")
    notebook = {"cells": [{"cell_type": "code", "source": BN005, "metadata": {}, "outputs": [],
                           "execution_count": None}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    [cell] = bnlint.check_source(json.dumps(notebook), path="nb.ipynb", use_config=False)
    assert (cell.code, cell.cell, cell.line) == ("BN005", 1, 2)


def test_check_source_finds_the_project_pins_of_its_path(tmp_path):
    import bnlint

    (tmp_path / "requirements.txt").write_text("tensorflow==2.15.0\n")
    [finding] = bnlint.check_source(BN005, path=tmp_path / "train.py", use_config=False)
    assert "requirements.txt pins tensorflow 2.15.0" in finding.help


@pytest.mark.parametrize("options,error", [
    ({"selct": ["BN1"]}, TypeError),
    ({"select": ["XX9"]}, ValueError),
    ({"target_keras": "banana"}, ValueError),
])
def test_bad_options_raise(options, error):
    import bnlint

    with pytest.raises(error):
        bnlint.check_source(BN005, **options)


def test_check_paths_matches_the_command_line(run_cli, tmp_path):
    import bnlint

    shutil.copy(FIXTURES / "models" / "keras3" / "partly_unfrozen_nested.keras", tmp_path / "model.keras")
    (tmp_path / "train.py").write_text(BN005)
    _, out, _ = run_cli("--no-config", "--target-keras", "keras3", "--output-format", "json", tmp_path)
    expected = [(f["path"], f["code"], f["layer"], f["line"]) for f in json.loads(out)]
    found = bnlint.check_paths(tmp_path, use_config=False, target_keras="keras3")
    assert [(f.path, f.code, f.layer, f.line) for f in found] == expected
    assert {f.code for f in found} >= {"BN005", "BN103", "BN104"}


# ---------------------------------------------------------------- check_model: live model == saved model
@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    return keras


def _styles(keras):
    """(name, compiled and fitted model) pairs that give different findings."""
    raw, labels, _ = scenarios.images()

    def fitted(model):
        model.fit(raw, labels, batch_size=12, epochs=1, verbose=0)
        return model

    flat_frozen = scenarios.flattened(keras, scenarios.bn_base(keras),
                                      frozen=("conv1", "bn1", "conv2", "bn2"))          # BN101; BN105: never trained
    nested = scenarios.bn_base(keras)
    partly = scenarios.nested_frozen(keras, nested)
    nested.trainable = True
    for name in ("conv1", "bn1"):
        nested.get_layer(name).trainable = False
    partly.compile("adam", "sparse_categorical_crossentropy")                          # BN103 (keras#20285)
    correct = scenarios.nested_frozen(keras, scenarios.bn_base(keras))                  # nothing
    return [("flat_frozen", fitted(flat_frozen)), ("partly_unfrozen", fitted(partly)), ("correct", fitted(correct))]


def test_check_model_agrees_with_the_saved_keras_file(keras, tmp_path):
    import bnlint

    seen = set()
    for name, model in _styles(keras):
        live = bnlint.check_model(model, path=name)
        path = tmp_path / f"{name}.keras"
        model.save(path)
        saved = bnlint.check_paths(path, use_config=False)
        # the same findings and fix; only the help's tail says where the Keras version came from
        assert [(f.code, f.layer, f.severity, f.message, f.help.rsplit(" [", 1)[0]) for f in live] == \
               [(f.code, f.layer, f.severity, f.message, f.help.rsplit(" [", 1)[0]) for f in saved], name
        assert all(f.help.endswith("[for Keras 3 < 3.16: the model was built by keras 3.15.1]") for f in live), name
        assert all(f.path == name for f in live)
        seen |= {f.code for f in live}
    assert seen >= {"BN101", "BN103", "BN105"}


def test_check_model_on_a_subclassed_model_is_bn901(keras):
    import bnlint

    class Net(keras.Model):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.dense = keras.layers.Dense(units)
            self.bn = keras.layers.BatchNormalization()

        def call(self, x, training=None):
            return self.bn(self.dense(x), training=training)

    model = Net(3)
    model(keras.ops.zeros((1, 4)))
    [finding] = bnlint.check_model(model)
    assert finding.code == "BN901" and "subclassed" in finding.message


def test_check_model_reads_the_live_trainable_flags_and_the_running_keras(keras):
    import bnlint

    base = scenarios.bn_base(keras)
    model = scenarios.nested_frozen(keras, base)          # nested, training=False: clean while frozen
    assert bnlint.check_model(model) == []
    base.trainable = True                                  # unfrozen: Keras 3.15 overrides training=False
    base.get_layer("conv1").trainable = False
    [finding] = bnlint.check_model(model)
    assert (finding.code, finding.layer) == ("BN103", "base/bn1")
    assert "keras-team/keras#20285" in finding.message and "[for Keras 3 < 3.16: " in finding.help
    assert bnlint.check_model(model, target_keras="tf2") == []      # tf_keras honours training=False


def test_check_model_on_tf_keras_agrees_with_its_h5_file(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT / "tests")!r})
        import tf_keras as keras, bnlint, scenarios
        base = scenarios.bn_base(keras)
        model = scenarios.flattened(keras, base, frozen=("conv1", "bn1"))
        scenarios.fine_tune(model, 1)
        model.save({str(tmp_path / "m.h5")!r})
        live = [(f.code, f.layer, f.message) for f in bnlint.check_model(model)]
        saved = [(f.code, f.layer, f.message) for f in bnlint.check_paths({str(tmp_path / "m.h5")!r}, use_config=False)]
        assert live == saved, (live, saved)
        print(sorted({{code for code, _, _ in live}}), "tf.keras (TF 2.x) / tf_keras" in bnlint.check_model(model)[0].help)
    """)
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run([sys.executable, "-c", script], check=False, cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    # bn1 frozen at 0/1 (BN105); bn2 trained one step (BN107)
    assert result.stdout.strip() == "['BN101', 'BN103', 'BN105', 'BN107'] True"
