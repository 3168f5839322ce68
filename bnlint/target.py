"""Which Keras runs the model: the one value type every rule consults for BN semantics.

See ../shared/docs/keras-bn-semantics.md sections 1 and 4. The six semantics differ in
(a) whether a frozen BN uses batch statistics in training, (b) whether `training=False`
can be passed to a nested model call, and (c) whether a recorded nested `training=False`
survives unfreezing.
"""
from __future__ import annotations

import enum
import re
from dataclasses import dataclass


class Semantics(str, enum.Enum):
    STANDALONE_2_0 = "standalone-2.0"        # keras 2.0.0-2.1.2: frozen BN uses batch stats AND updates them
    STANDALONE_2_1_3 = "standalone-2.1.3+"   # keras 2.1.3-2.3.x: frozen BN uses batch stats, no updates
    TF1 = "tf1"                              # tf.keras in TF 1.x (V1 BN class): like standalone 2.1.3+
    TF2 = "tf2"                              # tf.keras in TF 2.x, tf_keras: frozen BN = inference mode
    KERAS3_OLD = "keras3<3.16"               # Keras 3.0-3.15: fit() overrides a recorded training=False
    KERAS3_NEW = "keras3>=3.16"              # Keras 3.16+: recorded training=False takes precedence


_LABELS = {
    Semantics.STANDALONE_2_0: "standalone Keras 2.0-2.1.2",
    Semantics.STANDALONE_2_1_3: "standalone Keras 2.x",
    Semantics.TF1: "tf.keras in TF 1.x",
    Semantics.TF2: "tf.keras (TF 2.x) / tf_keras",
    Semantics.KERAS3_OLD: "Keras 3 < 3.16",
    Semantics.KERAS3_NEW: "Keras 3 >= 3.16",
}


@dataclass(frozen=True)
class KerasTarget:
    semantics: Semantics
    # How it was decided, for messages: "--target-keras", "requirements.txt pins keras==2.2.4",
    # "file keras_version 2.2.4-tf", "imports tensorflow.keras", "default".
    source: str = "default"
    version: str | None = None
    # keras_version 2.2.4-tf was written by TF 1.13-1.15 and by early TF 2: treated as TF 1.x.
    ambiguous: bool = False
    # Read from a running process (the Keras a kernel imported, the Keras that built a live model):
    # known, not assumed.
    observed: bool = False

    @property
    def label(self) -> str:
        return _LABELS[self.semantics]

    @property
    def legacy(self) -> bool:
        """Frozen BN still normalizes with batch statistics in training (standalone Keras 2.x, TF 1.x)."""
        return self.semantics in (Semantics.STANDALONE_2_0, Semantics.STANDALONE_2_1_3, Semantics.TF1)

    @property
    def standalone(self) -> bool:
        return self.semantics in (Semantics.STANDALONE_2_0, Semantics.STANDALONE_2_1_3)

    @property
    def keras3(self) -> bool:
        return self.semantics in (Semantics.KERAS3_OLD, Semantics.KERAS3_NEW)

    @property
    def frozen_bn_updates_statistics(self) -> bool:
        """Keras 2.0-2.1.2 still applied moving-statistics updates to frozen BN layers."""
        return self.semantics is Semantics.STANDALONE_2_0

    @property
    def nested_call_accepts_training(self) -> bool:
        """`base(x, training=False)` raises TypeError in standalone Keras (Network.call has no `training`)."""
        return not self.standalone

    @property
    def honours_nested_training_false_when_trainable(self) -> bool:
        """Does a recorded `base(x, training=False)` keep BN in inference mode after unfreezing?

        Only tf.keras 2 / tf_keras and Keras >= 3.16 (keras-team/keras#20285, fixed by c0215ac).
        """
        return self.semantics in (Semantics.TF2, Semantics.KERAS3_NEW)

    @property
    def honours_nested_training_false(self) -> bool:
        """Is a `training=False` on a nested-model node honoured at all (while frozen)?"""
        return self.semantics in (Semantics.TF1, Semantics.TF2, Semantics.KERAS3_OLD, Semantics.KERAS3_NEW)

    def describe(self) -> str:
        extra = " (2.2.4-tf is also written by early TF 2; set target-keras to settle it)" if self.ambiguous else ""
        return f"{self.label} [{self.source}]{extra}"


_VERSION = re.compile(r"^\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?")


def _numbers(version: str) -> tuple[int, int, int] | None:
    m = _VERSION.match(version)
    if not m:
        return None
    return tuple(int(g) if g else 0 for g in m.groups())  # type: ignore[return-value]


def semantics_for_keras_package(version: str) -> Semantics | None:
    """Semantics of the `keras` package at `version` (standalone 2.x, or Keras 3).

    keras 2.4-2.15 are tf.keras itself (2.4.0 redirected standalone Keras to tf.keras).
    """
    nums = _numbers(version)
    if nums is None:
        return None
    major, minor, patch = nums
    if major >= 3:
        return Semantics.KERAS3_NEW if (major, minor) >= (3, 16) else Semantics.KERAS3_OLD
    if major == 2:
        if (minor, patch) < (1, 3):
            return Semantics.STANDALONE_2_0
        if minor <= 3:
            return Semantics.STANDALONE_2_1_3
        return Semantics.TF2
    return Semantics.STANDALONE_2_0 if major == 1 else None


def from_keras_version(keras_version: str | None, source_prefix: str = "file keras_version") -> KerasTarget | None:
    """Semantics of the writer of a model file, from its root `keras_version` attribute."""
    if not keras_version:
        return None
    v = keras_version.strip()
    source = f"{source_prefix} {v}"
    if v.endswith("-tf"):
        nums = _numbers(v)
        if nums and nums[:2] >= (2, 3):      # 2.3.0-tf and later: TF 2
            return KerasTarget(Semantics.TF2, source, v)
        return KerasTarget(Semantics.TF1, source, v, ambiguous=True)
    sem = semantics_for_keras_package(v)
    return KerasTarget(sem, source, v) if sem else None


def semantics_for_tensorflow(version: str) -> Semantics | None:
    """Semantics of `tensorflow.keras` under TensorFlow `version` (TF >= 2.16 bundles Keras 3)."""
    nums = _numbers(version)
    if nums is None:
        return None
    major, minor, _ = nums
    if major == 1:
        return Semantics.TF1
    if major == 2:
        return Semantics.KERAS3_OLD if minor >= 16 else Semantics.TF2
    return None


_ALIASES = {
    "standalone": Semantics.STANDALONE_2_1_3,
    "keras2": Semantics.STANDALONE_2_1_3,
    "tf_keras": Semantics.TF2,
    "tf-keras": Semantics.TF2,
    "keras3": Semantics.KERAS3_OLD,
}


def parse_target(text: str, source: str = "--target-keras") -> KerasTarget:
    """Parse a `--target-keras` / `target-keras` value.

    Accepts a semantics name (`standalone-2.0`, `standalone-2.1.3+`, `tf1`, `tf2`, `keras3<3.16`,
    `keras3>=3.16`), a short alias (`standalone`, `tf_keras`, `keras3`), or a version:
    `2.2.4` (standalone Keras), `2.2.4-tf`/`2.15.0-tf` (tf.keras), `tf-2.15`/`tensorflow==2.15`, `3.15.1`.
    Raises ValueError with a usable message.
    """
    t = text.strip().lower().replace(" ", "")
    for sem in Semantics:
        if t == sem.value:
            return KerasTarget(sem, source)
    if t in _ALIASES:
        return KerasTarget(_ALIASES[t], source)
    m = re.fullmatch(r"(?:tf|tensorflow)(?:==|-|=)?([\d.]+)", t)
    if m and (sem := semantics_for_tensorflow(m.group(1))):
        return KerasTarget(sem, source, m.group(1))
    m = re.fullmatch(r"(?:tf_keras|tf-keras)(?:==|-|=)?([\d.]+)", t)
    if m:
        return KerasTarget(Semantics.TF2, source, m.group(1))
    m = re.fullmatch(r"(?:keras(?:==|-|=)?)?([\d.]+(?:-tf)?)", t)
    if m:
        parsed = from_keras_version(m.group(1), source_prefix=source)
        if parsed:
            # An explicit choice is never ambiguous: the user settled it.
            return KerasTarget(parsed.semantics, source, parsed.version)
    choices = ", ".join(s.value for s in Semantics)
    raise ValueError(f"unknown Keras target {text!r}: use one of {choices}, or a version such as 2.2.4, 2.2.4-tf, tf-2.15, 3.15.1")


DEFAULT_TARGET = KerasTarget(Semantics.KERAS3_OLD, "default (no pin or import found: latest released Keras 3)")
