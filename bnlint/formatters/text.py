"""ruff-style text: `LOCATION: CODE message`, then `help:` and `note:` lines, then a summary.

A location reads the same way for findings and notes:

    train.py:12:5                  a script line and column
    nb.ipynb:cell 4:2:5            line 2, column 5 of the notebook's 4th code cell
    model.h5: layer 'conv1_bn' (and 52 more)
                                   a model file has no lines: the layer (and how many others)
    model.h5                       a model file as a whole (BN900, BN901)

Colour only when the report asks for it (a TTY without NO_COLOR): the location bold, the code in
its severity's colour, `help:` and `note:` in their own colours so they stand apart.
"""
from __future__ import annotations

from pathlib import Path

from bnlint.finding import Applicability, Finding, Related, Severity
from bnlint.formatters import Report

_COLORS = {Severity.ERROR: "\033[31m", Severity.WARNING: "\033[33m", Severity.INFO: "\033[36m"}
_BOLD, _DIM, _RESET = "\033[1m", "\033[2m", "\033[0m"
_HELP, _NOTE = "\033[1;36m", "\033[1;34m"


def layer_place(layer: str, others: int = 0) -> str:
    """`layer 'conv1_bn' (and 52 more)`."""
    return f"layer '{layer}'" + (f" (and {others} more)" if others > 0 else "")


def _has_lines(path: str) -> bool:
    """A script or notebook has lines and columns; a model file or SavedModel folder does not."""
    from bnlint.discovery import kind_of_file

    p = Path(path)
    return kind_of_file(p) in ("script", "notebook") or (kind_of_file(p) == "unsupported" and not p.is_dir())


def location(path: str, line: int, column: int, cell: int | None, layer: str | None = None,
             others: int = 0) -> str:
    if layer is not None:
        return f"{path}: {layer_place(layer, others)}"
    if cell:
        return f"{path}:cell {cell}:{line}:{column}"
    if not _has_lines(path):
        return path
    return f"{path}:{line}:{column}"


def finding_location(f: Finding) -> str:
    return location(f.path, f.line, f.column, f.cell, f.layer, max(0, len(f.layers) - 1))


def related_location(r: Related) -> str:
    return location(r.path, r.line, r.column, r.cell, r.layer)


def _paint(text: str, style: str, color: bool) -> str:
    return f"{style}{text}{_RESET}" if color else text


def render(report: Report) -> str:
    if report.statistics:
        return render_statistics(report)
    c = report.color
    out: list[str] = []
    for f in report.findings:
        severity = Severity(f.severity or "error")
        loc = _paint(finding_location(f), _BOLD, c)
        code = _paint(f.code, _COLORS[severity] + _BOLD, c)
        out.append(f"{loc}: {code} {f.message}")
        if f.help:
            out.append(f"  {_paint('help:', _HELP, c)} {f.help}")
        for r in f.related:
            out.append(f"  {_paint('note:', _NOTE, c)} {related_location(r)}: {r.message}")
    out.append(_summary(report))
    return "\n".join(out) + "\n"


def _summary(report: Report) -> str:
    n = len(report.findings)
    if report.fix_mode == "diff":
        return f"Would fix {report.fixed} finding{'s' if report.fixed != 1 else ''}."
    if n == 0:
        return "All checks passed!" if not report.fixed else f"Fixed {report.fixed} finding{'s' if report.fixed != 1 else ''}, none remaining."
    summary = f"Found {n} finding{'s' if n != 1 else ''}"
    if report.fixed:
        summary += f" ({report.fixed} fixed, {n} remaining)"
    elif report.fixable:
        summary += f" ({report.fixable} fixable with --fix)"
    summary += "."
    if report.unsafe_fixable:
        n_unsafe = report.unsafe_fixable
        summary += f"\n{n_unsafe} hidden fix{'es' if n_unsafe != 1 else ''} can be enabled with `--fix --unsafe-fixes`."
    return summary


def statistics(report: Report) -> list[dict]:
    """Findings counted per code, most frequent first (ruff's `--statistics`)."""
    from bnlint.catalogue import headers

    names = {code: header.name for code, header in headers().items()}
    counts: dict[str, list[Finding]] = {}
    for f in report.findings:
        counts.setdefault(f.code, []).append(f)
    rows = []
    for code, found in counts.items():
        fixable = sum(1 for f in found if f.fix is not None and f.fix.applicability is Applicability.SAFE)
        rows.append({"code": code, "name": names.get(code, ""), "count": len(found),
                     "fixable": fixable > 0, "fixable_count": fixable})
    return sorted(rows, key=lambda row: (-row["count"], row["code"]))


def render_statistics(report: Report) -> str:
    """`COUNT  CODE  [*] name` a line, `[*]` when some of them have a fix, then the summary."""
    rows = statistics(report)
    if not rows:
        return _summary(report) + "\n"
    width = max(len(str(row["count"])) for row in rows)
    c = report.color
    lines = []
    for row in rows:
        mark = "[*]" if row["fixable"] else "[ ]"
        lines.append(f"{row['count']:>{width}}\t{_paint(row['code'], _BOLD, c)}\t{mark} {row['name']}")
    lines.append(_summary(report))
    return "\n".join(lines) + "\n"
