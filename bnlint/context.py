"""What a rule may consult besides its input: enabled codes, the Keras target, limits."""
from __future__ import annotations

from dataclasses import dataclass, field

from bnlint.target import KerasTarget


@dataclass(frozen=True)
class Limits:
    """Resource caps for hostile input (configurable in [tool.bnlint])."""

    max_json_bytes: int = 256 * 1024 * 1024      # a model config larger than this is refused (BN900)
    max_member_bytes: int = 4 * 1024 * 1024 * 1024  # an uncompressed .keras member larger than this is refused
    max_nesting: int = 200                        # nested-model depth
    max_script_bytes: int = 64 * 1024 * 1024


@dataclass(frozen=True)
class RuleContext:
    # Codes the user enabled (after select/ignore/extend-select); rules and readers use it to
    # skip work (e.g. BN statistics are only read when BN105/BN106/BN107 are enabled).
    enabled: frozenset[str]
    # Explicit target from --target-keras or config `target-keras`; None = infer per file
    # (model: from its keras_version; script: project pins, then imports, then Keras 3).
    target: KerasTarget | None = None
    # Scripts whose target comes from the project's pins: the target per import root ("keras",
    # "tensorflow.keras", "tf_keras"); the script's own imports pick one (`target` is the default).
    pinned: dict = field(default_factory=dict)
    max_moving_variance: float = 1e4
    # BN107/BN007: largest share m**N the moving statistics may still give their starting values
    max_stale_bn_weight: float = 0.5
    limits: Limits = field(default_factory=Limits)

    def wants(self, *codes: str) -> bool:
        return any(c in self.enabled for c in codes)
