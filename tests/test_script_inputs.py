"""Reading scripts: encodings, BOM, CRLF, broken input (BN900), the prefilter."""
import json
import pathlib

import pytest

from bnlint.errors import BnlintInputError
from bnlint.script import analyze_script, apply_fixes
from test_script_support import analyze, context

CALLED = (
    "import tensorflow as tf\n"
    "base = tf.keras.applications.ResNet50(include_top=False)  # café\n"
    "out = base(tf.keras.Input((224, 224, 3)))\n"
)
FIXED_CALL = "out = base(tf.keras.Input((224, 224, 3)), training=False)"


def run(data: bytes, name="train.py"):
    path = pathlib.Path(name)
    return analyze_script(path, name, data, context(enabled={"BN003"}))


def fixed(data: bytes, name="train.py") -> bytes:
    return apply_fixes(data, pathlib.Path(name), run(data, name).findings)


def test_latin1_coding_line_is_honoured_and_kept():
    data = ("# -*- coding: latin-1 -*-\n" + CALLED).encode("latin-1")
    [finding] = run(data).findings
    assert (finding.line, finding.column) == (4, 7)
    out = fixed(data)
    assert out.decode("latin-1").splitlines()[3] == FIXED_CALL
    assert "café".encode("latin-1") in out


def test_bom_and_crlf_are_preserved():
    data = b"\xef\xbb\xbf" + CALLED.replace("\n", "\r\n").encode()
    [finding] = run(data).findings
    assert (finding.line, finding.column) == (3, 7)
    out = fixed(data)
    assert out.startswith(b"\xef\xbb\xbf")
    assert out.count(b"\r\n") == 3 and b"\n" not in out.replace(b"\r\n", b"")
    assert FIXED_CALL.encode() in out


def test_non_ascii_before_the_finding_counts_columns_in_characters():
    data = CALLED.replace("out = base(", "é = base(").encode()
    [finding] = run(data).findings
    assert (finding.line, finding.column) == (3, 5)
    assert FIXED_CALL.replace("out = ", "é = ") in fixed(data).decode()


@pytest.mark.parametrize("line, column", [
    ("if ready: out = base(tf.keras.Input((224, 224, 3)))", 17),     # one-line suite
    ("ready = 1; out = base(tf.keras.Input((224, 224, 3)))", 18),    # second statement of a line
])
def test_statements_sharing_a_line_are_analysed(line, column):
    data = CALLED.replace("out = base(tf.keras.Input((224, 224, 3)))", line).encode()
    [finding] = run(data).findings
    assert (finding.line, finding.column) == (3, column)
    assert fixed(data).decode().splitlines()[2] == line[:-1] + ", training=False)"


@pytest.mark.parametrize("data, reason", [
    (b"import keras\nx = keras.applications.ResNet50(\n", "syntax error"),
    (b"import keras\nbase = keras.applications.ResNet50()\n\xff\xfe = 1\n", "cannot decode as utf-8"),
    (b"keras.applications\x00\x01\x02", "binary"),
    (b"# coding: no-such-codec\nimport keras.applications\n", "encoding"),
    (b"import keras\nbase = keras.applications.ResNet50()\nx = " + b"(" * 5000 + b")" * 5000 + b"\n",
     "nest"),
])
def test_broken_scripts_raise_bn900(data, reason):
    with pytest.raises(BnlintInputError) as info:
        run(data)
    assert reason in info.value.reason
    assert info.value.code == "BN900"


def test_syntax_error_reports_the_line():
    with pytest.raises(BnlintInputError) as info:
        run(b"import keras\n\nbase = keras.applications.ResNet50()\ndef build(:\n    return base\n")
    assert info.value.reason == "syntax error: invalid syntax"
    assert (info.value.line, info.value.column, info.value.cell) == (4, 11, None)


@pytest.mark.parametrize("data, reason", [
    (b"{not json", "not valid JSON"),
    (b'{"metadata": {}}', "no 'cells'"),
    (b'{"cells": [{"source": "x"}]}', "cell_type"),
    (b'{"cells": [{"cell_type": "code"}]}', "source"),
])
def test_broken_notebooks_raise_bn900(data, reason):
    with pytest.raises(BnlintInputError) as info:
        run(data, "nb.ipynb")
    assert reason in info.value.reason


def test_files_without_anything_relevant_are_not_parsed():
    # No Keras token at all: the prefilter skips the parse, so even a syntax error is not reported.
    assert run(b"def broken(:\n").findings == []
    # The same error next to a Keras token is parsed and reported.
    with pytest.raises(BnlintInputError):
        run(b"import keras.applications\ndef broken(:\n")


@pytest.mark.parametrize("source", [
    b"from keras.models import Model\ndef broken(:\n",          # no rule's words: the prefilter skips it
    b"import tensorflow as tf\nprint 'python 2' +\n",       # Python 2 reads print statements, not this
    b"import tf_keras\nx = (\n",
])
def test_a_broken_keras_script_is_bn900_even_when_no_rule_needs_it(source):
    with pytest.raises(BnlintInputError) as info:
        run(source)
    assert info.value.reason.startswith("syntax error") and info.value.line == 2


def test_a_broken_keras_notebook_is_bn900_per_cell_even_when_no_rule_needs_it():
    nb = {"cells": [{"cell_type": "code", "source": "from tensorflow import keras"},
                    {"cell_type": "code", "source": "%%bash\nnot python (\n"},
                    {"cell_type": "code", "source": "x = (\n"}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    result = run(json.dumps(nb).encode(), "nb.ipynb")
    assert [(f.code, f.cell, f.line) for f in result.findings] == [("BN900", 3, 1)]


def test_disabled_rules_skip_everything():
    result = analyze_script(pathlib.Path("t.py"), "t.py", CALLED.encode(), context(enabled={"BN101"}))
    assert result.findings == [] and result.model_builds == []


def test_long_unrelated_code_is_not_analysed(monkeypatch):
    """Only statements that can matter reach the collector: the bulk of a huge generated file does not."""
    from bnlint.script.collector import Collector
    executed = []
    real = Collector._exec_stmt
    monkeypatch.setattr(Collector, "_exec_stmt", lambda self, stmt, env: executed.append(stmt) or real(self, stmt, env))
    filler = "".join(f"value_{i} = compute({i}, [1, 2, 3])\n" for i in range(3000))
    result = analyze(CALLED + filler, enabled={"BN003"})
    assert [f.code for f in result.findings] == ["BN003"]
    last_line_of_called = CALLED.count("\n")
    assert executed and all(stmt.lineno <= last_line_of_called for stmt in executed)


@pytest.fixture(params=["ast split", "fast split"])
def split(request, monkeypatch):
    from bnlint.script import chunks
    monkeypatch.setattr(chunks, "FAST_SPLIT_CHARS", 0 if request.param == "fast split" else 10**12)
    return request.param


def test_big_file_split_finds_the_same_as_the_ast_split(split):
    """Files above FAST_SPLIT_CHARS are split without the stdlib AST; both splits must agree."""
    from test_script_support import FIXTURES
    expected = {
        "legacy_finetune_k2.py": [("BN005", 10), ("BN001", 14), ("BN004", 22), ("BN002", 24)],
        "efficientnet_input_tensor.py": [("BN001", 23)],
        "project/train_flat.py": [("BN001", 20)],
        "fixes/function_scope_keras3.py": [("BN001", 16), ("BN001", 23)],
    }
    for name, codes in expected.items():
        path = FIXTURES / name
        target = None if name.startswith("legacy") else "tf1"
        result = analyze_script(path, name, path.read_bytes(), context(target))
        assert [(f.code, f.line) for f in result.findings] == codes, (split, name)


def test_big_file_split_handles_strings_continuations_and_decorators(split):
    source = (
        'import tensorflow as tf\n'
        'NOTES = """\n'
        'base.trainable = True\n'            # inside a string at column 0: not a statement
        '"""\n'
        '@tf.function\n'
        'def step(x):\n'
        '    return x\n'
        'base = tf.keras.applications.ResNet50(\n'
        'include_top=False)\n'               # continuation at column 0
        'if True:\n'
        '    base.trainable = False\n'
        'else:\n'
        '    pass\n'
        'model = tf.keras.Model(base.input, tf.keras.layers.Dense(2)(base.output))\n'
        'x = 1; y = base(tf.keras.Input((8, 8, 3)))\n'
        'model.fit(x, y)\n'
    )
    assert [(f.code, f.line) for f in analyze(source, "tf1", enabled={"BN001", "BN003"}, dedent=False).findings] == [
        ("BN001", 14), ("BN003", 15)]


def test_big_file_split_reports_syntax_errors(split):
    with pytest.raises(BnlintInputError) as info:
        run(b"import keras.applications\nx = (\n")
    assert info.value.reason.startswith("syntax error") and info.value.line == 2


def test_kerass_own_source_is_not_a_script_to_syntax_check():
    # a module of Keras's own source (it imports keras.src) with a compiler-only error: not a
    # training script, nothing to report; the same error in a script importing keras is BN900
    broken = b"def f():\n    pass\nreturn 1\n"
    assert run(b"from keras.src import ops\n" + broken).findings == []
    with pytest.raises(BnlintInputError) as info:
        run(b"import keras\n" + broken)
    assert info.value.code == "BN900" and info.value.line == 4


_PASTED_FROM_A_NOTEBOOK = b"""\
import tensorflow as tf
try:
    import tensorflow_similarity as tfsim
except ModuleNotFoundError:
    !pip install tensorflow_similarity
    import tensorflow_similarity as tfsim
%matplotlib inline
base = tf.keras.applications.ResNet50(include_top=False, weights="imagenet")
inputs = tf.keras.Input((224, 224, 3))
x = base(inputs)
"""


def test_a_script_pasted_from_a_notebook_is_read_as_ipython_runs_it():
    # keras-io's metric_learning_tf_similarity.py has a `!pip install` line: not Python, but IPython
    [finding] = run(_PASTED_FROM_A_NOTEBOOK).findings
    assert (finding.code, finding.line, finding.column) == ("BN003", 10, 5)
    assert finding.fix is None and "IPython syntax" in finding.help
    # broken beyond IPython's syntax: the Python syntax error is the BN900
    with pytest.raises(BnlintInputError) as info:
        run(_PASTED_FROM_A_NOTEBOOK + b"def build(:\n    pass\n")
    assert info.value.code == "BN900" and info.value.line == 5
