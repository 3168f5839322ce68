"""Profile bnlint on the benchmark inputs: import time and where the run's time goes.

    .venv/bin/python bench/profile.py [models|tree|script ...] [--top N]

For each input: `python -X importtime` (the slowest imports, cumulative) and cProfile of the whole
run (top functions by own time and by cumulative time, filtered to the interesting ones). The tree
is profiled with `--jobs 1` so that its work happens in the profiled process (with workers,
cProfile would only see the parent waiting). Profiles are saved under bench/.cache/profiles/
(open them with `python -m pstats FILE`). Run bench/run.py first: it builds the inputs.
"""
from __future__ import annotations

import argparse
import os
import pstats
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_inputs as inputs  # noqa: E402

PY = sys.executable
OUT = inputs.CACHE / "profiles"
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
ENV.pop("BNLINT_JOBS", None)
ENV.pop("PYTHONDONTWRITEBYTECODE", None)   # as in run.py: load bytecode like an installed bnlint
BNLINT = ["-m", "bnlint", "--no-config", "--exit-zero", "--output-format", "json"]


def targets(which):
    out = []
    if "models" in which:
        out += [("h5", [str(inputs.H5_MODEL)]), ("keras", [str(inputs.KERAS_MODEL)])]
    if "tree" in which:
        out += [("tree", ["--jobs", "1", str(inputs.TREE)])]
    if "script" in which:
        out += [("script", [str(inputs.SCRIPT)]), ("version", None)]
    return out


def importtime(args: list[str] | None, top: int) -> str:
    argv = [PY, "-X", "importtime", "-m", "bnlint"] + (BNLINT[2:] + args if args is not None else ["--version"])
    err = subprocess.run(argv, capture_output=True, text=True, env=ENV, cwd=inputs.REPO).stderr
    rows = []
    for line in err.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if m:
            rows.append((int(m.group(2)), int(m.group(1)), len(m.group(3)) // 2, m.group(4)))
    total_self = sum(r[1] for r in rows)
    tops = {}
    for cum, _self, depth, name in rows:       # top-level packages by summed self time
        tops[name.split(".")[0]] = tops.get(name.split(".")[0], 0) + _self
    lines = [f"  imports: {len(rows)} modules, {total_self / 1000:.0f} ms self time in total"]
    lines.append("  by top-level package (self ms): " + ", ".join(
        f"{k} {v / 1000:.0f}" for k, v in sorted(tops.items(), key=lambda kv: -kv[1])[:12]))
    lines.append("  slowest imports (cumulative ms, nesting depth):")
    for cum, _self, depth, name in sorted(rows, reverse=True)[:top]:
        lines.append(f"    {cum / 1000:8.1f}  {'  ' * min(depth, 6)}{name}")
    return "\n".join(lines)


def profile(name: str, args: list[str], top: int) -> str:
    OUT.mkdir(parents=True, exist_ok=True)
    prof = OUT / f"{name}.prof"
    t0 = time.perf_counter()
    subprocess.run([PY, "-m", "cProfile", "-o", str(prof)] + BNLINT + args, env=ENV, cwd=inputs.REPO,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    wall = time.perf_counter() - t0
    st = pstats.Stats(str(prof))
    total = st.total_tt
    lines = [f"  profiled run: {wall:.2f} s wall, {total:.2f} s in profiled functions -> {prof.relative_to(inputs.REPO)}"]

    def fmt(key, row):
        filename, lineno, func = key
        cc, nc, tt, ct, _callers = row
        where = filename
        for marker in ("site-packages/", "lib/python3.11/", str(inputs.REPO) + "/"):
            if marker in where:
                where = where.split(marker, 1)[1]
        return f"    {tt:7.3f} {ct:7.3f} {nc:>8}  {where}:{lineno}({func})"

    items = list(st.stats.items())
    lines.append("  by own time (tottime cumtime ncalls  function):")
    for key, row in sorted(items, key=lambda kv: -kv[1][2])[:top]:
        lines.append(fmt(key, row))
    lines.append("  bnlint functions by cumulative time:")
    own = [(k, r) for k, r in items if "/bnlint/" in k[0]]
    for key, row in sorted(own, key=lambda kv: -kv[1][3])[:top]:
        lines.append(fmt(key, row))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("which", nargs="*", default=["models", "tree", "script"])
    ap.add_argument("--top", type=int, default=15)
    args = ap.parse_args()
    inputs.ensure(need=tuple(w for w in args.which if w != "script") + ("script",))
    for name, argv in targets(args.which):
        print(f"== {name}: bnlint {' '.join(argv) if argv is not None else '--version'}")
        print(importtime(argv, args.top))
        if argv is not None:
            print(profile(name, argv, args.top))
        print()


if __name__ == "__main__":
    main()
