"""The adder graph of one `LinearSum`: every output's sum, shared sums once, exact widths.

Leaves are the layer's inputs (level 0), constant terms, and in `dsp` mode products of an
input and an odd constant (one multiplier each, level 1, shared by every output that uses
the same one). A shared sum (`LinearSum.shared`, from `ir/cmvm.py`) is one adder over two
earlier nodes. Each output then adds its remaining terms as soon as they are ready: at
level k, the terms ready by level k - 1 are paired by size, smallest with next smallest
(an odd one out waits), so all-input outputs get the balanced tree of ceil(log2 n)
levels and a term that is a deep shared sum joins late instead of deepening the rest.

Signs and shifts travel on the edges (`Ref`), not in the nodes. An output of two or more
terms is summed in offset binary: each term is read as an unsigned number, its bits
flipped where that makes it one (a signed value's sign bit; a subtracted value's other
bits: `-v = ~v - (2**w - 1)`), and the constants this adds, with the output's own
constants, become one constant `k` added once, into the odd term out of a level where
there is one (no extra level), else after the last. Why: an adder of two unsigned
operands costs a LUT only where both have bits (a narrow operand's zero extension is
the carry chain's, free), while a signed or subtracted narrow operand pays for its sign
extension up to the wide one's top bit (on the real QKeras tagger, xc7: 29,741 LUTs
against 30,843 summed in two's complement). This is the sign-extension elimination of
multiplier design (one correction constant for all the sign bits); flipping bits is
free where it folds into the adder's LUT (xc7's carry chain takes its propagate from a
LUT that ABC maps; iCE40's sum LUT). Shared sums are built the same way.

Not on ECP5 (`TWOS_COMPLEMENT_TARGETS`): a CCU2C computes its propagate in LUTs of its
own, which the mapper cannot reach, so every flipped bit costs a LUT4 of its own, while
a sign extension costs nothing (the sign bit wired to the upper inputs) and a subtraction
neither (the carry cell inverts an operand). There the sums stay in two's complement. The
zoo jet tagger, per-layer ECP5 estimate: 10,562 LUT4 + 24,538 CCU2C (offset binary, the
LUT4s nearly all single-input inverters) against 1,529 + 24,240; on iCE40 offset binary
is the smaller, 53,872 LUT4 against 57,234.

A node stores `(a << sa) + (b << sb)` (or a difference, where an edge outside offset
binary subtracts) with min(sa, sb) = 0: a common shift moves onto the edges that read it.

Widths are exact: a node's stored value is `sum(c[i] * x[i]) + const + offset` over the
distinct inputs it depends on (`offset`: what offset-binary reads added), so its range
over independent inputs with code bounds [lo_i, hi_i] is attained, and the signal is
exactly as wide as that range needs.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .term import Term
from .types import FixedType


# Targets whose carry cells cannot absorb an operand's flipped bits: sums in two's
# complement there (see the module docstring).
TWOS_COMPLEMENT_TARGETS = ("ecp5",)


@dataclass(eq=False)
class AddNode:
    """A leaf (input `source`, times `factor` for a product; or the constant `value`) or an
    adder `a + b` of two signed, shifted nodes. `lo`/`hi` bound the stored value."""

    lo: int
    hi: int
    level: int
    coeffs: dict = field(default_factory=dict, repr=False)   # input -> coefficient
    const: int = 0
    offset: int = 0          # what offset-binary reads added to the stored value
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
    """What an edge adds: `(-1 if neg else 1) * (node << shift)`, or with `offset_binary`
    the node's bits XOR `mask` read as an unsigned number, shifted: the same value
    (negated for `neg`) plus `excess`."""

    node: AddNode
    shift: int = 0
    neg: bool = False
    offset_binary: bool = False

    def _affine(self) -> tuple[int, int]:
        """(base, sign): the unshifted value read is `base + sign * stored`. Flipping bits
        of a non-negative w-bit read is adding them (the sign bit) or taking the stored
        value from them (all other bits, for `neg`), so the base is the mask."""
        return self.mask, -1 if self.neg else 1

    @property
    def mask(self) -> int:
        """The bits an offset-binary read flips."""
        if not self.offset_binary:
            return 0
        t = self.node.type
        sign = 1 << (t.width - 1) if t.signed else 0
        return ((1 << t.width) - 1) ^ sign if self.neg else sign

    @property
    def subtracts(self) -> bool:
        return self.neg and not self.offset_binary

    @property
    def excess(self) -> int:
        """What the edge adds beyond `(-1 if neg else 1) * value << shift`, the value
        being the node's stored value less its offset."""
        base, sign = self._affine()
        return (base + sign * self.node.offset) << self.shift

    @property
    def lo(self) -> int:
        base, sign = self._affine()
        return min(base + sign * self.node.lo, base + sign * self.node.hi) << self.shift

    @property
    def hi(self) -> int:
        base, sign = self._affine()
        return max(base + sign * self.node.lo, base + sign * self.node.hi) << self.shift


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


def build(columns, shared, n_in: int, lo_in, hi_in,
          offset_binary: bool = True) -> AdderGraph:
    """The graph of a `LinearSum`'s `columns` (per output, its terms; a source at or
    beyond `n_in` is `shared[source - n_in]`, a pair of terms over earlier sources) for
    inputs with element code bounds `lo_in`/`hi_in`. `offset_binary` False: sums in two's
    complement (subtractions, sign extension), for carry cells that cannot absorb the
    flipped bits (`TWOS_COMPLEMENT_TARGETS`)."""
    builder = _Builder(lo_in, hi_in, offset_binary)
    ob = _offset_binary if offset_binary else (lambda r: r)
    for k, (ta, tb) in enumerate(shared):
        ref = builder.add(ob(builder.term(ta)), ob(builder.term(tb)), f"c{k}")
        builder.sources[n_in + k] = ref
    outputs = []
    for j, col in enumerate(columns):
        outputs.append(builder.sum([builder.term(t) for t in col], f"n{j}"))
    return AdderGraph(builder.nodes, outputs)


def _offset_binary(ref: Ref) -> Ref:
    return Ref(ref.node, ref.shift, ref.neg, True)


class _Builder:
    def __init__(self, lo_in, hi_in, offset_binary: bool = True):
        self.lo_in, self.hi_in = lo_in, hi_in
        self.offset_binary = offset_binary
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
        neg = r1.subtracts and r2.subtracts
        a = Ref(r1.node, r1.shift - base, r1.neg and not neg, r1.offset_binary)
        b = Ref(r2.node, r2.shift - base, r2.neg and not neg, r2.offset_binary)
        coeffs: dict[int, int] = {}
        const = 0
        for r in (a, b):
            f = -(1 << r.shift) if r.neg else 1 << r.shift
            for i, c in r.node.coeffs.items():
                coeffs[i] = coeffs.get(i, 0) + f * c
            const += f * r.node.const
        node = AddNode(0, 0, max(r1.node.level, r2.node.level) + 1,
                       {i: c for i, c in coeffs.items() if c}, const, a.excess + b.excess,
                       a=a, b=b, name=name)
        return Ref(self._ranged(node), base, neg)

    def sum(self, refs: list[Ref], name: str) -> Ref:
        """The sum of `refs`: its constants as one, two or more other terms in offset
        binary with the constant corrected; at each level the terms ready by then are
        paired, smallest magnitude with the next smallest (as Huffman merges: narrow terms
        make narrow partial sums; 3 % fewer adder bits on the jet tagger than pairing in
        term order), the constant with the odd one out."""
        terms = [r for r in refs if not r.node.is_constant]
        if len(terms) > 1 and self.offset_binary:
            terms = [_offset_binary(r) for r in terms]
        const = sum((-r.node.value if r.neg else r.node.value) << r.shift
                    for r in refs if r.node.is_constant)
        k = const - sum(r.excess for r in terms)
        if not terms:
            return self.constant(k)
        frontier, level, n = terms, 0, 0
        while len(frontier) > 1:
            level += 1
            ready = sorted((r for r in frontier if r.node.level < level),
                           key=lambda r: max(-r.lo, r.hi))
            waiting = [r for r in frontier if r.node.level >= level]
            made = []
            if len(ready) % 2 and k:
                made.append(self.add(ready.pop(), self.constant(k), f"{name}_{n}"))
                k, n = 0, n + 1
            for i in range(0, len(ready) - 1, 2):
                made.append(self.add(ready[i], ready[i + 1], f"{name}_{n}"))
                n += 1
            frontier = made + ready[len(ready) - len(ready) % 2:] + waiting
        out = frontier[0]
        if k:
            out = self.add(out, self.constant(k), f"{name}_{n}")
        stored = (out.node.const + out.node.offset) << out.shift
        assert (-stored if out.neg else stored) == const, f"{name}: offset binary uncorrected"
        return out

    def _ranged(self, node: AddNode) -> AddNode:
        lo = hi = node.const
        for i, c in node.coeffs.items():
            x, y = c * int(self.lo_in[i]), c * int(self.hi_in[i])
            lo, hi = lo + min(x, y), hi + max(x, y)
        node.lo, node.hi = lo + node.offset, hi + node.offset
        self.nodes.append(node)
        return node
