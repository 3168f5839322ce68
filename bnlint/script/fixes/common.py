"""What a fix plan is made of, decided on the check path from the facts (stdlib `ast` only).

Everything here runs on every check that finds something fixable, so it never imports libcst: it
only decides whether a fix is possible and hands the codemod plain data (1-based spans, names, code
text). The codemods (bnlint/script/fixes/bn00*.py, `codemod()`) run only when a fix is applied.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass

from bnlint.finding import Applicability
from bnlint.script.facts import Compile, Facts, Site, TrainableChange
from bnlint.script.rules.base import FixPlan
from bnlint.script.values import Const, QName

Span = tuple  # (line, column, end_line, end_column): 1-based, columns in characters, end exclusive

KERAS_ROOTS = ("keras", "tensorflow.keras", "tf_keras")


def plan(message: str, codemod: str, applicability: Applicability = Applicability.SAFE, **params) -> FixPlan:
    return FixPlan(message, codemod, tuple(sorted(params.items())), applicability)


def span(site_or_chunk, node: ast.AST | None = None) -> Span:
    """The 1-based span of `node` (default: the site's node) in its file or notebook cell."""
    if isinstance(site_or_chunk, Site):
        return site_or_chunk.chunk.position(node if node is not None else site_or_chunk.node)
    return site_or_chunk.position(node)


def window(*chunks) -> tuple[int, int]:
    """The lines of the top-level statements a fix touches (all in one file or cell): only these
    are parsed by libcst when the fix is made."""
    first = min(chunk.first_line for chunk in chunks)
    last = max(_end(stmt)[0] for chunk in chunks for stmt in chunk.body)
    return first, last


# --- where inserted statements go ----------------------------------------------------------------

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _blocks(stmt: ast.stmt):
    for name in ("body", "orelse", "finalbody"):
        block = getattr(stmt, name, None)
        if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
            yield block
    for handler in getattr(stmt, "handlers", ()):
        yield handler.body
    for case in getattr(stmt, "cases", ()):
        yield case.body


def _start(node: ast.AST) -> tuple[int, int]:
    return node.lineno, node.col_offset


def _end(node: ast.AST) -> tuple[int, int]:
    return node.end_lineno or node.lineno, node.end_col_offset if node.end_col_offset is not None else node.col_offset


def _contains(outer: ast.AST, inner: ast.AST) -> bool:
    return _start(outer) <= _start(inner) and _end(inner) <= _end(outer)


def statement_levels(chunk, node: ast.AST) -> list[tuple[ast.stmt, list[ast.stmt]]]:
    """(statement, the block it is in) for each statement holding `node` in `node`'s own scope,
    innermost first (a `def` or `class` starts a new scope: levels outside it do not count)."""
    levels: list[tuple[ast.stmt, list[ast.stmt]]] = []
    block = chunk.body
    while block:
        holder = next((s for s in block if _contains(s, node)), None)
        if holder is None:
            break
        if isinstance(holder, _SCOPES):
            levels = []
        else:
            levels.append((holder, block))
        block = next((b for b in _blocks(holder) if any(_contains(s, node) for s in b)), None)
    return levels[::-1]


def _alone_on_its_lines(chunk, stmt: ast.stmt, block: list[ast.stmt]) -> bool:
    """No other statement shares its first or last line (`a = 1; b = 2`, `if x: y = 1`), so new
    lines can go right after it."""
    line, column, _, _ = chunk.position(stmt)
    if chunk.line_text(line)[:column - 1].strip():
        return False
    index = next(i for i, s in enumerate(block) if s is stmt)
    if index + 1 < len(block) and block[index + 1].lineno <= _end(stmt)[0]:
        return False
    return True


def insertion_point(change: Site, later: Site) -> ast.stmt | None:
    """The statement after which inserted code runs right after `change` and before `later`: the
    innermost statement holding the change whose block runs `later` after it (so an unfreeze loop
    is followed, not entered). None when no such place exists (`later` runs inside another function,
    or before the change in a loop)."""
    if change.external or later.external:
        return None
    levels = statement_levels(change.chunk, change.node)
    if not levels:
        return None
    if later.chunk.cell != change.chunk.cell:
        # A later notebook cell runs after this whole cell.
        if change.chunk.cell is None or later.chunk.cell is None or later.chunk.cell < change.chunk.cell:
            return None
        stmt, block = levels[-1]
        return stmt if _alone_on_its_lines(change.chunk, stmt, block) else None
    if later.scope != change.scope:
        return None
    for stmt, block in levels:
        # A chunk holds one top-level statement group: at the top, the block is the whole file or cell.
        top = block is change.chunk.body
        if _start(later.node) >= _end(stmt) and (top or _contains_span(block, later.node)):
            return stmt if _alone_on_its_lines(change.chunk, stmt, block) else None
    return None


def _contains_span(block: list[ast.stmt], node: ast.AST) -> bool:
    return _start(block[0]) <= _start(node) and _end(node) <= _end(block[-1])


def runs_between(site: Site, after: ast.stmt, after_site: Site, before: Site) -> bool:
    """Does `site` run after the statement `after` (at `after_site`'s place) and before `before`?"""
    if site.chunk.cell != after_site.chunk.cell:
        return (site.chunk.cell or 0) > (after_site.chunk.cell or 0) and site.scope == "module"
    return site.scope == after_site.scope and _start(site.node) >= _end(after)


# --- spelling Keras names the way the file does ----------------------------------------------------

@dataclass(frozen=True)
class Spelling:
    expression: str                           # code naming the class where the fix puts it
    import_from: tuple[str, str] | None = None   # (module, name) to import first, when needed
    import_at: tuple[int, int] | None = None     # lines of the file's import to merge it into / put it after


def keras_root(facts: Facts) -> str | None:
    roots = facts.imports.keras_roots or facts.imports.import_roots
    return next((r for r in roots if r in KERAS_ROOTS), None)


def keras_class(facts: Facts, cls: str, cell: int | None, top_level: bool = False) -> Spelling | None:
    """How to write Keras's `cls` (`BatchNormalization`, `Input`) at a fix in `cell`: a name the
    file already binds to it (aliases included), else added to the file's own
    `from <keras>.layers import ...`, else through a module the file imports (`layers.X`,
    `keras.layers.X`, `tf.keras.layers.X`; `keras.X` too when `top_level`), else a new import.
    None when the file's Keras is unknown or the name `cls` means something else here."""
    names = facts.module_names
    root = keras_root(facts)
    for name, value in names.items():
        if any(isinstance(a, QName) and a.last == cls and a.keras_root for a in value):
            return Spelling(name)
    if root is None or facts.uses_name(cls):
        return None
    sites = [site for site, site_root in facts.imports.import_sites
             if site_root == root and not site.external and site.chunk.cell == cell]
    layers_import = [site for site in sites if isinstance(site.node, ast.ImportFrom)
                     and site.node.module == f"{root}.layers" and site.node.level == 0]
    if layers_import:
        return Spelling(cls, (f"{root}.layers", cls), window(layers_import[0].chunk))
    templates = [(".layers", "{}." + cls), ("", "{}." + cls if top_level else "{}.layers." + cls)]
    for suffix, template in templates:
        for name, value in names.items():
            for atom in value:
                if isinstance(atom, QName) and atom.keras_root == root and atom.name.endswith("keras" + suffix) \
                        and len(value) == 1:
                    return Spelling(template.format(name))
    if root == "tensorflow.keras":
        for name, value in names.items():
            if any(isinstance(a, QName) and a.name == "tensorflow" for a in value) and len(value) == 1:
                return Spelling(f"{name}.keras.{cls}" if top_level else f"{name}.keras.layers.{cls}")
    # a new import, right after the file's last Keras import in this file or cell
    return Spelling(cls, (f"{root}.layers", cls), window(sites[-1].chunk) if sites else None)


def fresh_name(facts: Facts, *wanted: str) -> str:
    """The first of `wanted` the file does not use, else the last one with a number."""
    for name in wanted:
        if not facts.uses_name(name):
            return name
    name, n = wanted[-1], 1
    while facts.uses_name(f"{name}_{n}"):
        n += 1
    return f"{name}_{n}"


def visible_name(facts: Facts, name: str, site: Site) -> bool:
    """Can code at `site` refer to a base or model by `name` (`base`, `self.backbone`)?"""
    if name.startswith("<"):
        return False
    root = name.split(".")[0]
    if not root.isidentifier():
        return False
    scope = site.scope
    if scope == "module":
        return "." not in name and root in facts.module_names
    return any(isinstance(node, ast.arg) and node.arg == root or
               isinstance(node, ast.Name) and node.id == root and isinstance(node.ctx, ast.Store)
               for node in ast.walk(scope)) or ("." not in name and root in facts.module_names)


# --- compiling again ---------------------------------------------------------------------------

def last_change(facts: Facts, change, fit, reaches) -> object:
    """The last trainable change between `change` and `fit` that `reaches` the same layers (new code
    goes after it, so a later unfreeze does not undo it)."""
    last = change
    for event in events_between(facts, change, fit):
        if isinstance(event, TrainableChange) and reaches(event) and not event.site.external:
            last = event
    return last


def events_between(facts: Facts, first, last) -> list:
    events = facts.events
    start = next(i for i, e in enumerate(events) if e is first)
    end = next(i for i, e in enumerate(events) if e is last)
    return events[start:end + 1]


def last_compile_before(facts: Facts, model, event) -> Compile | None:
    found = None
    for e in facts.events:
        if e is event:
            return found
        if isinstance(e, Compile) and e.model is model:
            found = e
    return None


def compile_again(facts: Facts, compile_event: Compile, at: Site) -> dict | None:
    """Params for repeating `compile_event` at `at`: its call's code, and how to re-create its
    optimizer. An optimizer instance cannot be reused once the trainable variables changed
    (Keras 3 refuses variables it was not built with), so a name or attribute holding one becomes
    `type(opt).from_config(opt.get_config())`: the same class and hyperparameters, fresh state.
    A string or an inline constructor call already makes a new one. None when the call's names
    may not mean the same at `at` (another function)."""
    site = compile_event.site
    if site.external or site.scope != at.scope:
        return None
    call = site.node
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Attribute):
        return None
    optimizer = next((k.value for k in call.keywords if k.arg == "optimizer"), None)
    if optimizer is None and call.args and not isinstance(call.args[0], ast.Starred):
        optimizer = call.args[0]
    recreate = None
    if optimizer is not None and isinstance(optimizer, (ast.Name, ast.Attribute)) \
            and not _holds_string(facts, optimizer):
        code = site.chunk.code(optimizer)
        recreate = f"type({code}).from_config({code}.get_config())"
    if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
        if recreate is not None:
            return None          # `compile(*args, **kw)`: the optimizer cannot be told apart
    return {"compile_code": site.chunk.code(call), "optimizer": recreate}


def _holds_string(facts: Facts, node: ast.expr) -> bool:
    if isinstance(node, ast.Name):
        value = facts.module_names.get(node.id, ())
        return bool(value) and all(isinstance(a, Const) and isinstance(a.value, str) for a in value)
    return False
