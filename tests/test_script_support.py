"""Helpers shared by the script analyzer tests (no tests here)."""
from __future__ import annotations

import pathlib
import textwrap

from bnlint.context import RuleContext
from bnlint.script import analyze_script, apply_fixes
from bnlint.target import parse_target

ALL_SCRIPT_CODES = frozenset({"BN001", "BN002", "BN003", "BN004", "BN005", "BN006"})
ROOT = pathlib.Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures" / "scripts"


def context(target: str | None = None, enabled=ALL_SCRIPT_CODES) -> RuleContext:
    return RuleContext(enabled=frozenset(enabled), target=parse_target(target) if target else None)


def analyze(source: str | bytes, target: str | None = None, path: str = "train.py", enabled=ALL_SCRIPT_CODES,
            dedent: bool = True):
    data = source if isinstance(source, bytes) else (textwrap.dedent(source) if dedent else source).encode()
    p = pathlib.Path(path)
    return analyze_script(p, path, data, context(target, enabled))


def findings(source, target=None, path="train.py", enabled=ALL_SCRIPT_CODES):
    return analyze(source, target, path, enabled).findings


def codes(source, target=None, path="train.py", enabled=ALL_SCRIPT_CODES):
    return [f.code for f in findings(source, target, path, enabled)]


def where(source, target=None, path="train.py", enabled=ALL_SCRIPT_CODES):
    """[(code, line, column)] as a user sees them."""
    return [(f.code, f.line, f.column) for f in findings(source, target, path, enabled)]


def fix(source: str, target=None, path="train.py", unsafe=True) -> str:
    data = textwrap.dedent(source).encode()
    p = pathlib.Path(path)
    result = analyze_script(p, path, data, context(target))
    chosen = [f for f in result.findings if f.fix is not None and (unsafe or f.fix.applicability.value == "safe")]
    return apply_fixes(data, p, chosen).decode()


def fix_all(source: str, target=None, path="train.py", unsafe=True, dedent=True) -> str:
    """What `bnlint --fix [--unsafe-fixes]` writes: fix, analyse again, until nothing changes."""
    from bnlint.engine import MAX_FIX_PASSES

    data = (textwrap.dedent(source) if dedent else source).encode()
    p = pathlib.Path(path)
    for _ in range(MAX_FIX_PASSES):
        result = analyze_script(p, path, data, context(target))
        chosen = [f for f in result.findings if f.fix is not None and (unsafe or f.fix.applicability.value == "safe")]
        fixed = apply_fixes(data, p, chosen)
        if fixed == data:
            break
        data = fixed
    return data.decode()
