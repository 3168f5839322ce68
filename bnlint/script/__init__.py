"""The script analyzer: training scripts and Jupyter notebooks, rules BN001-BN006.

    analyze_script(path, display_path, data, ctx) -> ScriptResult
    apply_fixes(data, path, findings) -> bytes

Pipeline: byte prefilter → decode (source.py: encoding, BOM, notebook cells and magics) → parse with
the stdlib `ast`, keep the statements that matter (chunks.py) → one collector pass builds facts (collector.py over the
abstract values of values.py, facts.py) → the Keras target (ctx.target, else target_inference.py)
→ each enabled rule reads the facts (rules/) → reports become `Finding`s with 1-based positions,
related locations and text edits (here). `applications.py` knows the keras.applications families.
"""
from __future__ import annotations

import dataclasses
import pathlib
import re
from dataclasses import dataclass, field

from bnlint.catalogue import severity_for
from bnlint.context import RuleContext
from bnlint.errors import BnlintInputError
from bnlint.finding import Edit, Finding, Fix, Related
from bnlint.script.applications import ZOO_ROOTS
from bnlint.script.chunks import parse_python
from bnlint.script.collector import Collector, preprocessing_visible
from bnlint.script.facts import Facts, TrainableChange
from bnlint.script.project import module_candidates, sys_path_folders
from bnlint.script.rules import RULES
from bnlint.script.rules.base import NodeEdit, Report
from bnlint.script.source import (
    decode_script,
    dump_notebook,
    encode_script,
    load_notebook,
    split_lines,
)
from bnlint.script.target_inference import infer_targets, note_era_signals
from bnlint.suppression import parse_suppressions
from bnlint.target import KerasTarget

__all__ = ["ModelBuild", "ScriptResult", "analyze_script", "apply_fixes", "SCRIPT_CODES"]

SCRIPT_CODES = frozenset(RULES)

# A pretrained base comes from `keras.applications`, a model zoo or `load_model`, in the file itself
# or in a sibling module it imports. Rules about bases need one; BN004 and BN005 need only their own words.
_ZOO_SOURCES = tuple(root.encode() for root in ZOO_ROOTS)
_BASE_SOURCES = (b"applications", b"load_model", *_ZOO_SOURCES)
_TRAINABLE = re.compile(rb"\.trainable\s*=[^=]|[\"']trainable[\"']")
_NEEDS = {
    "BN004": (_TRAINABLE, re.compile(rb"\.compile\s*\("),
              re.compile(rb"\.(?:fit|fit_generator|train_on_batch)\s*\(")),
    "BN005": (re.compile(rb"set_learning_phase"),),
}
_BASE_RULES = frozenset({"BN001", "BN002", "BN003", "BN006", "BN007"})
_IMPORT = re.compile(rb"^[ \t]*(?:from[ \t]+(\.*[\w.]*)[ \t]+import|import[ \t]+([\w.]+))", re.M)
# A keras.applications constructor called by its bare name (fragments that never import it).
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
        if code in enabled and all(needle.search(data) for needle in needs):
            return True
    if not enabled & _BASE_RULES:
        return False
    constructs = b"applications" in data or _FAMILY_CALL.search(data) is not None
    loads = b"load_model" in data
    changes_trainable = _TRAINABLE.search(data) is not None
    if not (constructs and changes_trainable):
        project = _project_modules_mention(data, path)
        constructs = constructs or project["base"]
        changes_trainable = changes_trainable or project["trainable"]
    if constructs and (enabled & {"BN003", "BN006", "BN007"} or changes_trainable):
        return True
    if any(root in data for root in _ZOO_SOURCES) and (
            enabled & {"BN003", "BN006"} or changes_trainable or b"encoder_freeze" in data):
        return True
    # A loaded model only counts as a base once the script freezes or unfreezes it.
    return loads and changes_trainable


def _project_modules_mention(data: bytes, path: pathlib.Path) -> dict[str, bool]:
    """Do the project modules the script imports (one level) build a base / change `trainable`?"""
    found = {"base": False, "trainable": False}
    text = data.decode("utf-8", "replace")
    extra = sys_path_folders(text, path.parent)
    for match in _IMPORT.finditer(data):
        raw = (match.group(1) or match.group(2)).decode("ascii", "replace")
        module = raw.lstrip(".")
        for candidate in module_candidates(path, module, len(raw) - len(module), extra):
            try:
                if not candidate.is_file():
                    continue
                content = candidate.read_bytes()
            except OSError:
                continue
            found["base"] |= any(s in content for s in _BASE_SOURCES) or _FAMILY_CALL.search(content) is not None
            found["trainable"] |= _TRAINABLE.search(content) is not None
            break
    return found


def analyze_script(path: pathlib.Path, display_path: str, data: bytes, ctx: RuleContext) -> ScriptResult:
    enabled = frozenset(code for code in RULES if code in ctx.enabled)
    if len(data) > ctx.limits.max_script_bytes:
        raise BnlintInputError(f"script larger than the {ctx.limits.max_script_bytes}-byte limit")
    if _is_notebook(path):
        notebook = load_notebook(data)
        units = [(cell.number, cell.text, cell.python) for cell in notebook.cells] if notebook.python else []
    else:
        text = decode_script(data).text
        units = [(None, text, text)]
    if not enabled or not _worth_parsing(data, enabled, path):
        return ScriptResult([], {})

    suppressions: dict[tuple[int | None, int], frozenset[str] | None] = {}
    facts = Facts()
    chunks = []
    relevant_names: set[str] = set()
    for cell, original, python in units:
        for line, codes in parse_suppressions(original).items():
            suppressions[(cell, line)] = codes
        note_era_signals(facts.imports, original)
        try:
            parsed = parse_python(python, cell, relevant_names=relevant_names)
        except RecursionError:
            raise BnlintInputError("expression nested too deeply to analyse") from None
        facts.sources.append(parsed)
        chunks.extend(parsed.chunks)
        if preprocessing_visible(python):
            facts.preprocessing_visible = True

    extra_folders = sys_path_folders("\n".join(python for _, _, python in units), path.parent)
    collector = Collector(facts, path, extra_folders=extra_folders)
    try:
        collector.run(chunks)
    except RecursionError:
        raise BnlintInputError("expression nested too deeply to analyse") from None
    facts.module_names = dict(collector.module_env.vars)
    facts.target_inferred = ctx.target is None
    facts.max_stale_bn_weight = ctx.max_stale_bn_weight
    targets = (ctx.target,) if ctx.target is not None else infer_targets(facts.imports)

    findings: dict[tuple, Finding] = {}
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
            findings.setdefault((finding.code, finding.cell, finding.line, finding.column, finding.message), finding)
    ordered = sorted(findings.values(), key=lambda f: f.sort_key)
    return ScriptResult(ordered, suppressions, _model_builds(facts))


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


def _finding(report: Report, display_path: str, target: KerasTarget) -> Finding:
    site = report.site
    line, column, end_line, end_column = site.chunk.position(site.node)
    statement_line = site.chunk.position(site.statement)[0]
    fix = None
    if report.fix is not None:
        edits = tuple(sorted((_edit(e) for e in report.fix.edits), key=lambda e: (e.line, e.column)))
        fix = Fix(report.fix.message, edits, report.fix.applicability)
    related = []
    for other, text in report.related:
        if other.external:
            continue
        r_line, r_column, r_end_line, r_end_column = other.chunk.position(other.node)
        where = f"cell {other.chunk.cell}: " if other.chunk.cell is not None else ""
        related.append(Related(display_path, r_line, r_column, where + text, r_end_line, r_end_column,
                               cell=other.chunk.cell))
    return Finding(report.code, report.message, display_path, line, column, end_line, end_column,
                   severity=report.severity, cell=site.chunk.cell, help=_with_target(report.help, target), fix=fix,
                   related=tuple(related), statement_line=statement_line)


def _with_target(help_text: str, target: KerasTarget) -> str:
    """Say which Keras the advice is for, and why: the fix differs per version."""
    if target.source.startswith("--target-keras"):
        return help_text
    if target.observed:
        return f"{help_text} [for {target.label}: {target.source}]"
    return f"{help_text} [assumed {target.label}: {target.source}; set target-keras to change]"


def _edit(edit: NodeEdit) -> Edit:
    line, column, end_line, end_column = edit.chunk.position(edit.node)
    if edit.where == "before":
        return Edit(edit.content, line, column, line, column)
    if edit.where == "next_line":
        return Edit(edit.content, end_line + 1, 1, end_line + 1, 1)
    return Edit(edit.content, line, column, end_line, end_column)


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

def apply_fixes(data: bytes, path: pathlib.Path, findings: list[Finding]) -> bytes:
    """Apply the fix edits of `findings` (skipping a finding whose edits overlap an applied one)."""
    with_fix = sorted((f for f in findings if f.fix is not None and f.fix.edits), key=lambda f: f.sort_key)
    if not with_fix:
        return data
    by_cell: dict[int | None, list[Edit]] = {}
    for finding in with_fix:
        edits = by_cell.setdefault(finding.cell, [])
        if any(_overlaps(new, old) for new in finding.fix.edits for old in edits):
            continue
        edits.extend(finding.fix.edits)
    if _is_notebook(path):
        notebook = load_notebook(data)
        texts = {cell.number: cell.text for cell in notebook.cells}
        new_sources = {cell: _apply_edits(texts[cell], edits) for cell, edits in by_cell.items()
                       if cell in texts}
        return dump_notebook(notebook, new_sources)
    source = decode_script(data)
    return encode_script(source, _apply_edits(source.text, by_cell.get(None, [])))


def _span(edit: Edit) -> tuple[tuple[int, int], tuple[int, int]]:
    return (edit.line, edit.column), (edit.end_line, edit.end_column)


def _overlaps(a: Edit, b: Edit) -> bool:
    (a_start, a_end), (b_start, b_end) = _span(a), _span(b)
    if a_start == a_end or b_start == b_end:
        # An insertion conflicts only with an edit strictly around it, or one at the same point.
        point, other = (a_start, (b_start, b_end)) if a_start == a_end else (b_start, (a_start, a_end))
        return other[0] < point < other[1] or point == other[0] == other[1]
    return a_start < b_end and b_start < a_end


def _apply_edits(text: str, edits: list[Edit]) -> str:
    lines = split_lines(text)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(line: int, column: int) -> int:
        if line > len(lines):
            return len(text)
        return starts[line - 1] + column - 1

    for edit in sorted(edits, key=lambda e: (e.line, e.column, e.end_line, e.end_column), reverse=True):
        start, end = offset(edit.line, edit.column), offset(edit.end_line, edit.end_column)
        content = edit.content
        if edit.line > len(lines) and text and not text.endswith(("\n", "\r")):
            content = "\n" + content
        text = text[:start] + content + text[end:]
    return text
