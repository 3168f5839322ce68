"""What `%load_ext bnlint` adds to each cell, and what one editor check costs.

    .venv/bin/python bench/ipython_cells.py [--rounds N]     writes bench/RESULTS-ipython.md

Session: the first 200 lines of bench/inputs/train_400.py (a ResNet50 transfer-learning script)
split at top-level statements into cells of about 10 lines, entered one by one into a real IPython
InteractiveShell history. After each cell the extension's post-run hook runs (the check of the whole
history so far, target from the imported Keras, display captured): its wall time is the per-cell
cost. The cells are stored, not executed (executing them needs ImageNet weights and data); the check
reads only the history, so its cost is the same. tf_keras is imported first, as in a real session,
so the target comes from the live module. Target: < 50 ms per cell for a 200-line session.

Editor row: one `bnlint server` check (engine.check_input on the buffer's text, as the server runs
it on each change after the debounce) of the whole 400-line script, in-process.
"""
from __future__ import annotations

import argparse
import ast
import os
import platform
import statistics
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
SCRIPT = BENCH / "inputs" / "train_400.py"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def session_cells(lines: int = 200, cell_lines: int = 10) -> list[str]:
    text = "".join(SCRIPT.read_text().splitlines(keepends=True)[:lines])
    tree = ast.parse(text)
    source = text.splitlines(keepends=True)
    cells, start = [], 0
    for node in tree.body:
        end = node.end_lineno
        if end - start >= cell_lines:
            cells.append("".join(source[start:end]))
            start = end
    if start < len(source):
        cells.append("".join(source[start:]))
    return cells


def one_session(cells: list[str]) -> list[float]:
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output
    from traitlets.config import Config

    from bnlint.ipython import SessionLinter

    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    InteractiveShell.clear_instance()
    shell = InteractiveShell.instance(config=config)
    linter = SessionLinter(shell)
    times = []
    for count, cell in enumerate(cells, start=1):
        shell.history_manager.store_inputs(count, cell, cell)
        start = time.perf_counter()
        with capture_output():
            linter.post_run_cell()
        times.append(time.perf_counter() - start)
    InteractiveShell.clear_instance()
    return times


def editor_check() -> float:
    from bnlint import engine
    from bnlint.config import Settings
    from bnlint.discovery import Input

    data = SCRIPT.read_bytes()
    start = time.perf_counter()
    engine.check_input(Input(SCRIPT, str(SCRIPT), "script"), Settings(), engine.Options(), data=data)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--results", type=Path, default=BENCH / "RESULTS-ipython.md")
    args = parser.parse_args()

    import tf_keras  # noqa: F401  the kernel's Keras, as after `import tf_keras as keras`

    cells = session_cells()
    lines = sum(cell.count("\n") for cell in cells)
    one_session(cells)                    # warm-up: imports, catalogue, bytecode
    sessions = [one_session(cells) for _ in range(args.rounds)]
    per_cell = [t for s in sessions for t in s]
    last = [s[-1] for s in sessions]
    editor_check()
    editor = [editor_check() for _ in range(args.rounds)]

    def ms(seconds: float) -> str:
        return f"{seconds * 1000:.1f} ms"

    load = os.getloadavg()
    rows = [
        "| measurement | runs | median | max | target | met |",
        "|---|---|---|---|---|---|",
        f"| post-run hook, every cell of a {lines}-line session ({len(cells)} cells) | {len(per_cell)} | "
        f"{ms(statistics.median(per_cell))} | {ms(max(per_cell))} | < 50 ms | "
        f"{'**yes**' if max(per_cell) < 0.05 else 'no'} |",
        f"| post-run hook, last cell (whole {lines}-line history) | {len(last)} | {ms(statistics.median(last))} | "
        f"{ms(max(last))} | < 50 ms | {'**yes**' if max(last) < 0.05 else 'no'} |",
        f"| editor check of train_400.py (one didChange) | {len(editor)} | {ms(statistics.median(editor))} | "
        f"{ms(max(editor))} | report | - |",
    ]
    header = (f"# IPython extension and editor check timings\n\n"
              f"`bench/ipython_cells.py --rounds {args.rounds}` on {platform.processor() or platform.machine()}, "
              f"{os.cpu_count()} cores, Python {platform.python_version()}, load average "
              f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}.\n\n")
    args.results.write_text(header + "\n".join(rows) + "\n")
    print(header + "\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
