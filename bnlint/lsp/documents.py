"""Editor documents as engine input, and the editor-side text of findings.

No pygls here: plain text in, bytes for bnlint.engine and 1-based positions out.
"""
from __future__ import annotations

import io
import re
import tokenize

from bnlint import catalogue
from bnlint.finding import Finding
from bnlint.script.source import split_lines
from bnlint.suppression import parse_comment


def script_bytes(text: str) -> bytes:
    """An editor buffer as the bytes the file would hold, so a PEP 263 coding line is honoured."""
    data = text.encode("utf-8")
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError:
        return data
    if encoding in ("utf-8", "utf-8-sig"):
        return data
    try:
        return text.encode(encoding)
    except (LookupError, UnicodeEncodeError):
        return data


def line_text(text: str, line: int) -> str:
    """1-based line without its terminator ('' past the end)."""
    lines = split_lines(text)
    if not 1 <= line <= len(lines):
        return ""
    return lines[line - 1].rstrip("\r\n")


def _comment_lines(text: str) -> set[int] | None:
    """Lines whose end may take a comment (not inside a string or after a backslash); None when
    the text does not tokenize (then any line is taken as it is)."""
    lines: set[int] = set()
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type in (tokenize.NEWLINE, tokenize.NL, tokenize.COMMENT, tokenize.ENDMARKER):
                lines.add(tok.start[0])
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return None
    return lines


_NOQA_CODES = re.compile(r"(#\s*noqa:\s*[A-Za-z]+[0-9]+(?:[\s,]+[A-Za-z]+[0-9]+)*)", re.IGNORECASE)


def noqa_edit(text: str, finding: Finding) -> tuple[int, int, str] | None:
    """(line, column, text to insert) that adds `# noqa: CODE` for `finding`, on its own line or,
    when a comment cannot go there, on the first line of its statement; None when neither can
    take one. A line that already has `# noqa: X` gets `, CODE` added to it."""
    allowed = _comment_lines(text)
    for line in dict.fromkeys(x for x in (finding.line, finding.statement_line) if x):
        if allowed is not None and line not in allowed:
            continue
        current = line_text(text, line)
        if parse_comment(current[current.find("#"):] if "#" in current else "") is None:
            return None                 # a blanket noqa comment already suppresses every code there
        match = _NOQA_CODES.search(current)
        if match is not None:
            return line, match.end() + 1, f", {finding.code}"
        body = current.rstrip()
        return line, len(body) + 1, f"  # noqa: {finding.code}"
    return None


def hover_markdown(finding: Finding) -> str:
    """A finding's advice for its target, then its rule's What / Why / Fix from the catalogue."""
    parts = [f"**{finding.code}** {finding.message}"]
    if finding.help:
        parts.append(f"**Fix for this code:** {finding.help}")
    rule = catalogue.load().get(finding.code)
    if rule is not None:
        parts.append(f"### {rule.name} ({rule.code})")
        parts.append(f"**What it does.** {rule.what.strip()}")
        parts.append(f"**Why is this bad?** {rule.why.strip()}")
        parts.append(f"**Fix.** {rule.fix.strip()}")
        parts.append(f"[Rule documentation]({rule.url})")
    return "\n\n".join(parts)
