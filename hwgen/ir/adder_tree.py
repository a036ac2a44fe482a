"""Balanced adder trees with exact widths: the hardware shape of one `LinearSum` output.

Leaves are the output's terms. Level k+1 adds neighbours of level k pairwise (an odd one
out is carried up unchanged), so a tree of n leaves is ceil(log2 n) adders deep.

Negative terms are not negated in hardware (a negation costs an adder). Each node stores a
magnitude-like value `stored` with a flag `neg` (its value is `-stored` when set), and a
pair of nodes combines with one adder or subtractor: a+b, a-b, b-a, or -(a+b). Only a tree
whose every leaf is negative ends negated; `negate_root` then costs one subtractor.

Widths are exact: every node's stored value is `sum(c[i] * x[i]) + const` over the distinct
inputs it depends on, so its range over independent inputs with code bounds [lo_i, hi_i]
is attained, and the signal is exactly as wide as that range needs.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .term import Term
from .types import FixedType


@dataclass(eq=False)
class TreeNode:
    """A leaf (`term` set) or an adder of `a` and `b` (`sub`: which operand is subtracted:
    "", "a" or "b"). `lo`/`hi` bound the stored value; `level` is where it is computed."""

    lo: int
    hi: int
    neg: bool
    level: int = 0
    term: Term | None = None
    a: "TreeNode | None" = None
    b: "TreeNode | None" = None
    sub: str = ""
    coeffs: dict = field(default_factory=dict, repr=False)   # input -> coefficient of stored
    const: int = 0

    @property
    def type(self) -> FixedType:
        """The narrowest integer format of the stored value."""
        return FixedType.for_range(self.lo, self.hi, 0)


@dataclass(eq=False)
class Tree:
    levels: list[list[TreeNode]]     # levels[0]: leaves; levels[-1]: [root]

    @property
    def root(self) -> TreeNode:
        return self.levels[-1][0]

    @property
    def depth(self) -> int:
        return len(self.levels) - 1

    @property
    def adders(self) -> int:
        made = sum(1 for k, level in enumerate(self.levels) for n in level
                   if n.a is not None and n.level == k)     # carried nodes count once
        return made + (1 if self.root.neg else 0)


def build(terms, lo_in, hi_in) -> Tree:
    """The balanced tree of `terms` for inputs with element code bounds `lo_in`/`hi_in`."""
    leaves = [_leaf(t, lo_in, hi_in) for t in terms] or [_leaf(Term(-1, 0, 0), lo_in, hi_in)]
    levels = [leaves]
    while len(levels[-1]) > 1:
        cur, nxt, k = levels[-1], [], len(levels)
        for i in range(0, len(cur) - 1, 2):
            nxt.append(_add(cur[i], cur[i + 1], k, lo_in, hi_in))
        if len(cur) % 2:
            nxt.append(cur[-1])
        levels.append(nxt)
    return Tree(levels)


def _leaf(t: Term, lo_in, hi_in) -> TreeNode:
    neg = t.coeff < 0 and t.source >= 0
    if t.source < 0:
        return _ranged(TreeNode(0, 0, False, term=t, const=t.value), lo_in, hi_in)
    return _ranged(TreeNode(0, 0, neg, term=t, coeffs={t.source: abs(t.value)}), lo_in, hi_in)


def _add(a: TreeNode, b: TreeNode, level: int, lo_in, hi_in) -> TreeNode:
    if a.neg and b.neg:
        neg, ca, cb, sub = True, 1, 1, ""
    elif a.neg:
        neg, ca, cb, sub = False, -1, 1, "a"
    elif b.neg:
        neg, ca, cb, sub = False, 1, -1, "b"
    else:
        neg, ca, cb, sub = False, 1, 1, ""
    coeffs = {i: ca * c for i, c in a.coeffs.items()}
    for i, c in b.coeffs.items():
        coeffs[i] = coeffs.get(i, 0) + cb * c
    node = TreeNode(0, 0, neg, level=level, a=a, b=b, sub=sub,
                    coeffs={i: c for i, c in coeffs.items() if c},
                    const=ca * a.const + cb * b.const)
    return _ranged(node, lo_in, hi_in)


def _ranged(node: TreeNode, lo_in, hi_in) -> TreeNode:
    lo = hi = node.const
    for i, c in node.coeffs.items():
        a, b = c * int(lo_in[i]), c * int(hi_in[i])
        lo, hi = lo + min(a, b), hi + max(a, b)
    node.lo, node.hi = lo, hi
    return node
