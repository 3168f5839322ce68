"""Fix snapshots: each fixtures/scripts/fixes/*.py becomes exactly its `.fixed` twin with
`--fix --unsafe-fixes` on the Keras it is written for; fixed code parses, has nothing left to fix,
and a second run changes nothing."""
import pathlib

import pytest

from bnlint.finding import Applicability
from test_script_support import ROOT, findings, fix, fix_all

CASES = sorted((ROOT / "fixtures" / "scripts" / "fixes").glob("*.py"))
# BN001 and its nesting fix exist on legacy targets only; of those TF 1.x tf.keras accepts
# `base(x, training=False)` (standalone Keras raises TypeError), so the BN001 fix tests target it.
TARGET = "tf1"
# The target each snapshot is for.
TARGETS = {
    "function_scope_keras3.py": TARGET,
    "input_already_imported.py": TARGET,
    "input_tensor_style.py": TARGET,
    "tf_module_style.py": TARGET,
    "bn002_guide_keras3.py": "keras3",
    "bn002_bn004_unfreeze_loop.py": "keras3",
    "bn004_recompile_standalone.py": "2.2.4",
    "bn003_subclass_forwarding.py": "keras3",
}


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.name)
def test_fix_snapshot(path):
    source, target = path.read_text(), TARGETS[path.name]
    fixed = fix_all(source, target=target, path=str(path), dedent=False)
    assert fixed == pathlib.Path(str(path) + ".fixed").read_text()
    compile(fixed, str(path), "exec")
    assert [f.code for f in findings(fixed, target=target, path=str(path)) if f.fix is not None] == []
    assert fix_all(fixed, target=target, path=str(path), dedent=False) == fixed          # idempotent


def test_every_fixture_has_a_target():
    assert sorted(p.name for p in CASES) == sorted(TARGETS)


def test_safe_fixes_alone_leave_unsafe_ones():
    path = ROOT / "fixtures" / "scripts" / "fixes" / "input_already_imported.py"
    fixed = fix(path.read_text(), path=str(path), unsafe=False)
    assert "TimeDistributed(cnn)(clip, training=False)" in fixed
    assert "Model(inputs=base.input, outputs=predictions)" in fixed


def test_no_fix_when_the_head_reads_the_output_twice():
    path = ROOT / "fixtures" / "scripts" / "fixes" / "function_scope_keras3.py"
    [first, second] = findings(path.read_text(), target=TARGET)
    assert (first.line, first.fix) == (16, None)
    assert second.fix.applicability is Applicability.UNSAFE


def test_no_fix_when_outer_model_layers_are_indexed():
    source = """\
    import tensorflow as tf
    base = tf.keras.applications.MobileNet(include_top=False, pooling="avg")
    model = tf.keras.Model(base.input, tf.keras.layers.Dense(2)(base.output))
    for layer in model.layers[:50]:
        layer.trainable = False
    model.fit(x, y)
    """
    [finding] = findings(source, enabled={"BN001"}, target=TARGET)
    assert finding.fix is None


def test_crlf_file_gets_crlf_lines():
    source = (ROOT / "fixtures" / "scripts" / "fixes" / "tf_module_style.py").read_text()
    data = source.replace("\n", "\r\n").encode()
    import pathlib as _p
    from bnlint.script import analyze_script, apply_fixes
    from test_script_support import context
    path = _p.Path("crlf.py")
    result = analyze_script(path, "crlf.py", data, context(TARGET))
    fixed = apply_fixes(data, path, result.findings)
    assert b"\n" not in fixed.replace(b"\r\n", b"")
    assert b"inputs = tf.keras.Input(shape=base_model.input_shape[1:])\r\nx = base_model(inputs, training=False)" in fixed


def test_overlapping_fixes_are_skipped_not_merged():
    from bnlint.finding import Edit, Finding, Fix
    from bnlint.script import apply_fixes
    data = b"y = base(x)\n"
    a = Finding("BN003", "m", "t.py", 1, 5, fix=Fix("a", (Edit("base(x, training=False)", 1, 5, 1, 12),)))
    b = Finding("BN003", "m", "t.py", 1, 6, fix=Fix("b", (Edit("B", 1, 6, 1, 8),)))
    assert apply_fixes(data, pathlib.Path("t.py"), [a, b]) == b"y = base(x, training=False)\n"


def test_no_fix_when_input_would_shadow_a_user_name():
    source = """\
    from tensorflow.keras.applications import Xception
    from tensorflow.keras.models import Model
    from tensorflow.keras.layers import Dense
    Input = load_images("data/")          # the user's own `Input`
    base = Xception(include_top=False, pooling="avg")
    base.trainable = False
    model = Model(base.input, Dense(2)(base.output))
    model.fit(x, y)
    """
    [finding] = findings(source, enabled={"BN001"}, target=TARGET)
    assert finding.fix is None


@pytest.mark.parametrize("elsewhere, expected", [
    # `inputs=` as a keyword argument is not a use of the name: the fix may take it
    ("dataset = make_dataset(inputs=files)\n", "inputs = tf.keras.Input("),
    # an assignment to `inputs` (even only inside a function) is: the fix picks another name
    ("def load(path):\n    inputs = read(path)\n    return inputs\n", "inputs_1 = tf.keras.Input("),
    # so is a parameter called `inputs`
    ("def load(inputs=None):\n    return inputs\n", "inputs_1 = tf.keras.Input("),
])
def test_fix_takes_a_fresh_name_for_the_new_input(elsewhere, expected):
    source = (
        "import tensorflow as tf\n" + elsewhere +
        "base = tf.keras.applications.MobileNet(include_top=False, pooling='avg')\n"
        "base.trainable = False\n"
        "model = tf.keras.Model(inputs=base.input, outputs=tf.keras.layers.Dense(2)(base.output))\n"
        "model.fit(x, y)\n"
    )
    fixed = fix(source, target=TARGET)
    assert expected in fixed
    compile(fixed, "t.py", "exec")
