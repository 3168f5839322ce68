"""Where users run bnlint: the pre-commit hooks and the composite GitHub Action, run for real.

- The checkout is snapshotted into a throw-away git repository (tracked files plus new, not ignored
  ones under bnlint/, rules/ and the packaging files): what pre-commit and the Action install is
  the working tree as it is, committed or not.
- pre-commit runs with `PRE_COMMIT_HOME` in a temporary folder of the session (isolated from the
  user's, built once per session and shared by the hook runs). `try-repo` always builds a fresh
  environment of its own, so it runs once; the other hook runs go through the README's
  `.pre-commit-config.yaml` snippet with `repo:` pointing at the snapshot.
- The Action's `run` steps are executed in order with bash the way the runner does
  (`bash --noprofile --norc -eo pipefail`), with `${{ ... }}` in `env:` resolved from the inputs
  given in the README's workflow snippet; its install step really pip-installs the snapshot into a
  new virtualenv under `RUNNER_TEMP`.

The tests marked slow need the network to PyPI (or the machine's package index) for hatchling, h5py
and pyyaml. Deselect with `-m "not slow"`.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bnlint import catalogue

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "fixtures" / "models"
SCHEMA = Path(__file__).resolve().parents[2] / "shared" / "schemas" / "sarif-schema-2.1.0.json"
FIXTURE_MODELS = [ROOT / "fixtures" / "models" / v / "flat_frozen.h5" for v in ("keras224", "tf115")]
SNIPPET_SOURCES = [ROOT / "README.md", Path("/tmp/readme_integrations.md")]
SNAPSHOT_PATHS = ("bnlint/", "rules/", "pyproject.toml", "README.md", "LICENSE", ".pre-commit-hooks.yaml", "action.yml")
FIXED_DATE = "2024-01-01T00:00:00+00:00"

slow = pytest.mark.slow  # runs pre-commit or pip for real: deselect with -m "not slow"


def git_env(extra=None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PRE_COMMIT"))}
    env.update(GIT_AUTHOR_NAME="bnlint tests", GIT_AUTHOR_EMAIL="tests@bnlint.invalid",
               GIT_COMMITTER_NAME="bnlint tests", GIT_COMMITTER_EMAIL="tests@bnlint.invalid",
               GIT_AUTHOR_DATE=FIXED_DATE, GIT_COMMITTER_DATE=FIXED_DATE, GIT_CONFIG_NOSYSTEM="1",
               GIT_CONFIG_GLOBAL=os.devnull)
    env.update(extra or {})
    return env


def git(*args, cwd) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=git_env(), check=True, capture_output=True, text=True).stdout


def make_repo(path: Path, files: dict[str, str | bytes]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git("init", "-q", "-b", "main", cwd=path)
    write_files(path, files)
    commit_all(path)
    return path


def write_files(root: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content) if isinstance(content, bytes) else p.write_text(content, encoding="utf-8")


def commit_all(repo: Path) -> None:
    git("add", "-A", cwd=repo)
    git("-c", "commit.gpgsign=false", "commit", "-q", "--allow-empty", "-m", "snapshot", cwd=repo)


# --- the README snippets (one place: README.md between markers, or the draft) --------------------

def snippet(name: str) -> str:
    pattern = re.compile(rf"<!-- snippet: {re.escape(name)} -->\s*```\w*\n(.*?)```\s*<!-- /snippet -->", re.S)
    for source in SNIPPET_SOURCES:
        if source.is_file():
            m = pattern.search(source.read_text(encoding="utf-8"))
            if m:
                return m.group(1)
    pytest.skip(f"no `<!-- snippet: {name} -->` block in README.md yet")


# --- the snapshot of the checkout ---------------------------------------------------------------

@pytest.fixture(scope="session")
def snapshot(tmp_path_factory) -> Path:
    """The checkout as it is now (committed or not), as a git repository pre-commit can clone."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    listed = git("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=ROOT).split("\0")
    dest = tmp_path_factory.mktemp("bnlint-snapshot")
    for rel in sorted(set(listed)):
        src = ROOT / rel
        if rel and rel.startswith(SNAPSHOT_PATHS) and src.is_file() and "__pycache__" not in rel:
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    assert (dest / ".pre-commit-hooks.yaml").is_file() and (dest / "action.yml").is_file()
    if not (dest / "README.md").is_file():  # pyproject's `readme` must exist for the build
        (dest / "README.md").write_text("# bnlint\n")
    git("init", "-q", "-b", "main", cwd=dest)
    commit_all(dest)
    return dest


@pytest.fixture(scope="session")
def pre_commit_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")


def pre_commit(*args, cwd: Path, home: Path) -> subprocess.CompletedProcess:
    env = git_env({"PRE_COMMIT_HOME": str(home), "PRE_COMMIT_COLOR": "never", "NO_COLOR": "1"})
    env.pop("BNLINT_OUTPUT_FORMAT", None)
    env.pop("VIRTUAL_ENV", None)
    return subprocess.run([sys.executable, "-m", "pre_commit", *args, "--color", "never"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=1200)


def bn001_examples() -> tuple[str, str]:
    rule = catalogue.load().get("BN001")
    if rule is None:
        pytest.skip("BN001 is not in the rule catalogue yet (rules/BN001.yaml)")
    return rule.bad, rule.good


def user_config(snapshot: Path) -> str:
    """The README's pre-commit snippet, pointed at the snapshot of this checkout."""
    text = snippet("pre-commit")
    config = yaml.safe_load(text)
    (repo,) = config["repos"]
    assert {h["id"] for h in repo["hooks"]} == {"bnlint", "bnlint-models"}
    text = text.replace(f"repo: {repo['repo']}", f"repo: {snapshot}").replace(
        f"rev: {repo['rev']}", f"rev: {git('rev-parse', 'HEAD', cwd=snapshot).strip()}")
    assert yaml.safe_load(text)["repos"][0]["repo"] == str(snapshot)
    return text


# --- pre-commit -------------------------------------------------------------------------------------

def test_hooks_manifest_is_what_the_conventions_ask():
    hooks = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    assert set(hooks) >= {"bnlint", "bnlint-models", "bnlint-fix"}
    for h in hooks.values():
        assert h["language"] == "python" and h["entry"].split()[0] == "bnlint" and h["name"]
    assert {"python", "jupyter"} <= set(hooks["bnlint"]["types_or"])
    assert "--fix" in hooks["bnlint-fix"]["entry"].split()
    files = re.compile(hooks["bnlint-models"]["files"])
    for name in ("m.h5", "a/b.hdf5", "x.keras", "sm/saved_model.pb"):
        assert files.search(name), name
    for name in ("train.py", "sm/keras_metadata.pb", "sm/variables/variables.index", "model.h5.txt"):
        assert not files.search(name), name


@slow
def test_pre_commit_try_repo_fails_on_a_flattened_frozen_script(snapshot, tmp_path, pre_commit_home):
    bad, _ = bn001_examples()
    repo = make_repo(tmp_path / "user", {"train.py": bad, "README.txt": "not checked\n"})
    r = pre_commit("try-repo", str(snapshot), "bnlint", "--all-files", cwd=repo, home=pre_commit_home)
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert re.search(r"^bnlint\.+Failed$", r.stdout, re.M), out
    assert re.search(r"^train\.py:\d+:\d+: BN001 ", r.stdout, re.M), out


@slow
def test_pre_commit_readme_config_passes_on_the_good_script(snapshot, tmp_path, pre_commit_home):
    _, good = bn001_examples()
    repo = make_repo(tmp_path / "user", {".pre-commit-config.yaml": user_config(snapshot), "train.py": good})
    r = pre_commit("run", "--all-files", cwd=repo, home=pre_commit_home)
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"^bnlint\.+Passed$", r.stdout, re.M), r.stdout
    assert re.search(r"^bnlint \(Keras model files\)\.+\(no files to check\)Skipped$", r.stdout, re.M), r.stdout


@slow
def test_pre_commit_models_hook_checks_models_and_saved_model_folders(snapshot, tmp_path, pre_commit_home):
    """Unreadable model files fail the hook (BN900); a SavedModel folder is checked once, through
    its saved_model.pb, and its other files are not passed."""
    files = {
        ".pre-commit-config.yaml": user_config(snapshot),
        "models/broken.h5": b"not an hdf5 file",
        "export/sm/saved_model.pb": b"\x00garbage",
        "export/sm/keras_metadata.pb": b"\x00garbage",
        "export/sm/variables/variables.index": b"\x00",
        "notes.txt": "not a model\n",
    }
    repo = make_repo(tmp_path / "user", files)
    r = pre_commit("run", "bnlint-models", "--all-files", cwd=repo, home=pre_commit_home)
    out = r.stdout
    assert r.returncode == 1, out + r.stderr
    assert re.search(r"^bnlint \(Keras model files\)\.+Failed$", out, re.M), out
    assert re.search(r"^models/broken\.h5: BN900 ", out, re.M), out
    assert len(re.findall(r"^export/sm: BN9\d\d ", out, re.M)) == 1, out
    assert "keras_metadata.pb:" not in out and "variables.index" not in out and "notes.txt" not in out


@slow
def test_pre_commit_models_hook_fails_on_a_flattened_frozen_h5(snapshot, tmp_path, pre_commit_home):
    fixture = next((p for p in FIXTURE_MODELS if p.is_file()), None)
    if fixture is None:
        pytest.skip("no fixtures/models/{keras224,tf115}/flat_frozen.h5 yet (fixtures/generate_models.py makes them)")
    repo = make_repo(tmp_path / "user", {".pre-commit-config.yaml": user_config(snapshot),
                                          "flat_frozen.h5": fixture.read_bytes()})
    r = pre_commit("run", "bnlint-models", "--all-files", cwd=repo, home=pre_commit_home)
    assert r.returncode == 1, r.stdout + r.stderr
    assert re.search(r"^flat_frozen\.h5: layer .*: BN1\d\d ", r.stdout, re.M), r.stdout


@slow
def test_pre_commit_fix_hook_applies_the_safe_fixes(snapshot, tmp_path, pre_commit_home, run_cli):
    # the first script rule whose `bad` example `bnlint --fix` (in this process) changes
    for rule in catalogue.load().values():
        if rule.analyzer != "script":
            continue
        probe = tmp_path / "probe" / rule.code
        probe.mkdir(parents=True)
        (probe / "train.py").write_text(rule.bad)
        run_cli("--fix", "--no-config", "train.py", cwd=probe)
        fixed = (probe / "train.py").read_text()
        if fixed != rule.bad:
            bad = rule.bad
            break
    else:
        pytest.skip("no script rule's bad example has a safe fix")
    config = user_config(snapshot).replace("- id: bnlint-models", "- id: bnlint-fix")
    repo = make_repo(tmp_path / "user", {".pre-commit-config.yaml": config, "train.py": bad})
    r = pre_commit("run", "bnlint-fix", "--all-files", cwd=repo, home=pre_commit_home)
    assert r.returncode == 1, r.stdout + r.stderr          # pre-commit fails a hook that changed files
    assert "files were modified by this hook" in r.stdout
    assert (repo / "train.py").read_text() == fixed


# --- the GitHub Action -------------------------------------------------------------------------------

ACTION = ROOT / "action.yml"
EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def load_action() -> dict:
    return yaml.safe_load(ACTION.read_text(encoding="utf-8"))


def test_action_is_a_composite_whose_inputs_reach_scripts_only_through_env():
    action = load_action()
    assert action["runs"]["using"] == "composite"
    assert set(action["inputs"]) >= {"paths", "args", "version", "sarif-file", "fail-on"}
    assert action["inputs"]["paths"]["default"] == "." and action["inputs"]["version"]["default"] == ""
    assert "findings" in action["outputs"]
    used = set()
    for step in action["runs"]["steps"]:
        if "run" in step:
            assert step.get("shell") == "bash", step
            assert "${{" not in step["run"], f"expression inside the script text of step {step.get('id')}"
        for value in (step.get("env") or {}).values():
            used |= set(re.findall(r"inputs\.([\w-]+)", str(value)))
    assert used == set(action["inputs"]), "every input is passed through env:"


def resolve(text: str, ctx: dict) -> str:
    def one(m):
        expr = m.group(1)
        if expr.startswith("inputs."):
            return str(ctx["inputs"][expr[len("inputs."):]])
        if expr == "github.action_path":
            return ctx["action_path"]
        m2 = re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", expr)
        if m2:
            return ctx["steps"].get(m2.group(1), {}).get(m2.group(2), "")
        raise AssertionError(f"the test runner does not know the expression {expr!r}")
    return EXPR.sub(one, str(text))


def read_output_file(path: Path) -> dict:
    """`name=value` lines and `name<<DELIM` blocks, as the runner reads $GITHUB_OUTPUT."""
    out, lines = {}, path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delim = line.split("<<", 1)
            j = lines.index(delim, i + 1)
            out[name] = "\n".join(lines[i + 1:j])
            i = j + 1
            continue
        name, _, value = line.partition("=")
        out[name] = value
        i += 1
    return out


class ActionRunner:
    def __init__(self, action_path: Path, runner_temp: Path):
        self.action_path = action_path
        self.action = yaml.safe_load((action_path / "action.yml").read_text(encoding="utf-8"))
        self.runner_temp = runner_temp
        self.steps: dict[str, dict] = {}

    def inputs(self, given: dict) -> dict:
        values = {k: str(v.get("default", "")) for k, v in self.action["inputs"].items()}
        unknown = set(given) - set(values)
        assert not unknown, f"inputs the action does not declare: {unknown}"
        values.update({k: str(v) for k, v in given.items()})
        return values

    def run_step(self, step_id: str, given: dict, workspace: Path) -> subprocess.CompletedProcess:
        step = next(s for s in self.action["runs"]["steps"] if s.get("id") == step_id)
        ctx = {"inputs": self.inputs(given), "action_path": str(self.action_path), "steps": self.steps}
        output = self.runner_temp / f"output-{step_id}"
        output.write_text("")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BNLINT_", "GITHUB_", "VIRTUAL_ENV", "PYTHON"))}
        # python3 on PATH: this interpreter (its venv only serves as the base of the action's own venv)
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        env.update(GITHUB_ACTION_PATH=str(self.action_path), GITHUB_OUTPUT=str(output),
                   GITHUB_WORKSPACE=str(workspace), RUNNER_TEMP=str(self.runner_temp), GITHUB_ACTIONS="true", CI="true")
        env.update({k: resolve(v, ctx) for k, v in (step.get("env") or {}).items()})
        script = self.runner_temp / f"step-{step_id}.sh"
        script.write_text(step["run"])
        r = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], cwd=workspace, env=env,
                           capture_output=True, text=True, timeout=1200)
        self.steps[step_id] = read_output_file(output)
        return r

    def output(self, name: str) -> str:
        return resolve(self.action["outputs"][name]["value"], {"inputs": {}, "action_path": "", "steps": self.steps})


def workflow_step():
    """The README's workflow and its bnlint step."""
    workflow = yaml.safe_load(snippet("action"))
    steps = [s for job in workflow["jobs"].values() for s in job["steps"]]
    ours = [s for s in steps if str(s.get("uses", "")).startswith("bnlint/bnlint@")]
    assert len(ours) == 1
    return workflow, steps, ours[0]


def test_readme_workflow_uploads_the_sarif_the_action_writes():
    workflow, steps, ours = workflow_step()
    assert workflow["permissions"]["security-events"] == "write"
    upload = [s for s in steps if str(s.get("uses", "")).startswith("github/codeql-action/upload-sarif@")]
    assert len(upload) == 1 and steps.index(upload[0]) > steps.index(ours)
    assert upload[0]["with"]["sarif_file"] == ours["with"]["sarif-file"]
    assert "always()" in str(upload[0].get("if", "")) or "cancelled()" in str(upload[0].get("if", "")), \
        "upload even when bnlint fails the job"


@pytest.fixture(scope="module")
def installed_action(snapshot, tmp_path_factory):
    """The action's install step, run once: a new virtualenv with bnlint from the snapshot."""
    runner = ActionRunner(snapshot, tmp_path_factory.mktemp("runner-temp"))
    r = runner.run_step("install", {}, tmp_path_factory.mktemp("empty-workspace"))
    assert r.returncode == 0, r.stdout + r.stderr
    python = Path(runner.steps["install"]["python"])
    assert python.is_file() and str(runner.runner_temp) in str(python)
    assert r.stdout.strip().endswith(f"bnlint {__import__('bnlint').__version__}")
    return runner


def expected_findings(run_cli, workspace: Path, paths: list[str]) -> list[dict]:
    code, out, err = run_cli("--output-format", "json", *paths, cwd=workspace)
    return json.loads(out)


@slow
def test_action_runs_the_readme_workflow_step(installed_action, tmp_path, run_cli):
    _, _, ours = workflow_step()
    given = ours.get("with", {})
    assert not given.get("version"), "the README's step installs the action's own ref"
    workspace = tmp_path / "workspace"
    files = {"models/broken.h5": b"not an hdf5 file", "src/broken.ipynb": "{not json",
             "docs/notes.txt": "nothing to check\n"}
    try:
        files["src/train.py"] = bn001_examples()[0]
    except pytest.skip.Exception:
        pass
    write_files(workspace, files)
    r = installed_action.run_step("run", given, workspace)
    expected = expected_findings(run_cli, workspace, str(given.get("paths", ".")).split())
    assert expected
    threshold = {"info": 0, "warning": 1, "error": 2}[given.get("fail-on") or "warning"]   # bnlint's default
    should_fail = any({"info": 0, "warning": 1, "error": 2}[f["severity"]] >= threshold for f in expected)
    assert r.returncode == (1 if should_fail else 0), r.stdout + r.stderr
    # annotations on stdout
    annotations = [line for line in r.stdout.splitlines() if line.startswith("::")]
    assert "::error title=bnlint (BN900),file=models/broken.h5,line=1,col=1,endLine=1,endColumn=1::" in r.stdout
    assert any(a.startswith("::error title=bnlint (BN900),file=src/broken.ipynb,") for a in annotations)
    if "src/train.py" in files:
        assert any(",file=src/train.py," in a and "(BN001)" in a for a in annotations)
    # the output and the SARIF file
    assert installed_action.output("findings") == str(len(expected))
    sarif_file = given.get("sarif-file")
    assert sarif_file, "the README's step writes SARIF"
    doc = json.loads((workspace / sarif_file).read_text())
    assert len(doc["runs"][0]["results"]) == len(expected)
    if SCHEMA.is_file():
        import jsonschema

        jsonschema.Draft7Validator(json.loads(SCHEMA.read_text())).validate(doc)


@slow
def test_action_exit_code_follows_fail_on_and_args(installed_action, tmp_path):
    workspace = tmp_path / "workspace"
    write_files(workspace, {"a/broken.h5": b"not an hdf5 file", "b/also broken.keras": b"nope"})
    # findings of level error: fail-on error fails, the count comes from the JSON run
    r = installed_action.run_step("run", {"paths": "a", "fail-on": "error"}, workspace)
    assert r.returncode == 1, r.stdout + r.stderr
    assert installed_action.output("findings") == "1"
    assert not (workspace / "bnlint.sarif").exists()
    # --exit-zero in args: the step passes, the findings are still counted and annotated
    r = installed_action.run_step("run", {"paths": "a\nb", "args": "--exit-zero --no-config"}, workspace)
    assert r.returncode == 0, r.stdout + r.stderr
    assert installed_action.output("findings") == "2"
    assert r.stdout.count("::error title=bnlint (BN900)") == 2
    # a clean folder: 0 findings, exit 0
    (workspace / "clean").mkdir()
    r = installed_action.run_step("run", {"paths": "clean"}, workspace)
    assert r.returncode == 0 and installed_action.output("findings") == "0", r.stdout + r.stderr
    # a bad input value: exit 2 with an error annotation, before running anything
    r = installed_action.run_step("run", {"fail-on": "sometimes"}, workspace)
    assert r.returncode == 2 and r.stdout.startswith("::error title=bnlint::input 'fail-on'")
    # no fail-on input: bnlint's own setting decides (`fail-on` in [tool.bnlint], else warning)
    write_files(workspace, {"info/weights_only.weights.h5": (MODELS / "keras3" / "weights_only.weights.h5").read_bytes()})
    r = installed_action.run_step("run", {"paths": "info"}, workspace)
    assert r.returncode == 0 and installed_action.output("findings") == "1", r.stdout + r.stderr   # BN901 is info
    write_files(workspace, {"info/pyproject.toml": '[tool.bnlint]\nfail-on = "info"\n'})
    r = installed_action.run_step("run", {"paths": "info"}, workspace)
    assert r.returncode == 1, r.stdout + r.stderr


# --- ruff coexistence ---------------------------------------------------------------------------------

def test_readme_ruff_snippet_keeps_bnlint_noqa_codes(tmp_path):
    """ruff's RUF100 fix drops codes it does not know from a `# noqa` it edits; the README's
    `lint.external` snippet keeps bnlint's."""
    import importlib.util

    if importlib.util.find_spec("ruff") is None:
        pytest.skip("ruff is not installed (pip install ruff)")
    source = "import os  # noqa: BN001, F401, E501\n"

    def ruff_fix(folder: Path) -> str:
        (folder / "train.py").write_text(source)
        r = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--select", "RUF100", "--fix", "train.py"],
                           cwd=folder, capture_output=True, text=True, timeout=120)
        assert r.returncode in (0, 1), r.stdout + r.stderr
        return (folder / "train.py").read_text()

    (tmp_path / "without").mkdir()
    (tmp_path / "without" / "pyproject.toml").write_text("[tool.ruff]\n")
    assert "BN001" not in ruff_fix(tmp_path / "without")            # the hazard the snippet is for
    (tmp_path / "with").mkdir()
    (tmp_path / "with" / "pyproject.toml").write_text(snippet("ruff"))
    assert ruff_fix(tmp_path / "with") == "import os  # noqa: BN001\n"


def test_action_rejects_a_version_that_is_not_one(snapshot, tmp_path):
    runner = ActionRunner(snapshot, tmp_path)
    r = runner.run_step("install", {"version": "0.1.0 --index-url https://example.invalid/simple"}, tmp_path)
    assert r.returncode == 2 and r.stdout.startswith("::error title=bnlint::input 'version'"), r.stdout + r.stderr
    assert not (tmp_path / "bnlint-action-venv").exists()
