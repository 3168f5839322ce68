"""The Python API: check files, source text or a live Keras model and get `Finding` objects back.

    import bnlint
    bnlint.check_paths(["train.py", "model.keras"], target_keras="tf2")
    bnlint.check_source(open("train.py").read(), path="train.py")
    bnlint.check_model(model)            # a live keras.Model / tf_keras Model

Options are the command line's, as keyword arguments: `select`, `extend_select`, `ignore` (lists of
codes or prefixes), `target_keras` (a string such as "tf2" or "2.2.4", or a KerasTarget), `config`
(a pyproject.toml or bnlint TOML file) and `use_config` (False = `--no-config`). Bad options raise
ValueError; bad input is a BN900 finding, as on the command line. Findings come back sorted, with
their severity filled in. `bnlint` imports this module only when one of these functions is used.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from bnlint.errors import UsageError
from bnlint.finding import Finding
from bnlint.target import KerasTarget

__all__ = ["check_model", "check_paths", "check_source"]

_OPTIONS = {"select", "extend_select", "ignore", "target_keras", "config", "use_config"}


def check_paths(paths: str | os.PathLike | Iterable[str | os.PathLike], **options: Any) -> list[Finding]:
    """Check files and folders (scripts, notebooks, model files, SavedModel folders) like `bnlint PATH ...`."""
    from bnlint import engine
    from bnlint.discovery import discover

    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    settings_for = _settings_function(options)
    inputs = discover([str(p) for p in paths], excluded=lambda p: settings_for(p).excluded(p))
    outcomes = engine.run([(inp, settings_for(inp.path)) for inp in inputs], engine.Options(), jobs=1)
    return sorted((f for o in outcomes for f in o.findings), key=lambda f: f.sort_key)


def check_source(text: str | bytes, path: str | os.PathLike = "<string>", **options: Any) -> list[Finding]:
    """Check a script (or notebook JSON when `path` ends in .ipynb) given as text.

    `path` is what findings report, and where project pins and `[tool.bnlint]` are looked up (the
    file does not need to exist; "<string>" means the current folder).
    """
    from bnlint import engine
    from bnlint.discovery import Input

    display = os.fspath(path)
    location = Path.cwd() / "<string>" if display == "<string>" else Path(display)
    kind = "notebook" if location.suffix.lower() == ".ipynb" else "script"
    settings = _settings_function(options)(location)
    data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    return engine.check_script_text(Input(location, display, kind, explicit=True), data, settings)


def check_model(model: Any, **options: Any) -> list[Finding]:
    """Run the model rules (BN1xx) on a live Keras model object.

    The model is read the way the file readers read a saved one (its `get_config()` JSON, its live
    `trainable` flags and BN variables, the optimizer's step count) into the same format-free graph,
    so the same rules run. The target is the Keras actually running the model unless
    `target_keras` says otherwise. `path` (keyword) names the model in findings (default: its name).
    The graph comes from bnlint.live (shared with the IPython extension). TensorFlow/Keras are
    imported only because the model already uses them.
    """
    from bnlint import catalogue
    from bnlint.context import RuleContext
    from bnlint.errors import BnlintInputError
    from bnlint.live import graph_from_live_model
    from bnlint.model import check_graph

    display = str(options.pop("path", None) or getattr(model, "name", None) or "<model>")
    settings = _settings_function(options)(Path.cwd())
    ctx = RuleContext(enabled=settings.selection.enabled(catalogue.all_codes()), target=settings.target,
                      max_moving_variance=settings.max_moving_variance, limits=settings.limits)
    try:
        graph = graph_from_live_model(model, ctx.limits.max_nesting)
        # the Keras that built the model is known here, not guessed: it is the target unless overridden
        findings = check_graph(graph, replace(ctx, target=ctx.target or graph.writer), display)
    except BnlintInputError as e:
        findings = [Finding(e.code, e.reason, display)]
    return sorted((replace(f, severity=catalogue.severity_for(f)) if f.severity is None else f
                   for f in findings if f.code in ctx.enabled), key=lambda f: f.sort_key)


def _settings_function(options: dict[str, Any]):
    """path -> Settings: configuration files (unless use_config=False) with the options laid over them."""
    from bnlint import catalogue
    from bnlint.config import ConfigResolver, validate_codes

    unknown = sorted(set(options) - _OPTIONS)
    if unknown:
        raise TypeError(f"unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(_OPTIONS))}")
    known = catalogue.all_codes()
    try:
        codes = {key: validate_codes(_code_list(options[key]), key.replace("_", "-"), known)
                 for key in ("select", "extend_select", "ignore") if options.get(key) is not None}
        target = _target(options.get("target_keras"))
        config = options.get("config")
        resolver = ConfigResolver(known, explicit=Path(config) if config else None,
                                  use_files=options.get("use_config", True))
    except UsageError as e:
        raise ValueError(str(e)) from None

    def settings_for(path: Path):
        try:
            settings = resolver.for_path(path)
        except UsageError as e:
            raise ValueError(str(e)) from None
        selection = settings.selection
        selection = replace(selection, select=codes.get("select", selection.select),
                            extend_select=selection.extend_select + codes.get("extend_select", ()),
                            ignore=selection.ignore + codes.get("ignore", ()))
        return replace(settings, selection=selection, target=target or settings.target)

    return settings_for


def _code_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [c for c in value.replace(" ", ",").split(",") if c]
    return [str(c) for c in value]


def _target(value: Any) -> KerasTarget | None:
    if value is None or isinstance(value, KerasTarget):
        return value
    from bnlint.target import parse_target

    try:
        return parse_target(str(value), source="target_keras")
    except ValueError as e:
        raise ValueError(str(e)) from None
