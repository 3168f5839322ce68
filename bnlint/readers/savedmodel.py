"""TF SavedModel folder -> ModelGraph, from `keras_metadata.pb` (tf_keras / tf.keras >= 2.5).

`keras_metadata.pb` is a `SavedMetadata { repeated SavedObject nodes = 1; }` where each
`SavedObject` has node_id = 2, node_path = 3 ("root", "root.layer_with_weights-0", ...),
identifier = 4 ("_tf_keras_network", ...) and metadata = 5 (JSON; the root's holds
`model_config`, `keras_version` and, when compiled, `training_config`). Semantics doc §2.4.
Before TF 2.5 the same metadata sat in `saved_model.pb`'s object graph (`SavedUserObject.metadata`),
which is read instead when `keras_metadata.pb` is absent. A SavedModel with neither was written by
Keras 3 `export()` or `tf.saved_model.save` (inference graph only): no Keras config.
"""
from __future__ import annotations

import pathlib
from dataclasses import dataclass

from bnlint.context import RuleContext
from bnlint.errors import BnlintInputError, NoKerasConfig
from bnlint.model.graph import ModelGraph, WeightsSnapshot
from bnlint.readers.bn_weights import MAX_CHANNELS, statistics_from
from bnlint.readers.common import decode_text, json_object, load_json
from bnlint.readers.keras_config import root_from_model_config, saved_optimizer, writer_from_config
from bnlint.readers.protowire import LENGTH_DELIMITED, VARINT, ProtoError, iter_fields
from bnlint.readers.tensor_bundle import OBJECT_GRAPH_KEY, TensorBundle, object_graph
from bnlint.target import from_keras_version

_METADATA = "keras_metadata.pb"
_SAVED_MODEL = "saved_model.pb"
_MODEL_IDENTIFIERS = ("_tf_keras_network", "_tf_keras_sequential", "_tf_keras_model")


@dataclass(frozen=True)
class SavedObject:
    node_id: int
    node_path: str
    identifier: str
    metadata: str


def parse_saved_metadata(data: bytes) -> list[SavedObject]:
    try:
        nodes = []
        for number, wire, value in iter_fields(data):
            if number != 1 or wire != LENGTH_DELIMITED:
                continue
            node_id, node_path, identifier, metadata = 0, "", "", ""
            for n, w, v in iter_fields(value):
                if n == 2 and w == VARINT:
                    node_id = v
                elif w == LENGTH_DELIMITED and n in (3, 4, 5):
                    text = decode_text(bytes(v), f"{_METADATA} field {n}")
                    node_path, identifier, metadata = (
                        (text, identifier, metadata) if n == 3 else
                        (node_path, text, metadata) if n == 4 else (node_path, identifier, text))
            nodes.append(SavedObject(node_id, node_path, identifier, metadata))
        return nodes
    except ProtoError as exc:
        raise BnlintInputError(f"{_METADATA} is not a valid SavedMetadata protobuf ({exc})") from None


def read_savedmodel(folder: pathlib.Path, ctx: RuleContext) -> ModelGraph:
    metadata_path = folder / _METADATA
    if metadata_path.is_file():
        nodes = parse_saved_metadata(_read_capped(metadata_path, ctx.limits.max_json_bytes))
        source = _METADATA
    else:
        # Before TF 2.5 the same per-object metadata sat in saved_model.pb's object graph.
        nodes = nodes_from_saved_model(_read_capped(folder / _SAVED_MODEL, ctx.limits.max_member_bytes))
        if not nodes:
            raise BnlintInputError(f"{_SAVED_MODEL} holds no object graph: not a TF 2 SavedModel")
        if not any(n.metadata for n in nodes):
            raise NoKerasConfig(_why_no_metadata(nodes))
        source = _SAVED_MODEL
    root_node = next((n for n in nodes if n.node_path == "root"), None)
    if root_node is None:
        raise BnlintInputError(f"{source} has no root node")
    if root_node.identifier not in _MODEL_IDENTIFIERS:
        raise NoKerasConfig(f"the SavedModel root is a '{root_node.identifier or 'plain TF object'}', "
                            "not a Keras model")
    root_metadata = json_object(load_json(root_node.metadata, f"{source} root metadata", ctx.limits),
                                f"{source} root metadata")
    model_config = root_metadata.get("model_config")
    if not isinstance(model_config, dict):
        model_config = {"class_name": root_metadata.get("class_name"), "config": root_metadata.get("config")}
    root = root_from_model_config(model_config, ctx.limits.max_nesting, "the SavedModel's model config")
    version = root_metadata.get("keras_version")
    version = version if isinstance(version, str) else None
    training_config = root_metadata.get("training_config")
    return ModelGraph(
        root=root, format="savedmodel", keras_version=version,
        writer=from_keras_version(version) or writer_from_config(model_config),
        has_training_config=isinstance(training_config, dict),
        optimizer=saved_optimizer(training_config.get("optimizer_config")) if isinstance(training_config, dict) else None,
        weights_loader=lambda graph: _load_weights(folder, nodes, graph, ctx))


def _read_capped(path: pathlib.Path, cap: int) -> bytes:
    try:
        size = path.stat().st_size
        if size > cap:
            raise BnlintInputError(f"{path.name} is {size} bytes, over the {cap}-byte limit")
        return path.read_bytes()
    except OSError as exc:
        raise BnlintInputError(f"cannot read {path.name} ({exc.strerror or exc})") from None


def nodes_from_saved_model(data: bytes) -> list[SavedObject]:
    """SavedObjects of saved_model.pb's object graph, with the node paths keras_metadata.pb uses.

    SavedModel { meta_graphs = 2 } -> MetaGraphDef { object_graph_def = 7 } -> SavedObjectGraph
    { nodes = 1 } -> SavedObject { children = 1 {node_id = 1, local_name = 2}; user_object = 4
    {identifier = 1, metadata = 3} }. Paths are found breadth-first from node 0 ("root"), so each
    node gets its shortest path, as TF names it. Large graph_def fields are skipped, not copied.
    """
    try:
        graph = None
        for number, wire, value in iter_fields(data):
            if number == 2 and wire == LENGTH_DELIMITED:
                for n, w, v in iter_fields(value):
                    if n == 7 and w == LENGTH_DELIMITED:
                        graph = v
                break                                    # the first MetaGraphDef (tag "serve")
        if graph is None:
            return []
        raw_nodes = []
        for n, w, v in iter_fields(graph):
            if n != 1 or w != LENGTH_DELIMITED:
                continue
            children: list[tuple[int, str]] = []
            identifier, metadata = "", ""
            for fn, fw, fv in iter_fields(v):
                if fn == 1 and fw == LENGTH_DELIMITED:
                    ref = {k: val for k, _, val in iter_fields(fv)}
                    child, name = ref.get(1, 0), ref.get(2, b"")
                    if isinstance(child, int) and not isinstance(name, int):
                        children.append((child, bytes(name).decode("utf-8", "replace")))
                elif fn == 4 and fw == LENGTH_DELIMITED:
                    for un, uw, uv in iter_fields(fv):
                        if un == 1 and uw == LENGTH_DELIMITED:
                            identifier = decode_text(bytes(uv), f"{_SAVED_MODEL} identifier")
                        elif un == 3 and uw == LENGTH_DELIMITED:
                            metadata = decode_text(bytes(uv), f"{_SAVED_MODEL} metadata")
            raw_nodes.append((children, identifier, metadata))
    except ProtoError as exc:
        raise BnlintInputError(f"{_SAVED_MODEL} is not a valid SavedModel protobuf ({exc})") from None
    paths = {0: "root"} if raw_nodes else {}
    queue = [0] if raw_nodes else []
    for node_id in queue:                                # breadth-first; the list grows as we go
        for child, name in raw_nodes[node_id][0]:
            if 0 <= child < len(raw_nodes) and child not in paths:
                paths[child] = f"{paths[node_id]}.{name}"
                queue.append(child)
    return [SavedObject(i, paths[i], identifier, metadata)
            for i, (_, identifier, metadata) in enumerate(raw_nodes) if i in paths]


def _why_no_metadata(nodes: list[SavedObject]) -> str:
    if any(n.identifier.startswith("_tf_keras_") for n in nodes):
        return ("SavedModel written by TF 2.5+ without its keras_metadata.pb: the Keras config was removed "
                "with that file")
    return (f"SavedModel without {_METADATA} (model.export(), tf.saved_model.save): no Keras config to "
            "check")


_ITERATIONS = ("_iterations", "iter", "iterations")


def _layer_paths(nodes: list[SavedObject], ctx: RuleContext) -> dict[str, list[str]]:
    """Layer path ('base/bn1') -> object-graph edges from the root (['layer_with_weights-0', ...]).

    A node's metadata names its layer; its node_path ('root.layer_with_weights-0.layer-3') lists
    the edges of the checkpoint's object graph that lead to it.
    """
    names: dict[str, str] = {}
    for node in nodes:
        if node.node_path == "root" or not node.node_path.startswith("root.") or not node.metadata:
            continue
        if not node.identifier.startswith("_tf_keras_") or node.identifier == "_tf_keras_metric":
            continue
        metadata = load_json(node.metadata, f"{_METADATA} metadata of {node.node_path}", ctx.limits)
        if isinstance(metadata, dict) and isinstance(metadata.get("name"), str):
            names[node.node_path] = metadata["name"]
    out: dict[str, list[str]] = {}
    for node_path in names:
        parts = node_path.split(".")
        chain = [names.get(".".join(parts[:i + 1])) for i in range(1, len(parts))]
        if all(chain):
            out["/".join(chain)] = parts[1:]
    return out


def _follow(graph: list, edges: list[str]) -> int | None:
    node = 0
    for edge in edges:
        if not 0 <= node < len(graph):
            return None
        node = graph[node][0].get(edge)
        if node is None:
            return None
    return node if 0 <= node < len(graph) else None


def _load_weights(folder: pathlib.Path, nodes: list[SavedObject], graph: ModelGraph,
                  ctx: RuleContext) -> WeightsSnapshot:
    """BN variables from the checkpoint, found by walking its object graph from the root.

    Variables of nested layers are stored under whichever object-graph path TF met first
    (often `variables/7`), so keys cannot be guessed from layer names; the object graph's
    `VARIABLE_VALUE` attribute of the node reached by `<layer edges>/<variable name>` is exact.
    """
    bundle = TensorBundle(folder / "variables" / "variables", ctx.limits.max_json_bytes)
    objects = object_graph(bundle.read_string(OBJECT_GRAPH_KEY, ctx.limits.max_json_bytes))
    edges_by_layer = _layer_paths(nodes, ctx)
    bn = {}
    for layer in graph.bn_layers():
        edges = edges_by_layer.get(layer.path)
        if edges is None:
            raise BnlintInputError(f"{_METADATA} has no object for BN layer '{layer.path}'")
        by_role = {}
        for role in ("gamma", "beta", "moving_mean", "moving_variance"):
            node = _follow(objects, edges + [role])
            key = objects[node][1].get("VARIABLE_VALUE") if node is not None else None
            if key is not None:
                by_role[role] = bundle.read(key, MAX_CHANNELS)
        bn[layer.path] = statistics_from(layer, by_role)
    iterations = None
    for name in _ITERATIONS:
        node = _follow(objects, ["optimizer", name])
        key = objects[node][1].get("VARIABLE_VALUE") if node is not None else None
        if key is not None:
            values = bundle.read(key, 1)
            iterations = int(values[0]) if values and values[0] == values[0] else None
            break
    return WeightsSnapshot(bn=bn, optimizer_iterations=iterations,
                           has_optimizer_state=_follow(objects, ["optimizer"]) is not None)
