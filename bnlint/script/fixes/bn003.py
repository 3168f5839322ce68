"""BN003's fix (safe): call the pretrained base with `training=False`.

`base(x)` gets `training=False` after its last argument; `base(x, training=True)`,
`training=None` and a subclassed model's `self.base(x, training=training)` get `False` as the
value. Offered wherever a nested model's call takes `training`: TF 1.x tf.keras, tf.keras 2.x /
tf_keras, Keras 3 — not standalone Keras 2.x, whose Network.call has no `training` (TypeError).
"""
from __future__ import annotations

from bnlint.finding import Applicability
from bnlint.script.facts import BaseCall
from bnlint.script.fixes.common import plan, span, window
from bnlint.script.rules.base import FixPlan
from bnlint.script.rules.common import code_name
from bnlint.target import KerasTarget


def offer(call: BaseCall, target: KerasTarget) -> FixPlan | None:
    if not target.nested_call_accepts_training:
        return None
    title = f"Call `{code_name(call.base)}` with `training=False`"
    if call.training_arg is not None:
        return plan(title, "bn003", Applicability.SAFE, window=window(call.site.chunk), call=span(call.site),
                    value=span(call.site, call.training_arg.value))
    node = call.site.node
    if not node.args and not node.keywords:
        return None          # `base()` is not a call on a tensor
    return plan(title, "bn003", Applicability.SAFE, window=window(call.site.chunk), call=span(call.site), value=None)


def codemod(source, params: dict) -> str:
    import libcst as cst

    tree = source.tree(params["window"])
    call = tree.node(params["call"], cst.Call)
    rewrite = tree.rewrite()
    if params["value"] is not None:
        return rewrite.replace(tree.node(params["value"], cst.BaseExpression), cst.Name("False")).code()

    def append_training_false(updated: cst.Call) -> cst.Call:
        # After the argument written last (keywords may come before a `*args`); the last argument's
        # comma and what follows it (a newline before `)`) move to the new one.
        *others, last = updated.args
        training = cst.Arg(
            value=cst.Name("False"), keyword=cst.Name("training"),
            equal=cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")),
            comma=last.comma, whitespace_after_arg=last.whitespace_after_arg)
        last = last.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")),
                                 whitespace_after_arg=cst.SimpleWhitespace(""))
        return updated.with_changes(args=[*others, last, training])

    return rewrite.replace(call, append_training_false).code()
