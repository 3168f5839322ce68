"""Hostile and broken input: never crash, never execute, never lose a user's file.

Every broken input must give exactly one clear BN900 finding (not an "internal error") while the
other files of the same run are still reported, with exit code 1 and no traceback.
"""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from conftest import FIXTURES, ROOT, run_bnlint_subprocess

MODELS = FIXTURES / "models"
GOOD_MODEL = MODELS / "keras224" / "flat_frozen.h5"          # BN101 + BN102
GOOD_KERAS = MODELS / "keras3" / "flat_frozen.keras"
GOOD_SAVEDMODEL = MODELS / "tf_keras" / "nested_no_training_savedmodel"

BN003_SCRIPT = '''import tensorflow as tf

base = tf.keras.applications.ResNet50(weights="imagenet", include_top=False, input_shape=(224, 224, 3))
base.trainable = False
inputs = tf.keras.Input(shape=(224, 224, 3))
x = tf.keras.applications.resnet50.preprocess_input(inputs)
x = base(x)
outputs = tf.keras.layers.Dense(2)(x)
model = tf.keras.Model(inputs, outputs)
'''
BN003_LINE = 7


def need(*paths: Path):
    for p in paths:
        if not p.exists():
            pytest.skip(f"fixture {p.relative_to(ROOT)} not generated")


def check(paths, *extra, cwd=None):
    """Run bnlint as a user would; return (exit code, findings as dicts, stderr)."""
    result = run_bnlint_subprocess("--no-config", "--output-format", "json", *extra, *paths, cwd=cwd,
                                   env={"BNLINT_JOBS": "1"})
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, (json.loads(result.stdout) if result.stdout.strip() else []), result.stderr


def assert_one_clear_bn900(findings, path: str):
    mine = [f for f in findings if f["path"] == path]
    assert [f["code"] for f in mine] == ["BN900"], mine
    assert "internal error" not in mine[0]["message"], mine[0]["message"]
    assert len(mine[0]["message"]) > 15
    return mine[0]["message"]


def assert_good_model_still_reported(findings):
    codes = {f["code"] for f in findings if f["path"] == str(GOOD_MODEL)}
    assert {"BN101", "BN102"} <= codes, findings


# ---------------------------------------------------------------- broken model files
def _h5_with_attrs(path: Path, **attrs):
    with h5py.File(path, "w") as f:
        f.create_group("model_weights")
        for k, v in attrs.items():
            f.attrs[k] = v
    return path


def _functional(layers, name="m"):
    return json.dumps({"class_name": "Functional", "config": {"name": name, "layers": layers,
                        "input_layers": [["in", 0, 0]], "output_layers": [[layers[-1]["name"], 0, 0]]}})


def _deep_config(depth: int) -> str:
    """A model nested `depth` levels deep, built as text (json.dumps itself would recurse too deep)."""
    head = tail = ""
    for i in range(depth):
        head += f'{{"class_name": "Functional", "name": "m{i}", "config": {{"name": "m{i}", "layers": ['
        tail = '], "input_layers": [], "output_layers": []}, "inbound_nodes": []}' + tail
    bn = '{"class_name": "BatchNormalization", "name": "bn", "config": {"name": "bn", "trainable": false}, "inbound_nodes": []}'
    return '{"class_name": "Functional", "config": {"name": "outer", "layers": [' + head + bn + tail + \
        '], "input_layers": [], "output_layers": []}}'


BROKEN_MODELS = {
    "empty.h5": lambda p: p.write_bytes(b""),
    "truncated.h5": lambda p: p.write_bytes(GOOD_MODEL.read_bytes()[: GOOD_MODEL.stat().st_size // 2]),
    "random.h5": lambda p: p.write_bytes(np.random.default_rng(1).bytes(4096)),
    "not_keras.h5": lambda p: h5py.File(p, "w").create_dataset("data", data=np.arange(10)).file.close(),
    "config_not_json.h5": lambda p: _h5_with_attrs(p, keras_version="2.21.0", backend="tensorflow", model_config="{not json"),
    "config_wrong_types.h5": lambda p: _h5_with_attrs(p, keras_version="2.21.0", backend="tensorflow",
                                                     model_config=json.dumps({"class_name": 5, "config": ["x"]})),
    "missing_layer.h5": lambda p: _h5_with_attrs(p, keras_version="2.21.0", backend="tensorflow", model_config=_functional([
        {"class_name": "InputLayer", "name": "in", "config": {"name": "in"}, "inbound_nodes": []},
        {"class_name": "BatchNormalization", "name": "bn", "config": {"name": "bn", "trainable": False},
         "inbound_nodes": [[["ghost", 0, 0, {}]]]}])),
    "cyclic.h5": lambda p: _h5_with_attrs(p, keras_version="2.21.0", backend="tensorflow", model_config=_functional([
        {"class_name": "InputLayer", "name": "in", "config": {"name": "in"}, "inbound_nodes": []},
        {"class_name": "BatchNormalization", "name": "a", "config": {"name": "a", "trainable": False}, "inbound_nodes": [[["b", 0, 0, {}]]]},
        {"class_name": "BatchNormalization", "name": "b", "config": {"name": "b", "trainable": False}, "inbound_nodes": [[["a", 0, 0, {}]]]}])),
    "deep.h5": lambda p: _h5_with_attrs(p, keras_version="2.21.0", backend="tensorflow", model_config=_deep_config(5000)),
    "random.keras": lambda p: p.write_bytes(np.random.default_rng(2).bytes(4096)),
    "no_config.keras": lambda p: _zip(p, {"metadata.json": '{"keras_version": "3.15.1"}'}),
    "config_not_json.keras": lambda p: _zip(p, {"metadata.json": '{"keras_version": "3.15.1"}', "config.json": "[[[", "model.weights.h5": b""}),
}


def _zip(path: Path, members: dict):
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)


@pytest.mark.parametrize("name", sorted(BROKEN_MODELS))
def test_broken_model_file_gives_one_clear_bn900_and_the_run_goes_on(tmp_path, name):
    need(GOOD_MODEL)
    broken = tmp_path / name
    BROKEN_MODELS[name](broken)
    code, findings, _ = check([broken, GOOD_MODEL])
    assert code == 1
    assert_one_clear_bn900(findings, str(broken))
    assert_good_model_still_reported(findings)


def test_keras_zip_with_corrupt_weights_still_runs_the_config_rules(tmp_path):
    need(GOOD_KERAS)
    corrupt = tmp_path / "corrupt_weights.keras"
    with zipfile.ZipFile(GOOD_KERAS) as src, zipfile.ZipFile(corrupt, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            dst.writestr(item, data[: len(data) // 3] if item.filename.endswith(".h5") else data)
    code, findings, _ = check([corrupt])
    codes = [f["code"] for f in findings]
    assert "BN101" in codes and codes.count("BN900") == 1, findings


@pytest.mark.parametrize("content", [b"", b"\x00\xff garbage \x12\x34" * 50], ids=["empty", "garbage"])
def test_saved_model_with_broken_keras_metadata(tmp_path, content):
    need(GOOD_SAVEDMODEL, GOOD_MODEL)
    folder = tmp_path / "broken_savedmodel"
    shutil.copytree(GOOD_SAVEDMODEL, folder)
    (folder / "keras_metadata.pb").write_bytes(content)
    code, findings, _ = check([folder, GOOD_MODEL])
    assert code == 1
    assert_one_clear_bn900(findings, str(folder))
    assert_good_model_still_reported(findings)


def test_zip_bomb_is_refused_with_bounded_memory(tmp_path):
    bomb = tmp_path / "bomb.keras"
    chunk = b" " * (1 << 20)
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("metadata.json", '{"keras_version": "3.15.1"}')
        with z.open("config.json", "w", force_zip64=True) as member:
            member.write(b'{"class_name": "Functional", "config": {"name": "')
            for _ in range(1536):          # 1.5 GB of config.json
                member.write(chunk)
            member.write(b'"}}')
    assert bomb.stat().st_size < 10 * 2**20
    code = (
        "import sys, bnlint.cli\n"
        "rc = bnlint.cli.main(['--no-config', '--output-format', 'json', sys.argv[1]])\n"
        # VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so a child of a big pytest worker
        # (TensorFlow loaded by another test) would report the worker's peak
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
        "sys.stderr.write('MAXRSS %s\\n' % hwm)\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(bomb)], capture_output=True, text=True, timeout=300)
    findings = json.loads(result.stdout)
    assert [f["code"] for f in findings] == ["BN900"]
    assert "limit" in findings[0]["message"] or "too large" in findings[0]["message"]
    max_rss_kb = int(result.stderr.split("MAXRSS")[1])
    assert max_rss_kb < 400 * 1024, f"peak memory {max_rss_kb} kB"


# ---------------------------------------------------------------- broken scripts and notebooks
BROKEN_SCRIPTS = {
    # a half-written training script (a file that mentions nothing a rule needs is not parsed at all)
    "syntax_error.py": b"from keras.applications import ResNet50\nbase = ResNet50(weights='imagenet'\nbase.trainable = False\n",
    "invalid_utf8.py": b"x = '\xff\xfe\xfa'\n",
    "binary.py": bytes(range(256)) * 8,
    "bad_notebook.ipynb": b"{ this is not json",
    "notebook_missing_cells.ipynb": json.dumps({"nbformat": 4, "metadata": {}}).encode(),
    "notebook_bad_cell.ipynb": json.dumps({"nbformat": 4, "cells": [{"cell_type": "code"}]}).encode(),
}


@pytest.mark.parametrize("name", sorted(BROKEN_SCRIPTS))
def test_broken_script_gives_one_clear_bn900_and_the_run_goes_on(tmp_path, name):
    need(GOOD_MODEL)
    broken = tmp_path / name
    broken.write_bytes(BROKEN_SCRIPTS[name])
    code, findings, _ = check([broken, GOOD_MODEL])
    assert code == 1
    message = assert_one_clear_bn900(findings, str(broken))
    if name == "syntax_error.py":
        [finding] = [f for f in findings if f["path"] == str(broken)]
        assert message.startswith("syntax error") and finding["line"] in (2, 3)


def test_pep263_latin1_script_is_decoded_and_checked(tmp_path):
    script = tmp_path / "latin1.py"
    text = "# -*- coding: latin-1 -*-\n# Modèle pré-entraîné\n" + BN003_SCRIPT
    script.write_bytes(text.encode("latin-1"))
    code, findings, _ = check([script])
    assert [(f["code"], f["line"]) for f in findings] == [("BN003", BN003_LINE + 2)]


def test_bom_and_crlf_script_keeps_its_line_numbers(tmp_path):
    script = tmp_path / "bom_crlf.py"
    script.write_bytes(b"\xef\xbb\xbf" + BN003_SCRIPT.replace("\n", "\r\n").encode())
    code, findings, _ = check([script])
    assert [(f["code"], f["line"]) for f in findings] == [("BN003", BN003_LINE)]


def test_deeply_nested_expression_is_not_a_crash(tmp_path):
    script = tmp_path / "deep.py"
    script.write_text("x = " + "(" * 3000 + "1" + ")" * 3000 + "\n" + "y = " + "[" * 3000 + "]" * 3000 + "\n" + BN003_SCRIPT)
    code, findings, _ = check([script])
    assert all(f["code"] in ("BN900", "BN003") for f in findings) and findings
    for f in findings:
        assert "internal error" not in f["message"]


def test_200000_line_script_is_checked(tmp_path):
    script = tmp_path / "huge.py"
    filler = "".join(f"value_{i} = {i} * 2  # padding\n" for i in range(200_000))
    script.write_text(filler + BN003_SCRIPT)
    code, findings, _ = check([script])
    assert [(f["code"], f["line"]) for f in findings] == [("BN003", 200_000 + BN003_LINE)]


def test_dangling_symlink_and_unreadable_file(tmp_path, monkeypatch, run_cli):
    need(GOOD_MODEL)
    (tmp_path / "dangling.py").symlink_to(tmp_path / "nowhere.py")
    secret = tmp_path / "secret.py"
    secret.write_text(BN003_SCRIPT)
    real_open = open

    def deny(path, *args, **kwargs):  # tests run as root, where chmod 000 does not deny reading
        if str(path) == str(secret):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", deny)
    code, out, err = run_cli("--no-config", "--output-format", "json", tmp_path / "dangling.py", secret, GOOD_MODEL)
    findings = json.loads(out)
    assert code == 1
    assert "broken symbolic link" in assert_one_clear_bn900(findings, str(tmp_path / "dangling.py"))
    assert "Permission denied" in assert_one_clear_bn900(findings, str(secret))
    assert_good_model_still_reported(findings)


def test_internal_error_in_an_analyzer_is_a_bn900_for_that_file_only(monkeypatch, run_cli, tmp_path):
    need(GOOD_MODEL)
    script = tmp_path / "train.py"
    script.write_text(BN003_SCRIPT)

    def explode(*args, **kwargs):
        raise ZeroDivisionError("rule bug")

    monkeypatch.setattr("bnlint.script.analyze_script", explode)
    code, out, err = run_cli("--no-config", "--output-format", "json", script, GOOD_MODEL)
    findings = json.loads(out)
    assert code == 1 and "Traceback" not in err
    mine = [f for f in findings if f["path"] == str(script)]
    assert [f["code"] for f in mine] == ["BN900"]
    assert "internal error" in mine[0]["message"] and "ZeroDivisionError: rule bug" in mine[0]["message"]
    assert "report" in mine[0]["help"] and len(mine[0]["message"]) <= 160
    assert_good_model_still_reported(findings)


# ---------------------------------------------------------------- no code execution
def test_bnlint_never_runs_a_lambda_payload_that_keras_does_run(tmp_path):
    model = MODELS / "hostile" / "lambda_marker.h5"
    need(model)
    pytest.importorskip("tf_keras")
    fired, untouched = tmp_path / "fired_by_keras", tmp_path / "fired_by_bnlint"
    # 1. prove the payload is real: tf_keras deserialises the Lambda bytecode and runs it
    # tf_keras applies no safe mode to .h5 files: the plain documented call runs the Lambda bytecode
    load = "import sys, tf_keras; tf_keras.models.load_model(sys.argv[1])"
    env = {**os.environ, "BNLINT_MARKER": str(fired), "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "3"}
    subprocess.run([sys.executable, "-c", load, str(model)], env=env, capture_output=True, text=True, timeout=300)
    assert fired.exists(), "the fixture's payload did not fire under Keras: the test proves nothing"
    # 2. bnlint reads the same file and never creates the marker
    result = run_bnlint_subprocess("--no-config", "--output-format", "json", model, env={"BNLINT_MARKER": str(untouched)})
    assert result.returncode in (0, 1) and "Traceback" not in result.stderr
    json.loads(result.stdout)
    assert not untouched.exists()


def test_bnlint_source_never_uses_deserialisers_that_execute_code():
    import re

    forbidden = re.compile(r"^\s*(import|from)\s+(pickle|marshal|dill|cloudpickle|shelve)\b|(?<![\w.])(eval|exec)\(|"
                           r"\.load_model\(|\bload_model\(|np\.load\(.*allow_pickle=True")
    for path in (ROOT / "bnlint").rglob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            code = line.split("#", 1)[0]
            if forbidden.search(code) and not re.search(r"[\"'`].*(load_model|eval|exec)\(.*[\"'`]", code):
                pytest.fail(f"{path.relative_to(ROOT)}:{number} may execute code from input: {line.strip()}")


# ---------------------------------------------------------------- --fix never loses data
def _fix(path: Path, *extra):
    return run_bnlint_subprocess("--no-config", "--fix", *extra, path, env={"BNLINT_JOBS": "1"})


def test_fix_keeps_encoding_bom_line_endings_and_mode_and_is_idempotent(tmp_path):
    script = tmp_path / "train.py"
    original = ("# -*- coding: latin-1 -*-\n# Modèle\n" + BN003_SCRIPT).replace("\n", "\r\n").encode("latin-1")
    script.write_bytes(original)
    script.chmod(0o750)
    result = _fix(script)
    assert "Traceback" not in result.stderr
    fixed = script.read_bytes()
    assert fixed != original
    assert b"training=False" in fixed
    assert fixed.count(b"\r\n") == original.count(b"\r\n") and b"\n" not in fixed.replace(b"\r\n", b"")
    assert "Modèle".encode("latin-1") in fixed
    assert stat.S_IMODE(script.stat().st_mode) == 0o750
    assert not [p for p in tmp_path.iterdir() if p.name != "train.py"], "temp files left behind"
    again = _fix(script)
    assert script.read_bytes() == fixed and again.returncode == 0


def test_fix_keeps_a_utf8_bom(tmp_path):
    script = tmp_path / "train.py"
    script.write_bytes(b"\xef\xbb\xbf" + BN003_SCRIPT.encode())
    _fix(script)
    fixed = script.read_bytes()
    assert fixed.startswith(b"\xef\xbb\xbf") and b"base(x, training=False)" in fixed


def test_fix_that_would_not_parse_is_refused(tmp_path, monkeypatch, run_cli):
    script = tmp_path / "train.py"
    script.write_text(BN003_SCRIPT)
    monkeypatch.setattr("bnlint.script.fix_script", lambda data, path, findings: (data + b"\ndef broken(:\n", []))
    code, out, err = run_cli("--no-config", "--fix", script)
    assert script.read_text() == BN003_SCRIPT
    assert "does not parse" in out and code == 1


def test_fix_refuses_to_overwrite_a_file_changed_meanwhile(tmp_path, monkeypatch, run_cli):
    import bnlint.script

    script = tmp_path / "train.py"
    script.write_text(BN003_SCRIPT)
    real_fix = bnlint.script.fix_script

    def fix_while_user_edits(data, path, findings):
        script.write_text(BN003_SCRIPT + "# the user saved meanwhile\n")
        return real_fix(data, path, findings)

    monkeypatch.setattr("bnlint.script.fix_script", fix_while_user_edits)
    code, out, err = run_cli("--no-config", "--fix", script)
    assert script.read_text().endswith("# the user saved meanwhile\n")
    assert "changed while bnlint was fixing it" in out


def test_fix_keeps_the_notebook_json_layout(tmp_path):
    nb = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# Transfer learning\n"]},
                    {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                     "source": BN003_SCRIPT.splitlines(keepends=True)}],
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "train.ipynb"
    text = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
    path.write_text(text)
    _fix(path)
    fixed = path.read_text()
    expected = json.loads(text)
    expected["cells"][1]["source"][BN003_LINE - 1] = "x = base(x, training=False)\n"
    assert fixed == json.dumps(expected, indent=1, ensure_ascii=False) + "\n"


def test_unreadable_folder_is_reported_and_the_walk_goes_on(tmp_path, monkeypatch, run_cli):
    need(GOOD_MODEL)
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "train.py").write_text(BN003_SCRIPT)
    shutil.copy(GOOD_MODEL, tmp_path / "model.h5")
    real_scandir = os.scandir

    def deny(path="."):  # tests run as root, where chmod 000 does not deny listing
        if Path(path).resolve() == locked.resolve():
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr("os.scandir", deny)
    code, out, err = run_cli("--no-config", "--output-format", "json", ".", cwd=tmp_path)
    findings = json.loads(out)
    assert code == 1 and "Traceback" not in err
    assert "Permission denied" in assert_one_clear_bn900(findings, "locked")
    assert {"BN101", "BN102"} <= {f["code"] for f in findings if f["path"] == "model.h5"}
