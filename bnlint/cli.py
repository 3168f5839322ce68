"""Command line: `bnlint [options] [PATH ...]`, `bnlint rule CODE`, `bnlint rules`,
`bnlint server` (the language server for editors, bnlint.lsp), `bnlint probe` (bnlint.runtime).

Kept light on purpose: `bnlint --version` imports nothing heavy; h5py and the analyzers load
only when a file that needs them is checked.
"""
from __future__ import annotations

import argparse
import gc
import os
import sys
from dataclasses import replace
from pathlib import Path

from bnlint import __version__
from bnlint.errors import UsageError

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2}


def _codes_arg(value: str) -> list[str]:
    return [c for c in value.replace(" ", ",").split(",") if c]


def _check_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bnlint",
        description="Catch the BatchNormalization pitfalls of Keras transfer learning in scripts, notebooks and saved models.",
        epilog="Subcommands: `bnlint rule CODE` explains a rule, `bnlint rules` lists them, "
               "`bnlint server` runs the language server for editors (stdio; needs bnlint[lsp]), "
               "`bnlint probe MODEL --data DATA` runs a model in training and inference mode on data "
               "(needs bnlint[tf]).",
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (default: the current folder); saved_model.pb means its folder")
    p.add_argument("--select", type=_codes_arg, action="extend", metavar="CODES", help="codes or prefixes to enable (replaces the configured selection)")
    p.add_argument("--extend-select", type=_codes_arg, action="extend", metavar="CODES", help="codes or prefixes to enable on top of the selection")
    p.add_argument("--ignore", type=_codes_arg, action="extend", metavar="CODES", help="codes or prefixes to disable")
    p.add_argument("--output-format", choices=("text", "json", "sarif", "github"), help="default: text, or $BNLINT_OUTPUT_FORMAT")
    p.add_argument("--output-file", type=Path, metavar="FILE", help="write the report to FILE instead of stdout")
    p.add_argument("--fix", action="store_true", help="apply safe fixes")
    p.add_argument("--unsafe-fixes", action="store_true", help="with --fix or --diff: also apply unsafe fixes")
    p.add_argument("--diff", action="store_true", help="print the fixes as a unified diff instead of writing them")
    p.add_argument("--target-keras", metavar="VERSION", help="Keras the code runs on: standalone-2.0, standalone-2.1.3+, tf1, tf2, keras3<3.16, keras3>=3.16, or a version (2.2.4, 2.2.4-tf, tf-2.15, 3.15.1)")
    p.add_argument("--config", type=Path, metavar="FILE", help="use this pyproject.toml (or bnlint TOML) instead of discovering one")
    p.add_argument("--no-config", action="store_true", help="ignore every configuration file")
    p.add_argument("--exit-zero", action="store_true", help="exit 0 even when there are findings")
    p.add_argument("--fail-on", choices=("error", "warning", "info"), help="lowest severity that makes the exit code 1 (default: `fail-on` in [tool.bnlint], else warning: info findings are shown but pass)")
    p.add_argument("--statistics", action="store_true", help="show the number of findings per code instead of the findings")
    p.add_argument("--no-color", action="store_true", help="no colour even on a terminal (NO_COLOR also turns it off)")
    p.add_argument("--jobs", type=int, metavar="N", help="parallel workers (default: CPU count)")
    p.add_argument("--version", action="version", version=f"bnlint {__version__}")
    return p


def _rule_parser(name: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"bnlint {name}")
    if name == "rule":
        p.add_argument("code", help="a rule code such as BN102")
    p.add_argument("--output-format", choices=("text", "json", "markdown"), default="text")
    return p


def _emit(text: str, output_file: Path | None) -> None:
    if output_file is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        output_file.parent.mkdir(parents=True, exist_ok=True)
        output_file.write_text(text, encoding="utf-8")


def _rules_command(name: str, argv: list[str]) -> int:
    import json

    from bnlint import catalogue

    args = _rule_parser(name).parse_args(argv)
    rules = catalogue.load()
    if name == "rule":
        code = args.code.strip().upper()
        rule = rules.get(code)
        if rule is None:
            raise UsageError(f"unknown rule {args.code!r} (see `bnlint rules`)")
        if args.output_format == "json":
            _emit(json.dumps(_rule_dict(rule), indent=2) + "\n", None)
        else:  # text and markdown: the rule doc is Markdown either way
            _emit(rule.markdown(), None)
        return EXIT_OK
    if args.output_format == "json":
        _emit(json.dumps([_rule_dict(r) for r in rules.values()], indent=2) + "\n", None)
    elif args.output_format == "markdown":  # the README rule table
        _emit(catalogue.markdown_table() + "\n", None)
    else:
        width = max(len(r.name) for r in rules.values())
        lines = [f"{r.code}  {r.name:<{width}}  {r.analyzer:<6}  {r.severity.value:<7}  {r.summary}" for r in rules.values()]
        _emit("\n".join(lines) + "\n", None)
    return EXIT_OK


def _rule_dict(rule) -> dict:
    return {"code": rule.code, "name": rule.name, "analyzer": rule.analyzer, "severity": rule.severity.value,
            "summary": rule.summary, "what": rule.what, "why": rule.why, "fix": rule.fix, "bad": rule.bad,
            "good": rule.good, "references": list(rule.references), "since": rule.since, "url": rule.url}


def _cli_overrides(args, known):
    """A function that lays the command line over one file's settings."""
    from bnlint.config import validate_codes
    from bnlint.target import parse_target

    select = validate_codes(args.select, "--select", known) if args.select else None
    extend = validate_codes(args.extend_select, "--extend-select", known) if args.extend_select else ()
    ignore = validate_codes(args.ignore, "--ignore", known) if args.ignore else ()
    target = None
    if args.target_keras:
        try:
            target = parse_target(args.target_keras)
        except ValueError as e:
            raise UsageError(str(e)) from None

    def apply(settings):
        sel = settings.selection
        sel = replace(sel, select=select if select is not None else sel.select,
                      extend_select=sel.extend_select + extend, ignore=sel.ignore + ignore)
        return replace(settings, selection=sel, target=target or settings.target)

    return apply


def _check_command(argv: list[str]) -> int:
    from bnlint import catalogue, engine
    from bnlint.config import ConfigResolver, env_output_format
    from bnlint.discovery import discover
    from bnlint.finding import Applicability
    from bnlint.formatters import Report, formatter

    args = _check_parser().parse_args(argv)
    fmt = args.output_format or env_output_format() or "text"
    if fmt not in ("text", "json", "sarif", "github"):
        raise UsageError(f"BNLINT_OUTPUT_FORMAT={fmt!r} is not one of text, json, sarif, github")
    if args.config and args.no_config:
        raise UsageError("--config and --no-config exclude each other")
    if args.unsafe_fixes and not (args.fix or args.diff):
        raise UsageError("--unsafe-fixes needs --fix or --diff")
    if args.config and not args.config.is_file():
        raise UsageError(f"config file not found: {args.config}")

    known = catalogue.all_codes()
    resolver = ConfigResolver(known, explicit=args.config, use_files=not args.no_config)
    overrides = _cli_overrides(args, known)

    def settings_for(path: Path):
        return overrides(resolver.for_path(path))

    inputs = discover(args.paths, excluded=lambda p: settings_for(p).excluded(p))
    items = [(inp, settings_for(inp.path)) for inp in inputs]
    options = engine.Options(fix=args.fix and not args.diff, diff=args.diff, unsafe_fixes=args.unsafe_fixes,
                             fix_edits=fmt in ("json", "sarif") and not args.diff)
    # A check allocates many objects that live to its end (the files' ASTs, per-run caches) and few
    # reference cycles: with the default thresholds the young-generation collections cost ~5 % of
    # a big tree's time. What is alive now (imported modules) is frozen out of the collector, so
    # forked workers neither scan it nor copy its pages. Restored after: main() also runs in-process.
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
    try:
        outcomes = engine.run(items, options, jobs=args.jobs)
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()

    findings = sorted((f for o in outcomes for f in o.findings), key=lambda f: f.sort_key)
    fixable = sum(1 for f in findings if f.fix and f.fix.applicability is Applicability.SAFE)
    unsafe = sum(1 for f in findings if f.fix and f.fix.applicability is Applicability.UNSAFE)
    report = Report(
        findings=findings, files=len(inputs), fixed=sum(o.fixed for o in outcomes),
        fixable=fixable, unsafe_fixable=0 if args.unsafe_fixes else unsafe,
        diffs=[o.diff for o in outcomes if o.diff], internal_errors=sum(o.internal_error for o in outcomes),
        fix_mode="diff" if args.diff else ("fix" if args.fix else ""),
        color=fmt == "text" and args.output_file is None and sys.stdout.isatty()
        and not os.environ.get("NO_COLOR") and not args.no_color,
        statistics=args.statistics,
    )
    if args.diff:
        sys.stdout.write("".join(report.diffs))
        sys.stderr.write(formatter("text")(replace(report, findings=[])))
        return EXIT_OK if args.exit_zero or not report.diffs else EXIT_FINDINGS
    _emit(formatter(fmt)(report), args.output_file)
    if args.exit_zero:
        return EXIT_OK
    # The command line decides for every file; else each file's own configuration (fail-on).
    for outcome, (_, settings) in zip(outcomes, items):
        threshold = SEVERITY_RANK[args.fail_on or settings.fail_on]
        if any(f.severity.rank >= threshold for f in outcome.findings):
            return EXIT_FINDINGS
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in ("rule", "rules"):
            return _rules_command(argv[0], argv[1:])
        if argv and argv[0] == "server":
            from bnlint.lsp import main as serve

            return serve(argv[1:])
        if argv and argv[0] == "probe":
            from bnlint.runtime.probe import main as probe  # imports Keras only after parsing its arguments

            return probe(argv[1:])
        if argv and argv[0] == "check":
            argv = argv[1:]
        return _check_command(argv)
    except UsageError as e:
        sys.stderr.write(f"bnlint: error: {e}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # bnlint itself failed outside any one file
        if os.environ.get("BNLINT_DEBUG"):
            raise
        sys.stderr.write(f"bnlint: internal error: {type(e).__name__}: {e} (set BNLINT_DEBUG=1 for a traceback)\n")
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
