"""Is a BN layer in training mode during fit() under a given Keras? Shared by the model rules.

From the semantics doc (§1, §4):
* standalone Keras 2.x and TF 1.x tf.keras (legacy): `trainable` is never consulted in call();
  a BN normalizes with batch statistics in fit() unless a static `training=False` reaches it: on
  its own call, or (TF 1.x only; standalone rejects it with TypeError) on an enclosing model call.
* tf.keras 2 / tf_keras and Keras >= 3.16: a BN whose own `trainable` is False runs in inference
  mode; a trainable one follows `training`, and a recorded `training=False` on its own call or an
  enclosing model call holds it in inference mode.
* Keras 3.0-3.15: like the above, except that fit()'s `training=True` overrides every recorded
  `training=False` in the functional graph (keras-team/keras#20285; verified for a BN's own call too),
  so only `trainable=False` keeps a BN in inference mode.
"""
from __future__ import annotations

from dataclasses import dataclass

from bnlint.model.graph import Layer, ModelGraph
from bnlint.target import DEFAULT_TARGET, KerasTarget, Semantics

# Source of a target guessed because the file records no keras_version (messages say so).
NO_KERAS_VERSION = "no keras_version in the file"


def resolve_target(graph: ModelGraph, explicit: KerasTarget | None) -> KerasTarget:
    """An explicit --target-keras wins; else the file's writer; else latest Keras 3."""
    if explicit is not None:
        return explicit
    if graph.writer is not None:
        return graph.writer
    return KerasTarget(DEFAULT_TARGET.semantics, f"{NO_KERAS_VERSION}: assumed the latest released Keras 3")


def recorded_hold(layer: Layer) -> bool:
    """Every call of `layer` in its model records `training=False`."""
    return bool(layer.nodes) and all(node.training_false for node in layer.nodes)


@dataclass(frozen=True)
class BNMode:
    layer: Layer
    frozen: bool                    # trainable=False on the layer or recorded on an enclosing model
    trains_in_fit: bool             # normalizes with batch statistics during fit()
    held_by: Layer | None           # the layer/model whose recorded training=False keeps it in inference
    ignored_hold: Layer | None      # a recorded training=False this Keras overrides (or rejects)

    @property
    def own_trainable(self) -> bool:
        return self.layer.trainable is not False


def bn_mode(layer: Layer, target: KerasTarget) -> BNMode:
    frozen = layer.frozen_flag or any(a.trainable is False for a in layer.ancestors())
    own_trainable = layer.trainable is not False
    holds = ([layer] if recorded_hold(layer) else []) + \
            [a for a in layer.ancestors() if a.parent is not None and recorded_hold(a)]
    honoured = [h for h in holds if _honours(target, h is layer, own_trainable)]
    if layer.always_inference_bn:
        trains = False
    elif target.legacy:
        trains = not honoured
    else:
        trains = own_trainable and not honoured
    ignored = next((h for h in holds if h not in honoured), None) if trains else None
    return BNMode(layer, frozen, trains, honoured[0] if honoured else None, ignored)


def _honours(target: KerasTarget, on_own_call: bool, bn_trainable: bool) -> bool:
    sem = target.semantics
    if sem is Semantics.KERAS3_OLD:
        # fit() overrides it once the BN is trainable; a frozen BN is in inference mode anyway.
        return not bn_trainable
    if on_own_call:
        return True
    return target.honours_nested_training_false


def bn_modes(graph: ModelGraph, target: KerasTarget) -> list[BNMode]:
    return [bn_mode(layer, target) for layer in graph.bn_layers()]


def inside_sequential(layer: Layer) -> bool:
    """`layer` is a direct child of a Sequential, where no call kwargs can be recorded."""
    return layer.parent is not None and layer.parent.sequential
