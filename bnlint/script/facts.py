"""What the one traversal of a script learns, in program order. Rules read only these.

A *base* is a pretrained model object created in the script (a `keras.applications`
constructor, a model zoo's constructor, or `load_model`). *Events* are what the script does with bases and models, in the
order the program does it.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field

from bnlint.script.applications import Family, names_bn_architecture
from bnlint.script.chunks import Chunk


@dataclass(frozen=True)
class Site:
    """A node and the chunk it was parsed in (positions are resolved only for findings)."""

    node: ast.AST = field(repr=False)
    chunk: Chunk = field(repr=False)
    statement: ast.AST = field(repr=False)   # the enclosing statement (a suppression comment goes on its first line)
    scope: object = field(repr=False)            # the function/module body the node runs in
    # For a node in another module of the project: the line of this file whose call led there
    # (a finding about it is reported on that line).
    anchor: "Site | None" = field(default=None, repr=False)

    @property
    def external(self) -> bool:
        return self.chunk.external

    @property
    def reportable(self) -> "Site | None":
        """Where a finding about this node goes in the file being checked (None: nowhere)."""
        return self if not self.chunk.external else self.anchor


@dataclass(eq=False)
class Base:
    architecture: str                 # "ResNet50", or "load_model" for a loaded model
    family: Family | None
    weights: str                      # "imagenet" | "path" | "none" | "unknown"
    site: Site                        # the constructor call
    name: str = "<base>"              # first variable it was bound to
    input_shape: ast.expr | None = None   # literal `input_shape=` of the constructor
    input_tensor: bool = False        # built on an existing `Input` via `input_tensor=`
    input_tensor_arg: ast.keyword | None = None
    include_preprocessing: bool | None = None
    used_as_base: bool = False        # wired into another model, called or frozen
    named_at_module: bool = False
    # Every `.output` read of the base, wherever it flows (a fix may only rewrite a lone one).
    output_reads: list = field(default_factory=list)
    include_top: bool = True          # literal `include_top=` (the default builds the classifier)
    pooling: bool = False             # `pooling="avg"|"max"` adds one layer to a top-less base
    # A feature extractor cut out of another base (`Model(base.input, base.get_layer(n).output)`).
    derived_from: "Base | None" = None
    # Model zoos (bnlint/script/applications.py): who built it, and what the constructor did.
    provider: str = "keras.applications"  # "segmentation_models", "keras_hub", ... ("load_model")
    whole_model_pretrained: bool = True     # False: a new decoder with its own BN around a pretrained encoder
    freezes_all_but_bn: bool = False        # sm's `encoder_freeze=True`: BN left trainable by the constructor
    decoder_bn_prefixes: tuple[str, ...] = ()   # names of the BN layers the zoo's decoder adds
    backbone_attribute: str | None = None  # keras_hub tasks: `task.backbone` is the pretrained part
    loaded_from: str | None = None    # load_model's literal path

    @property
    def loaded(self) -> bool:
        return self.architecture == "load_model"

    @property
    def pretrained(self) -> bool:
        return self.weights != "none"

    @property
    def has_bn(self) -> bool:
        # A loaded model's layers are unknown: it holds BN when its file's name names a BN
        # architecture (`imagenet_resnet.h5`); a checkpoint of the project's own model may have none.
        return self.family.has_bn if self.family else self.loaded and names_bn_architecture(self.loaded_from)

    @property
    def pretrained_bn_base(self) -> bool:
        return self.pretrained and self.has_bn and (not self.loaded or self.used_as_base)


@dataclass(eq=False)
class ModelFact:
    """A model the script builds (functional, Sequential, subclassed) or loads."""

    site: Site
    name: str = "<model>"
    kind: str = "functional"          # "functional" | "sequential" | "subclass" | "loaded"
    components: list["Component"] = field(default_factory=list)
    base: Base | None = None          # a loaded model is also a base
    named_at_module: bool = False
    layer_count: int | None = 0       # sequential: layers added so far (None: unknown)
    # fit() runs the layers in training mode: False for a subclassed model whose own train_step
    # never passes `training=True` (BN then normalises with the moving statistics).
    fit_trains_bn: bool = True
    # Built from Inputs by code that also builds BatchNormalization layers (the project's own
    # architecture): `load_weights` makes it a pretrained BN base (`base`).
    builds_bn: bool = False

    def bases(self) -> list[Base]:
        found = [c.base for c in self.components]
        if self.base is not None:
            found.append(self.base)
        return list(dict.fromkeys(found))


@dataclass(eq=False)
class Component:
    """How a base ends up inside a model."""

    base: Base
    kind: str                         # "flattened" | "nested"
    # flattened: the `base.output` / intermediate references the head starts from
    output_refs: tuple[Site, ...] = ()
    intermediate: bool = False        # head starts from `get_layer(...).output` / `layers[i].output`
    inputs_site: Site | None = None   # the `inputs=` argument of the Model call
    inputs_is_base_input: bool = False
    call: "BaseCall | None" = None    # nested: the call that put it there
    head_layers: int | None = 0       # layers the script chains after the base's output (None: unknown)
    # nested: the base's index in `model.layers` when the model is one simple chain (else None)
    layer_index: int | None = None


@dataclass(eq=False)
class BaseCall:
    """A base called as a layer: `base(x)`, `base(x, training=False)`, `TimeDistributed(base)(x)`."""

    base: Base
    site: Site                        # the call
    training: str                     # "absent" | "false" | "true" | "forwarded" | "other"
    training_arg: ast.keyword | None = None
    # Builds a model: called on a symbolic tensor (`Input`, another layer's output) or inside a
    # subclassed model's method. `base(image_batch)` on data just runs inference.
    symbolic: bool = False
    # Layers between the model's Input and this call along one chain (`Input` itself: 0).
    input_depth: int | None = None
    # In the `call()` of a subclassed Keras model: Python runs it on every call, so an explicit
    # `training=False` there is what the base gets (a Functional model replays its recorded
    # calls with fit()'s `training` instead on Keras 3.0-3.15, keras-team/keras#20285).
    in_subclass_call: bool = False


@dataclass(eq=False)
class Event:
    site: Site


@dataclass(eq=False)
class TrainableChange(Event):
    """`x.trainable = value` on a base, a model, or (some of) their layers."""

    owner: object = None              # Base | ModelFact
    value: bool | None = None         # None: not a literal
    whole: bool = True                # False: only some layers (slice, index, name test)
    bn: str = "all"                   # which layers by BN-ness: "all" | "bn_only" | "non_bn"
    via_model_layers: bool = False    # indexes into model.layers (breaks if the model is rewired)


@dataclass(eq=False)
class Compile(Event):
    model: object = None              # ModelFact | Base


@dataclass(eq=False)
class Fit(Event):
    model: object = None
    method: str = "fit"
    # What fixes the number of optimizer steps, where the call shows it literally (BN007). None:
    # not given (Keras' default applies) for epochs/batch_size; unknown for the others.
    epochs: int | None = None
    initial_epoch: int | None = None     # fit() trains epochs - initial_epoch epochs
    steps_per_epoch: int | None = None
    batch_size: int | None = None
    validation_split: float | None = None
    samples: int | None = None           # rows of `x` when built by numpy with a literal shape
    counts_known: bool = True            # False: one of the above is given but not a literal
    repeated: bool = False               # in a loop body or a function never called in the file


@dataclass(eq=False)
class LearningPhase(Event):
    value: str = "other"              # "0" | "1" | "other"


@dataclass
class ImportFacts:
    # Keras packages the script's Keras calls resolve to ("keras", "tensorflow.keras", "tf_keras"),
    # in program order, and those its imports name ("tensorflow" for a bare `import tensorflow`).
    keras_roots: list[str] = field(default_factory=list)
    import_roots: list[str] = field(default_factory=list)
    # Keras packages the project modules the script imports name (when the script itself names none).
    project_roots: list[str] = field(default_factory=list)
    # Top-level imports of a Keras package: where a fix may add `from ... import Input`.
    import_sites: list = field(default_factory=list)
    # API that dates the script (era_signals.EraSignal), in table order: decides the target
    # when neither configuration nor pins do.
    era_signals: list = field(default_factory=list)


@dataclass
class Facts:
    bases: list[Base] = field(default_factory=list)
    models: list[ModelFact] = field(default_factory=list)
    base_calls: list[BaseCall] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    imports: ImportFacts = field(default_factory=ImportFacts)
    preprocessing_visible: bool = False
    target_inferred: bool = True                   # no --target-keras / project pin: guessed from imports
    sources: list = field(default_factory=list)      # ParsedSource of the file (or of each cell)
    module_names: dict = field(default_factory=dict)  # module-level name -> abstract value (spelling `Input`)
    # Events from this index on come from functions and classes the file never calls (run once at
    # the end): a caller elsewhere decides when they run, so they have no order against fit().
    uncalled_from: int | None = None
    max_stale_bn_weight: float = 0.5                 # BN007 threshold (config `max-stale-bn-weight`)

    def uses_name(self, name: str) -> bool:
        """Does the file (any cell) use `name`? Only fixes ask, for a fresh name."""
        return any(source.uses_name(name) for source in self.sources)

    def ordered(self, event) -> bool:
        """Is the event's place in program order known (not in a never-called function)?"""
        return self.uncalled_from is None or self.events.index(event) < self.uncalled_from

    def models_holding(self, base: Base) -> list[ModelFact]:
        return [m for m in self.models if base in m.bases()]

    def owner_bases(self, owner) -> list[Base]:
        if isinstance(owner, Base):
            return [owner]
        if isinstance(owner, ModelFact):
            return owner.bases()
        return []
