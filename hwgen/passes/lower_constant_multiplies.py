"""Turn each weight product into the hardware that computes it.

`csd` (default) and `csd-per-weight`: a product `w * x` becomes one term per
canonical-signed-digit of `w`, each a shifted `x` added or subtracted: multiplierless
shift-add, at most ceil(bits/2) terms per weight (`csd` then shares the sums several
outputs have in common, `passes/share_subexpressions.py`). `dsp`: `w = m * 2**s` with `m` odd becomes one term `m * (x << s)`, one
hardware multiplier (a DSP block on FPGAs). Power-of-two weights are plain shifts in both
modes. Terms are ordered by input so that the digits of one weight are added first.
"""
from __future__ import annotations

import dataclasses

from ..ir.graph import Graph
from ..ir.rewrite import replacing, rewrite
from ..ir.term import Term
from ..ops import LinearSum
from ..options import MULT_MODES
from .csd import csd_digits


class LowerConstantMultiplies:
    name = "lower-constant-multiplies"

    def __init__(self, mult: str = "csd"):
        if mult not in MULT_MODES:
            raise ValueError(f"mult must be one of {', '.join(MULT_MODES)}, not {mult!r}")
        self.mult = mult

    def run(self, graph: Graph) -> Graph:
        return rewrite(graph, replacing(LinearSum, lambda n, src: dataclasses.replace(
            n, terms=[self._lower(col) for col in n.terms], mult=self.mult)))

    def _lower(self, col) -> tuple:
        out = []
        for t in sorted(col, key=lambda t: (t.source < 0, t.source)):
            if t.source < 0:
                out.append(t)                        # a constant needs no multiplier
            elif self.mult in ("csd", "csd-per-weight"):
                out += [Term(t.source, sign, t.shift + s) for s, sign in csd_digits(t.coeff)]
            else:
                s = (abs(t.coeff) & -abs(t.coeff)).bit_length() - 1   # trailing zeros
                out.append(Term(t.source, t.coeff >> s, t.shift + s))
        return tuple(out)
