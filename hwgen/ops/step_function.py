"""`StepFunction`: a per-channel piecewise-constant map of the input code,
`levels[c][#(thresholds[c] <= x)]` (non-linear quantizers, a batch norm fused with one).

Two hardware forms, chosen per element by the thresholds inside its input's range:
- a *tree*: a comparator per threshold against the input, all at once, and a balanced
  multiplexer tree over the levels (log2 depth instead of a priority chain);
- a *search* down the same tree, one comparison per level: the first against the root's
  threshold, each next against the threshold its path so far selects from a table (a
  ROM of 2**k entries after k comparisons), and the output from a table indexed by the
  whole path (`_Search`). `h` comparators on the input's width and small tables instead
  of one comparator per threshold, in more levels; a register inside it holds the
  input, the path so far and the two thresholds the next comparison may take.
The search is the smaller from seven thresholds (`SEARCH_FROM`; `--step-form` chooses).
Measured (an input and one step function per channel, `--pipeline 0`, whole-design Yosys
with the estimates' scripts; tree -> search): 255 thresholds on an 18-bit input, 2
channels, xc7 1,156 LUT + 510 CARRY4 -> 382 + 30, ECP5 2,463 LUT4 + 4,751 CCU2C -> 1,253
+ 158; then 4 channels of 8 bits: 15 thresholds, xc7 139 LUT -> 96 + 12 CARRY4, ECP5 264 +
255 CCU2C -> 190 + 75; 7 thresholds, xc7 92 -> 81 + 8 CARRY4, ECP5 148 + 124 -> 109 + 53;
3 thresholds, xc7 36 -> 46 + 4 CARRY4 (the tree smaller), ECP5 61 + 48 -> 55 + 35. The
search is deeper (a carry chain per comparison), which the schedule pipelines
(`level_costs`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from amaranth.hdl import Array, Cat, Const, Module, Mux

from ..ir.types import as_codes
from .base import Node, register, same_shape
from .component import Layer, element_shape, fit

# Elements whose tree compares against at least this many thresholds are searched (the
# default of `StepFunction.search_from`; `--step-form`, `passes/choose_step_forms.py`).
SEARCH_FROM = 7
NEVER_SEARCHED = 1 << 62


class StepLayer(Layer):
    """Per element, its tree or its search (`StepFunction.element_forms`). Level k of the
    op is the tree's level k from the leaves (the comparators are in level 1), or the
    search's k-th comparison from the root (and after the last, its output's selection).
    A register after level k holds the finished outputs; of each unfinished tree, the
    subtrees finished by then and the comparisons the levels above still select with; of
    each unfinished search, what `StepFunction.register_bits` says."""

    def compute(self, m: Module) -> list:
        node = self.node
        forms = node.element_forms(self.src)
        xs = list(self.inputs)
        selects = [{} for _ in forms]           # per tree element: mux -> its comparison
        values = [{} for _ in forms]            # per tree element: mux -> its value
        paths = [[] for _ in forms]             # per searched element: its comparisons
        nexts = [f.candidates(1, [], x.shape()) if isinstance(f, _Search) else None
                 for f, x in zip(forms, xs)]    # and the next one's two thresholds
        out: list = [None] * len(forms)

        def select(e, n):
            return selects[e][n] if n in selects[e] else xs[e] >= n.threshold

        def value(e, t):
            return values[e][t] if isinstance(t, _Mux) else Const(t, element_shape(t, t))

        for level in range(1, node.logic_levels() + 1):
            for e, form in enumerate(forms):
                if out[e] is not None:
                    continue
                if isinstance(form, _Search):
                    paths[e], nexts[e] = form.level(level, xs[e], paths[e], nexts[e])
                    if form.height == level:
                        out[e] = fit(m, nexts[e], node, e, "f")
                    continue
                for n in _at_height(form, level):
                    values[e][n] = Mux(select(e, n), value(e, n.high), value(e, n.low))
                if max(height(form), 1) == level:           # this element is done
                    out[e] = fit(m, value(e, form), node, e, "f")
            if level in node.register_after:
                finished = [e for e, o in enumerate(out) if o is not None]
                searched = [e for e, f in enumerate(forms)
                            if out[e] is None and isinstance(f, _Search)]
                live = [(e, kind, n) for e, form in enumerate(forms)
                        if out[e] is None and not isinstance(form, _Search)
                        for kind, n in _live(form, level)]
                # A search holds its path (after its last comparison only that one, which
                # selects the output) and both candidates; before the last, its input too.
                early = {e for e in searched if level < forms[e].comparisons}
                regs = self.stage(m, level, [out[e] for e in finished] +
                                  [v for e in searched for v in
                                   ((xs[e],) if e in early else ()) +
                                   (Cat(*paths[e]) if e in early else paths[e][-1],) +
                                   nexts[e]] +
                                  [select(e, n) if kind == "select" else values[e][n]
                                   for e, kind, n in live])
                for e, r in zip(finished, regs):
                    out[e] = r
                regs = regs[len(finished):]
                for e in searched:
                    if e in early:
                        xs[e], regs = regs[0], regs[1:]
                    path, low, high = regs[:3]
                    paths[e] = [path[b] for b in range(len(paths[e]))] if e in early \
                        else [path]
                    nexts[e], regs = (low, high), regs[3:]
                for (e, kind, n), r in zip(live, regs):
                    (selects if kind == "select" else values)[e][n] = r
        return out


@dataclass(eq=False, frozen=True)
class _Mux:
    """A node of one element's multiplexer tree: `high` where the input is at or above
    `threshold`, else `low`; a subtree whose levels are all one is that level (an int)."""
    threshold: int
    high: "_Mux | int"
    low: "_Mux | int"
    height: int                  # its level from the leaves (1: over two levels)
    lo_level: int
    hi_level: int


@dataclass(eq=False, frozen=True)
class _Search:
    """An element's tree as a binary search: `tables[d]` is the table of the (d+1)-th
    comparison's threshold, indexed by the d comparisons before it (the first one the
    most significant bit), and the last table the output code by all `comparisons` of
    them. A path that reaches a leaf early takes that leaf whatever the later comparisons
    say; their table entries repeat a real threshold (any value is right there).

    Tables are read one level ahead: while comparison k runs, the two thresholds that
    comparison k + 1 may take (one per outcome of k) are looked up by the comparisons
    before k, so a level is one multiplexer into the comparator and its carry chain; the
    level after the last comparison selects between the two outputs it may pick. So the
    search takes `height` = comparisons + 1 levels."""
    tables: tuple
    comparisons: int
    lo_level: int
    hi_level: int

    @property
    def height(self) -> int:
        return self.comparisons + 1

    @staticmethod
    def of(tree: "_Mux") -> "_Search":
        nodes, tables = [tree], []
        for _ in range(tree.height):
            real = [n.threshold for n in nodes if isinstance(n, _Mux)]
            tables.append(tuple(n.threshold if isinstance(n, _Mux) else real[0]
                                for n in nodes))
            nodes = [c for n in nodes for c in ((n.low, n.high) if isinstance(n, _Mux)
                                                 else (n, n))]
        return _Search(tuple(tables) + (tuple(nodes),), tree.height, tree.lo_level,
                       tree.hi_level)

    def candidates(self, level: int, path: list, shape) -> tuple:
        """The two thresholds comparison `level` (from 1) may take, by the outcome of the
        one before it: (if below, if at or above), from the comparisons before that (the
        first has one, a constant, twice); after the last comparison, the two outputs."""
        table = self.tables[level - 1]
        if level > self.comparisons:
            shape = element_shape(self.lo_level, self.hi_level)
        if level == 1:
            return (Const(table[0], shape),) * 2
        return (_lookup(table[0::2], path[:level - 2], shape),
                _lookup(table[1::2], path[:level - 2], shape))

    def level(self, level: int, x, path: list, candidates: tuple):
        """Level `level` on input `x`: (the path with its comparison, the next level's
        candidates), or after the last comparison (path, the output)."""
        low, high = candidates
        if level > self.comparisons:
            return path, Mux(path[-1], high, low)
        nxt = self.candidates(level + 1, path, x.shape())
        return path + [x >= (Mux(path[-1], high, low) if path else low)], nxt


def _lookup(table, bits: list, shape):
    """`table[bits]` (the first bit the most significant) as a constant where the table
    holds one value."""
    if len(set(table)) == 1:
        return Const(table[0], shape)
    return Array(Const(v, shape) for v in table)[Cat(*reversed(bits))]


def height(tree) -> int:
    return tree.height if isinstance(tree, (_Mux, _Search)) else 0


def _form(tree, search_from: int):
    """The tree, or its search where it compares against `search_from` thresholds or more."""
    return _Search.of(tree) if _count(tree) >= search_from else tree


def _count(tree) -> int:
    """The thresholds a tree compares against."""
    return 1 + _count(tree.high) + _count(tree.low) if isinstance(tree, _Mux) else 0


def step_tree(thresholds, levels):
    """The balanced multiplexer tree of one element's steps (the thresholds inside its
    input's range and the levels between them)."""
    levels = [int(v) for v in levels]
    if len(set(levels)) == 1:
        return levels[0]
    mid = len(thresholds) // 2
    high = step_tree(thresholds[mid + 1:], levels[mid + 1:])
    low = step_tree(thresholds[:mid], levels[:mid + 1])
    return _Mux(int(thresholds[mid]), high, low, 1 + max(height(high), height(low)),
                min(levels), max(levels))


def _at_height(tree, h: int) -> list:
    """The muxes of `tree` at height `h`."""
    if not isinstance(tree, _Mux) or tree.height < h:
        return []
    if tree.height == h:
        return [tree]
    return _at_height(tree.high, h) + _at_height(tree.low, h)


def _live(tree, level: int) -> list:
    """What a register after `level` holds of an unfinished tree: ("value", mux) for each
    subtree finished by then whose parent is not, ("select", mux) for each mux above."""
    if not isinstance(tree, _Mux):
        return []
    if tree.height <= level:
        return [("value", tree)]
    return [("select", tree)] + _live(tree.high, level) + _live(tree.low, level)


# A search's carry chain as LUT levels per bit: the FPGA models' carry_ns / level_ns
# (ir/delay.py: 0.03-0.06).
_CARRY_LEVELS = 0.06


def _table_depth(index_bits: int) -> int:
    """LUT4 levels of a table indexed by `index_bits` (a LUT4 level and a multiplexer
    level per further three bits)."""
    return 0 if index_bits <= 0 else 1 + -(-max(index_bits - 4, 0) // 3)


def _element_range(src, e: int) -> tuple[int, int]:
    """Element `e`'s input codes (the whole input type where no ranges are inferred)."""
    if src.lo is None:
        return src.type.min_code, src.type.max_code
    return int(src.lo.reshape(-1)[e]), int(src.hi.reshape(-1)[e])


def _in_range(thresholds, lo: int, hi: int) -> tuple[int, int]:
    """The slice of the thresholds a code in [lo, hi] is compared against (those that can
    change the level)."""
    return (int(np.searchsorted(thresholds, lo, side="right")),
            int(np.searchsorted(thresholds, hi, side="right")))


def step_value(x, lo: int, hi: int, thresholds, levels):
    """One channel's step function of `x` (codes in [lo, hi]): only the thresholds inside
    that range are compared (no registers: a folded layer's lane). Always the tree: a
    lane holds one step function for all its outputs, so the search would save little,
    and its comparisons in a row would lengthen the lane's untimed path."""
    i0, i1 = _in_range(thresholds, lo, hi)
    return _tree_value(x, step_tree(thresholds[i0:i1], levels[i0:i1 + 1]))


def _tree_value(x, tree):
    if not isinstance(tree, _Mux):
        return Const(tree, element_shape(tree, tree))
    return Mux(x >= tree.threshold, _tree_value(x, tree.high), _tree_value(x, tree.low))


@register
@dataclass(eq=False, frozen=True)
class StepFunction(Node):
    """`thresholds[c]` is sorted ascending (input codes); `levels[c]` has one more entry
    (output codes). Output is `levels[c][j]` with `j` the number of thresholds <= x.
    A single row applies to every channel. Channels with fewer steps pad `thresholds`
    with a code above the input range. `function` says what it came from.
    """

    thresholds: np.ndarray = field(default=None)
    levels: np.ndarray = field(default=None)
    function: str = ""
    search_from: int = SEARCH_FROM   # elements of this many thresholds or more are searched
    op = "step"

    def row(self, e: int) -> int:
        """The row of steps that element `e` (flat index) uses: one row for all, one per
        channel (the last axis), or one per element."""
        rows = self.thresholds.shape[0]
        if rows == 1:
            return 0
        return e if rows == self.size else e % self.shape[-1]

    def evaluate(self, src, x):
        """Per-channel (or per-element) lookup; channels are the last axis."""
        th, lv = self.thresholds, self.levels
        if th.shape[0] == 1:
            idx = np.searchsorted(th[0], x.ravel(), side="right").reshape(x.shape)
            return as_codes(lv[0][idx])
        shape = x.shape
        x = x.reshape((-1,) + tuple(self.shape))        # codes may come flat
        flat = x.reshape(-1, x.shape[-1] if th.shape[0] != self.size else self.size)
        out = np.empty(flat.shape, dtype=lv.dtype)
        for c in range(flat.shape[1]):
            out[:, c] = lv[c][np.searchsorted(th[c], flat[:, c], side="right")]
        return as_codes(out.reshape(shape))

    def interval(self, src):
        """min/max of the levels reachable between the interval ends, per element."""
        flat_lo, flat_hi = src.lo.reshape(-1), src.hi.reshape(-1)
        out_lo = np.empty(flat_lo.shape, dtype=object)
        out_hi = np.empty(flat_hi.shape, dtype=object)
        for k in range(flat_lo.size):
            c = self.row(k)
            th, lv = self.thresholds[c], self.levels[c]
            i = np.searchsorted(th, flat_lo[k], side="right")
            j = np.searchsorted(th, flat_hi[k], side="right")
            reach = lv[i:j + 1]
            out_lo[k], out_hi[k] = int(reach.min()), int(reach.max())
        return as_codes(out_lo).reshape(self.shape), as_codes(out_hi).reshape(self.shape)

    def element_forms(self, src) -> list:
        """Per element, its multiplexer tree over the thresholds inside its input's range,
        or the search down it (`_form`), built once for the elements that share their
        steps and that range."""
        forms, out = {}, []
        for e in range(self.size):
            c = self.row(e)
            key = (c,) + _in_range(self.thresholds[c], *_element_range(src, e))
            if key not in forms:
                _, i0, i1 = key
                forms[key] = _form(step_tree(self.thresholds[c][i0:i1],
                                             self.levels[c][i0:i1 + 1]), self.search_from)
            out.append(forms[key])
        return out

    def logic_levels(self) -> int:
        """The levels of the deepest form any input range can take: at most the bit
        length of the longest row of thresholds (trees halve it; uniform subtrees are
        leaves), and one more where a row is long enough to be searched (the output's
        selection after the last comparison)."""
        n = self.thresholds.shape[1]
        return max(1, n.bit_length() + (1 if n >= self.search_from else 0))

    def level_costs(self, src, lut_inputs: int = 4):
        """A tree: a LUT level per level of the tree (about what Yosys and ABC map on
        ECP5: 255 thresholds took ten LUT4s in a row, and the random MLP whose schedule
        counted them as one level routed at 35 MHz against its 50 MHz target); the
        comparators' carry chains, on the input's width, in the first. A search: per
        comparison two LUT levels (the multiplexer between its two thresholds, and the
        LUT that takes the comparison bit off the carry chain before: on ECP5 nextpnr's
        critical path through the 255-threshold search had three LUT4s and nine CCU2C
        per comparison, 5.3 ns), one on a LUT6 (the multiplexer merges into the
        comparator's own LUT, which takes an input bit, both thresholds' bits and the
        comparison before; xc7), and its carry chain, which the next comparison waits for,
        so each level pays its own carry (as LUT levels, `_CARRY_LEVELS` a bit, not as
        the stage's widest carry, which a stage pays once), or the table lookup beside the
        comparison before where that is the longer (`_table_depth`); the level after its
        last comparison one LUT level (the output's multiplexer). Levels deeper than
        every element's form are wiring."""
        forms = self.element_forms(src)
        deepest = max(height(f) for f in forms)
        bits = max(element_shape(*_element_range(src, e)).width for e in range(self.size))
        trees = any(isinstance(f, _Mux) for f in forms)
        merged = 1 if lut_inputs >= 6 else 2      # LUT levels before a comparison's carry
        out = []
        for k in range(1, self.logic_levels() + 1):
            if k > max(deepest, 1):
                out.append((0, 0))
                continue
            depth = 1
            for f in forms:
                if isinstance(f, _Search) and k <= f.comparisons:
                    depth = max(depth, merged + bits * _CARRY_LEVELS, _table_depth(k - 2))
            out.append((depth, bits if k == 1 and trees else 0))
        return tuple(out)

    def register_bits(self, level: int, src) -> int:
        """Bits a register after `level` holds: the finished outputs; of each unfinished
        tree its finished subtrees and the comparisons still to select with; of each
        unfinished search, its input, its comparisons so far and the two thresholds the
        next may take (after the last comparison, it and the two outputs it selects
        between)."""
        held: dict = {}                       # per shared tree
        total = 0
        for e, form in enumerate(self.element_forms(src)):
            if height(form) <= level:
                total += element_shape(int(self.lo.reshape(-1)[e]),
                                       int(self.hi.reshape(-1)[e])).width
            elif isinstance(form, _Search) and level < form.comparisons:
                total += 3 * element_shape(*_element_range(src, e)).width + level
            elif isinstance(form, _Search):     # the last comparison, the two outputs
                total += 1 + 2 * element_shape(form.lo_level, form.hi_level).width
            else:
                if form not in held:
                    held[form] = sum(1 if kind == "select" else
                                     element_shape(n.lo_level, n.hi_level).width
                                     for kind, n in _live(form, level))
                total += held[form]
        return total

    def stats(self):
        return 0, 0, 0

    def details(self):
        return [f"{self.thresholds.shape[0]} channel(s), "
                f"{self.thresholds.shape[1]} thresholds: {self.function}"]

    def component(self, src):
        return StepLayer(self, src)

    def hls_precision(self):
        return None, (f"layer {self.layer} ({self.op}: hwgen folds it exactly; hls4ml "
                      "computes it in its own rounded arithmetic)")

    def manifest_fields(self):
        return {}

    def problems(self, src):
        out = same_shape(self, src)
        rows = self.thresholds.shape[0]
        if rows not in (1, self.shape[-1], self.size) or self.levels.shape != \
                (rows, self.thresholds.shape[1] + 1):
            out.append(f"thresholds {self.thresholds.shape} and levels "
                       f"{self.levels.shape} for {self.shape[-1]} channels, "
                       f"{self.size} elements")
        elif np.any(np.diff(self.thresholds, axis=1) < 0):
            out.append("thresholds not in ascending order")
        return out


    def lane_value(self, m, x, lo: int, hi: int, frac_in: int, name: str):
        """This op on one lane of a folded layer (one row of steps shared by the lane's
        outputs; `passes.fold_layers` fuses only those)."""
        return step_value(x, lo, hi, self.thresholds[0], self.levels[0])
