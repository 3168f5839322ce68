"""The script analyzer: training scripts and Jupyter notebooks, rules BN001-BN006.

    analyze_script(path, display_path, data, ctx) -> ScriptResult
    fix_script(data, path, findings) -> (bytes, [CodeFix applied])     (fixes/: libcst codemods)
    apply_fixes(data, path, findings) -> bytes

Pipeline: byte prefilter → decode (source.py: encoding, BOM, notebook cells and magics) → parse with
the stdlib `ast`, keep the statements that matter (chunks.py) → one collector pass builds facts (collector.py over the
abstract values of values.py, facts.py) → the Keras target (ctx.target, else target_inference.py)
→ each enabled rule reads the facts (rules/) → reports become `Finding`s with 1-based positions,
related locations and fix plans (here); fixes/ turns fix plans into edits with libcst codemods when
asked. `applications.py` knows the keras.applications families.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import pathlib
import re
from dataclasses import dataclass, field

from bnlint.catalogue import severity_for
from bnlint.context import RuleContext
from bnlint.errors import BnlintInputError
from bnlint.finding import Finding, Fix, Related
from bnlint.script.applications import ZOO_ROOTS
from bnlint.script.chunks import parse_python
from bnlint.script.collector import Collector, preprocessing_visible
from bnlint.script.facts import Facts, TrainableChange
from bnlint.script.project import module_candidates, sys_path_folders
from bnlint.script.rules import RULES
from bnlint.script.rules.base import Report
from bnlint.script.source import decode_script, load_notebook
from bnlint.script.target_inference import infer_targets, note_era_signals, note_python2
from bnlint.suppression import parse_suppressions
from bnlint.target import KerasTarget

__all__ = ["ModelBuild", "ScriptResult", "analyze_script", "apply_fixes", "fix_script", "SCRIPT_CODES"]

SCRIPT_CODES = frozenset(RULES)

# A pretrained base comes from `keras.applications`, a model zoo or `load_model`, in the file itself
# or in a sibling module it imports. Rules about bases need one; BN004 and BN005 need only their own words.
_ZOO_SOURCES = tuple(root.encode() for root in ZOO_ROOTS)
_BASE_SOURCES = (b"applications", b"load_model", *_ZOO_SOURCES)
_BASE_RULES = frozenset({"BN001", "BN002", "BN003", "BN006", "BN007"})
_IMPORT = re.compile(rb"^[ \t]*(?:from[ \t]+(\.*[\w.]*)[ \t]+import|import[ \t]+([\w.]+))", re.M)


class _Words:
    """A byte pattern and literal words of which every match holds one. Over a big tree the
    regular expressions are the slow part (they try every position); a substring test of the
    words rules most files out first."""

    __slots__ = ("pattern", "words")

    def __init__(self, pattern: re.Pattern, words: tuple[bytes, ...]):
        self.pattern, self.words = pattern, words

    def found_in(self, data: bytes) -> bool:
        return any(word in data for word in self.words) and self.pattern.search(data) is not None


_TRAINABLE = _Words(re.compile(rb"\.trainable\s*=[^=]|[\"']trainable[\"']"), (b"trainable",))
_TRAINS = _Words(re.compile(rb"\.(?:fit|fit_generator|train_on_batch)\s*\("), (b".fit", b".train_on_batch"))
_NEEDS = {
    "BN004": (_TRAINABLE, _Words(re.compile(rb"\.compile\s*\("), (b".compile",)), _TRAINS),
    "BN005": (_Words(re.compile(rb"set_learning_phase"), (b"set_learning_phase",)),),
}
# A keras.applications constructor called by its bare name (fragments that never import it).
_FAMILY_STEMS = (b"ResNet", b"Inception", b"Xception", b"MobileNet", b"DenseNet", b"NASNet", b"EfficientNet", b"RegNet")
_FAMILY_CALL = re.compile(rb"\b(?:ResNet|Inception|Xception|MobileNet|DenseNet|NASNet|EfficientNet|RegNet)\w*\s*\(")


@dataclass(frozen=True)
class ModelBuild:
    """Where the script builds a model around a base, or unfreezes one (links model findings)."""

    architecture: str            # e.g. "ResNet50"
    kind: str                    # "flattened" | "nested" | "unfrozen"
    line: int
    column: int
    end_line: int
    end_column: int
    cell: int | None = None


@dataclass
class ScriptResult:
    findings: list[Finding]
    # (cell or None, line) -> suppressed codes (None = blanket noqa)
    suppressions: dict[tuple[int | None, int], frozenset[str] | None]
    model_builds: list[ModelBuild] = field(default_factory=list)


def _is_notebook(path: pathlib.Path) -> bool:
    return path.suffix.lower() == ".ipynb"


def _worth_parsing(data: bytes, enabled: frozenset[str], path: pathlib.Path) -> bool:
    """Cheap byte-level check: can any enabled rule fire on this file at all?"""
    for code, needs in _NEEDS.items():
        if code in enabled and all(needle.found_in(data) for needle in needs):
            return True
    if not enabled & _BASE_RULES:
        return False
    constructs = b"applications" in data or _calls_a_family(data)
    # trained weights loaded into a model (also the project's own architecture: `load_weights`)
    loads = b"load_model" in data or b"load_weights" in data
    changes_trainable = _TRAINABLE.found_in(data)
    # An entry point (`__main__` block, notebook) may leave everything to the project's modules.
    entry_point = b"__main__" in data or _is_notebook(path)
    if not (constructs and changes_trainable) and (
            constructs or changes_trainable or entry_point or _TRAINS.found_in(data)):
        # the rest may be in the project modules it imports (a model built in `models.py`)
        project = _project_modules_mention(data, path)
        constructs = constructs or project["base"]
        changes_trainable = changes_trainable or project["trainable"]
    if constructs and (enabled & {"BN003", "BN006", "BN007"} or changes_trainable):
        return True
    if any(root in data for root in _ZOO_SOURCES) and (
            enabled & {"BN003", "BN006"} or changes_trainable or b"encoder_freeze" in data):
        return True
    # A loaded model (or weights) only counts as a base once the script freezes or unfreezes it.
    return loads and changes_trainable


def _project_modules_mention(data: bytes, path: pathlib.Path, depth: int = 2) -> dict[str, bool]:
    """Do the project modules the script imports (`depth` levels: a module and what it imports)
    build a base / change `trainable`?"""
    found = {"base": False, "trainable": False}
    if _is_notebook(path):
        data = _notebook_code(data)     # import lines are inside the JSON strings of the cells
    text = data.decode("utf-8", "replace")
    extra = sys_path_folders(text, path.parent)
    for match in _IMPORT.finditer(data):
        raw = (match.group(1) or match.group(2)).decode("ascii", "replace")
        module = raw.lstrip(".")
        for candidate in module_candidates(path, module, len(raw) - len(module), extra):
            # a module, or a package whose submodules the script imports (`from src.models import effnet`)
            files = [candidate] if candidate.name != "__init__.py" else [candidate, *_package_files(candidate.parent)]
            mentions = [_module_mentions(f, depth) for f in files]
            mentions = [m for m in mentions if m is not None]
            if not mentions:
                continue
            for base, trainable in mentions:
                found["base"] |= base
                found["trainable"] |= trainable
            break
        if found["base"] and found["trainable"]:
            break
    return found


def _notebook_code(data: bytes) -> bytes:
    """The code cells of a notebook as one text (the raw JSON when it is not a readable notebook)."""
    try:
        cells = json.loads(data).get("cells", [])
        return "\n".join("".join(c.get("source", "")) if isinstance(c.get("source"), list) else str(c.get("source", ""))
                         for c in cells if isinstance(c, dict) and c.get("cell_type") == "code").encode()
    except (ValueError, AttributeError, TypeError):
        return data


def _calls_a_family(data: bytes) -> bool:
    # substring tests first: the regex over every file of a big tree is the slow part
    return any(stem in data for stem in _FAMILY_STEMS) and _FAMILY_CALL.search(data) is not None


def _package_files(folder: pathlib.Path) -> tuple[pathlib.Path, ...]:
    """The first modules of a package folder, listed once per version of the folder (a long-lived
    process, the language server, sees files added later: the folder's mtime changes)."""
    try:
        mtime = folder.stat().st_mtime_ns
    except OSError:
        return ()
    return _listed_modules(folder, mtime)


@functools.lru_cache(maxsize=1024)
def _listed_modules(folder: pathlib.Path, mtime_ns: int) -> tuple[pathlib.Path, ...]:
    return tuple(sorted(folder.glob("*.py"))[:20])


@functools.lru_cache(maxsize=4096)
def _module_mentions(path: pathlib.Path, depth: int = 1) -> tuple[bool, bool] | None:
    """(builds a base, changes `trainable`) for a project module, or for the project modules it
    imports (`depth` > 1); None if it is not a readable file."""
    try:
        if not path.is_file():
            return None
        content = path.read_bytes()
    except OSError:
        return None
    base = any(s in content for s in _BASE_SOURCES) or _calls_a_family(content)
    trainable = _TRAINABLE.found_in(content)
    if depth > 1 and not (base and trainable):
        # `from utils import Trainer` where utils/trainer.py imports the model from models/
        deeper = _project_modules_mention(content, path, depth - 1)
        base, trainable = base or deeper["base"], trainable or deeper["trainable"]
    return base, trainable


def analyze_script(path: pathlib.Path, display_path: str, data: bytes, ctx: RuleContext) -> ScriptResult:
    enabled = frozenset(code for code in RULES if code in ctx.enabled)
    if len(data) > ctx.limits.max_script_bytes:
        raise BnlintInputError(f"script larger than the {ctx.limits.max_script_bytes}-byte limit")
    notebook = None
    if _is_notebook(path):
        notebook = load_notebook(data)
        # document order: what "Run all" does (execution counts say what ran last, not what runs)
        units = [(cell.number, cell.text, cell) for cell in notebook.cells] if notebook.python else []
    else:
        text = decode_script(data).text
        units = [(None, text, _as_ipython(text))]
    if not enabled:
        return ScriptResult([], {})
    if not _worth_parsing(data, enabled, path):
        broken = _syntax_errors(units, display_path, data)
        cells = {f.cell for f in broken}
        return ScriptResult(broken, {(cell, line): codes for cell, original, _ in units if cell in cells
                                     for line, codes in parse_suppressions(original).items()})

    suppressions: dict[tuple[int | None, int], frozenset[str] | None] = {}
    facts = Facts()
    if notebook is not None and notebook.python2:
        note_python2(facts.imports)          # a Python 2 kernel dates the notebook as Python 2 source does
    chunks = []
    relevant_names: set[str] = set()
    broken_cells: list[Finding] = []
    for cell, original, code_cell in units:
        for line, codes in parse_suppressions(original).items():
            suppressions[(cell, line)] = codes
        note_era_signals(facts.imports, original)
        python = original if code_cell is None else code_cell.python.text
        removed = () if code_cell is None else code_cell.python.removed
        try:
            parsed = parse_python(python, cell, relevant_names=relevant_names, removed=removed)
        except RecursionError:
            if cell is None:
                raise BnlintInputError("expression nested too deeply to analyse") from None
            broken_cells.append(_broken_cell(BnlintInputError("expression nested too deeply to parse", cell=cell),
                                             display_path))
            continue
        except BnlintInputError as exc:
            if cell is None:
                raise
            # One cell IPython cannot run either: report it, check the others as if it had not run.
            broken_cells.append(_broken_cell(exc, display_path))
            continue
        facts.sources.append(parsed)
        if notebook is not None and notebook.python2:
            for chunk in parsed.chunks:
                chunk.python2 = True        # a Python 2 kernel's cell: fixes are not offered there either
        if parsed.python2:
            note_python2(facts.imports)
        chunks.extend(parsed.chunks)
        if preprocessing_visible(python):
            facts.preprocessing_visible = True

    extra_folders = sys_path_folders("\n".join(original if code_cell is None else code_cell.python.text
                                                for _, original, code_cell in units), path.parent)
    collector = Collector(facts, path, extra_folders=extra_folders)
    try:
        collector.run(chunks)
    except RecursionError:
        raise BnlintInputError("expression nested too deeply to analyse") from None
    facts.module_names = dict(collector.module_env.vars)
    target = _pinned_target(ctx, facts) if ctx.pinned else ctx.target
    facts.target_inferred = target is None
    facts.max_stale_bn_weight = ctx.max_stale_bn_weight
    targets = (target,) if target is not None else infer_targets(facts.imports)

    findings: dict[tuple, Finding] = {}
    seen: set[tuple] = set()
    for code in sorted(enabled):
        for report, target in _reports_over_targets(RULES[code], facts, targets):
            site = report.site.reportable
            if site is None:
                continue
            if site is not report.site:
                # Found in another module of the project that this file's code ran: reported on the
                # line of this file that ran it. Fix edits and notes would point into the other file.
                report = dataclasses.replace(report, site=site, fix=None, related=())
            finding = _finding(report, display_path, target)
            # the same fact seen twice (a helper called twice) is one finding; two bases wired into
            # one model are two
            # A variable that may hold one of several bases (`if/elif` on the architecture) is one
            # finding at a place, named after its first possibility.
            # Two names for bases of one architecture at one place (`self.backbone = backbone or
            # get_backbone()`) are one finding too.
            subject, _, rest = finding.message.partition(" (")
            place = (finding.code, finding.cell, finding.line, finding.column)
            keys = ((*place, "name", subject), (*place, "architecture", rest.split(")", 1)[0]))
            if not any(key in seen for key in keys):
                findings[keys[0]] = finding
            seen.update(keys)
    if units and units[0][0] is None and units[0][2] is not None:
        # read as IPython runs it: fixes edit Python source, which this file is not
        findings = {key: dataclasses.replace(f, fix=None, help=f"{f.help} {_IPYTHON_NO_FIX}" if f.fix else f.help)
                    for key, f in findings.items()}
    ordered = sorted([*findings.values(), *broken_cells], key=lambda f: f.sort_key)
    return ScriptResult(ordered, suppressions, _model_builds(facts))


def _pinned_target(ctx: RuleContext, facts: Facts) -> KerasTarget | None:
    """The pinned target for the Keras the code imports (a project pinning keras 2.3.1 and
    tensorflow 2.0 runs its `tf.keras` code on TF 2.0); None when the pins do not say (a standalone
    keras pin and `tf.keras` code: the code's era decides)."""
    imports = facts.imports
    roots = imports.keras_roots or imports.import_roots or imports.project_roots
    root = next((r for r in roots if r in ("keras", "tensorflow.keras", "tensorflow", "tf_keras")), None)
    if root is None:
        return ctx.target
    return ctx.pinned.get("tensorflow.keras" if root == "tensorflow" else root)


def _reports_over_targets(rule, facts: Facts, targets: tuple[KerasTarget, ...]):
    """Run a rule under each plausible target. A verdict they all share is reported as it is; one
    that holds on only some of them is reported with that condition, one severity lower: the code
    does not say which Keras it runs on."""
    runs = [(target, list(rule(facts, target))) for target in targets]
    if len(runs) == 1:
        yield from ((report, targets[0]) for report in runs[0][1])
        return
    seen: dict[tuple, list] = {}
    for target, reports in runs:
        for report in reports:
            seen.setdefault((report.code, id(report.site.node)), []).append((report, target))
    for found in seen.values():
        report, target = found[0]
        if len(found) < len(targets):
            labels = " or ".join(t.label for _, t in found)
            report = dataclasses.replace(report, message=f"on {labels}: {report.message}",
                                         severity=severity_for(report).lower())
        yield report, target


# A file that mentions none of these cannot be a Keras script: it is skipped without a parse.
_KERAS_WORDS = (b"keras", b"tensorflow")
_IMPORTS_KERAS_API = re.compile(rb"^[ \t]*(?:from|import)[ \t]+(?:keras|tensorflow|tf_keras)\b", re.M)
_IMPORTS_KERAS_SOURCE = re.compile(rb"^[ \t]*(?:from|import)[ \t]+keras\.src\b", re.M)


def _plain_script(units) -> bool:
    """A plain script (not notebook cells)."""
    return all(code_cell is None for _, _, code_cell in units)
_BROKEN_CELL_HELP = "IPython cannot run this cell either; bnlint checks the other cells as if it had not run."


def _broken_cell(exc: BnlintInputError, display_path: str) -> Finding:
    return Finding(exc.code, exc.reason, display_path, exc.line, exc.column, cell=exc.cell, help=_BROKEN_CELL_HELP)


def _syntax_errors(units, display_path: str, data: bytes) -> list[Finding]:
    """A Keras script no rule needs to analyse still has to parse: its syntax errors are BN900
    (a script, by raising; a notebook, one finding per cell). Compiled only, no AST kept.

    A Keras script imports the public API (`keras`, `tensorflow`, `tf_keras`); a module of Keras's
    own source imports its private `keras.src` and is no training script (compiling every one of
    them doubled the time of checking a tree like `keras/src`)."""
    if not any(word in data for word in _KERAS_WORDS):
        return []
    if _plain_script(units) and (_IMPORTS_KERAS_SOURCE.search(data) or not _IMPORTS_KERAS_API.search(data)):
        return []
    from bnlint.script.chunks import check_syntax

    found = []
    for cell, original, code_cell in units:
        try:
            if code_cell is None:
                check_syntax(original)
            else:
                check_syntax(code_cell.python.text, cell, code_cell.python.removed)
        except BnlintInputError as exc:
            if cell is None:
                raise
            found.append(_broken_cell(exc, display_path))
        except RecursionError:
            if cell is None:
                raise BnlintInputError("expression nested too deeply to parse") from None
    return found


# A line that starts (after indentation) with IPython's `!shell` or `%magic` syntax.
_IPYTHON_LINE = re.compile(r"^[ \t]*(?:![A-Za-z]|%{1,2}[A-Za-z])", re.M)
_IPYTHON_NO_FIX = "(No automatic fix: the file uses IPython syntax, `!` / `%` lines.)"


@dataclasses.dataclass(frozen=True)
class _ScriptAsCell:
    """A script pasted from a notebook (`!pip install ...` lines): read as IPython would run it."""

    python: object              # ipython_input.CellPython


def _as_ipython(text: str) -> _ScriptAsCell | None:
    """Only when the file is not Python but IPython's cleanup makes it so (a notebook export)."""
    if not _IPYTHON_LINE.search(text):
        return None
    try:
        compile(text, "<script>", "exec", dont_inherit=True)
        return None
    except (SyntaxError, ValueError):
        pass
    from bnlint.script.ipython_input import cell_python

    python = cell_python(text)
    try:
        compile(python.text, "<script>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return None                 # broken either way: the Python syntax error is the BN900
    return _ScriptAsCell(python)


_PYTHON2_NO_FIX = "(No automatic fix: bnlint reads this Python 2 source but does not rewrite it.)"


def _finding(report: Report, display_path: str, target: KerasTarget) -> Finding:
    site = report.site
    line, column, end_line, end_column = site.chunk.position(site.node)
    statement_line = site.chunk.position(site.statement)[0]
    fix = None
    help_text = report.help
    if report.fix is not None and site.chunk.python2:
        # the codemods edit Python 3 source: Python 2 is read through a rewrite, never written
        help_text = f"{help_text} {_PYTHON2_NO_FIX}"
    # a cell whose columns IPython's cleanup moved (an indented cell): no text edit is placed there
    elif report.fix is not None and not getattr(report.site.chunk, "shifted", False):
        plan = report.fix
        fix = Fix(plan.message, (), plan.applicability, codemod=plan.codemod, params=plan.params)
    related = []
    for other, text in report.related:
        if other.external:
            continue
        r_line, r_column, r_end_line, r_end_column = other.chunk.position(other.node)
        related.append(Related(display_path, r_line, r_column, text, r_end_line, r_end_column, cell=other.chunk.cell))
    return Finding(report.code, report.message, display_path, line, column, end_line, end_column,
                   severity=report.severity, cell=site.chunk.cell, help=_with_target(help_text, target), fix=fix,
                   related=tuple(related), statement_line=statement_line)


def _with_target(help_text: str, target: KerasTarget) -> str:
    """Say which Keras the advice is for, and why: the fix differs per version."""
    if target.source.startswith("--target-keras"):
        return help_text
    if target.observed:
        return f"{help_text} [for {target.label}: {target.source}]"
    return f"{help_text} [assumed {target.label}: {target.source}; set target-keras to change]"


def _model_builds(facts: Facts) -> list[ModelBuild]:
    builds = []
    for model in facts.models:
        if model.site.external:
            continue
        for component in model.components:
            if component.base.loaded:
                continue
            builds.append(_build(component.base.architecture, component.kind, model.site))
    for event in facts.events:
        if isinstance(event, TrainableChange) and event.value is True and not event.site.external:
            for base in facts.owner_bases(event.owner):
                if not base.loaded:
                    builds.append(_build(base.architecture, "unfrozen", event.site))
    return list(dict.fromkeys(builds))


def _build(architecture: str, kind: str, site) -> ModelBuild:
    line, column, end_line, end_column = site.chunk.position(site.node)
    return ModelBuild(architecture, kind, line, column, end_line, end_column, site.chunk.cell)


# --- applying fixes ----------------------------------------------------------------------------

def fix_script(data: bytes, path: pathlib.Path, findings: list[Finding]):
    """(fixed bytes, the fixes applied): see bnlint.script.fixes (libcst is imported only here)."""
    from bnlint.script.fixes import fix_script as run

    return run(data, path, findings)


def apply_fixes(data: bytes, path: pathlib.Path, findings: list[Finding]) -> bytes:
    """Apply the fixes of `findings` (skipping one that overlaps a fix already applied, or whose
    result does not parse)."""
    return fix_script(data, path, findings)[0]
