"""What bnlint learns from a running Python process: which Keras it has imported, and the graph
of a live model object.

Used by the IPython extension (`%bnlint MODEL`). It never imports TensorFlow or Keras itself: it
reads `sys.modules` and calls methods of the model it is given. A live model becomes the same
format-free ModelGraph the file readers build, from `model.get_config()` (the config `.h5` and
`.keras` files store) through bnlint.readers.keras_config, with every layer's `trainable` taken
from the live object (the config omits it on nested models in older Keras) and the BN statistics
read from the live variables. (Issue 13's Python API `bnlint.check_model(model)` does the same job;
`check_live_model` is the one place to point at it once it lands.)
"""
from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import replace

from bnlint.context import RuleContext
from bnlint.errors import BnlintInputError
from bnlint.finding import Finding
from bnlint.model.graph import BNStatistics, Layer, ModelGraph, SavedOptimizer, WeightsSnapshot
from bnlint.target import (
    KerasTarget,
    Semantics,
    semantics_for_keras_package,
    semantics_for_tensorflow,
)

# Top-level packages that provide a Keras, in the order a session's imports are looked at.
KERAS_PACKAGES = ("tf_keras", "keras", "tensorflow")


def _version(module_name: str) -> str | None:
    module = sys.modules.get(module_name)
    version = getattr(module, "__version__", None) if module is not None else None
    return version if isinstance(version, str) else None


def _legacy_keras_requested() -> bool:
    import os

    return os.environ.get("TF_USE_LEGACY_KERAS", "").strip().lower() in ("1", "true", "yes")


def imported_keras_target(package: str, source_prefix: str = "the kernel runs") -> KerasTarget | None:
    """The Keras that `package` (tf_keras, keras, tensorflow) gives this process, from the
    versions of the modules already imported; None when that package is not imported."""
    def seen(semantics: Semantics | None, what: str, version: str | None) -> KerasTarget | None:
        return KerasTarget(semantics, f"{source_prefix} {what}", version, observed=True) if semantics else None

    if package == "tf_keras":
        version = _version("tf_keras")
        return seen(Semantics.TF2, f"tf_keras {version}", version) if version else None
    if package == "keras":
        version = _version("keras")
        return seen(semantics_for_keras_package(version), f"keras {version}", version) if version else None
    if package == "tensorflow":
        version = _version("tensorflow")
        sem = semantics_for_tensorflow(version) if version else None
        if sem is Semantics.KERAS3_OLD:     # TF >= 2.16: tf.keras is Keras 3, or tf_keras on request
            if _legacy_keras_requested():
                keras_version = _version("tf_keras")
                return seen(Semantics.TF2, f"TensorFlow {version} with TF_USE_LEGACY_KERAS "
                                           f"(tf_keras {keras_version or '?'})", keras_version)
            keras_version = _version("keras")
            if keras_version and (keras_sem := semantics_for_keras_package(keras_version)):
                return seen(keras_sem, f"TensorFlow {version} (tf.keras is keras {keras_version})", keras_version)
        return seen(sem, f"TensorFlow {version}", version)
    return None


def session_target(packages: Iterable[str]) -> KerasTarget | None:
    """The Keras a session's code runs on: for the Keras packages its code imports (in
    KERAS_PACKAGES order), the first one this process has actually imported."""
    wanted = set(packages)
    for package in KERAS_PACKAGES:
        if package in wanted and (target := imported_keras_target(package)) is not None:
            return target
    return None


def model_target(model) -> KerasTarget:
    """The Keras that built `model`, from the module of its (first Keras base) class and that
    package's version."""
    target = None
    for cls in type(model).__mro__:
        package = (getattr(cls, "__module__", None) or "").split(".", 1)[0]
        if package in KERAS_PACKAGES:
            target = imported_keras_target(package, source_prefix="the model was built by")
            break
    if target is None:
        raise BnlintInputError(f"{type(model).__module__}.{type(model).__name__} is not a Keras model "
                               "(tf_keras, keras or tf.keras)")
    return target


# --- a live model as a ModelGraph -------------------------------------------------------------

def graph_from_live_model(model, max_nesting: int = 200) -> ModelGraph:
    from bnlint.readers.keras_config import root_from_model_config

    get_config = getattr(model, "get_config", None)
    if get_config is None or not hasattr(model, "layers"):
        raise BnlintInputError(f"a {type(model).__name__} is not a Keras model (it has no get_config() or layers)")
    target = model_target(model)
    try:
        config = get_config()
    except NotImplementedError:
        config = None
    except Exception as exc:  # a custom layer's get_config may fail in any way
        raise BnlintInputError(f"model.get_config() failed ({type(exc).__name__}: {exc})") from None
    model_config = {"class_name": type(model).__name__, "config": config}
    root = root_from_model_config(model_config, max_nesting, "model.get_config()")
    _take_live_trainable(root, model)
    graph = ModelGraph(root=root, format="live model", keras_version=target.version, writer=target,
                       has_training_config=getattr(model, "optimizer", None) is not None,
                       optimizer=_live_optimizer(model))
    graph.weights_loader = lambda g: _live_weights(g, model)
    return graph


def _live_optimizer(model) -> SavedOptimizer | None:
    """The compiled optimizer as a saved file records it (class name, `name`), for BN107's doubts."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return None
    name = getattr(optimizer, "name", None)
    return SavedOptimizer(class_name=type(optimizer).__name__, name=name if isinstance(name, str) else None)


def _live_children(live) -> dict:
    try:
        return {layer.name: layer for layer in live.layers}
    except Exception:  # noqa: BLE001 - a model that cannot list its layers keeps the config's flags
        return {}


def _take_live_trainable(root: Layer, model) -> None:
    """Every graph layer's `trainable` from the live layer of the same path."""
    root.trainable = bool(model.trainable)
    pending = [(root, model)]
    while pending:
        layer, live = pending.pop()
        children = _live_children(live)
        for child in layer.children:
            live_child = children.get(child.name)
            if live_child is None:
                continue
            child.trainable = bool(live_child.trainable)
            if child.is_model:
                pending.append((child, live_child))


def _live_weights(graph: ModelGraph, model) -> WeightsSnapshot:
    import numpy

    stats: dict[str, BNStatistics] = {}
    by_path = {"": model}
    for layer in graph.layers():
        parent = by_path.get(layer.parent.path if layer.parent is not None else "")
        live = _live_children(parent).get(layer.name) if parent is not None else None
        if live is None:
            continue
        by_path[layer.path] = live
        if not layer.is_bn:
            continue
        values = {name: getattr(live, name, None) for name in ("moving_mean", "moving_variance", "gamma", "beta")}
        if values["moving_mean"] is None or values["moving_variance"] is None:
            continue
        arrays = {name: None if value is None else numpy.asarray(value) for name, value in values.items()}
        stats[layer.path] = BNStatistics(**arrays)
    iterations = None
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and getattr(optimizer, "iterations", None) is not None:
        try:
            iterations = int(numpy.asarray(optimizer.iterations))
        except (TypeError, ValueError):
            iterations = None
    return WeightsSnapshot(bn=stats, optimizer_iterations=iterations, has_optimizer_state=False)


def check_live_model(model, ctx: RuleContext, name: str = "model") -> list[Finding]:
    """The model rules on a live model, with the Keras that built it as the target: in a live
    process that is known, not configured. Bad input raises BnlintInputError."""
    from bnlint.model import check_graph

    graph = graph_from_live_model(model, ctx.limits.max_nesting)
    return check_graph(graph, replace(ctx, target=graph.writer), name)


__all__ = ["check_live_model", "graph_from_live_model", "imported_keras_target", "model_target", "session_target"]
