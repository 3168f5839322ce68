"""`bnlint --fix --unsafe-fixes` on the labelled real-world files, on copies (issue 14's check).

    python bench/realworld/fix_check.py        (after extract.py filled .cache/)

Copies each labelled repository checkout from .cache/ to a temporary folder (so project pins still
decide the target), then checks that only files with an offered fix change, every changed file
parses, and a second run changes nothing. Prints the fixes applied per rule. Exit 1 on a violation.
"""
from __future__ import annotations

import ast
import collections
import json
import pathlib
import shutil
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

from extract import checkout_dir, load_labels

from bnlint.script.source import load_notebook


def _bnlint(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bnlint", "--exit-zero", *args], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "BNLINT_JOBS": "2", "PYTHONPATH": str(HERE.parents[1])})


def _unparsable(path: pathlib.Path) -> set:
    """Cells (notebook) or the file (None) that do not parse as Python."""
    data = path.read_bytes()
    bad = set()
    if path.suffix == ".ipynb":
        for index, cell in enumerate(load_notebook(data).cells):
            try:
                ast.parse(cell.python.text)   # what IPython runs (magics, shell lines cleaned up)
            except (SyntaxError, ValueError):
                bad.add(index)
    else:
        try:
            ast.parse(data)
        except (SyntaxError, ValueError):
            bad.add(None)
    return bad


def main() -> int:
    work = pathlib.Path(tempfile.mkdtemp(prefix="bnlint-fix-check-"))
    files = []
    for entry in load_labels():
        source = checkout_dir(entry)
        if not (source / entry["path"]).is_file():
            continue
        copy = work / source.name
        if not copy.exists():
            shutil.copytree(source, copy, symlinks=True)
        files.append(str(copy / entry["path"]))
    files = sorted(set(files))
    if not files:
        print("no extracted files: run extract.py first")
        return 1
    before = {f: pathlib.Path(f).read_bytes() for f in files}
    unparsable_before = {f: _unparsable(pathlib.Path(f)) for f in files}
    findings = json.loads(_bnlint("--output-format", "json", *files).stdout)
    offered = {f["path"] for f in findings if f["fix"] is not None and f["fix"]["edits"]}
    titles = [line for line in _bnlint("--diff", "--unsafe-fixes", *files).stdout.splitlines()
              if " [safe] " in line or " [unsafe] " in line]
    _bnlint("--fix", "--unsafe-fixes", *files)
    after = {f: pathlib.Path(f).read_bytes() for f in files}
    changed = [f for f in files if after[f] != before[f]]
    unexpected = [f for f in changed if f not in offered]
    # a cell that never parsed (a BN900 before the fix) does not count against the fix
    broken = [f for f in changed if _unparsable(pathlib.Path(f)) - unparsable_before[f]]
    _bnlint("--fix", "--unsafe-fixes", *files)
    unstable = [f for f in files if pathlib.Path(f).read_bytes() != after[f]]
    by_rule = collections.Counter(line.split(": ", 1)[1].split()[0] for line in titles)
    print(f"{len(files)} files, {len(findings)} findings, {len(offered)} with a fix on offer, {len(changed)} changed")
    print("fixes applied:", dict(sorted(by_rule.items())))
    print("changed without a fix on offer:", unexpected or "none")
    print("changed files that do not parse:", broken or "none")
    print("changed again by a second run:", unstable or "none")
    shutil.rmtree(work)
    return 1 if unexpected or broken or unstable else 0


if __name__ == "__main__":
    sys.exit(main())
