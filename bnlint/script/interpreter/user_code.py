"""The project's own functions and classes, run where they are called with abstract arguments."""
from __future__ import annotations

import ast

from bnlint.script.facts import (
    ModelFact,
    Site,
)
from bnlint.script.interpreter.literals import (
    FUNCTION_DEFS,
    MAX_CALL_DEPTH,
    MAX_FUNCTION_RUNS,
    ReturnReached,
)
from bnlint.script.values import (
    Class,
    Env,
    Function,
    Instance,
    TrainingParam,
    union,
)


class UserCode:
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

    # --- user functions and classes --------------------------------------------------------

    def _call_function(self, function: Function, positional, keywords, node, bind_self=None) -> tuple:
        if function.node in self._active or len(self._active) >= MAX_CALL_DEPTH \
                or self._runs >= MAX_FUNCTION_RUNS:
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
        loops, self._loops = self._loops, 0     # its arguments are this call's, whatever loop calls it
        try:
            self._exec_body(function.node.body, env)
        except ReturnReached:
            pass
        finally:
            returns = self._frames.pop()
            self._active.pop()
            self._loops = loops
            self._chunk, self._statement, self._scope = saved
            if anchored:
                self._anchors.pop()
        return union(*returns)

    def _instantiate(self, cls: Class, positional, keywords, node) -> tuple:
        model = ModelFact(Site(node, self._chunk, self._statement or node, self._scope, self._anchor_for(self._chunk)),
                          name=f"<{cls.node.name} instance>", kind="subclass")
        instance = Instance(cls, model)
        found = cls.method("train_step")
        if found is not None and "training=True" not in found[1].chunk.code(found[1].node).replace(" ", ""):
            # a custom train_step whose class never calls anything with training=True: fit() runs
            # the network with `training` unset, which BN reads as inference (moving statistics)
            model.fit_trains_bn = False
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
            if not isinstance(stmt, FUNCTION_DEFS):
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
        # a Keras Layer/Model subclass's methods build the model graph (its call() runs on symbolic
        # tensors); a tf.Module's or a plain class's methods run on data
        outer, self._in_method = self._in_method, instance.cls.keras_layer
        self._owners.append((owner, instance))
        try:
            result = self._call_function(method, positional, keywords, node, bind_self=bind)
        finally:
            self._in_method = outer
            self._owners.pop()
        if instance.model.components and instance.model not in self.facts.models:
            self.facts.models.append(instance.model)
        return result


