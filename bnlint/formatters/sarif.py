"""`--output-format sarif`: SARIF 2.1.0 for GitHub code scanning (`github/codeql-action/upload-sarif`).

One run: `tool.driver` with every catalogue rule, one result per finding, `invocations[0]`.

- URIs are relative to `%SRCROOT%`, the repository root (the nearest folder above `Report.root`
  holding `.git`, else `Report.root`), given absolutely in `originalUriBaseIds`. A path outside it
  is written as an absolute `file://` URI.
- Every result has a full region (end = start when the finding has no end), and its own
  `partialFingerprints.primaryLocationLineHash`:
    scripts and notebooks: hash of rule + path + the stripped text of the finding's line (+ an
      occurrence index among identical triples), so it survives lines moving up or down;
    model files (binary, GitHub cannot hash them): hash of rule + path + layer path (+ occurrence).
- Model findings carry the layer path in the message and as a `logicalLocations` entry.
- Notebook findings: the region is where the cell's line sits in the `.ipynb` JSON (falling back to
  the line inside the cell when the JSON cannot be mapped); the cell and the line inside it are in
  the message and in `properties` (`cell`, `cellLine`, `cellColumn`). Fixes are exported for
  scripts only (a notebook edit is relative to its cell, not to the `.ipynb` file).
- A SavedModel folder is located through its `saved_model.pb` (or `keras_metadata.pb`).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from urllib.parse import quote

from bnlint import __version__
from bnlint.finding import Finding, Related, Severity
from bnlint.formatters import Report
from bnlint.formatters.github import (NotebookMap, artifact_path, decorated_message, notebook_region, repo_relative,
                                      repo_root, severity_of)

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
INFORMATION_URI = "https://github.com/bnlint/bnlint"
LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
SRCROOT = "%SRCROOT%"


def _region(line: int, column: int, end_line: int | None, end_column: int | None) -> dict:
    return {
        "startLine": max(1, line),
        "startColumn": max(1, column),
        "endLine": max(1, end_line if end_line is not None else line),
        "endColumn": max(1, end_column if end_column is not None else column),
    }


class _Artifacts:
    """Repo-relative locations and the source line texts that fingerprints hash (read once per file)."""

    def __init__(self, root: Path):
        self.root = root
        self.notebooks = NotebookMap()
        self._lines: dict[tuple[str, int | None], list[str] | None] = {}

    def location(self, path: str) -> dict:
        path = artifact_path(path)
        rel = repo_relative(path, self.root)
        if rel is None:
            return {"uri": Path(path).resolve().as_uri()}
        return {"uri": quote(rel, safe="/"), "uriBaseId": SRCROOT}

    def uri(self, path: str) -> str:
        path = artifact_path(path)
        return repo_relative(path, self.root) or str(Path(path).resolve())

    def line_text(self, path: str, line: int, cell: int | None) -> str | None:
        key = (path, cell)
        if key not in self._lines:
            self._lines[key] = self._read(path, cell)
        lines = self._lines[key]
        if lines is None or not 1 <= line <= len(lines):
            return None
        return lines[line - 1].strip()

    @staticmethod
    def _read(path: str, cell: int | None) -> list[str] | None:
        from bnlint.discovery import kind_of_file

        if kind_of_file(Path(path)) not in ("script", "notebook") or Path(path).is_dir():
            return None  # a model file or SavedModel folder: no lines to hash
        try:
            if cell is None:
                return Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
            nb = json.loads(Path(path).read_text(encoding="utf-8", errors="replace"))
            code_cells = [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]
            source = code_cells[cell - 1].get("source", "")
            return ("".join(source) if isinstance(source, list) else str(source)).splitlines()
        except (OSError, ValueError, IndexError, AttributeError, TypeError):
            return None


def _hash(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()[:32]


def _fingerprint_base(f: Finding, artifacts: _Artifacts) -> str:
    uri = artifacts.uri(f.path)
    if f.layer is not None:
        return _hash("model", f.code, uri, f.layer)
    text = artifacts.line_text(f.path, f.line, f.cell)
    if text is None:  # unreadable or not a text file (e.g. BN900 on a model): fall back to the position
        return _hash("position", f.code, uri, str(f.cell or 0), str(f.line), str(f.column))
    return _hash("line", f.code, uri, text)


def rule_descriptor(rule) -> dict:
    level = LEVELS[rule.severity]
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": " ".join(rule.what.split())},
        "help": {"text": rule.markdown(), "markdown": rule.markdown()},
        "helpUri": rule.url,
        "defaultConfiguration": {"level": level},
        "properties": {
            "tags": ["keras", "batch-normalization", "transfer-learning", f"{rule.analyzer}-analyzer"],
            "precision": "high",
            "problem.severity": {"error": "error", "warning": "warning", "note": "recommendation"}[level],
        },
    }


def _message(f: Finding) -> str:
    text = decorated_message(f)
    if f.help:
        text += f"\nhelp: {f.help}"
    return text


def result(f: Finding, rule_index: dict[str, int], artifacts: _Artifacts, occurrence: int, base: str) -> dict:
    physical = {
        "artifactLocation": artifacts.location(f.path),
        "region": _region(*notebook_region(f, artifacts.notebooks)),
    }
    location: dict = {"physicalLocation": physical}
    if f.layer is not None:
        location["logicalLocations"] = _logical(f.layer)
    res: dict = {
        "ruleId": f.code,
        "level": LEVELS[severity_of(f)],
        "message": {"text": _message(f)},
        "locations": [location],
        "partialFingerprints": {"primaryLocationLineHash": f"{base}:{occurrence}"},
    }
    if f.code in rule_index:
        res["ruleIndex"] = rule_index[f.code]
    if f.related:
        res["relatedLocations"] = [_related(i, r, artifacts) for i, r in enumerate(f.related, start=1)]
    if f.fix is not None and f.cell is None and f.layer is None and f.fix.edits:
        res["fixes"] = [{
            "description": {"text": f.fix.message},
            "artifactChanges": [{
                "artifactLocation": artifacts.location(f.path),
                "replacements": [
                    {"deletedRegion": _region(e.line, e.column, e.end_line, e.end_column),
                     "insertedContent": {"text": e.content}}
                    for e in f.fix.edits
                ],
            }],
        }]
    props: dict = {}
    if f.cell is not None:
        props.update(cell=f.cell, cellLine=f.line, cellColumn=f.column)
    if f.layer is not None:
        props["layer"] = f.layer
        if len(f.layers) > 1:
            props["layers"] = list(f.layers)
    if f.fix is not None:
        props["fixApplicability"] = f.fix.applicability.value
    if props:
        res["properties"] = props
    return res


def _logical(layer: str) -> list[dict]:
    return [{"name": layer.rsplit("/", 1)[-1], "fullyQualifiedName": layer, "kind": "member"}]


def _related(i: int, r: Related, artifacts: _Artifacts) -> dict:
    """A note as a SARIF location: a notebook note where its cell line sits in the .ipynb JSON (and
    the cell in its message), a model note with its layer as a logical location."""
    region = _region(r.line, r.column, r.end_line, r.end_column)
    message = r.message or "related location"
    if r.cell is not None:
        mapped = artifacts.notebooks.position(r.path, r.cell, r.line, r.column)
        if mapped:
            region = _region(*mapped, *mapped)
        message = f"cell {r.cell}, line {r.line}: {message}"
    location: dict = {"id": i, "physicalLocation": {"artifactLocation": artifacts.location(r.path), "region": region}}
    if r.layer is not None:
        location["logicalLocations"] = _logical(r.layer)
        message = f"layer '{r.layer}': {message}"
    location["message"] = {"text": message}
    return location


def build(report: Report) -> dict:
    from bnlint.catalogue import load

    rules = list(load().values())
    rule_index = {r.code: i for i, r in enumerate(rules)}
    root = repo_root(report.root)
    artifacts = _Artifacts(root)

    results = []
    seen: dict[str, int] = {}
    for f in report.findings:
        base = _fingerprint_base(f, artifacts)
        seen[base] = seen.get(base, 0) + 1
        results.append(result(f, rule_index, artifacts, seen[base], base))

    invocation: dict = {"executionSuccessful": not report.internal_errors}
    if report.internal_errors:
        invocation["toolExecutionNotifications"] = [{
            "level": "error",
            "message": {"text": f"bnlint failed internally on {report.internal_errors} "
                                f"file{'s' if report.internal_errors != 1 else ''} (see the BN900 results)"},
        }]
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "bnlint",
                "version": __version__,
                "semanticVersion": __version__,
                "informationUri": INFORMATION_URI,
                "rules": [rule_descriptor(r) for r in rules],
            }},
            "originalUriBaseIds": {SRCROOT: {"uri": root.as_uri().rstrip("/") + "/"}},
            "columnKind": "unicodeCodePoints",
            "results": results,
            "invocations": [invocation],
        }],
    }


def render(report: Report) -> str:
    return json.dumps(build(report), indent=2, ensure_ascii=False) + "\n"
