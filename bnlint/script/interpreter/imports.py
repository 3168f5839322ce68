"""Imports: Keras names, and the modules of the same project (read, never executed)."""
from __future__ import annotations

import ast

from bnlint.script.applications import (
    APPLICATION_MODULES,
    FAMILIES,
    SEGMENTATION_MODELS,
    ZOO_ROOTS,
)
from bnlint.script.interpreter.literals import preprocessing_visible
from bnlint.script.project import module_candidates, read_project_module
from bnlint.script.target_inference import note_era_signals, note_python2
from bnlint.script.values import (
    Env,
    Module,
    QName,
)


class Imports:
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
                for name in (*FAMILIES, *(APPLICATION_MODULES if module.endswith("applications") else ())):
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
            # most candidates do not exist (`import numpy` looks in the project too): one stat
            # rules them out before resolving symlinks, which costs a stat per path component
            if not candidate.is_file():
                continue
            try:
                resolved = candidate.resolve()
            except OSError:
                continue
            if resolved in self._siblings:
                return self._siblings[resolved]
            if resolved == self.path.resolve():
                continue
            self._siblings[resolved] = None
            module = read_project_module(candidate)
            if module is None:
                return None
            text, parsed = module
            if preprocessing_visible(text):
                self.facts.preprocessing_visible = True
            note_era_signals(self.facts.imports, text)     # the project's code dates the script too
            if parsed.python2:
                note_python2(self.facts.imports)
            anchor = self._anchors[-1] if self._anchors else (
                self._site(self._statement) if self._statement is not None and not self._chunk.external else None)
            # a package's `__init__.py` re-exporting its modules is a hop of the import, not a level of code
            depth = self.follow_imports - (candidate.name != "__init__.py")
            helper = type(self)(self.facts, candidate, depth, self.extra_folders,
                               self._siblings, anchor)
            saved = self._chunk
            env = helper.run(parsed.chunks, run_uncalled=False)
            self._chunk = saved
            self._siblings[resolved] = env
            return env
        return None

