"""Notebooks (cells share one namespace, magics neutralised, fixes keep the JSON layout) and
helpers imported from sibling modules of the same project."""
import json
import pathlib

import pytest

from bnlint.script import analyze_script, apply_fixes
from test_script_support import codes, FIXTURES, context

NOTEBOOK = FIXTURES / "flowers_finetune.ipynb"


def run(path: pathlib.Path, data: bytes | None = None, target=None):
    data = path.read_bytes() if data is None else data
    return analyze_script(path, str(path), data, context(target))


def test_notebook_findings_carry_cell_and_line_inside_the_cell():
    result = run(NOTEBOOK)
    assert [(f.code, f.cell, f.line, f.column) for f in result.findings] == [
        ("BN006", 3, 2, 14),     # MobileNetV2(...) in code cell 3
        ("BN002", 6, 1, 1),      # base_model.trainable = True (flattened in cell 4: no BN001 on Keras 3)
        ("BN004", 6, 1, 1),
    ]
    bn004 = result.findings[-1]
    assert [(r.cell, r.line, r.message) for r in bn004.related] == [
        (4, 5, "compiled here"), (6, 5, "trained here without compiling again")]
    assert result.suppressions == {(6, 1): frozenset({"BN004"})}
    assert [(b.kind, b.cell, b.line) for b in result.model_builds] == [("flattened", 4, 4), ("unfrozen", 6, 1)]


def test_notebook_fix_rewrites_only_the_cell_and_keeps_the_layout():
    data = NOTEBOOK.read_bytes()
    result = run(NOTEBOOK, data, target="tf1")
    # BN004 in cell 6 carries `# noqa: BN004`: the engine never fixes a suppressed finding
    fixed = apply_fixes(data, NOTEBOOK, [f for f in result.findings if f.code != "BN004"])
    before, after = json.loads(data), json.loads(fixed)
    changed = [i for i, (a, b) in enumerate(zip(before["cells"], after["cells"])) if a != b]
    assert changed == [4]                       # the 4th code cell is nb["cells"][4]
    assert "".join(after["cells"][4]["source"]) == (
        "inputs = layers.Input(shape=base_model.input_shape[1:])\n"
        "x = layers.GlobalAveragePooling2D()(base_model(inputs, training=False))\n"
        "x = layers.Dropout(0.2)(x)\n"
        "outputs = layers.Dense(5)(x)\n"
        "model = tf.keras.Model(inputs=inputs, outputs=outputs)\n"
        "model.compile(optimizer='adam', loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))")
    # Same JSON layout (Jupyter's: indent 1, key order, non-ASCII kept, trailing newline).
    assert json.dumps(before, indent=1, ensure_ascii=False) + "\n" == data.decode()
    assert json.dumps(after, indent=1, ensure_ascii=False) + "\n" == fixed.decode()
    assert [f.code for f in run(NOTEBOOK, fixed, target="tf1").findings if f.fix] == ["BN004"]


def test_magics_and_shell_lines_do_not_shift_positions():
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": [
        "%load_ext autoreload\n", "!nvidia-smi\n", "x = !ls\n", "import tensorflow as tf\n", "tf.keras.applications.VGG16?\n",
        "base = tf.keras.applications.ResNet50(include_top=False)\n", "y = base(tf.keras.Input((32, 32, 3)))\n"]}],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = pathlib.Path("magic.ipynb")
    result = analyze_script(path, "magic.ipynb", json.dumps(nb).encode(), context(enabled={"BN003"}))
    assert [(f.code, f.cell, f.line, f.column) for f in result.findings] == [("BN003", 1, 7, 5)]


def test_non_python_notebook_is_skipped():
    nb = {"cells": [{"cell_type": "code", "source": "base <- ResNet50(weights='imagenet')"}],
          "metadata": {"language_info": {"name": "R"}}, "nbformat": 4, "nbformat_minor": 5}
    result = analyze_script(pathlib.Path("r.ipynb"), "r.ipynb", json.dumps(nb).encode(), context())
    assert result.findings == []


# --- sibling modules ---------------------------------------------------------------------------

PROJECT = FIXTURES / "project"


def test_base_built_and_frozen_by_sibling_helpers():
    result = run(PROJECT / "train_flat.py", target="tf1")
    [finding] = result.findings
    assert (finding.code, finding.line, finding.column) == ("BN001", 20, 9)
    assert "`base` (Xception)" in finding.message        # make_backbone() default branch


def test_sibling_module_attribute_access_and_clean_nested_script():
    assert [f.code for f in run(PROJECT / "train_nested.py", target="tf2").findings] == []
    # the same script on Keras 3 < 3.16: unfreezing undoes the nested training=False
    result = run(PROJECT / "train_nested.py", target="keras3")
    assert [(f.code, f.line) for f in result.findings] == [("BN002", 19)]
    assert "DenseNet169" in result.findings[0].message


def test_findings_inside_the_sibling_are_reported_on_the_importing_line(tmp_path):
    # Issue 11: a project module's code that the script runs is part of the script's training.
    (tmp_path / "helpers.py").write_text(
        "import tensorflow as tf\n"
        "def head(base):\n"
        "    return tf.keras.layers.Dense(2)(base(tf.keras.Input((32, 32, 3))))\n")
    script = tmp_path / "train.py"
    script.write_text(
        "import tensorflow as tf\nfrom helpers import head\n"
        "base = tf.keras.applications.ResNet50(include_top=False)\nout = head(base)\n")
    result = analyze_script(script, "train.py", script.read_bytes(), context(enabled={"BN003"}))
    assert [(f.code, f.line, f.fix) for f in result.findings] == [("BN003", 4, None)]
    helper = tmp_path / "helpers.py"
    assert analyze_script(helper, "helpers.py", helper.read_bytes(), context(enabled={"BN003"})).findings == []


def test_freeze_and_unfreeze_in_an_inherited_method_of_another_module(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "__init__.py").write_text("")
    (tmp_path / "models" / "base_model.py").write_text(
        "class BaseModel:\n"
        "    freeze_layers_number = 80\n"
        "    def freeze_top_layers(self):\n"
        "        for layer in self.model.layers[:self.freeze_layers_number]:\n"
        "            layer.trainable = False\n"
        "        for layer in self.model.layers[self.freeze_layers_number:]:\n"
        "            layer.trainable = True\n"
        "    def train(self, data):\n"
        "        self.freeze_top_layers()\n"
        "        self.model.compile('sgd', 'categorical_crossentropy')\n"
        "        self.model.fit_generator(data, epochs=5)\n")
    script = tmp_path / "resnet50.py"
    script.write_text(
        "from keras.applications.resnet50 import ResNet50\nfrom keras.layers import Dense\n"
        "from keras.models import Model\nfrom models.base_model import BaseModel\n\n"
        "class ResNet(BaseModel):\n"
        "    def __init__(self):\n"
        "        base = ResNet50(include_top=False, pooling='avg')\n"
        "        self.model = Model(input=base.input, output=Dense(5)(base.output))\n\n"
        "ResNet().train(batches)\n")
    result = analyze_script(script, "resnet50.py", script.read_bytes(), context(enabled={"BN001", "BN002"}))
    assert [(f.code, f.line) for f in result.findings] == [("BN001", 9), ("BN002", 11)]


def test_instance_methods_run_where_they_are_called_with_their_arguments():
    source = """\
    from keras.applications.resnet50 import ResNet50
    from keras.layers import Dense
    from keras.models import Model

    class Trainer:
        def build(self, freeze=10, full_freeze="N"):
            base = ResNet50(weights="imagenet", include_top=False, pooling="avg")
            model = Model(input=base.input, output=Dense(5)(base.output))
            if full_freeze != "N":
                for layer in model.layers[:freeze]:
                    layer.trainable = False
            return model

    model = Trainer().build(freeze=10, full_freeze="N")
    model.compile("sgd", "mse")
    model.fit_generator(batches, epochs=3)
    """
    assert codes(source, enabled={"BN001", "BN002"}) == []
    frozen = source.replace('build(freeze=10, full_freeze="N")', 'build(freeze=10, full_freeze="Y")')
    assert codes(frozen, enabled={"BN001", "BN002"}) == ["BN001", "BN002"]


def test_missing_sibling_is_not_an_error(tmp_path):
    script = tmp_path / "train.py"
    script.write_text("from backbone_zoo import make\nimport tensorflow as tf\nbase = make()\n"
                      "for l in base.layers:\n    l.trainable = False\n")
    assert analyze_script(script, "train.py", script.read_bytes(), context()).findings == []


def test_guarded_unfreeze_helpers_are_clean_on_every_target():
    for target in ("2.2.4", "tf1", "tf2", "keras3", "keras3>=3.16"):
        codes = [f.code for f in run(FIXTURES / "unfreeze_helpers_bn_guard.py", target=target).findings]
        assert codes == [], target


def test_fixture_scripts_expected_findings():
    expected = {
        # BN layers kept trainable while every other pretrained layer is frozen: BN002 (decision 2)
        "kaggle_dogs_vs_cats.py": [("BN002", 29)],
        "legacy_finetune_k2.py": [("BN005", 10), ("BN001", 14), ("BN004", 22), ("BN002", 24)],
        "clean_guide_tf_keras.py": [],
        # keras-io's recipe on today's Keras: frozen is inference mode, the unfreeze keeps BN frozen
        "efficientnet_input_tensor.py": [],
        "unfreeze_helpers_bn_guard.py": [],
    }
    for name, wanted in expected.items():
        result = run(FIXTURES / name)
        assert [(f.code, f.line) for f in result.findings] == wanted, name


def _notebook(*cells: str) -> bytes:
    return json.dumps({"cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                                  "source": text} for text in cells],
                       "metadata": {}, "nbformat": 4, "nbformat_minor": 5}).encode()


FLAT_CELL = ("base = ResNet50(include_top=False)\nbase.trainable = False\n"
             "model = Model(base.input, Dense(2)(base.output))\nmodel.fit(x, y)\n")


@pytest.mark.parametrize("setup, imports, legacy", [
    ("%tensorflow_version 1.x", "from tensorflow.keras.applications import ResNet50\n"
                                "from tensorflow.keras.layers import Dense\nfrom tensorflow.keras.models import Model", True),
    ("!pip install -q tensorflow-gpu==1.15.0", "from tensorflow.keras.applications import ResNet50\n"
                                               "from tensorflow.keras.layers import Dense\nfrom tensorflow.keras import Model", True),
    ("!pip install keras==2.2.4", "from keras.applications import ResNet50\nfrom keras.layers import Dense\n"
                                  "from keras.models import Model", True),
    ("!pip install -q tensorflow", "from tensorflow.keras.applications import ResNet50\n"
                                   "from tensorflow.keras.layers import Dense\nfrom tensorflow.keras.models import Model", False),
])
def test_notebook_install_lines_pick_the_target(setup, imports, legacy):
    data = _notebook(setup + "\n" + imports, FLAT_CELL)
    result = analyze_script(pathlib.Path("colab.ipynb"), "colab.ipynb", data, context(enabled={"BN001"}))
    # BN001 breaks only on legacy Keras; a notebook that installs today's TensorFlow is Keras 3
    assert [(f.cell, f.line) for f in result.findings] == ([(2, 3)] if legacy else [])


def test_notebook_fix_adds_the_import_inside_the_cell():
    data = _notebook(
        "from keras.applications import DenseNet121\nfrom keras.applications.densenet import preprocess_input\n"
        "from keras.layers import Dense, Flatten\nfrom keras.models import Model",
        "base = DenseNet121(include_top=False, input_shape=(64, 64, 3))\nbase.trainable = False\n"
        "head = Dense(3)(Flatten()(base.output))\nmodel = Model(base.input, head)\nmodel.fit(x, y)\n")
    path = pathlib.Path("nb.ipynb")
    result = analyze_script(path, "nb.ipynb", data, context(target="tf1"))
    fixed = json.loads(apply_fixes(data, path, result.findings))
    # the file's `from keras.layers import` is in another cell: the import goes before the new code
    assert fixed["cells"][1]["source"] == (
        "base = DenseNet121(include_top=False, input_shape=(64, 64, 3))\nbase.trainable = False\n"
        "from keras.layers import Input\n\ninputs = Input(shape=(64, 64, 3))\n"
        "head = Dense(3)(Flatten()(base(inputs, training=False)))\nmodel = Model(inputs, head)\nmodel.fit(x, y)\n")
    assert fixed["cells"][0] == json.loads(data)["cells"][0]


def test_python_running_magics_keep_their_code():
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": [
        "import tensorflow as tf\n",
        "base = tf.keras.applications.ResNet50(include_top=False)\n",
        "%time y = base(tf.keras.Input((32, 32, 3)))\n"]},
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": [
            "%%time\n", "z = base(tf.keras.Input((64, 64, 3)))\n"]}],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    result = analyze_script(pathlib.Path("t.ipynb"), "t.ipynb", json.dumps(nb).encode(), context(enabled={"BN003"}))
    assert [(f.cell, f.line, f.column) for f in result.findings] == [(1, 3, 11), (2, 2, 5)]
    fixed = json.loads(apply_fixes(json.dumps(nb).encode(), pathlib.Path("t.ipynb"), result.findings))
    assert fixed["cells"][0]["source"][2] == "%time y = base(tf.keras.Input((32, 32, 3)), training=False)\n"
    assert fixed["cells"][1]["source"] == ["%%time\n", "z = base(tf.keras.Input((64, 64, 3)), training=False)\n"]
