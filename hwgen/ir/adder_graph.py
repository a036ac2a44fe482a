"""The adder graph of one `LinearSum`: every output's sum, shared sums once, exact widths.

Leaves are the layer's inputs (level 0), constant terms, and in `dsp` mode products of an
input and an odd constant (one multiplier each, level 1, shared by every output that uses
the same one). A shared sum (`LinearSum.shared`, from `ir/cmvm.py`) is one adder over two
earlier nodes. Each output then adds its remaining terms as soon as they are ready: at
level k, the terms ready by level k - 1 are paired by size, smallest with next smallest
(an odd one out waits), so all-input outputs get the balanced tree of ceil(log2 n)
levels and a term that is a deep shared sum joins late instead of deepening the rest.

Signs and shifts travel on the edges (`Ref`), not in the nodes: a node stores
`+-(a << sa) +- (b << sb)` with min(sa, sb) = 0 (a common shift moves onto the edges that
read it, so no adder carries constant zero bits) and never both operands negated (then it
stores their sum and its readers subtract it), so no negation costs an adder except an
output whose every term is negative.

Widths are exact: a node's stored value is `sum(c[i] * x[i]) + const` over the distinct
inputs it depends on, so its range over independent inputs with code bounds [lo_i, hi_i]
is attained, and the signal is exactly as wide as that range needs.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .term import Term
from .types import FixedType


@dataclass(eq=False)
class AddNode:
    """A leaf (input `source`, times `factor` for a product; or the constant `value`) or an
    adder `a + b` of two signed, shifted nodes. `lo`/`hi` bound the stored value."""

    lo: int
    hi: int
    level: int
    coeffs: dict = field(default_factory=dict, repr=False)   # input -> coefficient
    const: int = 0
    source: int = -1
    factor: int = 1
    value: int | None = None
    a: "Ref | None" = None
    b: "Ref | None" = None
    name: str = ""

    @property
    def type(self) -> FixedType:
        """The narrowest integer format of the stored value."""
        return FixedType.for_range(self.lo, self.hi, 0)

    @property
    def is_adder(self) -> bool:
        return self.a is not None

    @property
    def is_constant(self) -> bool:
        return self.value is not None


@dataclass(frozen=True, eq=False)
class Ref:
    """`(-1 if neg else 1) * (node << shift)`."""

    node: AddNode
    shift: int = 0
    neg: bool = False

    @property
    def lo(self) -> int:
        return (-self.node.hi if self.neg else self.node.lo) << self.shift

    @property
    def hi(self) -> int:
        return (-self.node.lo if self.neg else self.node.hi) << self.shift


@dataclass(eq=False)
class AdderGraph:
    nodes: list[AddNode]     # operands before the adders that read them
    outputs: list[Ref]

    @property
    def depth(self) -> int:
        return max((n.level for n in self.nodes), default=0)

    @property
    def adders(self) -> int:
        """Adders and subtractors, with one per negated output."""
        return sum(1 for n in self.nodes if n.is_adder) + sum(
            1 for r in self.outputs if r.neg and not r.node.is_constant)

    @property
    def products(self) -> int:
        """Hardware multipliers (`dsp` mode)."""
        return sum(1 for n in self.nodes if n.factor != 1)

    def live_after(self, level: int) -> list[AddNode]:
        """The non-constant nodes made by `level` that a later level or an output reads:
        what a register after `level` holds."""
        read = {id(r.node) for r in self.outputs}
        for n in self.nodes:
            if n.is_adder and n.level > level:
                read.update((id(n.a.node), id(n.b.node)))
        return [n for n in self.nodes if n.level <= level and id(n) in read
                and not n.is_constant]


def build(columns, shared, n_in: int, lo_in, hi_in) -> AdderGraph:
    """The graph of a `LinearSum`'s `columns` (per output, its terms; a source at or
    beyond `n_in` is `shared[source - n_in]`, a pair of terms over earlier sources) for
    inputs with element code bounds `lo_in`/`hi_in`."""
    builder = _Builder(lo_in, hi_in)
    for k, (ta, tb) in enumerate(shared):
        ref = builder.add(builder.term(ta), builder.term(tb), f"c{k}")
        builder.sources[n_in + k] = ref
    outputs = []
    for j, col in enumerate(columns):
        refs = [builder.term(t) for t in col] or [builder.constant(0)]
        outputs.append(builder.sum(refs, f"n{j}"))
    return AdderGraph(builder.nodes, outputs)


class _Builder:
    def __init__(self, lo_in, hi_in):
        self.lo_in, self.hi_in = lo_in, hi_in
        self.nodes: list[AddNode] = []
        self.sources: dict[int, Ref] = {}     # shared sums by source index
        self._leaves: dict[tuple, AddNode] = {}

    def term(self, t: Term) -> Ref:
        """A term as a signed, shifted edge."""
        if t.source < 0:
            return self.constant(t.value)
        if t.source in self.sources:
            ref = self.sources[t.source]
            return Ref(ref.node, ref.shift + t.shift, ref.neg != (t.coeff < 0))
        factor = abs(t.coeff)
        key = (t.source, factor)
        if key not in self._leaves:
            name = f"p{t.source}_{factor}" if factor > 1 else ""
            self._leaves[key] = self._ranged(AddNode(0, 0, 1 if factor > 1 else 0,
                                                     {t.source: factor},
                                                     source=t.source, factor=factor,
                                                     name=name))
        return Ref(self._leaves[key], t.shift, t.coeff < 0)

    def constant(self, value: int) -> Ref:
        key = ("const", abs(value))
        if key not in self._leaves:
            self._leaves[key] = self._ranged(AddNode(0, 0, 0, const=abs(value),
                                                     value=abs(value)))
        return Ref(self._leaves[key], 0, value < 0)

    def add(self, r1: Ref, r2: Ref, name: str) -> Ref:
        """One adder: `r1 + r2`, its common shift and a double negation on the edge."""
        base = min(r1.shift, r2.shift)
        neg = r1.neg and r2.neg
        a = Ref(r1.node, r1.shift - base, r1.neg and not neg)
        b = Ref(r2.node, r2.shift - base, r2.neg and not neg)
        coeffs: dict[int, int] = {}
        const = 0
        for r in (a, b):
            f = -(1 << r.shift) if r.neg else 1 << r.shift
            for i, c in r.node.coeffs.items():
                coeffs[i] = coeffs.get(i, 0) + f * c
            const += f * r.node.const
        node = AddNode(0, 0, max(r1.node.level, r2.node.level) + 1,
                       {i: c for i, c in coeffs.items() if c}, const, a=a, b=b, name=name)
        return Ref(self._ranged(node), base, neg)

    def sum(self, refs: list[Ref], name: str) -> Ref:
        """The sum of `refs`, pairing at each level the ones ready by then, smallest
        magnitude with the next smallest (as Huffman merges: narrow terms make narrow
        partial sums; 3 % fewer adder bits on the jet tagger than pairing in term
        order)."""
        frontier, level, k = list(refs), 0, 0
        while len(frontier) > 1:
            level += 1
            ready = sorted((r for r in frontier if r.node.level < level),
                           key=lambda r: max(-r.lo, r.hi))
            waiting = [r for r in frontier if r.node.level >= level]
            made = []
            for i in range(0, len(ready) - 1, 2):
                made.append(self.add(ready[i], ready[i + 1], f"{name}_{k}"))
                k += 1
            frontier = made + ready[len(ready) - len(ready) % 2:] + waiting
        return frontier[0]

    def _ranged(self, node: AddNode) -> AddNode:
        lo = hi = node.const
        for i, c in node.coeffs.items():
            x, y = c * int(self.lo_in[i]), c * int(self.hi_in[i])
            lo, hi = lo + min(x, y), hi + max(x, y)
        node.lo, node.hi = lo, hi
        self.nodes.append(node)
        return node
