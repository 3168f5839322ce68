"""Settings from `[tool.bnlint]` (nearest pyproject.toml above a file) merged with the command line."""
from __future__ import annotations

import fnmatch
import functools
import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

from bnlint.context import Limits
from bnlint.errors import UsageError
from bnlint.target import KerasTarget, parse_target

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 only
    import tomli as tomllib

KEYS = {
    "select", "ignore", "extend-select", "per-file-ignores", "target-keras", "exclude",
    "max-moving-variance", "max-stale-bn-weight", "max-json-bytes", "max-member-bytes", "fail-on",
}
FAIL_ON = ("error", "warning", "info")
DEFAULT_EXCLUDE = (
    ".git", ".hg", ".svn", ".venv", "venv", ".tox", ".nox", "__pycache__", "node_modules",
    "site-packages", "build", "dist", ".ipynb_checkpoints", ".mypy_cache", ".pytest_cache", ".ruff_cache",
)


@dataclass(frozen=True)
class Selection:
    """select / extend-select / ignore as prefixes; the most specific matching prefix wins (ruff)."""

    select: tuple[str, ...] = ("BN",)
    extend_select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()

    def enabled(self, all_codes) -> frozenset[str]:
        def longest(prefixes, code):
            return max((len(p) for p in prefixes if code.startswith(p)), default=-1)

        return frozenset(
            c for c in all_codes
            if max(longest(self.select, c), longest(self.extend_select, c)) > longest(self.ignore, c)
        )


@dataclass(frozen=True)
class Settings:
    selection: Selection = field(default_factory=Selection)
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    exclude: tuple[str, ...] = ()
    target: KerasTarget | None = None
    max_moving_variance: float = 1e4
    max_stale_bn_weight: float = 0.5
    limits: Limits = field(default_factory=Limits)
    # Lowest severity that fails the run: info findings (BN006, BN104, BN901, ...) are shown but pass.
    fail_on: str = "warning"
    # Folder globs in per-file-ignores/exclude are relative to (the folder of the config file).
    root: Path = field(default_factory=Path.cwd)
    source: str | None = None  # the config file, for messages

    def ignored_for(self, path: Path) -> frozenset[str]:
        """Code prefixes per-file-ignores removes for `path`."""
        if not self.per_file_ignores:
            return frozenset()
        rel = _relative(path, self.root)
        out: set[str] = set()
        for pattern, codes in self.per_file_ignores:
            if _glob_match(rel, pattern) or _glob_match(path.name, pattern):
                out.update(codes)
        return frozenset(out)

    def excluded(self, path: Path) -> bool:
        if not self.exclude:
            return False
        rel = _relative(path, self.root)
        return any(_glob_match(rel, p) or _glob_match(path.name, p) for p in self.exclude)


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def _glob_match(rel: str, pattern: str) -> bool:
    pattern = pattern.rstrip("/")
    if fnmatch.fnmatchcase(rel, pattern) or fnmatch.fnmatchcase(rel, pattern.replace("**/", "")):
        return True
    # a folder pattern excludes everything below it
    return any(fnmatch.fnmatchcase("/".join(rel.split("/")[:i]), pattern) for i in range(1, rel.count("/") + 1))


def _codes(value, key: str, source: str, known) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError(f"{source}: [tool.bnlint] {key} must be a list of codes or prefixes")
    return validate_codes(value, f"{source}: {key}", known)


def validate_codes(values, where: str, known) -> tuple[str, ...]:
    out = []
    for v in values:
        code = v.strip().upper()
        if not code:
            continue
        if code == "ALL":
            code = "BN"
        if not any(k.startswith(code) for k in known):
            raise UsageError(f"{where}: unknown rule code or prefix {v!r} (see `bnlint rules`)")
        out.append(code)
    return tuple(out)


def parse_table(table: dict, source: str, known, base: Settings) -> Settings:
    """Validate one [tool.bnlint] table and merge it over `base`."""
    unknown = sorted(set(table) - KEYS)
    if unknown:
        raise UsageError(f"{source}: unknown key(s) in [tool.bnlint]: {', '.join(unknown)} (known: {', '.join(sorted(KEYS))})")
    s = base
    sel = s.selection
    if "select" in table:
        sel = replace(sel, select=_codes(table["select"], "select", source, known))
    if "extend-select" in table:
        sel = replace(sel, extend_select=_codes(table["extend-select"], "extend-select", source, known))
    if "ignore" in table:
        sel = replace(sel, ignore=_codes(table["ignore"], "ignore", source, known))
    s = replace(s, selection=sel)
    if "per-file-ignores" in table:
        pfi = table["per-file-ignores"]
        if not isinstance(pfi, dict):
            raise UsageError(f"{source}: per-file-ignores must be a table of glob = [codes]")
        s = replace(s, per_file_ignores=tuple(
            (glob, _codes(codes, f"per-file-ignores.{glob!r}", source, known)) for glob, codes in pfi.items()))
    if "exclude" in table:
        ex = table["exclude"]
        if not isinstance(ex, list) or not all(isinstance(v, str) for v in ex):
            raise UsageError(f"{source}: exclude must be a list of globs")
        s = replace(s, exclude=tuple(ex))
    if "target-keras" in table:
        if not isinstance(table["target-keras"], str):
            raise UsageError(f"{source}: target-keras must be a string such as \"tf2\" or \"2.2.4\"")
        try:
            s = replace(s, target=parse_target(table["target-keras"], source=f"target-keras in {source}"))
        except ValueError as e:
            raise UsageError(f"{source}: {e}") from None
    if "fail-on" in table:
        if table["fail-on"] not in FAIL_ON:
            raise UsageError(f"{source}: fail-on must be one of {', '.join(FAIL_ON)}")
        s = replace(s, fail_on=table["fail-on"])
    if "max-moving-variance" in table:
        v = table["max-moving-variance"]
        if not isinstance(v, (int, float)) or isinstance(v, bool) or v <= 0:
            raise UsageError(f"{source}: max-moving-variance must be a positive number")
        s = replace(s, max_moving_variance=float(v))
    if "max-stale-bn-weight" in table:
        v = table["max-stale-bn-weight"]
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 < v < 1:
            raise UsageError(f"{source}: max-stale-bn-weight must be a number between 0 and 1 (exclusive)")
        s = replace(s, max_stale_bn_weight=float(v))
    for key, attr in (("max-json-bytes", "max_json_bytes"), ("max-member-bytes", "max_member_bytes")):
        if key in table:
            v = table[key]
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise UsageError(f"{source}: {key} must be a positive integer")
            s = replace(s, limits=replace(s.limits, **{attr: v}))
    return s


def load_file(path: Path, known, base: Settings | None = None, require_table: bool = False) -> Settings | None:
    """Settings from one pyproject.toml (None when it has no [tool.bnlint] and that is allowed)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise UsageError(f"cannot read config {path}: {e.strerror or e}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: invalid TOML: {e}") from None
    table = data.get("tool", {}).get("bnlint")
    if table is None:
        # --config FILE may be a dedicated bnlint.toml with top-level keys
        if require_table and path.name != "pyproject.toml":
            table = data
        elif require_table:
            raise UsageError(f"{path}: no [tool.bnlint] table")
        else:
            return None
    if not isinstance(table, dict):
        raise UsageError(f"{path}: [tool.bnlint] must be a table")
    return parse_table(table, str(path), known, replace(base or Settings(), root=path.parent, source=str(path)))


class ConfigResolver:
    """Finds the settings for each file: nearest pyproject.toml with [tool.bnlint] above it."""

    def __init__(self, known, explicit: Path | None = None, use_files: bool = True):
        self.known = known
        self.use_files = use_files
        self.explicit = load_file(explicit, known, require_table=True) if explicit else None

    def for_path(self, path: Path) -> Settings:
        if self.explicit is not None:
            return self.explicit
        if not self.use_files:
            return Settings()
        folder = path.resolve()
        folder = folder if folder.is_dir() else folder.parent
        return self._for_folder(folder)

    @functools.lru_cache(maxsize=None)
    def _for_folder(self, folder: Path) -> Settings:
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            found = load_file(candidate, self.known)
            if found is not None:
                return found
        if folder.parent == folder:
            return Settings()
        return self._for_folder(folder.parent)


def env_output_format() -> str | None:
    return os.environ.get("BNLINT_OUTPUT_FORMAT") or None
