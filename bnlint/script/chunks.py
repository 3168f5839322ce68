"""Split a script into top-level statements and parse only those that can matter.

libcst builds a full concrete syntax tree in Python objects, which costs about 0.3 ms a line:
a 200,000-line generated script would take a minute. The stdlib `ast` parser checks the syntax of
the whole file in a fraction of that and gives statement boundaries; libcst then parses only the
top-level statements that mention a name the rules care about (plus everything those statements
bind, to a fixed point), each as its own small module. Positions are shifted back by the chunk's
first line.
"""
from __future__ import annotations

import ast
import gc
import re
import sys
import warnings
from dataclasses import dataclass, field

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from bnlint.errors import BnlintInputError
from bnlint.script.applications import FAMILIES
from bnlint.script.source import split_lines

# Names whose presence makes a statement worth a full parse: what the rules look for.
SEED_NAMES = frozenset(FAMILIES) | {
    "applications", "load_model", "set_learning_phase", "trainable", "compile", "fit",
    "fit_generator", "train_on_batch", "Model", "Sequential", "Functional", "setattr",
    "TimeDistributed", "Input",
}

# Imports from these never bind a Keras object.
_UNRELATED_MODULES = frozenset(sys.stdlib_module_names) | {
    "numpy", "pandas", "matplotlib", "seaborn", "sklearn", "scipy", "cv2", "PIL", "tqdm", "torch",
    "torchvision", "skimage", "imageio", "plotly", "requests", "yaml", "h5py", "IPython", "google",
}

_IDENTIFIER = re.compile(r"[^\W\d]\w*")


@dataclass(eq=False)
class Chunk:
    """One top-level statement group, parsed by libcst on its own."""

    module: cst.Module = field(repr=False)
    first_line: int            # line of the chunk's first line in the file (or cell)
    cell: int | None
    external: bool = False     # belongs to a sibling module read for cross-module facts
    _positions: object = field(default=None, repr=False)
    _lines: list | None = field(default=None, repr=False)

    def position(self, node: cst.CSTNode) -> tuple[int, int, int, int]:
        """1-based (line, column, end_line, end_column) of `node` in the file or cell."""
        if self._positions is None:
            self._positions = MetadataWrapper(self.module, unsafe_skip_copy=True).resolve(PositionProvider)
        code_range = self._positions[node]
        offset = self.first_line - 1
        return (code_range.start.line + offset, code_range.start.column + 1,
                code_range.end.line + offset, code_range.end.column + 1)

    def code(self, node: cst.CSTNode) -> str:
        return self.module.code_for_node(node)

    def line_text(self, line: int) -> str:
        """Text of a file (or cell) line inside this chunk, without its line ending."""
        if self._lines is None:
            self._lines = split_lines(self.module.code)
        return self._lines[line - self.first_line].rstrip("\r\n")


@dataclass
class ParsedSource:
    chunks: list[Chunk]
    text: str = field(repr=False)

    def uses_name(self, name: str) -> bool:
        """Is `name` a variable, parameter, function, class or import anywhere in the text?

        Cheap first: an occurrence not followed by `=` is a use. Only when every occurrence is
        followed by `=` (a keyword argument, or an assignment) does the AST decide."""
        occurrences = list(re.finditer(rf"(?<![.\w]){re.escape(name)}(?!\w)([ \t]*=(?!=))?", self.text))
        if not occurrences:
            return False
        if any(m.group(1) is None for m in occurrences):
            return True
        for node in ast.walk(ast.parse(self.text)):
            if (isinstance(node, ast.Name) and node.id == name) or (isinstance(node, ast.arg) and node.arg == name):
                return True
        return False

def parse_python(text: str, cell: int | None = None, external: bool = False,
                 relevant_names: set[str] | None = None) -> ParsedSource:
    """Parse the statements of `text` that can matter. `relevant_names` carries the names found
    relevant so far across the cells of a notebook (they share one namespace); it is updated."""
    where = f"cell {cell}, " if cell is not None else ""
    gc_was_enabled = gc.isenabled()
    try:
        # The AST of a big file is millions of objects that all stay alive: cyclic GC passes
        # during its construction only cost time.
        gc.disable()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")          # invalid escape sequences etc.
            tree = ast.parse(text)
    except SyntaxError as exc:
        raise BnlintInputError(f"syntax error at {where}line {exc.lineno}: {exc.msg}") from None
    except (RecursionError, MemoryError):
        raise BnlintInputError(f"{where}expression nested too deeply to parse") from None
    except ValueError as exc:
        raise BnlintInputError(f"cannot parse {where.rstrip(', ') or 'file'}: {exc}") from None
    finally:
        if gc_was_enabled:
            gc.enable()

    lines = split_lines(text)
    groups = _statement_groups(tree.body)
    words = [set(_IDENTIFIER.findall("".join(lines[start - 1:end]))) for start, end, _ in groups]
    relevant = _relevant_groups(groups, words, relevant_names if relevant_names is not None else set())
    chunks = []
    for index in relevant:
        start, end, _ = groups[index]
        chunk_text = "".join(lines[start - 1:end])
        if not chunk_text.endswith(("\n", "\r")):
            chunk_text += "\n"
        try:
            module = cst.parse_module(chunk_text)
        except cst.ParserSyntaxError as exc:
            raise BnlintInputError(
                f"syntax error at {where}line {exc.raw_line + start - 1}: {exc.message}") from None
        except RecursionError:
            raise BnlintInputError(f"{where}expression nested too deeply to parse") from None
        chunks.append(Chunk(module, start, cell, external))
    del tree
    return ParsedSource(chunks, text)


def _statement_groups(body: list[ast.stmt]) -> list[tuple[int, int, list[ast.stmt]]]:
    """(first line, last line, statements): statements sharing a line form one group."""
    groups: list[tuple[int, int, list[ast.stmt]]] = []
    for stmt in body:
        start = min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", [])])
        end = stmt.end_lineno or stmt.lineno
        if groups and start <= groups[-1][1]:
            first, last, stmts = groups[-1]
            groups[-1] = (first, max(last, end), stmts + [stmt])
        else:
            groups.append((start, end, [stmt]))
    return groups


def _bound_names(stmts: list[ast.stmt]) -> set[str]:
    """Names a group binds (assignment targets, defs, imports of non-unrelated modules)."""
    bound: set[str] = set()
    for stmt in stmts:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                bound.add(node.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                bound.add(node.attr)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                bound.add(node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                module = node.module if isinstance(node, ast.ImportFrom) else None
                for alias in node.names:
                    root = (module or alias.name).split(".")[0] if not getattr(node, "level", 0) else ""
                    if root in _UNRELATED_MODULES:
                        continue      # `np`, `os`, ...: binding them must not make every line relevant
                    bound.add((alias.asname or alias.name).split(".")[0])
    return bound


def _has_import(stmts: list[ast.stmt], words: set[str]) -> bool:
    for stmt in stmts:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            return True
        if "import" in words and not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            # `try: import ... except ImportError:` and `if ...: import ...` at module level
            if any(isinstance(n, (ast.Import, ast.ImportFrom)) for n in ast.walk(stmt)):
                return True
    return False


def _relevant_groups(groups, words, names: set[str]) -> list[int]:
    """Indices of groups that mention a seed name, or a name bound by a relevant group, or that
    define a function/class a relevant group uses; imports always. `names` grows in place.
    Bound names are computed only for relevant groups (walking every statement is the slow part)."""
    relevant = [_has_import(stmts, words[index]) for index, (_, _, stmts) in enumerate(groups)]
    names |= SEED_NAMES
    def_groups: dict[str, list[int]] = {}
    for index, (_, _, stmts) in enumerate(groups):
        for stmt in stmts:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                def_groups.setdefault(stmt.name, []).append(index)
    for index, is_relevant in enumerate(relevant):
        if is_relevant:
            names |= _bound_names(groups[index][2])
    changed = True
    while changed:
        changed = False
        for index in range(len(groups)):
            if relevant[index] or names.isdisjoint(words[index]):
                continue
            relevant[index] = True
            changed = True
            names |= _bound_names(groups[index][2])
            for name in words[index]:
                for def_index in def_groups.get(name, ()):
                    if not relevant[def_index]:
                        relevant[def_index] = True
                        names |= _bound_names(groups[def_index][2])
    return [index for index, flag in enumerate(relevant) if flag]
