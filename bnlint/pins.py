"""The project's Keras/TensorFlow pins (requirements*.txt, pyproject, setup.cfg/setup.py,
environment.yml) found above a script: the second source of the script's Keras target,
after an explicit --target-keras / target-keras and before the script's imports.
"""
from __future__ import annotations

import codecs
import functools
import re
from pathlib import Path

from bnlint.target import KerasTarget, Semantics, semantics_for_keras_package, semantics_for_tensorflow

PIN_FILES = ("requirements*.txt", "requirements/*.txt", "pyproject.toml", "setup.cfg", "setup.py",
             "environment.yml", "environment.yaml", "Pipfile")

# keras==2.2.4, tensorflow-gpu>=1.15,<2, tf-keras~=2.15, conda's keras=2.2.4, poetry's keras = "^2.2.4"
_PIN = re.compile(
    r"""(?<![\w.-])(?P<pkg>keras|tensorflow(?:-gpu|-cpu|-macos|-intel)?|tf[-_]keras)\b
        \s*(?:\[[^\]]*\])?\s*
        (?:(?P<op>===|==|~=|>=|>|=)\s*v?|=\s*["'][\^~=>]*\s*)
        (?P<version>\d+(?:\.\d+)*)""",
    re.IGNORECASE | re.VERBOSE,
)


# An upper bound after a lower one on the same requirement (`tensorflow>=1.15,<2`).
_UPPER = re.compile(r"\s*(?:\.\d+|[a-z0-9*]+)*\s*,\s*<", re.IGNORECASE)


def pins_in_text(text: str) -> dict[str, str]:
    """First pinned version per package family ('keras', 'tensorflow', 'tf-keras') in a file's text.

    A lower bound alone says the project runs on that version or a later one. From a Keras 3 floor
    (keras>=3, tensorflow>=2.16) every later release has the floor's semantics, so it decides; an
    older floor (`keras>=2.4.3`) spans Keras 2 and Keras 3 and is no pin (the code's era decides).
    With an upper bound (`>=1.15,<2`) the lower bound names the series."""
    found: dict[str, str] = {}
    for m in _PIN.finditer(text):
        pkg = m.group("pkg").lower().replace("_", "-")
        family = "tensorflow" if pkg.startswith("tensorflow") else pkg
        if m.group("op") in (">=", ">") and not _UPPER.match(text, m.end()) \
                and not _keras3_floor(family, m.group("version")):
            continue
        found.setdefault(family, m.group("version"))
    return found


def _keras3_floor(family: str, version: str) -> bool:
    numbers = [int(n) for n in version.split(".")[:2]] + [0]
    if family == "keras":
        return numbers[0] >= 3
    if family == "tensorflow":
        return (numbers[0], numbers[1]) >= (2, 16)
    return False


def targets_from_pins(pins: dict[str, str], where: str) -> dict[str, KerasTarget]:
    """The Keras each way of importing it gets under these pins: `import keras` ("keras"),
    `tf.keras` ("tensorflow.keras"), `import tf_keras` ("tf_keras"). A project may pin both
    keras and tensorflow; which one decides depends on what the code imports."""
    keras = semantics_for_keras_package(pins["keras"]) if "keras" in pins else None
    tensorflow = semantics_for_tensorflow(pins["tensorflow"]) if "tensorflow" in pins else None
    if tensorflow is Semantics.KERAS3_OLD and "tf-keras" in pins:
        tensorflow = Semantics.TF2  # TF >= 2.16 with tf-keras installed: the legacy-Keras setup
    by_keras = KerasTarget(keras, f"{where} pins keras {pins['keras']}", pins["keras"]) if keras else None
    by_tensorflow = KerasTarget(tensorflow, f"{where} pins tensorflow {pins['tensorflow']}",
                                pins["tensorflow"]) if tensorflow else None
    by_tf_keras = KerasTarget(Semantics.TF2, f"{where} pins tf-keras {pins['tf-keras']}",
                              pins["tf-keras"]) if "tf-keras" in pins else None
    found = {}
    if by_keras or by_tensorflow:
        found["keras"] = by_keras or by_tensorflow
    # keras 2.4-2.15 and Keras 3 come with a TensorFlow whose tf.keras is the same Keras; a
    # standalone keras <= 2.3 pin says nothing of the TensorFlow beside it.
    if by_tensorflow or (keras is not None and keras in (Semantics.TF2, Semantics.KERAS3_OLD, Semantics.KERAS3_NEW)):
        found["tensorflow.keras"] = by_tensorflow or by_keras
    if by_tf_keras or by_tensorflow:
        found["tf_keras"] = by_tf_keras or KerasTarget(Semantics.TF2, by_tensorflow.source, by_tensorflow.version)
    return found


def target_from_pins(pins: dict[str, str], where: str) -> KerasTarget | None:
    """The pins' target when the code's imports are not known: keras pin first (it decides
    standalone vs Keras 3), then tensorflow, then tf-keras."""
    found = targets_from_pins(pins, where)
    return found.get("keras") or found.get("tensorflow.keras") or found.get("tf_keras")


def _decode(data: bytes) -> str:
    """Pin files are UTF-8, but Windows tools write UTF-16 (conda env export in PowerShell)."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace")
    return data.decode("utf-8", errors="replace")


@functools.lru_cache(maxsize=1024)
def pinned_targets_for_folder(folder: Path) -> dict[str, KerasTarget]:
    """Targets per import root from the nearest pins at or above `folder`; stops at the repository
    root (a folder holding .git). A folder without pins answers with its parent's (cached: the
    folders of a tree are read once)."""
    for pattern in PIN_FILES:
        for pin_file in sorted(folder.glob(pattern)):
            try:
                text = _decode(pin_file.read_bytes())
            except OSError:
                continue
            found = targets_from_pins(pins_in_text(text), pin_file.name)
            if found:
                return found
    if (folder / ".git").exists() or folder.parent == folder:
        return {}
    return pinned_targets_for_folder(folder.parent)


def target_for_folder(folder: Path) -> KerasTarget | None:
    found = pinned_targets_for_folder(folder)
    return found.get("keras") or found.get("tensorflow.keras") or found.get("tf_keras")


def pinned_targets_for_script(path: Path) -> dict[str, KerasTarget]:
    try:
        return pinned_targets_for_folder(path.resolve().parent)
    except OSError:
        return {}


def target_for_script(path: Path) -> KerasTarget | None:
    try:
        return target_for_folder(path.resolve().parent)
    except OSError:
        return None
