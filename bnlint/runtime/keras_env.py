"""Which Keras runs here (or runs a given model): Keras 3 or tf_keras, its version and semantics."""
from __future__ import annotations

import os
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from bnlint.target import KerasTarget, Semantics, from_keras_version


@dataclass(frozen=True)
class KerasRuntime:
    module: ModuleType               # the `keras` (3) or `tf_keras` module
    flavour: str                     # "keras" or "tf_keras"
    version: str
    backend: str                     # "tensorflow", "jax", "torch", ...

    @property
    def keras3(self) -> bool:
        return self.flavour == "keras"

    @property
    def label(self) -> str:
        name = "Keras" if self.keras3 else "tf_keras"
        return f"{name} {self.version} ({self.backend} backend)"

    @property
    def target(self) -> KerasTarget:
        """The BN semantics of this very Keras, as the static rules name them."""
        source = f"running {'Keras' if self.keras3 else 'tf_keras'} {self.version}"
        if not self.keras3:
            return KerasTarget(Semantics.TF2, source, self.version)
        return from_keras_version(self.version, source_prefix="running Keras") or \
            KerasTarget(Semantics.KERAS3_OLD, source, self.version)

    def to_numpy(self, value: Any):
        import numpy

        if self.keras3:
            return numpy.asarray(self.module.ops.convert_to_numpy(value))
        return numpy.asarray(value.numpy() if hasattr(value, "numpy") else value)

    def to_tensor(self, array: Any):
        if self.keras3:
            return self.module.ops.convert_to_tensor(array)
        import tensorflow as tf

        return tf.convert_to_tensor(array)


def legacy_keras_requested() -> bool:
    """TF_USE_LEGACY_KERAS makes `tf.keras` mean tf_keras (TensorFlow >= 2.16)."""
    return os.environ.get("TF_USE_LEGACY_KERAS", "").strip().lower() in ("1", "true", "yes")


def installed_keras() -> KerasRuntime:
    """The Keras a model file would be loaded with: tf_keras with TF_USE_LEGACY_KERAS=1, else Keras 3."""
    if legacy_keras_requested():
        import tf_keras as module

        return KerasRuntime(module, "tf_keras", module.__version__, "tensorflow")
    import keras as module

    return KerasRuntime(module, "keras", module.__version__, module.backend.backend())


def keras_of(model: Any) -> KerasRuntime:
    """The Keras a live model object belongs to (a tf_keras model in a Keras 3 process is tf_keras)."""
    if any(cls.__module__.split(".")[0] == "tf_keras" for cls in type(model).__mro__):
        import tf_keras as module

        return KerasRuntime(module, "tf_keras", module.__version__, "tensorflow")
    import keras as module

    return KerasRuntime(module, "keras", module.__version__, module.backend.backend())
