"""What a rule returns: a report anchored on a fact's site, with text and an optional fix plan.

Rules never compute positions; the analyzer turns sites into 1-based positions. A fix plan names
the codemod that makes the fix (bnlint/script/fixes/<code>.py) and the plain data it needs; the
codemod runs only when a fix is asked for.
"""
from __future__ import annotations

from dataclasses import dataclass

from bnlint.finding import Applicability, Severity
from bnlint.script.facts import Site


@dataclass(frozen=True)
class FixPlan:
    message: str                      # the fix's title, shown by --diff and editors
    codemod: str                      # module under bnlint/script/fixes/
    params: tuple = ()                # ((name, value), ...): positions (1-based spans), names, code text
    applicability: Applicability = Applicability.SAFE


@dataclass(frozen=True)
class Report:
    code: str
    site: Site
    message: str
    help: str
    severity: Severity | None = None
    fix: FixPlan | None = None
    # Other places that explain the finding: (site, what happens there).
    related: tuple[tuple[Site, str], ...] = ()
