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
import io
import pathlib
import subprocess
import sys
import tarfile

HERE = pathlib.Path(__file__).resolve().parent
CACHE = HERE / ".cache"
# What bnlint reads besides the labelled file: project modules, notebooks and the pins.
PATTERNS = ["*.py", "*.ipynb", "requirements*.txt", "*.toml", "setup.cfg", "environment*.yml",
            "environment*.yaml", "Pipfile", "*.in"]


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
    for candidate in (base / "repo", base):
        if (candidate / "objects").is_dir() or (candidate / ".git").is_dir():
            return candidate
    return None


def extract(entry: dict, mirrors: pathlib.Path) -> str:
    target = checkout_dir(entry)
    if file_path(entry).exists():
        return "cached"
    git_dir = _git_dir(mirrors, entry["repo"])
    if git_dir is None:
        return "no snapshot"
    pathspecs = [f":(glob)**/{pattern}" for pattern in PATTERNS]
    result = subprocess.run(["git", "--git-dir", str(git_dir), "archive", "--format=tar", str(entry["commit"]),
                             "--", *pathspecs], capture_output=True)
    if result.returncode != 0:
        return "git archive failed: " + result.stderr.decode(errors="replace").strip()[:200]
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(result.stdout)) as archive:
        members = [m for m in archive.getmembers() if m.isfile() and m.size < 20_000_000]
        archive.extractall(target, members=members, filter="data")
    return "extracted" if file_path(entry).exists() else "path not in commit"


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
