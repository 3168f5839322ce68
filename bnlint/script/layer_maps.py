"""What `base.layers[a:b]` / `model.layers[i]` select in a keras.applications base, by index.

`bnlint/data/application_layers.json` (made by fixtures/generate_layer_maps.py from the real
models) has one character per top-level layer of each architecture: `B` BatchNormalization, `W`
another layer with weights, `-` a layer without weights. With it a slice of `base.layers` (or of a
flattened model's `model.layers`: the base's layers first, then the head the script adds) says
which of the base's BN and weighted layers it reaches: `model.layers[:175]` of a ResNet50 model is
the whole base; `layers[:2]` reaches only the input and the padding layer, nothing with weights.
"""
from __future__ import annotations

import functools
import json
import pathlib

_TABLE = pathlib.Path(__file__).resolve().parent.parent / "data" / "application_layers.json"


@functools.lru_cache(maxsize=1)
def _maps() -> dict:
    try:
        return json.loads(_TABLE.read_text())
    except (OSError, ValueError):
        return {}


def layer_map(architecture: str, include_top: bool, pooling: bool) -> tuple[str, bool] | None:
    """(the base's layers, one character each; whether that is all of them). Keras 3's build, or
    tf_keras' where Keras 3 lacks the architecture. With the classifier on top only the leading
    layers are known (its own layers differ per family)."""
    writers = _maps().get(architecture)
    if not writers:
        return None
    layers = (writers.get("keras3") or writers.get("tf_keras") or {}).get("notop")
    if layers is None:
        return None
    if include_top:
        return layers, False
    return layers + ("-" if pooling else ""), True


def selection(layers: str, complete: bool, head: int, lower: int | None, upper: int | None,
              step: int | None, index: int | None) -> tuple[str, bool] | None:
    """(which layers by BN-ness, whole) that `[lower:upper:step]` (or `[index]`) of the base's layers
    followed by `head` layers reaches in the base: ("none", False) when it reaches no layer with
    weights, ("bn_only", ...) only BN layers, ("non_bn", ...) no BN layer, ("all", whole) both.
    None when the list's length matters and is not known (`complete` False)."""
    if not complete:
        # only slices counted from the start, inside the known leading layers
        if index is not None or step is not None or any(b is not None and b < 0 for b in (lower, upper)) \
                or upper is None or upper > len(layers):
            return None
        head = 0
    total = len(layers) + head
    if index is not None:
        if not -total <= index < total:
            return None
        chosen = [index % total]
    else:
        chosen = list(range(total))[slice(lower, upper, step)]
    reached = {i for i in chosen if i < len(layers)}
    bn = {i for i, kind in enumerate(layers) if kind == "B"}
    weighted = {i for i, kind in enumerate(layers) if kind == "W"}
    touches_bn, touches_other = bool(reached & bn), bool(reached & weighted)
    if not touches_bn and not touches_other:
        return "none", False
    if not touches_other:
        return "bn_only", bn <= reached
    if not touches_bn:
        return "non_bn", weighted <= reached
    return "all", bn <= reached and weighted <= reached
