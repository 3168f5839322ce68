"""The fix engine (bnlint/script/fixes/): libcst only when fixing, the API editors call, fixes that
are skipped (does not parse, overlaps) while the others apply, --diff titles, JSON edits, and
--fix never losing the user's code with the new fixes."""
from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import textwrap

import pytest
from conftest import FIXTURES
from test_script_support import analyze, findings, fix_all

from bnlint.finding import Applicability
from bnlint.script.fixes import apply_edits, code_fixes, fix_text

GUIDE = (FIXTURES / "scripts" / "fixes" / "bn002_guide_keras3.py").read_text()
LOOP = (FIXTURES / "scripts" / "fixes" / "bn002_bn004_unfreeze_loop.py").read_text()


def _modules_after(argv: list[str], cwd: pathlib.Path) -> set[str]:
    code = ("import sys, bnlint.cli\n"
            f"bnlint.cli.main({argv!r})\n"
            "print(sorted({m.split('.')[0] for m in sys.modules}))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd,
                          env={"BNLINT_JOBS": "1", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    return set(eval(done.stdout.strip().splitlines()[-1]))


def test_checking_never_imports_libcst_but_fixing_does(tmp_path):
    (tmp_path / "train.py").write_text(LOOP)
    check = ["--no-config", "--exit-zero", "--target-keras", "keras3", "train.py"]
    assert "libcst" not in _modules_after(check, tmp_path)
    assert "libcst" not in _modules_after(check + ["--output-format", "github"], tmp_path)
    # control: the findings do carry fixes, and showing them loads libcst
    assert "libcst" in _modules_after(check + ["--diff", "--unsafe-fixes"], tmp_path)
    assert (tmp_path / "train.py").read_text() == LOOP


# --- the API editors use --------------------------------------------------------------------------

def test_code_fixes_gives_each_fix_its_title_edits_and_text():
    result = analyze(LOOP, target="keras3", dedent=False)
    fixes = code_fixes(LOOP, result.findings)
    assert [(f.finding.code, f.finding.fix.applicability) for f in fixes] == [
        ("BN003", Applicability.SAFE), ("BN002", Applicability.UNSAFE), ("BN004", Applicability.UNSAFE)]
    bn003, bn002, bn004 = fixes
    assert bn003.title == "Call `base` with `training=False`"
    [edit] = bn003.edits
    assert (edit.line, edit.column, edit.end_line, edit.end_column, edit.content) == (10, 41, 10, 41, ", training=False")
    assert apply_edits(LOOP, bn003.edits) == bn003.new_text
    assert "x = GlobalAveragePooling2D()(base(inputs, training=False))" in bn003.new_text
    assert bn002.title.startswith("Keep the BatchNormalization layers of `base` frozen")
    assert "from tensorflow.keras.layers import BatchNormalization, Dense" in bn002.new_text
    assert bn004.new_text.count("model.compile(") == 2
    # all at once: the BN002 and BN004 insertions overlap, so BN004 waits for the next pass
    new_text, applied = fix_text(LOOP, result.findings)
    assert [f.finding.code for f in applied] == ["BN003", "BN002"]
    assert new_text.count("model.compile(") == 2 and "training=False" in new_text


def test_a_fix_whose_result_does_not_parse_is_left_out_and_the_others_apply(monkeypatch):
    result = analyze(LOOP, target="keras3", dedent=False)
    from bnlint.script.fixes import bn002

    monkeypatch.setattr(bn002, "codemod", lambda source, params: source.text + "def broken(:\n")
    new_text, applied = fix_text(LOOP, result.findings)
    assert [f.finding.code for f in applied] == ["BN003", "BN004"]
    assert "broken" not in new_text
    compile(new_text, "t.py", "exec")


def test_a_fix_whose_code_moved_is_not_applied():
    result = analyze(LOOP, target="keras3", dedent=False)
    shifted = "# a new first line\n" + LOOP          # the spans no longer point at the nodes
    assert [f.finding.code for f in code_fixes(shifted, result.findings)] == []


# --- the CLI ----------------------------------------------------------------------------------------

def test_diff_prints_each_fix_title(run_cli, tmp_path):
    script = tmp_path / "train.py"
    script.write_text(LOOP)
    code, out, err = run_cli("--no-config", "--target-keras", "keras3", "--diff", "--unsafe-fixes", script)
    titles = [line for line in out.splitlines() if not line.startswith(("---", "+++", "@@", " ", "+", "-"))]
    assert titles == [
        f"{script}:10:30: BN003 [safe] Call `base` with `training=False`",
        f"{script}:16:1: BN002 [unsafe] Keep the BatchNormalization layers of `base` frozen after unfreezing, "
        "and compile again",
    ]
    assert "Would fix 3 findings." in err and script.read_text() == LOOP
    assert "+model.compile(optimizer=type(optimizer).from_config(optimizer.get_config())," in out


def test_json_report_carries_the_edits_of_each_fix(run_cli, tmp_path):
    (tmp_path / "train.py").write_text(LOOP)
    code, out, _ = run_cli("--no-config", "--target-keras", "keras3", "--output-format", "json", "train.py",
                           cwd=tmp_path)
    by_code = {f["code"]: f["fix"] for f in json.loads(out)}
    assert by_code["BN003"]["edits"] == [{"content": ", training=False", "line": 10, "column": 41,
                                         "end_line": 10, "end_column": 41}]
    assert by_code["BN004"]["applicability"] == "unsafe"
    [bn004_edit] = by_code["BN004"]["edits"]
    assert bn004_edit["line"] == 19 and bn004_edit["content"].startswith("model.compile(")


@pytest.mark.parametrize("name, target", [
    ("bn002_bn004_unfreeze_loop.py", "keras3"),
    ("bn004_recompile_standalone.py", "standalone"),
    ("bn002_guide_keras3.py", "keras3"),
])
def test_fix_keeps_crlf_encoding_and_mode_and_a_second_run_changes_nothing(run_cli, tmp_path, name, target):
    source = (FIXTURES / "scripts" / "fixes" / name).read_text()
    expected = (FIXTURES / "scripts" / "fixes" / (name + ".fixed")).read_text()
    script = tmp_path / "train.py"
    header = "# -*- coding: latin-1 -*-\n# Modèle\n"
    script.write_bytes((header + source.replace("# -*- coding: utf-8 -*-\n", "")).replace("\n", "\r\n").encode("latin-1"))
    script.chmod(0o640)
    code, out, _ = run_cli("--no-config", "--target-keras", target, "--fix", "--unsafe-fixes", script)
    fixed = script.read_bytes()
    assert b"\n" not in fixed.replace(b"\r\n", b"")
    want = header + expected.replace("# -*- coding: utf-8 -*-\n", "")
    assert fixed.decode("latin-1") == want.replace("\n", "\r\n")
    assert script.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["train.py"]
    run_cli("--no-config", "--target-keras", target, "--fix", "--unsafe-fixes", script)
    assert script.read_bytes() == fixed


def test_notebook_keeps_its_layout_with_the_new_fixes(run_cli, tmp_path):
    cells = [GUIDE.split("# Fine-tuning")[0], "%time print('hi')\n# Fine-tuning" + GUIDE.split("# Fine-tuning")[1]]
    nb = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# Réglage fin\n"]}]
          + [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
              "source": cell.splitlines(keepends=True)} for cell in cells],
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "train.ipynb"
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    run_cli("--no-config", "--target-keras", "keras3", "--fix", "--unsafe-fixes", path)
    fixed = json.loads(path.read_text())
    assert path.read_text() == json.dumps(fixed, indent=1, ensure_ascii=False) + "\n"
    assert fixed["cells"][:2] == nb["cells"][:2]
    source = "".join(fixed["cells"][2]["source"])
    assert source.startswith("%time print('hi')\n# Fine-tuning: unfreeze the base\nbase.trainable = True\n"
                             "for layer in base.layers:\n    if isinstance(layer, layers.BatchNormalization):\n")


def test_standalone_target_is_never_offered_a_training_false_rewrite():
    source = (FIXTURES / "example" / "train_flattened.py").read_text()
    for target in ("standalone", "2.2.4", "standalone-2.0"):
        assert all(f.fix is None for f in findings(source, target=target) if f.code in ("BN001", "BN003")), target
        assert "training=False" not in fix_all(source, target=target, dedent=False)


def test_bn002_fix_is_not_offered_on_legacy_targets_where_frozen_bn_still_uses_batch_statistics():
    for target in ("2.2.4", "tf1"):
        [bn002] = [f for f in analyze(GUIDE, target=target, dedent=False).findings if f.code == "BN002"]
        assert bn002.fix is None, target
    [bn002] = [f for f in analyze(GUIDE, target="keras3", dedent=False).findings if f.code == "BN002"]
    assert bn002.fix.applicability is Applicability.UNSAFE


@pytest.mark.parametrize("source, expected", [
    # the unfreeze inside a loop body with the fit: the compile goes between them, inside the loop
    ("""\
    import keras
    base = keras.applications.ResNet50(include_top=False, pooling="avg")
    model = keras.Sequential([base, keras.layers.Dense(2)])
    base.trainable = False
    model.compile("adam", "mse")
    for phase in range(2):
        base.trainable = phase > 0
        model.fit(x, y)
    """, "    base.trainable = phase > 0\n    model.compile(\"adam\", \"mse\")\n    model.fit(x, y)\n"),
    # the fit runs inside a function called later: where would a compile certainly run first? no fix
    ("""\
    import keras
    base = keras.applications.ResNet50(include_top=False, pooling="avg")
    model = keras.Sequential([base, keras.layers.Dense(2)])
    model.compile("adam", "mse")
    def train():
        model.fit(x, y)
    base.trainable = False
    train()
    """, None),
])
def test_bn004_compile_goes_where_it_runs_before_the_fit(source, expected):
    [bn004] = [f for f in findings(source, target="keras3") if f.code == "BN004"]
    if expected is None:
        assert bn004.fix is None
    else:
        assert expected in fix_all(source, target="keras3")


def test_bn002_guard_respects_an_aliased_import():
    source = textwrap.dedent("""\
    import tensorflow as tf
    from tensorflow.keras.layers import BatchNormalization as BN, Dense
    base = tf.keras.applications.MobileNetV2(include_top=False, pooling="avg")
    base.trainable = False
    model = tf.keras.Sequential([base, Dense(2)])
    model.compile("adam", "mse")
    model.fit(x, y)
    base.trainable = True
    model.compile(tf.keras.optimizers.Adam(1e-5), "mse")
    model.fit(x, y)
    """)
    fixed = fix_all(source, target="keras3")
    assert "    if isinstance(layer, BN):\n" in fixed
    assert fixed.count("import") == 2                   # nothing imported twice


@pytest.mark.parametrize("target", ["standalone", "tf1", "tf2", "keras3"])
def test_fix_on_every_script_fixture_changes_only_fixable_files_parses_and_is_idempotent(run_cli, tmp_path, target):
    import ast
    import shutil

    from bnlint.script.ipython_input import cell_python
    from bnlint.script.source import load_notebook

    tree = tmp_path / "scripts"
    shutil.copytree(FIXTURES / "scripts", tree, ignore=shutil.ignore_patterns("*.fixed"))
    (tree / "pyproject.toml").write_text(f'[tool.bnlint]\ntarget-keras = "{target}"\n')
    files = sorted(p for p in tree.rglob("*") if p.suffix in (".py", ".ipynb"))
    before = {p: p.read_bytes() for p in files}
    code, out, _ = run_cli("--output-format", "json", "--exit-zero", str(tree), cwd=tmp_path)
    offered = {f["path"] for f in json.loads(out) if f["fix"] is not None and f["fix"]["edits"]}
    run_cli("--fix", "--unsafe-fixes", "--exit-zero", str(tree), cwd=tmp_path)
    after = {p: p.read_bytes() for p in files}
    changed = {str(p) for p in files if after[p] != before[p]}
    assert changed <= offered
    for p in files:
        if p.suffix == ".py":
            ast.parse(after[p])
        else:
            for cell in load_notebook(after[p]).cells:
                ast.parse(cell_python(cell.text).text)
    run_cli("--fix", "--unsafe-fixes", "--exit-zero", str(tree), cwd=tmp_path)
    assert {p: p.read_bytes() for p in files} == after
