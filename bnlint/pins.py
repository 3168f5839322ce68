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


def pins_in_text(text: str) -> dict[str, str]:
    """First pinned version per package family ('keras', 'tensorflow', 'tf-keras') in a file's text."""
    found: dict[str, str] = {}
    for m in _PIN.finditer(text):
        pkg = m.group("pkg").lower().replace("_", "-")
        family = "tensorflow" if pkg.startswith("tensorflow") else pkg
        found.setdefault(family, m.group("version"))
    return found


def target_from_pins(pins: dict[str, str], where: str) -> KerasTarget | None:
    """keras pin first (it decides standalone vs Keras 3), then tensorflow, then tf-keras."""
    if "keras" in pins and (sem := semantics_for_keras_package(pins["keras"])):
        return KerasTarget(sem, f"{where} pins keras {pins['keras']}", pins["keras"])
    if "tensorflow" in pins and (sem := semantics_for_tensorflow(pins["tensorflow"])):
        if sem is Semantics.KERAS3_OLD and "tf-keras" in pins:
            sem = Semantics.TF2  # TF >= 2.16 with tf-keras installed: the legacy-Keras setup
        return KerasTarget(sem, f"{where} pins tensorflow {pins['tensorflow']}", pins["tensorflow"])
    if "tf-keras" in pins:
        return KerasTarget(Semantics.TF2, f"{where} pins tf-keras {pins['tf-keras']}", pins["tf-keras"])
    return None


def _decode(data: bytes) -> str:
    """Pin files are UTF-8, but Windows tools write UTF-16 (conda env export in PowerShell)."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace")
    return data.decode("utf-8", errors="replace")


@functools.lru_cache(maxsize=256)
def target_for_folder(folder: Path) -> KerasTarget | None:
    """Nearest pins at or above `folder`; stops at the repository root (a folder holding .git)."""
    for candidate_dir in (folder, *folder.parents):
        for pattern in PIN_FILES:
            for pin_file in sorted(candidate_dir.glob(pattern)):
                try:
                    text = _decode(pin_file.read_bytes())
                except OSError:
                    continue
                target = target_from_pins(pins_in_text(text), pin_file.name)
                if target:
                    return target
        if (candidate_dir / ".git").exists():
            break
    return None


def target_for_script(path: Path) -> KerasTarget | None:
    try:
        return target_for_folder(path.resolve().parent)
    except OSError:
        return None
