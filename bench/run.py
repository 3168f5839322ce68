"""bnlint benchmark: the one command.

    .venv/bin/python bench/run.py [--quick] [--only models|tree|script] [--pairs N]

Builds or reuses the inputs (bench/make_inputs.py, cached under bench/.cache/), then runs every
comparison as interleaved pairs A B A B ... of separate processes, after one untimed warm-up run
of each side, and prints a markdown table of medians with the ratio computed pair by pair. A full
run (no --quick, no --only) writes the table to bench/RESULTS.md; other runs write
bench/.cache/RESULTS-partial.md (or --results FILE). Raw numbers go to bench/.cache/last-run.json.

Must run with the project's .venv (test extras): its interpreter runs bnlint, the floor and the
Keras peers; fixit and ruff run from bench/.cache/peers-venv.
"""
from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata as md
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_inputs as inputs  # noqa: E402

BENCH, REPO = inputs.BENCH, inputs.REPO
PY = sys.executable
PEERS_BIN = inputs.PEERS_VENV / "bin"
PAGE = os.sysconf("SC_PAGE_SIZE")

# The same environment for every process, A and B alike. TF_CPP_MIN_LOG_LEVEL only silences
# TensorFlow's C++ logging (its stderr goes to a file anyway); OPENBLAS_CORETYPE and everything
# else is inherited untouched.
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
ENV.pop("BNLINT_JOBS", None)          # bnlint's default worker count, like a user's shell
# A user's installed bnlint has compiled bytecode. This sandbox sets PYTHONDONTWRITEBYTECODE, and
# bnlint is an editable install being edited right now: with the variable set, every run would
# recompile each module whose .pyc is stale (~0.15 s on one script). Unset, the warm-up run
# refreshes __pycache__ (gitignored) and the timed runs load bytecode, as a user's would.
ENV.pop("PYTHONDONTWRITEBYTECODE", None)
ENV.pop("BNLINT_OUTPUT_FORMAT", None)


# ----------------------------------------------------------------------------- measuring

@dataclass(eq=False)
class Cmd:
    label: str
    argv: list[str]
    ok_codes: tuple[int, ...] = (0,)
    warmup: bool = True          # one untimed run first (page cache, .pyc files)
    sample_tree: bool = False    # also poll the process tree's summed RSS (multi-process commands)

    def shell(self) -> str:
        def short(a: str) -> str:
            for prefix, name in ((str(PEERS_BIN) + "/", ""), (PY, "python"), (str(REPO) + "/", "")):
                if a.startswith(prefix):
                    return name + a[len(prefix):]
            return a
        return " ".join(short(a) for a in self.argv)


@dataclass
class Sample:
    wall: float        # seconds, fork to reap
    rss_kb: int        # kernel high-water mark (ru_maxrss) of the command: its largest process
    tree_kb: int       # sampled peak of the summed RSS of the whole process tree (0 if not sampled)
    code: int


class TreeRssSampler(threading.Thread):
    """Peak of the summed RSS of every process in a session, polled from /proc.

    ru_maxrss (below) is exact but is a per-process maximum: for a command that forks workers
    (bnlint --jobs, fixit's pool) it is the largest single process, not the tree's total. This
    sampler adds the RSS of all processes whose session id is the command's (it is started with
    start_new_session=True) every `interval` seconds. Polling can miss a short spike and counts
    pages shared after fork() once per process, so it is reported beside ru_maxrss, not instead
    of it, and only for the multi-process comparisons (a /proc scan costs the harness CPU that
    the measured command would otherwise have)."""

    def __init__(self, sid: int, interval: float = 0.05):
        super().__init__(daemon=True)
        self.sid, self.interval, self.peak = sid, interval, 0
        self.stop = threading.Event()

    def _sum(self) -> int:
        total = 0
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as f:
                    stat = f.read()
                # fields after the ')' of comm: state ppid pgrp session ...
                fields = stat[stat.rindex(b")") + 2:].split()
                if int(fields[3]) != self.sid:
                    continue
                with open(f"/proc/{entry.name}/statm", "rb") as f:
                    total += int(f.read().split()[1]) * PAGE
            except (OSError, ValueError, IndexError):
                continue
        return total

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, self._sum())
            self.stop.wait(self.interval)


TIME = "/usr/bin/time"   # GNU time (Debian: `apt-get install time`)


def measure(cmd: Cmd) -> Sample:
    """Run one command as a separate process; wall time is fork to reap, seen from here.

    Peak RSS: the kernel's ru_maxrss of the command, read by GNU time (`/usr/bin/time -f %M`),
    which fork()s and exec()s it and reaps it with wait4. Why not wait4 here directly: ru_maxrss
    survives exec, and Python's subprocess starts children with vfork/posix_spawn, so the child's
    pre-exec high-water mark is this harness's own RSS (~20 MB), a floor that hides small
    commands (`python -c pass` is ~9 MB). GNU time is ~1 MB, so its fork child starts tiny.
    wait4 on one pid gives that child's own maximum (including descendants it reaped itself,
    e.g. pool workers: the max, not the sum), so each run is measured on its own; there is no
    RUSAGE_CHILDREN running maximum to reset. Without GNU time the harness falls back to
    os.wait4 and says so in the results."""
    with tempfile.TemporaryFile() as err, tempfile.NamedTemporaryFile("r") as rss_file:
        argv = [TIME, "-f", "%M", "-o", rss_file.name, *cmd.argv] if HAVE_TIME else cmd.argv
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                             env=ENV, cwd=REPO, start_new_session=True)
        sampler = None
        if cmd.sample_tree:
            sampler = TreeRssSampler(p.pid)
            sampler.start()
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        if sampler:
            sampler.stop.set()
            sampler.join()
        if p.returncode not in cmd.ok_codes:
            err.seek(0)
            tail = err.read().decode(errors="replace")[-2000:]
            raise SystemExit(f"benchmark command failed (exit {p.returncode}): {cmd.shell()}\n{tail}")
        rss = int(ru.ru_maxrss)
        if HAVE_TIME:
            lines = [l for l in rss_file.read().split() if l.strip().isdigit()]
            rss = int(lines[-1])
    return Sample(wall, rss, sampler.peak // 1024 if sampler else 0, p.returncode)


HAVE_TIME = os.access(TIME, os.X_OK)


# ----------------------------------------------------------------------------- comparisons

@dataclass
class Comparison:
    group: str          # models | tree | script
    what: str
    input: str
    a: Cmd
    b: Cmd
    kind: str           # peer | floor | fixit | ruff | script | version
    limit: int | None = None    # at most this many pairs (fixit: minutes per run)
    pairs: list[tuple[Sample, Sample]] = field(default_factory=list)

    @property
    def sample_tree(self) -> bool:
        return self.a.sample_tree or self.b.sample_tree

    # per-pair ratios, A over B
    def wall_ratios(self):
        return [a.wall / b.wall for a, b in self.pairs]

    def rss_ratios(self):
        return [a.rss_kb / b.rss_kb for a, b in self.pairs]

    def med(self, side: int, attr: str) -> float:
        return statistics.median(getattr(p[side], attr) for p in self.pairs)


def bnlint(*args: str) -> list[str]:
    return [PY, "-m", "bnlint", "--no-config", "--exit-zero", "--output-format", "json", *args]


def comparisons(only: str | None, fixit_pairs: int) -> list[Comparison]:
    """Comparisons that share a command share the Cmd object: a round runs it once for all."""
    out = []
    h5, keras_ = str(inputs.H5_MODEL), str(inputs.KERAS_MODEL)
    if only in (None, "models"):
        for label, path in (("ResNet50 .h5 (tf_keras)", h5), ("EfficientNetB4 .keras (Keras 3)", keras_)):
            a = Cmd("bnlint MODEL", bnlint(path))
            out.append(Comparison("models", "model vs load_model", label, a,
                                  Cmd("load_model + walk", [PY, str(BENCH / "keras_load.py"), path]), "peer"))
            out.append(Comparison("models", "model vs floor", label, a,
                                  Cmd("floor.py", [PY, str(BENCH / "floor.py"), path]), "floor"))
    if only in (None, "tree"):
        tree = str(inputs.TREE)
        a = Cmd("bnlint keras/src", bnlint(tree), sample_tree=True)
        # fixit exits 1 when it reports anything. It takes minutes per run (~0.7 s of CPU per
        # file), so it gets --fixit-pairs pairs and no warm-up (bnlint's warm-up has already
        # read the tree into the page cache).
        out.append(Comparison("tree", "tree vs fixit", "keras/src", a,
                              Cmd("fixit lint", [str(PEERS_BIN / "fixit"), "lint", tree], ok_codes=(0, 1),
                                  warmup=False, sample_tree=True), "fixit", limit=fixit_pairs))
        # --no-cache: ruff would otherwise skip unchanged files from its second run on (bnlint
        # has no cache); --isolated: no pyproject.toml settings; --no-respect-gitignore: this
        # repository's .gitignore lists bench/.cache/.
        out.append(Comparison("tree", "tree vs ruff", "keras/src", a,
                              Cmd("ruff check", [str(PEERS_BIN / "ruff"), "check", "--isolated", "--no-cache",
                                                 "--no-respect-gitignore", "--select", "E,F", "--exit-zero",
                                                 "--output-format", "json", tree], sample_tree=True),
                              "ruff"))
    if only in (None, "script"):
        script = str(inputs.SCRIPT)
        floor = Cmd("python -c pass", [PY, "-c", "pass"])
        out.append(Comparison("script", "one script", "train_400.py", Cmd("bnlint train.py", bnlint(script)),
                              floor, "script"))
        out.append(Comparison("script", "--version", "-", Cmd("bnlint --version", [PY, "-m", "bnlint", "--version"]),
                              floor, "version"))
    return out


def run_group(comps: list[Comparison], n: int, log) -> None:
    """Rounds of interleaved runs: each round runs every command still needed once, in order
    (A, then each B: A B A B ... for a single comparison), and each comparison takes its pair
    from that round, so a ratio is always between runs made back to back."""
    cmds: list[Cmd] = []
    for c in comps:
        for cmd in (c.a, c.b):
            if not any(cmd is x for x in cmds):
                cmds.append(cmd)
    for cmd in cmds:
        if cmd.warmup:
            log(f"  warm-up: {cmd.label}")
            measure(cmd)
    for i in range(n):
        live = [c for c in comps if c.limit is None or i < c.limit]
        if not live:
            break
        got: dict[int, Sample] = {}
        for cmd in cmds:
            if any(cmd is c.a or cmd is c.b for c in live):
                got[id(cmd)] = s = measure(cmd)
                log(f"  round {i + 1}/{n}: {cmd.label:<18} {s.wall:8.3f} s {s.rss_kb / 1024:7.0f} MB"
                    + (f" (tree {s.tree_kb / 1024:.0f} MB)" if cmd.sample_tree else ""))
        for c in live:
            c.pairs.append((got[id(c.a)], got[id(c.b)]))


def verdict(c: Comparison) -> tuple[str, str]:
    """(target, met) for the table."""
    wall = statistics.median(c.wall_ratios())
    rss = statistics.median(c.rss_ratios())
    if c.kind == "peer":
        speed = statistics.median(b.wall / a.wall for a, b in c.pairs)
        ok = speed >= 12 and rss <= 1 / 8
        return "≥12× faster, ≤1/8 RSS", _yes(ok, f"{speed:.1f}× faster, {1 / rss:.1f}× less RSS")
    if c.kind == "floor":
        ok = wall <= 2 and rss <= 1.5
        return "wall ≤2×, RSS ≤1.5×", _yes(ok, "")
    if c.kind == "fixit":
        speed = statistics.median(b.wall / a.wall for a, b in c.pairs)
        return "≥20× faster", _yes(speed >= 20, f"{speed:.1f}× faster")
    if c.kind == "ruff":
        return "report", "-"
    if c.kind == "script":
        a = c.med(0, "wall")
        delta = statistics.median(x.wall - y.wall for x, y in c.pairs)
        return "≤0.4 s total", _yes(a <= 0.4, f"+{delta:.2f} s over python")
    if c.kind == "version":
        a = c.med(0, "wall")
        return "≤0.15 s", _yes(a <= 0.15, "")
    return "", ""


def _yes(ok: bool, note: str) -> str:
    return ("**yes**" if ok else "**no**") + (f" ({note})" if note else "")


def _fmt_s(x: float) -> str:
    return f"{x:.3f} s" if x < 10 else f"{x:.1f} s"


def _fmt_mb(kb: float) -> str:
    return f"{kb / 1024:.0f} MB"


def _iqr(xs: list[float]) -> str:
    if len(xs) < 4:
        return f"{min(xs):.3g}–{max(xs):.3g}"
    q = statistics.quantiles(xs, n=4)
    return f"{q[0]:.3g}–{q[2]:.3g}"


def table(comps: list[Comparison]) -> str:
    head = ("| comparison | input | A | B | pairs | A wall | B wall | A/B wall (spread) | A peak RSS | B peak RSS "
            "| A/B RSS | target | met |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for c in comps:
        if not c.pairs:
            lines.append(f"| {c.what} | {c.input} | `{c.a.label}` | `{c.b.label}` | 0 | not run |" + " |" * 7)
            continue
        wall, rss = c.wall_ratios(), c.rss_ratios()
        a_rss, b_rss = _fmt_mb(c.med(0, "rss_kb")), _fmt_mb(c.med(1, "rss_kb"))
        if c.sample_tree:
            a_rss += f" (Σ {_fmt_mb(c.med(0, 'tree_kb'))})"
            b_rss += f" (Σ {_fmt_mb(c.med(1, 'tree_kb'))})"
        target, met = verdict(c)
        lines.append(
            f"| {c.what} | {c.input} | `{c.a.label}` | `{c.b.label}` | {len(c.pairs)} | {_fmt_s(c.med(0, 'wall'))} "
            f"| {_fmt_s(c.med(1, 'wall'))} | {statistics.median(wall):.3g} ({_iqr(wall)}) | {a_rss} | {b_rss} "
            f"| {statistics.median(rss):.3g} | {target} | {met} |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- machine, findings

def machine() -> str:
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal")) / 1024 / 1024
    except (OSError, StopIteration):
        mem = 0
    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    return (f"{cpu}, {cores} cores ({usable} usable), {mem:.0f} GiB RAM, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}")


def versions() -> str:
    def v(d):
        try:
            return md.version(d)
        except md.PackageNotFoundError:
            return "absent"

    def peer(tool):
        try:
            out = subprocess.run([str(PEERS_BIN / tool), "--version"], capture_output=True, text=True, env=ENV)
            return out.stdout.strip().split()[-1] if out.stdout.strip() else "?"
        except OSError:
            return "absent"

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                                text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "bnlint"], cwd=REPO,
                               capture_output=True, text=True).stdout.strip()
        untracked = subprocess.run(["git", "status", "--porcelain", "--", "bnlint"], cwd=REPO,
                                   capture_output=True, text=True).stdout.strip()
        commit += "+uncommitted bnlint changes" if (dirty or untracked) else ""
    except OSError:
        commit = "?"
    pkgs = ", ".join(f"{d} {v(d)}" for d in ("bnlint", "keras", "tf_keras", "tensorflow", "h5py", "numpy"))
    return f"bnlint at {commit}; {pkgs}; peers: fixit {peer('fixit')}, ruff {peer('ruff')}"


def load() -> str:
    try:
        return " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        return "?"


def bnlint_findings(path: str) -> str:
    """What bnlint reports on an input (one untimed run): proves the analyzer ran."""
    out = subprocess.run(bnlint(path), capture_output=True, text=True, env=ENV, cwd=REPO)
    try:
        data = json.loads(out.stdout)
    except json.JSONDecodeError:
        return f"unparsable output (exit {out.returncode})"
    findings = data if isinstance(data, list) else data.get("findings", data.get("results", []))
    codes: dict[str, int] = {}
    for f in findings:
        code = f.get("code", "?") if isinstance(f, dict) else "?"
        codes[code] = codes.get(code, 0) + 1
    internal = sum(1 for f in findings if isinstance(f, dict) and f.get("code") == "BN900"
                   and "internal error" in str(f.get("message", "")))
    summary = ", ".join(f"{k}×{n}" for k, n in sorted(codes.items())) or "no findings"
    return summary + (f" ({internal} internal-error BN900)" if internal else "")


# ----------------------------------------------------------------------------- main

def main() -> int:
    ap = argparse.ArgumentParser(description="bnlint benchmark (see bench/README.md)")
    ap.add_argument("--quick", action="store_true", help="3 pairs instead of 7")
    ap.add_argument("--only", choices=("models", "tree", "script"), help="run one group of comparisons")
    ap.add_argument("--pairs", type=int, help="number of A/B pairs (default 7, --quick 3)")
    ap.add_argument("--fixit-pairs", type=int, help="pairs for the fixit row (default 1): fixit takes "
                    "5-10 minutes per run here")
    ap.add_argument("--results", type=Path, help="where to write the markdown results")
    args = ap.parse_args()
    import importlib.util
    if not all(importlib.util.find_spec(m) for m in ("keras", "tf_keras", "h5py")):
        sys.exit("run with the project's venv (test extras): .venv/bin/python bench/run.py")
    n = args.pairs or (3 if args.quick else 7)
    need = ("models", "tree", "script") if args.only is None else (args.only, "script")
    desc = inputs.ensure(need=need)
    comps = comparisons(args.only, args.fixit_pairs if args.fixit_pairs is not None else 1)
    full = args.only is None and not args.quick and args.pairs is None and args.fixit_pairs is None
    results = args.results or (BENCH / "RESULTS.md" if full else inputs.CACHE / "RESULTS-partial.md")

    started = dt.datetime.now(dt.timezone.utc)
    load_before = load()
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    log(f"machine: {machine()}")
    findings = {}
    for c in comps:
        if c.a.argv[:3] == [PY, "-m", "bnlint"] and c.input not in findings and "--version" not in c.a.argv:
            findings[c.input] = bnlint_findings(c.a.argv[-1])
    groups: dict[tuple[str, str], list[Comparison]] = {}
    for c in comps:
        groups.setdefault((c.group, c.input), []).append(c)
    for (group, what), members in groups.items():
        log(f"[{group}] {what}")
        run_group(members, n, log)
    finished = dt.datetime.now(dt.timezone.utc)

    md_lines = [
        "# bnlint benchmark results",
        "",
        f"Written by `.venv/bin/python bench/run.py{' ' + ' '.join(sys.argv[1:]) if sys.argv[1:] else ''}` "
        f"on {started:%Y-%m-%d %H:%M}–{finished:%H:%M} UTC. Each command is a separate process; after one untimed "
        f"warm-up run of each (not of fixit), up to {n} interleaved rounds run A then each B back to back "
        "(A B A B ...; `pairs` says how many a row got). Times and RSS are medians; ratios are A/B computed pair "
        "by pair, then the median (spread: interquartile range, or min–max for fewer than 4 pairs).",
        "",
        f"**Machine:** {machine()}; load average {load_before} before, {load()} after.",
        "",
        f"**Versions:** {versions()}.",
        "",
        table(comps),
        "",
        ("Peak RSS is the kernel's high-water mark (`ru_maxrss` via `/usr/bin/time -f %M`) of that run's process: for a "
         if HAVE_TIME else "Peak RSS is `ru_maxrss` from `os.wait4` (GNU time absent: includes the harness's ~20 MB "
         "RSS as a floor, see measure() in run.py): for a ") +
        "command that forks workers it is the largest single process; `Σ` is the sampled peak of the whole "
        "process tree's summed RSS (polled from /proc every 50 ms). For the script rows, `met` judges A alone "
        "(absolute targets); B is the interpreter start-up floor.",
        "",
        "**Inputs:** " + "; ".join(f"{k}: {v}" for k, v in desc.items()) + ".",
        "",
        "**What bnlint reported** (one untimed run each): " + "; ".join(f"{k}: {v}" for k, v in findings.items()) + ".",
        "",
        "**Commands** (A then B; `python` is the project's .venv interpreter, output to /dev/null):",
        "",
    ]
    seen = set()
    for c in comps:
        for cmd in (c.a, c.b):
            if cmd.shell() not in seen:
                seen.add(cmd.shell())
                md_lines.append(f"- `{cmd.shell()}`")
    text = "\n".join(md_lines) + "\n"
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(text)
    raw = [{"what": c.what, "input": c.input, "a": c.a.argv, "b": c.b.argv,
            "pairs": [[vars(a), vars(b)] for a, b in c.pairs]} for c in comps]
    (inputs.CACHE / "last-run.json").write_text(json.dumps({"started": started.isoformat(), "results": raw}, indent=1))
    print(text)
    log(f"results written to {results.relative_to(REPO) if results.is_relative_to(REPO) else results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
