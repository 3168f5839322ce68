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

from bnlint.script.chunks import Chunk
from bnlint.script.facts import (
    Facts,
    Site,
)
from bnlint.script.interpreter.expressions import Expressions
from bnlint.script.interpreter.imports import Imports
from bnlint.script.interpreter.keras_api import KerasApi
from bnlint.script.interpreter.literals import (  # noqa: F401 (the script checker's)
    IMPORT_DEPTH,
    ReturnReached,
    preprocessing_visible,
)
from bnlint.script.interpreter.statements import Statements
from bnlint.script.interpreter.user_code import UserCode
from bnlint.script.values import (
    Class,
    Env,
    Function,
    Instance,
)


class Collector(Statements, Expressions, Imports, KerasApi, UserCode):
    def __init__(self, facts: Facts, path: pathlib.Path | None, follow_imports: int = IMPORT_DEPTH,
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
        self._in_method = False                 # running a method of a Keras Layer/Model subclass
        self._instances: list[Instance] = []
        # (class, instance) of the method running, innermost last (for `super()`)
        self._owners: list[tuple[Class, Instance]] = []
        # Sites in this file from which the running code of another project module was called
        # (a module imported from this file runs, at import time, on behalf of the import line).
        self._anchors: list[Site] = [anchor] if anchor is not None else []
        self._repeated = 0                      # inside a loop body or a never-called function (BN007)
        self._loops = 0                         # loops around this statement in the running function

    # --- entry points ----------------------------------------------------------------------

    def run(self, chunks: list[Chunk], run_uncalled: bool = True) -> Env:
        for chunk in chunks:
            self._chunk = chunk
            try:
                self._exec_body(chunk.body, self.module_env)
            except ReturnReached:
                pass             # a module-level `raise` (or a stray `return`) ends the module or cell
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

