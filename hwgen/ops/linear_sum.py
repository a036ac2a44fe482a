"""`LinearSum`: a dense layer lowered to terms, `out[j] = sum(terms[j])`, exactly, in
`type`'s codes (`ir.term.Term`: products and constants)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from amaranth.hdl import Const, Module

from ..ir.bounds import dense_bounds
from ..ir.types import INT64_SAFE, as_codes
from .base import Node, register
from .component import Layer, element_shape, ranged_signal


class LinearSumLayer(Layer):
    """The layer's adder graph (`ir/adder_graph.py`) level by level: shifted (csd) or
    multiplied (dsp) inputs, shared sums once, exact widths; after each level the schedule
    registers, only the values a later level or an output still reads."""

    def compute(self, m: Module) -> list:
        graph = self.node.graph
        x = self.inputs
        signal_of: dict[int, object] = {}
        by_level: dict[int, list] = {}
        for n in graph.nodes:
            if n.is_constant:
                signal_of[id(n)] = Const(n.value, element_shape(n.value, n.value))
            elif not n.is_adder and n.factor == 1:
                signal_of[id(n)] = x[n.source]
            else:
                by_level.setdefault(n.level, []).append(n)
        # Every adder's sum is kept as a signal of its own: otherwise Yosys's alumacc
        # merges each chain of single-use adds into one multi-operand `$macc`, mapped as
        # a compressor tree that costs more logic than the carry-chain adders it replaces
        # and turns a free constant add into a full-width one. Measured on the real QKeras
        # tagger: xc7 29,741 -> 27,447 LUTs (CARRY4 6,431 -> 9,290), ECP5 25.5k LUT4 +
        # 12.5k CCU2C -> 9.2k + 17.8k (50.5k -> 44.9k LUT slots); digits_mlp_pruned on
        # the ASIC 55.3k -> 48.5k NAND2 equivalents.
        for level in range(1, graph.depth + 1):
            for n in by_level.get(level, ()):
                if n.is_adder:
                    a, b = (_edge(signal_of, r) for r in (n.a, n.b))
                    expr = b - a if n.a.subtracts else a - b if n.b.subtracts else a + b
                else:                                  # a dsp product
                    expr = x[n.source] * n.factor
                signal_of[id(n)] = ranged_signal(m, expr, n.lo, n.hi, n.name, keep=True)
            if level in self.node.register_after:
                live = graph.live_after(level)
                regs = self.stage(m, level, [signal_of[id(n)] for n in live])
                for n, r in zip(live, regs):
                    signal_of[id(n)] = r
        out = []
        for r in graph.outputs:
            v = _edge(signal_of, r)
            out.append(-v if r.neg else v)
        return out


def _edge(signal_of, ref):
    """The node a graph edge reads, its bits flipped in offset binary, shifted (a raw
    edge's sign is the reader's business). An offset-binary read takes the node's width
    of the signal: an input's signal may be wider than the range it holds."""
    v = signal_of[id(ref.node)]
    if ref.offset_binary:
        v = v[:ref.node.type.width]
        v = v ^ ref.mask if ref.mask else v
    return v << ref.shift if ref.shift else v


@register
@dataclass(eq=False, frozen=True)
class LinearSum(Node):
    """`mult` says how the products are built: "generic" (one term per non-zero weight),
    "csd" (each term a signed power of two: a shift, added or subtracted, with sums that
    several outputs share computed once: `shared`), "csd-per-weight" (the same digits,
    every output on its own) or "dsp" (each term an odd constant times a shifted input:
    one hardware multiplier, or a shift when the constant is 1). A term's source at or
    beyond the input size `n` is the shared sum `shared[source - n]`, a pair of terms over
    earlier sources (`ir/cmvm.py`). `graph` is the `adder_graph.AdderGraph` once widths
    are inferred. `passes.fold_layers` replaces a folded one by a `FoldedLinearSum`
    (`linear_sum_folded.py`)."""

    terms: list = field(default=None, repr=False)     # per output: tuple[Term, ...]
    mult: str = "generic"
    shared: tuple = ()                                # (Term, Term) per shared sum
    n_in: int = 0                                     # the input size, with `shared`
    graph: object = field(default=None, repr=False)
    op = "linear_sum"

    @property
    def multiplies(self) -> bool:
        """Whether some product needs a hardware multiplier (a level of its own)."""
        return self.mult == "dsp" and any(abs(t.coeff) > 1 and t.source >= 0
                                          for col in self.terms for t in col)

    def expanded(self, n_in: int) -> list[dict[int, int]]:
        """Per output, its weight on each input (shared sums expanded; zeros left out)."""
        basis = [{i: 1} for i in range(n_in)]
        for ta, tb in self.shared:
            v: dict[int, int] = {}
            for t in (ta, tb):
                for i, c in basis[t.source].items():
                    v[i] = v.get(i, 0) + t.value * c
            basis.append(v)
        cols = []
        for terms in self.terms:
            col: dict[int, int] = {}
            for t in terms:
                if t.source >= 0:
                    for i, k in basis[t.source].items():
                        col[i] = col.get(i, 0) + t.value * k
            cols.append({i: c for i, c in col.items() if c})
        return cols

    def matrix(self, n_in: int) -> tuple[np.ndarray, np.ndarray]:
        """(effective weights [n_in, out] and constants [out]) as Python ints, shared sums
        expanded."""
        w = np.zeros((n_in, len(self.terms)), dtype=object)
        c = np.zeros(len(self.terms), dtype=object)
        for j, (col, terms) in enumerate(zip(self.expanded(n_in), self.terms)):
            for i, k in col.items():
                w[i, j] = k
            c[j] = sum(t.value for t in terms if t.source < 0)
        return w, c

    def evaluate(self, src, x):
        x = x.reshape(x.shape[0], -1)
        w, c = self.matrix(x.shape[1])
        lo, hi = dense_bounds(w, c, src.type.min_code, src.type.max_code, 0, 0, 0, 0)
        shape = (x.shape[0],) + tuple(self.shape)      # a lowered conv keeps its image
        if max(-int(lo.min()), int(hi.max())) < INT64_SAFE and x.dtype != object \
                and max(abs(int(v)) for v in list(w.ravel()) + [0]) < INT64_SAFE:
            return (x.astype(np.int64) @ w.astype(np.int64) + c.astype(np.int64)).reshape(shape)
        return as_codes(x.astype(object) @ w + c).reshape(shape)

    def interval(self, src):
        w, c = self.matrix(src.size)
        lo, hi = dense_bounds(w, c, src.lo, src.hi, 0, 0, 0, 0)
        return lo.reshape(self.shape), hi.reshape(self.shape)

    def logic_levels(self) -> int:
        return self.graph.depth

    def stats(self):
        """Every product that is left (pruned weights have no term) counts as a weight,
        a non-zero weight and a multiply-accumulate."""
        n_in = self.n_in if self.shared else \
            max([t.source + 1 for col in self.terms for t in col] + [0])
        products = sum(len(col) for col in self.expanded(n_in))
        return products, products, products

    def details(self):
        terms = sum(len(c) for c in self.terms)
        lines = [f"{self.mult} terms={terms} (products and constants)"
                 + (f", {len(self.shared)} shared sums" if self.shared else "")]
        if self.graph:
            acc = [r.node.type.width + r.shift for r in self.graph.outputs]
            lines.append(f"adder graph: {self.graph.adders} adders, depth "
                         f"{self.graph.depth}, accumulators {min(acc)}..{max(acc)} bits")
        return lines

    def component(self, src):
        """The adder graph at full rate."""
        return LinearSumLayer(self, src)

    def hls_precision(self):
        return None, (f"layer {self.layer} ({self.op}: hwgen folds it exactly; hls4ml "
                      "computes it in its own rounded arithmetic)")

    def manifest_fields(self):
        return {"mult": self.mult, "terms": sum(len(c) for c in self.terms),
                "shared_sums": len(self.shared), "adders": self.graph.adders,
                "multipliers": self.graph.products}

    def problems(self, src):
        out = [] if len(self.terms) == self.size else \
            [f"{len(self.terms)} term lists for {self.size} outputs"]
        if self.shared and self.n_in != src.size:
            out.append(f"shared sums counted from {self.n_in} inputs, not {src.size}")
        n = src.size + len(self.shared)
        if any(t.source >= n for col in self.terms for t in col):
            out.append(f"a term reads beyond the input's {src.size} elements and "
                       f"{len(self.shared)} shared sums")
        for k, pair in enumerate(self.shared):
            if any(not 0 <= t.source < src.size + k for t in pair):
                out.append(f"shared sum {k} reads a source that is not an input or an "
                           "earlier shared sum")
        if self.graph is not None and len(self.graph.outputs) != self.size:
            out.append(f"{len(self.graph.outputs)} adder graph outputs for {self.size} "
                       "outputs")
        return out
