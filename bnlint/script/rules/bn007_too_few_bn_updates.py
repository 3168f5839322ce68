"""BN007: a fine-tune trains a pretrained base's BN layers for too few steps to move their statistics.

Replays the script's trainable changes in program order; at each fit() of a model holding the
base where its BN layers update their moving statistics (trainable, and not held by a nested
`training=False` the target honours), adds that call's steps: `epochs * steps_per_epoch`, or
`epochs * ceil(samples / batch_size)` with the rows of a literal-shaped numpy array (Keras'
defaults: 1 epoch, batch size 32). Any such fit() with an unknown count (or in a loop, or in a
function the file never calls): no finding. Reported at
the last such fit() when momentum**steps (bnlint.staleness) is above `max-stale-bn-weight`.
"""
from __future__ import annotations

import math

from bnlint.script.facts import Base, Facts, Fit, TrainableChange
from bnlint.script.rules.base import Report
from bnlint.script.rules.common import code_name, covers, describe, is_transfer_base
from bnlint.staleness import DEFAULT_MOMENTUM, percent, stale_weight, updates_needed
from bnlint.target import KerasTarget

CODE = "BN007"
_KERAS_DEFAULT_BATCH_SIZE = 32


def _steps(fit: Fit) -> tuple[int, str] | None:
    """(optimizer steps of this call, how they were counted), or None when not statically known."""
    if not fit.counts_known or fit.repeated or fit.method == "train_on_batch":
        return None
    epochs = max(0, (1 if fit.epochs is None else fit.epochs) - (fit.initial_epoch or 0))
    if fit.steps_per_epoch is not None:
        per_epoch, how = fit.steps_per_epoch, f"{fit.steps_per_epoch} step{'s' if fit.steps_per_epoch != 1 else ''}"
    elif fit.samples is not None and fit.method == "fit":
        samples = fit.samples
        if fit.validation_split:
            samples = int(samples * (1.0 - fit.validation_split))
        batch = fit.batch_size or _KERAS_DEFAULT_BATCH_SIZE
        per_epoch = math.ceil(samples / batch) if samples else 0
        how = f"{per_epoch} step{'s' if per_epoch != 1 else ''} of {samples} samples at batch size {batch}"
    else:
        return None
    return epochs * per_epoch, f"{epochs} epoch{'s' if epochs != 1 else ''} x {how}"


def _holds_model(facts: Facts, base: Base, model) -> bool:
    return model is base or model in facts.models_holding(base)


def _nested_false_holds_trainable_bn(target: KerasTarget) -> bool:
    """A nested `base(x, training=False)` keeps trainable BN layers in inference mode: tf.keras 2 /
    tf_keras, Keras >= 3.16, and TF 1.x (its V1 BN ignores `trainable` but honours `training`)."""
    return target.honours_nested_training_false_when_trainable or (
        target.legacy and target.honours_nested_training_false)


def _held_by_training_false(facts: Facts, base: Base, target: KerasTarget) -> bool:
    nested_false = any(call.base is base and call.training == "false" for call in facts.base_calls)
    return nested_false and _nested_false_holds_trainable_bn(target)


def check(facts: Facts, target: KerasTarget):
    limit = facts.max_stale_bn_weight
    for base in facts.bases:
        if not is_transfer_base(facts, base) or _held_by_training_false(facts, base, target):
            continue
        momentum = base.family.bn_momentum if base.family else DEFAULT_MOMENTUM
        bn_updates = True           # a new keras.applications model is trainable
        total, counted, last = 0, [], None
        for event in facts.events:
            if isinstance(event, TrainableChange) and covers(event, base):
                if event.value is None:
                    bn_updates = None                    # unknown from here on
                elif event.value is True and event.bn != "non_bn":
                    bn_updates = True
                elif event.value is False and (event.bn == "bn_only" or (event.bn == "all" and event.whole)):
                    # a BN guard, or the whole base frozen (a slice leaves later BN layers training)
                    bn_updates = target.frozen_bn_updates_statistics
            elif isinstance(event, Fit) and _holds_model(facts, base, event.model) and bn_updates is not False:
                steps = None if bn_updates is None else _steps(event)
                if steps is None:
                    break                                # an unknown count: say nothing
                total += steps[0]
                counted.append(steps[1])
                last = event
        else:
            if last is None or last.site.external or total < 1 or stale_weight(momentum, total) > 1.0:
                continue
            if stale_weight(momentum, total) > limit:
                yield Report(CODE, last.site, _message(base, total, momentum), _help(base, target, momentum, limit),
                             related=((last.site, f"steps counted: {' + '.join(counted)}"),))


def _message(base: Base, total: int, momentum: float) -> str:
    return (f"{describe(base)} trains BN only {total} step{'s' if total != 1 else ''}: {momentum:g}^{total} = "
            f"{percent(stale_weight(momentum, total))} of its statistics stay stale, predict() lags fit()")


def _help(base: Base, target: KerasTarget, momentum: float, limit: float) -> str:
    name = code_name(base)
    if target.standalone:
        inference = "Call the BN layers with `training=False` (a BatchNormalization subclass whose `call` passes it)."
    elif _nested_false_holds_trainable_bn(target):
        inference = f"Nest the base as `{name}(inputs, training=False)` or keep its BN layers frozen."
    else:
        inference = f"Keep the BN layers of `{name}` frozen (`trainable = False`) while fine-tuning."
    return (f"{inference} Or train at least {updates_needed(momentum, limit)} steps (momentum {momentum:g}), or "
            "re-estimate the statistics (`bnlint rule BN007`).")
