"""Each script rule's catalogue `bad` example yields exactly that code, its `good` example none."""
import pathlib

import pytest
import yaml

from bnlint.context import RuleContext
from bnlint.script import analyze_script

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT_RULES = sorted(p for p in (ROOT / "rules").glob("BN00*.yaml"))
ALL = frozenset(yaml.safe_load(p.read_text())["code"] for p in SCRIPT_RULES)


def codes(source: str) -> list[str]:
    ctx = RuleContext(enabled=ALL)
    return sorted({f.code for f in analyze_script(pathlib.Path("example.py"), "example.py", source.encode(), ctx).findings})


def test_all_script_rules_are_catalogued():
    assert ALL == {"BN001", "BN002", "BN003", "BN004", "BN005", "BN006", "BN007"}


@pytest.mark.parametrize("path", SCRIPT_RULES, ids=lambda p: p.stem)
def test_bad_example_yields_exactly_its_code(path):
    rule = yaml.safe_load(path.read_text())
    assert rule["analyzer"] == "script"
    assert codes(rule["bad"]) == [rule["code"]]


@pytest.mark.parametrize("path", SCRIPT_RULES, ids=lambda p: p.stem)
def test_good_example_is_clean(path):
    rule = yaml.safe_load(path.read_text())
    assert codes(rule["good"]) == []
