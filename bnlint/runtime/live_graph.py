"""A live Keras model for the runtime tools: its model graph, the layer object behind every graph
path, and the Keras running it.

The graph is bnlint.live's (the same format-free ModelGraph the file readers build, from the model's
`get_config()` through the readers' config walk, with live `trainable` flags and BN variables); this
module adds what the probe and the callback need to run the model: layer objects by path.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bnlint.context import Limits
from bnlint.model.graph import Layer, ModelGraph
from bnlint.runtime.keras_env import KerasRuntime, keras_of


@dataclass
class LiveModel:
    graph: ModelGraph
    layers: dict[str, Any]          # graph path -> live layer object, for every layer Keras exposes
    keras: KerasRuntime
    model: Any                      # the live model object itself

    def bn_layers(self) -> list[tuple[Layer, Any]]:
        return [(layer, self.layers[layer.path]) for layer in self.graph.bn_layers() if layer.path in self.layers]


def graph_from_live_model(model: Any, limits: Limits | None = None) -> LiveModel:
    """Raises BnlintInputError (NoKerasConfig for a subclassed model without a layer graph)."""
    from bnlint.live import graph_from_live_model as live_graph

    graph = live_graph(model, (limits or Limits()).max_nesting)
    return LiveModel(graph, _layers_by_path(graph.root, model), keras_of(model), model)


def _layers_by_path(root: Layer, model: Any) -> dict[str, Any]:
    """Pair graph layers with layer objects by name, model by model."""
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
            if child.is_model:
                pending.append((child, obj))
    return found
