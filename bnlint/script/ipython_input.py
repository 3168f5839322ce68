"""A notebook cell as IPython runs it: the Python that IPython's input transformation produces.

IPython turns each cell into Python with `IPython.core.inputtransformer2.TransformerManager` before
running it. bnlint must see the same Python, or a cell IPython accepts (an indented cell, `%time`,
`!pip`, `obj?`) is reported as a syntax error and the notebook goes unchecked. IPython is not imported
here (the check path stays light and a notebook's kernel may be any version): the same rules are
written again, in the same order, from IPython 9's `transform_cell`:

1. cleanup transforms, whole cell:
   - `leading_empty_lines`: blank lines before the first statement do not count;
   - `leading_indent`: the common leading whitespace of all lines is removed (`textwrap.dedent`);
   - `classic_prompt`: pasted `>>> ` / `... ` prompts are removed (doctest style, then dedented),
     outside triple-quoted strings, when some line starts with `>>>`;
   - `ipython_prompt`: pasted `In [3]: ` / `...: ` prompts are removed when the first or second
     line has one;
2. `cell_magic`: a cell starting with `%%name` is the body of a cell magic. `%%time`, `%%timeit`,
   `%%prun` and `%%capture` run their body as Python in the kernel (IPython transforms that body
   again, so it is transformed here the same way); every other cell magic (`%%bash`,
   `%%writefile`, ...) is not Python;
3. token transforms, one at a time, earliest first (IPython re-tokenizes after each): `x = %magic`,
   `x = !cmd`, escaped lines (`%magic`, `!cmd`, `!!cmd`, `?obj`, `,f a`, `;f a`, `/f a`), and help
   lines ending in `?` / `??`. Tokens keep `%` or `!` inside strings and comments from counting.

Where IPython replaces such a construct by a `get_ipython()` call, this module writes `pass` (or
`None` on the right of an assignment) and leaves the lines a backslash continued empty: the Python
keeps the cell's line numbers, and every line keeps its columns except for the prefix a cleanup
transform removed. That prefix is returned per line, so a position in the Python maps back to the
cell text as written. `%time expr`, `%timeit expr` and `%prun expr` run `expr` in the kernel: the
magic becomes `pass;` and the expression stays where it is. The autocall escapes `,f a b`, `;f a b`
and `/f a b` become the call IPython makes (`f("a", "b")`, `f("a b")`, `f(a, b)`), the name one
column to the left of where it is written.
"""
from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass

from bnlint.script.source import split_lines

# Cell magics whose body is Python run in the kernel's namespace.
PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "prun", "capture"})
# Line magics whose argument is a Python statement run in the kernel's namespace.
_PYTHON_LINE_MAGIC = re.compile(r"%(time|timeit|prun)[ \t]+(?=[^-\s])")

_LINE_END = re.compile(r"\r\n|\r|\n")
_ESCAPES = frozenset("!?%,;/")
_HELP_END = re.compile(r"(%{0,2}(?!\d)[\w*]+(\.(?!\d)[\w*]+|\[-?[0-9]+\])*)(\?\??)$")
_DOCTEST_PS1 = re.compile(r"^\s*>>>[ \t]?")
_DOCTEST_PS2 = re.compile(r"^\s*\.\.\.[ \t]?")
_DOCTEST_INITIAL = re.compile(r"^\s*>>>")
_TRIPLE_QUOTE = re.compile(r"(?<!\\)(\"\"\"|''')")
_STRING_PREFIX = re.compile(r"(?i)^[rubf]*$")
_IPYTHON_PROMPT = re.compile(r"^(((\[nav\]|\[ins\])? )?In \[\d+\]: |\s*\.{3,}: ?)")
# Anything a token transform could act on; a cell without it needs no tokenizing.
_MAYBE_SPECIAL = re.compile(r"^[ \t]*[!?%,;/]|=[ \t]*[!%]|\?[ \t]*(?:#.*)?$", re.M)
_TRANSFORM_LIMIT = 500


@dataclass(frozen=True)
class CellPython:
    text: str                      # Python with the cell's line numbers
    removed: tuple[int, ...]       # per line: characters a cleanup transform removed at its start

    def column_in_cell(self, line: int, column: int) -> int:
        """The 1-based column in the cell text of a 1-based (line, column) in `text`."""
        return column + (self.removed[line - 1] if 0 < line <= len(self.removed) else 0)


def cell_python(cell: str) -> CellPython:
    lines = [_split_end(line) for line in split_lines(cell)]
    bodies = [body for body, _ in lines]
    ends = [end for _, end in lines]
    removed = [0] * len(bodies)
    _transform(bodies, removed, 0)
    return CellPython("".join(body + end for body, end in zip(bodies, ends)), tuple(removed))


def _split_end(line: str) -> tuple[str, str]:
    m = _LINE_END.search(line)
    return (line[:m.start()], line[m.start():]) if m else (line, "")


def _blank(body: str) -> bool:
    return not body.strip()


def _transform(bodies: list[str], removed: list[int], start: int) -> None:
    """Transform bodies[start:] in place as one cell (a cell magic's body is one too)."""
    first = next((i for i in range(start, len(bodies)) if not _blank(bodies[i])), None)
    if first is None:
        for i in range(start, len(bodies)):
            bodies[i] = ""
        return
    for i in range(start, first):          # leading_empty_lines
        bodies[i] = ""
    _dedent(bodies, removed, range(first, len(bodies)))
    _classic_prompt(bodies, removed, first)
    _ipython_prompt(bodies, removed, first)
    head = bodies[first]
    if head.startswith("%%") and not re.match(r"%%\w+\?", head):
        name = head[2:].split(None, 1)[0] if head[2:].strip() else ""
        bodies[first] = ""
        if name in PYTHON_CELL_MAGICS:
            _transform(bodies, removed, first + 1)
        else:
            for i in range(first + 1, len(bodies)):
                bodies[i] = ""
        return
    _token_transforms(bodies, removed, first)


def _dedent(bodies: list[str], removed: list[int], rows) -> None:
    """textwrap.dedent: remove the longest whitespace prefix common to every non-blank line."""
    margin = None
    for i in rows:
        if _blank(bodies[i]):
            continue
        indent = re.match(r"[ \t]*", bodies[i]).group()
        if margin is None:
            margin = indent
        else:
            k = 0
            while k < min(len(margin), len(indent)) and margin[k] == indent[k]:
                k += 1
            margin = margin[:k]
        if not margin:
            return
    if not margin:
        return
    for i in rows:
        if _blank(bodies[i]):
            bodies[i] = ""
        else:
            bodies[i] = bodies[i][len(margin):]
            removed[i] += len(margin)


def _classic_prompt(bodies: list[str], removed: list[int], first: int) -> None:
    """Doctest prompts (`>>> `, `... `), outside triple-quoted strings, then a dedent of what changed."""
    rows = range(first, len(bodies))
    mask = _triple_quote_mask([bodies[i] for i in rows])
    if not any(not in_string and _DOCTEST_INITIAL.match(bodies[i]) for i, in_string in zip(rows, mask)):
        return
    stripped = []
    for i, in_string in zip(rows, mask):
        if in_string:
            stripped.append(False)
            continue
        m = _DOCTEST_PS1.match(bodies[i]) or _DOCTEST_PS2.match(bodies[i])
        if m:
            bodies[i] = bodies[i][m.end():]
            removed[i] += m.end()
        stripped.append(bool(m))
    # dedent each run of lines outside strings where a prompt was stripped
    k = 0
    while k < len(mask):
        j = k
        while j < len(mask) and mask[j] == mask[k]:
            j += 1
        if not mask[k] and any(stripped[k:j]):
            _dedent(bodies, removed, range(first + k, first + j))
        k = j


def _triple_quote_mask(lines: list[str]) -> list[bool]:
    """IPython's heuristic: True for lines inside a triple-quoted string that was opened as a
    plain string (not as prompted code)."""
    mask: list[bool] = []
    in_triple: str | None = None
    preserve = False
    seen_prompt = False
    for line in lines:
        mask.append(in_triple is not None and preserve)
        for m in _TRIPLE_QUOTE.finditer(line):
            quote = m.group(1)
            if in_triple is None:
                in_triple = quote
                before = line[:m.start()]
                rest = _DOCTEST_PS2.sub("", _DOCTEST_PS1.sub("", before, count=1), count=1)
                prompted = rest != before and seen_prompt
                preserve = bool(not prompted and _STRING_PREFIX.match(rest.strip()))
                mask[-1] = preserve
            elif in_triple == quote:
                in_triple, preserve = None, False
        seen_prompt = seen_prompt or bool(_DOCTEST_INITIAL.match(line))
    return mask


def _ipython_prompt(bodies: list[str], removed: list[int], first: int) -> None:
    second = first + 1
    if not (_IPYTHON_PROMPT.match(bodies[first])
            or (second < len(bodies) and _IPYTHON_PROMPT.match(bodies[second]))):
        return
    for i in range(first, len(bodies)):
        m = _IPYTHON_PROMPT.match(bodies[i])
        if m:
            bodies[i] = bodies[i][m.end():]
            removed[i] += m.end()


# --- token transforms --------------------------------------------------------------------------

def _token_transforms(bodies: list[str], removed: list[int], first: int) -> None:
    if not _MAYBE_SPECIAL.search("\n".join(bodies[first:])):
        return
    for _ in range(_TRANSFORM_LIMIT):
        logical = _tokens_by_line(bodies)
        candidates = [c for find in (_magic_assign, _system_assign, _escaped, _help_end)
                      if (c := find(logical)) is not None]
        for _, _, _, apply in sorted(candidates, key=lambda c: c[:3]):
            if apply(bodies, removed):
                break
        else:
            return


def _tokens_by_line(bodies: list[str]) -> list[list[tokenize.TokenInfo]]:
    """Tokens grouped by logical line, as IPython's make_tokens_by_line (errors end the list)."""
    source = "".join(body + "\n" for body in bodies)
    groups: list[list[tokenize.TokenInfo]] = [[]]
    depth = 0
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            groups[-1].append(token)
            if token.type == tokenize.NEWLINE or (token.type == tokenize.NL and depth <= 0):
                groups.append([])
            elif token.string in "([{" and token.string:
                depth += 1
            elif token.string in ")]}" and token.string and depth > 0:
                depth -= 1
    except (tokenize.TokenError, SyntaxError):
        pass  # input ended inside a bracket or string, or bad indentation: what was read counts
    if not groups[-1]:
        groups.pop()
    return groups


def _continued_end(bodies: list[str], row: int) -> int:
    """Last row of a line continued with backslashes."""
    while bodies[row].endswith("\\") and row + 1 < len(bodies):
        row += 1
    return row


def _replace(bodies: list[str], row: int, column: int, text: str) -> bool:
    """The construct at (row, column) and its backslash continuations become `text`."""
    end = _continued_end(bodies, row)
    bodies[row] = bodies[row][:column] + text
    for i in range(row + 1, end + 1):
        bodies[i] = ""
    return True


def _assign_index(line: list[tokenize.TokenInfo]) -> int | None:
    depth = 0
    for i, token in enumerate(line):
        if token.string == "=" and depth == 0:
            return i
        if token.string in ("(", "[", "{"):
            depth += 1
        elif token.string in (")", "]", "}") and depth > 0:
            depth -= 1
    return None


def _magic_assign(logical):
    """`x = %magic args`: IPython assigns run_line_magic(...)."""
    for line in logical:
        i = _assign_index(line)
        if (i is not None and len(line) > i + 2 and line[i + 1].string == "%"
                and line[i + 2].type == tokenize.NAME):
            row, col = line[i + 1].start[0] - 1, line[i + 1].start[1]
            return row, col, 10, lambda bodies, removed: _replace(bodies, row, col, "None")
    return None


def _system_assign(logical):
    """`x = !cmd`: IPython assigns getoutput(...)."""
    for line in logical:
        i = _assign_index(line)
        if i is None or line[i].line.strip().startswith("=") or len(line) <= i + 1:
            continue
        for token in line[i + 1:]:
            if token.string == "!":
                row, col = token.start[0] - 1, token.start[1]
                return row, col, 10, lambda bodies, removed: _replace(bodies, row, col, "None")
            if token.type != tokenize.ERRORTOKEN or not token.string.isspace():
                break
    return None


def _escaped(logical):
    """A logical line starting with an escape: `%magic`, `!cmd`, `?obj`, `,f a`, `;f a`, `/f a`."""
    for line in logical:
        k = 0
        while k < len(line) and line[k].type in (tokenize.INDENT, tokenize.DEDENT):
            k += 1
        if k < len(line) and line[k].string in _ESCAPES and line[k].string:
            row, col = line[k].start[0] - 1, line[k].start[1]
            return row, col, 10, lambda bodies, removed: _escaped_line(bodies, removed, row, col)
    return None


def _escaped_line(bodies: list[str], removed: list[int], row: int, col: int) -> bool:
    body = bodies[row]
    m = _PYTHON_LINE_MAGIC.match(body, col)
    if m and m.end() - col >= len("pass;"):
        # `%time model.fit(x)` runs `model.fit(x)`: keep it where it stands
        bodies[row] = body[:col] + "pass;".ljust(m.end() - col) + body[m.end():]
        return True
    if body[col] in _AUTOCALL and not body[col + 1:col + 2].isspace():
        # autocall: `,f a b` is f("a", "b"), `;f a b` is f("a b"), `/f a b` is f(a, b)
        end = _continued_end(bodies, row)
        line = " ".join([bodies[row][col + 1:].rstrip("\\")] + [b.rstrip("\\") for b in bodies[row + 1:end + 1]])
        name, _, args = line.partition(" ")
        if not name:
            return False          # IPython: SyntaxError, the next candidate is tried
        call = _AUTOCALL[body[col]](name, args)
        _replace(bodies, row, col, call)
        removed[row] += 1         # the name now starts where the escape stood
        return True
    return _replace(bodies, row, col, "pass")


_AUTOCALL = {
    ",": lambda name, args: '{}("{}")'.format(name, '", "'.join(args.split())),
    ";": lambda name, args: f'{name}("{args}")',
    "/": lambda name, args: "{}({})".format(name, ", ".join(args.split())),
}


def _help_end(logical):
    """A logical line ending in `?` or `??`: IPython shows help (pinfo) instead of running it."""
    for line in logical:
        if len(line) > 2 and line[-2].string == "?":
            k = 0
            while line[k].type in (tokenize.INDENT, tokenize.DEDENT):
                k += 1
            row, col = line[k].start[0] - 1, line[k].start[1]
            q_row = line[-2].start[0] - 1
            return row, col, 5, lambda bodies, removed: _help_line(bodies, row, col, q_row)
    return None


def _help_line(bodies: list[str], row: int, col: int, q_row: int) -> bool:
    content = "\n".join(bodies[row:q_row + 1])[col:]
    if not _HELP_END.search(content.rstrip()):
        return False          # IPython raises SyntaxError here and tries the next candidate
    bodies[row] = bodies[row][:col] + "pass"
    for i in range(row + 1, q_row + 1):
        bodies[i] = ""
    return True
