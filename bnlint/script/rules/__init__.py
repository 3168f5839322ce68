"""Script rules: one module per rule, each `check(facts, target)` yielding `Report`s.

Adding a rule: write `bnNNN_what_it_finds.py` with `CODE` and `check(facts, target)`; read only
`Facts` (collector.py gathers them; add a fact there if the rule needs one), put shared questions in
`common.py`, register the module below, and add `rules/BNNNN.yaml` whose `bad`/`good` examples
tests/test_script_catalogue.py runs.
"""
from __future__ import annotations

from bnlint.script.rules import (
    bn001_flattened_frozen_base,
    bn002_unfrozen_bn,
    bn003_base_call_without_training_false,
    bn004_trainable_after_compile,
    bn005_learning_phase_training,
    bn006_missing_preprocess_input,
    bn007_too_few_bn_updates,
)

RULES = {
    module.CODE: module.check
    for module in (
        bn001_flattened_frozen_base, bn002_unfrozen_bn, bn003_base_call_without_training_false,
        bn004_trainable_after_compile, bn005_learning_phase_training, bn006_missing_preprocess_input,
        bn007_too_few_bn_updates,
    )
}
