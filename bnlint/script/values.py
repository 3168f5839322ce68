"""Abstract values the collector tracks for names and expressions.

An expression evaluates to a tuple of atoms (its possible meanings); most expressions evaluate
to () because they have nothing to do with a pretrained base.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field

from bnlint.script.chunks import Chunk
from bnlint.script.facts import Base, BaseCall, ModelFact, Site

Value = tuple


@dataclass(frozen=True, eq=False)
class QName:
    """An imported module or object: `keras.applications.ResNet50`."""

    name: str
    # Used without an import (a fragment): it names the API but says nothing of which Keras.
    implicit: bool = False

    @property
    def parts(self) -> list[str]:
        return self.name.split(".")

    @property
    def last(self) -> str:
        return self.parts[-1]

    @property
    def keras_root(self) -> str | None:
        """Which Keras the name comes from: "keras", "tensorflow.keras", "tf_keras" (or None)."""
        parts = self.parts
        if parts[0] == "tf_keras":
            return "tf_keras"
        if parts[0] in ("keras", "keras_core"):      # keras_core: the Keras 3 preview package
            return "keras"
        if parts[0] == "tensorflow":
            if "keras" in parts[1:4]:
                return "tensorflow.keras"
        return None


@dataclass(frozen=True, eq=False)
class BaseV:
    base: Base


@dataclass(frozen=True, eq=False)
class ModelV:
    model: ModelFact


@dataclass(frozen=True, eq=False)
class GraphTensor:
    """A tensor of the base's own graph (`base.output`, `get_layer(..).output`) or derived from it."""

    base: Base
    refs: tuple[Site, ...]
    intermediate: bool
    raw: bool = True                  # the base's own tensor, not yet passed through another layer
    depth: int = 0                    # layers applied since the base's output (the head so far)


@dataclass(frozen=True, eq=False)
class BaseInput:
    """The base's input tensor (`base.input`, `base.inputs`, `base.layers[0].input`)."""

    base: Base


@dataclass(frozen=True, eq=False)
class NestedTensor:
    """Output of calling a base as a layer."""

    call: BaseCall
    depth: int | None = 0             # layers applied since the base (None: not a simple chain)


@dataclass(frozen=True, eq=False)
class Layers:
    """`owner.layers`, possibly sliced or filtered; iterating gives `Layer`s."""

    owner: object                     # Base | ModelFact
    whole: bool = True
    bn: str = "all"                   # "all" | "bn_only" | "non_bn"
    via_model: bool = False
    index: int | None = None


@dataclass(frozen=True, eq=False)
class Layer(Layers):
    """One (or each, in a loop) layer of `owner`."""


@dataclass(frozen=True, eq=False)
class Wrapped:
    """`TimeDistributed(base)`: calling it calls the base."""

    base: Base


@dataclass(frozen=True, eq=False)
class Method:
    receiver: object                  # BaseV | ModelV | Instance
    name: str


@dataclass(frozen=True, eq=False)
class Function:
    node: ast.FunctionDef | ast.AsyncFunctionDef
    chunk: Chunk
    env: "Env"
    defaults: dict


@dataclass(frozen=True, eq=False)
class Class:
    node: ast.ClassDef
    chunk: Chunk
    env: "Env"
    bases: tuple = ()                 # the user classes it derives from (for inherited methods)
    keras_layer: bool = False         # derives from a Keras Model/Layer: Keras runs its build()/call()

    def method(self, name: str, _depth: int = 0, skip_self: bool = False):
        """(def, class) of `name` as Python finds it: this class's body, then its bases in order
        (only the bases with `skip_self`, as `super()` does)."""
        for stmt in () if skip_self else self.node.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name == name:
                return stmt, self
        if _depth < 8:
            for base in self.bases:
                found = base.method(name, _depth + 1)
                if found is not None:
                    return found
        return None

    def method_names(self, _depth: int = 0) -> list[str]:
        names = [s.name for s in self.node.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))]
        if _depth < 8:
            for base in self.bases:
                names += [n for n in base.method_names(_depth + 1) if n not in names]
        return names


@dataclass(eq=False)
class Instance:
    cls: Class
    model: ModelFact
    attrs: dict = field(default_factory=dict)
    called: set = field(default_factory=set)      # methods the program called on it


@dataclass(frozen=True, eq=False)
class Super:
    """`super()` inside a method of `owner` running on `instance`."""

    instance: "Instance"
    owner: Class


@dataclass(frozen=True, eq=False)
class Module:
    """A sibling module of the project, read from disk."""

    env: "Env"


@dataclass(frozen=True, eq=False)
class Const:
    value: object


@dataclass(frozen=True, eq=False)
class TrainingParam:
    """The `training` parameter of a `call` method: forwarding it is not `training=False`."""


@dataclass(frozen=True, eq=False)
class Seq:
    """A list/tuple literal: items kept for unpacking and for `Sequential([...])`; a dict literal
    (`mapping`): its values, any of which a subscript may pick."""

    items: tuple
    mapping: bool = False


@dataclass(frozen=True, eq=False)
class Count:
    """`len(layers) + offset`: the length of a layer selection (`len(model.layers) - 2`)."""

    layers: Layers
    offset: int = 0


@dataclass(frozen=True, eq=False)
class IndexRange:
    """The index of `for i in range(lower, upper)`; bounds are abstract values (Const, Count; () unknown)."""

    lower: tuple
    upper: tuple


@dataclass(frozen=True, eq=False)
class KerasInput:
    """`Input(...)`: becomes the base's input if passed as `input_tensor=`."""

    site: Site
    # Layers applied since the Input along one chain, which is the index in `model.layers` of the
    # last of them (the InputLayer is layer 0); None once tensors merge or pass through an op.
    depth: int | None = 0


@dataclass(frozen=True, eq=False)
class Rows:
    """A numpy array built with a literal shape (`np.zeros((12, 224, 224, 3))`): its first dimension."""

    count: int


# Atoms that flow through layer calls and arithmetic (a tensor derived from them).
TENSORS = (GraphTensor, NestedTensor, BaseInput, KerasInput)


def atoms(value) -> list:
    """Flatten Seq items (Model inputs/outputs may be lists)."""
    out = []
    for atom in value:
        if isinstance(atom, Seq):
            for item in atom.items:
                out.extend(atoms(item))
        else:
            out.append(atom)
    return out


def _identity(atom) -> object:
    # Tensors of a chain are remade at every layer: two of them are the same tensor when they
    # come from the same Input or base call at the same position.
    if isinstance(atom, KerasInput):
        return (KerasInput, id(atom.site), atom.depth)
    if isinstance(atom, NestedTensor):
        return (NestedTensor, id(atom.call), atom.depth)
    return id(atom)


def union(*values) -> tuple:
    seen: dict[object, object] = {}
    for value in values:
        for atom in value:
            seen.setdefault(_identity(atom), atom)
    return tuple(seen.values())


def tensors(value) -> tuple:
    return tuple(a for a in atoms(value) if isinstance(a, TENSORS))


def derived(*values) -> tuple:
    """The tensors of a layer applied to `values`: the base's own tensors are no longer raw, and
    one more layer lies between the model's Input (or a nested base) and them."""
    found = union(*(tensors(value) for value in values))
    # A layer merging several tensors (Concatenate, Add) has no one position in a chain.
    chain = len([a for a in found if isinstance(a, (KerasInput, NestedTensor))]) == 1
    out = []
    for a in found:
        if isinstance(a, GraphTensor):
            a = GraphTensor(a.base, a.refs, a.intermediate, False, a.depth + 1)
        elif isinstance(a, KerasInput):
            a = KerasInput(a.site, a.depth + 1 if chain and a.depth is not None else None)
        elif isinstance(a, NestedTensor):
            a = NestedTensor(a.call, a.depth + 1 if chain and a.depth is not None else None)
        out.append(a)
    return tuple(out)


def unchained(value) -> tuple:
    """Tensors that went through an op bnlint does not count as a layer (arithmetic, tf ops: a layer
    in some Keras versions, not in others): their position in a chain is unknown."""
    out = []
    for a in value:
        if isinstance(a, KerasInput) and a.depth is not None:
            a = KerasInput(a.site, None)
        elif isinstance(a, NestedTensor) and a.depth is not None:
            a = NestedTensor(a.call, None)
        out.append(a)
    return tuple(out)


class Env:
    """Names of one scope; lookups fall back to the enclosing module scope."""

    def __init__(self, parent: "Env | None" = None, overlay: dict | None = None):
        self.vars: dict[str, tuple] = {}
        self.parent = parent
        # An overlay (branch of a BN test) refines a few names but writes through to its parent.
        self.overlay = overlay
        self.globals: set[str] = set()     # `global name` in a function: writes go to the module

    def get(self, name: str) -> tuple:
        env = self
        while env is not None:
            if env.overlay is not None and name in env.overlay:
                return env.overlay[name]
            if name in env.vars:
                return env.vars[name]
            env = env.parent
        return ()

    def bound(self, name: str) -> bool:
        env = self
        while env is not None:
            if (env.overlay is not None and name in env.overlay) or name in env.vars:
                return True
            env = env.parent
        return False

    def set(self, name: str, value: tuple) -> None:
        if name in self.globals:
            module = self
            while module.parent is not None:
                module = module.parent
            module.vars[name] = value
            return
        if self.overlay is not None:
            if name in self.overlay:
                self.overlay[name] = value
            else:
                self.parent.set(name, value)
            return
        self.vars[name] = value
