"""`LinearSum`: a dense layer lowered to terms, `out[j] = sum(terms[j])`, exactly, in
`type`'s codes (`ir.term.Term`: products and constants)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from amaranth.hdl import Const, Module, Signal

from ..ir.bounds import dense_bounds
from ..ir.types import INT64_SAFE, as_codes
from .base import Node, register
from .component import Layer, element_shape, ranged_signal


class LinearSumLayer(Layer):
    """Balanced adder trees of shifted (csd) or multiplied (dsp) inputs, exact widths."""

    def compute(self, m: Module) -> list:
        node = self.node
        x = self.inputs
        trees = node.trees
        signal_of: dict[int, object] = {}
        multiplies = node.multiplies
        for j, tree in enumerate(trees):
            for k, leaf in enumerate(tree.levels[0]):
                signal_of[id(leaf)] = self._leaf(m, leaf, x, f"p{j}_{k}", multiplies)
        level = 0
        if multiplies:
            level = 1
            self._restage(m, level, trees, 0, signal_of)
        for k in range(1, max(t.depth for t in trees) + 1):
            level += 1
            for j, tree in enumerate(trees):
                if k > tree.depth:
                    continue
                for i, n in enumerate(tree.levels[k]):
                    if n.a is not None and n.level == k:     # else carried up as is
                        a, b = signal_of[id(n.a)], signal_of[id(n.b)]
                        expr = b - a if n.sub == "a" else a - b if n.sub == "b" else a + b
                        signal_of[id(n)] = ranged_signal(m, expr, n.lo, n.hi, f"n{j}_{k}_{i}")
            self._restage(m, level, trees, k, signal_of)
        out = []
        for tree in trees:
            root = signal_of[id(tree.root)]
            out.append(-root if tree.root.neg else root)
        return out

    def _leaf(self, m, leaf, x, name, multiplies):
        t = leaf.term
        if t.source < 0:
            return Const(t.value, element_shape(t.value, t.value))
        if multiplies and abs(t.coeff) > 1:
            return ranged_signal(m, (x[t.source] * abs(t.coeff)) << t.shift, leaf.lo, leaf.hi,
                                 name)
        return x[t.source] << t.shift

    def _restage(self, m, level, trees, k, signal_of):
        """Register the frontier of every tree after tree level `k`, if scheduled."""
        if level not in self.node.register_after:
            return
        frontier = [n for tree in trees for n in tree.levels[min(k, tree.depth)]
                    if not isinstance(signal_of[id(n)], Const)]   # constants need no timing
        values = [signal_of[id(n)] for n in frontier]
        values = [v if isinstance(v, Signal) else ranged_signal(m, v, n.lo, n.hi, f"l{level}_{i}")
                  for i, (v, n) in enumerate(zip(values, frontier))]
        regs = self.stage(m, level, values)
        for n, r in zip(frontier, regs):
            signal_of[id(n)] = r


@register
@dataclass(eq=False, frozen=True)
class LinearSum(Node):
    """`mult` says how the products are built: "generic" (one term per non-zero weight),
    "csd" (each term a signed power of two: a shift, added or subtracted) or "dsp" (each
    term an odd constant times a shifted input: one hardware multiplier, or a shift when
    the constant is 1). `trees` holds one `adder_tree.Tree` per output once widths are
    inferred. `passes.fold_layers` replaces a folded one by a `FoldedLinearSum`
    (`linear_sum_folded.py`)."""

    terms: list = field(default=None, repr=False)     # per output: tuple[Term, ...]
    mult: str = "generic"
    trees: list | None = field(default=None, repr=False)
    op = "linear_sum"

    @property
    def multiplies(self) -> bool:
        """Whether some product needs a hardware multiplier (a level of its own)."""
        return self.mult == "dsp" and any(abs(t.coeff) > 1 and t.source >= 0
                                          for col in self.terms for t in col)

    def matrix(self, n_in: int) -> tuple[np.ndarray, np.ndarray]:
        """(effective weights [n_in, out] and constants [out]) as Python ints."""
        w = np.zeros((n_in, len(self.terms)), dtype=object)
        c = np.zeros(len(self.terms), dtype=object)
        for j, terms in enumerate(self.terms):
            for t in terms:
                if t.source < 0:
                    c[j] += t.value
                else:
                    w[t.source, j] += t.value
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
        depth = max(t.depth for t in self.trees)
        return depth + (1 if self.multiplies else 0)

    def stats(self):
        """Every product that is left (pruned weights have no term) counts as a weight,
        a non-zero weight and a multiply-accumulate."""
        products = len({(t.source, j) for j, col in enumerate(self.terms) for t in col
                        if t.source >= 0})
        return products, products, products

    def details(self):
        terms = sum(len(c) for c in self.terms)
        lines = [f"{self.mult} terms={terms} (products and constants)"]
        if self.trees:
            acc = [t.root.type.width for t in self.trees]
            lines.append(f"adder trees: {sum(t.adders for t in self.trees)} adders, "
                         f"depth {max(t.depth for t in self.trees)}, accumulators "
                         f"{min(acc)}..{max(acc)} bits")
        return lines

    def component(self, src):
        """Balanced adder trees at full rate."""
        return LinearSumLayer(self, src)

    def hls_precision(self):
        return None, (f"layer {self.layer} ({self.op}: hwgen folds it exactly; hls4ml "
                      "computes it in its own rounded arithmetic)")

    def manifest_fields(self):
        return {"mult": self.mult, "terms": sum(len(c) for c in self.terms),
                "adders": sum(t.adders for t in self.trees),
                "multipliers": sum(1 for c in self.terms for t in c
                                   if t.source >= 0 and abs(t.coeff) > 1)}

    def problems(self, src):
        out = [] if len(self.terms) == self.size else \
            [f"{len(self.terms)} term lists for {self.size} outputs"]
        if any(t.source >= src.size for col in self.terms for t in col):
            out.append(f"a term reads beyond the input's {src.size} elements")
        if self.trees is not None and len(self.trees) != self.size:
            out.append(f"{len(self.trees)} adder trees for {self.size} outputs")
        return out


