"""What a rule returns: a report anchored on a fact's site, with text and an optional fix plan.

Rules never compute positions; the analyzer turns sites and node edits into 1-based positions.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass

from bnlint.finding import Applicability, Severity
from bnlint.script.chunks import Chunk
from bnlint.script.facts import Site


@dataclass(frozen=True)
class NodeEdit:
    chunk: Chunk
    node: ast.AST
    content: str
    # "replace": the node's text; "before": insert at the node's start;
    # "next_line": insert at the start of the line after the node ends.
    where: str = "replace"


@dataclass(frozen=True)
class FixPlan:
    message: str
    edits: tuple[NodeEdit, ...]
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
