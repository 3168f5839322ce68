"""What a person reads: short messages and help on every fixture, model findings at their layers,
notes that read like findings, --statistics, colour, and which severities fail the run."""
from __future__ import annotations

import contextlib
import io
import json
import shutil
import statistics
from pathlib import Path

import pytest

from bnlint import catalogue
from bnlint.cli import main

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
MODELS = FIXTURES / "models"
APP_MODEL = MODELS / "keras224" / "app_flat_frozen.h5"
INFO_MODEL = MODELS / "keras3" / "weights_only.weights.h5"     # BN901, an info finding
TARGETS = (None, "2.2.4", "tf1", "tf2", "keras3<3.16", "keras3>=3.16")
# the limits: median message <= 100 characters over all findings, every message <= 160, help <= 300;
# a rule's own median may run a little longer where its numbers make it specific (BN007, BN107)
MAX_MESSAGE, MEDIAN_MESSAGE, RULE_MEDIAN_MESSAGE, MAX_HELP = 160, 100, 120, 300


def _json_run(*argv) -> list[dict]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(["--no-config", "--exit-zero", "--output-format", "json", *map(str, argv)])
    return json.loads(out.getvalue())


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> list[dict]:
    """Every finding bnlint reports on the fixtures under every target, plus broken inputs (BN900)."""
    broken = tmp_path_factory.mktemp("broken")
    (broken / "syntax.py").write_text("from keras.models import Model\ndef build(:\n")
    (broken / "cell.ipynb").write_text(json.dumps({"cells": [{"cell_type": "code", "source": "import keras\nx = (\n"}],
                                                   "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    (broken / "truncated.h5").write_bytes(APP_MODEL.read_bytes()[:4096])
    (broken / "random.keras").write_bytes(b"PK\x03\x04" + bytes(range(256)) * 4)
    (broken / "notjson.ipynb").write_text("{nope")
    found = []
    for target in TARGETS:
        run = _json_run(*(["--target-keras", target] if target else []), FIXTURES / "scripts", FIXTURES / "example",
                        MODELS, broken)
        found += [{**f, "target": target} for f in run]
    return found


@pytest.mark.parametrize("code", catalogue.all_codes())
def test_every_rule_is_short_on_the_fixtures(corpus, code):
    mine = [f for f in corpus if f["code"] == code]
    assert mine, f"no fixture exercises {code}"
    for f in mine:
        assert len(f["message"]) <= MAX_MESSAGE, f["message"]
        assert len(f["help"] or "") <= MAX_HELP, f["help"]
        assert "\n" not in f["message"]
    assert statistics.median(len(f["message"]) for f in mine) <= RULE_MEDIAN_MESSAGE, [f["message"] for f in mine]


def test_the_median_message_fits_a_glance(corpus):
    assert statistics.median(len(f["message"]) for f in corpus) <= MEDIAN_MESSAGE


def test_model_help_says_which_keras_it_is_for(corpus):
    """Without --target-keras a model finding's help ends with the Keras it assumed and why."""
    for f in corpus:
        if f["code"].startswith("BN1"):
            if f["target"] is None:
                assert f["help"].endswith("]") and (" [for " in f["help"] or " [assumed " in f["help"]), f["help"]
            else:
                assert "[" not in f["help"], f["help"]


# --- model findings at their layers ---------------------------------------------------------------

def test_text_locates_model_findings_at_the_layer(run_cli, tmp_path):
    shutil.copy(APP_MODEL, tmp_path / "model.h5")
    shutil.copy(INFO_MODEL, tmp_path / "w.weights.h5")
    code, out, _ = run_cli("--no-config", "model.h5", "w.weights.h5", cwd=tmp_path)
    lines = out.splitlines()
    assert lines[0] == ("model.h5: layer 'bn_Conv1' (and 51 more): BN101 52 frozen BN layers of a flattened "
                        "MobileNetV2: fit() still runs them on batch statistics (BN102)")
    assert any(line.startswith("model.h5: layer 'bn_Conv1' (and 51 more): BN102 52 frozen BN layers use") for line in lines)
    assert any(line.startswith("w.weights.h5: BN901 weights-only HDF5 file") for line in lines)   # no fake 1:1
    assert not any(":1:1:" in line for line in lines)


def test_json_and_sarif_carry_the_layers(run_cli, tmp_path):
    shutil.copy(APP_MODEL, tmp_path / "model.h5")
    _, out, _ = run_cli("--no-config", "--select", "BN101", "--output-format", "json", "model.h5", cwd=tmp_path)
    [f] = json.loads(out)
    assert f["layer"] == "bn_Conv1" and len(f["layers"]) == 52 and (f["line"], f["column"]) == (1, 1)
    _, out, _ = run_cli("--no-config", "--select", "BN101", "--output-format", "sarif", "model.h5", cwd=tmp_path)
    [result] = json.loads(out)["runs"][0]["results"]
    assert result["locations"][0]["logicalLocations"] == [
        {"name": "bn_Conv1", "fullyQualifiedName": "bn_Conv1", "kind": "member"}]
    assert result["message"]["text"].startswith("layer 'bn_Conv1' (and 51 more): 52 frozen BN layers")
    assert len(result["properties"]["layers"]) == 52


def test_github_annotation_names_the_layer_like_the_text(run_cli, tmp_path):
    shutil.copy(APP_MODEL, tmp_path / "model.h5")
    _, out, _ = run_cli("--no-config", "--select", "BN102", "--output-format", "github", "model.h5", cwd=tmp_path)
    assert "::layer 'bn_Conv1' (and 51 more): 52 frozen BN layers use batch statistics" in out


def test_notes_of_a_model_finding_are_layers(run_cli, tmp_path):
    shutil.copy(MODELS / "tf_keras" / "app_flat_frozen.h5", tmp_path / "model.h5")
    (tmp_path / "pyproject.toml").write_text("[tool.bnlint]\nmax-moving-variance = 1e-12\n")
    _, out, _ = run_cli("--select", "BN106", "model.h5", cwd=tmp_path)
    lines = out.splitlines()
    assert lines[0].startswith("model.h5: layer 'bn_Conv1' (and 51 more): BN106 52 BN layers with broken statistics")
    notes = [line for line in lines if line.startswith("  note: ")]
    assert len(notes) == 5 and notes[0].startswith("  note: model.h5: layer 'expanded_conv_depthwise_BN': a moving variance")


# --- --statistics -----------------------------------------------------------------------------------

def test_statistics_count_findings_per_code_like_ruff(run_cli, tmp_path):
    shutil.copy(APP_MODEL, tmp_path / "model.h5")
    shutil.copy(INFO_MODEL, tmp_path / "w.weights.h5")
    (tmp_path / "broken.h5").write_bytes(b"not hdf5")
    (tmp_path / "broken2.keras").write_bytes(b"nope")
    code, out, _ = run_cli("--no-config", "--statistics", ".", cwd=tmp_path)
    assert code == 1
    assert out.splitlines() == [
        "2\tBN900\t[ ] unreadable-input",
        "1\tBN101\t[ ] flattened-frozen-base",
        "1\tBN102\t[ ] frozen-bn-uses-batch-statistics",
        "1\tBN901\t[ ] no-keras-config",
        "Found 5 findings.",
    ]
    _, out, _ = run_cli("--no-config", "--statistics", "--output-format", "json", ".", cwd=tmp_path)
    assert json.loads(out)[0] == {"code": "BN900", "name": "unreadable-input", "count": 2, "fixable": False,
                                  "fixable_count": 0}


def test_statistics_mark_codes_with_safe_fixes(run_cli, tmp_path):
    (tmp_path / "t.py").write_text("import tensorflow as tf\nbase = tf.keras.applications.ResNet50()\n"
                                   "y = base(tf.keras.Input((32, 32, 3)))\nz = base(tf.keras.Input((64, 64, 3)))\n")
    _, out, _ = run_cli("--no-config", "--target-keras", "tf2", "--select", "BN003", "--statistics", "t.py", cwd=tmp_path)
    assert out.splitlines()[0] == "2\tBN003\t[*] base-call-without-training-false"


# --- colour ---------------------------------------------------------------------------------------

@pytest.fixture
def tty(monkeypatch):
    """Make the captured stdout look like a terminal for the next run (call it inside the test)."""
    import sys

    def patch():
        monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
        monkeypatch.delenv("NO_COLOR", raising=False)
    return patch


def test_colour_on_a_terminal_sets_location_code_and_help_apart(run_cli, tmp_path, tty):
    (tmp_path / "t.py").write_text("import tensorflow as tf\nbase = tf.keras.applications.ResNet50()\n"
                                   "y = base(tf.keras.Input((32, 32, 3)))\n")
    tty()
    _, out, _ = run_cli("--no-config", "--target-keras", "tf2", "--select", "BN003", "t.py", cwd=tmp_path)
    first, help_line = out.splitlines()[:2]
    assert first.startswith("\033[1mt.py:3:5\033[0m: \033[33m\033[1mBN003\033[0m ")   # warning: yellow
    assert help_line.startswith("  \033[1;36mhelp:\033[0m ")


@pytest.mark.parametrize("how", ["NO_COLOR", "--no-color", "--output-file"])
def test_no_colour_when_asked_or_not_a_terminal(run_cli, tmp_path, tty, how):
    (tmp_path / "broken.h5").write_bytes(b"not hdf5")
    args, env = ["--no-config", "broken.h5"], {}
    if how == "NO_COLOR":
        env = {"NO_COLOR": "1"}
    elif how == "--no-color":
        args.append("--no-color")
    else:
        args += ["--output-file", "report.txt"]
    tty()
    _, out, _ = run_cli(*args, cwd=tmp_path, env=env)
    text = (tmp_path / "report.txt").read_text() if how == "--output-file" else out
    assert "BN900" in text and "\033[" not in text


# --- exit status by severity ------------------------------------------------------------------------

def test_info_findings_are_shown_but_do_not_fail_by_default(run_cli, tmp_path):
    shutil.copy(INFO_MODEL, tmp_path / "w.weights.h5")
    code, out, _ = run_cli("--no-config", "w.weights.h5", cwd=tmp_path)
    assert code == 0 and "BN901" in out and "Found 1 finding." in out
    assert run_cli("--no-config", "--fail-on", "info", "w.weights.h5", cwd=tmp_path)[0] == 1


def test_fail_on_is_configurable_and_the_command_line_wins(run_cli, tmp_path):
    shutil.copy(INFO_MODEL, tmp_path / "w.weights.h5")
    (tmp_path / "pyproject.toml").write_text('[tool.bnlint]\nfail-on = "info"\n')
    assert run_cli("w.weights.h5", cwd=tmp_path)[0] == 1
    assert run_cli("--fail-on", "warning", "w.weights.h5", cwd=tmp_path)[0] == 0
    (tmp_path / "pyproject.toml").write_text('[tool.bnlint]\nfail-on = "sometimes"\n')
    code, _, err = run_cli("w.weights.h5", cwd=tmp_path)
    assert code == 2 and "fail-on must be one of error, warning, info" in err


def test_pre_commit_hooks_leave_fail_on_to_the_configuration():
    import yaml

    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hooks and all("--fail-on" not in hook["entry"] and "--fail-on" not in hook.get("args", []) for hook in hooks)


def test_a_long_input_error_keeps_its_gist_in_the_message_and_the_details_in_the_help(tmp_path):
    from bnlint.discovery import Input
    from bnlint.engine import _input_error
    from bnlint.errors import BnlintInputError

    inp = Input(tmp_path / "m.h5", "m.h5", "model")
    reason = "model file is not a readable HDF5 file (" + "h5py said: " + "x" * 300 + ")"
    f = _input_error(inp, BnlintInputError(reason))
    assert f.message == "model file is not a readable HDF5 file"
    assert f.help.startswith("Details: h5py said: xxx") and len(f.help) <= 300
