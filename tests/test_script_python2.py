"""Python 2 scripts and notebooks (legacy Keras): read through python2.py's rewrite, never fixed."""
import ast
import json
import textwrap

import pytest

from bnlint.script.python2 import python3_reading
from test_script_support import analyze, findings

# Valid Python 2.7 (checked with python2.7 -m py_compile), invalid Python 3: standalone Keras 2.x
# fine-tuning with the base flattened and frozen (BN001 on line 20).
PY2_TRAIN = textwrap.dedent("""\
    import sys
    from keras.applications.inception_v3 import InceptionV3
    from keras.layers import Dense, GlobalAveragePooling2D
    from keras.models import Model

    print "building the model"
    print >>sys.stderr, "verbose", 10L
    try:
        import cPickle as pickle
    except ImportError, e:
        print "no cPickle:", `e`
    mode = 0777
    if mode <> 0:
        name = ur"inception"

    base_model = InceptionV3(weights="imagenet", include_top=False)
    x = GlobalAveragePooling2D()(base_model.output)
    predictions = Dense(5, activation="softmax")(x)
    model = Model(inputs=base_model.input, outputs=predictions)
    for layer in base_model.layers:
        layer.trainable = False
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy")
    model.fit_generator(train_generator, steps_per_epoch=100, epochs=3)
    print "done"
""")
MODEL_LINE = 19


def test_a_python2_keras_script_is_analysed_with_findings_at_its_own_lines():
    [finding] = findings(PY2_TRAIN, target="standalone", enabled={"BN001"})
    assert (finding.code, finding.line) == ("BN001", MODEL_LINE)
    assert PY2_TRAIN.splitlines()[MODEL_LINE - 1][finding.column - 1:].startswith("Model(")


def test_python2_source_dates_a_keras_import_as_standalone_keras():
    [finding] = findings(PY2_TRAIN, enabled={"BN001"})
    # fit_generator alone would leave standalone Keras or TF 2's keras 2.x open (a conditional finding)
    assert not finding.message.startswith("on ")
    assert "[assumed standalone Keras 2.x: imports keras in Python 2 source" in finding.help


def test_python2_source_with_tf_keras_is_tf1_or_tf2():
    from bnlint.script.facts import Facts
    from bnlint.script.target_inference import infer_targets, note_python2
    from bnlint.target import Semantics

    facts = Facts()
    facts.imports.import_roots.append("tensorflow")
    note_python2(facts.imports)
    assert [t.semantics for t in infer_targets(facts.imports)] == [Semantics.TF1, Semantics.TF2]


PY2_TF_KERAS = textwrap.dedent("""\
    import tensorflow as tf
    print "loading"
    base = tf.keras.applications.ResNet50(include_top=False)
    out = base(tf.keras.Input((224, 224, 3)))
""")


def test_fix_never_rewrites_a_python2_file(tmp_path, run_cli):
    py3 = tmp_path / "py3.py"
    py3.write_text(PY2_TF_KERAS.replace('print "loading"', 'print("loading")'))
    py2 = tmp_path / "py2.py"
    py2.write_text(PY2_TF_KERAS)
    code, out, _ = run_cli("--select", "BN003", "--target-keras", "tf2", "--fix", "--unsafe-fixes", py3, py2)
    assert "training=False" in py3.read_text()           # the same code in Python 3 is fixed
    assert py2.read_text() == PY2_TF_KERAS
    assert code == 1 and "py2.py:4:7: BN003" in out and "py3.py:4" not in out
    [finding] = findings(PY2_TF_KERAS, target="tf2", enabled={"BN003"})
    assert (finding.line, finding.fix) == (4, None)
    assert "No automatic fix: bnlint reads this Python 2 source" in finding.help


BROKEN = "import keras\nprint 'x'\ndef f(:\n    pass\nbase = keras.applications.ResNet50()\n"


@pytest.mark.parametrize("source", [
    BROKEN,                                                           # Python 2 that Python 2 rejects too
    BROKEN.replace("print 'x'", "print('x')"),                         # a Python 3 syntax error
    "import keras\nprint 'x'\nbase = keras.applications.ResNet50(\n",   # unclosed, with a print statement
])
@pytest.mark.parametrize("enabled", [{"BN001", "BN003"}, {"BN005"}])  # analysed, or only syntax-checked
def test_what_no_reading_parses_stays_the_python3_syntax_error(source, enabled):
    from bnlint.errors import BnlintInputError

    try:
        compile(source, "<x>", "exec")
    except SyntaxError as exc:
        expected = (f"syntax error: {exc.msg}", exc.lineno)
    with pytest.raises(BnlintInputError) as raised:
        analyze(source, target="standalone", enabled=enabled, dedent=False)
    assert (raised.value.reason, raised.value.line) == expected


def _notebook(cells, python2_kernel=True) -> bytes:
    kernel = {"kernelspec": {"name": "python2", "language": "python", "display_name": "Python 2"},
              "language_info": {"name": "python", "version": "2.7.18"}} if python2_kernel else {}
    return json.dumps({"cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                                  "source": cell} for cell in cells],
                       "metadata": kernel, "nbformat": 4, "nbformat_minor": 2}).encode()


def test_a_python2_notebook_cell_is_read_like_a_python2_script():
    cells = ["import tensorflow as tf\nprint 'ok'",
             ("base = tf.keras.applications.ResNet50(include_top=False)\nprint base.name\n"
              "out = base(tf.keras.Input((224, 224, 3)))")]
    [finding] = analyze(_notebook(cells), path="nb.ipynb", enabled={"BN003"}).findings
    assert (finding.cell, finding.line, finding.code) == (2, 3, "BN003")
    assert "tf.keras in Python 2 source: TF 1.x or TF 2.0/2.1" in finding.help and finding.fix is None


def test_a_python2_kernel_dates_the_notebook_and_gets_no_fixes_even_in_python3_cells():
    cells = ["import tensorflow as tf\nbase = tf.keras.applications.ResNet50(include_top=False)\n"
             + "out = base(tf.keras.Input((224, 224, 3)))"]
    [finding] = analyze(_notebook(cells), path="nb.ipynb", target="tf2", enabled={"BN003"}).findings
    assert finding.fix is None and "No automatic fix" in finding.help
    [finding] = analyze(_notebook(cells, python2_kernel=False), path="nb.ipynb", target="tf2",
                        enabled={"BN003"}).findings
    assert finding.fix is not None
    [finding] = analyze(_notebook(cells), path="nb.ipynb", enabled={"BN003"}).findings
    assert "[assumed tf.keras in TF 1.x: tf.keras in Python 2 source" in finding.help


@pytest.mark.parametrize("python2, python3", [
    ('print "a", b,  # c\n', 'print("a", b,)  # c\n'),
    ("print >>f, x\n", "print(  f, x)\n"),
    ("exec code in ns\n", "exec(code ,  ns)\n"),
    ("raise ValueError, 'm'\n", "raise ValueError( 'm')\n"),
    ("x = 0xFFL + 7L\n", "x = 0xFF  + 7 \n"),
    ("if a <> b: print\n", "if a != b: print()\n"),
])
def test_the_rewrite_keeps_lines_and_the_columns_of_the_rest(python2, python3):
    assert python3_reading(python2).text == python3
    ast.parse(python3)


def test_indentation_mixing_tabs_and_spaces_is_read_as_python2_did_with_columns_as_written():
    source = ("import tensorflow as tf\ndef build():\n"
              "\tbase = tf.keras.applications.ResNet50(include_top=False)\n"
              "        print 'built'\n"                        # 8 spaces: the tab's depth in Python 2
              "\tout = base(tf.keras.Input((224, 224, 3)))\n"
              "\treturn out\n")
    [finding] = findings(source, target="tf2", enabled={"BN003"})
    assert (finding.line, finding.column, finding.end_column) == (5, 8, 43)


def test_python3_source_has_nothing_to_rewrite():
    assert python3_reading("from __future__ import print_function\nprint('x', file=f)\nx = 0o7\n") is None
