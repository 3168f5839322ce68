"""The one finding type both analyzers emit, and the pieces a finding carries.

Positions are 1-based everywhere, columns in characters (the stdlib AST's 0-based byte
offsets are converted by the script analyzer before a Finding is built). Model findings use line 1,
column 1 and carry the layer path instead; a notebook finding's line and column are inside its cell.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Higher is more severe (used for sorting and --fail-on style thresholds)."""
        return {"info": 0, "warning": 1, "error": 2}[self.value]

    def lower(self) -> "Severity":
        """One level less severe (info stays info)."""
        return {"error": Severity.WARNING, "warning": Severity.INFO, "info": Severity.INFO}[self.value]


class Applicability(str, enum.Enum):
    """ruff's fix applicability: safe fixes apply with --fix, unsafe ones need --unsafe-fixes."""

    SAFE = "safe"
    UNSAFE = "unsafe"


@dataclass(frozen=True)
class Edit:
    """Replace the text between two 1-based positions (end exclusive) with `content`."""

    content: str
    line: int
    column: int
    end_line: int
    end_column: int


@dataclass(frozen=True)
class Fix:
    """A fix on offer: its title (`message`), how safe it is, and the codemod that makes it.

    A plain check only decides that a fix exists (rules hand the codemod positions and names,
    `params`); the edits are computed by running the codemod (bnlint/script/fixes/, libcst), which
    happens only for `--fix`, `--diff`, reports that carry edits (JSON, SARIF) and editor code
    actions. Until then `edits` is empty."""

    message: str
    edits: tuple[Edit, ...] = ()
    applicability: Applicability = Applicability.SAFE
    codemod: str | None = None       # module name under bnlint/script/fixes/ ("bn003")
    params: tuple = ()               # ((name, value), ...): plain data (positions, names, code text)


@dataclass(frozen=True)
class Related:
    """Another place that explains a finding (e.g. the script line that built a model), shown as a
    `note:`. It is located like a finding: a notebook note has its cell, a model note its layer."""

    path: str
    line: int
    column: int = 1
    message: str = ""
    end_line: int | None = None
    end_column: int | None = None
    cell: int | None = None          # notebook code-cell number the position is in (editors need it)
    layer: str | None = None         # model notes: the layer the note is about


@dataclass(frozen=True)
class Finding:
    code: str
    message: str
    path: str
    line: int = 1
    column: int = 1
    end_line: int | None = None
    end_column: int | None = None
    # None = the catalogue's default severity for `code` (the engine fills it in).
    severity: Severity | None = None
    cell: int | None = None          # 1-based notebook code-cell number (line/column are inside it)
    layer: str | None = None         # model findings: "resnet50/conv1_bn"
    # Model findings: every layer the finding is about, `layer` first (the text location says
    # "layer 'conv1_bn' (and 52 more)"). Empty when it is about `layer` alone.
    layers: tuple[str, ...] = ()
    help: str | None = None          # the fix advice for the user's Keras version (text `help:` line)
    fix: Fix | None = None
    related: tuple[Related, ...] = ()
    # Script findings: first line of the statement that holds the finding, so a
    # `# noqa` on the first line of a multi-line statement suppresses it (ruff does the same).
    statement_line: int | None = None
    # Model findings: names that let the engine link a model finding to the script line that
    # built the model (architecture, base layer names). Not shown to users.
    link_keys: tuple[str, ...] = field(default=(), compare=False)

    def with_(self, **changes) -> "Finding":
        return replace(self, **changes)

    @property
    def sort_key(self):
        return (self.path, self.cell or 0, self.line, self.column, self.code, self.layer or "")
