"""Exceptions that readers and analyzers raise; the engine turns each into one finding."""
from __future__ import annotations


class BnlintInputError(Exception):
    """The input could not be read or parsed: reported as BN900 with `reason`."""

    code = "BN900"

    def __init__(self, reason: str, line: int = 1, column: int = 1, cell: int | None = None):
        super().__init__(reason)
        self.reason = reason
        # where in the file (or notebook cell) the input broke, 1-based: a syntax error's position
        self.line, self.column, self.cell = line, column, cell


class NoKerasConfig(BnlintInputError):
    """The artifact holds no Keras model config (weights-only, Keras 3 export()): BN901."""

    code = "BN901"


class UsageError(Exception):
    """Bad command line or configuration: exit code 2."""
