"""BN004's fix (unsafe: it re-creates the optimizer, so its state starts afresh): compile the model
again after the `trainable` change, with the arguments of its last `compile()`.

    model.compile(optimizer=opt, loss="mse")          model.compile(optimizer=opt, loss="mse")
    model.fit(x, y)                                   model.fit(x, y)
    base.trainable = True                       ->    base.trainable = True
    model.fit(x, y)                                   model.compile(optimizer=type(opt).from_config(opt.get_config()), loss="mse")
                                                      model.fit(x, y)

An optimizer held in a variable is re-created from its config (Keras 3 refuses to update variables
an optimizer was not built with); a string or an inline `Adam(...)` already makes a new one. The
compile goes after the last `trainable` change before that `fit()` (after an unfreezing loop, not
inside it), and only where it certainly runs before the `fit()` and the compile's names mean the
same (the same function, or a later notebook cell). Every Keras compiles again the same way.
"""
from __future__ import annotations

from bnlint.finding import Applicability
from bnlint.script.facts import Compile, Facts, Fit, Site, TrainableChange
from bnlint.script.fixes.common import (
    compile_again,
    insertion_point,
    last_change,
    plan,
    span,
    window,
)
from bnlint.script.rules.base import FixPlan
from bnlint.script.rules.common import affects
from bnlint.target import KerasTarget


def offer(facts: Facts, model, change: TrainableChange, compile_event: Compile, fit: Fit,
          target: KerasTarget) -> FixPlan | None:
    last = last_change(facts, change, fit, lambda event: affects(event, model))
    where = insertion_point(last.site, fit.site)
    if where is None:
        return None
    again = compile_again(facts, compile_event, Site(where, last.site.chunk, where, last.site.scope))
    if again is None:
        return None
    receiver = compile_event.site.chunk.code(compile_event.site.node.func.value)
    return plan(f"Compile `{receiver}` again after the `trainable` change, before training it",
                "bn004", Applicability.UNSAFE, window=window(last.site.chunk), after=span(last.site.chunk, where),
                **again)


def codemod(source, params: dict) -> str:
    from bnlint.script.fixes.tree import compile_statement

    tree = source.tree(params["window"])
    statement = tree.statement(params["after"])
    again = compile_statement(tree, params["compile_code"], params["optimizer"])
    return tree.rewrite().insert_after(statement, [again]).code()
