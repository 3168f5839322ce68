"""Which inputs a command line names: scripts, notebooks, model files and SavedModel folders."""
from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from pathlib import Path

SCRIPT_SUFFIXES = {".py", ".pyi"}
NOTEBOOK_SUFFIXES = {".ipynb"}
MODEL_SUFFIXES = {".h5", ".hdf5", ".keras"}
SAVED_MODEL_FILE = "saved_model.pb"


@dataclass(frozen=True)
class Input:
    path: Path           # a file, or a SavedModel folder
    display: str         # as the user should see it (relative to how it was given)
    kind: str            # "script" | "notebook" | "model" | "missing" | "unsupported" | "unreadable"
    explicit: bool = False
    reason: str = ""     # for missing/unsupported/unreadable

    @property
    def is_script(self) -> bool:
        return self.kind in ("script", "notebook")


def kind_of_file(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in SCRIPT_SUFFIXES:
        return "script"
    if suffix in NOTEBOOK_SUFFIXES:
        return "notebook"
    if suffix in MODEL_SUFFIXES:
        return "model"
    return "unsupported"


def is_saved_model_dir(path: Path) -> bool:
    return (path / SAVED_MODEL_FILE).is_file() or (path / "keras_metadata.pb").is_file()


class GitIgnore:
    """The subset of .gitignore that matters here: globs, `**`, leading `/`, trailing `/`, `!`."""

    def __init__(self, folder: Path, lines):
        self.folder = folder
        self.rules = []
        for raw in lines:
            line = raw.rstrip("\n").rstrip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            line = line[1:] if negate else line
            dir_only = line.endswith("/")
            line = line.strip("/") if dir_only else line
            anchored = line.startswith("/") or "/" in line
            self.rules.append((line.lstrip("/"), negate, dir_only, anchored))

    @classmethod
    def load(cls, folder: Path) -> "GitIgnore | None":
        try:
            with open(folder / ".gitignore", encoding="utf-8", errors="replace") as f:
                return cls(folder, f.readlines())
        except OSError:
            return None

    def ignored(self, path: Path, is_dir: bool) -> bool | None:
        """True/False when a rule decides, None when none matches."""
        rel = os.path.relpath(path, self.folder).replace(os.sep, "/")
        decision = None
        for pattern, negate, dir_only, anchored in self.rules:
            if dir_only and not is_dir:
                continue
            if anchored:
                hit = fnmatch.fnmatchcase(rel, pattern) or fnmatch.fnmatchcase(rel, pattern.replace("**/", ""))
            else:
                hit = fnmatch.fnmatchcase(path.name, pattern)
            if hit:
                decision = not negate
        return decision


def _hidden_or_tooling(path: Path) -> bool:
    name = path.name
    if name.startswith(".") and name not in (".", ".."):
        return True
    return name in ("__pycache__", "node_modules", "site-packages", ".ipynb_checkpoints") or (path / "pyvenv.cfg").is_file()


def _display(path: Path, given: str, given_path: Path) -> str:
    if path == given_path:
        return given
    rel = path.relative_to(given_path).as_posix()
    return rel if given in (".", "./") else f"{given.rstrip('/')}/{rel}"


def discover(paths: list[str], excluded=lambda p: False) -> list[Input]:
    """Expand the command line into inputs, in a stable order, without descending into
    SavedModel folders, hidden folders, virtualenvs or .gitignore'd paths (the walk guards
    against symlink loops by remembering resolved folders)."""
    out: list[Input] = []
    seen: set[Path] = set()

    def add(item: Input):
        key = item.path.resolve() if item.kind not in ("missing",) else item.path
        if key not in seen:
            seen.add(key)
            out.append(item)

    for given in paths or ["."]:
        p = Path(given)
        if p.name == SAVED_MODEL_FILE and p.is_file():
            # pre-commit passes saved_model.pb: it means its folder
            folder = p.parent
            if not excluded(folder):
                add(Input(folder, str(folder) if str(folder) != "." else ".", "model", explicit=True))
            continue
        if not os.path.lexists(p):
            add(Input(p, given, "missing", explicit=True, reason="no such file or directory"))
            continue
        if p.is_dir():
            if is_saved_model_dir(p):
                if not excluded(p):
                    add(Input(p, given, "model", explicit=True))
                continue
            _walk(p, given, add, excluded)
            continue
        if not p.exists():
            add(Input(p, given, "unreadable", explicit=True, reason="broken symbolic link"))
            continue
        if excluded(p):
            continue
        kind = kind_of_file(p)
        reason = "not a Python script, notebook or Keras model file (.py, .ipynb, .h5, .hdf5, .keras, SavedModel)" if kind == "unsupported" else ""
        add(Input(p, given, kind, explicit=True, reason=reason))
    return out


def _walk(root: Path, given: str, add, excluded) -> None:
    visited: set[tuple[int, int]] = set()
    stack: list[tuple[Path, tuple[GitIgnore, ...]]] = [(root, ())]
    while stack:
        folder, ignores = stack.pop()
        try:
            st = folder.stat()
        except OSError as e:
            add(Input(folder, _display(folder, given, root), "unreadable", reason=e.strerror or str(e)))
            continue
        if (st.st_dev, st.st_ino) in visited:  # symlink loop or a folder reached twice
            continue
        visited.add((st.st_dev, st.st_ino))
        own = GitIgnore.load(folder)
        ignores = ignores + (own,) if own else ignores
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as e:
            add(Input(folder, _display(folder, given, root), "unreadable", reason=f"cannot list folder: {e.strerror or e}"))
            continue
        subfolders = []
        for entry in entries:
            path = Path(entry.path)
            try:
                is_dir = entry.is_dir()
            except OSError:
                continue
            if _hidden_or_tooling(path) if is_dir else entry.name.startswith("."):
                continue
            if _git_ignored(ignores, path, is_dir) or excluded(path):
                continue
            if is_dir:
                if is_saved_model_dir(path):
                    add(Input(path, _display(path, given, root), "model"))
                else:
                    subfolders.append((path, ignores))
                continue
            kind = kind_of_file(path)
            if kind != "unsupported":
                add(Input(path, _display(path, given, root), kind))
        stack.extend(reversed(subfolders))


def _git_ignored(ignores, path: Path, is_dir: bool) -> bool:
    decision = False
    for ig in ignores:  # deeper .gitignore files override shallower ones
        d = ig.ignored(path, is_dir)
        if d is not None:
            decision = d
    return decision
