"""`bnlint server`: the Language Server Protocol over stdio, for editors (pygls, `bnlint[lsp]`).

documents.py turns what an editor has open (a Python buffer, a notebook's cells) into the input
the engine checks and maps findings back to editor positions; server.py is the pygls server.
Findings come from bnlint.engine.check_input with the settings bnlint.config resolves for the
file, exactly as on the command line.
"""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    try:
        import pygls  # noqa: F401
    except ImportError:
        sys.stderr.write("bnlint: error: `bnlint server` needs pygls: pip install 'bnlint[lsp]'\n")
        return 2
    from bnlint.lsp.server import serve

    return serve(argv or [])
