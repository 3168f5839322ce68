"""Statically known step counts of a fit() call (BN007): literal arguments and numpy array shapes.

Kept out of collector.py: the collector only calls `fit_counts` for a fit() and `numpy_rows` for a
numpy call. Only literals count (or names bound to int literals the collector tracked); anything
else makes the count unknown, and BN007 then says nothing.
"""
from __future__ import annotations

import ast

from bnlint.script.values import Const, Rows

# numpy constructors and where their shape is: (positional index, keyword)
_SHAPE_ARGUMENT = {
    "zeros": (0, "shape"), "ones": (0, "shape"), "empty": (0, "shape"), "full": (0, "shape"),
    "random.random": (0, "size"), "random.random_sample": (0, "size"), "random.rand": (0, None),
    "random.randn": (0, None), "random.uniform": (2, "size"), "random.normal": (2, "size"),
    "random.randint": (2, "size"),
}


def numpy_rows(qualified_name: str, node: ast.Call) -> int | None:
    """First dimension of the array a numpy constructor call builds, when its shape is literal."""
    parts = qualified_name.split(".")
    if parts[0] != "numpy":
        return None
    where = _SHAPE_ARGUMENT.get(".".join(parts[1:]))
    if where is None:
        return None
    index, keyword = where
    shape = next((k.value for k in node.keywords if keyword and k.arg == keyword), None)
    if shape is None and len(node.args) > index and not any(isinstance(a, ast.Starred) for a in node.args):
        shape = node.args[index]
    if isinstance(shape, (ast.Tuple, ast.List)) and shape.elts:
        shape = shape.elts[0]
    if isinstance(shape, ast.Constant) and type(shape.value) is int and shape.value > 0:
        return shape.value
    return None


def _int(value: tuple, node: ast.expr) -> int | None:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if len(value) == 1 and isinstance(value[0], Const) and type(value[0].value) is int:
        return value[0].value
    return None


def fit_counts(node: ast.Call, positional: list, keywords: dict) -> dict:
    """Fit fields: epochs, initial_epoch, steps_per_epoch, batch_size, validation_split, samples,
    counts_known."""
    out: dict = {"counts_known": True}
    nodes = {k.arg: k.value for k in node.keywords if k.arg is not None}
    if any(k.arg is None for k in node.keywords) or any(isinstance(a, ast.Starred) for a in node.args):
        out["counts_known"] = False          # **kwargs / *args: anything may be passed
    for name in ("epochs", "initial_epoch", "steps_per_epoch", "batch_size"):
        if name in nodes:
            number = _int(keywords.get(name, ()), nodes[name])
            if number is None or number < 0:
                out["counts_known"] = False
            else:
                out[name] = number
    if "validation_split" in nodes:
        split = nodes["validation_split"]
        number = isinstance(split, ast.Constant) and type(split.value) in (int, float)
        if number:
            out["validation_split"] = float(split.value)
        else:
            out["counts_known"] = False
    x = keywords.get("x", positional[0] if positional else ())
    rows = [atom.count for atom in x if isinstance(atom, Rows)]
    if len(rows) == 1 and len(x) == 1:
        out["samples"] = rows[0]
    return out
