"""End-to-end behaviour of the engine a user sees: inline suppressions, the Keras target named in
the advice, and model findings linked to the script line that built the model."""
import json
import shutil
import textwrap

import pytest

from conftest import FIXTURES

LEARNING_PHASE = textwrap.dedent('''\
    import tensorflow as tf

    tf.keras.backend.set_learning_phase(1){comment}
    tf.keras.backend.set_learning_phase(
        1,
    ){comment2}
    norm = tf.keras.layers.BatchNormalization()
''')


def codes_at(out: str):
    return [(f["code"], f["line"]) for f in json.loads(out)]


@pytest.mark.parametrize("comment, suppressed", [
    ("", False),
    ("  # noqa", True),
    ("  # NOQA: BN005", True),
    ("  # noqa: BN001, BN005", True),
    ("  # noqa:BN001 BN005", True),
    ("  # noqa: BN001", False),
    ("  # bnlint: ignore[BN005]", True),
    ("  # bnlint: ignore[BN004]", False),
])
def test_noqa_forms_on_the_reported_line(run_cli, tmp_path, comment, suppressed):
    script = tmp_path / "train.py"
    script.write_text(LEARNING_PHASE.format(comment=comment, comment2=""))
    code, out, _ = run_cli("--no-config", "--output-format", "json", script)
    expected = [("BN005", 4)] if suppressed else [("BN005", 3), ("BN005", 4)]
    assert codes_at(out) == expected


def test_noqa_on_the_first_line_of_a_multiline_statement(run_cli, tmp_path):
    script = tmp_path / "train.py"
    text = LEARNING_PHASE.format(comment="", comment2="").replace(
        "set_learning_phase(\n", "set_learning_phase(  # noqa: BN005\n")
    script.write_text(text)
    code, out, _ = run_cli("--no-config", "--output-format", "json", script)
    assert codes_at(out) == [("BN005", 3)]


def test_a_string_that_looks_like_noqa_does_not_suppress(run_cli, tmp_path):
    script = tmp_path / "train.py"
    script.write_text('import tensorflow as tf\nnote = "# noqa"; tf.keras.backend.set_learning_phase(1)\n'
                      'norm = tf.keras.layers.BatchNormalization()\n')
    code, out, _ = run_cli("--no-config", "--output-format", "json", script)
    assert codes_at(out) == [("BN005", 2)]


def test_script_advice_names_the_keras_it_is_for_and_why(run_cli, tmp_path):
    (tmp_path / ".git").mkdir()
    shutil.copy(FIXTURES / "example" / "train_flattened.py", tmp_path / "train.py")
    (tmp_path / "requirements.txt").write_text("keras==2.2.4\ntensorflow==1.15.5\n")
    code, out, _ = run_cli("--no-config", "--output-format", "json", tmp_path / "train.py")
    (bn001,) = [f for f in json.loads(out) if f["code"] == "BN001"]
    assert bn001["severity"] == "error"
    assert "[assumed standalone Keras 2.x: requirements.txt pins keras 2.2.4; set target-keras to change]" in bn001["help"]
    assert "TypeError" in bn001["help"] and bn001["fix"] is None

    # No pins, modern API: today's release (Keras 3.15), where a frozen BN is in inference mode.
    unpinned = tmp_path / "unpinned"
    (unpinned / ".git").mkdir(parents=True)
    shutil.copy(FIXTURES / "example" / "train_flattened.py", unpinned / "train.py")
    code, out, _ = run_cli("--no-config", "--output-format", "json", unpinned / "train.py")
    assert [f["code"] for f in json.loads(out) if f["code"] == "BN001"] == []

    # Keras 2-era API with `import keras` and nothing else: standalone Keras or TF 2's keras 2.x.
    with open(unpinned / "train.py", "a") as script:
        script.write("model.fit_generator(batches, epochs=3)\n")
    code, out, _ = run_cli("--no-config", "--output-format", "json", unpinned / "train.py")
    (bn001,) = [f for f in json.loads(out) if f["code"] == "BN001"]
    assert bn001["severity"] == "warning" and bn001["message"].startswith("on standalone Keras 2.x: ")
    assert "imports keras and calls fit_generator (Keras 2 era)" in bn001["help"]

    code, out, _ = run_cli("--no-config", "--target-keras", "2.2.4", "--output-format", "json", unpinned / "train.py")
    (bn001,) = [f for f in json.loads(out) if f["code"] == "BN001"]
    assert "assumed" not in bn001["help"]   # the user said which Keras: no need to repeat it


MOBILENET_SCRIPT = textwrap.dedent('''\
    import tensorflow as tf

    base = tf.keras.applications.MobileNetV2(weights="imagenet", include_top=False, input_shape=(32, 32, 3), alpha=0.35)
    for layer in base.layers:
        layer.trainable = False
    x = tf.keras.layers.GlobalAveragePooling2D()(tf.keras.applications.mobilenet_v2.preprocess_input(base.output))
    model = tf.keras.Model(inputs=base.input, outputs=tf.keras.layers.Dense(2)(x))
''')
APP_MODEL = FIXTURES / "models" / "tf115" / "app_flat_frozen.h5"


def test_model_findings_point_at_the_script_line_that_flattened_the_base(run_cli, tmp_path):
    (tmp_path / "train.py").write_text(MOBILENET_SCRIPT)
    shutil.copy(APP_MODEL, tmp_path / "model.h5")
    code, out, _ = run_cli("--no-config", "train.py", "model.h5", cwd=tmp_path)
    assert "model.h5: layer 'bn_Conv1' (and 51 more): BN101 52 frozen BN layers of a flattened MobileNetV2" in out
    assert "  note: train.py:7:9: the MobileNetV2 base is flattened here" in out
    code, out, _ = run_cli("--no-config", "--output-format", "json", "train.py", "model.h5", cwd=tmp_path)
    model_findings = [f for f in json.loads(out) if f["path"] == "model.h5"]
    assert {f["code"] for f in model_findings} == {"BN101", "BN102"}
    for f in model_findings:
        assert f["related"] == [{"path": "train.py", "line": 7, "column": 9, "cell": None, "layer": None,
                                 "message": "the MobileNetV2 base is flattened here"}]
        assert f["layer"] == "bn_Conv1" and len(f["layers"]) == 52


def test_no_link_when_unsure(run_cli, tmp_path):
    shutil.copy(APP_MODEL, tmp_path / "model.h5")
    # another architecture: nothing to link
    (tmp_path / "resnet.py").write_text(MOBILENET_SCRIPT.replace("MobileNetV2", "ResNet50").replace("mobilenet_v2", "resnet50")
                                        .replace(", alpha=0.35", ""))
    code, out, _ = run_cli("--no-config", "--output-format", "json", "resnet.py", "model.h5", cwd=tmp_path)
    assert all(f["related"] == [] for f in json.loads(out) if f["path"] == "model.h5")
    # two scripts flatten a MobileNetV2: which one made the file is unknown
    (tmp_path / "a.py").write_text(MOBILENET_SCRIPT)
    (tmp_path / "b.py").write_text(MOBILENET_SCRIPT)
    code, out, _ = run_cli("--no-config", "--output-format", "json", "a.py", "b.py", "model.h5", cwd=tmp_path)
    assert all(f["related"] == [] for f in json.loads(out) if f["path"] == "model.h5")


BN003_SCRIPT = textwrap.dedent('''\
    import tensorflow as tf

    base = tf.keras.applications.ResNet50(include_top=False, input_shape=(224, 224, 3))
    base.trainable = False
    inputs = tf.keras.Input(shape=(224, 224, 3))
    x = base(tf.keras.applications.resnet50.preprocess_input(inputs))
    model = tf.keras.Model(inputs, tf.keras.layers.Dense(2)(x))
''')


def test_text_summary_counts_fixes_and_fix_applies_them(run_cli, tmp_path):
    script = tmp_path / "train.py"
    script.write_text(BN003_SCRIPT)
    code, out, _ = run_cli("--no-config", script)
    assert out.splitlines()[0].startswith(f"{script}:6:5: BN003 ")
    assert out.rstrip().endswith("Found 1 finding (1 fixable with --fix).") and code == 1
    code, out, err = run_cli("--no-config", "--diff", script)
    assert "-x = base(tf.keras.applications.resnet50.preprocess_input(inputs))" in out
    assert "+x = base(tf.keras.applications.resnet50.preprocess_input(inputs), training=False)" in out
    assert "Would fix 1 finding." in err and code == 1 and script.read_text() == BN003_SCRIPT
    code, out, _ = run_cli("--no-config", "--fix", script)
    assert code == 0 and out.strip() == "Fixed 1 finding, none remaining."
    assert "x = base(tf.keras.applications.resnet50.preprocess_input(inputs), training=False)" in script.read_text()


def test_unsafe_fixes_are_announced_and_need_the_flag(run_cli, tmp_path):
    shutil.copy(FIXTURES / "example" / "train_flattened.py", tmp_path / "train.py")
    (tmp_path / "requirements.txt").write_text("tensorflow==1.15.5\n")    # tf.keras in TF 1.x takes the rewrite
    code, out, _ = run_cli("--no-config", "train.py", cwd=tmp_path)
    assert out.rstrip().endswith("Found 1 finding.\n1 hidden fix can be enabled with `--fix --unsafe-fixes`.")
    code, out, _ = run_cli("--no-config", "--fix", "train.py", cwd=tmp_path)
    assert "Model(inputs=base_model.input" in (tmp_path / "train.py").read_text()
    code, out, _ = run_cli("--no-config", "--fix", "--unsafe-fixes", "train.py", cwd=tmp_path)
    assert code == 0 and "x = base_model(inputs, training=False)" in (tmp_path / "train.py").read_text()
    code, _, err = run_cli("--no-config", "--unsafe-fixes", "train.py", cwd=tmp_path)
    assert code == 2 and "--unsafe-fixes needs --fix or --diff" in err
