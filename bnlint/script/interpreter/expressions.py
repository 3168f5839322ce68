"""Expressions: names, attributes, subscripts of layer lists, and the dispatch of calls."""
from __future__ import annotations

import ast
import itertools

from bnlint.script.applications import FAMILIES
from bnlint.script.facts import (
    Base,
    ModelFact,
)
from bnlint.script.interpreter.literals import (
    IMPLICIT,
    int_literal,
    nested_base_at,
    string,
    unstarred,
)
from bnlint.script.layer_maps import layer_map, selection
from bnlint.script.values import (
    BaseInput,
    BaseV,
    Class,
    Const,
    Count,
    Env,
    Function,
    GraphTensor,
    IndexRange,
    Instance,
    Layer,
    Layers,
    Method,
    ModelV,
    Module,
    QName,
    Seq,
    Super,
    Wrapped,
    atoms,
    derived,
    tensors,
    unchained,
    union,
)


class Expressions:
    # --- expressions -----------------------------------------------------------------------

    def _eval(self, node: ast.expr, env: Env) -> tuple:
        if isinstance(node, ast.Name):
            value = env.get(node.id)
            if not value and node.id in IMPLICIT and not env.bound(node.id):
                # Fragments use Keras names they never import (notebook exports, snippets, course
                # files): an unbound Keras API name is that Keras API.
                return (QName(IMPLICIT[node.id], implicit=True),)
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
            return (Seq(tuple(self._eval(unstarred(element), env) for element in node.elts)),)
        if isinstance(node, ast.Constant):
            # `...` and complex numbers carry nothing the rules use (a float decides `if dropout:`)
            return (Const(node.value),) if isinstance(node.value, (bool, int, float, str, bytes, type(None))) else ()
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
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
            counted = arithmetic(self._eval(node.left, env), node.op, self._eval(node.right, env))
            if counted is not None:
                return counted
        # Anything else (arithmetic, comparisons, dicts, f-strings...): evaluate the parts for
        # their side effects and let tensors flow through.
        return self._eval_children(node, env)

    def _eval_children(self, node: ast.AST, env: Env) -> tuple:
        found: list[tuple] = []
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):
                found.append(unchained(tensors(self._eval(child, env))))
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
            if isinstance(atom, ModelV) and atom.model.base is not None:
                atom = BaseV(atom.model.base)       # a model that became a pretrained base
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
            elif isinstance(atom, Layer) and isinstance(atom.owner, ModelFact) and attr == "layers":
                # `model.get_layer(name).layers`: only a nested model has layers, so it is one of the
                # model's nested bases
                out.extend(Layers(c.base) for c in atom.owner.components if c.kind == "nested")
        return tuple(out)

    def _subscript(self, node: ast.Subscript, env: Env) -> tuple:
        """`base.layers[:100]`, `base.layers[-1]`, `pair[0]`, `globals()[name]`."""
        scope = node.value
        if isinstance(scope, ast.Call) and isinstance(scope.func, ast.Name) and not scope.args \
                and scope.func.id in ("globals", "locals", "vars") and not env.bound(scope.func.id):
            names = _strings(self._eval(node.slice, env))
            namespace = self.module_env if scope.func.id == "globals" else env
            return union(*(self._eval(ast.copy_location(ast.Name(name, ast.Load()), node), namespace) for name in names))
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
            part_value = self._eval(part, env)
            ranges = [a for a in part_value if isinstance(a, IndexRange)]
            if len(ranges) == 1 and len(part_value) == 1:
                # `for i in range(len(model.layers) - 2): model.layers[i]` is each layer of `[:-2]`
                return self._range_subscript(value, ranges[0])
            for atom in part_value:
                if isinstance(atom, Const) and isinstance(atom.value, int):
                    index = atom.value
            if isinstance(part, ast.UnaryOp) and isinstance(part.op, ast.USub) and int_literal(part.operand) is not None:
                index = -int_literal(part.operand)
        else:
            self._eval_children(part, env)
        out = []
        for atom in value:
            if isinstance(atom, Layers) and not isinstance(atom, Layer):
                nested = nested_base_at(atom.owner, index) if not is_slice and index is not None \
                    and atom.whole and atom.bn == "all" else None
                if nested is not None:
                    out.append(BaseV(nested))       # `model.layers[2]` is the nested base itself
                    continue
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

    def _range_subscript(self, value: tuple, index: IndexRange) -> tuple:
        """`layers[i]` for each i of `range(lower, upper)`: one (each) layer of the slice the range spans."""
        out = []
        for atom in value:
            if not (isinstance(atom, Layers) and not isinstance(atom, Layer)):
                continue
            lower = index.lower if index.lower and not (len(index.lower) == 1 and _int(index.lower[0]) == 0) else None
            upper: tuple | None = index.upper
            counts = [a for a in index.upper if isinstance(a, Count)]
            if len(index.upper) == 1 and counts and counts[0].layers.owner is atom.owner:
                counted = counts[0].layers
                if counted.whole and counted.bn == atom.bn:
                    # `range(len(layers) - 2)` spans `[:-2]`, `range(len(layers))` all of them
                    upper = (Const(counts[0].offset),) if counts[0].offset < 0 else None
                elif lower is None and counts[0].offset == 0:
                    # `range(len(model.layers[:-3]))`: the positions of that selection
                    out.append(Layer(counted.owner, counted.whole, counted.bn, counted.via_model))
                    continue
                else:
                    upper = ()
            whole = lower is None and upper is None and atom.whole
            known = self._known_selection(atom, [lower, upper, None], None) if upper != () else None
            if known is not None:
                bn, selected_whole = known
                out.append(Layer(atom.owner, selected_whole, bn, atom.via_model))
            else:
                out.append(Layer(atom.owner, whole, atom.bn, atom.via_model))
        return tuple(out)

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
                    and string(node.args[1]) == "trainable":
                self._trainable(positional[0], node.args[2], env, node)
                return ()
            if builtin in ("list", "tuple", "reversed", "sorted") and positional:
                return positional[0]
            if builtin == "len" and len(positional) == 1:
                layers = [a for a in positional[0] if isinstance(a, Layers) and not isinstance(a, Layer)]
                if len(layers) == 1:
                    return (Count(layers[0]),)         # `len(model.layers)`: bounds an index range
            if builtin == "range" and 1 <= len(positional) <= 2 and len(node.args) == len(positional):
                lower, upper = (positional[0], positional[1]) if len(positional) == 2 else ((Const(0),), positional[0])
                return (IndexRange(lower, upper),)
            if builtin == "eval":
                evaluated = self._eval_string(node, env)
                if evaluated is not None:
                    return evaluated
            if builtin == "getattr" and len(positional) >= 2 and len(node.args) == len(positional):
                # `getattr(keras.applications, name)` with the names it may hold
                found = [self._attribute(positional[0], ast.copy_location(ast.Attribute(node.args[0], attr, ast.Load()), node), env)
                         for attr in _strings(positional[1])]
                if found:
                    return union(*found)
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
        return derived(*positional, *keywords.values())

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
        if isinstance(atom, Instance) and not atom.cls.keras_layer:
            return self._run_method(atom, "__call__", positional, keywords, node)
        return None

    def _eval_string(self, node: ast.Call, env: Env) -> tuple | None:
        """`eval("{}(include_top=False, weights='imagenet')".format(name))`: the code the string may
        hold, evaluated here. A placeholder bnlint cannot fill stands for any Keras application
        constructor the file has in scope."""
        if not node.args:
            return None
        argument = node.args[0]
        template, fillers = None, []
        if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
            template = argument.value
        elif isinstance(argument, ast.Call) and isinstance(argument.func, ast.Attribute) \
                and argument.func.attr == "format" and isinstance(argument.func.value, ast.Constant) \
                and isinstance(argument.func.value.value, str) and not argument.keywords:
            template = argument.func.value.value
            fillers = [_strings(self._eval(a, env)) or [_ANY_NAME] for a in argument.args]
        elif isinstance(argument, ast.JoinedStr):
            parts = []
            for value in argument.values:
                if isinstance(value, ast.Constant):
                    parts.append(str(value.value).replace("{", "{{").replace("}", "}}"))
                else:
                    parts.append("{}")
                    fillers.append(_strings(self._eval(value.value, env)) or [_ANY_NAME])
            template = "".join(parts)
        if template is None or len(template) > 2000 or len(fillers) > 3:
            return None
        try:
            sources = {template.format(*choice) for choice in itertools.product(*fillers)}
        except (IndexError, KeyError, ValueError):
            return None
        results = []
        for source in sorted(sources)[:20]:
            try:
                expression = ast.parse(source.strip(), mode="eval").body
            except (SyntaxError, ValueError):
                continue
            for child in ast.walk(expression):      # findings point at the eval() call
                if "lineno" in child._attributes:
                    ast.copy_location(child, node)
                    child.end_lineno, child.end_col_offset = node.end_lineno, node.end_col_offset
            scope = env
            if _ANY_NAME in source:
                constructors = tuple(a for value in self.module_env.vars.values() for a in value
                                     if isinstance(a, QName) and a.last in FAMILIES
                                     and ("applications" in a.parts or a.keras_root))
                scope = Env(env, {_ANY_NAME: constructors})
            results.append(self._eval(expression, scope))
        return union(*results) if results else None


_ANY_NAME = "__bnlint_any_name__"


def _strings(value: tuple) -> list[str]:
    """The strings an abstract value may be (`CLF2CLASS[name]` over a dict literal: each of its values)."""
    return [a.value for a in atoms(value) if isinstance(a, Const) and isinstance(a.value, str) and a.value.isidentifier()]


def _int(atom) -> int | None:
    return atom.value if isinstance(atom, Const) and type(atom.value) is int else None


def arithmetic(left: tuple, op: ast.operator, right: tuple) -> tuple | None:
    """`a + b` / `a - b` on known numbers and layer counts (`len(model.layers) - 2`); None otherwise."""
    if len(left) != 1 or len(right) != 1:
        return None
    sign = 1 if isinstance(op, ast.Add) else -1
    a, b = left[0], right[0]
    if _int(a) is not None and _int(b) is not None:
        return (Const(a.value + sign * b.value),)
    if isinstance(a, Count) and _int(b) is not None:
        return (Count(a.layers, a.offset + sign * b.value),)
    if isinstance(b, Count) and _int(a) is not None and sign == 1:
        return (Count(b.layers, b.offset + a.value),)
    return None
