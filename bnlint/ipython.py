"""`%load_ext bnlint`: bnlint in IPython, Jupyter and Colab kernels.

After every cell, the code this session has run so far (the kernel's own input history, in
execution order: `In[1]`, `In[2]`, ...) is checked as one notebook whose code cells are those
inputs, with the Keras this kernel has actually imported as the target, and findings not shown
before appear under the cell (HTML in a notebook, plain text in terminal IPython); a clean session
shows nothing.

    %bnlint            show every current finding of the session
    %bnlint off | on   stop / resume checking after each cell
    %bnlint MODEL      check a live Keras model object with the model rules (no file is written)

The check itself is bnlint.engine.check_input with the settings [tool.bnlint] gives the kernel's
working folder, like the command line; only the target is the live one.
"""
from __future__ import annotations

import html
import re
from dataclasses import replace
from pathlib import Path

from bnlint import catalogue, engine
from bnlint.discovery import Input
from bnlint.errors import BnlintInputError, UsageError
from bnlint.finding import Finding

SESSION_NAME = "ipython-session.ipynb"      # how the session counts as a file (config, sibling modules)
_KERAS_IMPORT = re.compile(r"^[ \t]*(?:from|import)[ \t]+(tf_keras|keras|tensorflow)\b", re.M)
_SEVERITY_COLOUR = {"error": "#d32f2f", "warning": "#ef6c00", "info": "#1976d2"}


class SessionLinter:
    def __init__(self, shell):
        self.shell = shell
        self.enabled = True
        self.shown: set[tuple] = set()
        self._checked: tuple[int, list[Finding]] | None = None   # (history length, findings)
        self._config_error_shown = False
        self.never_ran: set[int] = set()                        # execution counts of cells that did not compile

    # --- what the session ran ---------------------------------------------------------------

    def inputs(self) -> list[str]:
        """The raw text of In[1], In[2], ... (IPython keeps In[0] empty); a cell that never ran
        (a syntax error) counts as empty, so it neither runs nor hides the other cells' findings."""
        inputs = list(self.shell.history_manager.input_hist_raw[1:])
        for count in self.never_ran:
            if 1 <= count <= len(inputs):
                inputs[count - 1] = ""
        return inputs

    def settings(self):
        from bnlint.config import ConfigResolver, Settings
        from bnlint.live import session_target

        path = Path.cwd() / SESSION_NAME
        try:
            settings = ConfigResolver(catalogue.all_codes()).for_path(path)
        except UsageError as exc:
            if not self._config_error_shown:
                self._config_error_shown = True
                print(f"bnlint: invalid configuration, using the defaults: {exc}")
            settings = Settings()
        target = session_target(_KERAS_IMPORT.findall("\n".join(self.inputs())))
        return replace(settings, target=target) if target is not None else settings

    def findings(self) -> list[Finding]:
        from bnlint.script.source import notebook_from_cells

        inputs = self.inputs()
        if self._checked is not None and self._checked[0] == len(inputs):
            return self._checked[1]
        path = Path.cwd() / SESSION_NAME
        data = notebook_from_cells([(True, text) for text in inputs])
        outcome = engine.check_input(Input(path, "In", "notebook"), self.settings(), engine.Options(), data=data)
        self._checked = (len(inputs), outcome.findings)
        return outcome.findings

    # --- IPython hooks ------------------------------------------------------------------------

    def post_run_cell(self, result=None) -> None:
        info = getattr(result, "info", None)
        if getattr(result, "error_before_exec", None) is not None and getattr(result, "execution_count", None):
            self.never_ran.add(result.execution_count)
            self._checked = None
        if not self.enabled or (info is not None and not getattr(info, "store_history", True)):
            return
        try:
            new = [f for f in self.findings() if _key(f) not in self.shown]
        except Exception as exc:  # a linter must never break the user's session
            print(f"bnlint: internal error while checking this session ({type(exc).__name__}: {exc}); "
                  "`%bnlint off` stops the checks")
            return
        if new:
            self.shown.update(_key(f) for f in new)
            _display(Findings(new))

    def magic(self, line: str = "") -> None:
        argument = line.strip()
        if argument in ("on", "off"):
            self.enabled = argument == "on"
            print(f"bnlint: checks after each cell are {argument}")
            return
        if not argument:
            found = self.findings()
            self.shown.update(_key(f) for f in found)
            _display(Findings(found, empty="bnlint: no findings in this session"))
            return
        try:
            found = self.check_model(argument)
        except LookupError as exc:
            print(f"bnlint: {exc}")
            return
        _display(Findings(found, empty=f"bnlint: no findings in model `{argument}`", subject=f"`{argument}`"))

    def check_model(self, name: str) -> list[Finding]:
        from bnlint.live import check_live_model

        model = _lookup(self.shell.user_ns, name)
        settings = self.settings()
        ctx = engine.context_for(Input(Path.cwd() / f"{name}.keras", name, "model"), settings)
        try:
            found = check_live_model(model, ctx, name)
        except BnlintInputError as exc:
            found = [Finding(exc.code, exc.reason, name)]
        return [replace(f, severity=catalogue.severity_for(f)) for f in found if f.code in ctx.enabled or f.code == "BN900"]


def _key(finding: Finding) -> tuple:
    return finding.code, finding.cell, finding.line, finding.column, finding.layer


_NAME = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*$")


def _lookup(namespace: dict, name: str):
    """`model` or `trainer.model` from the user's namespace (looked up, never evaluated)."""
    if not _NAME.match(name):
        raise LookupError(f"`%bnlint {name}`: give on, off, or the name of a model variable")
    first, *rest = name.split(".")
    if first not in namespace:
        raise LookupError(f"`%bnlint {name}`: no variable `{first}` in this session")
    value = namespace[first]
    for attribute in rest:
        try:
            value = getattr(value, attribute)
        except AttributeError:
            raise LookupError(f"`%bnlint {name}`: `{first}` has no attribute path `{'.'.join(rest)}`") from None
    return value


class Findings:
    """Findings as a notebook shows them (HTML) and a terminal prints them (plain text)."""

    def __init__(self, findings: list[Finding], empty: str = "", subject: str = ""):
        self.findings = findings
        self.empty = empty
        self.subject = subject

    def _where(self, f: Finding) -> str:
        if f.layer:
            return f"model {self.subject}, layer '{f.layer}'"
        if f.cell:
            return f"In [{f.cell}], line {f.line}"
        return self.subject or "this session"

    def text(self) -> str:
        if not self.findings:
            return self.empty
        lines = []
        for f in self.findings:
            lines.append(f"bnlint: {self._where(f)}: {f.code} {f.message}")
            if f.help:
                lines.append(f"  help: {f.help}")
            lines.append(f"  rule: {catalogue.DOCS_URL.format(code=f.code)}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.text()

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(self.text())

    def _repr_html_(self) -> str:
        if not self.findings:
            return f"<div style='font-size:smaller;color:#555'>{html.escape(self.empty)}</div>"
        rows = []
        for f in self.findings:
            severity = f.severity.value if f.severity else "warning"
            colour = _SEVERITY_COLOUR.get(severity, "#555")
            url = html.escape(catalogue.DOCS_URL.format(code=f.code), quote=True)
            help_html = f"<div style='color:#444'>help: {_inline_code(f.help)}</div>" if f.help else ""
            rows.append(
                f"<div style='border-left:3px solid {colour};padding:2px 8px;margin:3px 0'>"
                f"<a href='{url}' target='_blank' style='font-weight:bold;color:{colour}'>{f.code}</a> "
                f"<span style='color:#666'>{html.escape(self._where(f))}</span> "
                f"{_inline_code(f.message)}{help_html}</div>")
        return f"<div class='bnlint' style='font-size:smaller'>{''.join(rows)}</div>"


_BACKTICKS = re.compile(r"`([^`]+)`")


def _inline_code(text: str) -> str:
    """Escaped HTML with the messages' `code` spans as <code>."""
    return _BACKTICKS.sub(r"<code>\1</code>", html.escape(text))


def _display(obj: Findings) -> None:
    if not obj.findings and not obj.empty:
        return
    from IPython.display import display

    display(obj)


_LINTERS: dict[int, SessionLinter] = {}


def load_ipython_extension(shell) -> None:
    if id(shell) in _LINTERS:
        return
    linter = SessionLinter(shell)
    _LINTERS[id(shell)] = linter
    shell.events.register("post_run_cell", linter.post_run_cell)
    shell.register_magic_function(linter.magic, "line", "bnlint")


def unload_ipython_extension(shell) -> None:
    linter = _LINTERS.pop(id(shell), None)
    if linter is not None:
        shell.events.unregister("post_run_cell", linter.post_run_cell)
