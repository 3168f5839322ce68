"""ruff-style text: `path:line:col: CODE message`, then `help:` and `note:` lines, then a summary."""
from __future__ import annotations

from bnlint.finding import Severity
from bnlint.formatters import Report

_COLORS = {Severity.ERROR: "\033[31m", Severity.WARNING: "\033[33m", Severity.INFO: "\033[36m"}
_BOLD, _DIM, _RESET = "\033[1m", "\033[2m", "\033[0m"


def location(path: str, line: int, column: int, cell: int | None) -> str:
    return f"{path}:cell {cell}:{line}:{column}" if cell else f"{path}:{line}:{column}"


def render(report: Report) -> str:
    c = report.color
    out: list[str] = []
    for f in report.findings:
        loc = location(f.path, f.line, f.column, f.cell)
        code = f"{_COLORS[f.severity]}{_BOLD}{f.code}{_RESET}" if c else f.code
        loc = f"{_BOLD}{loc}{_RESET}" if c else loc
        out.append(f"{loc}: {code} {f.message}")
        if f.help:
            out.append(f"  {_DIM if c else ''}help:{_RESET if c else ''} {f.help}")
        for r in f.related:
            out.append(f"  note: {location(r.path, r.line, r.column, None)}: {r.message}")
    n = len(report.findings)
    if report.fix_mode == "diff":
        out.append(f"Would fix {report.fixed} finding{'s' if report.fixed != 1 else ''}.")
    elif n == 0:
        out.append("All checks passed!" if not report.fixed else f"Fixed {report.fixed} finding{'s' if report.fixed != 1 else ''}, none remaining.")
    else:
        summary = f"Found {n} finding{'s' if n != 1 else ''}"
        if report.fixed:
            summary += f" ({report.fixed} fixed, {n} remaining)"
        elif report.fixable:
            summary += f" ({report.fixable} fixable with --fix)"
        summary += "."
        if report.unsafe_fixable:
            n_unsafe = report.unsafe_fixable
            summary += f"\n{n_unsafe} hidden fix{'es' if n_unsafe != 1 else ''} can be enabled with `--fix --unsafe-fixes`."
        out.append(summary)
    return "\n".join(out) + "\n"
