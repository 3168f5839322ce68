"""Turn a BN layer's saved variables into BNStatistics (shared by the h5 and .keras readers)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bnlint.errors import BnlintInputError
from bnlint.model.graph import BNStatistics, Layer

# A BN vector longer than this is not a BN layer's channel vector: refuse instead of reading it.
MAX_CHANNELS = 1 << 22
_ROLES = ("gamma", "beta", "moving_mean", "moving_variance")


def dataset_at(group: Any, name: str, what: str) -> Any:
    """group[name], refusing links into other files: a model file is read on its own."""
    import h5py

    link = group.get(name, getlink=True)
    if link is None:
        raise BnlintInputError(f"{what} is missing")
    if isinstance(link, h5py.ExternalLink):
        raise BnlintInputError(f"{what} is a link into another file ({link.filename}): refused")
    return group[name]


def read_vector(dataset: Any, what: str) -> Any:
    """A 1-D numeric dataset as a numpy array, refusing huge, non-vector or out-of-file data before reading it."""
    shape = getattr(dataset, "shape", None)
    if shape is None:
        raise BnlintInputError(f"{what} is not a dataset")
    # Virtual datasets and external raw storage read bytes from other files.
    if getattr(dataset, "is_virtual", False) or getattr(dataset, "external", None):
        raise BnlintInputError(f"{what} stores its data outside the model file: refused")
    if len(shape) != 1 or shape[0] > MAX_CHANNELS:
        raise BnlintInputError(f"{what} has shape {tuple(shape)}, not a BN channel vector")
    kind = getattr(getattr(dataset, "dtype", None), "kind", None)
    if kind not in ("f", "i", "u"):
        raise BnlintInputError(f"{what} holds {getattr(dataset, 'dtype', '?')} data, not numbers")
    try:
        return dataset[()]     # a numpy array; BNStatistics makes it float64
    except (OSError, ValueError, TypeError, RuntimeError, KeyError) as exc:
        raise BnlintInputError(f"cannot read {what}: {exc}") from None


def read_step_count(dataset: Any) -> int | None:
    """An optimizer's scalar iteration counter; None when it is not a plain in-file integer scalar."""
    if getattr(dataset, "shape", None) != () or getattr(dataset, "is_virtual", False) or \
            getattr(dataset, "external", None) or getattr(dataset.dtype, "kind", None) not in ("i", "u", "f"):
        return None
    try:
        return int(dataset[()])
    except (TypeError, ValueError, OverflowError):
        return None


def role_of(weight_name: str) -> str | None:
    """'bn/moving_mean:0' -> 'moving_mean'; None for names that are not BN variables."""
    base = weight_name.rsplit("/", 1)[-1].split(":", 1)[0]
    return base if base in _ROLES else None


def positional_roles(layer: Layer, count: int) -> list[str]:
    """Roles of `count` unnamed variables in save order: gamma (scale), beta (center), mean, variance."""
    roles = (["gamma"] if layer.scale else []) + (["beta"] if layer.center else []) + ["moving_mean", "moving_variance"]
    if count < len(roles):
        raise BnlintInputError(f"BN layer '{layer.path}' has {count} saved variables, expected {len(roles)}")
    return roles


def statistics_from(layer: Layer, by_role: dict[str, Sequence[float]]) -> BNStatistics:
    missing = [r for r in ("moving_mean", "moving_variance") if r not in by_role]
    if missing:
        raise BnlintInputError(f"BN layer '{layer.path}' has no saved {' or '.join(missing)}")
    stats = BNStatistics(moving_mean=by_role["moving_mean"], moving_variance=by_role["moving_variance"],
                         gamma=by_role.get("gamma"), beta=by_role.get("beta"))
    sizes = {len(v) for v in (stats.moving_mean, stats.moving_variance, stats.gamma, stats.beta) if v is not None}
    if len(sizes) != 1:
        raise BnlintInputError(f"BN layer '{layer.path}' has variables of different lengths {sorted(sizes)}")
    return stats
