"""Which keras.applications architecture a set of BN layer names comes from.

The table is `bnlint/data/applications.json`, generated from the real keras.applications
models: `{"ResNet50": {"bn_layers": [...], "layer_count": N, "bn": true}, ..., "_meta": {...}}`.
We only name an architecture when we are confident: almost every BN name must belong to it,
enough of them to rule out coincidence, and no other architecture may fit equally well.
"""
from __future__ import annotations

import json
import pathlib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

_TABLE = pathlib.Path(__file__).resolve().parent.parent / "data" / "applications.json"
MIN_SHARED = 5           # fewer shared names could be a coincidence ("bn", "conv1_bn")
MIN_PRECISION = 0.8      # share of the given BN names that belong to the architecture


@dataclass(frozen=True)
class Architecture:
    name: str
    bn_layers: frozenset[str]
    layer_count: int


@lru_cache(maxsize=4)
def load_architectures(table: pathlib.Path = _TABLE) -> tuple[Architecture, ...]:
    try:
        raw = json.loads(table.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ()            # no table (yet): every flattened base is "a flattened pretrained base"
    out = []
    for name, entry in raw.items() if isinstance(raw, dict) else ():
        if name.startswith("_") or not isinstance(entry, dict):
            continue
        bn = entry.get("bn_layers")
        if isinstance(bn, list) and bn:
            count = entry.get("layer_count")
            out.append(Architecture(name, frozenset(str(n) for n in bn), count if isinstance(count, int) else 0))
    return tuple(out)


def identify(bn_names: Iterable[str], architectures: tuple[Architecture, ...] | None = None) -> Architecture | None:
    names = set(bn_names)
    if len(names) < MIN_SHARED:
        return None
    scored = []
    for arch in load_architectures() if architectures is None else architectures:
        shared = len(names & arch.bn_layers)
        if shared >= MIN_SHARED and shared / len(names) >= MIN_PRECISION:
            # More shared names first; then the architecture the names cover best
            # (53 ResNet50 names cover ResNet50 fully but only half of ResNet101).
            scored.append(((shared, shared / len(arch.bn_layers)), arch))
    if not scored:
        return None
    scored.sort(key=lambda item: item[0], reverse=True)
    if len(scored) > 1 and scored[0][0] == scored[1][0]:
        return None          # two architectures fit equally well: do not guess
    return scored[0][1]
