"""Legacy Keras HDF5 (`.h5` / `.hdf5`, `model.save("x.h5")`) -> ModelGraph.

Layout (semantics doc §2.1): root attributes `model_config` (JSON), `keras_version`, `backend`,
optional `training_config`; weights under `model_weights/<top-level layer>/<weight_name>`, with the
ordered `weight_names` attribute (split into `weight_names0`, `weight_names1`, ... when long);
optimizer state under `optimizer_weights`. Written by standalone Keras 2.x, tf.keras, tf_keras and
Keras 3 (`:0` suffixes absent in Keras 3).
"""
from __future__ import annotations

import pathlib
from typing import Any

from bnlint.context import RuleContext
from bnlint.errors import BnlintInputError, NoKerasConfig
from bnlint.model.graph import BNStatistics, Layer, ModelGraph, SavedOptimizer, WeightsSnapshot
from bnlint.readers.bn_weights import (
    dataset_at,
    positional_roles,
    read_step_count,
    read_vector,
    role_of,
    statistics_from,
)
from bnlint.readers.common import decode_text, load_json
from bnlint.readers.keras_config import root_from_model_config, saved_optimizer, writer_from_config
from bnlint.target import from_keras_version

# h5py raises these (and its own subclasses of them) for corrupt or unexpected files.
H5_ERRORS = (OSError, KeyError, ValueError, TypeError, RuntimeError, AttributeError, IndexError)


def open_h5(source: Any, what: str):
    """h5py.File for a path or a seekable file object, read-only; errors become BnlintInputError."""
    import h5py

    try:
        return h5py.File(source, "r")
    except H5_ERRORS as exc:
        raise BnlintInputError(f"{what} is not a readable HDF5 file ({exc})") from None


def attr_strings(attrs: Any, name: str, what: str) -> list[str] | None:
    """A list-of-strings attribute, plain or chunked (`name0`, `name1`, ...); None when absent."""
    if name in attrs:
        chunks = [attrs[name]]
    elif f"{name}0" in attrs:
        chunks, i = [], 0
        while f"{name}{i}" in attrs:
            chunks.append(attrs[f"{name}{i}"])
            i += 1
    else:
        return None
    out: list[str] = []
    for chunk in chunks:
        # An empty list comes back as a float64 array of length 0 (np.asarray([])).
        values = chunk.tolist() if hasattr(chunk, "tolist") else chunk
        if isinstance(values, (str, bytes)):
            values = [values]
        if not isinstance(values, list):
            raise BnlintInputError(f"{what} attribute {name} is not a list of names")
        out.extend(decode_text(v, f"{what} attribute {name}") for v in values)
    return out


def read_h5(path: pathlib.Path, ctx: RuleContext) -> ModelGraph:
    with open_h5(path, "model file") as f:
        try:
            return _graph_from_h5(f, path, ctx)
        except H5_ERRORS as exc:
            raise BnlintInputError(f"corrupt HDF5 model file ({type(exc).__name__}: {exc})") from None


def _graph_from_h5(f: Any, path: pathlib.Path, ctx: RuleContext) -> ModelGraph:
    attrs = f.attrs
    if "model_config" not in attrs:
        # save_weights layouts: legacy (root `layer_names`) and Keras v3 (`layers/.../vars`).
        if "layer_names" in attrs or "model_weights" in f or ("layers" in f and "vars" in f):
            raise NoKerasConfig("weights-only HDF5 file (save_weights): without a model_config its BN layers "
                                "cannot be checked")
        raise BnlintInputError("HDF5 file is not a Keras model: no model_config attribute and no Keras weights")
    model_config = load_json(decode_text(attrs["model_config"], "model_config"), "model_config", ctx.limits)
    root = root_from_model_config(model_config, ctx.limits.max_nesting, "model_config")
    version = decode_text(attrs["keras_version"], "keras_version") if "keras_version" in attrs else None
    return ModelGraph(
        root=root, format="h5", keras_version=version,
        writer=from_keras_version(version) or writer_from_config(model_config),
        has_training_config="training_config" in attrs,
        optimizer=_training_optimizer(attrs, ctx),
        weights_loader=lambda graph: _load_weights(path, graph))


def _training_optimizer(attrs: Any, ctx: RuleContext) -> SavedOptimizer | None:
    """The compiled optimizer from `training_config`; an unreadable one is ignored (messages only)."""
    if "training_config" not in attrs:
        return None
    try:
        config = load_json(decode_text(attrs["training_config"], "training_config"), "training_config", ctx.limits)
    except BnlintInputError:
        return None
    return saved_optimizer(config.get("optimizer_config")) if isinstance(config, dict) else None


def _load_weights(path: pathlib.Path, graph: ModelGraph) -> WeightsSnapshot:
    with open_h5(path, "model file") as f:
        try:
            weights = f.get("model_weights")
            if weights is None:
                raise BnlintInputError("HDF5 model file has no model_weights group")
            optimizer = f.get("optimizer_weights")
            names = tuple(attr_strings(optimizer.attrs, "weight_names", "optimizer_weights") or ()) \
                if optimizer is not None else ()
            return WeightsSnapshot(bn=legacy_bn_statistics(weights, graph.root),
                                   optimizer_iterations=_optimizer_iterations(optimizer, names),
                                   has_optimizer_state=optimizer is not None and len(optimizer) > 0,
                                   optimizer_variable_names=names)
        except H5_ERRORS as exc:
            raise BnlintInputError(f"corrupt weights in HDF5 model file ({type(exc).__name__}: {exc})") from None


def legacy_bn_statistics(weights: Any, root: Layer) -> dict[str, BNStatistics]:
    """BN statistics from a `model_weights` group: one group per top-level layer."""
    out: dict[str, BNStatistics] = {}
    for top in root.children:
        bns = [layer for layer in top.walk() if layer.is_bn]
        if not bns:
            continue
        group = weights.get(top.name)
        if group is None or not hasattr(group, "attrs"):
            raise BnlintInputError(f"the weights of layer '{top.path}' are missing from model_weights")
        names = attr_strings(group.attrs, "weight_names", f"model_weights/{top.name}") or []
        for name in names:
            if name not in group:
                raise BnlintInputError(f"weight '{top.name}/{name}' is listed in weight_names but missing")
        # A flattened BN: read its few variables. A nested model: only its BN-named variables.
        wanted = names if top.is_bn else [n for n in names if role_of(n) is not None]
        arrays = {name: read_vector(dataset_at(group, name, f"weight '{top.name}/{name}'"),
                                    f"weight '{top.name}/{name}'") for name in wanted}
        if top.is_bn:
            out[top.path] = _single_bn(top, names, arrays)
        else:
            out.update(_nested_bns(top, bns, names, arrays))
    return out


def _single_bn(layer: Layer, names: list[str], arrays: dict[str, list[float]]) -> BNStatistics:
    roles = [role_of(n) for n in names]
    if None in roles or len(set(roles)) != len(roles):
        roles = positional_roles(layer, len(names))
    return statistics_from(layer, {role: arrays[name] for role, name in zip(roles, names) if name in arrays})


def _nested_bns(model: Layer, bns: list[Layer], names: list[str],
                arrays: dict[str, list[float]]) -> dict[str, BNStatistics]:
    """Match a nested model's BN layers to its weights: by name, else by order.

    Standalone Keras 2.2.4 names inner variables by TF scope, e.g. `bn_1/moving_mean:0` for the
    config layer `bn` (semantics doc §2.1), and Keras 2 lists trainable weights before
    non-trainable ones, so the order of `moving_mean` entries (always non-trainable, in layer
    order) is the order of the BN layers.
    """
    scopes: dict[str, dict[str, list[float]]] = {}
    for name in names:
        role = role_of(name)
        if role is None or name not in arrays:
            continue
        scopes.setdefault(name.rsplit("/", 1)[0] if "/" in name else "", {})[role] = arrays[name]
    bn_scopes = [s for s in scopes if "moving_mean" in scopes[s]]
    by_last = {}
    for scope in bn_scopes:
        by_last.setdefault(scope.rsplit("/", 1)[-1], []).append(scope)
    if all(len(by_last.get(bn.name, ())) == 1 for bn in bns) and len(bn_scopes) == len(bns):
        matched = [by_last[bn.name][0] for bn in bns]
    elif len(bn_scopes) == len(bns):
        matched = bn_scopes
    else:
        raise BnlintInputError(f"cannot match the {len(bns)} BN layers of '{model.path}' to the "
                               f"{len(bn_scopes)} sets of BN weights saved for it")
    return {bn.path: statistics_from(bn, scopes[scope]) for bn, scope in zip(bns, matched)}


def _optimizer_iterations(group: Any, names: tuple[str, ...]) -> int | None:
    if group is None:
        return None
    for name in names:
        if name.rsplit("/", 1)[-1].split(":", 1)[0] in ("iterations", "iteration", "iter"):
            return read_step_count(dataset_at(group, name, f"optimizer weight '{name}'"))
    return None
