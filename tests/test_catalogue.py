"""The catalogue is the single source for `bnlint rules`, `bnlint rule`, the README table and SARIF."""
import re

import pytest
import yaml

from bnlint import catalogue
from conftest import ROOT

CONTRACT = {  # the user-facing codes: numbers, analyzers and default severities never change
    "BN001": ("script", "error"), "BN002": ("script", "warning"), "BN003": ("script", "warning"),
    "BN004": ("script", "warning"), "BN005": ("script", "warning"), "BN006": ("script", "info"),
    "BN101": ("model", "info"), "BN102": ("model", "error"), "BN103": ("model", "warning"),
    "BN104": ("model", "info"), "BN105": ("model", "warning"), "BN106": ("model", "error"),
    "BN900": ("any", "error"), "BN901": ("model", "info"),
    "BN007": ("script", "warning"), "BN107": ("model", "warning"),
}


def test_every_contract_code_is_catalogued_with_its_analyzer_and_severity():
    rules = catalogue.load()
    assert set(rules) == set(CONTRACT)
    for code, (analyzer, severity) in CONTRACT.items():
        assert (rules[code].analyzer, rules[code].severity.value) == (analyzer, severity), code


@pytest.mark.parametrize("path", sorted((ROOT / "rules").glob("*.yaml")), ids=lambda p: p.stem)
def test_catalogue_entries_are_complete(path):
    data = yaml.safe_load(path.read_text())
    assert set(data) >= set(catalogue.REQUIRED)
    assert re.fullmatch(r"[a-z]+(-[a-z0-9]+)*", data["name"]), "name must be kebab-case"
    assert "\n" not in data["summary"].strip()
    for key in ("what", "why", "fix", "bad", "good"):
        assert len(str(data[key]).strip()) > 20, key
    assert data["references"] and all(r.startswith("https://") for r in data["references"])


def test_rule_headers_read_without_yaml_match_the_parsed_catalogue():
    catalogue.load.cache_clear()          # the line reader is used only before the YAML is parsed
    from_lines = catalogue.headers.__wrapped__()
    assert catalogue.load.cache_info().currsize == 0, "the headers were read through the YAML parser"
    parsed = catalogue.load()
    assert {code: (h.name, h.severity) for code, h in from_lines.items()} == \
        {code: (rule.name, rule.severity) for code, rule in parsed.items()}
    assert {code: h.severity.value for code, h in from_lines.items()} == {c: sev for c, (_, sev) in CONTRACT.items()}


def test_names_are_unique():
    names = [r.name for r in catalogue.load().values()]
    assert len(names) == len(set(names))


def test_readme_rule_table_matches_the_catalogue():
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- rules-table -->\n(.*?)\n<!-- /rules-table -->", readme, re.S)
    assert match, "README.md lacks the <!-- rules-table --> block"
    assert match.group(1).strip() == catalogue.markdown_table().strip(), (
        "README rule table is stale: regenerate it with `bnlint rules --output-format markdown`")
