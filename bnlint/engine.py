"""Check inputs: dispatch each file to its analyzer, turn failures into BN900, filter by
selection / per-file-ignores / inline suppressions, fix, and link model findings to the script
lines that built the model. Files run in parallel with a deterministic output order."""
from __future__ import annotations

import functools
import os
import sys
import traceback
from dataclasses import dataclass, field, replace

from bnlint import catalogue
from bnlint.config import Settings
from bnlint.context import RuleContext
from bnlint.discovery import Input
from bnlint.errors import BnlintInputError
from bnlint.finding import Applicability, Finding, Related
from bnlint.fixes import FileChanged, unified_diff, write_atomically

REPORT_URL = "https://github.com/bnlint/bnlint/issues"
# Model findings that can be traced to the script line that flattened/unfroze the base.
LINKABLE = {"BN101": ("flattened",), "BN102": ("flattened", "nested"), "BN103": ("unfrozen", "flattened", "nested")}
MAX_FIX_PASSES = 5


@dataclass(frozen=True)
class Options:
    fix: bool = False
    diff: bool = False
    unsafe_fixes: bool = False
    # Fill in each offered fix's edits (JSON and SARIF reports carry them); runs the codemods.
    fix_edits: bool = False


@dataclass
class FileOutcome:
    input: Input
    findings: list[Finding] = field(default_factory=list)
    fixed: int = 0                 # findings removed by applied (or, with --diff, would-be) fixes
    diff: str = ""
    fix_titles: list[str] = field(default_factory=list)   # "path:line:col: CODE title", each fix applied
    model_builds: list = field(default_factory=list)
    internal_error: bool = False


_REPORT_HELP = f"Please report it at {REPORT_URL} with the file; BNLINT_DEBUG=1 prints a traceback."


def _bn900(inp: Input, reason: str, line: int = 1, column: int = 1, help: str | None = None) -> Finding:
    return Finding("BN900", reason, inp.display, line, column, help=help)


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _input_error(inp: Input, e: BnlintInputError) -> Finding:
    """The finding for unreadable input: a long reason (a library's error text) keeps its first part
    as the message and moves the details into the help, so the line stays readable."""
    message, help = e.reason, None
    if len(message) > 150:
        cut = message.rfind(" (", 0, 150)
        cut = cut if cut > 20 else 147
        message, help = message[:cut] + ("" if cut != 147 else "..."), _short("Details: " + e.reason[cut:].strip(" ()"), 290)
    if e.code == "BN901" and help is None:
        help = "bnlint reads the Keras config: check the model saved with `model.save()` (.keras or .h5) instead."
    return Finding(e.code, message, inp.display, e.line, e.column, cell=e.cell, help=help)


def _internal_error(inp: Input, exc: BaseException) -> Finding:
    if os.environ.get("BNLINT_DEBUG"):
        traceback.print_exc(file=sys.stderr)
    return _bn900(inp, f"internal error in bnlint on this file ({type(exc).__name__}: {_short(exc)})", help=_REPORT_HELP)


@functools.lru_cache(maxsize=64)
def _enabled_codes(selection) -> frozenset[str]:
    return selection.enabled(catalogue.all_codes())


def context_for(inp: Input, settings: Settings) -> RuleContext:
    enabled = _enabled_codes(settings.selection)
    ignored = settings.ignored_for(inp.path)
    enabled = frozenset(c for c in enabled if not any(c.startswith(p) for p in ignored))
    target, pinned = settings.target, {}
    if target is None and inp.is_script:
        from bnlint.pins import pinned_targets_for_script
        pinned = pinned_targets_for_script(inp.path)
        target = pinned.get("keras") or pinned.get("tensorflow.keras") or pinned.get("tf_keras")
    return RuleContext(enabled=enabled, target=target, pinned=pinned, max_moving_variance=settings.max_moving_variance,
                       max_stale_bn_weight=settings.max_stale_bn_weight, limits=settings.limits)


def _keep(f: Finding, ctx: RuleContext, suppressions) -> bool:
    from bnlint.suppression import is_suppressed

    return f.code in ctx.enabled and not is_suppressed(suppressions or {}, f.code, (f.cell, f.line), (f.cell, f.statement_line))


def _with_severity(f: Finding) -> Finding:
    return f if f.severity is not None else replace(f, severity=catalogue.severity_for(f))


def check_input(inp: Input, settings: Settings, options: Options, data: bytes | None = None) -> FileOutcome:
    """Never raises: every failure becomes a BN900 finding for this file only.

    `data` is a script's or notebook's current text when it is not (yet) what the file on disk
    holds: an editor buffer (LSP server) or the code a kernel has run (IPython extension)."""
    outcome = FileOutcome(inp)
    ctx = None
    try:
        ctx = context_for(inp, settings)
        if inp.kind in ("missing", "unsupported", "unreadable"):
            findings = [_bn900(inp, f"cannot check {inp.display}: {inp.reason}")]
        elif inp.kind == "model":
            findings = _check_model(inp, ctx)
        else:
            findings = _check_script(inp, ctx, options, outcome, data)
    except Exception as exc:  # an internal error must never lose the run
        findings = [_internal_error(inp, exc)]
        outcome.internal_error = True
    outcome.findings = [_with_severity(f) for f in findings if ctx is None or f.code in ctx.enabled]
    return outcome


def _check_model(inp: Input, ctx: RuleContext) -> list[Finding]:
    from bnlint.model import analyze_model

    try:
        return list(analyze_model(inp.path, inp.display, ctx))
    except BnlintInputError as e:
        return [_input_error(inp, e)]
    except RecursionError:
        return [_bn900(inp, "model config is nested too deeply to analyse")]
    except MemoryError:
        return [_bn900(inp, "model file is too large to analyse in memory")]


def _read(inp: Input) -> bytes:
    try:
        with open(inp.path, "rb") as f:
            return f.read()
    except OSError as e:
        raise BnlintInputError(f"cannot read {inp.display}: {e.strerror or e}") from None


def _analyze_script(inp: Input, data: bytes, ctx: RuleContext):
    """(kept findings, result) for one version of a script's bytes."""
    from bnlint.script import analyze_script

    if len(data) > ctx.limits.max_script_bytes:
        raise BnlintInputError(f"script is larger than the {ctx.limits.max_script_bytes} byte limit")
    try:
        result = analyze_script(inp.path, inp.display, data, ctx)
    except RecursionError:
        raise BnlintInputError("expression nesting is too deep to parse") from None
    kept = [f for f in result.findings if _keep(f, ctx, result.suppressions)]
    return kept, result


def _applicable(f: Finding, options: Options) -> bool:
    return f.fix is not None and (f.fix.applicability is Applicability.SAFE or options.unsafe_fixes)


def _check_script(inp: Input, ctx: RuleContext, options: Options, outcome: FileOutcome,
                  data: bytes | None = None) -> list[Finding]:
    if data is not None and (options.fix or options.diff):
        raise ValueError("fixes are written to files: check text that is not on disk without fix/diff")
    try:
        original = _read(inp) if data is None else data
        findings, result = _analyze_script(inp, original, ctx)
    except BnlintInputError as e:
        return [_input_error(inp, e)]
    outcome.model_builds = list(result.model_builds)
    if not (options.fix or options.diff):
        return _with_edits(original, inp, findings, options)
    unfixed = findings  # what the file on disk still has when nothing gets written

    from bnlint import script

    current, before = original, len(findings)
    titles = []
    for _ in range(MAX_FIX_PASSES):
        fixable = [f for f in findings if _applicable(f, options)]
        if not fixable:
            break
        candidate, applied = script.fix_script(current, inp.path, fixable)
        if candidate == current:
            break
        try:
            findings, _ = _analyze_script(inp, candidate, ctx)
        except BnlintInputError as e:
            return findings + [_bn900(inp, f"internal error: a fix gives code that does not parse ({_short(e.reason, 50)}); "
                                            "file left unchanged", help=_REPORT_HELP)]
        current = candidate
        titles.extend(_title(inp, code_fix) for code_fix in applied)
    if current == original:
        return _with_edits(original, inp, findings, options)
    outcome.fixed = max(0, before - len(findings))
    outcome.fix_titles = titles
    if options.diff:
        outcome.diff = "".join(f"{title}\n" for title in titles) + unified_diff(inp.display, original, current)
        return _with_edits(original, inp, unfixed, options)  # --diff writes nothing
    try:
        write_atomically(inp.path, original, current)
    except (FileChanged, OSError) as e:
        outcome.fixed = 0
        return _with_edits(original, inp, unfixed, options) + [_bn900(inp, f"fixes not written: {e}")]
    return _with_edits(current, inp, findings, options)


def _title(inp: Input, code_fix) -> str:
    """How --diff names a fix it applied (positions in the text that fix was made on)."""
    f = code_fix.finding
    where = f"cell {f.cell}:" if f.cell else ""
    return f"{inp.display}:{where}{f.line}:{f.column}: {f.code} [{f.fix.applicability.value}] {code_fix.title}"


def _with_edits(data: bytes, inp: Input, findings: list[Finding], options: Options) -> list[Finding]:
    """JSON and SARIF reports carry each fix's edits: compute them (libcst) only then."""
    if not options.fix_edits or not any(f.fix is not None and f.fix.codemod for f in findings):
        return findings
    from bnlint.script.fixes import with_edits

    return with_edits(data, inp.path, findings)


def _worker(args):
    return check_input(*args)


def run(items: list[tuple[Input, Settings]], options: Options, jobs: int | None = None) -> list[FileOutcome]:
    """Check every input; in parallel when there are enough files to pay for the workers."""
    jobs = jobs or int(os.environ.get("BNLINT_JOBS", "0")) or (os.cpu_count() or 1)
    work = [(inp, settings, options) for inp, settings in items]
    if jobs > 1 and len(work) >= 8:
        import multiprocessing  # only a run with many files pays for the worker machinery
        from concurrent.futures import ProcessPoolExecutor

        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        if method == "fork" and any(inp.is_script for inp, _ in items):
            import bnlint.script  # noqa: F401  (imported once here, not once in every forked worker)
        with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context(method)) as pool:
            outcomes = list(pool.map(_worker, work, chunksize=max(1, len(work) // (jobs * 8))))
    else:
        outcomes = [check_input(*w) for w in work]
    link_models_to_scripts(outcomes)
    return outcomes


def link_models_to_scripts(outcomes: list[FileOutcome]) -> None:
    """Point a model finding at the script line that built its base, when exactly one script
    line in this run built a base of the same architecture (never link when unsure)."""
    builds = [(o.input.display, b) for o in outcomes for b in o.model_builds]
    if not builds:
        return
    for o in outcomes:
        if o.input.kind != "model":
            continue
        for i, f in enumerate(o.findings):
            kinds = LINKABLE.get(f.code)
            archs = {k.split(":", 1)[1] for k in f.link_keys if k.startswith("arch:")}
            if not kinds or not archs:
                continue
            matches = {(path, b.line, b.column, b.end_line, b.end_column, b.cell, b.kind, b.architecture)
                       for path, b in builds if b.architecture in archs and b.kind in kinds}
            if len({(m[0], m[1], m[5]) for m in matches}) != 1:
                continue
            path, line, column, end_line, end_column, cell, kind, arch = next(iter(matches))
            related = Related(path, line, column, f"the {arch} base is {kind} here",
                              end_line=end_line, end_column=end_column, cell=cell)
            o.findings[i] = replace(f, related=f.related + (related,))


def check_script_text(inp: Input, data: bytes, settings: Settings) -> list[Finding]:
    """Findings for a script or notebook given as bytes (the Python API's check_source); never raises."""
    try:
        ctx = context_for(inp, settings)
        findings, _ = _analyze_script(inp, data, ctx)
    except BnlintInputError as e:
        findings = [Finding(e.code, e.reason, inp.display)]
    except Exception as exc:  # an internal error is a finding, as for files
        findings = [_internal_error(inp, exc)]
    return sorted((_with_severity(f) for f in findings), key=lambda f: f.sort_key)
