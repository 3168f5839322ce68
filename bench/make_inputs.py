"""Build (or reuse) the benchmark inputs under bench/.cache/ (gitignored, never committed).

    .venv/bin/python bench/make_inputs.py [--force]

Inputs:
  models/resnet50_flat_frozen.h5         tf_keras 2.x  ResNet50(weights=None) base, flattened into
                                         the new model and frozen, saved as legacy HDF5 (~95 MB)
  models/efficientnetb4_flat_frozen.keras Keras 3      EfficientNetB4(weights=None) base, same
                                         pattern, saved as a .keras zip (~70 MB)
  tree/keras_src/                        a copy of the installed keras package's `keras/src`
                                         (~770 .py files; copied out of the venv so no linter
                                         skips it for living under .venv/ or site-packages/),
                                         with tree/pyproject.toml as a project-root marker
  peers-venv/                            a separate venv with fixit and ruff, so the test env
                                         stays clean

Each model is built in its own subprocess (TensorFlow is heavy; Keras 3 and tf_keras must not
share a process). A stamp file records the versions that built the inputs; a change rebuilds.
The committed bench/inputs/train_400.py is the single-script input.
"""
from __future__ import annotations

import argparse
import importlib.metadata as md
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
import venv
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
CACHE = BENCH / ".cache"
MODELS = CACHE / "models"
H5_MODEL = MODELS / "resnet50_flat_frozen.h5"
KERAS_MODEL = MODELS / "efficientnetb4_flat_frozen.keras"
TREE = CACHE / "tree" / "keras_src"
PEERS_VENV = CACHE / "peers-venv"
SCRIPT = BENCH / "inputs" / "train_400.py"
STAMP = CACHE / "inputs.json"

# Quiet TensorFlow while building; never touch OPENBLAS_CORETYPE (the machine may set it).
_TF_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "", "PYTHONHASHSEED": "0"}

_BUILD_H5 = """
import tf_keras as keras
base = keras.applications.ResNet50(weights=None, include_top=False, input_shape=(224, 224, 3))
base.trainable = False                                   # frozen base
x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(base.output)
x = keras.layers.Dropout(0.2, name="head_dropout")(x)
out = keras.layers.Dense(10, activation="softmax", name="predictions")(x)
model = keras.Model(inputs=base.input, outputs=out)      # flattened: base layers become model layers
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.save({path!r}, save_format="h5")
"""

_BUILD_KERAS = """
import keras
base = keras.applications.EfficientNetB4(weights=None, include_top=False, input_shape=(380, 380, 3))
base.trainable = False
x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(base.output)
x = keras.layers.Dropout(0.3, name="head_dropout")(x)
out = keras.layers.Dense(10, activation="softmax", name="predictions")(x)
model = keras.Model(inputs=base.input, outputs=out)
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.save({path!r})
"""


def _version(dist: str) -> str:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return "absent"


def _keras_src() -> Path:
    spec = importlib.util.find_spec("keras")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("keras is not installed in this interpreter: run with the project's .venv (test extras)")
    return Path(list(spec.submodule_search_locations)[0]) / "src"


def _stamps() -> dict:
    """What each input depends on: when any of it changes, that input is rebuilt."""
    py = sys.version.split()[0]
    return {
        "h5": {"python": py, "tf_keras": _version("tf_keras"), "tensorflow": _version("tensorflow"), "code": _BUILD_H5},
        "keras": {"python": py, "keras": _version("keras"), "code": _BUILD_KERAS},
        "tree": {"keras": _version("keras"), "src": str(_keras_src()), "marker": _TREE_MARKER},
    }


def _build_model(code: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    tmp.unlink(missing_ok=True)
    print(f"  building {path.name} ...", file=sys.stderr, flush=True)
    env = {**os.environ, **_TF_ENV}
    subprocess.run([sys.executable, "-c", textwrap.dedent(code.format(path=str(tmp)))], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    os.replace(tmp, path)
    print(f"  {path.name}: {path.stat().st_size / 1e6:.1f} MB", file=sys.stderr, flush=True)


# fixit walks with trailrunner, which takes the nearest folder holding pyproject.toml/.git as the
# project root and applies that root's .gitignore: without a marker here the root would be this
# repository, whose .gitignore lists bench/.cache/, and fixit would lint 0 files. The marker also
# stops fixit's config search (root = true: its default rules). bnlint runs with --no-config and
# ruff with --isolated, so neither reads it.
_TREE_MARKER = "[tool.fixit]\nroot = true\n"


def _copy_tree(src: Path, dst: Path) -> None:
    tmp = dst.with_name(dst.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.rmtree(dst, ignore_errors=True)
    os.replace(tmp, dst)
    (dst.parent / "pyproject.toml").write_text(_TREE_MARKER)


def _peers_venv() -> None:
    py = PEERS_VENV / "bin" / "python"
    if (PEERS_VENV / "bin" / "fixit").exists() and (PEERS_VENV / "bin" / "ruff").exists():
        return
    print("  creating peers venv (fixit, ruff) ...", file=sys.stderr, flush=True)
    if not py.exists():
        # a plain venv: the peers must not see (or change) the test env's packages
        venv.EnvBuilder(with_pip=True, clear=True).create(PEERS_VENV)
    subprocess.run([str(py), "-m", "pip", "install", "-q", "fixit", "ruff"], check=True)


def tree_file_count() -> int:
    return sum(1 for _ in TREE.rglob("*.py"))


def ensure(force: bool = False, need=("models", "tree", "script")) -> dict:
    """Make whatever is missing or stale; return a description of the inputs."""
    CACHE.mkdir(parents=True, exist_ok=True)
    want = _stamps()
    have = json.loads(STAMP.read_text()) if STAMP.exists() else {}

    def fresh(key: str, path: Path) -> bool:
        return not force and path.exists() and have.get(key) == want[key]

    def done(key: str) -> None:
        have[key] = want[key]
        STAMP.write_text(json.dumps(have, indent=1))

    if "models" in need:
        if not fresh("h5", H5_MODEL):
            _build_model(_BUILD_H5, H5_MODEL)
            done("h5")
        if not fresh("keras", KERAS_MODEL):
            _build_model(_BUILD_KERAS, KERAS_MODEL)
            done("keras")
    if "tree" in need:
        if not fresh("tree", TREE):
            print("  copying keras/src ...", file=sys.stderr, flush=True)
            _copy_tree(_keras_src(), TREE)
            done("tree")
        _peers_venv()
    if "script" in need and not SCRIPT.exists():
        sys.exit(f"missing committed input {SCRIPT}")
    return describe()


def describe() -> dict:
    out = {}
    if H5_MODEL.exists():
        out["h5"] = f"{H5_MODEL.relative_to(REPO)} ({H5_MODEL.stat().st_size / 1e6:.1f} MB)"
    if KERAS_MODEL.exists():
        out["keras"] = f"{KERAS_MODEL.relative_to(REPO)} ({KERAS_MODEL.stat().st_size / 1e6:.1f} MB)"
    if TREE.is_dir():
        out["tree"] = f"{TREE.relative_to(REPO)} ({tree_file_count()} .py files, copy of keras {_version('keras')} keras/src)"
    if SCRIPT.exists():
        out["script"] = f"{SCRIPT.relative_to(REPO)} ({len(SCRIPT.read_text().splitlines())} lines)"
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--force", action="store_true", help="rebuild everything")
    args = ap.parse_args()
    for k, v in ensure(force=args.force).items():
        print(f"{k}: {v}")


if __name__ == "__main__":
    main()
