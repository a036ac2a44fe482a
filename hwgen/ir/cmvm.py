"""Shared sub-expressions of a constant matrix-vector multiply (CMVM), found on signed digits.

The problem: outputs `y[j] = sum_i w[i, j] * x[i]` with constant `w`, each already written
as signed power-of-two digits `(i, shift, sign)` (`passes/csd.py`). Summed one output at a
time, an output of d digits costs d - 1 adders. Many outputs share pairs of digits up to a
common shift and sign: `x[a] + x[b] * 2**k` appears in several outputs (or, for one input,
`x[a] + x[a] * 2**k` in several weights). Computing such a pair once and using it
everywhere saves one adder per further use.

Digits: each weight's minimal signed-digit form is chosen first (`choose_forms`; CSD is
one of them), so that more outputs hold the same pairs.

Method: greedy two-term common sub-expression elimination, as in Hartley's CSD
sub-expression sharing for filters (IEEE TCAS-II 1996) and the CSE stage of da4ml
(Sun et al., arXiv 2507.04535). A pattern is `(a, b, k, s)`: `x[a] + s * x[b] * 2**k`
with `(shift, source)` of `a`'s digit not after `b`'s. Each step takes the pattern worth the
most (ties: the larger shift between its digits, which measured 0.2-0.6 % fewer adder bits
on the zoo and the real tagger than the smaller; then the shallower result; then the
smallest key, so the result is deterministic),
makes it a new source, and replaces its non-overlapping
occurrences (each `(a, t, g)` with `(b, t + k, s * g)` becomes `(new, t, g)`). New sources
take part in later patterns, so sums of three, four or more digits are shared too. Counts
are kept incrementally (only the outputs a step touches are recounted) and the best pattern
comes from a heap with lazy deletion. Pure Python: on this project's 2-core machine a
64x64 matrix of uniformly random 6-bit weights (every one non-zero, about 160 digits an
output) takes about 6 s here and 3 s in `choose_forms`; a 144x32 one (a 3x3 convolution
over 16 channels) 14 s and 7 s; both grow with the square of an output's digit count.
Why not a published tool: da4ml and alkaid need numpy 2 (hwgen runs
on numpy 1.26 with TensorFlow 2.15), and the method is short.

Worth: given the inputs' code bounds, the adder bits a pattern saves (`_Bits`: the
outputs are summed in offset binary, where an adder costs a LUT per bit that both operands
have), else its count of occurrences (Hartley's measure: adders saved). Counting bits
leaves patterns whose digits lie too far apart to overlap (they save an adder but no
logic) to the outputs' trees, and spends the digits on patterns that do save logic: on
the real QKeras jet tagger (xc7, bench-peers' Yosys command) 26,533 -> 26,107 LUTs and
9,875 -> 9,719 flip-flops, with 15 fewer adders; the zoo's MLPs 1-3 % fewer adder bits.

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


def share(columns, n_in: int, max_depth: int | None = None, lo=None, hi=None):
    """Find shared sums in `columns` (per output, a list of distinct-(source, shift)
    digits over `n_in` inputs). Returns `(shared, columns)`: the new sources in order
    (source `n_in + k` is `shared[k]`) and each output's digits over inputs and sources.
    With the inputs' code bounds `lo`/`hi`, a pattern's worth is the adder bits it saves
    (`_Bits`), else its count."""
    depth = [0] * n_in
    bits = _Bits(lo, hi) if lo is not None else None

    def worth(key, c):
        return c if bits is None else bits.gain(key, c)

    cols = [{(s, t): g for s, t, g in col} for col in columns]
    count: dict[tuple, int] = {}
    for col in cols:
        digits = [(s, t, g) for (s, t), g in col.items()]
        for i in range(len(digits) - 1):
            for k in _pair_keys(digits[i:i + 1], digits[i + 1:]):
                count[k] = count.get(k, 0) + 1
    uses: dict[int, set] = {}          # per source, the outputs that may hold it
    for j, col in enumerate(cols):
        for src, _ in col:
            uses.setdefault(src, set()).add(j)
    heap = [(-w, -k[2], max(depth[k[0]], depth[k[1]]) + 1, k)
            for k, c in count.items() if c > 1 and (w := worth(k, c)) > 0]
    heapq.heapify(heap)
    shared: list[Shared] = []
    while heap:
        neg, _, level, key = heapq.heappop(heap)
        have = count.get(key, 0)
        now = worth(key, have)
        if have < 2 or now <= 0 or -neg < now or (max_depth is not None and level > max_depth):
            continue                  # gone, or a newer entry holds its higher worth
        if now < -neg:                # its count dropped since it was pushed
            heapq.heappush(heap, (-now, -key[2], level, key))
            continue
        a, b, k, sign = key
        shared.append(Shared(a, b, k, sign, level))
        depth.append(level)
        if bits is not None:
            bits.add(key)
        new = n_in + len(shared) - 1
        for j in sorted(uses.get(a, set()) & uses.get(b, set())):   # the others lack a or b
            if _substitute(cols[j], key, new, count, heap, depth, worth):
                uses.setdefault(new, set()).add(j)
    return shared, [[(s, t, g) for (s, t), g in col.items()] for col in cols]


def choose_forms(columns, widths=None, rounds: int = 2) -> list[list[Digit]]:
    """Pick each weight's signed-digit form so that pairs of digits repeat, before `share`.

    `columns`: per output, `(input, forms)` per non-zero weight, each form a tuple of
    `(shift, sign)` with the same (minimal) number of digits, the CSD form first
    (`passes.csd.msd_forms`). Returns per output the digits `(input, shift, sign)` of the
    chosen forms, as `share` takes them.

    CSD fixes one form per weight, but a weight often has several minimal ones (3 is
    4 - 1 or 2 + 1), and the right choice lets more outputs hold the same pair: Park and
    Kang's observation (sharing over all minimal signed-digit forms), whose exhaustive
    search over forms is too slow here. Instead a local search: starting from CSD, each
    weight in turn takes the form that most raises `sum over patterns of v * c * (c - 1)`
    (c: how many pairs of digits in all outputs form the pattern, v: the adder bits one
    use of it can save, from the inputs' `widths`, else 1), over `rounds` passes (more
    passes over-fit this measure: measured worse). Only the pairs with the changed
    weight's digits are recounted. Deterministic: a fixed order, and a change only where
    strictly better. On the real QKeras jet tagger (xc7, bench-peers' Yosys command)
    26,107 -> 25,641 LUTs."""

    def value(k):
        return 1 if widths is None else overlap(widths[k[0]], widths[k[1]], k[2])

    def digits(i, form):
        return [(i, shift, sign) for shift, sign in form]

    pick = [[0] * len(col) for col in columns]
    count: dict[tuple, int] = {}
    for col in columns:
        d = [x for i, forms in col for x in digits(i, forms[0])]
        for a, d1 in enumerate(d):
            for d2 in d[a + 1:]:
                k = _key(d1, d2)
                count[k] = count.get(k, 0) + 1
    for _ in range(rounds):
        for j, col in enumerate(columns):
            for w, (i, forms) in enumerate(col):
                if len(forms) > 1:
                    _improve(j, w, i, forms, col, pick, count, digits, value)
    return [[x for w, (i, forms) in enumerate(col) for x in digits(i, forms[pick[j][w]])]
            for j, col in enumerate(columns)]


def _improve(j, w, i, forms, col, pick, count, digits, value) -> None:
    """Give weight `w` of output `j` its best form by the measure, keeping `count`. Only
    the digits a form changes are paired (with the rest of the output's digits)."""
    others = [x for w2, (i2, f2) in enumerate(col) if w2 != w
              for x in digits(i2, f2[pick[j][w2]])]
    now = set(forms[pick[j][w]])
    best, best_delta, best_gain = None, None, 0
    for f in range(len(forms)):
        if f == pick[j][w]:
            continue
        form = set(forms[f])
        rest = others + digits(i, sorted(now & form))
        delta: dict[tuple, int] = {}
        for sign, changed in ((-1, digits(i, sorted(now - form))),
                              (1, digits(i, sorted(form - now)))):
            for k in _pair_keys(changed, rest) + [
                    _key(x, y) for a, x in enumerate(changed) for y in changed[a + 1:]]:
                delta[k] = delta.get(k, 0) + sign
        gain = 0
        for k, d in delta.items():
            if d:
                c = count.get(k, 0)
                gain += value(k) * ((c + d) * (c + d - 1) - c * (c - 1))
        if gain > best_gain:
            best, best_delta, best_gain = f, delta, gain
    if best is not None:
        pick[j][w] = best
        for k, d in best_delta.items():
            count[k] = count.get(k, 0) + d


def _pair_keys(mine, others) -> list[tuple]:
    """`_key` of every digit of `mine` with every digit of `others`, inlined (the form
    search's inner loop)."""
    out = []
    for i, s, g in mine:
        for i2, s2, g2 in others:
            if s < s2 or (s == s2 and i <= i2):
                out.append((i, i2, s2 - s, g * g2))
            else:
                out.append((i2, i, s - s2, g * g2))
    return out


def _substitute(col, key, new, count, heap, depth, worth) -> bool:
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
            rest = [(s2, t2, g2) for (s2, t2), g2 in col.items()]
            for pair in _pair_keys([(d[0], d[1], dg)], rest):
                count[pair] -= 1
        for pair in _pair_keys([(new, t, g)], [(s2, t2, g2) for (s2, t2), g2 in col.items()]):
            c = count.get(pair, 0) + 1
            count[pair] = c
            if c > 1 and (w := worth(pair, c)) > 0:
                heapq.heappush(heap, (-w, -pair[2], max(depth[pair[0]], depth[pair[1]]) + 1,
                                      pair))
        col[(new, t)] = g
        found = True
    return found


def span_widths(lo, hi) -> list[int]:
    """Per input, the bits of its code range's span (what an offset-binary read takes)."""
    return [_span_bits(int(a), int(b)) for a, b in zip(lo, hi)]


class _Bits:
    """A pattern's worth in adder bits. Summed in offset binary (`adder_graph`), an adder
    costs a LUT per bit where both operands have bits, so an output whose terms are w_i
    bits wide and whose sum is W bits costs about sum(w_i) - W, plus one per carry out.
    A pattern `a + s * b << k` used `c` times turns two terms of each use into one of
    w_s bits and costs its own adder's overlap once: it saves
    `c * (w_a + w_b - w_s) - overlap`. A pattern whose digits lie far apart (no overlap)
    saves no logic: it is left to the outputs' trees, and the digits stay free for
    patterns that do. Widths are those of the value ranges (what offset binary reads)."""

    def __init__(self, lo, hi):
        self.coeffs = [{i: 1} for i in range(len(lo))]
        self.lo = [int(v) for v in lo]
        self.hi = [int(v) for v in hi]
        self.width = span_widths(self.lo, self.hi)
        self._sums: dict[tuple, tuple] = {}
        self._parts: dict[tuple, tuple] = {}     # per pattern: (bits a use saves, cost)

    def _sum(self, key) -> tuple:
        """(coefficients over the inputs, width) of the pattern's sum."""
        if key not in self._sums:
            a, b, k, sign = key
            c = dict(self.coeffs[a])
            for i, v in self.coeffs[b].items():
                c[i] = c.get(i, 0) + sign * (v << k)
            c = {i: v for i, v in c.items() if v}
            lo = sum(min(v * self.lo[i], v * self.hi[i]) for i, v in c.items())
            hi = sum(max(v * self.lo[i], v * self.hi[i]) for i, v in c.items())
            self._sums[key] = (c, _span_bits(lo, hi))
        return self._sums[key]

    def gain(self, key, count: int) -> int:
        parts = self._parts.get(key)
        if parts is None:
            a, b, k, _ = key
            wa, wb = self.width[a], self.width[b]
            parts = self._parts[key] = (wa + wb - self._sum(key)[1], overlap(wa, wb, k))
        return count * parts[0] - parts[1]

    def add(self, key) -> None:
        c, w = self._sum(key)
        self.coeffs.append(c)
        self.width.append(w)


def overlap(wa: int, wb: int, k: int) -> int:
    """Bits where a `wa`-bit value and a `wb`-bit value shifted up by `k` both have bits:
    what their adder costs in offset binary."""
    return max(0, min(wa, k + wb) - k)


def _span_bits(lo: int, hi: int) -> int:
    return max(1, (hi - lo).bit_length())
