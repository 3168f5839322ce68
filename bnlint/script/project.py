"""Where a script's project-local imports live (without importing or executing anything).

`from models import build` resolves like Python would for a script run from its folder or from
the project root: the script's folder, then each folder above it up to the project root (a folder
holding `.git`, `pyproject.toml`, `setup.py` or `setup.cfg`; at most `MAX_LEVELS_UP`; without one, only
the packages the script sits in; never an installed environment), then folders the
script adds with a literal `sys.path.append("...")` / `sys.path.insert(0, "...")`. Relative imports
(`from .nets import x`) resolve against the importing module's package.
"""
from __future__ import annotations

import functools
import pathlib
import re

from bnlint.errors import BnlintInputError
from bnlint.script.chunks import ParsedSource, parse_python
from bnlint.script.source import decode_script

MAX_LEVELS_UP = 3
_ROOT_MARKERS = (".git", "pyproject.toml", "setup.py", "setup.cfg")
_ENVIRONMENTS = ("site-packages", "dist-packages")
_SYS_PATH = re.compile(r"""sys\.path\.(?:append|insert)\(\s*(?:\d+\s*,\s*)?[rbu]?["']([^"'\n]+)["']\s*\)""")


@functools.lru_cache(maxsize=256)
def search_folders(script_folder: pathlib.Path) -> tuple[pathlib.Path, ...]:
    """The script's folder and the folders above it up to the project root (a root marker within
    MAX_LEVELS_UP); without one, only the packages (`__init__.py`) the script sits in. Never an
    installed environment (`site-packages`)."""
    folders = [script_folder]
    parents = [p for p in list(script_folder.parents)[:MAX_LEVELS_UP]]
    if any((script_folder / marker).exists() for marker in _ROOT_MARKERS):
        return tuple(folders)
    root = next((i for i, p in enumerate(parents) if any((p / m).exists() for m in _ROOT_MARKERS)), None)
    for index, parent in enumerate(parents):
        if parent.name in _ENVIRONMENTS:
            break
        if root is not None:
            folders.append(parent)
            if index == root:
                break
        elif (folders[-1] / "__init__.py").exists():
            folders.append(parent)
        else:
            break
    return tuple(folders)


def sys_path_folders(text: str, script_folder: pathlib.Path) -> tuple[pathlib.Path, ...]:
    """Folders a script puts on sys.path with a literal string (relative to its folder)."""
    found = []
    for match in _SYS_PATH.finditer(text):
        folder = pathlib.Path(match.group(1))
        if not folder.is_absolute():
            folder = script_folder / folder
        elif not folder.is_dir():
            # another machine's checkout of this project (a Colab drive, a home folder): the
            # longest tail of the path that exists in this project
            folder = _in_this_project(folder, script_folder) or folder
        found.append(folder)
    return tuple(found)


def _in_this_project(folder: pathlib.Path, script_folder: pathlib.Path) -> pathlib.Path | None:
    parts = folder.parts[1:]
    for length in range(len(parts), 0, -1):
        for root in search_folders(script_folder):
            candidate = root.joinpath(*parts[-length:])
            if candidate.is_dir():
                return candidate
    return None


def module_candidates(importer: pathlib.Path, module: str, level: int,
                      extra_folders: tuple[pathlib.Path, ...] = ()) -> tuple[pathlib.Path, ...]:
    """Files that `from <module> import ...` (with `level` leading dots) in `importer` may mean."""
    if not module:
        return ()
    return _candidates(importer.parent, module, level, extra_folders)


@functools.lru_cache(maxsize=4096)
def _candidates(importer_folder: pathlib.Path, module: str, level: int,
                extra_folders: tuple[pathlib.Path, ...]) -> tuple[pathlib.Path, ...]:
    # The files of a tree import the same modules from the same folders: computed once each.
    relative = pathlib.Path(*module.split("."))
    if level:
        folder = importer_folder
        for _ in range(level - 1):
            folder = folder.parent
        roots: tuple[pathlib.Path, ...] = (folder,)
    else:
        roots = (*search_folders(importer_folder), *extra_folders)
    candidates = []
    for root in roots:
        candidates += [root / relative.with_suffix(".py"), root / relative / "__init__.py"]
    return tuple(candidates)


def read_project_module(path: pathlib.Path) -> tuple[str, ParsedSource] | None:
    """A project module's text and its parsed statements that can matter; None if it cannot be
    read or parsed. Parsed once per version of the file: in a tree, many files import the same
    module (the interpreter still runs it for each importer, whose facts it adds to)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return _read_module(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=64)
def _read_module(path: pathlib.Path, mtime_ns: int, size: int) -> tuple[str, ParsedSource] | None:
    try:
        text = decode_script(path.read_bytes()).text
        return text, parse_python(text, external=True)
    except (OSError, BnlintInputError, RecursionError, SyntaxError, ValueError):
        return None
