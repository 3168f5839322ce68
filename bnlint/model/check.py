"""What one model rule sees: the graph, the Keras that runs it, BN modes, and finding helpers."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from bnlint.context import RuleContext
from bnlint.finding import Finding, Related, Severity
from bnlint.model.advice import with_target
from bnlint.model.applications import Match, identify
from bnlint.model.graph import Layer, ModelGraph
from bnlint.model.semantics import BNMode, bn_modes
from bnlint.target import KerasTarget


@dataclass
class ModelCheck:
    graph: ModelGraph
    target: KerasTarget
    ctx: RuleContext
    display_path: str
    _architectures: dict = field(default_factory=dict, repr=False)

    @cached_property
    def modes(self) -> list[BNMode]:
        return bn_modes(self.graph, self.target)

    def architecture(self, bn_layers: Iterable[Layer]) -> Match | None:
        """The keras.applications (or model zoo) architecture these BN layers come from, when confident."""
        names = tuple(sorted({layer.name for layer in bn_layers}))
        if names not in self._architectures:
            self._architectures[names] = identify(names, context=self._bn_names)
        return self._architectures[names]

    @cached_property
    def _bn_names(self) -> frozenset[str]:
        return frozenset(mode.layer.name for mode in self.modes)

    def finding(self, code: str, message: str, layers: Sequence[Layer], help: str, *,
                severity: Severity | None = None, architecture: Match | None = None,
                notes: Sequence[tuple[Layer, str]] = ()) -> Finding:
        """One finding located at `layers[0]` (its location counts the others); `notes` are other
        layers with what is wrong there."""
        related = tuple(Related(self.display_path, 1, 1, text, layer=layer.path) for layer, text in notes)
        return Finding(code=code, message=message, path=self.display_path, line=1, column=1,
                       severity=severity, layer=layers[0].path,
                       layers=tuple(layer.path for layer in layers) if len(layers) > 1 else (),
                       help=with_target(help, self.target), related=related,
                       link_keys=tuple(f"arch:{name}" for name in architecture.names) if architecture else ())
