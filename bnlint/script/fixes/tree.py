"""The libcst side of fixes: find the nodes a fix plan points at, and rewrite the tree.

Imported only when fixes are applied (or their edits are shown): a plain check never loads libcst.
A codemod gets a `Source` (the file or cell), takes the `Tree` of the lines its fix touches (parsed
once, shared by the fixes there), starts a `Rewrite`, records what to replace, what statements to
insert and which imports to add, and returns the new text. libcst keeps every byte it does not touch: comments, blank lines, quotes,
line endings.
"""
from __future__ import annotations

import libcst as cst
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor, ImportItem
from libcst.metadata import MetadataWrapper, ParentNodeProvider, PositionProvider

from bnlint.script.source import split_lines


class NotApplicable(Exception):
    """The code is not what the fix plan expected (it changed since the check): no fix."""


class Source:
    """The text fixes are computed on (a file, or one notebook cell's Python), parsed by windows:
    a fix names the top-level statements it touches (its window, 1-based first and last line), and
    only those are parsed. libcst's positions cost about a millisecond a line, so a fix in a
    200 000-line file must not parse the whole file."""

    def __init__(self, text: str):
        self.text = text
        self.lines = split_lines(text)
        self._trees: dict[tuple[int, int], Tree] = {}

    def tree(self, window) -> Tree:
        last = max(len(self.lines), 1)
        key = (1, last) if window is None else (max(1, window[0]), min(last, window[1]))
        if key not in self._trees:
            self._trees[key] = Tree(self, key)
        return self._trees[key]

    def splice(self, windows: dict[tuple[int, int], str]) -> str:
        """The text with each window's lines replaced by new code (windows do not intersect)."""
        lines = list(self.lines)
        for (first, last), code in sorted(windows.items(), reverse=True):
            lines[first - 1:last] = [code]
        return "".join(lines)


class Tree:
    def __init__(self, source: Source, window: tuple[int, int]):
        self.source = source
        self.window = window
        first, last = window
        try:
            module = cst.parse_module("".join(source.lines[first - 1:last]))
        except (cst.ParserSyntaxError, RecursionError, ValueError) as exc:
            raise NotApplicable(f"lines {first}-{last} do not parse on their own: {exc}") from None
        self.wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
        self.module = self.wrapper.module
        self.parents = self.wrapper.resolve(ParentNodeProvider)
        self._by_start: dict[tuple[int, int], list[tuple[cst.CSTNode, tuple]]] = {}
        offset = first - 1
        for node, where in self.wrapper.resolve(PositionProvider).items():
            span = (where.start.line + offset, where.start.column + 1, where.end.line + offset, where.end.column + 1)
            self._by_start.setdefault(span[:2], []).append((node, span))

    def node(self, span, *types: type) -> cst.CSTNode:
        """The node of one of `types` exactly at `span` (a 1-based span from the check)."""
        found = [n for n, s in self._by_start.get(tuple(span[:2]), ()) if s == tuple(span) and isinstance(n, types)]
        if len(found) != 1:
            raise NotApplicable(f"no single {'/'.join(t.__name__ for t in types)} at {span}")
        return found[0]

    def statement(self, span) -> cst.CSTNode:
        """The statement (a whole line of simple statements, or a compound statement) at `span` in a
        block: the stdlib `ast` span of a simple statement or of a compound statement."""
        found = []
        for node, where in self._by_start.get(tuple(span[:2]), ()):
            if where != tuple(span) or not isinstance(node, (cst.BaseSmallStatement, cst.BaseCompoundStatement)):
                continue
            if isinstance(node, cst.BaseSmallStatement):
                node = self.parents[node]
            if isinstance(node, (cst.SimpleStatementLine, cst.BaseCompoundStatement)) \
                    and isinstance(self.parents.get(node), (cst.Module, cst.IndentedBlock)):
                found.append(node)
        found = list(dict.fromkeys(found))
        if len(found) != 1:
            raise NotApplicable(f"no statement at {span}")
        return found[0]

    def code(self, node: cst.CSTNode) -> str:
        return self.module.code_for_node(node)

    def expression(self, code: str) -> cst.BaseExpression:
        return cst.parse_expression(code, config=self.module.config_for_parsing)

    def statements(self, code: str) -> list[cst.BaseStatement]:
        """Statements written with "\\n" and 4-space indents, parsed in the file's own style (its line
        endings and indentation; libcst indents them to wherever they are inserted)."""
        lines = []
        for line in code.rstrip("\n").split("\n"):
            body = line.lstrip(" ")
            lines.append(self.module.default_indent * ((len(line) - len(body)) // 4) + body)
        newline = self.module.default_newline
        return list(cst.parse_module(newline.join(lines) + newline, config=self.module.config_for_parsing).body)

    def rewrite(self) -> Rewrite:
        return Rewrite(self)


class Rewrite:
    def __init__(self, tree: Tree):
        self.tree = tree
        self.replacements: dict[cst.CSTNode, object] = {}
        self.before: dict[cst.CSTNode, list[cst.BaseStatement]] = {}
        self.after: dict[cst.CSTNode, list[cst.BaseStatement]] = {}
        self.imports: list[ImportItem] = []
        self.import_window: tuple[int, int] | None = None

    def replace(self, old: cst.CSTNode, new) -> Rewrite:
        """Put `new` in place of `old`; `new` may be a function of the rewritten `old` (so that
        changes inside it are kept)."""
        self.replacements[old] = new
        return self

    def insert_before(self, statement: cst.CSTNode, new: list[cst.BaseStatement]) -> Rewrite:
        self.before.setdefault(statement, []).extend(new)
        return self

    def insert_after(self, statement: cst.CSTNode, new: list[cst.BaseStatement]) -> Rewrite:
        self.after.setdefault(statement, []).extend(new)
        return self

    def add_import(self, module: str, name: str, window=None) -> Rewrite:
        """`from module import name` through libcst's AddImportsVisitor (no duplicate, merged into
        an existing `from module import ...`), applied to the import statements at `window` (the
        file's own Keras import: a new import goes right after it), else to the fix's own lines."""
        self.imports.append(ImportItem(module, name))
        self.import_window = tuple(window) if window is not None else None
        return self

    def code(self) -> str:
        """The whole new text (file or cell)."""
        module = self.tree.module.visit(_Apply(self))
        windows = {}
        if self.imports:
            at = self.import_window
            if at is None or (at[0] <= self.tree.window[1] and self.tree.window[0] <= at[1]):
                module = AddImportsVisitor(CodemodContext(), self.imports).transform_module(module)
            else:
                imports = self.tree.source.tree(at)
                windows[imports.window] = AddImportsVisitor(CodemodContext(), self.imports).transform_module(
                    imports.module).code
        windows[self.tree.window] = module.code
        return self.tree.source.splice(windows)


class _Apply(cst.CSTTransformer):
    def __init__(self, rewrite: Rewrite):
        super().__init__()
        self.rewrite = rewrite

    def on_leave(self, original_node, updated_node):
        rewrite = self.rewrite
        if original_node in rewrite.replacements:
            new = rewrite.replacements[original_node]
            updated_node = new(updated_node) if callable(new) else new
        before = rewrite.before.get(original_node, [])
        after = rewrite.after.get(original_node, [])
        if not before and not after:
            return updated_node
        if before:
            # Comments and blank lines above the statement stay above the inserted lines.
            before = [before[0].with_changes(leading_lines=updated_node.leading_lines), *before[1:]]
            updated_node = updated_node.with_changes(leading_lines=())
        return cst.FlattenSentinel([*before, updated_node, *after])


def compile_statement(tree: Tree, compile_code: str, optimizer: str | None) -> cst.SimpleStatementLine:
    """`model.compile(...)` as written before, as a statement of its own, with the optimizer
    argument replaced by `optimizer` (code that re-creates it) when given."""
    call = tree.expression(compile_code)
    if not isinstance(call, cst.Call):
        raise NotApplicable("the compile() call is not a call any more")
    if optimizer is not None:
        args = list(call.args)
        index = next((i for i, a in enumerate(args) if a.keyword is not None and a.keyword.value == "optimizer"), None)
        if index is None:
            index = 0 if args and args[0].keyword is None and not args[0].star else None
        if index is None:
            raise NotApplicable("no optimizer argument in the compile() call")
        args[index] = args[index].with_changes(value=tree.expression(optimizer))
        call = call.with_changes(args=args)
    return cst.SimpleStatementLine(body=[cst.Expr(call)])
