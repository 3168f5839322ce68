"""A live Keras model object -> the same format-free ModelGraph the file readers build.

The config walk is the readers' own (bnlint.readers.keras_config): `model.to_json()` is the JSON a
`.keras` (Keras 3) or `.h5` (tf_keras) file stores. What a file can only record, the live model
states: `trainable` flags are taken from the layer objects (a nested model's flag is never lost), BN
variables from the layers, the step count from the optimizer, and the semantics from the Keras
running the model. Also returns the live layer behind every graph path, for the probe and callback.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bnlint.context import Limits
from bnlint.errors import NoKerasConfig
from bnlint.model.graph import BNStatistics, Layer, ModelGraph, WeightsSnapshot
from bnlint.readers.bn_weights import role_of, statistics_from
from bnlint.readers.common import load_json
from bnlint.readers.keras_config import root_from_model_config
from bnlint.runtime.keras_env import KerasRuntime, keras_of

_SOURCE = "the model's get_config()"


@dataclass
class LiveModel:
    graph: ModelGraph
    layers: dict[str, Any]          # graph path -> live layer object, for every layer Keras exposes
    keras: KerasRuntime
    model: Any                      # the live model object itself

    def bn_layers(self) -> list[tuple[Layer, Any]]:
        return [(layer, self.layers[layer.path]) for layer in self.graph.bn_layers() if layer.path in self.layers]


def graph_from_live_model(model: Any, limits: Limits | None = None) -> LiveModel:
    """Raises NoKerasConfig for a model without a layer graph (subclassed, or get_config() fails)."""
    limits = limits or Limits()
    runtime = keras_of(model)
    try:
        text = model.to_json()
    except Exception as exc:  # noqa: BLE001 - any failure of user get_config() code means "no config"
        raise NoKerasConfig(f"{_SOURCE} failed ({type(exc).__name__}: {exc}): a subclassed model has no layer "
                            "graph, so its BN layers cannot be checked") from None
    root = root_from_model_config(load_json(text, _SOURCE, limits), limits.max_nesting, _SOURCE)
    layers = _attach_live_layers(root, model)
    graph = ModelGraph(root=root, format="live", keras_version=runtime.version, writer=runtime.target,
                       has_training_config=_compiled(model),
                       weights_loader=lambda g: _live_weights(g, layers, model, runtime))
    return LiveModel(graph, layers, runtime, model)


def _attach_live_layers(root: Layer, model: Any) -> dict[str, Any]:
    """Pair graph layers with layer objects by name, model by model; take `trainable` from the objects."""
    found: dict[str, Any] = {}
    pending = [(root, model)]
    while pending:
        graph_model, live_model = pending.pop()
        by_name = {getattr(obj, "name", None): obj for obj in (getattr(live_model, "layers", None) or [])}
        for child in graph_model.children:
            obj = by_name.get(child.name)
            if obj is None:          # an InputLayer a Sequential does not list among its layers
                continue
            found[child.path] = obj
            if isinstance(getattr(obj, "trainable", None), bool):
                child.trainable = obj.trainable
            if child.is_model:
                pending.append((child, obj))
    if isinstance(getattr(model, "trainable", None), bool):
        root.trainable = model.trainable
    return found


def _compiled(model: Any) -> bool:
    return bool(getattr(model, "compiled", False) or getattr(model, "_is_compiled", False))


def _live_weights(graph: ModelGraph, layers: dict[str, Any], model: Any, runtime: KerasRuntime) -> WeightsSnapshot:
    bn: dict[str, BNStatistics] = {}
    for layer in graph.bn_layers():
        obj = layers.get(layer.path)
        if obj is None:
            continue
        by_role = {}
        for variable in getattr(obj, "weights", []):
            role = role_of(str(getattr(variable, "path", None) or variable.name))
            if role is not None:
                by_role[role] = runtime.to_numpy(variable)
        if "moving_mean" in by_role and "moving_variance" in by_role:
            bn[layer.path] = statistics_from(layer, by_role)
    return WeightsSnapshot(bn=bn, optimizer_iterations=_iterations(model, runtime))


def _iterations(model: Any, runtime: KerasRuntime) -> int | None:
    counter = getattr(getattr(model, "optimizer", None), "iterations", None)
    if counter is None:
        return None
    try:
        return int(runtime.to_numpy(counter))
    except (TypeError, ValueError):
        return None
