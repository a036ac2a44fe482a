"""One addend of a lowered dense layer (`ops.linear_sum.LinearSum`)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Term:
    """One addend of a `LinearSum` output: `coeff * x[source] * 2**shift`, or with
    `source == -1` the constant `coeff * 2**shift` (a bias)."""

    source: int
    coeff: int
    shift: int

    @property
    def value(self) -> int:
        """The constant factor this term multiplies its input by (or its value)."""
        return self.coeff << self.shift
