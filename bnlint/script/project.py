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
                      extra_folders: tuple[pathlib.Path, ...] = ()) -> list[pathlib.Path]:
    """Files that `from <module> import ...` (with `level` leading dots) in `importer` may mean."""
    if not module:
        return []
    relative = pathlib.Path(*module.split("."))
    if level:
        folder = importer.parent
        for _ in range(level - 1):
            folder = folder.parent
        roots: tuple[pathlib.Path, ...] = (folder,)
    else:
        roots = (*search_folders(importer.parent), *extra_folders)
    candidates = []
    for root in roots:
        candidates += [root / relative.with_suffix(".py"), root / relative / "__init__.py"]
    return candidates
