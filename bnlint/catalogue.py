"""The rule catalogue: one YAML file per rule, the single source for `bnlint rules`,
`bnlint rule CODE`, the README rule table and SARIF rule metadata.

In a checkout the files are in the top-level `rules/`; in a wheel they ship as
`bnlint/_catalogue/` (see pyproject's force-include).
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from bnlint.finding import Severity

DOCS_URL = "https://github.com/bnlint/bnlint/blob/main/rules/{code}.yaml"
REQUIRED = ("code", "name", "analyzer", "severity", "summary", "what", "why", "fix", "bad", "good", "references", "since")
ANALYZERS = ("script", "model", "any")


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    analyzer: str
    severity: Severity
    summary: str
    what: str
    why: str
    fix: str
    bad: str
    good: str
    references: tuple[str, ...]
    since: str

    @property
    def url(self) -> str:
        return DOCS_URL.format(code=self.code)

    def markdown(self) -> str:
        """The ruff-style rule doc: What it does / Why is this bad / Example / Use instead."""
        lang = "python"
        refs = "\n".join(f"- <{r}>" for r in self.references)
        return (
            f"# {self.name} ({self.code})\n\n"
            f"Analyzer: {self.analyzer}. Default severity: {self.severity.value}.\n\n"
            f"## What it does\n{self.what.strip()}\n\n"
            f"## Why is this bad?\n{self.why.strip()}\n\n"
            f"## Example\n```{lang}\n{self.bad.rstrip()}\n```\n\n"
            f"## Use instead\n{self.fix.strip()}\n\n```{lang}\n{self.good.rstrip()}\n```\n\n"
            f"## References\n{refs}\n"
        )


class CatalogueError(Exception):
    pass


def _catalogue_dir() -> Path:
    # The wheel installs plain files next to the package (no zipimport), so a path test suffices
    # and start-up skips importlib.resources.
    here = Path(__file__).resolve().parent
    for candidate in (here / "_catalogue", here.parent / "rules"):
        if candidate.is_dir():
            return candidate
    raise CatalogueError("rule catalogue not found (neither bnlint/_catalogue nor rules/)")


def _parse(path: Path) -> Rule:
    import yaml  # loaded on first use: `bnlint --version` and clean runs never pay for it

    # libyaml's loader is ~10x faster than the pure-Python one; pyyaml wheels ship it
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    if not isinstance(data, dict):
        raise CatalogueError(f"{path.name}: not a mapping")
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise CatalogueError(f"{path.name}: missing keys {', '.join(missing)}")
    if data["code"] != path.stem:
        raise CatalogueError(f"{path.name}: code {data['code']!r} does not match the file name")
    if data["analyzer"] not in ANALYZERS:
        raise CatalogueError(f"{path.name}: analyzer must be one of {ANALYZERS}")
    return Rule(
        code=data["code"],
        name=data["name"],
        analyzer=data["analyzer"],
        severity=Severity(data["severity"]),
        summary=" ".join(str(data["summary"]).split()),
        what=str(data["what"]),
        why=str(data["why"]),
        fix=str(data["fix"]),
        bad=str(data["bad"]),
        good=str(data["good"]),
        references=tuple(data["references"] or ()),
        since=str(data["since"]),
    )


@functools.lru_cache(maxsize=None)
def load() -> dict[str, Rule]:
    """All rules by code, in code order."""
    rules = [_parse(p) for p in sorted(_catalogue_dir().glob("BN*.yaml"))]
    return {r.code: r for r in rules}


def severity_for(finding) -> Severity:
    """A finding's severity: its own (a rule may raise or lower it), else its rule's default."""
    if finding.severity is not None:
        return Severity(finding.severity)
    header = headers().get(finding.code)
    return header.severity if header else Severity.ERROR


# `name:` and `severity:` are one-word top-level scalars in every rule file.
_HEADER_LINE = re.compile(r"^(name|severity):[ \t]*['\"]?([\w-]+)['\"]?[ \t]*$", re.M)


@dataclass(frozen=True)
class RuleHeader:
    name: str
    severity: Severity


@functools.lru_cache(maxsize=None)
def headers() -> dict[str, RuleHeader]:
    """Each rule's name and default severity, read from its top-level `name:` and `severity:` lines.

    Output of every check with findings needs them, and importing PyYAML costs more than a whole
    small check; a test holds them equal to the parsed catalogue. A file whose lines are not in
    that shape falls back to the full parse."""
    out = {}
    for path in sorted(_catalogue_dir().glob("BN*.yaml")):
        fields = dict(_HEADER_LINE.findall(path.read_text(encoding="utf-8")))
        if set(fields) != {"name", "severity"} or fields["severity"] not in Severity._value2member_map_:
            return {code: RuleHeader(rule.name, rule.severity) for code, rule in load().items()}
        out[path.stem] = RuleHeader(fields["name"], Severity(fields["severity"]))
    return out


@functools.lru_cache(maxsize=None)
def all_codes() -> tuple[str, ...]:
    """Every code, without parsing the YAML (the file names are the codes): cheap for start-up."""
    return tuple(sorted(p.stem for p in _catalogue_dir().glob("BN*.yaml")))


def markdown_table() -> str:
    """The README rule table (a test keeps README.md and the catalogue in sync)."""
    lines = ["| code | name | analyzer | severity | summary |", "|---|---|---|---|---|"]
    for r in load().values():
        lines.append(f"| [{r.code}]({r.url}) | `{r.name}` | {r.analyzer} | {r.severity.value} | {r.summary} |")
    return "\n".join(lines)
