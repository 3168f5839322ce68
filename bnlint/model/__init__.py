"""Model analyzer: read a saved Keras model without TensorFlow and run the BN1xx rules on it.

readers (one per format) -> ModelGraph (format-free) -> rules (one module per rule).
"""
from __future__ import annotations

import pathlib

from bnlint.context import RuleContext
from bnlint.errors import BnlintInputError
from bnlint.finding import Finding
from bnlint.model.check import ModelCheck
from bnlint.model.graph import ModelGraph
from bnlint.model.rules import MODEL_RULES
from bnlint.model.semantics import resolve_target

__all__ = ["analyze_model", "check_graph"]


def analyze_model(path: pathlib.Path, display_path: str, ctx: RuleContext) -> list[Finding]:
    """Findings for one `.h5` / `.hdf5` / `.keras` file or SavedModel folder.

    Raises BnlintInputError for unreadable input and NoKerasConfig for artifacts without a Keras
    config. Corrupt weights under a readable config give the config findings plus one BN900.
    BN statistics are only read when a rule that needs them (BN105, BN106, BN107) is enabled.
    """
    from bnlint.readers import read_model  # readers import bnlint.model.graph: import late

    return check_graph(read_model(pathlib.Path(path), ctx), ctx, display_path)


def check_graph(graph: ModelGraph, ctx: RuleContext, display_path: str) -> list[Finding]:
    """The enabled model rules on one graph, from a file reader or a live model (bnlint.live)."""
    model = ModelCheck(graph=graph, target=resolve_target(graph, ctx.target), ctx=ctx, display_path=display_path)
    findings: list[Finding] = []
    weights_error: BnlintInputError | None = None
    for rule in MODEL_RULES:
        if not ctx.wants(rule.CODE):
            continue
        if rule.NEEDS_WEIGHTS:
            if weights_error is not None:
                continue
            try:
                findings.extend(rule.check(model))
            except BnlintInputError as exc:
                weights_error = exc
            continue
        findings.extend(rule.check(model))
    if weights_error is not None:
        findings.append(Finding(code="BN900", path=display_path,
                                message=f"BN statistics could not be read: {weights_error.reason}"))
    return sorted(findings, key=lambda f: f.sort_key)
