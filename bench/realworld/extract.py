"""Rebuild the labelled real-world files from local snapshots of their repositories.

Other people's code is never committed here: only the labels (`labels/*.yaml`, see SCHEMA.md).
This script copies, for every labelled repository, the text files bnlint looks at (scripts,
notebooks and the files that pin a Keras version) at the labelled commit out of a local bare
snapshot (`/work/.mirror/<owner>+<name>/repo`, as brought by the search tool's `fetch`, or any
`git clone --bare`) into `bench/realworld/.cache/<owner>+<name>@<commit12>/`.

    python bench/realworld/extract.py [--mirrors DIR]

Entries whose repository has no snapshot are listed; their files can be placed by hand at the
same cache path (e.g. for repositories too large to clone).
"""
from __future__ import annotations

import argparse
import fnmatch
import pathlib
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
CACHE = HERE / ".cache"
# What bnlint reads besides the labelled file: project modules, notebooks and the pins.
PATTERNS = ["*.py", "*.ipynb", "requirements*.txt", "*.toml", "setup.cfg", "*.yml", "*.yaml", "Pipfile", "*.in"]


def load_labels() -> list[dict]:
    import yaml

    entries = []
    for path in sorted((HERE / "labels").glob("*.yaml")):
        for entry in yaml.safe_load(path.read_text()) or []:
            entry["_labels_file"] = path.name
            entries.append(entry)
    return entries


def checkout_dir(entry: dict) -> pathlib.Path:
    return CACHE / f"{entry['repo'].replace('/', '+')}@{str(entry['commit'])[:12]}"


def file_path(entry: dict) -> pathlib.Path:
    return checkout_dir(entry) / entry["path"]


def _git_dir(mirrors: pathlib.Path, repo: str) -> pathlib.Path | None:
    base = mirrors / repo.replace("/", "+")
    for candidate in (base / "repo" / ".git", base / "repo", base / ".git", base):
        if (candidate / "objects").is_dir():
            return candidate
    return None


def _wanted(path: str) -> bool:
    name = pathlib.PurePosixPath(path).name
    return any(fnmatch.fnmatch(name, pattern) for pattern in PATTERNS)


def extract(entry: dict, mirrors: pathlib.Path) -> str:
    target = checkout_dir(entry)
    if file_path(entry).exists():
        (target / ".git").mkdir(exist_ok=True)
        return "cached"
    git_dir = _git_dir(mirrors, entry["repo"])
    if git_dir is None:
        return "no snapshot"
    git = ["git", "--git-dir", str(git_dir)]
    listing = subprocess.run([*git, "ls-tree", "-r", "--format=%(objectname) %(path)", str(entry["commit"])],
                             capture_output=True, text=True)
    if listing.returncode != 0:
        return "git ls-tree failed: " + listing.stderr.strip()[:200]
    wanted = [line.split(" ", 1) for line in listing.stdout.splitlines()]
    wanted = [(sha, path) for sha, path in wanted if _wanted(path)]
    # Snapshots leave out files of 4 MiB and more: skip the objects that are not there.
    check = subprocess.run([*git, "cat-file", "--batch-check=%(objectname) %(objecttype)"],
                           input="".join(f"{sha}\n" for sha, _ in wanted), capture_output=True, text=True)
    present = {line.split()[0] for line in check.stdout.splitlines() if line.endswith(" blob")}
    for sha, path in wanted:
        if sha not in present:
            continue
        blob = subprocess.run([*git, "cat-file", "blob", sha], capture_output=True)
        out = target / path
        if blob.returncode != 0 or ".." in pathlib.PurePosixPath(path).parts:
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(blob.stdout)
    # The project ends here: bnlint looks for pins up to a folder holding `.git`, never above it.
    (target / ".git").mkdir(parents=True, exist_ok=True)
    return "extracted" if file_path(entry).exists() else "path not in commit (or over the snapshot's size limit)"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mirrors", default="/work/.mirror", type=pathlib.Path)
    args = parser.parse_args(argv)
    missing = 0
    for entry in load_labels():
        status = extract(entry, args.mirrors)
        if status not in ("cached", "extracted"):
            missing += 1
            print(f"{entry['id']}: {status} ({entry['repo']}@{entry['commit']}:{entry['path']})")
    print(f"{missing} entries without a file", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
