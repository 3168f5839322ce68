"""Which keras.applications (or model zoo) architecture a set of BN layer names comes from.

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
    label: str = ""          # how findings name it ("ResNet34 encoder of a segmentation_models Unet")


@dataclass(frozen=True)
class Match:
    """The identified architecture; several names when the table lists twins with the very same
    BN layer names (e.g. ResNet101 and ResNeXt101), which no file can tell apart."""

    names: tuple[str, ...]
    labels: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return " or ".join(self.labels or self.names)


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
            label = entry.get("label")
            out.append(Architecture(name, frozenset(str(n) for n in bn), count if isinstance(count, int) else 0,
                                    label if isinstance(label, str) else name))
    return tuple(out)


def identify(bn_names: Iterable[str], architectures: tuple[Architecture, ...] | None = None,
             context: Iterable[str] = ()) -> Match | None:
    """`context`: every BN name of the model the layers belong to. It tells an encoder flattened
    into a segmentation model (whose decoder adds BN layers of its own) from the bare classifier."""
    names = set(bn_names)
    if len(names) < MIN_SHARED:
        return None
    around = set(context) | names
    scored = []
    for arch in load_architectures() if architectures is None else architectures:
        shared = len(names & arch.bn_layers)
        if shared >= MIN_SHARED and shared / len(names) >= MIN_PRECISION:
            # More shared names first; then the architecture that explains more of the model's BN
            # layers (the Unet around a frozen ResNet34 encoder); then the one the names cover best
            # (53 ResNet50 names cover ResNet50 fully but only half of ResNet101).
            scored.append(((shared, len(around & arch.bn_layers), shared / len(arch.bn_layers)), arch))
    if not scored:
        return None
    scored.sort(key=lambda item: item[0], reverse=True)
    best = [arch for score, arch in scored if score == scored[0][0]]
    if any(arch.bn_layers != best[0].bn_layers for arch in best):
        return None          # different architectures fit equally well: do not guess
    best.sort(key=lambda arch: arch.name)
    return Match(tuple(arch.name for arch in best), tuple(arch.label or arch.name for arch in best))
