"""Shared sub-expressions of a constant matrix-vector multiply (CMVM), found on CSD digits.

The problem: outputs `y[j] = sum_i w[i, j] * x[i]` with constant `w`, each already written
as signed power-of-two digits `(i, shift, sign)` (`passes/csd.py`). Summed one output at a
time, an output of d digits costs d - 1 adders. Many outputs share pairs of digits up to a
common shift and sign: `x[a] + x[b] * 2**k` appears in several outputs (or, for one input,
`x[a] + x[a] * 2**k` in several weights). Computing such a pair once and using it
everywhere saves one adder per further use.

Method: greedy two-term common sub-expression elimination, as in Hartley's CSD
sub-expression sharing for filters (IEEE TCAS-II 1996) and the CSE stage of da4ml
(Sun et al., arXiv 2507.04535). A pattern is `(a, b, k, s)`: `x[a] + s * x[b] * 2**k`
with `(shift, source)` of `a`'s digit not after `b`'s. Each step takes the pattern with the
most occurrences across all outputs (ties: the shallower result, then the smallest key,
so the result is deterministic), makes it a new source, and replaces its non-overlapping
occurrences (each `(a, t, g)` with `(b, t + k, s * g)` becomes `(new, t, g)`). New sources
take part in later patterns, so sums of three, four or more digits are shared too. Counts
are kept incrementally (only the outputs a step touches are recounted) and the best pattern
comes from a heap with lazy deletion, so a 64x64 matrix of 6-bit weights takes about a
second in pure Python. Why not a published tool: da4ml and alkaid need numpy 2 (hwgen runs
on numpy 1.26 with TensorFlow 2.15), and the method is short.

Depth: a new source is one adder deeper than the deeper of its two operands; `max_depth`
bounds it, so sharing never makes a sum deeper than the balanced tree of the bound allows.
Hartley's pairing by frequency alone is what minimises adders; bounding depth trades a few
of them for latency (da4ml does the same with its delay constraint).
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass

Digit = tuple  # (source, shift, sign): sign * x[source] * 2**shift


@dataclass(frozen=True)
class Shared:
    """A new source `x[a] + sign * x[b] * 2**shift` (sources index inputs, then earlier
    shared sums)."""

    a: int
    b: int
    shift: int
    sign: int
    depth: int


def _key(d1, d2) -> tuple:
    """The pattern two digits of one output form: the digit first by (shift, source) is
    its base."""
    if (d1[1], d1[0]) > (d2[1], d2[0]):
        d1, d2 = d2, d1
    return (d1[0], d2[0], d2[1] - d1[1], d1[2] * d2[2])


def share(columns, n_in: int, max_depth: int | None = None):
    """Find shared sums in `columns` (per output, a list of distinct-(source, shift)
    digits over `n_in` inputs). Returns `(shared, columns)`: the new sources in order
    (source `n_in + k` is `shared[k]`) and each output's digits over inputs and sources."""
    depth = [0] * n_in
    cols = [{(s, t): g for s, t, g in col} for col in columns]
    count: dict[tuple, int] = {}
    for col in cols:
        digits = [(s, t, g) for (s, t), g in col.items()]
        for i, d1 in enumerate(digits):
            for d2 in digits[i + 1:]:
                k = _key(d1, d2)
                count[k] = count.get(k, 0) + 1
    uses: dict[int, set] = {}          # per source, the outputs that may hold it
    for j, col in enumerate(cols):
        for src, _ in col:
            uses.setdefault(src, set()).add(j)
    heap = [(-c, max(depth[k[0]], depth[k[1]]) + 1, k) for k, c in count.items() if c > 1]
    heapq.heapify(heap)
    shared: list[Shared] = []
    while heap:
        neg, level, key = heapq.heappop(heap)
        have = count.get(key, 0)
        if have < 2 or -neg < have or (max_depth is not None and level > max_depth):
            continue                  # gone, or a newer entry holds its higher count
        if have < -neg:               # its count dropped since it was pushed
            heapq.heappush(heap, (-have, level, key))
            continue
        a, b, k, sign = key
        shared.append(Shared(a, b, k, sign, level))
        depth.append(level)
        new = n_in + len(shared) - 1
        for j in sorted(uses.get(a, set()) & uses.get(b, set())):   # the others lack a or b
            if _substitute(cols[j], key, new, count, heap, depth):
                uses.setdefault(new, set()).add(j)
    return shared, [[(s, t, g) for (s, t), g in col.items()] for col in cols]


def _substitute(col, key, new, count, heap, depth) -> bool:
    """Replace the non-overlapping occurrences of pattern `key` in one output (a dict
    (source, shift) -> sign) by the source `new`, keeping the pair counts; whether there
    was one."""
    a, b, k, sign = key
    found = False
    for t in sorted(t for (s, t) in col if s == a):
        g = col.get((a, t))
        if g is None or col.get((b, t + k)) != sign * g:
            continue                  # not this pattern, or used by an earlier occurrence
        for d in ((a, t), (b, t + k)):
            dg = col.pop(d)           # the pair itself is uncounted with the first digit
            for (s2, t2), g2 in col.items():
                count[_key((d[0], d[1], dg), (s2, t2, g2))] -= 1
        for (s2, t2), g2 in col.items():
            pair = _key((new, t, g), (s2, t2, g2))
            c = count.get(pair, 0) + 1
            count[pair] = c
            if c > 1:
                heapq.heappush(heap, (-c, max(depth[pair[0]], depth[pair[1]]) + 1, pair))
        col[(new, t)] = g
        found = True
    return found
