"""The one pass over a parsed script that turns code into facts (bases, models, events).

It is a small abstract interpreter: statements are executed in program order, names are bound to
abstract values (`values.py`), and whatever the rules need is recorded in `Facts`. Functions are
executed when they are called (with the abstract arguments), so events inside them land in program
order; functions and classes that are never called are executed once at the end. Branches are both
executed, loops once.
"""
from __future__ import annotations

import ast
import pathlib
import re

from bnlint.errors import BnlintInputError
from bnlint.script.applications import (
    FAMILIES,
    SEGMENTATION_MODELS,
    SM_DECODER_BN_PREFIXES,
    ZOO_ROOTS,
    ZooCall,
    classifiers_get,
    family_of,
    preset_architecture,
    sm_architecture,
    zoo_call,
    zoo_utility,
)
from bnlint.script.chunks import Chunk, parse_python
from bnlint.script.layer_maps import layer_map, selection
from bnlint.script.project import module_candidates
from bnlint.script.target_inference import note_era_signals
from bnlint.script.facts import (
    Base,
    BaseCall,
    Compile,
    Component,
    Facts,
    Fit,
    LearningPhase,
    ModelFact,
    Site,
    TrainableChange,
)
from bnlint.script.fit_counts import fit_counts, numpy_rows
from bnlint.script.source import decode_script
from bnlint.script.values import (
    BaseInput,
    BaseV,
    Class,
    Const,
    Env,
    Function,
    GraphTensor,
    Instance,
    KerasInput,
    Layer,
    Layers,
    Method,
    ModelV,
    Module,
    NestedTensor,
    QName,
    Rows,
    Seq,
    Super,
    TrainingParam,
    Wrapped,
    atoms,
    derived,
    tensors,
    union,
)

_FIT_METHODS = {"fit", "fit_generator", "train_on_batch"}
_KERAS_CLASSES = {"Model", "Functional", "Sequential", "Layer", "Network"}
# Names a fragment may use without importing them, and the Keras API they mean.
_IMPLICIT = {
    "keras": "keras", "tf": "tensorflow", "K": "keras.backend", "layers": "keras.layers",
    "Model": "keras.models.Model", "Sequential": "keras.models.Sequential", "Input": "keras.layers.Input",
    "load_model": "keras.models.load_model", "BatchNormalization": "keras.layers.BatchNormalization",
    **{name: f"keras.applications.{name}" for name in FAMILIES},
}
# A test on a layer that selects BatchNormalization layers (isinstance, class name, layer name).
_BN_TEST = re.compile(r"batch_?norm|BatchNorm|['\"][^'\"\n]{0,12}\bbn\b[^'\"\n]{0,12}['\"]|['\"][^'\"\n]*_bn['\"]|['\"]bn_", re.I)
_MAX_CALL_DEPTH = 6
_IMPORT_DEPTH = 3          # script -> module -> module -> module
_FUNCTION_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef)
_TRY_STATEMENTS = (ast.Try, ast.TryStar) if hasattr(ast, "TryStar") else (ast.Try,)
_MAX_FUNCTION_RUNS = 400


class _Return(Exception):
    """A `return` was reached: the rest of the straight-line code of the function does not run."""


class Collector:
    def __init__(self, facts: Facts, path: pathlib.Path | None, follow_imports: int = _IMPORT_DEPTH,
                 extra_folders: tuple = (), siblings: dict | None = None, anchor: Site | None = None):
        self.facts = facts
        self.path = path
        # How many levels of project-local imports to read from here (0: none).
        self.follow_imports = follow_imports
        self.extra_folders = extra_folders         # `sys.path.append("...")` folders of the script
        self.module_env = Env()
        self._chunk: Chunk | None = None
        self._statement: ast.stmt | None = None
        self._scope: object = "module"
        self._frames: list[list] = []           # return values of the functions being run
        self._active: list[ast.FunctionDef] = []
        self._runs = 0
        self._called: set[int] = set()
        self._defined: list[object] = []        # Function | Class, to run the never-called ones
        # Project modules read so far (shared with the collectors of imported modules).
        self._siblings: dict[pathlib.Path, Env | None] = {} if siblings is None else siblings
        self._in_method = False                 # running a method of a class (a subclassed model)
        self._instances: list[Instance] = []
        # (class, instance) of the method running, innermost last (for `super()`)
        self._owners: list[tuple[Class, Instance]] = []
        # Sites in this file from which the running code of another project module was called
        # (a module imported from this file runs, at import time, on behalf of the import line).
        self._anchors: list[Site] = [anchor] if anchor is not None else []
        self._repeated = 0                      # inside a loop body or a never-called function (BN007)

    # --- entry points ----------------------------------------------------------------------

    def run(self, chunks: list[Chunk], run_uncalled: bool = True) -> Env:
        for chunk in chunks:
            self._chunk = chunk
            self._exec_body(chunk.body, self.module_env)
        if run_uncalled:
            self._run_uncalled()
        return self.module_env

    def _run_uncalled(self) -> None:
        self.facts.uncalled_from = len(self.facts.events)
        for definition in list(self._defined):
            if id(definition) in self._called or definition.chunk.external:
                continue
            self._chunk, self._statement, self._scope = definition.chunk, definition.node, "module"
            if isinstance(definition, Function):
                self._call_function(definition, [], {}, None)
            else:
                self._instantiate(definition, [], {}, definition.node)
        # Then the methods nobody called on the instances made so far (a library class's API).
        for instance in list(self._instances):
            for name in instance.cls.method_names():
                if name not in instance.called and not (name.startswith("__") and name.endswith("__")):
                    self._chunk, self._statement, self._scope = instance.cls.chunk, instance.cls.node, "module"
                    self._run_method(instance, name, [], {}, instance.cls.node)

    # --- statements ------------------------------------------------------------------------

    def _site(self, node: ast.AST) -> Site:
        return Site(node, self._chunk, self._statement or node, self._scope, self._anchor_for(self._chunk))

    def _anchor_for(self, chunk) -> Site | None:
        return self._anchors[-1] if chunk.external and self._anchors else None

    def _exec_body(self, body: list[ast.stmt], env: Env) -> None:
        for stmt in body:
            self._exec_stmt(stmt, env)

    def _exec_stmt(self, stmt: ast.stmt, env: Env) -> None:
        outer = self._statement
        self._statement = stmt
        try:
            if isinstance(stmt, _FUNCTION_DEFS):
                function = self._function(stmt, env)
                self._defined.append(function)
                env.set(stmt.name, (function,))
            elif isinstance(stmt, ast.ClassDef):
                parents = [a for b in stmt.bases for a in self._eval(b, env)]
                bases = tuple(a for a in parents if isinstance(a, Class))
                keras_layer = any(isinstance(a, QName) and a.last in _KERAS_CLASSES for a in parents) \
                    or any(b.keras_layer for b in bases)
                cls = Class(stmt, self._chunk, env, bases, keras_layer)
                self._defined.append(cls)
                env.set(stmt.name, (cls,))
            elif isinstance(stmt, ast.If):
                self._exec_if(stmt, env)
            elif isinstance(stmt, (ast.For, ast.AsyncFor)):
                self._repeated += 1             # an exception aborts the whole file anyway
                self._maybe(self._exec_for, stmt, env)
                self._repeated -= 1
            elif isinstance(stmt, ast.While):
                self._eval(stmt.test, env)
                self._repeated += 1
                self._maybe(self._exec_body, stmt.body, env)
                self._repeated -= 1
                if stmt.orelse:
                    self._maybe(self._exec_body, stmt.orelse, env)
            elif isinstance(stmt, (ast.With, ast.AsyncWith)):
                for item in stmt.items:
                    value = self._eval(item.context_expr, env)
                    if item.optional_vars is not None:
                        self._assign(item.optional_vars, value, env)
                self._exec_body(stmt.body, env)
            elif isinstance(stmt, _TRY_STATEMENTS):
                self._exec_body(stmt.body, env)
                for handler in stmt.handlers:
                    self._maybe(self._exec_body, handler.body, env)
                self._exec_body(stmt.orelse, env)
                self._exec_body(stmt.finalbody, env)
            elif isinstance(stmt, ast.Match):
                self._eval(stmt.subject, env)
                for case in stmt.cases:
                    self._maybe(self._exec_body, case.body, env)
            else:
                self._exec_simple(stmt, env)
        finally:
            self._statement = outer

    def _function(self, stmt, env: Env, chunk=None) -> Function:
        arguments = stmt.args
        defaults = {}
        positional = [*arguments.posonlyargs, *arguments.args]
        with_default = positional[len(positional) - len(arguments.defaults):]
        for param, default in [*zip(with_default, arguments.defaults),
                               *zip(arguments.kwonlyargs, arguments.kw_defaults)]:
            if default is not None:
                defaults[param.arg] = self._eval(default, env)
        return Function(stmt, chunk or self._chunk, env, defaults)

    @staticmethod
    def _maybe(run, *args) -> bool:
        """Run code that may not execute at all (a loop body, one of several branches): a
        `return` inside it does not end the function. True if it returned."""
        try:
            run(*args)
        except _Return:
            return True
        return False

    def _exec_simple(self, small: ast.stmt, env: Env) -> None:
        if isinstance(small, ast.Assign):
            value = self._eval(small.value, env)
            for target in small.targets:
                self._assign(target, value, env, small.value)
        elif isinstance(small, ast.AnnAssign):
            if small.value is not None:
                self._assign(small.target, self._eval(small.value, env), env, small.value)
        elif isinstance(small, (ast.AugAssign, ast.Expr)):
            self._eval(small.value, env)
        elif isinstance(small, ast.Return):
            if small.value is not None and self._frames:
                self._frames[-1].append(self._eval(small.value, env))
            if self._frames:
                raise _Return
        elif isinstance(small, ast.Global):
            env.globals.update(small.names)
        elif isinstance(small, ast.Import):
            self._import(small, env)
        elif isinstance(small, ast.ImportFrom):
            self._import_from(small, env)

    def _exec_if(self, stmt: ast.If, env: Env) -> None:
        self._eval(stmt.test, env)
        known = self._static_truth(stmt.test, env)
        # `elif` is an `If` alone in `orelse`: it continues this chain.
        elif_ = stmt.orelse[0] if len(stmt.orelse) == 1 and isinstance(stmt.orelse[0], ast.If) else None
        if known is not None:
            # `if name == "densenet":` with a known argument: run only the branch taken.
            if known:
                self._exec_body(stmt.body, env)
            elif elif_ is not None:
                self._exec_if(elif_, env)
            else:
                self._exec_body(stmt.orelse, env)
            return
        selection = self._layer_test(stmt.test, env)
        if not selection[0]:
            # `if set_trainable: layer.trainable = True` in a loop over layers: a condition bnlint
            # cannot decide selects some of the layers in each branch.
            selection = ({name: value for name, value in env.vars.items()
                          if any(isinstance(a, Layer) and a.whole for a in value)}, None)
        # Unknown condition: run both branches; only if both return does the function end here.
        # A name either branch binds may hold what either gave it (or what it held before).
        before = dict(env.vars)
        returned = self._maybe(self._exec_body, stmt.body, self._refined(env, selection, positive=True))
        after_body = dict(env.vars)
        env.vars.clear()
        env.vars.update(before)
        if elif_ is not None:
            returned &= self._maybe(self._exec_if, elif_, self._refined(env, selection, positive=False))
        elif stmt.orelse:
            returned &= self._maybe(self._exec_body, stmt.orelse, self._refined(env, selection, positive=False))
        else:
            returned = False
        for name, value in after_body.items():
            current = env.vars.get(name, before.get(name, ()))
            if value is not current:
                env.vars[name] = union(current, value)
        if returned:
            raise _Return

    def _exec_for(self, stmt: ast.For, env: Env) -> None:
        element = self._iterate(stmt.iter, env)
        self._assign(stmt.target, element, env)
        self._exec_body(stmt.body, env)
        self._exec_body(stmt.orelse, env)

    def _static_truth(self, test: ast.expr, env: Env) -> bool | None:
        """Value of `name == "literal"` / `!=` when the name holds one known constant."""
        if not isinstance(test, ast.Compare) or len(test.ops) != 1:
            return None
        operator = test.ops[0]
        if not isinstance(operator, (ast.Eq, ast.NotEq)):
            return None
        left = self._eval(test.left, env)
        right = self._eval(test.comparators[0], env)
        if len(left) != 1 or len(right) != 1 or not isinstance(left[0], Const) or not isinstance(right[0], Const):
            return None
        if not isinstance(left[0].value, (str, int)) or not isinstance(right[0].value, (str, int)):
            return None
        equal = left[0].value == right[0].value
        return equal if isinstance(operator, ast.Eq) else not equal

    def _iterate(self, iterable: ast.expr, env: Env) -> tuple:
        """Abstract value of one element of `iterable` (`for x in iterable`)."""
        if isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Name) \
                and not env.bound(iterable.func.id) and iterable.args:
            builtin = iterable.func.id
            arguments = [_unstarred(arg) for arg in iterable.args]
            if builtin == "enumerate":
                return (Seq(((Const(None),), self._iterate(arguments[0], env))),)
            if builtin in ("list", "reversed", "sorted", "iter", "tuple"):
                return self._iterate(arguments[0], env)
            if builtin == "zip":
                return (Seq(tuple(self._iterate(arg, env) for arg in arguments)),)
        value = self._eval(iterable, env)
        element = []
        for atom in value:
            if isinstance(atom, Layers) and not isinstance(atom, Layer):
                element.append(Layer(atom.owner, atom.whole, atom.bn, atom.via_model))
            elif isinstance(atom, Seq):
                for item in atom.items:
                    element.extend(item)
            elif isinstance(atom, (BaseV, ModelV)):
                # `for layer in model:` is rare; iterating a list of bases is what we see.
                element.append(atom)
        return tuple(element)

    # --- layer selections (BN guards, slices, name tests) ----------------------------------

    def _layer_test(self, test: ast.expr, env: Env) -> tuple[dict, bool | None]:
        """Which names bound to layers a test is about, and whether it selects BN layers.

        Returns ({name: Layer value}, bn) where bn is True (test selects BN layers), False
        (selects non-BN layers) or None (some other test: a subset by index or name).
        """
        names = {}
        for node in _names_in(test):
            value = env.get(node)
            if any(isinstance(a, Layer) for a in value):
                names[node] = value
        if not names:
            return {}, None
        code = self._chunk.code(test)
        if _BN_TEST.search(code):
            return names, not _negated(test)
        return names, None

    def _refined(self, env: Env, selection, positive: bool) -> Env:
        names, bn = selection
        if not names:
            return env
        overlay = {}
        for name, value in names.items():
            refined = []
            for atom in value:
                if isinstance(atom, Layer) and atom.bn != "none":
                    if bn is None:
                        atom = Layer(atom.owner, False, atom.bn, atom.via_model, atom.index)
                    else:
                        selects_bn = bn if positive else not bn
                        atom = Layer(atom.owner, False, "bn_only" if selects_bn else "non_bn",
                                     atom.via_model, atom.index)
                refined.append(atom)
            overlay[name] = tuple(refined)
        return Env(env, overlay)

    # --- assignment ------------------------------------------------------------------------

    def _assign(self, target: ast.expr, value: tuple, env: Env,
                value_node: ast.expr | None = None) -> None:
        if isinstance(target, ast.Name):
            self._name_things(target.id, value)
            env.set(target.id, value)
        elif isinstance(target, (ast.Tuple, ast.List)):
            elements = [_unstarred(e) for e in target.elts]
            seqs = [a for a in value if isinstance(a, Seq) and len(a.items) == len(elements)]
            for index, element in enumerate(elements):
                item = union(*(s.items[index] for s in seqs)) if seqs else ()
                if not seqs and value and all(isinstance(a, Layer) for a in value):
                    item = value
                self._assign(element, item, env)
        elif isinstance(target, ast.Attribute):
            receiver = self._eval(target.value, env)
            if target.attr == "trainable":
                self._trainable(receiver, value_node, env, target)
            for atom in receiver:
                if isinstance(atom, Instance):
                    self._name_things(f"{self._chunk.code(target.value)}.{target.attr}", value)
                    atom.attrs[target.attr] = value
                    self._adopt(atom, value)

    def _name_things(self, name: str, value: tuple) -> None:
        """Name bases and models after the variable that holds them; a module-level name wins over a
        helper function's local name (it is the one the user reads at the finding)."""
        at_module = self._scope == "module" and not self._chunk.external
        for atom in value:
            fact = atom.base if isinstance(atom, BaseV) else atom.model if isinstance(atom, (ModelV, Instance)) else None
            if fact is None:
                continue
            if fact.name.startswith("<") or (at_module and not fact.named_at_module):
                fact.name = name
                fact.named_at_module = at_module

    def _adopt(self, instance: Instance, value: tuple) -> None:
        """A subclassed model holding a base (`self.base = ResNet50(...)`) nests it."""
        for atom in value:
            if isinstance(atom, BaseV) and all(c.base is not atom.base for c in instance.model.components):
                instance.model.components.append(Component(atom.base, "nested"))
                atom.base.used_as_base = True

    def _trainable(self, receiver: tuple, value_node, env: Env, target: ast.AST) -> None:
        """`x.trainable = value` (or `setattr(x, "trainable", value)`)."""
        changes = self._trainable_values(value_node, env)
        site = self._site(target)
        for atom in receiver:
            if isinstance(atom, BaseV):
                owner, whole, bn, via_model = atom.base, True, "all", False
            elif isinstance(atom, ModelV):
                owner, whole, bn, via_model = atom.model, True, "all", False
            elif isinstance(atom, Instance):
                owner, whole, bn, via_model = atom.model, True, "all", False
            elif isinstance(atom, Layer):
                if atom.bn == "none":
                    continue       # only layers without weights (input, padding) or head layers
                owner, whole, bn, via_model = atom.owner, atom.whole, atom.bn, atom.via_model
            else:
                continue
            for value, selected in changes:
                layers_bn = bn if selected == "all" else selected
                if bn != "all" and selected != "all" and bn != selected:
                    continue
                self.facts.events.append(TrainableChange(
                    site, owner=owner, value=value, whole=whole and selected == "all",
                    bn=layers_bn, via_model_layers=via_model))

    def _trainable_values(self, node, env: Env) -> list[tuple[bool | None, str]]:
        """[(value, which layers)] for the right-hand side of a trainable assignment."""
        if node is None:
            return [(None, "all")]
        literal = _literal_bool(node)
        if literal is not None:
            return [(literal, "all")]
        if _BN_TEST.search(self._chunk.code(node)) and self._layer_test(node, env)[0]:
            # `layer.trainable = not isinstance(layer, BatchNormalization)`: BN layers get False
            bn_trainable = not _negated(node)
            return [(bn_trainable, "bn_only"), (not bn_trainable, "non_bn")]
        for atom in self._eval(node, env):
            if isinstance(atom, Const) and isinstance(atom.value, bool):
                return [(atom.value, "all")]
        return [(None, "all")]

    # --- imports ---------------------------------------------------------------------------

    def _import(self, node: ast.Import, env: Env) -> None:
        for alias in node.names:
            dotted = alias.name
            if alias.asname is not None:
                env.set(alias.asname, self._module_value(dotted))
            else:
                root = dotted.split(".")[0]
                env.set(root, self._module_value(root) if root != dotted else self._module_value(dotted))
            self._note_import(dotted, node)

    def _import_from(self, node: ast.ImportFrom, env: Env) -> None:
        level = node.level or 0
        module = node.module or ""
        self._note_import(module, node, level)
        sibling = None
        if not QName(module or "x").keras_root and module.split(".")[0] != "tensorflow":
            sibling = self._sibling_env(module, level)
        if node.names[0].name == "*":
            if sibling is not None:
                for name, value in sibling.vars.items():
                    env.set(name, value)
            elif QName(module).keras_root and "applications" in module:
                for name in FAMILIES:
                    env.set(name, (QName(f"{module}.{name}"),))
            elif module.split(".")[0] in ZOO_ROOTS:
                # `from efficientnet.tfkeras import *`, `from segmentation_models import *`
                for name in (*FAMILIES, "EfficientNetL2", *SEGMENTATION_MODELS):
                    env.set(name, (QName(f"{module}.{name}"),))
            return
        project = not QName(module or "x").keras_root and module.split(".")[0] not in ("tensorflow", *ZOO_ROOTS)
        for alias in node.names:
            name = alias.name
            bound = alias.asname if alias.asname is not None else name
            if sibling is not None and sibling.bound(name):
                env.set(bound, sibling.get(name))
                continue
            # `from src.models import efficientnet_model`: a submodule of a project package (also a
            # namespace package without __init__.py)
            submodule = self._sibling_env(f"{module}.{name}" if module else name, level) if project else None
            if submodule is not None:
                env.set(bound, (Module(submodule),))
            elif sibling is not None:
                env.set(bound, sibling.get(name))
            elif level == 0:
                env.set(bound, (QName(f"{module}.{name}"),))

    def _module_value(self, dotted: str) -> tuple:
        if QName(dotted).keras_root or dotted.split(".")[0] in ("tensorflow", "keras", "tf_keras"):
            return (QName(dotted),)
        sibling = self._sibling_env(dotted, 0)
        if sibling is not None:
            return (Module(sibling),)
        return (QName(dotted),)

    def _note_import(self, module: str, node, level: int = 0) -> None:
        if level:
            return
        imports = self.facts.imports
        root = QName(module).keras_root
        if module == "tensorflow" or module.startswith("tensorflow."):
            root = root or "tensorflow"
        if root and self._chunk.external:
            imports.project_roots.append(root)     # the Keras the project's own modules import
        elif root:
            imports.import_roots.append(root)
            if self._scope == "module" and self._statement is not None:
                imports.import_sites.append((self._site(node), root))

    def _sibling_env(self, module: str, level: int) -> Env | None:
        """Read a module of the same project (project.py says where), up to `follow_imports` deep."""
        if not self.follow_imports or self.path is None or not module:
            return None
        for candidate in module_candidates(self.path, module, level, self.extra_folders):
            try:
                resolved = candidate.resolve()
            except OSError:
                continue
            if resolved in self._siblings:
                return self._siblings[resolved]
            if not candidate.is_file() or resolved == self.path.resolve():
                continue
            self._siblings[resolved] = None
            try:
                data = candidate.read_bytes()
                text = decode_script(data).text
                parsed = parse_python(text, external=True)
            except (OSError, BnlintInputError, RecursionError, SyntaxError, ValueError):
                return None
            if _PREPROCESSING.search(text):
                self.facts.preprocessing_visible = True
            note_era_signals(self.facts.imports, text)     # the project's code dates the script too
            anchor = self._anchors[-1] if self._anchors else (
                self._site(self._statement) if self._statement is not None and not self._chunk.external else None)
            helper = Collector(self.facts, candidate, self.follow_imports - 1, self.extra_folders,
                               self._siblings, anchor)
            saved = self._chunk
            env = helper.run(parsed.chunks, run_uncalled=False)
            self._chunk = saved
            self._siblings[resolved] = env
            return env
        return None

    # --- expressions -----------------------------------------------------------------------

    def _eval(self, node: ast.expr, env: Env) -> tuple:
        if isinstance(node, ast.Name):
            value = env.get(node.id)
            if not value and node.id in _IMPLICIT and not env.bound(node.id):
                # Fragments use Keras names they never import (notebook exports, snippets, course
                # files): an unbound Keras API name is that Keras API.
                return (QName(_IMPLICIT[node.id], implicit=True),)
            return value
        if isinstance(node, ast.Dict):
            for key in node.keys:
                if key is not None:
                    self._eval(key, env)
            return (Seq(tuple(self._eval(v, env) for v in node.values), mapping=True),)
        if isinstance(node, ast.Attribute):
            return self._attribute(self._eval(node.value, env), node, env)
        if isinstance(node, ast.Call):
            return self._call(node, env)
        if isinstance(node, ast.Subscript):
            return self._subscript(node, env)
        if isinstance(node, (ast.List, ast.Tuple)):
            return (Seq(tuple(self._eval(_unstarred(element), env) for element in node.elts)),)
        if isinstance(node, ast.Constant):
            # numbers other than int, and `...`, carry nothing the rules use
            return (Const(node.value),) if isinstance(node.value, (bool, int, str, bytes, type(None))) else ()
        if isinstance(node, (ast.ListComp, ast.GeneratorExp, ast.SetComp)):
            return self._comprehension(node, env)
        if isinstance(node, ast.NamedExpr):
            value = self._eval(node.value, env)
            self._assign(node.target, value, env)
            return value
        if isinstance(node, ast.IfExp):
            self._eval(node.test, env)
            return union(self._eval(node.body, env), self._eval(node.orelse, env))
        if isinstance(node, ast.Lambda):
            return ()
        # Anything else (arithmetic, comparisons, dicts, f-strings...): evaluate the parts for
        # their side effects and let tensors flow through.
        return self._eval_children(node, env)

    def _eval_children(self, node: ast.AST, env: Env) -> tuple:
        found: list[tuple] = []
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):
                found.append(tensors(self._eval(child, env)))
            elif not isinstance(child, (ast.expr_context, ast.operator, ast.cmpop, ast.unaryop, ast.boolop)):
                found.append(self._eval_children(child, env))
        return union(*found)

    def _comprehension(self, node, env: Env) -> tuple:
        inner = Env(env)
        for generator in node.generators:
            element = self._iterate(generator.iter, inner)
            self._assign(generator.target, element, inner)
            for condition in generator.ifs:
                selection = self._layer_test(condition, inner)
                inner = self._refined(inner, selection, positive=True)
        value = self._eval(node.elt, inner)
        # `[l for l in base.layers if ...]` is itself a selection of layers.
        layers = [Layers(a.owner, a.whole, a.bn, a.via_model) for a in value if isinstance(a, Layer)]
        return tuple(layers) or tensors(value)

    def _attribute(self, receiver: tuple, node: ast.Attribute, env: Env) -> tuple:
        attr = node.attr
        out = []
        for atom in receiver:
            if isinstance(atom, QName):
                out.append(QName(f"{atom.name}.{attr}", atom.implicit))
            elif isinstance(atom, Module):
                out.extend(atom.env.get(attr))
            elif isinstance(atom, BaseV):
                base = atom.base
                if attr in ("input", "inputs"):
                    out.append(BaseInput(base))
                elif attr in ("output", "outputs"):
                    site = self._site(node)
                    if all(read.node is not node for read in base.output_reads):
                        base.output_reads.append(site)
                    out.append(GraphTensor(base, (site,), False))
                elif attr == "layers":
                    out.append(Layers(base))
                elif attr == base.backbone_attribute:
                    out.append(atom)            # `classifier.backbone`: the pretrained part of the task
                else:
                    out.append(Method(atom, attr))
            elif isinstance(atom, ModelV):
                if attr == "layers":
                    out.append(Layers(atom.model, via_model=True))
                else:
                    out.append(Method(atom, attr))
            elif isinstance(atom, Super):
                out.append(Method(atom, attr))
            elif isinstance(atom, Instance):
                if attr in atom.attrs:
                    out.extend(atom.attrs[attr])
                elif attr == "layers":
                    out.append(Layers(atom.model, via_model=True))
                else:
                    out.append(Method(atom, attr))
            elif isinstance(atom, Layer) and isinstance(atom.owner, Base):
                if attr == "output":
                    site = self._site(node)
                    if all(read.node is not node for read in atom.owner.output_reads):
                        atom.owner.output_reads.append(site)
                    out.append(GraphTensor(atom.owner, (site,), atom.index != -1))
                elif attr == "input" and atom.index == 0:
                    out.append(BaseInput(atom.owner))
        return tuple(out)

    def _subscript(self, node: ast.Subscript, env: Env) -> tuple:
        """`base.layers[:100]`, `base.layers[-1]`, `pair[0]`."""
        value = self._eval(node.value, env)
        index: int | None = None
        is_slice, whole = True, False
        bounds = None
        part = node.slice
        if isinstance(part, ast.Slice):
            bounds = [None if piece is None else self._bound(piece, env) for piece in (part.lower, part.upper, part.step)]

            def absent(bound) -> bool:     # no bound, or one that holds None (`[:upto]` with upto=None)
                return bound is None or (len(bound) == 1 and isinstance(bound[0], Const) and bound[0].value is None)

            lower, upper, step = bounds
            # `[:]` and `[0:]` select every layer; any other bound selects some of them.
            whole = absent(upper) and absent(step) and (
                absent(lower) or (len(lower) == 1 and isinstance(lower[0], Const) and lower[0].value == 0))
        elif not (isinstance(part, ast.Tuple) and any(isinstance(e, ast.Slice) for e in part.elts)):
            is_slice = False
            for atom in self._eval(part, env):
                if isinstance(atom, Const) and isinstance(atom.value, int):
                    index = atom.value
            if isinstance(part, ast.UnaryOp) and isinstance(part.op, ast.USub) and _int_literal(part.operand) is not None:
                index = -_int_literal(part.operand)
        else:
            self._eval_children(part, env)
        out = []
        for atom in value:
            if isinstance(atom, Layers) and not isinstance(atom, Layer):
                known = self._known_selection(atom, bounds if is_slice else None, index)
                if known is not None:
                    bn, selected_whole = known
                    kind = Layers if is_slice else Layer
                    out.append(kind(atom.owner, selected_whole, bn, atom.via_model, index))
                elif is_slice:
                    out.append(Layers(atom.owner, atom.whole and whole, atom.bn, atom.via_model))
                else:
                    out.append(Layer(atom.owner, False, atom.bn, atom.via_model, index))
            elif isinstance(atom, Seq) and atom.mapping:
                out.extend(union(*atom.items))
            elif isinstance(atom, Seq):
                if is_slice:
                    out.append(atom)
                elif index is not None and -len(atom.items) <= index < len(atom.items):
                    out.extend(atom.items[index])
        return tuple(out) + tensors(value)

    def _bound(self, node: ast.expr, env: Env) -> tuple:
        """A slice bound's value; `-3` is a number too."""
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            inner = self._eval(node.operand, env)
            if len(inner) == 1 and isinstance(inner[0], Const) and type(inner[0].value) is int:
                return (Const(-inner[0].value),)
        return self._eval(node, env)

    def _known_selection(self, layers: Layers, bounds, index: int | None):
        """(bn, whole) of a slice or index with literal bounds on the layers of a known architecture
        (a base, or a model holding exactly one flattened base), from the layer maps; else None."""
        if layers.bn != "all" or not layers.whole:
            return None
        owner, head = layers.owner, 0
        if isinstance(owner, ModelFact):
            flat = [c for c in owner.components if c.kind == "flattened"]
            if len(flat) != 1 or len(owner.components) != 1:
                return None
            owner, head = flat[0].base, flat[0].head_layers
        if not isinstance(owner, Base) or owner.loaded:
            return None
        numbers = []
        for bound in (bounds or ()):
            if bound is None or (len(bound) == 1 and isinstance(bound[0], Const) and bound[0].value is None):
                numbers.append(None)
            elif len(bound) == 1 and isinstance(bound[0], Const) and type(bound[0].value) is int:
                numbers.append(bound[0].value)
            else:
                return None
        if bounds is None and index is None:
            return None
        known = layer_map(owner.architecture, owner.include_top, owner.pooling)
        if known is None:
            return None
        lower, upper, step = numbers if bounds is not None else (None, None, None)
        return selection(*known, head, lower, upper, step, index)

    # --- calls -----------------------------------------------------------------------------

    def _call(self, node: ast.Call, env: Env) -> tuple:
        func = self._eval(node.func, env)
        positional: list[tuple] = []
        keywords: dict[str, tuple] = {}
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                self._eval(arg.value, env)
            else:
                positional.append(self._eval(arg, env))
        for keyword in node.keywords:
            value = self._eval(keyword.value, env)
            if keyword.arg is not None:
                keywords[keyword.arg] = value
        if isinstance(node.func, ast.Name) and not env.bound(node.func.id):
            builtin = node.func.id
            if builtin == "setattr" and len(positional) >= 3 and len(node.args) == len(positional) \
                    and _string(node.args[1]) == "trainable":
                self._trainable(positional[0], node.args[2], env, node)
                return ()
            if builtin in ("list", "tuple", "reversed", "sorted") and positional:
                return positional[0]
            if builtin == "super" and self._owners:
                owner, me = self._owners[-1]
                return (Super(me, owner),)
        results: list[tuple] = []
        handled = False
        for atom in func:
            result = self._call_atom(atom, node, positional, keywords, env)
            if result is not None:
                handled = True
                results.append(result)
        if handled:
            return union(*results)
        # A layer applied to tensors (`Dense(2)(x)`), a tf op, ...: the result derives from them.
        return union(*(derived(v) for v in positional), *(derived(v) for v in keywords.values()))

    def _call_atom(self, atom, node: ast.Call, positional, keywords, env: Env) -> tuple | None:
        if isinstance(atom, QName):
            return self._call_qualified(atom, node, positional, keywords, env)
        if isinstance(atom, BaseV):
            return self._call_base(atom.base, node, env, positional)
        if isinstance(atom, Wrapped):
            return self._call_base(atom.base, node, env, positional)
        if isinstance(atom, Method):
            return self._call_method(atom, node, positional, keywords)
        if isinstance(atom, Function):
            self._called.add(id(atom))
            return self._call_function(atom, positional, keywords, node)
        if isinstance(atom, Class):
            self._called.add(id(atom))
            return self._instantiate(atom, positional, keywords, node)
        return None

    def _call_qualified(self, q: QName, node: ast.Call, positional, keywords, env: Env) -> tuple | None:
        last = q.last
        root = q.keras_root
        if last in FAMILIES and ("applications" in q.parts or root):
            return (BaseV(self._new_base(q, node, positional, keywords)),)
        zoo = self._zoo(q, node, positional, keywords)
        if zoo is not None:
            return zoo
        if last == "load_model" and (root or q.parts[0] in ("tensorflow", "models")):
            base = Base("load_model", None, "path", self._site(node))
            self.facts.bases.append(base)
            return (BaseV(base),)
        if not root:
            if last == "set_learning_phase":
                self._learning_phase(node)
                return ()
            rows = numpy_rows(q.name, node)
            return (Rows(rows),) if rows is not None else None
        if not q.implicit:
            self._note_root(root)
        if last in ("Model", "Functional"):
            return self._new_model(node, positional, keywords)
        if last == "Sequential":
            model = ModelFact(self._site(node), kind="sequential")
            self.facts.models.append(model)
            for value in (positional[:1] or [keywords.get("layers", ())]):
                self._add_to_sequential(model, value)
            return (ModelV(model),)
        if last == "TimeDistributed" and positional:
            return tuple(Wrapped(a.base) for a in positional[0] if isinstance(a, BaseV)) or None
        if last == "Input":
            return (KerasInput(self._site(node)),)
        if last == "set_learning_phase":
            self._learning_phase(node)
            return ()
        return None

    def _note_root(self, root: str) -> None:
        if not self._chunk.external:
            self.facts.imports.keras_roots.append(root)

    def _new_base(self, q: QName, node: ast.Call, positional, keywords) -> Base:
        weights = "imagenet"
        input_shape = None
        include_preprocessing = None
        input_tensor = False
        input_tensor_arg = None
        include_top = not (node.args and _literal_bool(node.args[0]) is False)
        pooling = False
        for arg in node.keywords:
            if arg.arg == "weights":
                weights = _weights_kind(arg.value)
            elif arg.arg == "input_shape" and isinstance(arg.value, (ast.Tuple, ast.List)):
                input_shape = arg.value
            elif arg.arg == "input_tensor":
                input_tensor = not (isinstance(arg.value, ast.Constant) and arg.value.value is None)
                input_tensor_arg = arg
            elif arg.arg == "include_preprocessing":
                include_preprocessing = _literal_bool(arg.value)
            elif arg.arg == "include_top":
                include_top = _literal_bool(arg.value) is not False
            elif arg.arg == "pooling":
                pooling = _string(arg.value) is not None
        if len(node.args) >= 2 and not any(isinstance(a, ast.Starred) for a in node.args[:2]):
            weights = _weights_kind(node.args[1])
        base = Base(q.last, family_of(q.last), weights, self._site(node), input_shape=input_shape,
                    input_tensor=input_tensor, include_preprocessing=include_preprocessing,
                    input_tensor_arg=input_tensor_arg, include_top=include_top, pooling=pooling)
        self.facts.bases.append(base)
        if q.keras_root and not q.implicit:
            self._note_root(q.keras_root)
        return base

    # --- model zoos (what each provider does is data: bnlint/script/applications.py) ----------

    def _zoo(self, q: QName, node: ast.Call, positional, keywords) -> tuple | None:
        call = zoo_call(q.parts)
        if call is not None:
            return (BaseV(self._new_zoo_base(call, node, positional, keywords)),)
        if zoo_utility(q.parts) == "unfreeze_all_and_recompile" and positional:
            # sm.utils.set_trainable(model): every layer trainable, then compile() unless recompile=False
            site = self._site(node)
            for atom in positional[0]:
                owner = atom.base if isinstance(atom, BaseV) else atom.model if isinstance(atom, ModelV) else None
                if owner is not None:
                    self.facts.events.append(TrainableChange(site, owner=owner, value=True))
                    if _const(keywords.get("recompile", ()), True) is not False:
                        self.facts.events.append(Compile(site, model=owner))
            return ()
        name = _const(positional[0] if positional else keywords.get("name", ()), None)
        constructor = classifiers_get(q.parts, name if isinstance(name, str) else None)
        if constructor is not None:
            # `ResNet34, preprocess_input = Classifiers.get("resnet34")`
            return (Seq(((QName(".".join(constructor)),), ())),)
        return None

    def _new_zoo_base(self, call: ZooCall, node: ast.Call, positional, keywords) -> Base:
        spec = call.constructor

        def argument(keyword: str | None, position: int | None) -> tuple | None:
            if keyword is not None and keyword in keywords:
                return keywords[keyword]
            if position is not None and position < len(positional) and \
                    not any(isinstance(a, ast.Starred) for a in node.args[:position + 1]):
                return positional[position]
            return None

        architecture, family, decoder_bn_prefixes = call.architecture, call.family, ()
        if spec.architecture_keyword is not None:       # segmentation_models: the backbone argument
            chosen = argument(spec.architecture_keyword, spec.architecture_position)
            backbone = spec.default_architecture if chosen is None else _const(chosen, None)
            architecture, family = sm_architecture(call.model, backbone if isinstance(backbone, str) else None)
            decoder_bn_prefixes = SM_DECODER_BN_PREFIXES.get(call.model, ())
        elif spec.backbone_attribute is not None:
            preset = _const(argument("preset", 0) or (), None)
            architecture, family = preset_architecture(call.model, preset if isinstance(preset, str) else None,
                                                       call.root)
        weights = spec.default_weights
        given = argument(spec.weights_keyword, spec.weights_position)
        if given is not None:
            value = _const(given, ...)
            weights = ("none" if value is None else "unknown" if not isinstance(value, str)
                       else "imagenet" if value in ("imagenet", "noisy-student") else "path")
        if spec.weights_off_keyword is not None and _const(keywords.get(spec.weights_off_keyword, ()), True) is False:
            weights = "none"
        base = Base(architecture or "?", family, weights, self._site(node), provider=spec.provider,
                    whole_model_pretrained=spec.whole_model_pretrained,
                    decoder_bn_prefixes=decoder_bn_prefixes,
                    backbone_attribute=spec.backbone_attribute)
        self.facts.bases.append(base)
        if spec.freeze_all_but_bn_keyword is not None and \
                _const(keywords.get(spec.freeze_all_but_bn_keyword, ()), False) is True:
            # sm's freeze_model: "Set all layers non trainable, excluding BatchNormalization layers"
            base.freezes_all_but_bn = True
            self.facts.events.append(TrainableChange(self._site(node), owner=base, value=False,
                                                     whole=False, bn="non_bn"))
        if spec.trainable_keyword is not None and _const(keywords.get(spec.trainable_keyword, ()), True) is False:
            self.facts.events.append(TrainableChange(self._site(node), owner=base, value=False))
        return base

    def _new_model(self, node: ast.Call, positional, keywords) -> tuple:
        inputs = positional[0] if positional else keywords.get("inputs", keywords.get("input", ()))
        outputs = positional[1] if len(positional) > 1 else keywords.get("outputs", keywords.get("output", ()))
        inputs_node = None
        if node.args and not isinstance(node.args[0], ast.Starred):
            inputs_node = node.args[0]
        else:
            inputs_node = next((k.value for k in node.keywords if k.arg in ("inputs", "input")), None)
        model = ModelFact(self._site(node))
        input_atoms = atoms(inputs)
        base_inputs = {id(a.base) for a in input_atoms if isinstance(a, BaseInput)}
        graph: dict[int, list[GraphTensor]] = {}
        for atom in atoms(outputs):
            if isinstance(atom, GraphTensor):
                graph.setdefault(id(atom.base), []).append(atom)
            elif isinstance(atom, NestedTensor):
                if all(c.call is not atom.call for c in model.components):
                    model.components.append(Component(atom.call.base, "nested", call=atom.call))
        extractor = self._feature_extractor(node, input_atoms, outputs, graph)
        if extractor is not None:
            return extractor
        for found in graph.values():
            base = found[0].base
            refs = tuple(dict.fromkeys(site for atom in found for site in atom.refs))
            model.components.append(Component(
                base, "flattened", output_refs=refs, intermediate=any(a.intermediate for a in found),
                inputs_site=self._site(inputs_node) if inputs_node is not None else None,
                # the `inputs=` argument is this base's input and nothing else (a fix replaces it whole)
                inputs_is_base_input=len(input_atoms) == 1 and id(base) in base_inputs,
                head_layers=max(a.depth for a in found)))
        for component in model.components:
            component.base.used_as_base = True
        self.facts.models.append(model)
        return (ModelV(model),)

    def _feature_extractor(self, node, input_atoms, outputs, graph) -> tuple | None:
        """`Model(base.input, [base.get_layer(n).output ...])`: a sub-model of the base's own layers
        (U-Net/FPN encoders). It holds the base's pretrained BN layers and is used as a base itself."""
        output_atoms = atoms(outputs)
        if len(graph) != 1 or not output_atoms or not all(isinstance(a, GraphTensor) and a.raw for a in output_atoms):
            return None
        base = output_atoms[0].base
        if not input_atoms or not all(isinstance(a, BaseInput) and a.base is base for a in input_atoms):
            return None
        base.used_as_base = True
        extractor = Base(base.architecture, base.family, base.weights, self._site(node), name="<feature extractor>",
                         derived_from=base)
        self.facts.bases.append(extractor)
        return (BaseV(extractor),)

    def _add_to_sequential(self, model: ModelFact, value: tuple) -> None:
        for atom in atoms(value):
            if isinstance(atom, BaseV):
                model.components.append(Component(atom.base, "nested"))
                atom.base.used_as_base = True
            elif isinstance(atom, ModelV):
                for component in atom.model.components:
                    model.components.append(Component(component.base, "nested"))

    def _call_base(self, base: Base, node: ast.Call, env: Env, positional) -> tuple:
        base.used_as_base = True
        training, training_arg = "absent", None
        for arg in node.keywords:
            if arg.arg == "training":
                training_arg = arg
                literal = _literal_bool(arg.value)
                if literal is False:
                    training = "false"
                elif literal is True:
                    training = "true"
                elif any(isinstance(a, TrainingParam) for a in self._eval(arg.value, env)):
                    training = "forwarded"
                else:
                    training = "other"
        symbolic = self._in_method or any(tensors(value) for value in positional[:1])
        call = BaseCall(base, self._site(node), training, training_arg, symbolic)
        self.facts.base_calls.append(call)
        return (NestedTensor(call),)

    def _call_method(self, method: Method, node: ast.Call, positional, keywords) -> tuple | None:
        receiver = method.receiver
        if isinstance(receiver, Super):
            return self._run_method(receiver.instance, method.name, positional, keywords, node, after=receiver.owner) or ()
        if isinstance(receiver, Instance) and not (method.name.startswith("__") and method.name.endswith("__")):
            result = self._run_method(receiver, method.name, positional, keywords, node)
            if result is not None:
                return result
        if isinstance(receiver, BaseV):
            model = receiver.base
        elif isinstance(receiver, ModelV):
            model = receiver.model
        else:
            model = receiver.model
        name = method.name
        if name == "compile":
            self.facts.events.append(Compile(self._site(node), model=model))
            return ()
        if name == "load_weights":
            # `InceptionV3(weights=None)` then `load_weights("inception_v3_weights.h5")`: pretrained
            for base in ([model] if isinstance(model, Base) else model.bases() if isinstance(model, ModelFact) else []):
                if base.weights == "none":
                    base.weights = "path"
            return ()
        if name in _FIT_METHODS:
            self.facts.events.append(Fit(self._site(node), model=model, method=name, repeated=self._repeated > 0,
                                         **fit_counts(node, positional, keywords)))
            return ()
        if name == "add" and isinstance(receiver, ModelV) and positional:
            self._add_to_sequential(receiver.model, positional[0])
            return ()
        if name == "get_layer":
            if isinstance(receiver, BaseV):
                return (Layer(receiver.base, False, "all", False, None),)
            nested = _nested_base_named(model, _string(node.args[0]) if node.args else None)
            if nested is not None:
                return (BaseV(nested),)     # `model.get_layer("efficientnetb0")` is the base itself
            return (Layer(model, False, "all", False, None),)
        return ()

    def _learning_phase(self, node: ast.Call) -> None:
        value = "other"
        if node.args and _literal_bool(node.args[0]) is not None:
            value = "1" if _literal_bool(node.args[0]) else "0"
        self.facts.events.append(LearningPhase(self._site(node), value=value))

    # --- user functions and classes --------------------------------------------------------

    def _call_function(self, function: Function, positional, keywords, node, bind_self=None) -> tuple:
        if function.node in self._active or len(self._active) >= _MAX_CALL_DEPTH \
                or self._runs >= _MAX_FUNCTION_RUNS:
            return ()
        self._runs += 1
        env = Env(function.env)
        params = [*function.node.args.posonlyargs, *function.node.args.args]
        if bind_self is not None and params:
            env.set(params[0].arg, (bind_self,))
            params = params[1:]
        for index, param in enumerate(params):
            name = param.arg
            if index < len(positional):
                env.set(name, positional[index])
            elif name in keywords:
                env.set(name, keywords[name])
            elif name == "training":
                env.set(name, (TrainingParam(),))     # whatever its default, the caller's flag
            elif name in function.defaults:
                env.set(name, function.defaults[name])
        for param in function.node.args.kwonlyargs:
            name = param.arg
            env.set(name, keywords.get(name, function.defaults.get(name, ())))
            if name == "training" and name not in keywords:
                env.set(name, (TrainingParam(),))
        saved = (self._chunk, self._statement, self._scope)
        anchored = function.chunk.external and not self._chunk.external and node is not None
        if anchored:
            self._anchors.append(self._site(node))
        self._chunk, self._scope = function.chunk, function.node
        self._active.append(function.node)
        self._frames.append([])
        try:
            self._exec_body(function.node.body, env)
        except _Return:
            pass
        finally:
            returns = self._frames.pop()
            self._active.pop()
            self._chunk, self._statement, self._scope = saved
            if anchored:
                self._anchors.pop()
        return union(*returns)

    def _instantiate(self, cls: Class, positional, keywords, node) -> tuple:
        model = ModelFact(Site(node, self._chunk, self._statement or node, self._scope, self._anchor_for(self._chunk)),
                          name=f"<{cls.node.name} instance>", kind="subclass")
        instance = Instance(cls, model)
        self._class_attributes(cls, instance, 0)
        # __init__ builds the attributes; a Keras model's build()/call() run when it is first used
        # (they wire the bases in). Other methods run where the program calls them.
        self._run_method(instance, "__init__", positional, keywords, node)
        if cls.keras_layer:
            for name in ("build", "call"):
                self._run_method(instance, name, [], {}, node)
        self._instances.append(instance)
        if model.components:
            self.facts.models.append(model)
        return (instance,)

    def _class_attributes(self, cls: Class, instance: Instance, depth: int) -> None:
        """Class-level assignments (`freeze_layers_number = 80`), the bases' first, as instance attributes."""
        if depth > 8:
            return
        for base in reversed(cls.bases):
            self._class_attributes(base, instance, depth + 1)
        saved = self._chunk
        self._chunk = cls.chunk
        class_env = Env(cls.env)
        for stmt in cls.node.body:
            if not isinstance(stmt, _FUNCTION_DEFS):
                self._exec_stmt(stmt, class_env)
        self._chunk = saved
        instance.attrs.update(class_env.vars)

    def _run_method(self, instance: Instance, name: str, positional, keywords, node, after=None) -> tuple | None:
        """Run `instance.name(...)` (looked up through the class's bases, or through the bases of
        `after` for `super()`); None if there is none."""
        found = (after or instance.cls).method(name, skip_self=after is not None)
        if found is None:
            return None
        stmt, owner = found
        instance.called.add(name)
        method = self._function(stmt, owner.env, owner.chunk)
        decorators = {d.id if isinstance(d, ast.Name) else getattr(d, "attr", "") for d in stmt.decorator_list}
        bind = None if "staticmethod" in decorators else owner if "classmethod" in decorators else instance
        outer, self._in_method = self._in_method, True
        self._owners.append((owner, instance))
        try:
            result = self._call_function(method, positional, keywords, node, bind_self=bind)
        finally:
            self._in_method = outer
            self._owners.pop()
        if instance.model.components and instance.model not in self.facts.models:
            self.facts.models.append(instance.model)
        return result


_PREPROCESSING = re.compile(
    r"preprocess_input|\bRescaling\b|\bNormalization\s*\(|preprocessing_function|\brescale\s*=|/\s*255|"
    r"\bpreprocess\w*\s*\(|\bget_preprocessing\b")


def preprocessing_visible(text: str) -> bool:
    """Any visible input preprocessing (the file's own, or `preprocess_input`)."""
    return bool(_PREPROCESSING.search(text))


def _nested_base_named(model, layer_name: str | None) -> Base | None:
    """The nested base a `get_layer(name)` refers to, by Keras' default model names
    ("resnet50", "mobilenetv2_1.00_224", "inception_v3", "efficientnetb0", ...)."""
    if layer_name is None or not isinstance(model, ModelFact):
        return None
    wanted = re.sub(r"[^a-z0-9]", "", layer_name.lower())
    matches = [c.base for c in model.components if c.kind == "nested"
               and wanted.startswith(re.sub(r"[^a-z0-9]", "", c.base.architecture.lower()))]
    # "resnet50v2" also starts with "resnet50": the longest architecture name wins
    matches.sort(key=lambda base: len(base.architecture), reverse=True)
    return matches[0] if matches else None


def _unstarred(node: ast.expr) -> ast.expr:
    """`x` of `*x` (a starred element or argument); any other node itself."""
    return node.value if isinstance(node, ast.Starred) else node


def _int_literal(node: ast.expr) -> int | None:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    return None


def _string(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _literal_bool(node: ast.expr) -> bool | None:
    """`True`/`False`, and the `0`/`1` that Keras code passes for them."""
    if isinstance(node, ast.Constant) and type(node.value) in (bool, int) and node.value in (0, 1):
        return bool(node.value)
    return None


def _const(value: tuple, default):
    """The one constant an abstract value holds (`BACKBONE = "resnet34"`), else `default`."""
    if len(value) == 1 and isinstance(value[0], Const):
        return value[0].value
    return default


def _weights_kind(node: ast.expr) -> str:
    if isinstance(node, ast.Constant) and node.value is None:
        return "none"
    text = _string(node)
    if text is None:
        return "unknown"
    return "imagenet" if text == "imagenet" else "path"


def _names_in(node: ast.AST) -> list[str]:
    """Variable names a test reads (of `a.b.c` only `a`)."""
    found = []

    def walk(n):
        if isinstance(n, ast.Name):
            found.append(n.id)
        elif isinstance(n, ast.Attribute):
            walk(n.value)
        else:
            for child in ast.iter_child_nodes(n):
                walk(child)

    walk(node)
    return found


def _negated(node: ast.AST) -> bool:
    """Does a test select the complement (`not isinstance(...)`, `'bn' not in name`, `!=`)? In
    `flag and not isinstance(layer, BatchNormalization)` the BN part decides."""
    negated = False
    while isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        negated = not negated
        node = node.operand
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And):
        parts = [value for value in node.values if _BN_TEST.search(ast.unparse(value))]
        if len(parts) == 1:
            return negated != _negated(parts[0])
    if isinstance(node, ast.Compare):
        for operator in node.ops:
            if isinstance(operator, (ast.NotIn, ast.NotEq, ast.IsNot)):
                negated = not negated
    return negated
