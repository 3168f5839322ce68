"""The format-free model graph every model rule reads.

Readers (bnlint.readers) build it from `.h5`, `.keras` or SavedModel files; rules never see
which format it came from. Layer paths leave out the outermost model's name, so a BN inside a
nested base reads `base/conv1_bn` and a flattened one reads `conv1_bn`.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bnlint.target import KerasTarget

# Keras, tf.keras and tf_keras class names of batch normalization layers. A custom subclass
# keeps its own name, so names ending in "BatchNormalization" count as BN too.
_BN_CLASS_NAMES = frozenset({"BatchNormalization", "BatchNormalizationV1", "BatchNormalizationV2",
                             "SyncBatchNormalization"})
# Well-known subclasses whose call() always normalizes with the moving statistics
# (keras-frcnn FixedBatchNormalization; "FrozenBatchNormalization" helpers, semantics doc §3).
_ALWAYS_INFERENCE_BN_CLASS_NAMES = frozenset({"FixedBatchNormalization", "FrozenBatchNormalization"})
# Layers whose `trainable` says nothing about freezing pretrained weights.
_WEIGHTLESS_CLASS_NAMES = frozenset({"InputLayer"})


@dataclass(frozen=True)
class CallNode:
    """One call of a layer inside its model, in one form for Keras 2 lists and Keras 3 dicts."""

    # (layer name, node index) of each tensor feeding this call, layers of the same model
    inbound: tuple[tuple[str, int], ...]
    kwargs: Mapping[str, Any]            # call kwargs as recorded, tensors removed

    @property
    def training(self) -> Any:
        """The recorded `training` kwarg; None when the call did not pass one."""
        return self.kwargs.get("training")

    @property
    def training_false(self) -> bool:
        # Keras 2 checks `training in {0, False}`; JSON gives `false` (or 0 from old writers).
        value = self.training
        return value is False or (type(value) is int and value == 0)


@dataclass(eq=False)
class Layer:
    name: str
    class_name: str
    config: Mapping[str, Any]
    # The `trainable` recorded in the file; None when the writer did not record it (a nested
    # model in standalone Keras 2.2.4, TF 1.x tf.keras and keras 2.6-2.11).
    trainable: bool | None
    path: str                            # "base/conv1_bn"; "" for the outermost model
    parent: Layer | None = None
    nodes: tuple[CallNode, ...] = ()     # calls inside the parent model (none in a Sequential)
    is_model: bool = False               # a nested Functional / Model / Sequential
    sequential: bool = False             # this model is a Sequential (its layers have no nodes)
    children: list[Layer] = field(default_factory=list)
    depth: int = 0                       # 0 = outermost model, 1 = its layers, ...

    def __repr__(self) -> str:
        return f"Layer({self.path or '<root>'!r}, {self.class_name})"

    @property
    def is_bn(self) -> bool:
        return (self.class_name in _BN_CLASS_NAMES or self.class_name in _ALWAYS_INFERENCE_BN_CLASS_NAMES
                or self.class_name.endswith("BatchNormalization"))

    @property
    def always_inference_bn(self) -> bool:
        """A BN subclass that forces inference mode itself (keras-resnet `freeze=True`, FixedBatchNormalization)."""
        return self.is_bn and (self.class_name in _ALWAYS_INFERENCE_BN_CLASS_NAMES
                               or self.config.get("freeze") is True)

    @property
    def frozen_flag(self) -> bool:
        """The file records `trainable: false` on this very layer."""
        return self.trainable is False

    @property
    def counts_as_pretrained_weights(self) -> bool:
        return not self.is_model and self.class_name not in _WEIGHTLESS_CLASS_NAMES

    @property
    def center(self) -> bool:
        return self.config.get("center", True) is not False

    @property
    def scale(self) -> bool:
        return self.config.get("scale", True) is not False

    def ancestors(self) -> list[Layer]:
        """Enclosing models, nearest first, outermost model last."""
        out, cur = [], self.parent
        while cur is not None:
            out.append(cur)
            cur = cur.parent
        return out

    def walk(self) -> Iterator[Layer]:
        """This layer and everything nested in it, depth-first in config order (no recursion)."""
        stack = [self]
        while stack:
            layer = stack.pop()
            yield layer
            stack.extend(reversed(layer.children))


@dataclass
class BNStatistics:
    """One BN layer's variables as 1-D float64 arrays; gamma/beta are None with scale/center off."""

    moving_mean: Sequence[float]
    moving_variance: Sequence[float]
    gamma: Sequence[float] | None = None
    beta: Sequence[float] | None = None

    def __post_init__(self) -> None:
        # numpy (already loaded with h5py) checks a whole model's channels in milliseconds;
        # Python loops over them took a tenth of a second on EfficientNetB4.
        import numpy

        for name in ("moving_mean", "moving_variance", "gamma", "beta"):
            values = getattr(self, name)
            if values is not None:
                setattr(self, name, numpy.asarray(values, dtype=numpy.float64).reshape(-1))

    @property
    def channels(self) -> int:
        return len(self.moving_variance)

    def at_initial_values(self) -> bool:
        """moving_mean all 0 and moving_variance all 1: the BN never saw a training batch."""
        return bool((self.moving_mean == 0.0).all() and (self.moving_variance == 1.0).all())

    def affine_moved(self) -> bool:
        """gamma/beta differ from their initial 1/0: the layer was trained (or loaded pretrained)."""
        return bool((self.gamma is not None and (self.gamma != 1.0).any()) or
                    (self.beta is not None and (self.beta != 0.0).any()))

    def non_finite(self) -> dict[str, int]:
        """Variable name -> number of NaN/Inf channels, for the variables that have any."""
        import numpy

        counts = {name: int((~numpy.isfinite(values)).sum())
                  for name, values in (("moving_mean", self.moving_mean), ("moving_variance", self.moving_variance),
                                       ("gamma", self.gamma), ("beta", self.beta)) if values is not None}
        return {name: n for name, n in counts.items() if n}

    def negative_variance_channels(self) -> int:
        return int((self.moving_variance < 0).sum())

    def channels_above(self, limit: float) -> int:
        # NaN/Inf compare False except +Inf; finite-only like the NaN/Inf check reports those
        import numpy

        variance = self.moving_variance
        return int((numpy.isfinite(variance) & (variance > limit)).sum())

    def largest_variance(self) -> float:
        return float(self.moving_variance.max()) if len(self.moving_variance) else float("nan")


@dataclass
class WeightsSnapshot:
    """What a reader's weights loader returns: BN variables by layer path, optimizer step count."""

    bn: dict[str, BNStatistics]
    # The saved optimizer's step counter: the steps since the compile() that created it (a
    # recompile with a new optimizer starts again at 0). None = not recorded / not readable.
    optimizer_iterations: int | None = None
    has_optimizer_state: bool = False           # optimizer variables were saved
    # Names of the saved optimizer variables where the file records them (HDF5 `weight_names`,
    # e.g. "training_2/Adam/iter:0"); () for formats that number them instead.
    optimizer_variable_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class SavedOptimizer:
    """The optimizer of the last compile() as the model config records it (training/compile config)."""

    class_name: str | None               # "Adam", "Custom>Adam" (tf_keras)
    name: str | None                     # its `name` config: "adam", "adam_1", "Adam"


@dataclass(eq=False)
class ModelGraph:
    root: Layer
    format: str                                  # "h5", "keras", "savedmodel" (for messages only)
    keras_version: str | None
    writer: KerasTarget | None                   # semantics of the Keras that wrote the file
    has_training_config: bool = False            # compiled when saved (h5 training_config, compile_config)
    optimizer: SavedOptimizer | None = None      # from that training config; None when absent or unreadable
    # Reads the BN variables on demand: rules that need no statistics never touch the datasets.
    weights_loader: Callable[[ModelGraph], WeightsSnapshot] | None = None
    _weights: WeightsSnapshot | None = field(default=None, repr=False)

    def layers(self) -> Iterator[Layer]:
        """Every layer below the outermost model, depth-first in config order."""
        it = self.root.walk()
        next(it)
        return it

    def bn_layers(self) -> list[Layer]:
        return [layer for layer in self.layers() if layer.is_bn]

    def weights(self) -> WeightsSnapshot:
        """BN statistics, loaded on first use. Raises BnlintInputError for corrupt weights."""
        if self._weights is None:
            if self.weights_loader is None:
                self._weights = WeightsSnapshot(bn={})
            else:
                self._weights = self.weights_loader(self)
        return self._weights

    @property
    def nested_freeze_recorded(self) -> bool:
        """Would `base.trainable = False` on a nested model show up in this file?

        tf.keras (TF 1.x and 2.x), tf_keras and Keras 3 propagate it to every inner layer's own
        `trainable`; standalone Keras neither propagates nor saves it (semantics doc §2.2).
        """
        return not (self.writer is not None and self.writer.standalone)
