"""`--output-format github`: GitHub Actions workflow commands, one annotation per finding.

    ::error title=bnlint (BN001),file=PATH,line=L,col=C,endLine=L2,endColumn=C2::MESSAGE

- `error` / `warning` / `notice` (info), most severe first, in report order within a level.
- The message is escaped (`%` `\\r` `\\n`), property values too (plus `:` and `,`); the help line
  and related locations follow the message after an escaped newline.
- Notebook findings point at the notebook with the line inside the cell and say the cell in the
  message; model findings point at line 1 of the model file and name the layer in the message.
- GitHub shows at most 10 annotations of each level per step. When more would be produced, the
  first 10 errors, 10 warnings and 9 infos are annotations, the rest are printed as plain log
  lines (still in the step log, most severe first), and the output ends with exactly one
  `::notice::` line counting what is not shown as an annotation (the 10th notice slot is kept for
  it, so it is always displayed). When nothing is hidden there is no closing line.

Paths are made relative to the repository root (the nearest folder above `Report.root` holding
`.git`, else `Report.root`), which is what GitHub resolves `file=` against.
"""
from __future__ import annotations

import os
from pathlib import Path

from bnlint.finding import Finding, Severity
from bnlint.formatters import Report

LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}
PER_LEVEL = 10  # annotations GitHub displays per level per step


# --- shared with the SARIF formatter -------------------------------------------------------

def severity_of(f: Finding) -> Severity:
    """The finding's severity, or its rule's default when the engine did not fill it in."""
    if f.severity is not None:
        return Severity(f.severity)
    from bnlint.catalogue import load

    rule = load().get(f.code)
    return rule.severity if rule else Severity.ERROR


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


def decorated_message(f: Finding) -> str:
    """The message with what a one-location annotation cannot show: the notebook cell, the layer."""
    msg = f.message
    if f.layer and f.layer not in msg:
        msg = f"{msg} (layer {f.layer})"
    if f.cell:
        msg = f"cell {f.cell}, line {f.line}: {msg}"
    return msg


# --- GitHub workflow commands ----------------------------------------------------------------

def escape_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(s: str) -> str:
    return escape_data(s).replace(":", "%3A").replace(",", "%2C")


def _annotation_path(f: Finding, root: Path) -> str:
    return repo_relative(f.path, root) or f.path


def _full_message(f: Finding) -> str:
    lines = [decorated_message(f)]
    if f.help:
        lines.append(f"help: {f.help}")
    for r in f.related:
        lines.append(f"note: {r.path}:{r.line}:{r.column}: {r.message}")
    return "\n".join(lines)


def annotation(f: Finding, root: Path) -> str:
    level = LEVELS[severity_of(f)]
    end_line = f.end_line if f.end_line is not None else f.line
    end_column = f.end_column if f.end_column is not None else f.column
    props = [
        ("title", f"bnlint ({f.code})"),
        ("file", _annotation_path(f, root)),
        ("line", str(f.line)),
        ("col", str(f.column)),
        ("endLine", str(end_line)),
        ("endColumn", str(end_column)),
    ]
    prop_text = ",".join(f"{k}={escape_property(v)}" for k, v in props)
    return f"::{level} {prop_text}::{escape_data(_full_message(f))}"


def plain_line(f: Finding, root: Path) -> str:
    """A finding beyond GitHub's annotation limit: one ordinary log line (never a command)."""
    from bnlint.formatters.text import location

    loc = location(_annotation_path(f, root), f.line, f.column, f.cell)
    text = f"{loc}: {f.code} [{severity_of(f).value}] {decorated_message(f)}"
    if f.help:
        text += f" (help: {f.help})"
    return " ".join(text.split())  # no line breaks: nothing can start a workflow command


def render(report: Report) -> str:
    root = repo_root(report.root)
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
                out.append(annotation(f, root))
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
