"""`bnlint server`: a real LSP client (pytest-lsp) drives the server over stdio, as an editor would."""
import asyncio
import sys
import textwrap
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from bnlint.lsp.server import CHECK_MODEL

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

BN003_SOURCE = textwrap.dedent("""\
    import tensorflow as tf

    base_model = tf.keras.applications.EfficientNetB0(include_top=False, weights="imagenet")
    base_model.trainable = False
    inputs = tf.keras.layers.Input(shape=(224, 224, 3))
    x = base_model(inputs)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    model = tf.keras.Model(inputs, tf.keras.layers.Dense(5)(x))
    """)

# The transfer-learning guide's recipe: BN002 on Keras 3 < 3.16 at `base.trainable = True` (line 15).
BN002_SOURCE = textwrap.dedent("""\
    from tensorflow import keras

    base = keras.applications.MobileNetV2(input_shape=(160, 160, 3), include_top=False, weights="imagenet")
    base.trainable = False
    inputs = keras.Input(shape=(160, 160, 3))
    x = keras.applications.mobilenet_v2.preprocess_input(inputs)
    x = base(x, training=False)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(1)(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(train_ds, epochs=10)

    base.trainable = True
    model.compile(optimizer=keras.optimizers.RMSprop(1e-5), loss="binary_crossentropy")
    model.fit(train_ds, epochs=10)
    """)
BN002_GUARD = ("for layer in base.layers:\n"
               "    if isinstance(layer, keras.layers.BatchNormalization):\n"
               "        layer.trainable = False\n")


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-m", "bnlint", "server"]))
async def client(lsp_client: LanguageClient):
    yield
    await lsp_client.shutdown_session()


def capabilities(notebooks: bool = False, watch: bool = False) -> types.ClientCapabilities:
    caps = client_capabilities("visual-studio-code")
    if notebooks:
        caps.notebook_document = types.NotebookDocumentClientCapabilities(
            synchronization=types.NotebookDocumentSyncClientCapabilities())
    caps.workspace.did_change_watched_files = types.DidChangeWatchedFilesClientCapabilities(
        dynamic_registration=watch)
    return caps


@pytest.fixture
def project(tmp_path):
    """A project whose [tool.bnlint] settles the Keras target (the verdicts depend on it)."""
    (tmp_path / "pyproject.toml").write_text('[tool.bnlint]\ntarget-keras = "keras3<3.16"\n')
    return tmp_path


async def start(client: LanguageClient, root: Path, notebooks: bool = False, debounce: float = 0.05):
    result = await client.initialize_session(types.InitializeParams(
        capabilities=capabilities(notebooks), root_uri=root.as_uri(),
        workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name="project")],
        initialization_options={"debounce": debounce}))
    return result


async def published(client: LanguageClient, uris, send) -> None:
    """Send a notification and wait (bounded) until the server has published diagnostics for
    every one of `uris` again. Waiting on what arrived, not on the next message, cannot miss a
    publication that comes before the test starts waiting."""
    for uri in uris:
        client.diagnostics.pop(uri, None)
    send()

    async def arrived():
        while not all(uri in client.diagnostics for uri in uris):
            await asyncio.sleep(0.02)

    await asyncio.wait_for(arrived(), 120)


async def open_script(client: LanguageClient, path: Path, text: str):
    path.write_text(text)
    await published(client, [path.as_uri()], lambda: client.text_document_did_open(types.DidOpenTextDocumentParams(
        types.TextDocumentItem(uri=path.as_uri(), language_id="python", version=1, text=text))))
    return list(client.diagnostics[path.as_uri()])


async def change(client: LanguageClient, uri: str, version: int, text: str):
    await published(client, [uri], lambda: client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)])))
    return list(client.diagnostics[uri])


def apply_edits(text: str, edits) -> str:
    """Apply LSP TextEdits (ASCII text, so UTF-16 units are characters), last first."""
    lines = text.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(position):
        return starts[min(position.line, len(lines))] + position.character

    for edit in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
        text = text[:offset(edit.range.start)] + edit.new_text + text[offset(edit.range.end):]
    return text


def only(diagnostics, code):
    return [d for d in diagnostics if d.code == code]


@pytest.mark.asyncio
async def test_open_reports_bn003_with_range_code_link_and_fix(client: LanguageClient, project):
    result = await start(client, project)
    assert result.server_info.name == "bnlint"
    path = project / "train.py"
    [diagnostic] = await open_script(client, path, BN003_SOURCE)
    assert diagnostic.code == "BN003" and diagnostic.source == "bnlint"
    assert diagnostic.severity == types.DiagnosticSeverity.Warning
    # `base_model(inputs)` on line 6 (1-based), columns 5-23 (1-based, end exclusive)
    assert diagnostic.range == types.Range(types.Position(5, 4), types.Position(5, 22))
    assert diagnostic.code_description.href.endswith("rules/BN003.yaml")
    assert "base_model" in diagnostic.message

    actions = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(path.as_uri()), range=diagnostic.range,
        context=types.CodeActionContext(diagnostics=[diagnostic])))
    fixes = [a for a in actions if a.kind == types.CodeActionKind.QuickFix and a.is_preferred]
    assert len(fixes) == 1 and "training=False" in fixes[0].title
    fixed = apply_edits(BN003_SOURCE, fixes[0].edit.changes[path.as_uri()])
    assert "x = base_model(inputs, training=False)" in fixed
    assert await change(client, path.as_uri(), 2, fixed) == []


@pytest.mark.asyncio
async def test_bn002_appears_and_disappears_with_edits(client: LanguageClient, project):
    await start(client, project)
    path = project / "finetune.py"
    uri = path.as_uri()
    [diagnostic] = await open_script(client, path, BN002_SOURCE)
    assert diagnostic.code == "BN002"
    assert diagnostic.range.start.line == 13          # `base.trainable = True`
    assert "keras-team/keras#20285" in diagnostic.message

    guarded = BN002_SOURCE.replace("base.trainable = True\n", "base.trainable = True\n" + BN002_GUARD)
    assert await change(client, uri, 2, guarded) == []
    [again] = await change(client, uri, 3, BN002_SOURCE)
    assert again.code == "BN002"


@pytest.mark.asyncio
async def test_save_checks_at_once_without_waiting_for_the_pause(client: LanguageClient, project):
    await start(client, project, debounce=600)        # a change alone would be checked in 10 minutes
    path = project / "finetune.py"
    uri = path.as_uri()
    assert [d.code for d in await open_script(client, path, BN002_SOURCE)] == ["BN002"]
    guarded = BN002_SOURCE.replace("base.trainable = True\n", "base.trainable = True\n" + BN002_GUARD)
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=guarded)]))
    path.write_text(guarded)
    await published(client, [uri], lambda: client.text_document_did_save(
        types.DidSaveTextDocumentParams(types.TextDocumentIdentifier(uri))))
    assert list(client.diagnostics[uri]) == []


@pytest.mark.asyncio
async def test_noqa_action_disables_the_rule_for_that_line(client: LanguageClient, project):
    await start(client, project)
    path = project / "finetune.py"
    [diagnostic] = await open_script(client, path, BN002_SOURCE)
    actions = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(path.as_uri()), range=diagnostic.range,
        context=types.CodeActionContext(diagnostics=[diagnostic])))
    [noqa] = [a for a in actions if a.title == "Disable BN002 for this line"]
    edited = apply_edits(BN002_SOURCE, noqa.edit.changes[path.as_uri()])
    assert "base.trainable = True  # noqa: BN002\n" in edited
    assert await change(client, path.as_uri(), 2, edited) == []


@pytest.mark.asyncio
async def test_hover_shows_the_rule_what_why_fix(client: LanguageClient, project):
    await start(client, project)
    path = project / "finetune.py"
    [diagnostic] = await open_script(client, path, BN002_SOURCE)
    hover = await client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(path.as_uri()), position=diagnostic.range.start))
    text = hover.contents.value
    for heading in ("What it does", "Why is this bad?", "Fix."):
        assert heading in text
    assert "`trainable = False` on each BatchNormalization layer" in text   # the fix advice for Keras 3 < 3.16
    nothing = await client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(path.as_uri()), position=types.Position(0, 0)))
    assert nothing is None


@pytest.mark.asyncio
async def test_settings_follow_pyproject_and_reload_when_it_changes(client: LanguageClient, project):
    await start(client, project)
    path = project / "finetune.py"
    assert [d.code for d in await open_script(client, path, BN002_SOURCE)] == ["BN002"]
    # tf_keras honours the nested training=False after unfreezing: the guide's recipe is clean there
    changed = types.DidChangeWatchedFilesParams(changes=[types.FileEvent(
        uri=(project / "pyproject.toml").as_uri(), type=types.FileChangeType.Changed)])
    (project / "pyproject.toml").write_text('[tool.bnlint]\ntarget-keras = "tf2"\n')
    await published(client, [path.as_uri()], lambda: client.workspace_did_change_watched_files(changed))
    assert list(client.diagnostics[path.as_uri()]) == []
    (project / "pyproject.toml").write_text('[tool.bnlint]\ntarget-keras = "keras3<3.16"\n')
    await published(client, [path.as_uri()], lambda: client.workspace_did_change_watched_files(changed))
    assert [d.code for d in client.diagnostics[path.as_uri()]] == ["BN002"]
    (project / "pyproject.toml").write_text('[tool.bnlint]\ntarget-keras = "keras3<3.16"\nignore = ["BN002"]\n')
    await published(client, [path.as_uri()], lambda: client.workspace_did_change_watched_files(changed))
    assert list(client.diagnostics[path.as_uri()]) == []


FLATTENED = textwrap.dedent("""\
    import tensorflow as tf
    base = tf.keras.applications.ResNet50(include_top=False)
    model = tf.keras.Model(base.input, tf.keras.layers.Dense(2)(base.output))
    for layer in base.layers:
        layer.trainable = False
    model.compile("sgd", "mse")
    model.fit(x, y)
    """)


@pytest.mark.asyncio
async def test_related_places_and_unsafe_fixes_are_labelled(client: LanguageClient, tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.bnlint]\ntarget-keras = "tf1"\nignore = ["BN006"]\n')
    await start(client, tmp_path)
    path = tmp_path / "train.py"
    [diagnostic] = only(await open_script(client, path, FLATTENED), "BN001")
    assert diagnostic.severity == types.DiagnosticSeverity.Error
    [related] = diagnostic.related_information
    assert related.location.uri == path.as_uri()
    assert related.location.range.start == types.Position(4, 4)          # `layer.trainable = False`
    assert "frozen here" in related.message
    actions = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(path.as_uri()), range=diagnostic.range,
        context=types.CodeActionContext(diagnostics=[diagnostic])))
    [unsafe] = [a for a in actions if a.kind == types.CodeActionKind.RefactorRewrite]
    assert "unsafe fix" in unsafe.title and not unsafe.is_preferred
    assert "training=False" in "".join(e.new_text for e in unsafe.edit.changes[path.as_uri()])
    # asked for quick fixes only, the editor gets no unsafe rewrite
    quick = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(path.as_uri()), range=diagnostic.range,
        context=types.CodeActionContext(diagnostics=[diagnostic], only=[types.CodeActionKind.QuickFix])))
    assert [a.title for a in quick] == ["Disable BN001 for this line"]


@pytest.mark.asyncio
async def test_invalid_configuration_is_shown_not_a_crash(client: LanguageClient, tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.bnlint]\nselect = ["XX9"]\n')
    await start(client, tmp_path)
    assert await open_script(client, tmp_path / "train.py", BN003_SOURCE) == []
    [message] = client.messages
    assert message.type == types.MessageType.Error
    assert "invalid configuration" in message.message and "XX9" in message.message


@pytest.mark.asyncio
async def test_server_asks_the_editor_to_watch_pyproject(client: LanguageClient, tmp_path):
    registrations = []

    @client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def register(params: types.RegistrationParams):
        registrations.extend(params.registrations)

    await client.initialize_session(types.InitializeParams(
        capabilities=capabilities(watch=True), root_uri=tmp_path.as_uri()))

    async def registered():
        while not registrations:
            await asyncio.sleep(0.02)

    await asyncio.wait_for(registered(), 120)
    [registration] = registrations
    assert registration.method == types.WORKSPACE_DID_CHANGE_WATCHED_FILES
    patterns = {w["globPattern"] if isinstance(w, dict) else w.glob_pattern
                for w in (registration.register_options["watchers"] if isinstance(registration.register_options, dict)
                          else registration.register_options.watchers)}
    assert {"**/pyproject.toml", "**/requirements*.txt"} <= patterns


@pytest.mark.asyncio
async def test_notebook_cells_get_their_own_diagnostics(client: LanguageClient, project):
    await start(client, project, notebooks=True)
    notebook_uri = (project / "finetune.ipynb").as_uri()
    cells = ["from tensorflow import keras\n",
             "# Fine-tuning\n",
             BN002_SOURCE.split("\n", 1)[1]]
    kinds = [types.NotebookCellKind.Code, types.NotebookCellKind.Markup, types.NotebookCellKind.Code]
    cell_uris = [f"vscode-notebook-cell:{project}/finetune.ipynb#cell{i}" for i in range(3)]
    code_cells = [cell_uris[0], cell_uris[2]]
    await published(client, code_cells, lambda: client.notebook_document_did_open(types.DidOpenNotebookDocumentParams(
        notebook_document=types.NotebookDocument(
            uri=notebook_uri, notebook_type="jupyter-notebook", version=1,
            cells=[types.NotebookCell(kind=k, document=u) for k, u in zip(kinds, cell_uris)]),
        cell_text_documents=[types.TextDocumentItem(uri=u, language_id="python" if k == types.NotebookCellKind.Code
                                                    else "markdown", version=1, text=t)
                             for u, k, t in zip(cell_uris, kinds, cells)])))
    assert list(client.diagnostics[cell_uris[0]]) == []
    [diagnostic] = client.diagnostics[cell_uris[2]]
    # line 14 of the script is line 13 of the third cell (the import is in the first cell)
    assert (diagnostic.code, diagnostic.range.start.line) == ("BN002", 12)

    # edit the third cell: guard the BN layers
    third = cells[2]
    await published(client, code_cells, lambda: client.notebook_document_did_change(types.DidChangeNotebookDocumentParams(
        notebook_document=types.VersionedNotebookDocumentIdentifier(version=2, uri=notebook_uri),
        change=types.NotebookDocumentChangeEvent(cells=types.NotebookDocumentCellChanges(text_content=[
            types.NotebookDocumentCellContentChanges(
                document=types.VersionedTextDocumentIdentifier(uri=cell_uris[2], version=2),
                changes=[types.TextDocumentContentChangeWholeDocument(
                    text=third.replace("base.trainable = True\n", "base.trainable = True\n" + BN002_GUARD))])])))))
    assert list(client.diagnostics[cell_uris[2]]) == []


@pytest.mark.asyncio
async def test_check_model_command_reports_a_model_file(client: LanguageClient, tmp_path):
    await start(client, tmp_path)
    model = FIXTURES / "models" / "keras224" / "flat_frozen.h5"
    result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command=CHECK_MODEL, arguments=[model.as_uri()]))
    codes = {item["code"] for item in result}
    assert "BN102" in codes                     # standalone Keras 2.2.4 file: frozen BN on batch statistics
    published = client.diagnostics[model.resolve().as_uri()]
    assert {d.code for d in published} == codes


# --- the README's editor snippets ------------------------------------------------------------

def readme_snippet(name: str) -> str:
    import re

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    match = re.search(rf"<!-- snippet: {re.escape(name)} -->\s*```\w*\n(.*?)```\s*<!-- /snippet -->", text, re.S)
    assert match, f"README.md has no {name} snippet"
    return match.group(1)


def test_vscode_snippet_starts_bnlint_server_for_python():
    import json

    settings = json.loads(readme_snippet("vscode"))
    assert [settings["glspc.server.command"], *settings["glspc.server.commandArguments"]] == ["bnlint", "server"]
    assert settings["glspc.server.languageId"] == ["python"]


def test_jupyterlab_lsp_spec_argv_runs_a_server_that_answers_initialize(tmp_path):
    import json
    import subprocess

    spec = json.loads(readme_snippet("jupyterlab-lsp"))["LanguageServerManager"]["language_servers"]["bnlint"]
    assert spec["version"] == 2 and spec["languages"] == ["python"]
    argv = [str(Path(sys.executable).with_name(spec["argv"][0])), *spec["argv"][1:]]
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                       "params": {"processId": None, "rootUri": tmp_path.as_uri(), "capabilities": {}}})
    exit_ = json.dumps({"jsonrpc": "2.0", "method": "exit"})
    message = "".join(f"Content-Length: {len(b)}\r\n\r\n{b}" for b in (body, exit_))
    result = subprocess.run(argv, input=message.encode(), capture_output=True, timeout=120)
    payload = result.stdout.split(b"\r\n\r\n", 1)[1]
    response = json.loads(payload[:int(result.stdout.split(b"\r\n")[0].split(b":")[1])])
    assert response["result"]["serverInfo"]["name"] == "bnlint"
    assert response["result"]["capabilities"]["codeActionProvider"]
