"""The pygls language server: diagnostics, code actions, hover and `bnlint.checkModel`.

A Python buffer or a notebook (LSP 3.17 notebook sync: the cells make one notebook, findings
go back to the cell they are in) is checked on open and save at once and on change after a short
pause (`debounce`, seconds, in initializationOptions). Each check is one call of
bnlint.engine.check_input with the buffer's text and the settings bnlint.config finds for the
file, as the command line would; a change to a pyproject.toml or requirements file re-reads them.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path

from lsprotocol import types
from pygls import uris
from pygls.lsp.server import LanguageServer

from bnlint import __version__, catalogue, engine
from bnlint.config import ConfigResolver
from bnlint.discovery import Input, discover, kind_of_file
from bnlint.errors import UsageError
from bnlint.finding import Applicability, Finding, Severity
from bnlint.lsp.documents import hover_markdown, line_text, noqa_edit, script_bytes
from bnlint.script.source import notebook_from_cells, split_lines

CHECK_MODEL = "bnlint.checkModel"
DEFAULT_DEBOUNCE = 0.3
SOURCE = "bnlint"
# Files whose change can change a file's settings or Keras target.
SETTINGS_FILES = ("pyproject.toml", "requirements*.txt", "setup.cfg", "setup.py", "environment.yml",
                  "environment.yaml", "Pipfile")
_SEVERITY = {Severity.ERROR: types.DiagnosticSeverity.Error, Severity.WARNING: types.DiagnosticSeverity.Warning,
             Severity.INFO: types.DiagnosticSeverity.Information}

log = logging.getLogger(__name__)


@dataclass
class Reported:
    """One finding as published: where it is shown and the text it was computed on."""

    finding: Finding
    diagnostic: types.Diagnostic
    uri: str            # the document (a notebook cell's own uri for notebooks)
    text: str           # that document's text when it was checked


@dataclass
class NotebookState:
    cell_uris: set[str] = field(default_factory=set)   # cells published to, to clear them later


class BnlintLanguageServer(LanguageServer):
    def __init__(self):
        super().__init__(
            "bnlint", __version__,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            notebook_document_sync=types.NotebookDocumentSyncOptions(
                notebook_selector=[types.NotebookDocumentFilterWithCells(
                    notebook="*", cells=[types.NotebookCellLanguage(language="python")])],
                save=True),
        )
        self.debounce = DEFAULT_DEBOUNCE
        self.resolver: ConfigResolver | None = None
        self.config_error: str | None = None
        self.reported: dict[str, list[Reported]] = {}
        self.notebooks: dict[str, NotebookState] = {}
        self.pending: dict[str, asyncio.TimerHandle] = {}

    # --- settings -------------------------------------------------------------------------

    def settings_for(self, path: Path):
        """The CLI's settings for `path` (nearest pyproject.toml with [tool.bnlint]); None and a
        message to the user when that configuration is invalid (the CLI would exit 2)."""
        if self.resolver is None:
            self.resolver = ConfigResolver(catalogue.all_codes())
        try:
            settings = self.resolver.for_path(path)
        except UsageError as exc:
            message = f"bnlint: invalid configuration: {exc}"
            if message != self.config_error:
                self.config_error = message
                self.window_show_message(types.ShowMessageParams(types.MessageType.Error, message))
            return None
        self.config_error = None
        return settings

    def reload_settings(self) -> None:
        from bnlint.pins import pinned_targets_for_folder

        self.resolver = None
        pinned_targets_for_folder.cache_clear()
        for uri in list(self.workspace.notebook_documents):
            self.check_notebook(uri)
        for uri, document in list(self.workspace.text_documents.items()):
            if self.workspace.get_notebook_document(cell_uri=uri) is None and is_python(uri, document.language_id):
                self.check_text(uri)

    # --- checking -------------------------------------------------------------------------

    def schedule(self, key: str, check) -> None:
        """Run `check` after `debounce` seconds without a newer change to the same document."""
        handle = self.pending.pop(key, None)
        if handle is not None:
            handle.cancel()
        loop = asyncio.get_running_loop()
        self.pending[key] = loop.call_later(self.debounce, self._run_pending, key, check)

    def _run_pending(self, key: str, check) -> None:
        self.pending.pop(key, None)
        check()

    def cancel_pending(self, key: str) -> None:
        handle = self.pending.pop(key, None)
        if handle is not None:
            handle.cancel()

    def check_text(self, uri: str) -> None:
        self.cancel_pending(uri)
        document = self.workspace.get_text_document(uri)
        path = document_path(uri, self.workspace.root_path, ".py")
        if path.suffix.lower() not in (".py", ".pyi"):
            # Python text under another name (jupyterlab-lsp's `.virtual_documents/x.ipynb`, a
            # script without a suffix) is checked as the script it is.
            path = path.with_name(path.name + ".py")
        text = document.source
        findings = self.findings_for(Input(path, str(path), "script"), script_bytes(text))
        reported = [self.reported_finding(f, uri, text, path) for f in findings]
        self.publish(uri, reported)

    def check_notebook(self, notebook_uri: str) -> None:
        self.cancel_pending(notebook_uri)
        notebook = self.workspace.get_notebook_document(notebook_uri=notebook_uri)
        if notebook is None:
            return
        path = document_path(notebook_uri, self.workspace.root_path, ".ipynb")
        cells, code_cells = [], []
        for cell in notebook.cells:
            document = self.workspace.get_text_document(cell.document)
            is_code = cell.kind == types.NotebookCellKind.Code and document.language_id in (None, "python")
            cells.append((is_code, document.source))
            if is_code:
                code_cells.append((cell.document, document.source))
        findings = self.findings_for(Input(path, str(path), "notebook"), notebook_from_cells(cells))
        by_cell: dict[str, list[Reported]] = {uri: [] for uri, _ in code_cells}
        for finding in findings:
            number = finding.cell if finding.cell and finding.cell <= len(code_cells) else 1
            if not code_cells:
                break
            uri, text = code_cells[number - 1]
            by_cell[uri].append(self.reported_finding(finding, uri, text, path, code_cells))
        state = self.notebooks.setdefault(notebook_uri, NotebookState())
        for stale in state.cell_uris - set(by_cell):
            self.publish(stale, [])
        state.cell_uris = set(by_cell)
        for uri, reported in by_cell.items():
            self.publish(uri, reported)

    def findings_for(self, inp: Input, data: bytes) -> list[Finding]:
        settings = self.settings_for(inp.path)
        if settings is None or settings.excluded(inp.path):
            return []
        outcome = engine.check_input(inp, settings, engine.Options(), data=data)
        return outcome.findings

    def reported_finding(self, finding: Finding, uri: str, text: str, path: Path,
                         code_cells: list[tuple[str, str]] | None = None) -> Reported:
        related = []
        for other in finding.related:
            other_uri, other_text = uri, text
            if code_cells and other.cell and other.cell <= len(code_cells):
                other_uri, other_text = code_cells[other.cell - 1]
            elif Path(other.path) != path:
                other_uri, other_text = uris.from_fs_path(str(Path(other.path).resolve())) or other.path, ""
            related.append(types.DiagnosticRelatedInformation(
                location=types.Location(other_uri, self.to_range(other_uri, other_text, other.line, other.column,
                                                                 other.end_line, other.end_column)),
                message=other.message or "related location"))
        rule_url = catalogue.DOCS_URL.format(code=finding.code)
        diagnostic = types.Diagnostic(
            range=self.to_range(uri, text, finding.line, finding.column, finding.end_line, finding.end_column),
            message=finding.message,
            severity=_SEVERITY.get(finding.severity, types.DiagnosticSeverity.Warning),
            code=finding.code,
            code_description=types.CodeDescription(href=rule_url),
            source=SOURCE,
            related_information=related or None,
        )
        return Reported(finding, diagnostic, uri, text)

    def to_range(self, uri: str, text: str, line: int, column: int, end_line: int | None,
                 end_column: int | None) -> types.Range:
        """1-based character positions -> the client's 0-based position encoding (UTF-16 by default)."""
        if end_line is None or end_column is None:
            end_line, end_column = line, len(line_text(text, line)) + 1
        lines = [part.rstrip("\r\n") for part in split_lines(text)]
        if not lines or text.endswith(("\n", "\r")):
            lines.append("")                     # the empty line after a final newline is a position too
        start = _clamp(lines, line, column)
        end = _clamp(lines, end_line, end_column)
        server_range = types.Range(start, end)
        document = self.workspace.text_documents.get(uri)
        return document.range_to_client_units(server_range) if document is not None else server_range

    def publish(self, uri: str, reported: list[Reported]) -> None:
        self.reported[uri] = reported
        document = self.workspace.text_documents.get(uri)
        self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(
            uri=uri, diagnostics=[r.diagnostic for r in reported],
            version=document.version if document is not None else None))

    # --- code actions and hover -----------------------------------------------------------

    def code_actions(self, params: types.CodeActionParams) -> list[types.CodeAction]:
        uri = params.text_document.uri
        wanted = {(d.code, _key(d.range)) for d in params.context.diagnostics or ()}
        actions: list[types.CodeAction] = []
        for item in self.reported.get(uri, ()):
            diagnostic = item.diagnostic
            if wanted and (diagnostic.code, _key(diagnostic.range)) not in wanted:
                continue
            if not wanted and not _overlaps(diagnostic.range, params.range):
                continue
            only = params.context.only
            fix = item.finding.fix
            edits = self.fix_edits(item) if fix is not None else ()
            if edits:
                safe = fix.applicability is Applicability.SAFE
                kind = types.CodeActionKind.QuickFix if safe else types.CodeActionKind.RefactorRewrite
                if not only or any(kind.value.startswith(k) for k in only):
                    title = fix.message if safe else f"{fix.message} (unsafe fix: review it, it changes the model)"
                    actions.append(types.CodeAction(
                        title=f"{item.finding.code}: {title}", kind=kind, diagnostics=[diagnostic],
                        is_preferred=safe, edit=types.WorkspaceEdit(changes={uri: [
                            self.text_edit(uri, item.text, e.line, e.column, e.end_line, e.end_column, e.content)
                            for e in edits]})))
            noqa = noqa_edit(item.text, item.finding)
            if noqa is not None and (not only or any(types.CodeActionKind.QuickFix.value.startswith(k) for k in only)):
                line, column, content = noqa
                actions.append(types.CodeAction(
                    title=f"Disable {item.finding.code} for this line", kind=types.CodeActionKind.QuickFix,
                    diagnostics=[diagnostic], edit=types.WorkspaceEdit(changes={uri: [
                        self.text_edit(uri, item.text, line, column, line, column, content)]})))
        return actions

    def fix_edits(self, item: Reported) -> tuple:
        """The edits of the finding's fix on the text it was found in (a file, or its notebook cell):
        the fix's codemod (libcst) runs only when the editor asks for code actions."""
        fix = item.finding.fix
        if fix.edits or not fix.codemod:
            return fix.edits
        from bnlint.script.fixes import code_fixes

        made = code_fixes(item.text, [item.finding], notebook_cell=item.finding.cell is not None)
        return made[0].edits if made else ()

    def text_edit(self, uri: str, text: str, line: int, column: int, end_line: int, end_column: int,
                  content: str) -> types.TextEdit:
        count = len(split_lines(text))
        if line > count:                         # an insertion after the last line, as the engine applies it
            if text and not text.endswith(("\n", "\r")):
                content = "\n" + content
                line, column = count, len(line_text(text, count)) + 1
            else:
                line, column = count + 1, 1
            end_line, end_column = line, column
        return types.TextEdit(self.to_range(uri, text, line, column, end_line, end_column), content)

    def hover(self, params: types.HoverParams) -> types.Hover | None:
        position = params.position
        items = [r for r in self.reported.get(params.text_document.uri, ()) if _contains(r.diagnostic.range, position)]
        if not items:
            return None
        text = "\n\n---\n\n".join(hover_markdown(r.finding) for r in items)
        return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text),
                           range=items[0].diagnostic.range)

    # --- model files ------------------------------------------------------------------------

    def check_models(self, arguments) -> list[dict]:
        """`bnlint.checkModel [uri-or-path ...]`: check model files (all under the workspace
        folders when none is given), publish their findings on the files' uris, return them."""
        targets = [_argument_path(a) for a in arguments or () if _argument_path(a)]
        if not targets:
            roots = [uris.to_fs_path(f.uri) for f in self.workspace.folders.values()] or \
                    [self.workspace.root_path or "."]
            targets = [str(r) for r in roots if r]
        inputs = [inp for inp in discover(targets) if inp.kind == "model" or inp.explicit]
        results = []
        for inp in inputs:
            settings = self.settings_for(inp.path)
            if settings is None or (not inp.explicit and settings.excluded(inp.path)):
                continue
            if inp.kind != "model" and kind_of_file(inp.path) != "model":
                inp = Input(inp.path, inp.display, inp.kind if inp.kind in ("missing", "unreadable") else "unsupported",
                            explicit=True, reason=inp.reason or "not a Keras model file (.h5, .hdf5, .keras, SavedModel)")
            outcome = engine.check_input(inp, settings, engine.Options())
            uri = uris.from_fs_path(str(inp.path.resolve())) or str(inp.path)
            self.publish(uri, [self.reported_finding(f, uri, "", inp.path) for f in outcome.findings])
            results.extend({"uri": uri, "code": f.code, "severity": f.severity.value, "message": f.message,
                            "layer": f.layer, "help": f.help, "url": catalogue.DOCS_URL.format(code=f.code)}
                           for f in outcome.findings)
        return results


def is_python(uri: str, language_id: str | None) -> bool:
    return language_id == "python" or uri.endswith((".py", ".pyi"))


def document_path(uri: str, root: str | None, suffix: str) -> Path:
    """The file a document is (or will be) saved as; an unsaved buffer counts as a file in the
    workspace root, so the project's configuration still applies to it."""
    path = uris.to_fs_path(uri) if uri.startswith("file:") else None
    if path:
        return Path(path)
    name = uri.rsplit("/", 1)[-1].split(":")[-1] or "untitled"
    if not name.endswith(suffix):
        name += suffix
    return Path(root or ".").resolve() / name


def _argument_path(argument) -> str | None:
    if isinstance(argument, dict):
        argument = argument.get("uri") or argument.get("path")
    if not isinstance(argument, str) or not argument:
        return None
    return uris.to_fs_path(argument) if argument.startswith("file:") else argument


def _clamp(lines: list[str], line: int, column: int) -> types.Position:
    if line > len(lines):
        return types.Position(len(lines) - 1 if lines else 0, len(lines[-1]) if lines else 0)
    return types.Position(max(line - 1, 0), max(min(column - 1, len(lines[line - 1])), 0))


def _key(r: types.Range):
    return r.start.line, r.start.character, r.end.line, r.end.character


def _before(a: types.Position, b: types.Position) -> bool:
    return (a.line, a.character) < (b.line, b.character)


def _overlaps(a: types.Range, b: types.Range) -> bool:
    return not (_before(a.end, b.start) or _before(b.end, a.start))


def _contains(r: types.Range, p: types.Position) -> bool:
    return not (_before(p, r.start) or _before(r.end, p))


def create_server() -> BnlintLanguageServer:
    server = BnlintLanguageServer()

    @server.feature(types.INITIALIZE)
    def initialize(ls: BnlintLanguageServer, params: types.InitializeParams):
        options = params.initialization_options
        if isinstance(options, dict) and isinstance(options.get("debounce"), (int, float)):
            ls.debounce = max(0.0, float(options["debounce"]))

    @server.feature(types.INITIALIZED)
    def initialized(ls: BnlintLanguageServer, params: types.InitializedParams):
        watch = ls.client_capabilities.workspace and ls.client_capabilities.workspace.did_change_watched_files
        if watch and watch.dynamic_registration:
            watchers = [types.FileSystemWatcher(glob_pattern=f"**/{name}") for name in SETTINGS_FILES]
            ls.client_register_capability(types.RegistrationParams(registrations=[types.Registration(
                id="bnlint-settings-files", method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                register_options=types.DidChangeWatchedFilesRegistrationOptions(watchers=watchers))]))

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: BnlintLanguageServer, params: types.DidOpenTextDocumentParams):
        document = params.text_document
        if is_python(document.uri, document.language_id):
            ls.check_text(document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: BnlintLanguageServer, params: types.DidChangeTextDocumentParams):
        uri = params.text_document.uri
        document = ls.workspace.get_text_document(uri)
        if is_python(uri, document.language_id):
            ls.schedule(uri, lambda: ls.check_text(uri))

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: BnlintLanguageServer, params: types.DidSaveTextDocumentParams):
        uri = params.text_document.uri
        if _is_settings_file(uri):
            ls.reload_settings()
        elif is_python(uri, ls.workspace.get_text_document(uri).language_id):
            ls.check_text(uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: BnlintLanguageServer, params: types.DidCloseTextDocumentParams):
        ls.cancel_pending(params.text_document.uri)
        ls.publish(params.text_document.uri, [])
        ls.reported.pop(params.text_document.uri, None)

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_OPEN)
    def notebook_open(ls: BnlintLanguageServer, params: types.DidOpenNotebookDocumentParams):
        ls.check_notebook(params.notebook_document.uri)

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_CHANGE)
    def notebook_change(ls: BnlintLanguageServer, params: types.DidChangeNotebookDocumentParams):
        uri = params.notebook_document.uri
        ls.schedule(uri, lambda: ls.check_notebook(uri))

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_SAVE)
    def notebook_save(ls: BnlintLanguageServer, params: types.DidSaveNotebookDocumentParams):
        ls.check_notebook(params.notebook_document.uri)

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_CLOSE)
    def notebook_close(ls: BnlintLanguageServer, params: types.DidCloseNotebookDocumentParams):
        uri = params.notebook_document.uri
        ls.cancel_pending(uri)
        for cell_uri in ls.notebooks.pop(uri, NotebookState()).cell_uris:
            ls.publish(cell_uri, [])
            ls.reported.pop(cell_uri, None)

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def watched_files(ls: BnlintLanguageServer, params: types.DidChangeWatchedFilesParams):
        if any(_is_settings_file(change.uri) for change in params.changes):
            ls.reload_settings()

    @server.feature(types.TEXT_DOCUMENT_CODE_ACTION, types.CodeActionOptions(
        code_action_kinds=[types.CodeActionKind.QuickFix, types.CodeActionKind.RefactorRewrite]))
    def code_action(ls: BnlintLanguageServer, params: types.CodeActionParams):
        return ls.code_actions(params) or None

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    def hover(ls: BnlintLanguageServer, params: types.HoverParams):
        return ls.hover(params)

    @server.command(CHECK_MODEL)
    def check_model(ls: BnlintLanguageServer, *arguments):
        if len(arguments) == 1 and isinstance(arguments[0], list):
            arguments = tuple(arguments[0])
        return ls.check_models(arguments)

    return server


def _is_settings_file(uri: str) -> bool:
    import fnmatch

    name = uri.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in SETTINGS_FILES)


def serve(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bnlint server", description="Run the bnlint language server on stdio.")
    parser.add_argument("--log-level", default="WARNING", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="bnlint server %(levelname)s %(name)s: %(message)s")
    create_server().start_io()
    return 0
