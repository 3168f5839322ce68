"""Output formats. Each formatter takes the run's report and returns the text to print."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from bnlint.finding import Finding

FORMATS = ("text", "json", "sarif", "github")


@dataclass
class Report:
    findings: list[Finding]        # sorted: path, cell, line, column, code
    files: int = 0
    fixed: int = 0
    fixable: int = 0               # findings that --fix (or --fix --unsafe-fixes) could remove
    unsafe_fixable: int = 0
    diffs: list[str] = field(default_factory=list)
    internal_errors: int = 0
    fix_mode: str = ""             # "", "fix" or "diff"
    color: bool = False
    statistics: bool = False       # --statistics: counts per code instead of the findings
    root: str = "."                # for repository-relative URIs (SARIF)


def formatter(name: str) -> Callable[[Report], str]:
    # imported lazily: the text path must not pay for SARIF/JSON machinery
    if name == "text":
        from bnlint.formatters.text import render
    elif name == "json":
        from bnlint.formatters.json_format import render
    elif name == "sarif":
        from bnlint.formatters.sarif import render
    elif name == "github":
        from bnlint.formatters.github import render
    else:
        raise ValueError(name)
    return render
