"""BN001's fix (unsafe: it changes the model's structure): nest the flattened base and call it with
`training=False`.

    x = base.output                      inputs = Input(shape=base.input_shape[1:])
    ...                            ->    x = base(inputs, training=False)
    Model(inputs=base.input, ...)        Model(inputs=inputs, ...)

A base built on a tensor with `input_tensor=t` is built with `input_shape=tuple(t.shape[1:])`
instead and called on `t`. Offered on the Keras versions whose nested model call takes `training`
(TF 1.x tf.keras, tf.keras 2.x / tf_keras, Keras 3), never on standalone Keras 2.x, where
`base(x, training=False)` raises TypeError (the help says what to do there instead). Only when the
rewrite is certain: the head starts from one `base.output` read in the model's own scope, the model
takes `base.input` (or the base was built on an `input_tensor=`), and nothing indexes
`model.layers` (indexes would point elsewhere once the base is one nested layer).
"""
from __future__ import annotations

import ast

from bnlint.finding import Applicability
from bnlint.script.facts import Component, Facts, ModelFact, TrainableChange
from bnlint.script.fixes.common import fresh_name, keras_class, plan, span, window
from bnlint.script.rules.base import FixPlan
from bnlint.script.rules.common import code_name
from bnlint.target import KerasTarget


def offer(facts: Facts, model: ModelFact, component: Component, target: KerasTarget) -> FixPlan | None:
    base = component.base
    if not target.nested_call_accepts_training or base.loaded or component.intermediate:
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
        return None
    title = f"Nest `{code_name(base)}` in the model and call it with `training=False`"
    if base.input_tensor:
        params = _on_input_tensor(base, ref)
    else:
        params = _on_new_input(facts, component, ref)
    if params is None:
        return None
    return plan(title, "bn001", Applicability.UNSAFE, **params)


def _on_new_input(facts: Facts, component: Component, ref) -> dict | None:
    """`Model(inputs=base.input, ...)`: add `inputs = Input(shape=...)`, call the base on it."""
    base = component.base
    if not component.inputs_is_base_input or component.inputs_site is None:
        return None
    if component.inputs_site.chunk.cell != ref.chunk.cell:
        return None
    spelling = keras_class(facts, "Input", ref.chunk.cell, top_level=True)
    if spelling is None:
        return None     # the file's Keras is unknown, or `Input` means something else here
    chunk = ref.chunk
    shape = f"{chunk.code(ref.node.value)}.input_shape[1:]"
    if base.input_shape is not None and _all_literal(base.input_shape):
        shape = base.site.chunk.code(base.input_shape)
    line, column, _, _ = chunk.position(ref.statement)
    if chunk.line_text(line)[:column - 1].strip():
        return None     # `if ready: head = base.output`: no line of its own to put `inputs = ...` before
    return {"mode": "new_input", "window": window(chunk, component.inputs_site.chunk), "ref": span(ref),
            "statement": span(chunk, ref.statement), "inputs": span(component.inputs_site),
            "name": fresh_name(facts, "inputs"), "input": spelling.expression,
            "import_from": spelling.import_from, "import_at": spelling.import_at, "shape": shape}


def _on_input_tensor(base, ref) -> dict | None:
    """`base = ResNet50(input_tensor=inputs)`: build the base on a shape instead and call it on
    `inputs` where the head reads `base.output`; the model's own inputs stay as they are."""
    arg = base.input_tensor_arg
    if arg is None or not isinstance(arg.value, ast.Name) or base.input_shape is not None:
        return None
    if base.site.scope is not ref.scope or base.site.chunk.cell != ref.chunk.cell:
        return None
    return {"mode": "input_tensor", "window": window(ref.chunk, base.site.chunk), "ref": span(ref),
            "tensor": span(base.site, arg.value)}


def _all_literal(node) -> bool:
    """A shape like `(224, 224, 3)` can be copied anywhere; `(size, size, 3)` cannot."""
    return isinstance(node, (ast.Tuple, ast.List)) and all(
        isinstance(e, ast.Constant) and (type(e.value) is int or e.value is None) for e in node.elts)


def codemod(source, params: dict) -> str:
    import libcst as cst

    tree = source.tree(params["window"])
    ref = tree.node(params["ref"], cst.Attribute)
    receiver = tree.code(ref.value)
    rewrite = tree.rewrite()
    if params["mode"] == "input_tensor":
        value = tree.node(params["tensor"], cst.Name)
        argument = tree.parents[value]
        if not isinstance(argument, cst.Arg) or argument.keyword is None or argument.keyword.value != "input_tensor":
            raise _not_applicable()
        tensor = value.value
        rewrite.replace(argument, lambda arg: arg.with_changes(
            keyword=cst.Name("input_shape"), value=tree.expression(f"tuple({tensor}.shape[1:])")))
        rewrite.replace(ref, tree.expression(f"{receiver}({tensor}, training=False)"))
        return rewrite.code()
    name = params["name"]
    statement = tree.statement(params["statement"])
    rewrite.insert_before(statement, tree.statements(f"{name} = {params['input']}(shape={params['shape']})\n"))
    rewrite.replace(ref, tree.expression(f"{receiver}({name}, training=False)"))
    rewrite.replace(tree.node(params["inputs"], cst.BaseExpression), cst.Name(name))
    if params["import_from"] is not None:
        rewrite.add_import(*params["import_from"], window=params["import_at"])
    return rewrite.code()


def _not_applicable():
    from bnlint.script.fixes.tree import NotApplicable

    return NotApplicable("the base is not built with `input_tensor=` here any more")
