"""Keras model config JSON (shared by `.h5`, `.keras` and SavedModel) -> ModelGraph layers.

One walk understands every writer (semantics doc §2.2):
* Keras 2 nodes are lists of `[layer, node_index, tensor_index, kwargs]` entries (kwargs
  repeated on every entry, optional in 3-element entries, `_CONSTANT_VALUE` for constants);
* Keras 3 nodes are `{"args": [...], "kwargs": {...}}` with `__keras_tensor__` objects whose
  `keras_history` names the inbound layer;
* a nested model is a layer entry whose `config` holds `layers`; a Sequential has no nodes and,
  up to Keras 2.2.2, a bare list as its config.
The walk uses explicit stacks, so a hostile config cannot exhaust Python's recursion limit.
"""
from __future__ import annotations

from typing import Any

from bnlint.errors import BnlintInputError, NoKerasConfig
from bnlint.model.graph import CallNode, Layer, SavedOptimizer
from bnlint.model.semantics import NO_KERAS_VERSION
from bnlint.target import KerasTarget, Semantics

_CONSTANT = "_CONSTANT_VALUE"
_KERAS_TENSOR = "__keras_tensor__"


def root_from_model_config(model_config: Any, max_nesting: int, source: str) -> Layer:
    """The outermost model of a `{"class_name", "config"}` model config, with its layers.

    `source` names where the config came from ("model_config", "config.json", ...) for messages.
    """
    if not isinstance(model_config, dict) or "class_name" not in model_config:
        raise BnlintInputError("model config has no class_name: not a Keras model config")
    class_name = model_config.get("class_name")
    config = model_config.get("config")
    if not isinstance(class_name, str):
        raise BnlintInputError("model config class_name is not a string")
    if not _is_model_config(class_name, config):
        raise NoKerasConfig(f"{source} of class '{class_name}' has no layer graph "
                            "(a subclassed model): its BN layers cannot be checked")
    name = _model_name(config) or class_name
    root = Layer(name=name, class_name=class_name, config=config if isinstance(config, dict) else {},
                 trainable=_trainable(config), path="", is_model=True, sequential=class_name == "Sequential")
    _build_children(root, config, max_nesting)
    return root


_MODEL_CLASS_NAMES = frozenset({"Functional", "Model", "Sequential"})


def _is_model_config(class_name: str, config: Any) -> bool:
    """A Functional/Sequential config (or a subclass of them that keeps their config).

    A custom layer may also keep a `layers` list in its config; without the model class name
    or a functional graph (`input_layers`) it stays an opaque layer.
    """
    if isinstance(config, dict) and isinstance(config.get("layers"), list):
        return class_name in _MODEL_CLASS_NAMES or "input_layers" in config
    return class_name == "Sequential" and isinstance(config, list)   # Keras <= 2.2.2 Sequential


def _model_name(config: Any) -> str | None:
    if isinstance(config, dict) and isinstance(config.get("name"), str):
        return config["name"]
    return None


def _trainable(config: Any) -> bool | None:
    value = config.get("trainable") if isinstance(config, dict) else None
    return value if isinstance(value, bool) else None


def _build_children(root: Layer, root_config: Any, max_nesting: int) -> None:
    pending: list[tuple[Layer, Any]] = [(root, root_config)]
    while pending:
        model, config = pending.pop()
        entries = config if isinstance(config, list) else config["layers"]
        where = f"model '{model.path or model.name}'"
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise BnlintInputError(f"layer #{index} of {where} is not a JSON object")
            layer_config = entry.get("config")
            class_name = entry.get("class_name")
            if not isinstance(class_name, str):
                raise BnlintInputError(f"layer #{index} of {where} has no class_name")
            name = entry.get("name")
            if not isinstance(name, str):
                name = _model_name(layer_config)
            if not isinstance(name, str) or not name:
                raise BnlintInputError(f"layer #{index} of {where} has no name")
            nested = _is_model_config(class_name, layer_config)
            if layer_config is not None and not isinstance(layer_config, (dict, list)):
                raise BnlintInputError(f"layer '{name}' of {where} has a config that is not a JSON object")
            if model.sequential:
                nodes: tuple[CallNode, ...] = ()
            else:
                nodes = tuple(_call_node(raw, name) for raw in _node_list(entry.get("inbound_nodes"), name))
            layer = Layer(
                name=name, class_name=class_name,
                config=layer_config if isinstance(layer_config, dict) else {},
                trainable=_trainable(layer_config), path=f"{model.path}/{name}" if model.path else name,
                parent=model, nodes=nodes, is_model=nested,
                sequential=nested and class_name == "Sequential", depth=model.depth + 1)
            model.children.append(layer)
            if nested:
                if layer.depth > max_nesting:
                    raise BnlintInputError(f"nested models deeper than {max_nesting} levels")
                pending.append((layer, layer_config))
        if not model.sequential:
            _check_inbound(model)


def _node_list(raw: Any, name: str) -> list:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise BnlintInputError(f"layer '{name}' has inbound_nodes that are not a list")
    return raw


def _call_node(raw: Any, name: str) -> CallNode:
    if isinstance(raw, dict):                       # Keras 3: {"args": [...], "kwargs": {...}}
        kwargs = raw.get("kwargs") or {}
        if not isinstance(kwargs, dict):
            raise BnlintInputError(f"layer '{name}' has a call node whose kwargs are not an object")
        inbound = _keras_histories(raw.get("args"), name) + _keras_histories(kwargs, name)
        plain = {k: v for k, v in kwargs.items() if not _is_keras_tensor(v)}
        return CallNode(inbound=tuple(inbound), kwargs=plain)
    if isinstance(raw, list):                       # Keras 2: [[layer, node, tensor, kwargs], ...]
        inbound: list[tuple[str, int]] = []
        kwargs: dict = {}
        stack = [raw]
        while stack:                                # tf_keras may nest entries (input structures)
            item = stack.pop()
            if _is_keras2_entry(item):
                if item[0] != _CONSTANT:
                    inbound.append((item[0], item[1]))
                if len(item) > 3 and isinstance(item[3], dict) and not kwargs:
                    kwargs = item[3]
            elif isinstance(item, list):
                stack.extend(reversed(item))
            elif isinstance(item, dict):
                stack.extend(reversed(list(item.values())))
        return CallNode(inbound=tuple(inbound), kwargs=kwargs)
    raise BnlintInputError(f"layer '{name}' has a call node that is neither a list nor an object")


def _is_keras2_entry(item: Any) -> bool:
    return (isinstance(item, list) and 3 <= len(item) <= 4 and isinstance(item[0], str)
            and isinstance(item[1], int) and not isinstance(item[1], bool))


def _is_keras_tensor(value: Any) -> bool:
    return isinstance(value, dict) and value.get("class_name") == _KERAS_TENSOR


def _keras_histories(value: Any, name: str) -> list[tuple[str, int]]:
    found: list[tuple[str, int]] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if _is_keras_tensor(item):
            history = item.get("config", {}).get("keras_history") if isinstance(item.get("config"), dict) else None
            if not (isinstance(history, list) and len(history) >= 2 and isinstance(history[0], str)
                    and isinstance(history[1], int) and not isinstance(history[1], bool)):
                raise BnlintInputError(f"layer '{name}' has a keras tensor without a valid keras_history")
            found.append((history[0], history[1]))
        elif isinstance(item, list):
            stack.extend(reversed(item))
        elif isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
    return found


def _check_inbound(model: Layer) -> None:
    """Every inbound layer exists and the calls can be replayed in some order (no cycle).

    Works on call nodes, not layers: a shared layer may legitimately feed a layer that feeds it
    again. Keras 2 numbers a nested model's or an Input's calls after nodes the config does not
    list (its own internal node), so a layer referenced with index i beyond its listed nodes is
    taken to have that many unlisted, already existing nodes, which is how Keras' from_config
    sees it. Kahn's algorithm keeps this linear in the number of calls.
    """
    children = {child.name: child for child in model.children}
    offset: dict[str, int] = {}
    for child in model.children:
        for node in child.nodes:
            for source, index in node.inbound:
                if source not in children:
                    raise BnlintInputError(f"layer '{child.path}' refers to missing inbound layer '{source}'")
                if index < 0:
                    raise BnlintInputError(f"layer '{child.path}' refers to call {index} of '{source}'")
                listed = len(children[source].nodes)
                offset[source] = max(offset.get(source, 0), index + 1 - listed)
    waiting: dict[tuple[str, int], int] = {}
    dependents: dict[tuple[str, int], list[tuple[str, int]]] = {}
    for child in model.children:
        for k, node in enumerate(child.nodes):
            needs = {(src, idx - offset.get(src, 0)) for src, idx in node.inbound if idx - offset.get(src, 0) >= 0}
            if k:
                needs.add((child.name, k - 1))       # Keras creates a layer's calls in order
            waiting[(child.name, k)] = len(needs)
            for need in needs:
                dependents.setdefault(need, []).append((child.name, k))
    ready = [key for key, n in waiting.items() if n == 0]
    done = 0
    while ready:
        key = ready.pop()
        done += 1
        for dependent in dependents.get(key, ()):
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                ready.append(dependent)
    if done != len(waiting):
        stuck = sorted({name for (name, _), n in waiting.items() if n > 0})
        listed = ", ".join(f"'{n}'" for n in stuck[:4]) + (" ..." if len(stuck) > 4 else "")
        raise BnlintInputError(f"the layers of '{model.path or model.name}' form a cycle or wait on calls "
                               f"that never happen ({listed})")


def writer_from_config(model_config: Any) -> KerasTarget | None:
    """A best guess of the writer for a file that records no keras_version, from the config format.

    Keras 3 writes `{"args", "kwargs"}` call nodes (and `module` keys in `.keras`); the Keras 2
    family writes lists. Standalone Keras 2.x and tf.keras 2 cannot be told apart this way; the
    far more common tf.keras 2 / tf_keras is assumed, and the source says so.
    """
    if isinstance(model_config, dict) and "module" in model_config:
        return KerasTarget(Semantics.KERAS3_OLD, f"{NO_KERAS_VERSION}; Keras 3 config format")
    stack = [model_config]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            nodes = item.get("inbound_nodes")
            if isinstance(nodes, list) and nodes:
                if isinstance(nodes[0], dict):
                    return KerasTarget(Semantics.KERAS3_OLD, f"{NO_KERAS_VERSION}; Keras 3 config format")
                return KerasTarget(Semantics.TF2, f"{NO_KERAS_VERSION}; Keras 2 config format: "
                                                  "assumed tf.keras 2 / tf_keras")
            stack.extend(v for v in item.values() if isinstance(v, (dict, list)))
        elif isinstance(item, list):
            stack.extend(v for v in item if isinstance(v, (dict, list)))
    return None


def saved_optimizer(optimizer_config: Any) -> SavedOptimizer | None:
    """The optimizer entry of a training config (h5 `training_config["optimizer_config"]`, `.keras`
    `compile_config["optimizer"]`): `{"class_name": ..., "config": {"name": ...}}`, or a bare string
    such as "adam". None for anything else: it only feeds messages, so odd input is not an error."""
    if isinstance(optimizer_config, str):
        return SavedOptimizer(class_name=None, name=optimizer_config)
    if not isinstance(optimizer_config, dict):
        return None
    class_name = optimizer_config.get("class_name")
    config = optimizer_config.get("config")
    name = config.get("name") if isinstance(config, dict) else None
    return SavedOptimizer(class_name=class_name if isinstance(class_name, str) else None,
                          name=name if isinstance(name, str) else None)
