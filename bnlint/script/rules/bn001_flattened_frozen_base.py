"""BN001: a pretrained BN base flattened into a model through its symbolic tensors, and frozen.

`Model(inputs=base.input, outputs=head(base.output))` copies the base's layers into the new
model, so the base can never be called with `training=False`. On legacy Keras (standalone 2.x, TF 1.x
tf.keras) a frozen BN still uses batch statistics in training: the 100 %-train / chance-validation
symptom. On tf.keras 2.x / tf_keras / Keras 3 a frozen BN is in inference mode, so nothing breaks
until it is unfrozen (BN002), and BN001 does not fire there.
"""
from __future__ import annotations

import ast

from bnlint.finding import Applicability
from bnlint.script.facts import Component, Facts, ModelFact, TrainableChange
from bnlint.script.rules.base import FixPlan, NodeEdit, Report
from bnlint.script.rules.common import (
    STANDALONE_BN_FIX,
    changes_covering,
    code_name,
    describe,
    is_transfer_base,
    trains_after,
)
from bnlint.script.values import QName
from bnlint.target import KerasTarget

CODE = "BN001"


def check(facts: Facts, target: KerasTarget):
    # On tf.keras 2.x / tf_keras / Keras 3 a frozen BN is in inference mode: nothing breaks until it
    # is unfrozen, and that is BN002's finding (issue 11, decision 1).
    if not target.legacy:
        return
    for model in facts.models:
        for component in model.components:
            base = component.base
            if component.kind != "flattened" or not is_transfer_base(facts, base) or not base.whole_model_pretrained:
                continue
            freezes = [c for c in changes_covering(facts, base)
                       if c.value is False and c.bn != "non_bn"]
            freezes = [c for c in freezes if trains_after(facts, c, base)]
            if not freezes:
                continue
            yield Report(CODE, model.site, _message(model, component), _help(component, target),
                         fix=_fix(facts, model, component, target),
                         related=((freezes[0].site, f"`{code_name(base)}` is frozen here"),))


def _message(model: ModelFact, component: Component) -> str:
    into = "a new model" if model.name.startswith("<") else f"`{model.name}`"
    return (f"{describe(component.base)} is flattened into {into} and frozen: its BN layers use batch "
            "statistics in fit() and moving statistics in predict()")


def _help(component: Component, target: KerasTarget) -> str:
    base = component.base
    if target.standalone:
        return STANDALONE_BN_FIX
    name = code_name(base)
    if component.intermediate:
        return (f"Build a feature extractor `features = Model({name}.input, {name}.get_layer(...).output)` "
                "and call it on a new Input as `features(inputs, training=False)`.")
    if base.input_tensor:
        return (f"Build `{name}` with `input_shape=` instead of `input_tensor=`, call it as "
                f"`{name}(inputs, training=False)` and build the head on that.")
    return (f"Nest the base: `x = {name}(inputs, training=False)` on a new `Input`, build the head on `x`, "
            "then `Model(inputs, outputs)`.")


# --- the unsafe fix: nest the base -----------------------------------------------------------

def _fix(facts: Facts, model: ModelFact, component: Component, target: KerasTarget) -> FixPlan | None:
    """Rewrite the flattened construction into a nested base called with `training=False`, when
    the head starts from a single `base.output` in the same scope as the model."""
    base = component.base
    # Standalone Keras cannot take `training=False` on a nested model (TypeError); TF 1.x tf.keras can.
    if target.standalone or base.loaded or component.intermediate:
        return None
    if len(component.output_refs) != 1:
        return None
    ref = component.output_refs[0]
    if len(base.output_reads) != 1 or base.output_reads[0].node is not ref.node:
        return None     # the head reads the base's output in several places (branches, skips)
    if not isinstance(ref.node, ast.Attribute) or ref.node.attr != "output":
        return None     # `base.layers[-1].output`, `base.outputs`: rewrite by hand
    if ref.scope is not model.site.scope or ref.chunk.cell != model.site.chunk.cell or ref.external:
        return None
    if sum(1 for m in facts.models for c in m.components if c.base is base) != 1:
        return None
    if any(isinstance(e, TrainableChange) and e.via_model_layers and e.owner is model for e in facts.events):
        # `model.layers[:N]` indexes would point elsewhere once the base is one nested layer.
        return None
    if base.input_tensor:
        edits = _nest_on_input_tensor(base, ref)
    else:
        edits = _nest_on_new_input(facts, component, ref, target)
    if edits is None:
        return None
    message = f"Nest `{code_name(base)}` in the model and call it with `training=False`"
    return FixPlan(message, edits, Applicability.UNSAFE)


def _nest_on_new_input(facts: Facts, component: Component, ref, target: KerasTarget):
    """`Model(inputs=base.input, ...)`: add `inputs = Input(shape=...)`, call the base on it."""
    base = component.base
    if not component.inputs_is_base_input or component.inputs_site is None:
        return None
    spelling = _input_spelling(facts, target)
    if spelling is None:
        return None
    input_expr, import_line, import_site = spelling
    chunk = ref.chunk
    receiver = chunk.code(ref.node.value)
    shape = f"{receiver}.input_shape[1:]"
    if base.input_shape is not None and _all_literal(base.input_shape):
        shape = base.site.chunk.code(base.input_shape)
    name = _fresh(facts, "inputs")
    newline = chunk.newline
    indent = _indent_of(chunk, ref.statement)
    if indent is None:
        return None     # `if ready: head = base.output`: no line of its own to put `inputs = ...` on
    inserted = f"{name} = {input_expr}(shape={shape}){newline}{indent}"
    edits = []
    if import_line is not None and import_site is None:
        inserted = f"{import_line}{newline}{indent}" + inserted
    edits.append(NodeEdit(chunk, ref.statement, inserted, "before"))
    edits.append(NodeEdit(chunk, ref.node, f"{receiver}({name}, training=False)"))
    edits.append(NodeEdit(component.inputs_site.chunk, component.inputs_site.node, name))
    if import_line is not None and import_site is not None:
        edits.append(NodeEdit(import_site.chunk, import_site.statement, import_line + newline, "next_line"))
    return tuple(edits)


def _nest_on_input_tensor(base, ref):
    """`base = ResNet50(input_tensor=inputs)`: build the base on a shape instead and call it on
    `inputs` where the head reads `base.output`; the model's own inputs stay as they are."""
    arg = base.input_tensor_arg
    if arg is None or not isinstance(arg.value, ast.Name) or base.input_shape is not None:
        return None
    if base.site.scope is not ref.scope or base.site.chunk.cell != ref.chunk.cell:
        return None
    tensor = arg.value.id
    chunk = ref.chunk
    receiver = chunk.code(ref.node.value)
    return (
        NodeEdit(base.site.chunk, arg, f"input_shape=tuple({tensor}.shape[1:])"),
        NodeEdit(chunk, ref.node, f"{receiver}({tensor}, training=False)"),
    )


def _input_spelling(facts: Facts, target: KerasTarget):
    """(expression for `Input`, import line to add or None, where to add it) in the file's style."""
    names = facts.module_names
    roots = facts.imports.keras_roots or facts.imports.import_roots
    root = next((r for r in roots if r in ("keras", "tensorflow.keras", "tf_keras")), None)
    for name, value in names.items():
        if any(isinstance(a, QName) and a.last == "Input" and a.keras_root for a in value):
            return name, None, None
    for suffix, template in ((".layers", "{}.Input"), ("", "{}.Input")):
        for name, value in names.items():
            for atom in value:
                if isinstance(atom, QName) and atom.keras_root and atom.name.endswith("keras" + suffix) \
                        and (root is None or atom.keras_root == root):
                    return template.format(name), None, None
    for name, value in names.items():
        if root == "tensorflow.keras" and any(isinstance(a, QName) and a.name == "tensorflow" for a in value):
            return f"{name}.keras.Input", None, None
    if root is None or facts.uses_name("Input"):
        return None      # `Input` means something else here: do not shadow it
    import_line = f"from {root}.layers import Input"
    sites = [site for site, site_root in facts.imports.import_sites
             if site_root == root and site.chunk.cell is None and not site.external]
    # Next to the file's `... .layers import` if it has one, else after its last Keras import.
    layer_sites = [site for site in sites if ".layers" in site.chunk.code(site.node)]
    return "Input", import_line, ((layer_sites or sites)[-1] if sites else None)


def _all_literal(node) -> bool:
    """A shape like `(224, 224, 3)` can be copied anywhere; `(size, size, 3)` cannot."""
    return all(isinstance(e, ast.Constant) and (type(e.value) is int or e.value is None) for e in node.elts)


def _fresh(facts: Facts, wanted: str) -> str:
    name, n = wanted, 1
    while facts.uses_name(name):
        name = f"{wanted}_{n}"
        n += 1
    return name


def _indent_of(chunk, statement) -> str | None:
    """The indentation of `statement`, or None when it does not start its line."""
    line, column, _, _ = chunk.position(statement)
    indent = chunk.line_text(line)[:column - 1]
    return indent if not indent.strip() else None
