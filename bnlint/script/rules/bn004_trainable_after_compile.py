"""BN004: `trainable` changed after `compile()`, then the model is trained without compiling again.

Keras reads `trainable` when it builds the training function at `compile()`: the change does not
take effect for that model until `compile()` is called again.
"""
from __future__ import annotations

from bnlint.script.facts import Base, Compile, Facts, Fit, ModelFact, TrainableChange
from bnlint.script.fixes import bn004 as fix
from bnlint.script.rules.base import Report
from bnlint.script.rules.common import covers
from bnlint.target import KerasTarget

CODE = "BN004"


def check(facts: Facts, target: KerasTarget):
    compiled = [e.model for e in facts.events if isinstance(e, Compile)]
    for model in dict.fromkeys(compiled):
        if not _fine_tuned(model):
            # A GAN freezes its discriminator after compiling it on purpose: only transfer
            # learning (a pretrained base, or a loaded model) is in scope.
            continue
        last_compile = None
        pending: TrainableChange | None = None
        for event in facts.events:
            if isinstance(event, Compile) and event.model is model:
                last_compile, pending = event, None
            elif isinstance(event, TrainableChange) and last_compile is not None and pending is None \
                    and _affects(event, model):
                pending = event
            elif isinstance(event, Fit) and event.model is model and pending is not None:
                if not pending.site.external:
                    yield Report(CODE, pending.site, _message(pending, model, last_compile, event),
                                 f"Call `{_name(model)}.compile(...)` again after changing `trainable` and "
                                 "before training (with a low learning rate when fine-tuning).",
                                 fix=fix.offer(facts, model, pending, last_compile, event, target),
                                 related=((last_compile.site, "compiled here"),
                                          (event.site, "trained here without compiling again")))
                pending = None


def _fine_tuned(model) -> bool:
    if isinstance(model, Base):
        return model.pretrained
    return any(base.pretrained for base in model.bases())


def _affects(change: TrainableChange, model) -> bool:
    if change.owner is model:
        return True
    if isinstance(model, ModelFact):
        return any(covers(change, base) or change.owner is base for base in model.bases())
    return False


def _name(model) -> str:
    return model.name


def _where(site) -> str:
    line = site.chunk.position(site.node)[0]
    return f"line {line}" if site.chunk.cell is None else f"cell {site.chunk.cell}, line {line}"


def _message(change: TrainableChange, model, compile_event: Compile, fit: Fit) -> str:
    what = "set to True" if change.value is True else "set to False" if change.value is False else "changed"
    compile_line = _where(compile_event.site)
    fit_line = _where(fit.site)
    owner = change.owner.name if isinstance(change.owner, (Base, ModelFact)) else "a layer"
    return (f"`trainable` of `{owner}` is {what} after `{_name(model)}.compile()` ({compile_line}), and "
            f"`{_name(model)}.{fit.method}()` ({fit_line}) trains without compiling again: the change "
            "does not take effect for this model until `compile()` is called again, so layers stay as "
            "frozen (or trainable) as they were at compile time")
