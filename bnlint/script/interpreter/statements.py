"""Statements in program order: control flow, assignment, layer selections and `trainable` changes."""
from __future__ import annotations

import ast
import operator

from bnlint.script.facts import (
    Base,
    Component,
    Site,
    TrainableChange,
)
from bnlint.script.interpreter.expressions import arithmetic
from bnlint.script.interpreter.literals import (
    BN_TEST,
    FUNCTION_DEFS,
    KERAS_CLASSES,
    TRY_STATEMENTS,
    RaiseReached,
    ReturnReached,
    literal_bool,
    names_in,
    selects_complement,
    unstarred,
)
from bnlint.script.values import (
    BaseV,
    Class,
    Const,
    Count,
    Env,
    IndexRange,
    Instance,
    Layer,
    Layers,
    ModelV,
    QName,
    Seq,
    tensors,
    union,
)


class Statements:
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
            if isinstance(stmt, FUNCTION_DEFS):
                function = self._function(stmt, env)
                self._defined.append(function)
                env.set(stmt.name, (function,))
            elif isinstance(stmt, ast.ClassDef):
                parents = [a for b in stmt.bases for a in self._eval(b, env)]
                bases = tuple(a for a in parents if isinstance(a, Class))
                keras_layer = any(isinstance(a, QName) and a.last in KERAS_CLASSES for a in parents) \
                    or any(b.keras_layer for b in bases)
                cls = Class(stmt, self._chunk, env, bases, keras_layer)
                self._defined.append(cls)
                env.set(stmt.name, (cls,))
            elif isinstance(stmt, ast.If):
                self._exec_if(stmt, env)
            elif isinstance(stmt, (ast.For, ast.AsyncFor)):
                self._repeated += 1             # an exception aborts the whole file anyway
                self._loops += 1
                self._maybe(self._exec_for, stmt, env)
                self._repeated -= 1
                self._loops -= 1
            elif isinstance(stmt, ast.While):
                self._eval(stmt.test, env)
                self._repeated += 1
                self._loops += 1
                self._maybe(self._exec_body, stmt.body, env)
                self._repeated -= 1
                self._loops -= 1
                if stmt.orelse:
                    self._maybe(self._exec_body, stmt.orelse, env)
            elif isinstance(stmt, (ast.With, ast.AsyncWith)):
                for item in stmt.items:
                    value = self._eval(item.context_expr, env)
                    if item.optional_vars is not None:
                        self._assign(item.optional_vars, value, env)
                self._exec_body(stmt.body, env)
            elif isinstance(stmt, TRY_STATEMENTS):
                try:
                    self._exec_body(stmt.body, env)
                except RaiseReached:
                    pass                    # a handler may catch it
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

    @staticmethod
    def _maybe(run, *args) -> bool:
        """Run code that may not execute at all (a loop body, one of several branches): a
        `return` inside it does not end the function. True if it returned."""
        try:
            run(*args)
        except ReturnReached:
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
        elif isinstance(small, ast.AugAssign):
            value = self._eval(small.value, env)
            if isinstance(small.op, (ast.Add, ast.Sub)) and isinstance(small.target, (ast.Name, ast.Attribute)):
                # `self.num_new_layers += 1`: counts that bound slices stay known
                load = ast.copy_location(type(small.target)(**{**{f: getattr(small.target, f) for f in small.target._fields}, "ctx": ast.Load()}), small.target)
                counted = arithmetic(self._eval(load, env), small.op, value)
                if counted is not None:
                    self._assign(small.target, counted, env)
        elif isinstance(small, ast.Expr):
            self._eval(small.value, env)
        elif isinstance(small, ast.Return):
            if small.value is not None and self._frames:
                self._frames[-1].append(self._eval(small.value, env))
            if self._frames:
                raise ReturnReached
        elif isinstance(small, ast.Raise):
            if small.exc is not None:
                self._eval(small.exc, env)
            raise RaiseReached
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
        # ... and so may an attribute either branch sets (`self.model = load_model(...)` in one)
        instances = list({id(i): i for i in [*self._instances, *(owner[1] for owner in self._owners)]}.values())
        attrs_before = [dict(instance.attrs) for instance in instances]
        returned = self._maybe(self._exec_body, stmt.body, self._refined(env, selection, positive=True))
        after_body = dict(env.vars)
        env.vars.clear()
        env.vars.update(before)
        attrs_after_body = [dict(instance.attrs) for instance in instances]
        for instance, attrs in zip(instances, attrs_before):
            instance.attrs.clear()
            instance.attrs.update(attrs)
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
        for instance, attrs, previous in zip(instances, attrs_after_body, attrs_before):
            for name, value in attrs.items():
                current = instance.attrs.get(name, previous.get(name, ()))
                if value is not current:
                    instance.attrs[name] = union(current, value)
        if returned:
            raise ReturnReached

    def _exec_for(self, stmt: ast.For, env: Env) -> None:
        element = self._iterate(stmt.iter, env)
        self._assign(stmt.target, element, env)
        self._exec_body(stmt.body, env)
        self._exec_body(stmt.orelse, env)

    def _static_truth(self, test: ast.expr, env: Env) -> bool | None:
        """Value of a test whose parts hold one known constant each: `name == "literal"`, `!=`, `<` ...,
        `flag is False`, `not flag`, `a and b`, and `if flag:` (`dropout=0.5` as an argument)."""
        if self._loops:
            return None     # in a loop a flag changes between iterations (`set_trainable = True`)
        if isinstance(test, ast.BoolOp):
            parts = [self._static_truth(value, env) for value in test.values]
            decisive = isinstance(test.op, ast.Or)        # one True decides an `or`, one False an `and`
            if decisive in parts:
                return decisive
            return None if None in parts else not decisive
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            inner = self._static_truth(test.operand, env)
            return None if inner is None else not inner
        if not isinstance(test, ast.Compare):
            value = self._eval(test, env) if isinstance(test, (ast.Name, ast.Attribute, ast.Constant)) else ()
            if len(value) == 1 and isinstance(value[0], Const):
                return bool(value[0].value)
            return None
        if len(test.ops) != 1:
            return None
        operator = test.ops[0]
        if not isinstance(operator, tuple(_COMPARISONS)):
            return None
        left = self._eval(test.left, env)
        right = self._eval(test.comparators[0], env)
        if len(left) != 1 or len(right) != 1 or not isinstance(left[0], Const) or not isinstance(right[0], Const):
            return None
        a, b = left[0].value, right[0].value
        if isinstance(operator, (ast.Eq, ast.NotEq)):
            if not isinstance(a, (str, int, float)) or not isinstance(b, (str, int, float)):
                return None
        elif isinstance(operator, (ast.Is, ast.IsNot)):
            if not (a is None or isinstance(a, bool)) or not (b is None or isinstance(b, bool)):
                return None
        elif not (type(a) in (int, float) and type(b) in (int, float)):       # `layers_unfreeze > 0`
            return None
        return _COMPARISONS[type(operator)](a, b)

    def _iterate(self, iterable: ast.expr, env: Env) -> tuple:
        """Abstract value of one element of `iterable` (`for x in iterable`)."""
        if isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Name) \
                and not env.bound(iterable.func.id) and iterable.args:
            builtin = iterable.func.id
            arguments = [unstarred(arg) for arg in iterable.args]
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
            elif isinstance(atom, IndexRange):
                element.append(atom)                # `for i in range(...)`: i runs over the range
        return tuple(element)

    # --- layer selections (BN guards, slices, name tests) ----------------------------------

    def _layer_test(self, test: ast.expr, env: Env) -> tuple[dict, bool | None]:
        """Which names bound to layers a test is about, and whether it selects BN layers.

        Returns ({name: Layer value}, bn) where bn is True (test selects BN layers), False
        (selects non-BN layers) or None (some other test: a subset by index or name).
        """
        names = {}
        for node in names_in(test):
            value = env.get(node)
            if any(isinstance(a, Layer) for a in value):
                names[node] = value
        if not names:
            return {}, None
        code = self._chunk.code(test)
        if BN_TEST.search(code):
            return names, not selects_complement(test)
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
            elements = [unstarred(e) for e in target.elts]
            seqs = [a for a in value if isinstance(a, Seq) and len(a.items) == len(elements)]
            for index, element in enumerate(elements):
                item = union(*(s.items[index] for s in seqs)) if seqs else ()
                if not seqs and value and all(isinstance(a, Layer) for a in value):
                    item = value
                elif not seqs and tensors(value):
                    # `c3, c4, c5 = [base.get_layer(n).output for n in names]`: each may be any of them
                    item = tensors(value)
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
            if isinstance(owner, Base) and owner.loaded and not whole:
                # some layers of a loaded model frozen, others not: it is fine-tuned as a base
                owner.used_as_base = True
            for value, selected in changes:
                layers_bn = bn if selected in ("all", "some") else selected
                if bn != "all" and selected not in ("all", "some") and bn != selected:
                    continue
                self.facts.events.append(TrainableChange(
                    site, owner=owner, value=value, whole=whole and selected == "all",
                    bn=layers_bn, via_model_layers=via_model))

    def _below_count(self, node, env: Env) -> bool | None:
        """`False if i < len(base_model.layers) else True` over `enumerate(model.layers)`: the value the
        base's layers get (the indices below the base's layer count are the base's own)."""
        if not (isinstance(node, ast.IfExp) and isinstance(node.test, ast.Compare) and len(node.test.ops) == 1):
            return None
        body, orelse = literal_bool(node.body), literal_bool(node.orelse)
        if body is None or orelse is None:
            return None
        left = self._eval(node.test.left, env)
        right = self._eval(node.test.comparators[0], env)
        operator = node.test.ops[0]
        if any(isinstance(a, Count) and a.offset == 0 and a.layers.whole for a in right):
            return body if isinstance(operator, _BELOW) else orelse if isinstance(operator, _ABOVE) else None
        if any(isinstance(a, Count) and a.offset == 0 and a.layers.whole for a in left):
            return orelse if isinstance(operator, _BELOW) else body if isinstance(operator, _ABOVE) else None
        return None

    def _trainable_values(self, node, env: Env) -> list[tuple[bool | None, str]]:
        """[(value, which layers)] for the right-hand side of a trainable assignment: "all" of those
        assigned, "bn_only" / "non_bn" of them, or "some" of them (the rest get another value)."""
        if node is None:
            return [(None, "all")]
        literal = literal_bool(node)
        if literal is not None:
            return [(literal, "all")]
        if BN_TEST.search(self._chunk.code(node)) and self._layer_test(node, env)[0]:
            # `layer.trainable = not isinstance(layer, BatchNormalization)`: BN layers get False
            bn_trainable = not selects_complement(node)
            return [(bn_trainable, "bn_only"), (not bn_trainable, "non_bn")]
        below = self._below_count(node, env)
        if below is not None:
            return [(below, "all")]
        flags = {atom.value for atom in self._eval(node, env) if isinstance(atom, Const) and isinstance(atom.value, bool)}
        if len(flags) == 2:
            # `layer.trainable = trainable` with a flag a loop turns on at some layer: some layers
            # get False, the others True
            return [(False, "some"), (True, "some")]
        if flags:
            return [(flags.pop(), "all")]
        return [(None, "all")]


_BELOW = (ast.Lt, ast.LtE)
_ABOVE = (ast.Gt, ast.GtE)


_COMPARISONS = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
                ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Is: operator.is_, ast.IsNot: operator.is_not}
