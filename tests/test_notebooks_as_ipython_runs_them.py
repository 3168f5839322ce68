"""Notebook cells are checked as the Python IPython runs for them (bnlint.script.ipython_input),
located in the cell as written; a cell that does not parse is one BN900 and the others are still checked.

IPython itself is only imported here, to compare: bnlint's check path never imports it."""
from __future__ import annotations

import ast
import json
import pathlib
import sys

import pytest

from bnlint.script import analyze_script
from bnlint.script.ipython_input import cell_python
from test_script_support import context

IMPORTS = "import tensorflow as tf\nfrom tensorflow.keras.applications import ResNet50\n"


def notebook(*cells: str) -> bytes:
    return json.dumps({"cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                                  "source": text} for text in cells],
                       "metadata": {}, "nbformat": 4, "nbformat_minor": 5}).encode()


def check(*cells: str, enabled=("BN003", "BN006", "BN900"), target="tf2"):
    return analyze_script(pathlib.Path("nb.ipynb"), "nb.ipynb", notebook(*cells), context(target, enabled=set(enabled)))


# Cells IPython runs: each with what bnlint must see of it.
CELLS = [
    " for x in range(3):\n   print(x, end=' ')\n",                  # the tensorflow/docs data.ipynb shape
    "\n\n    a = 1\n    if a:\n        b = 2\n\n    c = 3\n",
    "\tx = 1\n\ty = 2\n",
    ">>> a = 1\n>>> if a:\n...     b = 2\n",
    "    >>> a = 1\n    ... \n",
    'In [1]: a = 1\n   ...: b = 2\n',
    "%%capture\n  a = 1\n  b = 2\n",
    "%%time\n!ls\nx = 1\n",
    "%%writefile x.py\nthis is ( not python\n",
    "%%bash\necho hi\n",
    "%load_ext autoreload\n!pip install -q tensorflow\nx = !ls\ny = %pwd\nimport os\n",
    "files = !ls \\\n   -la\nz = 1\n",
    "tf.keras.applications.ResNet50?\nmodel??\n%timeit?\n?os.path\nq = 1\n",
    "if True:\n    %matplotlib inline\n    w = 2\n",
    "s = '''\n%not a magic\n!not a shell\n'''\nt = '# %x'\n",
    "a = 1 # comment with ? at the end?\n",
    ",print a b\n;print a b\n/print a b\nk = 1\n",
    "%time y = len([1, 2])\n%timeit -n1 sum([])\n",
    "x = [\n  1,\n  2]\nx?\n",
]


def _ipython_python(cell: str) -> str:
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(cell)


def _bindings_and_calls(tree: ast.AST) -> list[str]:
    """What a cell does to the kernel's namespace and what it calls, ignoring IPython's own calls."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            out.append(f"bind {node.id}")
        elif isinstance(node, ast.Call) and "get_ipython" not in ast.unparse(node.func):
            out.append(f"call {ast.unparse(node.func)}")
    return sorted(out)


@pytest.mark.parametrize("cell", CELLS)
def test_the_python_matches_what_ipython_runs(cell):
    pytest.importorskip("IPython", minversion="9")     # the rules mirrored are IPython 9's
    theirs = _ipython_python(cell)
    if cell.startswith(("%%capture", "%%time")):
        # run_cell_magic gets the body as a string and runs it as a cell of its own
        theirs = "\n" + _ipython_python(cell.split("\n", 1)[1])
    ours = cell_python(cell)
    assert ours.text.count("\n") == cell.count("\n")           # line numbers are the cell's own
    try:
        their_tree = ast.parse(theirs)
    except SyntaxError:
        with pytest.raises(SyntaxError):
            ast.parse(ours.text)
        return
    our_tree = ast.parse(ours.text)
    if "%time " in cell:
        # IPython passes the statement to the magic as a string; bnlint keeps it as code
        assert "call len" in _bindings_and_calls(our_tree)
        return
    assert _bindings_and_calls(our_tree) == _bindings_and_calls(their_tree)


def test_the_check_path_does_not_import_ipython():
    sys.modules.pop("IPython", None)
    check(IMPORTS, "  base = ResNet50()\n  base?\n")
    assert "IPython" not in sys.modules


def test_an_indented_cell_is_analysed_and_located_in_the_cell_as_written():
    result = check(IMPORTS, "  base = ResNet50(include_top=False)\n  y = base(tf.keras.Input((32, 32, 3)))\n")
    assert [(f.code, f.cell, f.line, f.column) for f in result.findings] == [
        ("BN006", 2, 1, 10), ("BN003", 2, 2, 7)]
    # IPython moved the columns of this cell: no text edit is offered there
    assert all(f.fix is None for f in result.findings)


def test_pasted_prompts_map_back_to_the_prompt_line():
    result = check(IMPORTS, ">>> base = ResNet50(include_top=False)\n>>> y = base(tf.keras.Input((32, 32, 3)))\n",
                   enabled={"BN003"})
    [finding] = result.findings
    assert (finding.cell, finding.line, finding.column) == (2, 2, 9)


def test_python_cell_magics_are_checked_and_others_are_not():
    result = check(IMPORTS + "base = ResNet50(include_top=False)\n",
                   "%%capture\n  !pip install x\n  y = base(tf.keras.Input((32, 32, 3)))\n",
                   "%%writefile helper.py\nz = base(tf.keras.Input((8, 8, 3)))\n",
                   # the body is a cell of its own: an indent that is not common to it is an error
                   "%%time\n!ls\n  w = base(tf.keras.Input((8, 8, 3)))\n",
                   enabled={"BN003", "BN900"})
    assert [(f.code, f.cell, f.line) for f in result.findings] == [("BN003", 2, 3), ("BN900", 4, 3)]
    assert result.findings[0].column == 7


def test_a_cell_that_does_not_parse_is_one_bn900_and_the_others_run_without_it():
    result = check(IMPORTS + "base = ResNet50(include_top=False)\n",
                   # had this cell run, the inputs would be preprocessed (no BN006)
                   "x = tf.keras.applications.resnet50.preprocess_input(x)\nif x\n",
                   "y = base(tf.keras.Input((32, 32, 3)))\n")
    assert [(f.code, f.cell, f.line, f.column) for f in result.findings] == [
        ("BN006", 1, 3, 8), ("BN900", 2, 2, 5), ("BN003", 3, 1, 5)]
    bn900 = result.findings[1]
    assert bn900.message == "syntax error: expected ':'"
    assert "other cells" in bn900.help


def test_the_tensorflow_guide_shape_is_not_a_syntax_error():
    # tensorflow/docs site/en/guide/data.ipynb has a cell that starts with one space of indent,
    # and a %%writefile cell holding CSV: IPython runs both
    result = check("import tensorflow as tf\n",
                   "%%writefile missing.csv\n1,2,3,4\n,2,3,4\n",
                   " for x in tf.data.Dataset.range(3).take(2):\n   print(x.numpy(), end=' ')\n")
    assert result.findings == []


def test_notes_in_a_notebook_read_like_findings(run_cli, tmp_path):
    nb = tmp_path / "nb.ipynb"
    nb.write_bytes(notebook(
        "import tensorflow as tf\nbase = tf.keras.applications.ResNet50()\n"
        "model = tf.keras.Model(base.input, tf.keras.layers.Dense(2)(base.output))\n"
        "model.compile('adam', 'mse')\n",
        "base.trainable = False\n",
        "model.fit(x, y)\n"))
    code, out, _ = run_cli("--no-config", "--target-keras", "tf2", "--select", "BN004", nb, cwd=tmp_path)
    assert f"{nb}:cell 2:1:1: BN004 " in out
    assert f"  note: {nb}:cell 1:4:1: compiled here" in out
    assert f"  note: {nb}:cell 3:1:1: trained here without compiling again" in out


def test_a_broken_cell_of_a_notebook_no_rule_needs_is_still_reported_and_can_be_suppressed(run_cli, tmp_path):
    nb = tmp_path / "nb.ipynb"
    nb.write_bytes(notebook("import tensorflow as tf\n", "print('hello'\n", "x = (  # noqa: BN900\n"))
    code, out, _ = run_cli("--no-config", nb, cwd=tmp_path)
    assert code == 1 and f"{nb}:cell 2:1:6: BN900 syntax error: '(' was never closed" in out
    assert "cell 3" not in out and "Found 1 finding." in out
