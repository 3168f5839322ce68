"""Split a script into top-level statements and keep only those that can matter.

The stdlib `ast` parses the whole file (a few ms for a typical script) and gives statement
boundaries and exact positions. Only the top-level statements that mention a name the rules care
about (plus everything those statements bind, to a fixed point) become chunks for the collector;
the rest of a big file is never walked.
"""
from __future__ import annotations

import ast
import bisect
import contextlib
import gc
import itertools
import re
import sys
import warnings
from dataclasses import dataclass, field

from bnlint.errors import BnlintInputError
from bnlint.script.applications import FAMILIES, ZOO_NAMES, names_zoo_architecture
from bnlint.script.python2 import python3_reading
from bnlint.script.source import dominant_newline, split_lines

# Names whose presence makes a statement worth analysing: what the rules look for.
SEED_NAMES = frozenset(FAMILIES) | ZOO_NAMES | {
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
_STRING_CONSTANT = re.compile(r"[A-Za-z_]\w*[ \t]*=[ \t]*['\"]([\w.-]{1,63})['\"][ \t]*(?:#[^\n]*)?\n?$")


@dataclass(eq=False)
class Chunk:
    """One top-level statement group of a file (or notebook cell), as stdlib AST statements.

    Node positions are those of the file (or cell) itself; `ast` counts columns in UTF-8 bytes,
    findings in characters, so `position` converts."""

    body: list = field(repr=False)   # list[ast.stmt]
    first_line: int            # line of the chunk's first line in the file (or cell)
    cell: int | None
    lines: list[str] = field(repr=False)    # every line of the file (or cell), with terminators
    external: bool = False     # belongs to a sibling module read for cross-module facts
    # Notebook cells: characters IPython's cleanup removed at the start of each line (a cell's
    # leading indent, pasted prompts); positions add them back to point into the cell as written.
    # A Python 2 reading adds the columns its expanded tab indentation moved (negative).
    removed: tuple[int, ...] = field(default=(), repr=False)
    # Read as Python 2 (python2.py rewrote it as Python 3, same lines): its nodes are positions in the
    # rewritten text, and fixes, which edit Python 3 source, are not offered.
    python2: bool = False

    @property
    def newline(self) -> str:
        return dominant_newline(self.lines[self.first_line - 1]) if self.lines else "\n"

    def position(self, node: ast.AST) -> tuple[int, int, int, int]:
        """1-based (line, column, end_line, end_column) of `node` in the file or cell as written."""
        line, column, end_line, end_column = self._text_position(node)
        return line, column + self._removed(line), end_line, end_column + self._removed(end_line)

    @property
    def shifted(self) -> bool:
        """Did IPython's cleanup move columns of this cell (then text edits cannot be placed safely)?"""
        return any(self.removed)

    def _removed(self, line: int) -> int:
        return self.removed[line - 1] if 0 < line <= len(self.removed) else 0

    def _text_position(self, node: ast.AST) -> tuple[int, int, int, int]:
        line, end_line = node.lineno, node.end_lineno or node.lineno
        end_offset = node.end_col_offset if node.end_col_offset is not None else node.col_offset
        return (line, self._column(line, node.col_offset) + 1,
                end_line, self._column(end_line, end_offset) + 1)

    def _column(self, line: int, byte_offset: int) -> int:
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        if text.isascii():
            return byte_offset
        return len(text.encode("utf-8")[:byte_offset].decode("utf-8", errors="replace"))

    def code(self, node: ast.AST) -> str:
        """The source text of `node`."""
        line, column, end_line, end_column = self._text_position(node)
        if line == end_line:
            return self.lines[line - 1][column - 1:end_column - 1]
        parts = [self.lines[line - 1][column - 1:], *self.lines[line:end_line - 1],
                 self.lines[end_line - 1][:end_column - 1]]
        return "".join(parts)

    def line_text(self, line: int) -> str:
        """Text of a file (or cell) line, without its line ending."""
        return self.lines[line - 1].rstrip("\r\n")


@dataclass
class ParsedSource:
    chunks: list[Chunk]
    text: str = field(repr=False)
    lines: list[str] = field(repr=False)          # split_lines(text)
    # (first line, last line) of every top-level statement group, in order
    spans: list[tuple[int, int]] = field(repr=False)
    python2: bool = False         # the text is python2.py's Python 3 reading of Python 2 source

    def uses_name(self, name: str) -> bool:
        """Is `name` a variable, parameter, function, class or import anywhere in the text?

        Cheap first: an occurrence not followed by `=` is a use. Only when every occurrence is
        followed by `=` (a keyword argument, or an assignment) does the AST of the top-level
        statements holding them decide."""
        occurrences = list(re.finditer(rf"(?<![.\w]){re.escape(name)}(?!\w)([ \t]*=(?!=))?", self.text))
        if not occurrences:
            return False
        if any(m.group(1) is None for m in occurrences) or not self.spans:
            return True
        lines = self.lines
        line_offsets = list(itertools.accumulate((len(line) for line in lines), initial=0))
        starts = [first for first, _ in self.spans]
        groups = set()
        for match in occurrences:
            line = bisect.bisect_right(line_offsets, match.start())
            groups.add(max(bisect.bisect_right(starts, line) - 1, 0))
        for index in sorted(groups):
            first, last = self.spans[index]
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    tree = ast.parse("".join(lines[first - 1:last]))
            except (SyntaxError, RecursionError, MemoryError):
                return True     # a piece of a big file's text split: assume the name is taken
            for node in ast.walk(tree):
                if (isinstance(node, ast.Name) and node.id == name) or (isinstance(node, ast.arg) and node.arg == name):
                    return True
        return False


@contextlib.contextmanager
def _parse_errors_as_bn900(where: str, cell: int | None = None, removed: tuple[int, ...] = (),
                           syntax_errors: bool = True):
    """What Python's parser raises on bad source, as one clear BN900 reason located at the error
    (in the cell as written, for a notebook). `syntax_errors=False` lets a SyntaxError through."""
    try:
        yield
    except SyntaxError as exc:
        if not syntax_errors:
            raise
        line = exc.lineno or 1
        column = (exc.offset or 1) + (removed[line - 1] if 0 < line <= len(removed) else 0)
        raise BnlintInputError(f"syntax error: {exc.msg}", line, max(1, column), cell) from None
    except (RecursionError, MemoryError):
        raise BnlintInputError(f"{where}expression nested too deeply to parse", cell=cell) from None
    except ValueError as exc:
        raise BnlintInputError(f"cannot parse {where.rstrip(', ') or 'file'}: {exc}", cell=cell) from None


def check_syntax(text: str, cell: int | None = None, removed: tuple[int, ...] = ()) -> None:
    """Raise BnlintInputError where `text` does not compile (bytecode only: no AST objects), read
    as Python 3 or else as Python 2 (the error reported is Python 3's)."""
    import ast as _ast

    flags = _ast.PyCF_ALLOW_TOP_LEVEL_AWAIT if cell is not None else 0   # IPython runs top-level await
    where = f"cell {cell}, " if cell is not None else ""
    with _parse_errors_as_bn900(where, cell, removed), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            compile(text, "<bnlint>", "exec", flags=flags, dont_inherit=True)
        except SyntaxError:
            python3 = python3_reading(text)
            if python3 is None or not _compiles(python3.text, flags):
                raise


def _compiles(text: str, flags: int = 0) -> bool:
    try:
        compile(text, "<bnlint>", "exec", flags=flags, dont_inherit=True)
    except (SyntaxError, ValueError):
        return False
    return True


def parse_python(text: str, cell: int | None = None, external: bool = False,
                 relevant_names: set[str] | None = None, removed: tuple[int, ...] = ()) -> ParsedSource:
    """Parse the statements of `text` that can matter. `relevant_names` carries the names found
    relevant so far across the cells of a notebook (they share one namespace); it is updated.
    `removed`: per line, the characters IPython's cleanup took off the cell's text (see Chunk)."""
    where = f"cell {cell}, " if cell is not None else ""
    names = relevant_names if relevant_names is not None else set()
    try:
        return _parse(text, where, cell, external, names, removed)
    except SyntaxError as error:
        python3_error = error
    # Python 2 source (legacy Keras): read its Python 3 rewrite, same lines. When that does not
    # parse either, the file's own Python 3 syntax error is the BN900.
    python3 = python3_reading(text)
    if python3 is not None:
        try:
            return _parse(python3.text, where, cell, external, names, _moved(removed, python3.shifts), python2=True)
        except SyntaxError:
            pass
    with _parse_errors_as_bn900(where, cell, removed):
        raise python3_error


def _moved(removed: tuple[int, ...], shifts: tuple[int, ...]) -> tuple[int, ...]:
    """Per line, what to add to a column of the Python 3 reading to point into the text as written:
    IPython's cleanup (`removed`) and the Python 2 reading's indentation (`shifts`) together."""
    if not shifts:
        return removed
    return tuple((removed[i] if i < len(removed) else 0) + shift for i, shift in enumerate(shifts))


def _parse(text: str, where: str, cell: int | None, external: bool, names: set[str], removed: tuple[int, ...],
           python2: bool = False) -> ParsedSource:
    """Raises SyntaxError for bad source (BnlintInputError for what else the parser rejects)."""
    lines = split_lines(text)
    if len(text) >= FAST_SPLIT_CHARS:
        parsed = _parse_big(text, lines, where, cell, external, names, removed, python2)
        if parsed is not None:
            return parsed
    gc_was_enabled = gc.isenabled()
    try:
        # The AST of a big file is millions of objects that all stay alive: cyclic GC passes
        # during its construction only cost time.
        gc.disable()
        with _parse_errors_as_bn900(where, cell, removed, syntax_errors=False), warnings.catch_warnings():
            warnings.simplefilter("ignore")          # invalid escape sequences etc.
            tree = ast.parse(text)
    finally:
        if gc_was_enabled:
            gc.enable()
    groups = _AstGroups(_statement_groups(tree.body), lines)
    del tree
    chunks = [Chunk(groups.statements(index), groups.span(index)[0], cell, lines, external, removed, python2)
              for index in _relevant_groups(groups, names)]
    return ParsedSource(chunks, text, lines, groups.spans, python2)


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


_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_IMPORTS = (ast.Import, ast.ImportFrom)


def _bound_names(stmts: list[ast.stmt]) -> set[str]:
    """Names a group binds (assignment targets, defs, imports of non-unrelated modules).

    Walks every node of the group (a whole class of a big library file), so the walk is written
    out: exact node classes and one stack, not ast.walk's generators (2-3x faster)."""
    bound: set[str] = set()
    stack: list = list(stmts)
    while stack:
        node = stack.pop()
        cls = node.__class__
        if cls is ast.Name:
            if node.ctx.__class__ is ast.Store:
                bound.add(node.id)
            continue
        if cls is ast.Attribute:
            if node.ctx.__class__ is ast.Store:
                bound.add(node.attr)
        elif cls in _DEFINITIONS:
            bound.add(node.name)
        elif cls in _IMPORTS:
            module = node.module if cls is ast.ImportFrom else None
            for alias in node.names:
                root = (module or alias.name).split(".")[0] if not getattr(node, "level", 0) else ""
                if root in _UNRELATED_MODULES:
                    continue      # `np`, `os`, ...: binding them must not make every line relevant
                bound.add((alias.asname or alias.name).split(".")[0])
            continue
        # lists hold nodes, or names (`global a, b`) and None (`{**d}` keys): those have no _fields
        for name in getattr(cls, "_fields", ()):
            value = getattr(node, name, None)
            if value.__class__ is list:
                stack.extend(value)
            elif isinstance(value, ast.AST):
                stack.append(value)
    return bound


_NUMBER_CONSTANT = re.compile(r"[A-Za-z_]\w*[ \t]*=[ \t]*-?\d+[ \t]*(?:#[^\n]*)?\r?\n?\Z")


def _int_constant(node: ast.expr) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        node = node.operand
    return isinstance(node, ast.Constant) and type(node.value) is int


def _name_table(node: ast.expr) -> bool:
    """A string constant (a model file's path), or a dict, list or tuple literal of string constants
    (values of a dict)."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.Dict):
        items = node.values
    elif isinstance(node, (ast.List, ast.Tuple)):
        items = node.elts
    else:
        return False
    return bool(items) and all(isinstance(i, ast.Constant) and isinstance(i.value, str) for i in items)


class _AstGroups:
    """Top-level statement groups from the stdlib AST (exact)."""

    def __init__(self, groups: list[tuple[int, int, list[ast.stmt]]], lines: list[str]):
        self.groups = groups
        self.spans = [(first, last) for first, last, _ in groups]
        self.words = [set(_IDENTIFIER.findall("".join(lines[a - 1:b]))) for a, b in self.spans]

    def __len__(self) -> int:
        return len(self.groups)

    def span(self, index: int) -> tuple[int, int]:
        return self.spans[index]

    def statements(self, index: int) -> list[ast.stmt]:
        return self.groups[index][2]

    def has_import(self, index: int) -> bool:
        for stmt in self.groups[index][2]:
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                return True
            if "import" in self.words[index] and not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                # `try: import ... except ImportError:` and `if ...: import ...` at module level
                if any(isinstance(n, (ast.Import, ast.ImportFrom)) for n in ast.walk(stmt)):
                    return True
        return False

    def defines(self, index: int) -> list[str]:
        return [stmt.name for stmt in self.groups[index][2]
                if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]

    def names_architecture(self, index: int) -> bool:
        """`BACKBONE = "resnet34"`: a model zoo's architecture, chosen by a constant."""
        return any(isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Constant)
                   and isinstance(stmt.value.value, str) and names_zoo_architecture(stmt.value.value)
                   for stmt in self.groups[index][2])

    def binds(self, index: int) -> set[str]:
        return _bound_names(self.groups[index][2])

    def binds_number(self, index: int) -> bool:
        """`FREEZE_LAYERS = 2`, `fine_tune_at = -20`: an integer constant; `CLF2CLASS = {"resnet50":
        "ResNet50", ...}`: a table of names (what a `getattr` or a dict lookup may pick)."""
        return any(isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)
                   and (_int_constant(stmt.value) or _name_table(stmt.value)) for stmt in self.groups[index][2])


def _relevant_groups(groups, names: set[str]) -> list[int]:
    """Indices of groups that mention a seed name, or a name bound by a relevant group, or that
    define a function/class a relevant group uses; imports always. `names` grows in place.
    Bound names are computed only for relevant groups (walking every statement is the slow part)."""
    words = groups.words
    # module-level numbers too: `FREEZE_LAYERS = 2` decides what `model.layers[:FREEZE_LAYERS]` reaches
    relevant = [groups.has_import(index) or groups.names_architecture(index) or groups.binds_number(index)
                for index in range(len(groups))]
    names |= SEED_NAMES
    def_groups: dict[str, list[int]] = {}
    for index in range(len(groups)):
        for name in groups.defines(index):
            def_groups.setdefault(name, []).append(index)
    for index, is_relevant in enumerate(relevant):
        if is_relevant:
            names |= groups.binds(index)
    changed = True
    while changed:
        changed = False
        for index in range(len(groups)):
            if relevant[index] or names.isdisjoint(words[index]):
                continue
            relevant[index] = True
            changed = True
            names |= groups.binds(index)
            for name in words[index]:
                for def_index in def_groups.get(name, ()):
                    if not relevant[def_index]:
                        relevant[def_index] = True
                        names |= groups.binds(def_index)
        if not changed:
            # BN007 counts steps from the data and numbers a fit() call is given: the statements
            # binding those names matter too (`x_train = np.zeros((12, ...))`, `EPOCHS = 10`).
            counted = _fit_argument_names(groups, relevant) - names
            if counted:
                names |= counted
                changed = True
    return [index for index, flag in enumerate(relevant) if flag]


_FIT_WORDS = frozenset({"fit", "fit_generator"})
_COUNT_KEYWORDS = frozenset({"x", "epochs", "steps_per_epoch", "batch_size"})


def _fit_argument_names(groups, relevant: list[bool]) -> set[str]:
    """Plain names passed as `x` (first argument), epochs, steps_per_epoch or batch_size to a fit()
    call of a relevant group (exact AST groups only; big files split by text skip this)."""
    if not isinstance(groups, _AstGroups):
        return set()
    found: set[str] = set()
    for index, is_relevant in enumerate(relevant):
        if not is_relevant or _FIT_WORDS.isdisjoint(groups.words[index]):
            continue
        for node in _nodes(groups.statements(index)):
            if not (node.__class__ is ast.Call and node.func.__class__ is ast.Attribute
                    and node.func.attr in _FIT_WORDS):
                continue
            values = node.args[:1] + [k.value for k in node.keywords if k.arg in _COUNT_KEYWORDS]
            found.update(v.id for v in values if isinstance(v, ast.Name))
    return found


def _nodes(stmts: list[ast.stmt]) -> list[ast.AST]:
    """Every node of `stmts`, in no particular order: what ast.walk yields, without a generator
    per node (the walk over a big group is the slow part of choosing the groups)."""
    found: list[ast.AST] = []
    stack: list = list(stmts)
    while stack:
        node = stack.pop()
        fields = getattr(node.__class__, "_fields", None)
        if fields is None:
            continue          # lists also hold names (`global a, b`) and None (`{**d}` keys)
        found.append(node)
        for name in fields:
            value = getattr(node, name, None)
            if value.__class__ is list:
                stack.extend(value)
            elif isinstance(value, ast.AST):
                stack.append(value)
    return found


# --- big files: split without building the AST -----------------------------------------------

# Above this size the stdlib AST of the whole file costs seconds and hundreds of MB: check the
# syntax with compile() (no Python objects), split at lines that certainly start a top-level
# statement, and fall back to the AST split if a relevant piece does not parse on its own.
FAST_SPLIT_CHARS = 2_000_000
_CONTINUATION = re.compile(r"(?:else|elif|except|finally)\b")
_DEF = re.compile(r"(?:async[ \t]+)?(?:def|class)[ \t]+(\w+)")
_IMPORT_LINE = re.compile(r"^[ \t]*(?:import|from)[ \t]", re.M)
_IMPORT_STATEMENT = re.compile(r"^[ \t]*(?:import|from)[ \t][^\n]*", re.M)
_TEXT_BINDS = re.compile(
    r"^[ \t]*((?:[A-Za-z_]\w*[ \t]*,[ \t]*)*[A-Za-z_]\w*)[ \t]*(?::[^=\n]*)?=(?!=)"  # a, b = ... / a: T = ...
    r"|\bfor[ \t]+([A-Za-z_]\w*)"                                   # for name in
    r"|\bas[ \t]+([A-Za-z_]\w*)"                                    # import x as name, with ... as name
    r"|\.(\w+)[ \t]*=(?!=)"                                         # obj.attr = ...
    r"|^[ \t]*(?:async[ \t]+)?(?:def|class)[ \t]+(\w+)", re.M)


def _parse_big(text: str, lines: list[str], where: str, cell, external, names: set[str],
               removed: tuple[int, ...] = (), python2: bool = False) -> ParsedSource | None:
    with _parse_errors_as_bn900(where, cell, removed, syntax_errors=False), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = compile(text, "<bnlint>", "exec", dont_inherit=True)
    executed = {line for _, _, line in code.co_lines() if line is not None}
    del code
    groups = _TextGroups(_text_starts(lines, executed), lines)
    before = set(names)
    chunks = []
    for index in _relevant_groups(groups, names):
        start, end = groups.span(index)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                piece = ast.parse("".join(lines[start - 1:end]))
        except SyntaxError:
            # the text split cut a statement: undo, and let the careful path compute them again
            names.clear()
            names |= before
            return None
        ast.increment_lineno(piece, start - 1)
        chunks.append(Chunk(piece.body, start, cell, lines, external, removed, python2))
    return ParsedSource(chunks, text, lines, groups.spans, python2)


def _text_starts(lines: list[str], executed: set[int]) -> list[int]:
    """Lines that certainly start a top-level statement: at column 0, not a comment, closer or
    continuation keyword, and running module-level bytecode (so not inside a string)."""
    starts = []
    after_decorator = False
    for number, line in enumerate(lines, 1):
        if not line or line[0] in " \t#\r\n)]}\"'" or _CONTINUATION.match(line):
            continue
        is_decorator = line[0] == "@"
        if number in executed or is_decorator or _DEF.match(line):
            if not after_decorator:
                starts.append(number)
            after_decorator = is_decorator
    if not starts or starts[0] != 1:
        starts.insert(0, 1)
    return starts


class _TextGroups:
    """Top-level statement groups found from the text (a group may hold several statements)."""

    def __init__(self, starts: list[int], lines: list[str]):
        ends = [start - 1 for start in starts[1:]] + [len(lines)]
        self.spans = list(zip(starts, ends))
        self.texts = ["".join(lines[a - 1:b]) for a, b in self.spans]
        self.words = [set(_IDENTIFIER.findall(text)) for text in self.texts]

    def __len__(self) -> int:
        return len(self.spans)

    def span(self, index: int) -> tuple[int, int]:
        return self.spans[index]

    def has_import(self, index: int) -> bool:
        return "import" in self.words[index] and _IMPORT_LINE.search(self.texts[index]) is not None

    def defines(self, index: int) -> list[str]:
        match = _DEF.match(self.texts[index])
        return [match.group(1)] if match else []

    def binds_number(self, index: int) -> bool:
        return _NUMBER_CONSTANT.match(self.texts[index]) is not None

    def names_architecture(self, index: int) -> bool:
        match = _STRING_CONSTANT.match(self.texts[index])
        return bool(match) and names_zoo_architecture(match.group(1))

    def binds(self, index: int) -> set[str]:
        # import lines are handled below (their `as` names only count for Keras-ish modules)
        body = _IMPORT_STATEMENT.sub("", self.texts[index])
        bound = {name.strip() for groups in _TEXT_BINDS.findall(body)
                 for found in groups if found for name in found.split(",")}
        if self.has_import(index):
            for match in re.finditer(r"^[ \t]*(?:from[ \t]+([\w.]+)[ \t]+)?import[ \t]+([^\n#]+)",
                                     self.texts[index], re.M):
                module = (match.group(1) or match.group(2)).split()[0].split(".")[0]
                if module in _UNRELATED_MODULES:
                    continue
                for part in match.group(2).replace("(", " ").replace(")", " ").split(","):
                    pieces = part.split()
                    if pieces:
                        bound.add(pieces[-1].split(".")[0])
        return bound
