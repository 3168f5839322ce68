"""Mutate real fixture bytes and check bnlint always ends normally: findings or a clear BN900,
never an internal error. Bounded for CI (profile "ci"); run longer locally with
`HYPOTHESIS_PROFILE=long .venv/bin/python -m pytest tests/test_fuzz.py`."""
from __future__ import annotations

import json
import tempfile
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from bnlint import catalogue, engine
from bnlint.config import Settings
from bnlint.discovery import Input
from conftest import FIXTURES

MODELS = FIXTURES / "models"
KNOWN = set(catalogue.all_codes())


def mutate(data: bytes, edits) -> bytes:
    buf = bytearray(data)
    for kind, pos, value in edits:
        if not buf:
            break
        i = pos % len(buf)
        if kind == 0:
            buf[i] = value
        elif kind == 1:
            del buf[i: i + value + 1]
        elif kind == 2:
            buf[i:i] = bytes([value]) * (value % 7 + 1)
        else:
            del buf[i:]
    return bytes(buf)


EDITS = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2**31), st.integers(0, 255)), min_size=1, max_size=6)


def outcome_for(path: Path, kind: str):
    out = engine.check_input(Input(path, path.name, kind), Settings(), engine.Options())
    assert not out.internal_error, out.findings
    assert all(f.code in KNOWN for f in out.findings)
    return out


def fixture(*parts) -> Path:
    path = MODELS.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"fixture {path} not generated")
    return path


@pytest.mark.parametrize("source", [("tf_keras", "flat_frozen.h5"), ("keras3", "nested_training_false.keras")],
                         ids=lambda parts: parts[1])
@given(edits=EDITS)
def test_mutated_model_file_bytes(source, edits):
    original = fixture(*source)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / original.name
        path.write_bytes(mutate(original.read_bytes(), edits))
        outcome_for(path, "model")


@given(edits=EDITS, member=st.sampled_from(["config.json", "metadata.json"]))
def test_mutated_keras_json_members(edits, member):
    source = fixture("keras3", "partly_unfrozen_nested.keras")
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(source) as src:
        path = Path(tmp) / "m.keras"
        with zipfile.ZipFile(path, "w") as dst:
            for item in src.infolist():
                data = src.read(item)
                dst.writestr(item, mutate(data, edits) if item.filename == member else data)
        outcome_for(path, "model")


@given(edits=EDITS)
def test_mutated_keras_metadata_pb(edits):
    import shutil

    source = fixture("tf_keras", "nested_training_false_savedmodel")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "sm"
        shutil.copytree(source, folder)
        meta = folder / "keras_metadata.pb"
        meta.write_bytes(mutate(meta.read_bytes(), edits))
        outcome_for(folder, "model")


@st.composite
def json_mutation(draw):
    """Structure-aware: replace one value somewhere in the config with an arbitrary JSON value."""
    return draw(st.lists(st.integers(0, 10_000), min_size=1, max_size=4)), draw(
        st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                     lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3), max_leaves=8))


def _replace_somewhere(obj, path, value):
    node = obj
    for step in path[:-1]:
        if isinstance(node, dict) and node:
            node = node[list(node)[step % len(node)]]
        elif isinstance(node, list) and node:
            node = node[step % len(node)]
        else:
            break
    if isinstance(node, dict) and node:
        node[list(node)[path[-1] % len(node)]] = value
    elif isinstance(node, list) and node:
        node[path[-1] % len(node)] = value


@given(mutation=json_mutation())
def test_structurally_mutated_model_config(mutation):
    import h5py

    source = fixture("tf_keras", "partly_unfrozen_nested.h5")
    with h5py.File(source, "r") as f:
        config = json.loads(f.attrs["model_config"])
    _replace_somewhere(config, *mutation)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.h5"
        import shutil
        shutil.copy(source, path)
        with h5py.File(path, "r+") as f:
            f.attrs["model_config"] = json.dumps(config)
        outcome_for(path, "model")


SCRIPT = FIXTURES / "example" / "train_flattened.py"


@given(edits=EDITS)
def test_mutated_script(edits):
    if not SCRIPT.exists():
        pytest.skip("example script missing")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.py"
        path.write_bytes(mutate(SCRIPT.read_bytes(), edits))
        outcome_for(path, "script")


TOKENS = list("()[]{}:=.,\n\t #'\"\\abx01") + ["base", "Model", "trainable", "ResNet50(", "applications",
                                               "import keras", "for l in ", ".layers", "training=", "fit(", "compile("]


@given(text=st.lists(st.sampled_from(TOKENS), max_size=120).map("".join))
def test_script_soup(text):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "soup.py"
        path.write_text(text)
        outcome_for(path, "script")
