"""Model rule registry: one small module per rule, each with CODE, NEEDS_WEIGHTS and check()."""
from __future__ import annotations

from bnlint.model.rules import bn101, bn102, bn103, bn104, bn105, bn106, bn107

MODEL_RULES = (bn101, bn102, bn103, bn104, bn105, bn106, bn107)
