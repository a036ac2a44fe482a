"""Logic cells of a dense layer's two forms, estimated from the IR: its full-rate adder
graph (`ir/adder_graph.py`) and its folded lanes (`ir/fold.py`). `FoldLayers` keeps a
layer at full rate where the adder graph is no larger than the lanes that would replace
it: a small or very sparse layer whose few adders cost less than a lane's multiplexer,
accumulator and registers gains nothing from folding, and would spend a multiplier, a
block RAM and `cycles + 3` cycles of latency on it.

Units are the target's logic cells, the unit nextpnr packs and a device holds:

- ECP5: LUT4 slots (a CCU2C is two), a slice's LUT4 and flip-flop sharing a cell;
- iCE40: logic cells (a LUT4, its carry and a flip-flop);
- xc7: LUT6s, with two flip-flops per LUT in a slice;
- ASIC: two-input gates as Yosys maps them (`abc -g cmos2`, `estimate/yosys.py`), about 7
  per adder bit. For the lanes only a lower bound: their multipliers at 6 gates per bit
  of x bits * w bits and 2 per flip-flop counted (a flip-flop is 6-7 gates' transistors,
  and Yosys kept as few as half of those counted), nothing for multiplexers,
  accumulators and the program ROM. Yosys's lanes measured 440 to 1,440 gates each for 8x6 to 8x8
  multipliers (how much of the multiplexer and program ROM its logic optimisation
  removes varies too much for a closer estimate), so on an ASIC a layer stays at full
  rate only where even that lower bound exceeds its adder graph.

Full rate: one cell per adder bit on a carry chain (ECP5 and iCE40 chains span the
adder's width), one per bit where both operands have bits on xc7 (what an offset-binary
adder costs there, `ir/cmvm._Bits`). Folded, per lane: its input multiplexer (used inputs
- 1 two-input selections per input bit; a LUT6 selects from four), its accumulator (an
add and the first step's selection of the constant), and its registers (operands,
product, accumulator, output chain, latched inputs); the multiplier is a DSP block on the
FPGAs (free in cells, unless the product is narrower than Yosys maps to one, or the lanes
multiply in logic, `Fold.product_in_logic`) and logic on an ASIC. The program ROM is block RAM on the FPGAs, not counted. Full rate counts no
registers: its pipeline cuts come later, by delay.

Measured against Yosys's per-layer synthesis (`estimate/yosys.py`) on ten random 8-32
input layers (50-95 % pruned, 3-8 bit weights, reuse 8): full-rate cells within 8 % of
the model on ECP5 and iCE40 (20 against 22 adder bits, 1,836 against 1,913). The model
picks the smaller form by Yosys's count in all ten on ECP5 (kept: 2-11 adders, 20-108
cells against 69-147 folded; folded: 17-150 adders) and iCE40, and in eight on xc7 (the
two misses within 4 LUTs). On an ASIC all ten were smaller at full rate (by 1.2-6x); the
lower bound keeps the clearest (2 adders) and folds the rest as asked, as it folds the
24 x 16 layer of tests/passes/test_fold_cost.py, 1.4x smaller folded.
"""
from __future__ import annotations

from dataclasses import dataclass

from .adder_graph import AdderGraph
from .cmvm import overlap
from .fold import Fold
from .types import FixedType


@dataclass(frozen=True)
class CellCost:
    adder_bit: float        # a carry-chain adder bit (full rate)
    overlap_only: bool      # an adder costs only the bits where both operands have bits
    mux_bit: float          # one two-input selection of one bit
    acc_bit: float          # an accumulator bit: the add and the first-step selection
    ff: float               # a flip-flop
    ff_packs: bool          # flip-flops share cells with the logic: cells = max(logic, ff)
    product_bit: float      # a lane multiplier in logic: per bit of x bits * w bits
    dsp_product: int | None  # product width from which Yosys maps a multiplier to a DSP
    #                          block (its mul2dsp DSP_Y_MINWIDTH); None: never


COSTS = {
    "ecp5": CellCost(1.0, False, 1.0, 2.0, 1.0, True, 1.0, 0),
    "ice40": CellCost(1.1, False, 1.0, 2.0, 0.75, True, 1.0, 11),
    "xc7": CellCost(0.6, True, 1 / 3, 1.0, 0.375, True, 0.5, 0),
    "asic": CellCost(7.0, False, 0.0, 0.0, 2.0, False, 6.0, None),
}


def _width(lo: int, hi: int) -> int:
    return FixedType.for_range(int(lo), int(hi), 0).width


def full_rate_cells(graph: AdderGraph, target: str) -> float:
    """Cells of a layer's adder graph on `target`."""
    cost = COSTS[target]
    bits = 0
    for n in graph.nodes:
        if not n.is_adder:
            continue
        if cost.overlap_only:      # the bits where both operands have bits
            (lo, hi) = (n.a, n.b) if n.a.shift <= n.b.shift else (n.b, n.a)
            bits += overlap(lo.node.type.width, hi.node.type.width, hi.shift - lo.shift)
        else:
            bits += n.type.width
    # a negated output is one subtraction more (`AdderGraph.adders`)
    bits += sum(r.node.type.width for r in graph.outputs if r.subtracts
                and not r.node.is_constant)
    return bits * cost.adder_bit


def folded_cells(fold: Fold, out_width: int, n_in: int, target: str) -> float:
    """Cells of the lanes of `fold` on `target`; `out_width`: the bits a lane's output
    chain holds per output (the fused activation's, else the sum's); `n_in`: the inputs
    a latched fold registers."""
    cost = COSTS[target]
    bits = lane_bits(fold, out_width, n_in)
    in_dsp = cost.dsp_product is not None and bits["product_width"] >= cost.dsp_product \
        and not fold.product_in_logic
    logic = (bits["mux"] * cost.mux_bit + bits["acc"] * cost.acc_bit
             + (0 if in_dsp else bits["product"] * cost.product_bit))
    ff = bits["ff"] * cost.ff
    return max(logic, ff) if cost.ff_packs else logic + ff


def lane_bits(fold: Fold, out_width: int, n_in: int) -> dict:
    """What the lanes of `fold` hold, in bits: `mux` two-input selections, `acc`
    accumulator bits, `product` x bits * w bits of the multipliers (`product_width`: one
    product's), `ff` flip-flops. (The program ROM is block RAM on the FPGAs; on an ASIC
    Yosys folds most of its constants into the lanes' logic.)"""
    xw = _width(*fold.x_bounds)
    ww = _width(*fold.weight_bounds)
    bw = _width(*fold.bias_bounds)
    bits = dict(mux=0, acc=0, product=0, ff=0, product_width=xw + ww)
    for lane, (outs, steps, acc) in enumerate(zip(fold.lanes, fold.programs,
                                                  fold.acc_bounds)):
        aw = _width(*acc)
        used = len({s.source for s in steps})
        if fold.mux_of[lane] == lane:       # lanes that select alike share one
            bits["mux"] += max(used - 1, 0) * xw
        bits["acc"] += aw
        bits["product"] += xw * ww
        # operands (x, w, constant, first, last), product and its constant, accumulator,
        # output chain
        bits["ff"] += (xw + ww + 2 * bw + 4 + xw + ww + aw
                       + len(outs) * (aw if fold.split else out_width))
    if fold.latch:
        bits["ff"] += n_in * xw
    return bits
