"""Readers and the format-free graph: agreement with what the real writers measured, laziness,
no TensorFlow import, and robustness against hostile or broken input."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import h5py
import pytest

from bnlint.context import Limits, RuleContext
from bnlint.errors import BnlintInputError, NoKerasConfig
from bnlint.model import analyze_model
from bnlint.model.applications import Architecture, identify
from bnlint.model.graph import Layer
from bnlint.model.semantics import bn_modes, resolve_target
from bnlint.readers import read_model
from bnlint.readers.h5 import _nested_bns
from bnlint.readers.protowire import ProtoError, iter_fields

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "fixtures" / "models"
ALL = frozenset({"BN101", "BN102", "BN103", "BN104", "BN105", "BN106"})
STRUCTURE_ONLY = frozenset({"BN101", "BN102", "BN103", "BN104"})


def fixture(rel: str) -> Path:
    path = MODELS / rel
    if not path.exists():
        pytest.skip(f"fixture {rel} not generated")
    return path


def ctx(enabled=ALL, **limits) -> RuleContext:
    return RuleContext(enabled=frozenset(enabled), limits=Limits(**limits))


# ------------------------------------------------------------------ agreement with the writers
def manifest_rows():
    rows = []
    for manifest in sorted(MODELS.glob("*/MANIFEST.json")):
        for name, info in json.loads(manifest.read_text())["files"].items():
            # weights-only files and exports have no config to compare (see the BN901 test)
            if "bn" in info and info.get("style") not in ("weights_only", "export_savedmodel"):
                rows.append(pytest.param(manifest.parent / name.rstrip("/"), info, id=f"{manifest.parent.name}/{name}"))
    return rows


@pytest.mark.parametrize("path,info", manifest_rows())
def test_graph_and_statistics_match_what_the_writer_measured(path, info):
    """MANIFEST.json records, per fixture, the real model's BN layers (trainable flag, statistics
    at init) and max |model(x, training=True) - model(x, training=False)|: > 0 iff some BN layer
    normalizes with batch statistics in training. bnlint must agree from the file alone."""
    graph = read_model(path, ctx())
    modes = bn_modes(graph, resolve_target(graph, None))
    assert {m.layer.path for m in modes} == set(info["bn"])
    weights = graph.weights()
    for mode in modes:
        measured = info["bn"][mode.layer.path]
        assert mode.layer.trainable is measured["trainable"], mode.layer.path
        assert weights.bn[mode.layer.path].at_initial_values() is measured["at_init"], mode.layer.path
    if info.get("train_vs_infer_max_diff") is not None:
        assert any(m.trains_in_fit for m in modes) == (info["train_vs_infer_max_diff"] > 1e-6)


def test_keras2_lists_and_keras3_dicts_give_the_same_call_nodes():
    k2 = read_model(fixture("tf_keras/nested_training_false.h5"), ctx()).root
    k3 = read_model(fixture("keras3/nested_training_false.keras"), ctx()).root
    for root in (k2, k3):
        base = next(c for c in root.children if c.name == "base")
        assert base.is_model and base.trainable is False
        assert [n.inbound for n in base.nodes] == [(("img", 0),)]
        assert [n.training_false for n in base.nodes] == [True]
        bn1 = next(c for c in base.children if c.name == "bn1")
        assert bn1.path == "base/bn1" and [n.inbound[0][0] for n in bn1.nodes] == ["conv1"]
        assert bn1.nodes[0].training is None
    # Keras 3 records "mask": null on BN/Functional calls; that is not user intent
    assert all("training" not in n.kwargs for c in k3.walk() if c.is_bn for n in c.nodes)


def test_standalone_keras_does_not_record_a_nested_models_trainable():
    base = next(c for c in read_model(fixture("keras224/nested_flag_only.h5"), ctx()).root.children if c.is_model)
    assert base.trainable is None and all(c.trainable is True for c in base.children if c.is_bn)


def test_shared_layer_keeps_every_call():
    bn = next(c for c in read_model(fixture("tf_keras/shared_bn.keras"), ctx()).root.children if c.name == "bn_shared")
    assert [n.training_false for n in bn.nodes] == [True, False]


def test_nested_weights_match_by_order_when_standalone_renamed_the_variables():
    """Keras 2.2.4 may save config layer 'bn' as 'bn_1/...' (TF scope uniquifying, semantics §2.1)."""
    base = Layer("base", "Model", {}, None, "base", is_model=True)
    bns = [Layer(n, "BatchNormalization", {}, False, f"base/{n}", parent=base) for n in ("bn", "bn_1")]
    names = ["conv/kernel:0", "bn_1/moving_mean:0", "bn_1/moving_variance:0", "bn_2/moving_mean:0", "bn_2/moving_variance:0"]
    arrays = {n: [float(i)] for i, n in enumerate(names)}
    stats = _nested_bns(base, bns, names, arrays)
    assert stats["base/bn"].moving_mean == [1.0] and stats["base/bn_1"].moving_mean == [3.0]


# ------------------------------------------------------------------ laziness, no TensorFlow
def test_statistics_are_only_read_when_bn105_or_bn106_is_enabled(monkeypatch):
    from bnlint.readers import tensor_bundle

    def refuse(*args, **kwargs):
        raise AssertionError("a weights dataset was read")

    monkeypatch.setattr(h5py.Dataset, "__getitem__", refuse)
    monkeypatch.setattr(tensor_bundle.TensorBundle, "__init__", refuse)
    paths = [fixture("keras3/bad_stats.keras"), fixture("tf_keras/bad_stats.h5"), fixture("tf_keras/bad_stats_savedmodel")]
    for path in paths:
        assert {f.code for f in analyze_model(path, str(path), ctx(STRUCTURE_ONLY))} == {"BN101"}
    for path in paths:          # the trap is real: asking for statistics does read datasets
        with pytest.raises(AssertionError, match="weights dataset was read"):
            analyze_model(path, str(path), ctx({"BN106"}))


def test_the_model_analyzer_never_imports_tensorflow_or_keras():
    script = f"""
import json, sys
from pathlib import Path
from bnlint.context import RuleContext
from bnlint.errors import BnlintInputError
from bnlint.model import analyze_model
ctx = RuleContext(enabled=frozenset({sorted(ALL)!r}))
count = 0
for p in sorted(Path({str(MODELS)!r}).glob("*/*")):
    if p.suffix in (".h5", ".keras") or (p / "saved_model.pb").exists():
        try:
            count += len(analyze_model(p, str(p), ctx))
        except BnlintInputError:
            count += 1
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras", "jax", "torch"))
print(json.dumps({{"findings": count, "heavy": heavy}}))
"""
    result = subprocess.run([sys.executable, "-c", script], check=False, cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["findings"] > 20            # it really analysed the fixtures
    assert out["heavy"] == []


# ------------------------------------------------------------------ artifacts without a Keras config
@pytest.mark.parametrize("rel,why", [
    ("keras3/weights_only.weights.h5", "weights-only"),
    ("tf_keras/weights_only.weights.h5", "weights-only"),
    ("keras224/weights_only.h5", "weights-only"),
    ("keras3/export_savedmodel", "export()"),
])
def test_artifacts_without_keras_config_raise_no_keras_config(rel, why):
    with pytest.raises(NoKerasConfig) as info:
        analyze_model(fixture(rel), rel, ctx())
    assert why in info.value.reason


def test_tf_2_5_savedmodel_that_lost_its_keras_metadata(tmp_path):
    folder = tmp_path / "stripped_savedmodel"
    shutil.copytree(fixture("tf_keras/flat_frozen_savedmodel"), folder)
    (folder / "keras_metadata.pb").unlink()
    with pytest.raises(NoKerasConfig, match="without its keras_metadata.pb"):
        analyze_model(folder, "stripped", ctx())


@pytest.mark.parametrize("name", ["deep_nested_savedmodel", "sequential_wrapped_savedmodel",
                                  "app_flat_frozen_savedmodel"])
def test_saved_model_pb_object_graph_gives_the_node_paths_tf_wrote(name):
    """Pre-TF-2.5 SavedModels keep the Keras metadata in saved_model.pb; bnlint rebuilds the node
    paths of keras_metadata.pb from its object graph. Compare with the paths TF itself wrote."""
    from bnlint.readers.savedmodel import nodes_from_saved_model, parse_saved_metadata

    folder = fixture(f"tf_keras/{name}")
    written = {n.node_id: n.node_path for n in parse_saved_metadata((folder / "keras_metadata.pb").read_bytes())}
    rebuilt = {n.node_id: n.node_path for n in nodes_from_saved_model((folder / "saved_model.pb").read_bytes())}
    assert len(written) > 10 and {i: rebuilt.get(i) for i in written} == written


def _pre_2_5_savedmodels():
    return [p for p in sorted(MODELS.glob("*/*_savedmodel"))
            if not (p / "keras_metadata.pb").exists() and b"_tf_keras_" in (p / "saved_model.pb").read_bytes()]


@pytest.mark.skipif(not _pre_2_5_savedmodels(), reason="no pre-TF-2.5 SavedModel fixture (e.g. tf115) generated")
@pytest.mark.parametrize("folder", _pre_2_5_savedmodels(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_pre_tf_2_5_savedmodel_reports_what_its_h5_twin_reports(folder):
    twin = folder.with_name(folder.name[: -len("_savedmodel")] + ".h5")
    if not twin.exists():
        pytest.skip(f"no {twin.name} to compare with")
    as_savedmodel = [(f.code, f.layer) for f in analyze_model(folder, "m", ctx())]
    assert as_savedmodel == [(f.code, f.layer) for f in analyze_model(twin, "m", ctx())]


def test_saved_model_pb_path_means_its_folder():
    folder = fixture("tf_keras/flat_frozen_savedmodel")
    assert {f.code for f in analyze_model(folder / "saved_model.pb", "x", ctx())} == {"BN101"}


# ------------------------------------------------------------------ broken and hostile input
def _with_config(tmp_path, text: str, src="tf_keras/flat_frozen.h5") -> Path:
    path = tmp_path / "mutated.h5"
    shutil.copy(fixture(src), path)
    with h5py.File(path, "r+") as f:
        f.attrs["model_config"] = text
    return path


def _config(src="tf_keras/flat_frozen.h5") -> dict:
    with h5py.File(fixture(src), "r") as f:
        return json.loads(f.attrs["model_config"])


def _bad(path, **limits) -> str:
    with pytest.raises(BnlintInputError) as info:
        analyze_model(path, "x", ctx(**limits))
    assert not isinstance(info.value, NoKerasConfig)
    return info.value.reason


def test_config_that_is_not_json(tmp_path):
    assert "model_config is not valid JSON" in _bad(_with_config(tmp_path, "{not json"))


def test_absurdly_deep_json_is_refused_not_a_recursion_error(tmp_path):
    assert "nested too deeply" in _bad(_with_config(tmp_path, "[" * 200_000 + "]" * 200_000))


def test_config_over_the_size_limit(tmp_path):
    assert "over the 100-byte limit" in _bad(_with_config(tmp_path, json.dumps(_config())), max_json_bytes=100)


def test_missing_inbound_layer(tmp_path):
    config = _config()
    bn1 = next(l for l in config["config"]["layers"] if l["name"] == "bn1")
    bn1["inbound_nodes"][0][0][0] = "ghost"
    assert "layer 'bn1' refers to missing inbound layer 'ghost'" in _bad(_with_config(tmp_path, json.dumps(config)))


def test_cyclic_graph(tmp_path):
    config = _config()
    conv1 = next(l for l in config["config"]["layers"] if l["name"] == "conv1")
    conv1["inbound_nodes"][0][0][0] = "bn2"
    assert "form a cycle" in _bad(_with_config(tmp_path, json.dumps(config)))


def test_nested_models_deeper_than_the_limit(tmp_path):
    config = _config("tf_keras/nested_no_training.h5")
    inner = config["config"]
    for i in range(30):    # wrap the real model in 30 more nested models
        inner = {"name": f"m{i}", "layers": [{"class_name": "Functional", "name": inner["name"], "config": inner,
                                               "inbound_nodes": []}], "input_layers": [], "output_layers": []}
    text = json.dumps({"class_name": "Functional", "config": inner})
    assert "nested models deeper than 20 levels" in _bad(_with_config(tmp_path, text), max_nesting=20)


def test_wrong_json_types(tmp_path):
    for text in ('{"class_name": 5, "config": ["x"]}', '{"class_name": "Functional", "config": {"layers": [7]}}',
                 '{"class_name": "Functional", "config": {"layers": [{"class_name": "Dense", "config": {}}]}}'):
        assert _bad(_with_config(tmp_path, text))


@pytest.mark.parametrize("content", [b"", b"\x89HDF\r\n\x1a\n" + b"\x00" * 100, b"PK\x03\x04garbage", b"\xff" * 64])
def test_garbage_files(tmp_path, content):
    for name in ("m.h5", "m.keras"):
        path = tmp_path / name
        path.write_bytes(content)
        assert _bad(path)


def test_corrupt_weights_give_the_config_findings_plus_one_bn900(tmp_path):
    path = tmp_path / "corrupt.h5"
    shutil.copy(fixture("tf_keras/flat_frozen.h5"), path)
    with h5py.File(path, "r+") as f:
        del f["model_weights/bn2/bn2/moving_variance:0"]
    found = analyze_model(path, "corrupt.h5", ctx())
    assert [f.code for f in found] == ["BN101", "BN900"]
    assert "BN statistics could not be read" in found[1].message and "bn2/moving_variance:0" in found[1].message
    # without the statistics rules the file is fine
    assert [f.code for f in analyze_model(path, "corrupt.h5", ctx(STRUCTURE_ONLY))] == ["BN101"]


def test_truncated_keras_weights_member(tmp_path):
    corrupt = tmp_path / "corrupt.keras"
    with zipfile.ZipFile(fixture("keras3/flat_frozen.keras")) as src, zipfile.ZipFile(corrupt, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            dst.writestr(item, data[: len(data) // 3] if item.filename.endswith(".h5") else data)
    assert [f.code for f in analyze_model(corrupt, "c", ctx())] == ["BN101", "BN900"]


def test_keras_zip_bomb_is_refused_before_inflating(tmp_path):
    bomb = tmp_path / "bomb.keras"
    with zipfile.ZipFile(fixture("keras3/flat_frozen.keras")) as src, \
            zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            if item.filename != "config.json":
                dst.writestr(item.filename, src.read(item))
        dst.writestr("config.json", b" " * (16 * 1024 * 1024))   # 16 MiB of spaces, ~16 KiB deflated
    assert bomb.stat().st_size < 2 * 1024 * 1024
    assert "config.json is 16777216 bytes uncompressed, over the 1048576-byte limit" in _bad(bomb, max_json_bytes=1 << 20)


def test_keras_weights_member_over_the_limit(tmp_path):
    found = analyze_model(fixture("keras3/flat_frozen.keras"), "k", ctx(max_member_bytes=1000))
    assert [f.code for f in found] == ["BN101", "BN900"] and "over the 1000-byte limit" in found[1].message


def test_truncated_savedmodel_variables(tmp_path):
    folder = tmp_path / "sm"
    shutil.copytree(fixture("tf_keras/bad_stats_savedmodel"), folder)
    index = folder / "variables" / "variables.index"
    index.write_bytes(index.read_bytes()[:-20])
    found = analyze_model(folder, "sm", ctx())
    assert [f.code for f in found] == ["BN101", "BN900"] and "variables index" in found[1].message


@pytest.mark.parametrize("content", [b"", b"\x0a\xff\xff\xff\xff\x0f", b"\x00\xff garbage \x12\x34" * 50])
def test_savedmodel_with_broken_keras_metadata(tmp_path, content):
    folder = tmp_path / "sm"
    shutil.copytree(fixture("tf_keras/nested_no_training_savedmodel"), folder)
    (folder / "keras_metadata.pb").write_bytes(content)
    assert _bad(folder)


def test_protowire_bounds():
    assert list(iter_fields(b"\x08\x96\x01")) == [(1, 0, 150)]
    for bad in (b"\x0a\x05ab", b"\x08", b"\x0b", b"\x08" + b"\xff" * 11):
        with pytest.raises(ProtoError):
            list(iter_fields(bad))


# ------------------------------------------------------------------ architecture matcher
ARCHS = (Architecture("ResNet50", frozenset(f"conv{i}_bn" for i in range(53)), 175),
         Architecture("ResNet101", frozenset(f"conv{i}_bn" for i in range(104)), 345),
         Architecture("Twin", frozenset(f"t{i}_bn" for i in range(10)), 20),
         Architecture("TwinCopy", frozenset(f"t{i}_bn" for i in range(10)), 20))


def test_identify_prefers_the_architecture_the_names_cover_best():
    assert identify([f"conv{i}_bn" for i in range(53)], ARCHS).names == ("ResNet50",)
    assert identify([f"conv{i}_bn" for i in range(104)], ARCHS).names == ("ResNet101",)


def test_identify_names_twins_with_identical_bn_names_together():
    match = identify([f"t{i}_bn" for i in range(10)], ARCHS)
    assert match.names == ("Twin", "TwinCopy") and match.label == "Twin or TwinCopy"


def test_identify_is_not_confident_on_few_or_foreign_names():
    assert identify(["conv1_bn", "conv2_bn"], ARCHS) is None                       # too few to tell
    assert identify([f"conv{i}_bn" for i in range(10)] + [f"mine{i}" for i in range(10)], ARCHS) is None
    ties = (Architecture("A", frozenset(f"x{i}" for i in range(10)), 0),
            Architecture("B", frozenset(f"x{i}" for i in range(5)) | frozenset(f"y{i}" for i in range(5)), 0))
    assert identify([f"x{i}" for i in range(5)], ties) is None                     # equal fit, different nets


def test_an_hdf5_file_that_is_not_from_keras_is_unreadable_input(tmp_path):
    path = tmp_path / "data.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("data", data=[1.0, 2.0])
    assert "not a Keras model" in _bad(path)


def test_deflated_keras_archive_reads_the_same_statistics(tmp_path):
    """Keras stores members uncompressed; a re-zipped (deflated) archive must give the same result."""
    deflated = tmp_path / "deflated.keras"
    with zipfile.ZipFile(fixture("keras3/bad_stats.keras")) as src, \
            zipfile.ZipFile(deflated, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            dst.writestr(item.filename, src.read(item))
    original = analyze_model(fixture("keras3/bad_stats.keras"), "m", ctx())
    assert [(f.code, f.layer, f.message) for f in analyze_model(deflated, "m", ctx())] == \
           [(f.code, f.layer, f.message) for f in original]
    assert [f.code for f in original] == ["BN101", "BN106", "BN106"]


def test_every_architecture_of_the_real_table_is_recognised_from_its_own_bn_names():
    from bnlint.model.applications import load_architectures

    archs = load_architectures()
    if not archs:
        pytest.skip("bnlint/data/applications.json not generated yet")
    for arch in archs:
        twins = tuple(sorted(a.name for a in archs if a.bn_layers == arch.bn_layers))
        found = identify(arch.bn_layers)
        if len(arch.bn_layers) < 5:
            assert found is None, arch.name
        else:
            assert found is not None and found.names == twins, arch.name


def test_a_lambda_payload_is_read_as_json_and_never_executed(tmp_path, monkeypatch):
    """hostile/lambda_marker.h5 creates $BNLINT_MARKER when tf_keras deserialises its Lambda."""
    marker = tmp_path / "marker"
    monkeypatch.setenv("BNLINT_MARKER", str(marker))
    path = fixture("hostile/lambda_marker.h5")
    graph = read_model(path, ctx())
    assert [layer.class_name for layer in graph.layers()] == ["InputLayer", "Lambda", "Dense"]
    assert analyze_model(path, "lambda_marker.h5", ctx()) == []
    assert not marker.exists()


def test_weights_that_link_into_another_file_are_refused(tmp_path):
    other = tmp_path / "secret.h5"
    with h5py.File(other, "w") as f:
        f.create_dataset("data", data=[1e9, 2e9, 3e9, 4e9])
    path = tmp_path / "linked.h5"
    shutil.copy(fixture("tf_keras/flat_frozen.h5"), path)
    with h5py.File(path, "r+") as f:
        del f["model_weights/bn1/bn1/moving_variance:0"]
        f["model_weights/bn1/bn1/moving_variance:0"] = h5py.ExternalLink(str(other), "/data")
    found = analyze_model(path, "linked.h5", ctx())
    assert [f.code for f in found] == ["BN101", "BN900"]
    assert "link into another file" in found[1].message


# ------------------------------------------------------------------ BN mode per Keras (graph objects)
def _bn_in_base(class_name="BatchNormalization", config=None, trainable=False, base_training=None, own_training=None):
    from bnlint.model.graph import CallNode

    root = Layer("m", "Functional", {}, True, "", is_model=True)
    base_node = CallNode((("img", 0),), {} if base_training is None else {"training": base_training})
    base = Layer("base", "Functional", {}, None, "base", parent=root, nodes=(base_node,), is_model=True, depth=1)
    own = CallNode((("conv", 0),), {} if own_training is None else {"training": own_training})
    bn = Layer("bn", class_name, config or {}, trainable, "base/bn", parent=base, nodes=(own,), depth=2)
    root.children.append(base)
    base.children.append(bn)
    return bn


@pytest.mark.parametrize("target,trainable,base_training,own_training,trains", [
    ("standalone", False, None, None, True),        # frozen BN still uses batch statistics
    ("standalone", False, None, False, False),      # the standalone fix: bn(x, training=False)
    ("standalone", False, False, None, True),       # a nested training=False cannot exist there
    ("tf1", False, False, None, False),             # TF 1.x honours base(x, training=False)
    ("tf2", False, None, None, False),              # frozen = inference
    ("tf2", True, False, None, False),              # the guide's recipe holds after unfreezing
    ("keras3<3.16", True, False, None, True),       # keras-team/keras#20285
    ("keras3<3.16", True, None, False, True),       # fit() overrides a BN's own training=False too
    ("keras3>=3.16", True, False, None, False),
])
def test_bn_mode_per_keras(target, trainable, base_training, own_training, trains):
    from bnlint.model.semantics import bn_mode
    from bnlint.target import parse_target

    bn = _bn_in_base(trainable=trainable, base_training=base_training, own_training=own_training)
    assert bn_mode(bn, parse_target(target)).trains_in_fit is trains


@pytest.mark.parametrize("class_name,config", [("FixedBatchNormalization", {}), ("BatchNormalization", {"freeze": True})])
def test_bn_subclasses_that_force_inference_mode(class_name, config):
    from bnlint.model.semantics import bn_mode
    from bnlint.target import parse_target

    bn = _bn_in_base(class_name, config)
    assert bn.is_bn and bn_mode(bn, parse_target("standalone")).trains_in_fit is False


@pytest.mark.parametrize("rel,label,codes", [
    ("tf_keras/nested_training_false_unfrozen.h5", "tf.keras (TF 2.x) / tf_keras", []),
    ("keras3/nested_training_false_unfrozen.h5", "Keras 3 < 3.16", ["BN103"]),     # keras-team/keras#20285
])
def test_a_file_without_keras_version_is_judged_by_its_config_format(tmp_path, rel, label, codes):
    path = tmp_path / "noversion.h5"
    shutil.copy(fixture(rel), path)
    with h5py.File(path, "r+") as f:
        del f.attrs["keras_version"]
    graph = read_model(path, ctx())
    target = resolve_target(graph, None)
    assert graph.keras_version is None and target.label == label and "no keras_version" in target.source
    found = analyze_model(path, "m", ctx())
    assert [f.code for f in found] == codes
    assert all("no keras_version in the file; set target-keras" in f.help for f in found)


@pytest.mark.parametrize("content", [b"", b"\x12\x03abc", b"\xff\xff\xff"])
def test_broken_saved_model_pb_without_keras_metadata(tmp_path, content):
    folder = tmp_path / "sm"
    folder.mkdir()
    (folder / "saved_model.pb").write_bytes(content)
    assert _bad(folder)


def test_keras3_weights_follow_the_recorded_layer_names_when_group_order_differs(tmp_path):
    """model.weights.h5 groups are named by counting class names in tracking order; Keras 3 also
    records each layer's name. If the order differs (here: the two BN groups swapped, data and
    recorded names together), the statistics must still land on the layer they belong to."""
    import io

    source = fixture("keras3/bad_stats.keras")
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    weights = io.BytesIO(members["model.weights.h5"])
    with h5py.File(weights, "r+") as f:
        layers = f["layers"]
        layers.move("batch_normalization", "swap")
        layers.move("batch_normalization_1", "batch_normalization")
        layers.move("swap", "batch_normalization_1")
        assert layers["batch_normalization/vars"].attrs["name"] == "bn2"
    members["model.weights.h5"] = weights.getvalue()
    swapped = tmp_path / "swapped.keras"
    with zipfile.ZipFile(swapped, "w", zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)

    def bn106(path):
        return [(f.layer, f.message) for f in analyze_model(path, "m.keras", ctx({"BN106"}))]

    original = bn106(source)
    assert [layer for layer, _ in original] == ["bn1", "bn2"]
    assert bn106(swapped) == original


# ------------------------------------------------------------------ optimizer facts (BN107)
@pytest.mark.parametrize("rel, class_name, name, variable_name", [
    ("keras3/finetune_short.keras", "Adam", "adam", None),
    ("keras3/finetune_recompiled.h5", "Adam", "adam_1", "adam_1/iteration"),
    ("tf_keras/finetune_short.h5", "Custom>Adam", "Adam", "iteration:0"),
    ("tf_keras/finetune_short.keras", "Adam", "Adam", None),
    ("tf_keras/finetune_short_savedmodel", "Custom>Adam", "Adam", None),
    ("tf115/finetune_short.h5", "Adam", "Adam", "training/Adam/iter:0"),
    ("tf115/finetune_recompiled.h5", "Adam", "Adam", "training_2/Adam/iter:0"),
])
def test_every_format_gives_the_compiled_optimizer_and_its_step_count(rel, class_name, name, variable_name):
    graph = read_model(fixture(rel), ctx())
    assert (graph.optimizer.class_name, graph.optimizer.name) == (class_name, name)
    weights = graph.weights()
    assert weights.optimizer_iterations == 10      # MANIFEST: 10 steps since the last compile()
    assert (weights.optimizer_variable_names[0] if weights.optimizer_variable_names else None) == variable_name


def test_never_compiled_model_has_no_optimizer():
    graph = read_model(fixture("tf_keras/never_trained.h5"), ctx())
    assert graph.optimizer is None and graph.weights().optimizer_iterations is None


def test_an_unreadable_training_config_only_loses_the_optimizer_facts(tmp_path):
    path = tmp_path / "m.h5"
    shutil.copy(fixture("tf_keras/finetune_short.h5"), path)
    with h5py.File(path, "r+") as f:
        f.attrs["training_config"] = "{not json"
    graph = read_model(path, ctx())
    assert graph.optimizer is None and graph.has_training_config
    assert {f.code for f in analyze_model(path, "m.h5", ctx({"BN107"}))} == {"BN107"}
