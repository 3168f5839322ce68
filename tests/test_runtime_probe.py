"""`bnlint probe MODEL --data DATA` on real models: the verdict, the table, JSON, the plot, exit codes.

Keras 3 runs in this process (imported once per worker); tf_keras runs in a subprocess with
TF_USE_LEGACY_KERAS=1. Scenario models come from tests/scenarios.py (tiny, a few seconds to make).
"""
import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import scenarios
from conftest import FIXTURES, ROOT

MODELS = FIXTURES / "models"


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    return keras


@pytest.fixture(scope="module")
def scenario(keras, tmp_path_factory):
    """short.keras (10 fine-tuning steps on raw pixels), long.keras (600), raw.npy (the 12 images)."""
    out = tmp_path_factory.mktemp("scenario")
    raw, _, _ = scenarios.images()
    np.save(out / "raw.npy", raw)
    model = scenarios.flattened(keras, scenarios.pretrained_base(keras))
    scenarios.fine_tune(model, scenarios.SHORT_STEPS).save(out / "short.keras")
    scenarios.fine_tune(model, scenarios.LONG_STEPS - scenarios.SHORT_STEPS).save(out / "long.keras")
    return out


@pytest.fixture
def raw_like(tmp_path):
    """Raw-pixel-like inputs for the 8x8x3 fixture models (far from their moving statistics)."""
    path = tmp_path / "raw.npy"
    np.save(path, np.random.default_rng(1).integers(0, 256, size=(16, 8, 8, 3)).astype("float32"))
    return path


def test_short_fine_tune_prints_verdict_then_table_and_plot_and_exits_1(run_cli, scenario, tmp_path):
    plot = tmp_path / "gap.png"
    code, out, err = run_cli("probe", scenario / "short.keras", "--data", scenario / "raw.npy", "--plot", plot)
    assert code == 1, err
    lines = out.splitlines()
    assert lines[0].startswith("training and inference disagree on ")
    assert "divergence starts at 'bn1': moving variance " in lines[0] and " vs batch variance " in lines[0]
    assert "updates at momentum 0.99 to come within 0.5" in lines[0]
    header = next(line for line in lines if line.startswith("#"))
    assert "layer" in header and "gap" in header and "updates needed" in header
    bn1 = next(line for line in lines if line.split()[:2] == ["0", "bn1"])
    assert "batch" in bn1 and bn1.rstrip().split()[-2] == "!"      # over the threshold, then updates needed
    assert plot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_long_fine_tune_exits_0(run_cli, scenario, tmp_path):
    plot = tmp_path / "gap.svg"
    code, out, err = run_cli("probe", scenario / "long.keras", "--data", scenario / "raw.npy", "--plot", plot)
    assert code == 0, err
    assert out.startswith("training and inference disagree on 0 % of the samples (0 of 12")
    assert "the moving statistics match this data" in out.splitlines()[0]
    assert " ! " not in out and "!\n" not in out
    assert b"<svg" in plot.read_bytes()


def test_json_report(run_cli, scenario):
    code, out, _ = run_cli("probe", scenario / "short.keras", "--data", scenario / "raw.npy", "--output-format",
                           "json", "--samples", "12", "--batch-size", "6")
    assert code == 1
    report = json.loads(out)
    assert report["diverged"] is True and report["first_divergent_layer"] == "bn1"
    assert report["samples"] == 12 and report["batch_size"] == 6
    assert report["target"] == {"semantics": "keras3<3.16", "source": "running Keras 3.15.1"}
    bn1, bn2 = report["layers"]
    assert (bn1["path"], bn1["training_mode"], bn1["diverged"]) == ("bn1", "batch", True)
    assert bn1["batch_variance"] > 10 * bn1["moving_variance"] and bn1["log_variance_ratio"] > 1
    assert bn1["updates_needed"] > scenarios.SHORT_STEPS and bn2["path"] == "bn2"
    assert report["output"]["largest_difference"] > 0.1 and report["output"]["predictions"] == 12


def test_probe_never_writes_the_model_file(run_cli, scenario):
    model = scenario / "short.keras"
    before = (hashlib.sha256(model.read_bytes()).hexdigest(), model.stat().st_mtime_ns)
    run_cli("probe", model, "--data", scenario / "raw.npy")
    assert (hashlib.sha256(model.read_bytes()).hexdigest(), model.stat().st_mtime_ns) == before


def test_the_training_mode_pass_leaves_the_weights_as_loaded(keras, scenario):
    from bnlint.runtime.live_graph import graph_from_live_model
    from bnlint.runtime.measure import measure

    model = keras.saving.load_model(scenario / "short.keras", compile=False)
    raw = np.load(scenario / "raw.npy")
    before = [w.copy() for w in model.get_weights()]
    measurement = measure(graph_from_live_model(model), [raw[:6], raw[6:]])
    assert measurement.diverged
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    model(raw, training=True)        # without the restore, Keras 3 moves the statistics
    assert not all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_lambda_layer_is_refused_before_keras_loads_it(run_cli, tmp_path):
    # The fixture's Lambda writes $BNLINT_MARKER when Keras deserialises it (see test_hostile_inputs);
    # tf_keras has no safe mode for .h5 files, so the static refusal is what protects the user.
    marker = tmp_path / "fired"
    data = tmp_path / "x.npy"
    np.save(data, np.zeros((2, 4), dtype="float32"))
    code, out, err = run_cli("probe", MODELS / "hostile" / "lambda_marker.h5", "--data", data,
                             env={"BNLINT_MARKER": str(marker)})
    assert code == 2 and out == ""
    assert "Lambda layer" in err and "--unsafe-load" in err
    assert not marker.exists()


def test_legacy_file_is_probed_under_its_writers_semantics(run_cli, raw_like):
    model = MODELS / "keras224" / "flat_frozen.h5"
    code, out, _ = run_cli("probe", model, "--data", raw_like)
    assert code == 1
    assert "batch (emulated)" in out and "emulating standalone Keras 2.x (file keras_version 2.2.4)" in out
    assert "BN102 'bn1': confirmed: 'bn1' normalises with batch statistics in training mode" in out
    code, out, _ = run_cli("probe", model, "--data", raw_like, "--target-keras", "tf2")
    assert code == 0
    assert "no BN layer uses batch statistics in training mode here" in out.splitlines()[0]
    assert "BN101 'bn1': 'bn1' uses its moving statistics in training mode here" in out


def test_correctly_nested_frozen_base_exits_0_with_dropout_held(run_cli, keras, tmp_path, raw_like):
    model = scenarios.nested_frozen(keras, scenarios.bn_base(keras))      # statistics 0/1: far from raw pixels
    model.save(tmp_path / "nested.keras")
    code, out, _ = run_cli("probe", tmp_path / "nested.keras", "--data", raw_like, "--output-format", "json")
    report = json.loads(out)
    assert code == 0 and report["diverged"] is False
    assert [layer["training_mode"] for layer in report["layers"]] == ["moving", "moving"]
    assert report["output"]["disagreeing"] == 0 and report["output"]["largest_difference"] == 0.0
    assert any("dropout" in note for note in report["notes"])


def test_static_findings_are_confirmed_by_the_data(run_cli, raw_like):
    code, out, _ = run_cli("probe", MODELS / "keras3" / "partly_unfrozen_flat.keras", "--data", raw_like)
    assert code == 1
    assert "BN103 'bn2': confirmed: 'bn2' normalises with batch statistics" in out
    assert "BN101 'bn1': 'bn1' uses its moving statistics in training mode here" in out


def test_folder_of_images_with_preprocess(run_cli, scenario, tmp_path):
    from PIL import Image

    raw = np.load(scenario / "raw.npy").astype("uint8")
    folder = tmp_path / "images"
    folder.mkdir()
    for i, image in enumerate(raw):
        Image.fromarray(image).save(folder / f"{i:02d}.png")
    code, out, _ = run_cli("probe", scenario / "short.keras", "--data", folder, "--output-format", "json")
    raw_report = json.loads(out)
    assert code == 1 and raw_report["samples"] == 12
    code, out, _ = run_cli("probe", scenario / "short.keras", "--data", folder, "--preprocess", "tf",
                           "--output-format", "json")
    # "tf" mode scales pixels to [-1, 1]: the first BN layer's input variance shrinks by about 127.5**2
    ratio = raw_report["layers"][0]["batch_variance"] / json.loads(out)["layers"][0]["batch_variance"]
    assert 127.5 ** 2 / 2 < ratio < 127.5 ** 2 * 2


@pytest.mark.parametrize("extra,message", [
    (("--data", "missing.npy"), "DATA not found"),
    (("--data", "{raw}", "--preprocess", "caffe"), "--preprocess applies to a folder of images"),
    (("--data", "{wrong}"), "do not fit the model input (N, 8, 8, 3)"),
    (("--data", "{raw}", "--plot", "gap.jpg"), "--plot FILE must end in"),
    (("--data", "{raw}", "--target-keras", "banana"), "unknown Keras target"),
])
def test_usage_errors_exit_2(run_cli, scenario, tmp_path, extra, message):
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((3, 4, 4, 3), dtype="float32"))
    args = [a.format(raw=scenario / "raw.npy", wrong=wrong) for a in extra]
    code, out, err = run_cli("probe", scenario / "short.keras", *args, cwd=tmp_path)
    assert code == 2 and out == ""
    assert message in err


def test_savedmodel_needs_tf_keras_under_keras3(run_cli, raw_like):
    code, _, err = run_cli("probe", MODELS / "tf_keras" / "partly_unfrozen_nested_savedmodel", "--data", raw_like)
    assert code == 2 and "TF_USE_LEGACY_KERAS=1" in err


def test_tf_keras_savedmodel_probe_in_a_subprocess(raw_like):
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run([sys.executable, "-m", "bnlint", "probe",
                             str(MODELS / "tf_keras" / "partly_unfrozen_nested_savedmodel"), "--data", str(raw_like),
                             "--output-format", "json"], check=False, cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 1, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["keras"].startswith("tf_keras 2.21")
    assert report["first_divergent_layer"] == "base/bn2"
    modes = {layer["path"]: layer["training_mode"] for layer in report["layers"]}
    assert modes == {"base/bn1": "moving", "base/bn2": "batch"}          # bn1 frozen, bn2 fine-tuned
    confirmed = {(f["code"], f["layer"]): f["confirmed"] for f in report["static_findings"]}
    assert confirmed[("BN103", "base/bn2")] is True and confirmed[("BN104", "base/bn1")] is False


def test_help_says_loading_runs_code_and_imports_no_tensorflow():
    code = ("import sys, contextlib, io\nfrom bnlint.cli import main\nbuf = io.StringIO()\n"
            "with contextlib.redirect_stdout(buf):\n    try:\n        main(['probe', '--help'])\n"
            "    except SystemExit:\n        pass\n"
            "assert not [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras')]\n"
            "print(buf.getvalue())\n")
    result = subprocess.run([sys.executable, "-c", code], check=False, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "--unsafe-load" in result.stdout and "Loading a model runs Keras code" in result.stdout
    assert "safe_mode=True" in result.stdout and "never written to" in result.stdout


def test_the_compiled_measurement_agrees_with_the_eager_one(keras, scenario):
    from bnlint.runtime.live_graph import graph_from_live_model
    from bnlint.runtime.measure import Prober, measure

    model = keras.saving.load_model(scenario / "short.keras", compile=False)
    raw = np.load(scenario / "raw.npy")
    live = graph_from_live_model(model)
    eager = measure(live, [raw[:6], raw[6:]])
    prober = Prober(live, compiled=True)
    assert prober.compiled
    for compiled in (prober.run([raw[:6], raw[6:]]), prober.run([raw[:6], raw[6:]])):   # traced once, run twice
        assert [(g.path, g.order, g.training_mode, g.diverged) for g in compiled.layers] == \
               [(g.path, g.order, g.training_mode, g.diverged) for g in eager.layers]
        for a, b in zip(compiled.layers, eager.layers):
            assert a.gap == pytest.approx(b.gap, rel=1e-3) and a.batch_variance == pytest.approx(b.batch_variance, rel=1e-3)
            assert a.updates_needed == pytest.approx(b.updates_needed, abs=1)
        assert compiled.disagreeing == eager.disagreeing
        assert compiled.largest_difference == pytest.approx(eager.largest_difference, abs=1e-4)
