"""Inline suppression comments in scripts: `# noqa`, `# noqa: BN001,BN002`, `# bnlint: ignore[BN001]`."""
from __future__ import annotations

import io
import re
import tokenize

# ruff's grammar: "noqa" case-insensitive, optional ": codes" separated by commas and/or spaces.
_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Za-z]+[0-9]+(?:[\s,]+[A-Za-z]+[0-9]+)*))?", re.IGNORECASE)
_BNLINT_IGNORE = re.compile(r"#\s*bnlint:\s*ignore\[(?P<codes>[^\]]*)\]", re.IGNORECASE)
_CODE = re.compile(r"[A-Za-z]+[0-9]+")

# None = every code (blanket `# noqa`).
Suppressions = dict[int, "frozenset[str] | None"]


def parse_comment(comment: str) -> frozenset[str] | None | bool:
    """Codes a single comment suppresses: a frozenset, None for blanket noqa, False for nothing."""
    result: set[str] = set()
    found = False
    for m in _BNLINT_IGNORE.finditer(comment):
        found = True
        result.update(c.upper() for c in _CODE.findall(m.group("codes")))
    for m in _NOQA.finditer(comment):
        found = True
        if m.group("codes") is None:
            return None
        result.update(c.upper() for c in _CODE.findall(m.group("codes")))
    return frozenset(result) if found else False


def _comments(text: str):
    """(line, comment text) for every real comment token; falls back to a line scan if tokenizing fails."""
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.COMMENT:
                yield tok.start[0], tok.string
    except (tokenize.TokenError, IndentationError, SyntaxError):
        for number, line in enumerate(text.splitlines(), start=1):
            if "#" in line:
                yield number, line[line.index("#"):]


def parse_suppressions(text: str) -> Suppressions:
    """Map 1-based line -> suppressed codes (None = all) for one script or notebook cell."""
    if "noqa" not in text.lower() and "bnlint:" not in text.lower():
        return {}
    found: Suppressions = {}
    for line, comment in _comments(text):
        parsed = parse_comment(comment)
        if parsed is False:
            continue
        if parsed is None or found.get(line, frozenset()) is None:
            found[line] = None
        else:
            found[line] = found.get(line, frozenset()) | parsed
    return found


def is_suppressed(suppressions: dict, code: str, *keys) -> bool:
    """Is `code` suppressed at any of `keys` (lines, or (cell, line) pairs for notebooks)?"""
    for key in keys:
        codes = suppressions.get(key, False)
        if codes is None or (codes and code in codes):
            return True
    return False
