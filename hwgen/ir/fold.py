"""A folded (resource-shared) dense layer: a few multiply-accumulate lanes, each running a
fixed program of steps over the layer's non-zero weights.

`out[j] = sum_i w[i, j] * x[i] + c[j]` (a `LinearSum`'s exact matrix, in output codes). With
a reuse factor R the layer gets the fewest lanes whose programs fit in R cycles; each lane
owns whole outputs and computes them one after the other, one non-zero weight per cycle:
`acc = (first ? c[j] : acc) + (w' * x[src] << shift)`, and on an output's last step the
accumulator is complete. Pruned weights cost neither cycles nor memory. An output with no
weights is one step that loads its constant.

Outputs go to lanes longest first, each to the least loaded lane (LPT scheduling), so the
lanes finish close together; `cycles` is the longest program. An output with more weights
than the reuse factor then sets the cycles; with `split`, its sum is split instead, so the
layer meets the reuse factor exactly (hls4ml's meaning of it): the outputs' steps are laid
end to end and cut into lanes of equal length (McNaughton's wrap-around rule, optimal for
work that may be split: ceil(steps / reuse) lanes), each lane computes a segment of every
output it crosses (the first segment takes the constant, the others start at 0), and one
adder per output sums its segments once the lanes are done (`Fold.split`, one cycle more).
A lane's segments are contiguous runs of the steps, so its multiplexer covers at most
`cycles` inputs, but each lane has one of its own. The dense split instead cuts the
inputs into equal chunks and every output's sum at the chunks' bounds (zero weights
included): the lanes of one chunk read alike and share a multiplexer of its inputs (a
dense 128 x 10 layer at reuse 64: 20 lanes reading two 64-input multiplexers, where the
sparse split has one per lane; 2.6k LUT4 against 19.0k by Yosys on ECP5). A (near-)dense
layer instead
steps every output through every input in order (zero weights too), so all lanes read the
same input at each step and share one multiplexer (`shared_source`), when that costs no
more lanes, and no more cycles than the reuse factor or a quarter more than the sparse
program (`DENSE_SLACK`). `shift` is the weights' common power of two, taken out of the
stored weights so the multipliers are narrower. Bounds are exact intervals over the inputs' code bounds: the
accumulator of a lane is as wide as its widest partial sum, and every finished output lies
in the layer's range for that output (`passes.fold_layers` checks).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .types import FixedType


@dataclass(frozen=True)
class Step:
    source: int        # input element multiplied (any element when weight is 0)
    weight: int        # w[source, j] >> shift
    first: bool        # start output j: the accumulator takes the constant, not its value
    last: bool         # output j is complete after this step
    bias: int          # c[j] (meaningful on a first step)


@dataclass
class Fold:
    lanes: list[list[int]]         # per lane: the outputs it computes, in program order
    programs: list[list[Step]]     # per lane: `cycles` steps (idle steps pad short lanes)
    cycles: int                    # steps per inference (see `interval`)
    shift: int                     # weights stored as w >> shift
    acc_bounds: list[tuple[int, int]]   # per lane: every partial sum lies inside
    x_bounds: tuple[int, int]      # every input code lies inside (the multiplexer's shape)
    weight_bounds: tuple[int, int]
    bias_bounds: tuple[int, int]
    out_bounds: list[tuple[int, int]]   # per output: the finished accumulator's interval
    steps: int = 0                 # non-idle steps: the products per inference
    post: tuple[str, ...] = ()     # element-wise nodes after the layer computed in the lanes
    #                                (one per lane instead of one per output)
    mux_of: list[int] = field(default_factory=list)  # per lane: the lane whose input
    #                                multiplexer it reads (itself, or the first lane with the
    #                                same sources at every step: one multiplexer serves both)
    latch: bool = True             # latch the inputs (fed by another folded layer's chains);
    #                                else they hold by themselves, one cycle short of II
    own_latch: bool = False        # latch the inputs even where they hold by themselves:
    #                                the cycle it gives back lets a dense program share one
    #                                multiplexer (`passes.fold_layers`)
    split: bool = False            # some output's sum is split over lanes: `lanes` lists
    #                                segments, and an adder per output sums them at the end
    dense: bool = False            # every output steps through every input (of its chunk,
    #                                when split), zero weights too

    @property
    def interval(self) -> int:
        """The fewest cycles between input vectors this layer takes: its program, plus one
        when it reads unlatched inputs (they change on the cycle the next vector is valid,
        while its last step is still reading)."""
        return self.cycles + (0 if self.latch else 1)

    PIPELINE = 3    # cycles from a step's address to its accumulation (memory, operands,
    #                 product), see ops/linear_sum_folded.py; one more with `post`

    @property
    def latency(self) -> int:
        """Cycles from the layer's input valid to its output valid."""
        return self.cycles + self.PIPELINE + (1 if self.post else 0) + (1 if self.split else 0)

    def segments(self, j: int) -> list[tuple[int, int]]:
        """Where output j's partial sums end up: (lane, position in its output chain)."""
        return [(lane, k) for lane, outs in enumerate(self.lanes)
                for k, o in enumerate(outs) if o == j]

    @property
    def product_in_logic(self) -> bool:
        """The lanes multiply by shift-and-add in logic, not with a `*` (which Yosys maps
        to a DSP block on ECP5 and xc7 from 2 x 2 bits on): one operand has at most
        LOGIC_PRODUCT_BITS bits, so the product is that many shifted copies of the other
        summed, a few dozen logic cells, where a DSP block is scarce (QKeras's
        example_mnist, 4-bit weights and activations, needed 256 MULT18X18D in a
        rate-matched stream; the LFE5U-85F has 156)."""
        bits = [FixedType.for_range(int(lo), int(hi), 0).width
                for lo, hi in (self.x_bounds, self.weight_bounds)]
        return min(bits) <= LOGIC_PRODUCT_BITS

    @property
    def multipliers(self) -> int:
        return len(self.lanes)

    @property
    def multiplexers(self) -> int:
        """Input multiplexers: one per distinct sequence of sources the lanes read."""
        return len(set(self.mux_of))

    @property
    def shared_source(self) -> bool:
        """Every lane reads the same input at every step (a dense layer): one
        multiplexer serves all lanes."""
        return len(self.lanes) > 1 and self.multiplexers == 1


# Lane products with an operand this narrow are shift-and-add logic (`Fold.product_in_logic`).
LOGIC_PRODUCT_BITS = 4


# A sparse program gives every lane its own input multiplexer; the dense one shares one.
# Worth up to 25 % more cycles, measured on the real QKeras jet tagger at reuse 16: its
# 45 %-pruned fc2 (outputs of 30-53 weights, 32 lanes either way) sparse in 53 cycles
# made 32 64-input multiplexers, 18.5k LUT4 in all, and took 26 minutes to place and
# route on the LFE5U-45F; dense in 64 cycles the design is 8.3k LUT4 (60 multipliers
# instead of 67: the other layers balance to the longer II), routed in 4 minutes, and
# runs at 69.3 MHz instead of 68.8, for 17 % less throughput (II 64 instead of 53).
DENSE_SLACK = 1.25


def plan(weights, bias, lo_in, hi_in, reuse: int, split: bool = False,
         cost: Callable[[Fold], float] | None = None) -> Fold:
    """The fold of a layer with exact matrix `weights` [n_in, n_out] and constants `bias`
    for inputs with code bounds `lo_in`/`hi_in`, in at most `reuse` cycles where the
    longest output allows (else in as many cycles as that output has weights, or, with
    `split`, in `reuse` cycles with outputs split over lanes). A split fold is either
    form, sparse or dense (module docstring), whichever `cost` (logic cells on the
    target, `ir/fold_cost.py`) finds smaller; without it, dense where it takes at most
    DENSE_SLACK times the lanes."""
    n_in, n_out = weights.shape
    cols = [[(i, int(weights[i, j])) for i in range(n_in) if weights[i, j]]
            for j in range(n_out)]
    nonzero = [w for col in cols for _, w in col]
    shift = min((_trailing_zeros(w) for w in nonzero), default=0)
    loads = [max(len(c), 1) for c in cols]
    if split and max(loads) > max(reuse, 1):
        sparse = _split_plan(cols, bias, lo_in, hi_in, reuse, shift)
        dense = _dense_split_plan(weights, bias, lo_in, hi_in, reuse, shift, sum(loads))
        if cost is None:
            return dense if len(dense.lanes) <= DENSE_SLACK * len(sparse.lanes) else sparse
        return dense if cost(dense) < cost(sparse) else sparse
    lanes = _lanes(loads, reuse)
    cycles = max(sum(loads[j] for j in lane) for lane in lanes)
    # A (near-)dense layer: every output steps through every input in order, zero weights
    # included, so at each step all lanes read the same input and share one multiplexer.
    # Taken when it needs no more lanes than skipping the zeros, and no more cycles than
    # the reuse factor allows or DENSE_SLACK times the sparse program's.
    dense_lanes = _lanes([n_in] * n_out, reuse)
    dense_cycles = max(len(lane) for lane in dense_lanes) * n_in
    dense = dense_cycles <= max(DENSE_SLACK * cycles, reuse) and \
        len(dense_lanes) <= len(lanes)
    if dense:
        lanes, cycles = dense_lanes, dense_cycles
        cols = [[(i, int(weights[i, j])) for i in range(n_in)] for j in range(n_out)]
    segmented = []                      # per lane: (output, its terms, its constant)
    for lane in lanes:
        segments, src = [], 0
        for j in lane:                  # an output without weights: one step of its constant
            terms = cols[j] or [(src, 0)]
            segments.append((j, terms, int(bias[j])))
            src = terms[-1][0]
        segmented.append(segments)
    # Idle steps multiply by 0: sparse, the last source again (nothing toggles); dense,
    # the source every lane reads at that step.
    return _segmented(segmented, cycles, n_out, lo_in, hi_in, shift,
                      _in_pattern if dense else _last_source,
                      _rom_bounds(lo_in, hi_in, [w >> shift for w in nonzero], bias),
                      sum(loads), dense=dense, split=False)


def _mux_of(programs: list[list[Step]]) -> list[int]:
    """Per lane, the first lane that reads the same source at every step (its own index
    when none before it does): lanes that select alike share one multiplexer."""
    first: dict[tuple, int] = {}
    return [first.setdefault(tuple(s.source for s in steps), lane)
            for lane, steps in enumerate(programs)]


def _rom_bounds(lo_in, hi_in, stored, bias):
    """The shapes the lanes hold: every input code, stored weight and constant (and 0,
    which idle steps use) lies inside (x_bounds, weight_bounds, bias_bounds)."""
    stored, consts = list(stored) + [0], [int(v) for v in bias] + [0]
    return ((min(0, min(int(v) for v in lo_in)), max(0, max(int(v) for v in hi_in))),
            (min(stored), max(stored)), (min(consts), max(consts)))


def _split_plan(cols, bias, lo_in, hi_in, reuse: int, shift: int) -> Fold:
    """`plan` with outputs split over lanes (McNaughton's wrap-around rule): every
    output's steps end to end (an output without weights one step of its constant), cut
    into the fewest lanes of at most `reuse` steps, as equal as can be."""
    n_out = len(cols)
    seq = [(j, t) for j in range(n_out) for t in (cols[j] or [(0, 0)])]
    count = -(-len(seq) // max(reuse, 1))
    cycles = -(-len(seq) // count)
    lanes, started = [], set()
    for start in range(0, len(seq), cycles):
        chunk = seq[start:start + cycles]
        segments = []                   # runs of one output's terms
        for j, term in chunk:
            if not segments or segments[-1][0] != j:
                segments.append((j, [], int(bias[j]) if j not in started else 0))
                started.add(j)
            segments[-1][1].append(term)
        lanes.append(segments)
    return _segmented(lanes, cycles, n_out, lo_in, hi_in, shift, _last_source,
                      _rom_bounds(lo_in, hi_in, [w >> shift for _, (_, w) in seq], bias),
                      len(seq), dense=False, split=True)


def _dense_split_plan(weights, bias, lo_in, hi_in, reuse: int, shift: int,
                      products: int) -> Fold:
    """`plan` with outputs split over lanes at the same inputs: the inputs cut into the
    fewest equal chunks of at most `reuse`, every output's sum into one segment per chunk
    (zero weights included), and each lane given as many outputs' segments of one chunk as
    fit in `reuse` cycles. The lanes of a chunk read the same input at every step and
    share one multiplexer of the chunk's inputs, so the multiplexers together select from
    the layer's inputs once, where the sparse split gives each lane its own."""
    n_in, n_out = weights.shape
    chunks = -(-n_in // max(reuse, 1))
    length = -(-n_in // chunks)
    per_lane = max(reuse // length, 1)
    lanes = []
    for start in range(0, n_in, length):
        inputs = range(start, min(start + length, n_in))
        for first_out in range(0, n_out, per_lane):
            lanes.append([(j, [(i, int(weights[i, j])) for i in inputs],
                           int(bias[j]) if start == 0 else 0)
                          for j in range(first_out, min(first_out + per_lane, n_out))])
    nonzero = [int(w) >> shift for w in weights.reshape(-1) if w]
    return _segmented(lanes, per_lane * length, n_out, lo_in, hi_in, shift, _in_pattern,
                      _rom_bounds(lo_in, hi_in, nonzero, bias), products, dense=True,
                      split=True)


def _last_source(segments, steps, k: int) -> int:
    """An idle step of a sparse program reads the lane's last source again."""
    return steps[-1].source


def _in_pattern(segments, steps, k: int) -> int:
    """An idle step of a dense program reads what the lane's first segment reads at
    that step (the inputs of its chunk in order), as the lanes sharing its multiplexer
    do."""
    terms = segments[0][1]
    return terms[k % len(terms)][0]


def _segmented(lanes, cycles: int, n_out: int, lo_in, hi_in, shift: int, idle_source,
               rom_bounds, products: int, dense: bool, split: bool) -> Fold:
    """A fold from its lanes, each a list of segments (output j, its terms
    [(input, weight)], the constant the segment starts from; one segment an output
    unless `split`): the programs padded to `cycles` with idle steps reading
    `idle_source(segments, steps, k)`, the lanes' accumulator bounds, and each output's
    interval, the sum of its segments' (their terms are independent)."""
    programs, acc_bounds = [], []
    out_bounds = [(0, 0)] * n_out
    for segments in lanes:
        steps, lo_acc, hi_acc = [], 0, 0
        for j, terms, c in segments:
            lo = hi = c
            lo_acc, hi_acc = min(lo_acc, lo), max(hi_acc, hi)
            for k, (i, w) in enumerate(terms):
                a, b = w * int(lo_in[i]), w * int(hi_in[i])
                lo, hi = lo + min(a, b), hi + max(a, b)
                lo_acc, hi_acc = min(lo_acc, lo), max(hi_acc, hi)
                steps.append(Step(i, w >> shift, k == 0, k == len(terms) - 1, c))
            out_bounds[j] = (out_bounds[j][0] + lo, out_bounds[j][1] + hi)
        steps += [Step(idle_source(segments, steps, k), 0, False, False, 0)
                  for k in range(len(steps), cycles)]
        programs.append(steps)
        acc_bounds.append((lo_acc, hi_acc))
    return Fold([[j for j, _, _ in segments] for segments in lanes], programs, cycles,
                shift, acc_bounds, *rom_bounds, out_bounds, products, split=split,
                mux_of=_mux_of(programs), dense=dense)


def _trailing_zeros(w: int) -> int:
    return (abs(w) & -abs(w)).bit_length() - 1


def _lanes(loads: list[int], reuse: int) -> list[list[int]]:
    """The fewest lanes whose longest-first schedule fits in `reuse` cycles; one lane per
    output when even that does not fit."""
    n = len(loads)
    need = max(-(-sum(loads) // max(reuse, 1)), 1)
    for count in range(min(need, n), n + 1):
        lanes = _lpt(loads, count)
        if max(sum(loads[j] for j in lane) for lane in lanes) <= reuse:
            return lanes
    return _lpt(loads, n)


def _lpt(loads: list[int], count: int) -> list[list[int]]:
    """Longest processing time first: each output (largest first, lowest index on ties)
    to the least loaded lane (lowest lane on ties); outputs in index order per lane."""
    lanes, totals = [[] for _ in range(count)], [0] * count
    for j in sorted(range(len(loads)), key=lambda j: (-loads[j], j)):
        k = min(range(count), key=lambda k: (totals[k], k))
        lanes[k].append(j)
        totals[k] += loads[j]
    return [sorted(lane) for lane in lanes if lane]


def run(fold: Fold, x: list[int]) -> list[int]:
    """What the lanes compute for one input vector of codes: the outputs, by stepping the
    programs exactly as the hardware does (a check of the plan, used by the tests)."""
    out = {}
    for lane, steps in zip(fold.lanes, fold.programs):
        acc, done = 0, []
        for s in steps:
            acc = (s.bias if s.first else acc) + ((s.weight * x[s.source]) << fold.shift)
            if s.last:
                done.append(acc)
        for j, value in zip(lane, done):
            out[j] = out.get(j, 0) + value        # a split output: its segments' sum
    return [out[j] for j in range(len(out))]
