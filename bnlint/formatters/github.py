"""`--output-format github`: GitHub Actions workflow commands, one annotation per finding.

    ::error title=bnlint (BN001),file=PATH,line=L,col=C,endLine=L2,endColumn=C2::MESSAGE

- `error` / `warning` / `notice` (info), most severe first, in report order within a level.
- The message is escaped (`%` `\\r` `\\n`), property values too (plus `:` and `,`); the help line
  and related locations follow the message after an escaped newline.
- Notebook findings point at the notebook and say the cell and the line inside it in the message;
  the annotation's own line/columns are where that cell line sits in the `.ipynb` JSON (so it lands
  on the right line of the diff), or the line inside the cell when the JSON cannot be mapped.
  Model findings point at line 1 of the model file (a SavedModel folder: its `saved_model.pb`)
  and name the layer in the message.
- GitHub shows at most 10 annotations of each level per step. When more would be produced, the
  first 10 errors, 10 warnings and 9 infos are annotations, the rest are printed as plain log
  lines (still in the step log, most severe first), and the output ends with exactly one
  `::notice::` line counting what is not shown as an annotation (the 10th notice slot is kept for
  it, so it is always displayed). When nothing is hidden there is no closing line.

Paths are made relative to the repository root (the nearest folder above `Report.root` holding
`.git`, else `Report.root`), which is what GitHub resolves `file=` against.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

from bnlint.finding import Finding, Severity
from bnlint.formatters import Report

LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}
PER_LEVEL = 10  # annotations GitHub displays per level per step


# --- shared with the SARIF formatter -------------------------------------------------------

def severity_of(f: Finding) -> Severity:
    """The finding's severity, or its rule's default when the engine did not fill it in."""
    from bnlint.catalogue import severity_for

    return severity_for(f)


def repo_root(root: str = ".") -> Path:
    """The folder URIs are relative to: the git work tree holding `root`, else `root` itself."""
    base = Path(os.path.abspath(root))
    for folder in (base, *base.parents):
        if (folder / ".git").exists():
            return folder
    return base


def repo_relative(path: str, root: Path) -> str | None:
    """`path` (as shown to the user, relative to the working directory or absolute) relative to
    `root` with `/` separators; None when it lies outside `root`."""
    rel = os.path.relpath(os.path.abspath(path), root)
    if rel == ".." or rel.startswith(".." + os.sep) or os.path.isabs(rel):
        return None
    return rel.replace(os.sep, "/")


def artifact_path(path: str) -> str:
    """A file to point at: a SavedModel folder is shown through its saved_model.pb (or keras_metadata.pb)."""
    p = Path(path)
    if p.is_dir():
        for name in ("saved_model.pb", "keras_metadata.pb"):
            if (p / name).is_file():
                return f"{path.rstrip('/').rstrip(os.sep)}/{name}"
    return path


class NotebookMap:
    """Where a position inside a code cell lies in the `.ipynb` file: (line, column), 1-based, in
    code points, or None when the notebook cannot be read or has no such cell/line. One per render."""

    _STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
    _ATOM = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null")
    _WS = re.compile(r"[ \t\r\n]*")

    def __init__(self):
        self._files: dict[str, tuple | None] = {}

    def position(self, path: str, cell: int, line: int, column: int) -> tuple[int, int] | None:
        if path not in self._files:
            self._files[path] = self._load(path)
        loaded = self._files[path]
        if loaded is None:
            return None
        text, line_starts, cells = loaded
        if not 1 <= cell <= len(cells):
            return None
        parts = cells[cell - 1]                     # [(raw start of string content, raw string), ...]
        decoded = [json.loads(raw) for _, raw in parts]
        offset = _offset_of(decoded, line, column)
        if offset is None:
            return None
        for k, ((start, raw), value) in enumerate(zip(parts, decoded)):
            # a position at the very end of a part belongs to the next part (the next line)
            if offset < len(value) or (offset == len(value) and k == len(parts) - 1):
                index = start + _raw_index(raw[1:-1], offset)
                break
            offset -= len(value)
        else:
            return None
        import bisect

        row = bisect.bisect_right(line_starts, index) - 1
        return row + 1, index - line_starts[row] + 1

    def _load(self, path: str):
        try:
            text = Path(path).read_bytes().decode("utf-8-sig")
            cells = self._code_cells(text)
        except (OSError, UnicodeDecodeError, ValueError, IndexError, RecursionError):
            return None
        line_starts = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", text)]
        return text, line_starts, cells

    def _code_cells(self, text: str) -> list[list[tuple[int, str]]]:
        """The source strings of every code cell, with their raw positions (a small JSON scanner
        that skips everything else without decoding it)."""
        self._text, self._i = text, 0
        cells: list[list[tuple[int, str]]] = []
        self._ws()
        self._expect("{")
        for key in self._members():
            if key != "cells":
                self._skip_value()
                continue
            self._expect("[")
            for _ in self._elements():
                cell: dict = {}
                self._expect("{")
                for ckey in self._members():
                    if ckey == "cell_type":
                        cell["type"] = json.loads(self._string())
                    elif ckey == "source":
                        cell["source"] = self._source()
                    else:
                        self._skip_value()
                if cell.get("type") == "code":
                    cells.append(cell.get("source", []))
        return cells

    def _ws(self):
        self._i = self._WS.match(self._text, self._i).end()

    def _expect(self, ch: str):
        if self._text[self._i] != ch:
            raise ValueError(f"expected {ch!r} at {self._i}")
        self._i += 1
        self._ws()

    def _string(self) -> str:
        m = self._STRING.match(self._text, self._i)
        if not m:
            raise ValueError(f"expected a string at {self._i}")
        self._i = m.end()
        self._ws()
        return m.group()

    def _members(self):
        if self._text[self._i] == "}":
            self._expect("}")
            return
        while True:
            key = json.loads(self._string())
            self._expect(":")
            yield key
            if self._text[self._i] == ",":
                self._expect(",")
                continue
            self._expect("}")
            return

    def _elements(self):
        if self._text[self._i] == "]":
            self._expect("]")
            return
        while True:
            yield
            if self._text[self._i] == ",":
                self._expect(",")
                continue
            self._expect("]")
            return

    def _source(self) -> list[tuple[int, str]]:
        if self._text[self._i] == '"':
            start = self._i + 1
            return [(start, self._string())]
        parts = []
        self._expect("[")
        for _ in self._elements():
            start = self._i + 1
            parts.append((start, self._string()))
        return parts

    def _skip_value(self):
        ch = self._text[self._i]
        if ch == "{":
            self._expect("{")
            for _ in self._members():
                self._skip_value()
        elif ch == "[":
            self._expect("[")
            for _ in self._elements():
                self._skip_value()
        elif ch == '"':
            self._string()
        else:
            m = self._ATOM.match(self._text, self._i)
            if not m or not m.group():
                raise ValueError(f"unexpected {ch!r} at {self._i}")
            self._i = m.end()
            self._ws()


def _offset_of(values: list[str], line: int, column: int) -> int | None:
    """Code-point offset of (line, column) in the concatenated cell source."""
    source = "".join(values)
    starts = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", source)]
    if not 1 <= line <= len(starts):
        return None
    offset = starts[line - 1] + column - 1
    return offset if 0 <= offset <= len(source) else None


def _raw_index(raw: str, decoded_offset: int) -> int:
    """Index in the raw JSON string body of the `decoded_offset`-th decoded code point."""
    i = n = 0
    while n < decoded_offset and i < len(raw):
        if raw[i] != "\\":
            i += 1
        elif raw[i + 1] != "u":
            i += 2
        elif 0xD800 <= int(raw[i + 2:i + 6], 16) < 0xDC00 and raw[i + 6:i + 8] == "\\u":
            i += 12                                  # a surrogate pair is one code point
        else:
            i += 6
        n += 1
    return i


def notebook_region(f: Finding, notebooks: NotebookMap) -> tuple[int, int, int, int]:
    """(line, column, end_line, end_column) of a finding in its file: inside the .ipynb JSON for a
    notebook finding when it can be mapped, else the finding's own (cell-relative) numbers."""
    end_line = f.end_line if f.end_line is not None else f.line
    end_column = f.end_column if f.end_column is not None else f.column
    if f.cell:
        start = notebooks.position(f.path, f.cell, f.line, f.column)
        end = notebooks.position(f.path, f.cell, end_line, end_column)
        if start and end:
            return (*start, *end)
        if start:
            return (*start, *start)
    return f.line, f.column, end_line, end_column


def decorated_message(f: Finding) -> str:
    """The message with what a one-location annotation cannot show: the notebook cell, the layer
    (read the same way as in the text output: `cell 4, line 2: ...`, `layer 'bn1' (and 3 more): ...`)."""
    from bnlint.formatters.text import layer_place

    msg = f.message
    if f.layer:
        msg = f"{layer_place(f.layer, max(0, len(f.layers) - 1))}: {msg}"
    if f.cell:
        msg = f"cell {f.cell}, line {f.line}: {msg}"
    return msg


# --- GitHub workflow commands ----------------------------------------------------------------

def escape_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(s: str) -> str:
    return escape_data(s).replace(":", "%3A").replace(",", "%2C")


def _annotation_path(f: Finding, root: Path) -> str:
    path = artifact_path(f.path)
    return repo_relative(path, root) or path


def _full_message(f: Finding) -> str:
    lines = [decorated_message(f)]
    if f.help:
        lines.append(f"help: {f.help}")
    from bnlint.formatters.text import related_location

    for r in f.related:
        lines.append(f"note: {related_location(r)}: {r.message}")
    return "\n".join(lines)


def annotation(f: Finding, root: Path, notebooks: NotebookMap) -> str:
    level = LEVELS[severity_of(f)]
    line, column, end_line, end_column = notebook_region(f, notebooks)
    props = [
        ("title", f"bnlint ({f.code})"),
        ("file", _annotation_path(f, root)),
        ("line", str(line)),
        ("col", str(column)),
        ("endLine", str(end_line)),
        ("endColumn", str(end_column)),
    ]
    prop_text = ",".join(f"{k}={escape_property(v)}" for k, v in props)
    return f"::{level} {prop_text}::{escape_data(_full_message(f))}"


def plain_line(f: Finding, root: Path) -> str:
    """A finding beyond GitHub's annotation limit: one ordinary log line (never a command)."""
    from bnlint.formatters.text import location

    loc = location(_annotation_path(f, root), f.line, f.column, f.cell, f.layer, max(0, len(f.layers) - 1))
    text = f"{loc}: {f.code} [{severity_of(f).value}] {f.message}"
    if f.help:
        text += f" (help: {f.help})"
    return " ".join(text.split())  # no line breaks: nothing can start a workflow command


def render(report: Report) -> str:
    root = repo_root(report.root)
    notebooks = NotebookMap()
    by_level: dict[Severity, list[Finding]] = {s: [] for s in (Severity.ERROR, Severity.WARNING, Severity.INFO)}
    for f in report.findings:
        by_level[severity_of(f)].append(f)

    needs_summary = any(len(v) > PER_LEVEL for v in by_level.values())
    caps = {s: PER_LEVEL for s in by_level}
    if needs_summary:
        caps[Severity.INFO] = PER_LEVEL - 1  # the closing notice takes the 10th notice slot

    out: list[str] = []
    hidden = {s: 0 for s in by_level}
    for sev, findings in by_level.items():
        for i, f in enumerate(findings):
            if i < caps[sev]:
                out.append(annotation(f, root, notebooks))
            else:
                hidden[sev] += 1
                out.append(plain_line(f, root))
    total_hidden = sum(hidden.values())
    if total_hidden:
        parts = [f"{n} {name}{'s' if n != 1 else ''}" for sev, name in
                 ((Severity.ERROR, "error"), (Severity.WARNING, "warning"), (Severity.INFO, "info"))
                 if (n := hidden[sev])]
        n = len(report.findings)
        out.append("::notice title=bnlint::" + escape_data(
            f"{total_hidden} of {n} bnlint findings are not shown as annotations "
            f"({', '.join(parts)}): GitHub displays at most {PER_LEVEL} annotations of each level per step. "
            f"They are listed in the log of this step; run bnlint locally to see them all."))
    return "\n".join(out) + "\n" if out else ""
