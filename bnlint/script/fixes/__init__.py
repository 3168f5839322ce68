"""Fixes as libcst codemods, one module per rule beside the rules (bn001.py ... bn004.py).

Each module has two halves:
  * `offer(...)`, called by its rule on the check path: decides from the facts whether the fix
    is possible on the target Keras, and returns a `FixPlan` (title, safe/unsafe, the codemod's
    name and plain parameters: 1-based spans, names, code text). No libcst here.
  * `codemod(source, params) -> str`, run only when a fix is applied or its edits are shown: parses
    the lines the fix touches with libcst (tree.py), finds the planned nodes and returns the fixed text.

The API (the CLI engine, JSON/SARIF edits and the LSP server's code actions use it):

    code_fixes(text, findings, notebook_cell=False) -> [CodeFix]   each fix on its own: title, edits, new text
    fix_text(text, findings, notebook_cell=False) -> (new text, [CodeFix applied])
    fix_script(data, path, findings) -> (new bytes, [(finding, CodeFix)])   files and notebooks, encodings kept
    with_edits(data, path, findings) -> findings whose fixes carry their edits

A fix whose result does not parse, that touches a notebook magic line, or that overlaps a fix
already taken is left out; the others still apply. Nothing here imports libcst until a fix with a
codemod is computed.
"""
from __future__ import annotations

import ast
import importlib
import pathlib
import warnings
from dataclasses import dataclass, replace

from bnlint.finding import Edit, Finding
from bnlint.script.source import (
    decode_script,
    dump_notebook,
    encode_script,
    load_notebook,
    split_lines,
)

__all__ = ["CodeFix", "apply_edits", "code_fixes", "fix_script", "fix_text", "with_edits"]


@dataclass(frozen=True)
class CodeFix:
    finding: Finding
    title: str
    edits: tuple[Edit, ...]      # 1-based, end exclusive, in the text given (a file, or one notebook cell)
    new_text: str                # the text with only this fix applied

    @property
    def applicability(self):
        return self.finding.fix.applicability


def _codemod(name: str):
    return importlib.import_module(f"bnlint.script.fixes.{name}").codemod


def _parses(text: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def code_fixes(text: str, findings, notebook_cell: bool = False) -> list[CodeFix]:
    """Every fix of `findings` (all in this text) computed on its own against `text`, in finding
    order; fixes that cannot be made here are left out."""
    wanted = sorted((f for f in findings if f.fix is not None and (f.fix.codemod or f.fix.edits)),
                    key=lambda f: f.sort_key)
    if not wanted:
        return []
    python = _python(text, notebook_cell)
    source = None
    out = []
    for finding in wanted:
        fix = finding.fix
        if fix.codemod is None:
            edits = tuple(fix.edits)
            if not _parses(_python(apply_edits(text, edits), notebook_cell)):
                continue
        else:
            from bnlint.script.fixes.tree import NotApplicable, Source

            source = source or Source(python)
            try:
                fixed_python = _codemod(fix.codemod)(source, dict(fix.params))
            except NotApplicable:
                continue
            if fixed_python == python:
                continue
            edits = text_edits(python, fixed_python)
            if notebook_cell and _touches_magic(text, python, edits):
                continue
            if not _parses(_changed_lines(fixed_python, python)):
                continue
        out.append(CodeFix(finding, fix.message, edits, apply_edits(text, edits)))
    return out


def _python(text: str, notebook_cell: bool) -> str:
    # IPython's cleanup of the cell (magics, shell lines) keeps its lines; fixes are only offered in
    # cells whose columns it keeps too
    if not notebook_cell:
        return text
    from bnlint.script.ipython_input import cell_python   # notebooks only: not on a script's start-up

    return cell_python(text).text


def _changed_lines(new: str, old: str) -> str:
    """What to parse to know that `new` parses, given that `old` does: a small text whole, a big
    one only from the first to the last changed line, widened to whole top-level statements (the
    codemods rewrite whole top-level statements: the rest is the old text, which parses)."""
    if len(new) < _PARSE_WHOLE_CHARS:
        return new
    a, b = split_lines(old), split_lines(new)
    first = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    tail = next((i for i, (x, y) in enumerate(zip(reversed(a), reversed(b))) if x != y), min(len(a), len(b)))
    start, end = first, max(len(b) - tail, first)
    while start > 0 and not _top_level_start(b[start]):
        start -= 1
    while end < len(b) and not _top_level_start(b[end]):
        end += 1
    return "".join(b[start:end])


def _top_level_start(line: str) -> bool:
    return bool(line) and line[0] not in " \t\r\n#)]}" and not line.startswith(("else", "elif", "except", "finally"))


# Above this size a fixed text is checked by the statements it changed, not parsed whole.
_PARSE_WHOLE_CHARS = 1_000_000


def fix_text(text: str, findings, notebook_cell: bool = False) -> tuple[str, list[CodeFix]]:
    """`text` with every fix of `findings` that does not overlap one taken before it (in finding
    order), as long as the result parses."""
    taken: list[Edit] = []
    applied: list[CodeFix] = []
    for code_fix in code_fixes(text, findings, notebook_cell):
        if any(_overlaps(new, old) for new in code_fix.edits for old in taken):
            continue
        candidate = apply_edits(text, taken + list(code_fix.edits))
        if len(candidate) < _PARSE_WHOLE_CHARS and not _parses(_python(candidate, notebook_cell)):
            continue
        taken.extend(code_fix.edits)
        applied.append(code_fix)
    return (apply_edits(text, taken) if taken else text), applied


def _is_notebook(path: pathlib.Path) -> bool:
    return path.suffix.lower() == ".ipynb"


def fix_script(data: bytes, path: pathlib.Path, findings) -> tuple[bytes, list[CodeFix]]:
    """The file's bytes with the fixes applied: encoding, BOM, line endings and (for notebooks)
    the JSON layout kept."""
    by_cell: dict[int | None, list[Finding]] = {}
    for finding in findings:
        if finding.fix is not None:
            by_cell.setdefault(finding.cell, []).append(finding)
    if not by_cell:
        return data, []
    applied: list[CodeFix] = []
    if _is_notebook(path):
        notebook = load_notebook(data)
        new_sources = {}
        for cell in notebook.cells:
            if cell.number in by_cell:
                text, done = fix_text(cell.text, by_cell[cell.number], notebook_cell=True)
                if done:
                    new_sources[cell.number] = text
                    applied.extend(done)
        return (dump_notebook(notebook, new_sources) if new_sources else data), applied
    source = decode_script(data)
    text, applied = fix_text(source.text, by_cell.get(None, []))
    return (encode_script(source, text) if applied else data), applied


def with_edits(data: bytes, path: pathlib.Path, findings: list[Finding]) -> list[Finding]:
    """`findings` whose fixes carry their edits (each computed on its own against `data`); a fix
    that cannot be made is dropped from its finding."""
    if not any(f.fix is not None and f.fix.codemod for f in findings):
        return findings
    texts: dict[int | None, str] = {}
    if _is_notebook(path):
        texts = {cell.number: cell.text for cell in load_notebook(data).cells}
    else:
        texts[None] = decode_script(data).text
    edits: dict[int, tuple[Edit, ...]] = {}
    for cell, text in texts.items():
        mine = [f for f in findings if f.cell == cell and f.fix is not None and f.fix.codemod]
        for code_fix in code_fixes(text, mine, notebook_cell=cell is not None):
            edits[id(code_fix.finding)] = code_fix.edits
    out = []
    for f in findings:
        if f.fix is not None and f.fix.codemod:
            f = replace(f, fix=replace(f.fix, edits=edits[id(f)]) if id(f) in edits else None)
        out.append(f)
    return out


# --- text edits ----------------------------------------------------------------------------------

def text_edits(old: str, new: str) -> tuple[Edit, ...]:
    """The smallest edits (by line, then trimmed to the characters that differ) turning `old`
    into `new`."""
    import difflib

    a, b = split_lines(old), split_lines(new)
    starts = _line_starts(a)
    edits = []
    # Lines the same at both ends are left out of the (quadratic) matching: fixes change a few lines.
    head = 0
    while head < min(len(a), len(b)) and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < min(len(a), len(b)) - head and a[-1 - tail] == b[-1 - tail]:
        tail += 1
    matcher = difflib.SequenceMatcher(None, a[head:len(a) - tail], b[head:len(b) - tail], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        i1, i2, j1, j2 = i1 + head, i2 + head, j1 + head, j2 + head
        before, after = "".join(a[i1:i2]), "".join(b[j1:j2])
        prefix = _common_prefix(before, after)
        suffix = _common_prefix(before[prefix:][::-1], after[prefix:][::-1])
        start = starts[i1] + prefix
        end = starts[i1] + len(before) - suffix
        content = after[prefix:len(after) - suffix]
        edits.append(Edit(content, *_position(a, starts, start), *_position(a, starts, end)))
    return tuple(edits)


def _common_prefix(x: str, y: str) -> int:
    n = 0
    for cx, cy in zip(x, y):
        if cx != cy:
            break
        n += 1
    # never split a "\r\n"
    if 0 < n < len(x) and x[n - 1] == "\r" and x[n] == "\n":
        n -= 1
    return n


def _line_starts(lines: list[str]) -> list[int]:
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    return starts


def _position(lines: list[str], starts: list[int], offset: int) -> tuple[int, int]:
    import bisect

    index = bisect.bisect_right(starts, offset) - 1
    if index >= len(lines):                  # the very end of a text that ends with a newline
        return len(lines) + 1, 1
    return index + 1, offset - starts[index] + 1


def _offset(lines: list[str], starts: list[int], line: int, column: int) -> int:
    if line > len(lines):
        return starts[-1]
    return starts[line - 1] + column - 1


def apply_edits(text: str, edits) -> str:
    lines = split_lines(text)
    starts = _line_starts(lines)
    for edit in sorted(edits, key=lambda e: (e.line, e.column, e.end_line, e.end_column), reverse=True):
        start = _offset(lines, starts, edit.line, edit.column)
        end = _offset(lines, starts, edit.end_line, edit.end_column)
        content = edit.content
        if edit.line > len(lines) and text and not text.endswith(("\n", "\r")):
            content = "\n" + content
        text = text[:start] + content + text[end:]
    return text


def _overlaps(a: Edit, b: Edit) -> bool:
    a_start, a_end = (a.line, a.column), (a.end_line, a.end_column)
    b_start, b_end = (b.line, b.column), (b.end_line, b.end_column)
    if a_start == a_end or b_start == b_end:
        # An insertion conflicts with an edit strictly around it, or with one at the same point.
        point, other = (a_start, (b_start, b_end)) if a_start == a_end else (b_start, (a_start, a_end))
        return other[0] < point < other[1] or point == other[0] == other[1]
    return a_start < b_end and b_start < a_end


def _touches_magic(text: str, python: str, edits) -> bool:
    """Would an edit change IPython syntax (`%time`, `!pip`) that was neutralised for parsing?
    Edits after a Python-running magic on its own line (`%time y = base(x)`) are fine."""
    if text == python:
        return False
    original, parsed = split_lines(text), split_lines(python)
    for edit in edits:
        for line in range(edit.line, min(edit.end_line, len(original)) + 1):
            written, read = original[line - 1], parsed[line - 1]
            if written == read:
                continue
            if (edit.line, edit.column) == (edit.end_line, edit.end_column) == (line, 1):
                continue        # new lines inserted before it
            same_tail = len(written) == len(read) and line == edit.line == edit.end_line \
                and written[edit.column - 1:] == read[edit.column - 1:]
            if not same_tail:
                return True
    return False
