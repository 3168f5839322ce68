"""Read Python 2 source as Python 3: a token-level rewrite for the stdlib `ast`.

Much legacy Keras code (standalone Keras 1.x/2.x, TF 1.x, 2015-2019: the era where a frozen BN still
uses batch statistics) is Python 2. Python 3's `tokenize` reads nearly all of it; this module turns
the statements Python 3 does not parse into Python 3 that means the same to the analysis, keeping
every line where it was and, where the new spelling allows, every column:

    print x, y          ->  print(x, y)          the space after `print` becomes `(`
    print >>f, x        ->  print(  f, x)        `>>` becomes spaces
    exec code in ns     ->  a call of exec on `code ,  ns`
    except E, e:        ->  except E as e:       (the rest of that line moves 2 columns)
    raise E, "msg"      ->  raise E( "msg")
    `x`                 ->  repr(x)              (the rest of that line moves 4 columns)
    0777, 10L, 0xFFL    ->  0o777, 10 , 0xFF     (an octal moves the rest of its line 1 column)
    ur"..."             ->   r"..."
    a <> b              ->  a != b

lib2to3 (which parsed Python 2) is gone from Python 3.13, parso dropped its Python 2 grammar in
0.8 and fissix would be a new check-path dependency producing lib2to3 trees, not `ast`: a rewrite
of tokens is enough because the analysis only needs the statements' structure and names.

Indentation that mixes tabs and spaces (Python 2 put a tab at the next multiple of 8 columns, Python 3
raises TabError) is expanded to spaces; the reading then says per line how far its columns moved.

Not rewritten (the file stays a BN900): tuple parameters (`def f((a, b))`), and `print`/`exec` used
in ways Python 2 itself rejects. `python3_reading(text)` returns None when there is nothing to
rewrite or the text does not tokenize.
"""
from __future__ import annotations

import re
import tokenize
from dataclasses import dataclass

from bnlint.script.source import split_lines

__all__ = ["Python3Reading", "python3_reading"]

_FUTURE_PRINT = re.compile(r"^[ \t]*from[ \t]+__future__[ \t]+import[ \t(\\\w,\s]*?\bprint_function\b", re.M)
_OCTAL = re.compile(r"0+([0-7]+)\Z")          # 0777 (Python 3.12+ tokenizes it as one NUMBER)
_INTEGER = re.compile(r"(?:0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|\d+)\Z")
_OPENERS, _CLOSERS = "([{", ")]}"
# Statements whose header ends with a `:` after which a simple statement may follow on the line.
_COMPOUND = frozenset({"if", "elif", "else", "for", "while", "try", "except", "finally", "with", "def", "class"})
# Tokens after which a backtick closes a repr (an operand just ended) rather than opening one.
_OPERAND_END = frozenset({tokenize.NAME, tokenize.NUMBER, tokenize.STRING})
_KEYWORDS = frozenset({"and", "or", "not", "in", "is", "if", "else", "lambda", "print", "exec", "return",
                       "yield", "assert", "raise", "del", "for", "while", "elif", "with", "as", "import", "from"})


@dataclass(frozen=True)
class Python3Reading:
    text: str
    # Per line: characters to add to a column of `text` to find the same place in the original
    # (negative where tabs in the indentation became spaces); () when no line moved.
    shifts: tuple[int, ...] = ()


def python3_reading(text: str) -> Python3Reading | None:
    """`text` with its Python 2-only syntax rewritten as Python 3 (same lines), or None when no
    rewrite applies (or the text cannot be tokenized). The result is not checked to parse."""
    lines = split_lines(text)
    shifts: tuple[int, ...] = ()
    if _mixes_tabs_and_spaces(lines):
        lines, shifts = _expand_indentation(lines)
    try:
        tokens = [t for t in tokenize.generate_tokens(iter(lines).__next__)
                  if t.type not in (tokenize.NL, tokenize.COMMENT)
                  and not (t.type == tokenize.ERRORTOKEN and t.string.isspace())]
    except (tokenize.TokenError, SyntaxError, ValueError):    # TabError and IndentationError too
        return None
    edits: list[tuple[int, int, int, str]] = []      # (row, start column, end column, new text)
    _statements(tokens, edits, print_statement=_FUTURE_PRINT.search(text) is None)
    _literals(tokens, edits)
    if not edits and not shifts:
        return None
    return Python3Reading(_apply(lines, edits), shifts)


_INDENT = re.compile(r"[ \t]*")


def _mixes_tabs_and_spaces(lines: list[str]) -> bool:
    indents = {_INDENT.match(line).group() for line in lines if line.strip()}
    return any("\t" in indent for indent in indents) and any(" " in indent for indent in indents)


def _expand_indentation(lines: list[str]) -> tuple[list[str], tuple[int, ...]]:
    """Leading tabs as Python 2 read them (to the next multiple of 8 columns), as spaces."""
    out, shifts = [], []
    for line in lines:
        indent = _INDENT.match(line).group()
        if "\t" not in indent:
            out.append(line)
            shifts.append(0)
            continue
        width = 0
        for char in indent:
            width = (width // 8 + 1) * 8 if char == "\t" else width + 1
        out.append(" " * width + line[len(indent):])
        shifts.append(len(indent) - width)
    return out, tuple(shifts)


def _apply(lines: list[str], edits: list[tuple[int, int, int, str]]) -> str:
    rows: dict[int, list[tuple[int, int, str]]] = {}
    for row, start, end, new in edits:
        rows.setdefault(row, []).append((start, end, new))
    out = list(lines)
    for row, changes in rows.items():
        line = out[row - 1]
        # right to left, so earlier columns stay valid
        for start, end, new in sorted(changes, key=lambda c: (c[0], c[1]), reverse=True):
            line = line[:start] + new + line[end:]
        out[row - 1] = line
    return "".join(out)


def _is_op(token: tokenize.TokenInfo, text: str) -> bool:
    return token.type in (tokenize.OP, tokenize.ERRORTOKEN) and token.string == text


def _statement_end(tokens: list, index: int) -> int:
    """Index of the last token of the simple statement holding tokens[index]."""
    depth = 0
    last = index
    for i in range(index, len(tokens)):
        token = tokens[i]
        if token.type in (tokenize.NEWLINE, tokenize.ENDMARKER):
            break
        if token.type == tokenize.OP:
            if token.string in _OPENERS:
                depth += 1
            elif token.string in _CLOSERS:
                depth -= 1
            elif token.string == ";" and depth <= 0:
                break
        last = i
    return last


def _matching_close(tokens: list, index: int) -> int | None:
    depth = 0
    for i in range(index, len(tokens)):
        if tokens[i].type == tokenize.OP:
            if tokens[i].string in _OPENERS:
                depth += 1
            elif tokens[i].string in _CLOSERS:
                depth -= 1
                if depth == 0:
                    return i
        if tokens[i].type in (tokenize.NEWLINE, tokenize.ENDMARKER):
            return None
    return None


def _close_after(tokens: list, last: int, edits: list) -> None:
    row, column = tokens[last].end
    edits.append((row, column, column, ")"))


def _open_call(tokens: list, index: int, edits: list) -> None:
    """`print x` -> `print(x`: the whitespace after the keyword becomes the parenthesis."""
    keyword, following = tokens[index], tokens[index + 1]
    row, column = keyword.end
    if following.start[0] == row and following.start[1] > column:
        edits.append((row, column, column + 1, "("))
    else:
        edits.append((row, column, column, "("))


def _statements(tokens: list, edits: list, print_statement: bool) -> None:
    depth = 0
    at_start = True            # the next token starts a simple statement
    first = None               # first token of the current logical line
    lambdas = 0                # `lambda`s at depth 0 whose `:` is still to come
    for index, token in enumerate(tokens):
        kind, string = token.type, token.string
        if kind in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
            at_start, first, lambdas, depth = True, None, 0, 0
            continue
        if kind == tokenize.ENDMARKER:
            break
        starts = at_start
        at_start = False
        if first is None:
            first = string
        if kind == tokenize.OP:
            if string in _OPENERS:
                depth += 1
            elif string in _CLOSERS:
                depth = max(depth - 1, 0)
            elif depth == 0 and string == ";":
                at_start = True
            elif depth == 0 and string == ":":
                if lambdas:
                    lambdas -= 1
                elif first in _COMPOUND:
                    at_start = True
            continue
        if kind != tokenize.NAME:
            continue
        if string == "lambda" and depth == 0:
            lambdas += 1
        elif starts and string == "print" and print_statement:
            _print(tokens, index, edits)
        elif starts and string == "exec":
            _exec(tokens, index, edits)
        elif starts and string == "raise":
            _raise(tokens, index, edits)
        elif string == "except" and first == "except":
            _except(tokens, index, edits)


def _print(tokens: list, index: int, edits: list) -> None:
    following = tokens[index + 1]
    if following.type in (tokenize.NEWLINE, tokenize.ENDMARKER) or _is_op(following, ";"):
        row, column = tokens[index].end
        edits.append((row, column, column, "()"))          # a bare `print`: an empty line
        return
    if following.type == tokenize.OP and following.string in ("=", ".", "("):
        if following.string != "(":
            return                                       # `print = ...`: not a statement
        close = _matching_close(tokens, index + 1)
        if close is not None and close == _statement_end(tokens, index):
            return                                       # `print(x)` already reads as Python 3
    last = _statement_end(tokens, index)
    if _is_op(following, ">>"):
        # print >>f, x  ->  print(  f, x): the stream becomes the first argument
        target = tokens[index + 2] if index + 2 < len(tokens) else None
        row, column = tokens[index].end
        if target is None or target.start[0] != row:
            return
        edits.append((row, column, target.start[1], "(" + " " * (target.start[1] - column - 1)))
    else:
        _open_call(tokens, index, edits)
    _close_after(tokens, last, edits)


def _exec(tokens: list, index: int, edits: list) -> None:
    following = tokens[index + 1]
    if following.type in (tokenize.NEWLINE, tokenize.ENDMARKER) or (
            following.type == tokenize.OP and following.string in ("=", ".")):
        return
    last = _statement_end(tokens, index)
    if _is_op(following, "("):
        close = _matching_close(tokens, index + 1)
        if close is not None and close == last:
            return                                       # the call form reads as Python 3
    depth = 0
    for i in range(index + 1, last + 1):
        token = tokens[i]
        if token.type == tokenize.OP and token.string in _OPENERS:
            depth += 1
        elif token.type == tokenize.OP and token.string in _CLOSERS:
            depth -= 1
        elif depth == 0 and token.type == tokenize.NAME and token.string == "in":
            row, column = token.start
            edits.append((row, column, token.end[1], ", "))   # `code in ns` -> `code ,  ns`
            break
    _open_call(tokens, index, edits)
    _close_after(tokens, last, edits)


def _depth0_comma(tokens: list, start: int, stop: int) -> int | None:
    depth = 0
    for i in range(start, stop + 1):
        token = tokens[i]
        if token.type == tokenize.OP:
            if token.string in _OPENERS:
                depth += 1
            elif token.string in _CLOSERS:
                depth -= 1
            elif token.string == "," and depth == 0:
                return i
    return None


def _raise(tokens: list, index: int, edits: list) -> None:
    """raise E, V[, T] -> raise E( V[, T]): the exception called with its value."""
    last = _statement_end(tokens, index)
    comma = _depth0_comma(tokens, index + 1, last)
    if comma is None:
        return
    row, column = tokens[comma].start
    edits.append((row, column, column + 1, "("))
    _close_after(tokens, last, edits)


def _except(tokens: list, index: int, edits: list) -> None:
    """except E, e: -> except E as e:"""
    stop = index + 1
    depth = 0
    while stop < len(tokens):
        token = tokens[stop]
        if token.type in (tokenize.NEWLINE, tokenize.ENDMARKER):
            return
        if token.type == tokenize.OP:
            if token.string in _OPENERS:
                depth += 1
            elif token.string in _CLOSERS:
                depth -= 1
            elif token.string == ":" and depth == 0:
                break
        stop += 1
    comma = _depth0_comma(tokens, index + 1, stop - 1)
    if comma is None:
        return
    row, column = tokens[comma].start
    edits.append((row, column, column + 1, " as"))


def _literals(tokens: list, edits: list) -> None:
    """Numbers, string prefixes, `<>` and backticks: wherever they are."""
    previous = None
    in_repr = 0
    for index, token in enumerate(tokens):
        kind, string = token.type, token.string
        nxt = tokens[index + 1] if index + 1 < len(tokens) else None
        adjacent = nxt is not None and nxt.start == token.end
        if kind == tokenize.NUMBER:
            # Python <= 3.11 tokenizes 0777 as `0` `777`; 3.12+ as one NUMBER
            if string.strip("0") == "" and adjacent and nxt.type == tokenize.NUMBER and nxt.string.isdigit():
                joined = string + nxt.string
                end = nxt.end
            else:
                joined, end = string, token.end
            octal = _OCTAL.match(joined)
            if octal and len(joined) > 1 and joined != "0" * len(joined):
                edits.append((token.start[0], token.start[1], end[1], "0o" + octal.group(1)))
        elif kind == tokenize.NAME and string in ("L", "l") and previous is not None \
                and previous.type == tokenize.NUMBER and previous.end == token.start \
                and _INTEGER.match(previous.string):
            edits.append((token.start[0], token.start[1], token.end[1], " "))     # 10L -> 10
        elif kind == tokenize.NAME and string.lower() == "ur" and adjacent and nxt.type == tokenize.STRING:
            edits.append((token.start[0], token.start[1], token.end[1], " r"))    # ur"" -> r""
        elif kind == tokenize.OP and string == "<>":
            edits.append((token.start[0], token.start[1], token.end[1], "!="))
        elif kind == tokenize.OP and string == "<" and adjacent and _is_op(nxt, ">"):
            edits.append((token.start[0], token.start[1], nxt.end[1], "!="))
        elif string == "`" and kind in (tokenize.OP, tokenize.ERRORTOKEN):
            closes = in_repr and previous is not None and (
                previous.type in _OPERAND_END and previous.string not in _KEYWORDS
                or previous.string in (")", "]", "}", "`"))
            if closes:
                in_repr -= 1
                edits.append((token.start[0], token.start[1], token.end[1], ")"))
            else:
                in_repr += 1
                edits.append((token.start[0], token.start[1], token.end[1], "repr("))
        previous = token
