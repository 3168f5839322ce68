"""`--output-format json`: one object per finding with the stable keys of the conventions doc."""
from __future__ import annotations

import json

from bnlint.catalogue import DOCS_URL
from bnlint.finding import Finding
from bnlint.formatters import Report


def finding_dict(f: Finding, names: dict[str, str]) -> dict:
    return {
        "code": f.code,
        "name": names.get(f.code, ""),
        "severity": f.severity.value if f.severity else "error",
        "message": f.message,
        "path": f.path,
        "line": f.line,
        "column": f.column,
        "end_line": f.end_line if f.end_line is not None else f.line,
        "end_column": f.end_column if f.end_column is not None else f.column,
        "cell": f.cell,
        "layer": f.layer,
        "layers": list(f.layers) if f.layers else ([f.layer] if f.layer else []),
        "fix": None if f.fix is None else {
            "message": f.fix.message,
            "applicability": f.fix.applicability.value,
            "edits": [{"content": e.content, "line": e.line, "column": e.column,
                       "end_line": e.end_line, "end_column": e.end_column} for e in f.fix.edits],
        },
        "url": DOCS_URL.format(code=f.code),
        "help": f.help,
        "related": [{"path": r.path, "line": r.line, "column": r.column, "cell": r.cell, "layer": r.layer,
                     "message": r.message} for r in f.related],
    }


def render(report: Report) -> str:
    from bnlint.catalogue import headers

    if report.statistics:   # ruff's `--statistics --output-format json`: one object per code
        from bnlint.formatters.text import statistics

        return json.dumps(statistics(report), indent=2) + "\n"

    names = {code: header.name for code, header in headers().items()}
    return json.dumps([finding_dict(f, names) for f in report.findings], indent=2) + "\n"
