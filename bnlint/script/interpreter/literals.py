"""Small readings of `ast` nodes shared by the interpreter (literals, names, BN tests)."""
from __future__ import annotations

import ast
import re

from bnlint.script.applications import (
    FAMILIES,
)
from bnlint.script.facts import (
    Base,
    ModelFact,
)
from bnlint.script.values import (
    Const,
)

FIT_METHODS = {"fit", "fit_generator", "train_on_batch"}
KERAS_CLASSES = {"Model", "Functional", "Sequential", "Layer", "Network"}
# Names a fragment may use without importing them, and the Keras API they mean.
IMPLICIT = {
    "keras": "keras", "tf": "tensorflow", "K": "keras.backend", "layers": "keras.layers",
    "Model": "keras.models.Model", "Sequential": "keras.models.Sequential", "Input": "keras.layers.Input",
    "load_model": "keras.models.load_model", "BatchNormalization": "keras.layers.BatchNormalization",
    **{name: f"keras.applications.{name}" for name in FAMILIES},
}
# A test on a layer that selects BatchNormalization layers (isinstance, class name, layer name).
BN_TEST = re.compile(r"batch_?norm|BatchNorm|['\"][^'\"\n]{0,12}\bbn\b[^'\"\n]{0,12}['\"]|['\"][^'\"\n]*_bn['\"]|['\"]bn_", re.I)
MAX_CALL_DEPTH = 6
IMPORT_DEPTH = 3          # script -> module -> module -> module
FUNCTION_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef)
TRY_STATEMENTS = (ast.Try, ast.TryStar) if hasattr(ast, "TryStar") else (ast.Try,)
MAX_FUNCTION_RUNS = 400


class ReturnReached(Exception):
    """A `return` was reached: the rest of the straight-line code of the function does not run."""


class RaiseReached(ReturnReached):
    """A `raise` was reached: the rest of the block does not run (an enclosing `try` may go on in
    its handlers; otherwise the function, or the module / notebook cell, stops there)."""


PREPROCESSING = re.compile(
    r"preprocess_input|\bRescaling\b|\bNormalization\s*\(|preprocessing_function|\brescale\s*=|/\s*255|"
    r"\bpreprocess\w*\s*\(|\bget_preprocessing\b")
# PREPROCESSING one alternative at a time, each behind a word its matches hold: a substring test
# is much faster than trying every alternative at every position of a big file.
_PREPROCESSING_PARTS = tuple((word, None if pattern is None else re.compile(pattern)) for word, pattern in (
    ("preprocess_input", None), ("Rescaling", r"\bRescaling\b"), ("Normalization", r"\bNormalization\s*\("),
    ("preprocessing_function", None), ("rescale", r"\brescale\s*="), ("255", r"/\s*255"),
    ("preprocess", r"\bpreprocess\w*\s*\("), ("get_preprocessing", r"\bget_preprocessing\b")))


def preprocessing_visible(text: str) -> bool:
    """Any visible input preprocessing (the file's own, or `preprocess_input`): PREPROCESSING.search."""
    return any(word in text and (pattern is None or pattern.search(text) is not None)
               for word, pattern in _PREPROCESSING_PARTS)


def nested_base_named(model, layer_name: str | None) -> Base | None:
    """The nested base a `get_layer(name)` refers to, by Keras' default model names
    ("resnet50", "mobilenetv2_1.00_224", "inception_v3", "efficientnetb0", ...)."""
    if layer_name is None or not isinstance(model, ModelFact):
        return None
    wanted = re.sub(r"[^a-z0-9]", "", layer_name.lower())
    matches = [c.base for c in model.components if c.kind == "nested"
               and wanted.startswith(re.sub(r"[^a-z0-9]", "", c.base.architecture.lower()))]
    # "resnet50v2" also starts with "resnet50": the longest architecture name wins
    matches.sort(key=lambda base: len(base.architecture), reverse=True)
    return matches[0] if matches else None


def nested_base_at(model, index: int) -> Base | None:
    """The nested base `model.layers[index]` is, where the model's layer order is known (one chain
    of layers, or a Sequential whose layers were all counted)."""
    if not isinstance(model, ModelFact):
        return None
    for component in model.components:
        if component.kind != "nested" or component.layer_index is None:
            continue
        if index >= 0 and component.layer_index == index:
            return component.base
        if index < 0:
            if model.kind == "sequential" and model.layer_count is not None:
                if model.layer_count + index == component.layer_index:
                    return component.base
            elif component.head_layers is not None and index == -(component.head_layers + 1):
                return component.base
    return None


def unstarred(node: ast.expr) -> ast.expr:
    """`x` of `*x` (a starred element or argument); any other node itself."""
    return node.value if isinstance(node, ast.Starred) else node


def int_literal(node: ast.expr) -> int | None:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    return None


def string(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def literal_bool(node: ast.expr) -> bool | None:
    """`True`/`False`, and the `0`/`1` that Keras code passes for them."""
    if isinstance(node, ast.Constant) and type(node.value) in (bool, int) and node.value in (0, 1):
        return bool(node.value)
    return None


def const(value: tuple, default):
    """The one constant an abstract value holds (`BACKBONE = "resnet34"`), else `default`."""
    if len(value) == 1 and isinstance(value[0], Const):
        return value[0].value
    return default


def weights_kind(node: ast.expr) -> str:
    if isinstance(node, ast.Constant) and node.value is None:
        return "none"
    text = string(node)
    if text is None:
        return "unknown"
    return "imagenet" if text == "imagenet" else "path"


def names_in(node: ast.AST) -> list[str]:
    """Variable names a test reads (of `a.b.c` only `a`)."""
    found = []

    def walk(n):
        if isinstance(n, ast.Name):
            found.append(n.id)
        elif isinstance(n, ast.Attribute):
            walk(n.value)
        else:
            for child in ast.iter_child_nodes(n):
                walk(child)

    walk(node)
    return found


def selects_complement(node: ast.AST) -> bool:
    """Does a test select the complement (`not isinstance(...)`, `'bn' not in name`, `!=`)? In
    `flag and not isinstance(layer, BatchNormalization)` the BN part decides."""
    negated = False
    while isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        negated = not negated
        node = node.operand
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And):
        parts = [value for value in node.values if BN_TEST.search(ast.unparse(value))]
        if len(parts) == 1:
            return negated != selects_complement(parts[0])
    if isinstance(node, ast.Compare):
        for operator in node.ops:
            if isinstance(operator, (ast.NotIn, ast.NotEq, ast.IsNot)):
                negated = not negated
    return negated
