"""Precision and recall of the script rules on real public code (labels in `labels/*.yaml`).

    python bench/realworld/extract.py      # once: rebuild the files from local snapshots
    python bench/realworld/run.py [--codes BN001,BN002,BN003] [--show-hits] [--markdown]

Each labelled file is checked by bnlint inside its own extracted repository (so project pins and
project-local imports count as they would for its authors) with no configuration. A code counts
per file: reported anywhere in the file or not. Prints a table per code and every miss / false
alarm with its labelled patterns and why.
"""
from __future__ import annotations

import argparse
import collections
import concurrent.futures
import json
import pathlib
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from extract import checkout_dir, file_path, load_labels  # noqa: E402

SCORED = ("BN001", "BN002", "BN003")


def run_bnlint(entry: dict) -> set[str] | str:
    path = file_path(entry)
    if not path.exists():
        return "missing"
    try:
        result = subprocess.run(
            [sys.executable, "-m", "bnlint", "--no-config", "--output-format", "json", "--exit-zero",
             str(path.relative_to(checkout_dir(entry)))],
            cwd=checkout_dir(entry), capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return "bnlint timed out (60 s)"
    try:
        findings = json.loads(result.stdout)
    except json.JSONDecodeError:
        return "bnlint failed: " + result.stderr.strip()[-300:]
    return {f["code"] for f in findings}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--codes", default=",".join(SCORED))
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown (for the README)")
    args = parser.parse_args(argv)
    codes = args.codes.split(",")
    counts = {code: collections.Counter() for code in codes}
    problems = []
    entries = load_labels()
    checked = 0
    kinds = collections.Counter()
    # Two files at a time (one bnlint process each): the order of the report stays the labels' order.
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(run_bnlint, entries))
    for entry, got in zip(entries, results):
        if isinstance(got, str):
            problems.append(f"  {entry['id']}: {got}")
            continue
        checked += 1
        kinds[(entry.get("kind", "script"), entry.get("era", "?"), bool(entry.get("expected")))] += 1
        expected = set(entry.get("expected") or [])
        for code in codes:
            want, have = code in expected, code in got
            key = {(True, True): "tp", (False, True): "fp", (True, False): "fn", (False, False): "tn"}[(want, have)]
            counts[code][key] += 1
            if key in ("fp", "fn"):
                patterns = ", ".join(entry.get("patterns") or [])
                problems.append(f"  {key.upper()} {code} {entry['id']} [{entry.get('era')}] ({patterns}): {entry.get('why', '')}")
    negatives = sum(n for (k, e, pos), n in kinds.items() if not pos)
    print(f"{checked} files checked ({negatives} with no expected BN001-BN003), {len(entries) - checked} not available")
    rows = []
    for code in codes:
        c = counts[code]
        precision = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 1.0
        recall = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else 1.0
        rows.append((code, c["tp"], c["fp"], c["fn"], c["tn"], precision, recall))
    if args.markdown:
        print("| code | TP | FP | FN | TN | precision | recall |\n|---|---|---|---|---|---|---|")
        for code, tp, fp, fn, tn, p, r in rows:
            print(f"| {code} | {tp} | {fp} | {fn} | {tn} | {p:.2f} | {r:.2f} |")
    else:
        print(f"{'code':6} {'TP':>4} {'FP':>4} {'FN':>4} {'TN':>4} {'precision':>9} {'recall':>7}")
        for code, tp, fp, fn, tn, p, r in rows:
            print(f"{code:6} {tp:4} {fp:4} {fn:4} {tn:4} {p:9.3f} {r:7.3f}")
    if problems:
        print("\nMisses, false alarms and unavailable files:")
        print("\n".join(problems))
    return 0


if __name__ == "__main__":
    sys.exit(main())
