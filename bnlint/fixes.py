"""Writing fixed files without ever losing data, and showing fixes as a diff."""
from __future__ import annotations

import os
import stat
from pathlib import Path


class FileChanged(Exception):
    """The file on disk is no longer what bnlint read: refuse to overwrite it."""


def write_atomically(path: Path, original: bytes, new: bytes) -> None:
    """Replace `path` with `new` via a temp file in the same folder and os.replace, keeping the
    file mode; refuse when the file changed since it was read."""
    with open(path, "rb") as f:
        if f.read() != original:
            raise FileChanged(f"{path} changed while bnlint was fixing it; left unchanged")
    mode = stat.S_IMODE(os.stat(path).st_mode)
    import tempfile  # only when writing fixes: a plain check never pays for it

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".bnlint-tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(new)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def unified_diff(display: str, original: bytes, new: bytes) -> str:
    a = original.decode("utf-8", errors="replace").splitlines(keepends=True)
    b = new.decode("utf-8", errors="replace").splitlines(keepends=True)
    import difflib  # only for --diff

    lines = list(difflib.unified_diff(a, b, fromfile=f"a/{display}", tofile=f"b/{display}"))
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)
