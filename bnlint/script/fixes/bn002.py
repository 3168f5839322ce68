"""BN002's fix (unsafe: it changes what trains): keep the base's BatchNormalization layers frozen
after the statements that unfreeze it, and compile again before the next `fit()` if nothing does.

    base.trainable = True                 base.trainable = True
    model.fit(ds)                   ->    for layer in base.layers:
                                              if isinstance(layer, BatchNormalization):
                                                  layer.trainable = False
                                          model.compile(...)        # the last compile, repeated
                                          model.fit(ds)

The guard goes after the last `trainable` change of the base before that `fit()`, spelled with the
file's own Keras names (`layers.BatchNormalization`, an alias, or an import merged into its
`from ... .layers import`). Offered where a frozen BatchNormalization layer runs in inference mode:
tf.keras 2.x / tf_keras and Keras 3 (on Keras < 3.16 it is the only fix: `fit()` overrides a nested
`training=False`). Not on standalone Keras 2.x or TF 1.x tf.keras, where a frozen BN still
normalises with batch statistics in `fit()`: the guard would silence the warning without curing it.
"""
from __future__ import annotations

from bnlint.finding import Applicability
from bnlint.script.facts import Base, Compile, Facts, Fit, Site, TrainableChange
from bnlint.script.fixes.common import (
    compile_again,
    events_between,
    fresh_name,
    insertion_point,
    keras_class,
    last_change,
    last_compile_before,
    plan,
    runs_between,
    span,
    visible_name,
    window,
)
from bnlint.script.rules.base import FixPlan
from bnlint.script.rules.common import covers
from bnlint.target import KerasTarget


def offer(facts: Facts, base: Base, change: TrainableChange, fit: Fit | None, target: KerasTarget) -> FixPlan | None:
    """`change` let the BN layers of `base` train; `fit` is the first training call that trains them so."""
    if target.legacy or fit is None or change.site.external:
        return None
    last = last_change(facts, change, fit, lambda event: covers(event, base))
    where = insertion_point(last.site, fit.site)
    if where is None:
        return None
    at = Site(where, last.site.chunk, where, last.site.scope)
    if not visible_name(facts, base.name, at):
        return None
    batch_norm = keras_class(facts, "BatchNormalization", at.chunk.cell)
    if batch_norm is None:
        return None
    layer = fresh_name(facts, "layer", "bn_layer")
    guard = (f"for {layer} in {base.name}.layers:\n"
             f"    if isinstance({layer}, {batch_norm.expression}):\n"
             f"        {layer}.trainable = False\n")
    params = {"window": window(at.chunk), "after": span(at.chunk, where), "guard": guard,
              "import_from": batch_norm.import_from, "import_at": batch_norm.import_at,
              "compile_code": None, "optimizer": None}
    title = f"Keep the BatchNormalization layers of `{base.name}` frozen after unfreezing"
    compiled = any(isinstance(e, Compile) and e.model is fit.model and runs_between(e.site, where, last.site, fit.site)
                   for e in events_between(facts, last, fit))
    if not compiled:
        previous = last_compile_before(facts, fit.model, fit)
        again = compile_again(facts, previous, at) if previous is not None else None
        if again is None:
            return None          # the guard only takes effect at the next compile()
        params.update(again)
        title += ", and compile again"
    return plan(title, "bn002", Applicability.UNSAFE, **params)


def codemod(source, params: dict) -> str:
    from bnlint.script.fixes.tree import compile_statement

    tree = source.tree(params["window"])
    statement = tree.statement(params["after"])
    new = tree.statements(params["guard"])
    if params["compile_code"] is not None:
        new.append(compile_statement(tree, params["compile_code"], params["optimizer"]))
    rewrite = tree.rewrite().insert_after(statement, new)
    if params["import_from"] is not None:
        rewrite.add_import(*params["import_from"], window=params["import_at"])
    return rewrite.code()
