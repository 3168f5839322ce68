"""BN004: `trainable` changed after `compile()`, then the model is trained without compiling again.

Keras reads `trainable` when it builds the training function at `compile()`: the change does not
take effect for that model until `compile()` is called again.
"""
from __future__ import annotations

from bnlint.script.facts import Base, Compile, Facts, Fit, ModelFact, TrainableChange
from bnlint.script.fixes import bn004 as fix
from bnlint.script.rules.base import Report
from bnlint.script.rules.common import affects
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
                    and affects(event, model):
                pending = event
            elif isinstance(event, Fit) and event.model is model and pending is not None:
                if not pending.site.external:
                    yield Report(CODE, pending.site, _message(pending, model, event),
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


def _name(model) -> str:
    return model.name


def _message(change: TrainableChange, model, fit: Fit) -> str:
    owner = change.owner.name if isinstance(change.owner, (Base, ModelFact)) else "a layer"
    subject = f"`{owner}.trainable`" if owner != "a layer" else "a layer's `trainable`"
    return f"{subject} set after `{_name(model)}.compile()`: `{_name(model)}.{fit.method}()` still uses the old value"
