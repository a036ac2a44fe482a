"""A folded design keeps a layer at full rate where its adder graph costs no more cells
than the lanes folding would take (hwgen/ir/fold_cost.py, passes/fold_layers.py): the
choice, its exactness in Verilator, and that it is the smaller by Yosys's count."""
import numpy as np
import pytest

from hwgen.estimate.yosys import synthesize
from hwgen.flow import build_rtl
from hwgen.ir import interp
from hwgen.ir.bounds import dense_bounds
from hwgen.ir.graph import Graph
from hwgen.ir.types import FixedType, Overflow, Rounding
from hwgen.ops import Dense, FoldedLinearSum, Input, LinearSum, Quantize
from hwgen.options import HardwareOptions
from hwgen.passes import pipelines

from ..cosim_checks import assert_exact_in_batch_and_stream


def _dense(name, src, w, bias, wf=4, bf=2):
    frac = max(src.type.frac + wf, bf)
    lo, hi = dense_bounds(w, bias, src.type.min_code, src.type.max_code, src.type.frac, wf,
                          bf, frac)
    t = FixedType.for_range(min(int(lo.min()), 0), max(int(hi.max()), 0), frac)
    return Dense(name, name, (w.shape[1],), t, (src.name,), "QDense",
                 weights=w.astype(np.int64), weight_frac=wf, bias=bias.astype(np.int64),
                 bias_frac=bf)


def wide_and_tiny(seed: int) -> Graph:
    """A 24 -> 16 layer of 6-bit weights (30 % pruned), a quantizer, then a 16 -> 3 layer
    with five non-zero weights: the first folds smaller, the second is a few adders."""
    rng = np.random.default_rng(seed)
    x = Input("input", "input", (24,), FixedType(True, 8, 3), origin="InputLayer")
    w1 = rng.integers(-31, 32, size=(24, 16))
    w1[rng.random(w1.shape) < 0.3] = 0
    wide = _dense("wide", x, w1, rng.integers(-64, 65, size=16))
    q = Quantize("act", "act", wide.shape, FixedType(True, 7, 3), (wide.name,),
                 "QActivation", rounding=Rounding.RND, overflow=Overflow.SAT)
    w2 = np.zeros((16, 3), dtype=np.int64)
    for i, j in zip(rng.choice(16, 5, replace=False), [0, 1, 2, 0, 1]):
        w2[i, j] = int(rng.choice([-8, -4, 4, 8, 12]))
    tiny = _dense("tiny", q, w2, rng.integers(-16, 17, size=3))
    return Graph([x, wide, q, tiny], name=f"wide_tiny{seed}")


def _forms(lowered) -> dict:
    return {n.layer: type(n).__name__ for n in lowered.nodes
            if isinstance(n, (LinearSum, FoldedLinearSum))}


@pytest.mark.parametrize("target", ["ecp5", "ice40", "xc7", "asic"])
def test_a_layer_cheaper_at_full_rate_is_not_folded(target):
    g = wide_and_tiny(0)
    lowered = pipelines.hardware("csd", None, reuse=8, target=target).run(g)
    forms = _forms(lowered)
    assert forms == {"wide": "FoldedLinearSum", "tiny": "LinearSum"}
    # named by --reuse LAYER=R, a layer folds as asked
    named = pipelines.hardware("csd", None, reuse=8, layer_reuse={"tiny": 8},
                               target=target).run(g)
    assert _forms(named)["tiny"] == "FoldedLinearSum"
    # the same function in every form
    rng = np.random.default_rng(1)
    xs = rng.integers(-128, 128, size=(300, 24))
    want = interp.run(g, xs)
    for graph in (lowered, named):
        assert np.array_equal(interp.run(graph, xs), want)


def test_kept_layer_after_a_folded_one_is_exact_in_verilator(tmp_path):
    g = wide_and_tiny(2)
    lowered, b = build_rtl(g, tmp_path, HardwareOptions("csd", None, 8))
    assert _forms(lowered) == {"wide": "FoldedLinearSum", "tiny": "LinearSum"}
    assert b.data["ii"] > 1
    assert_exact_in_batch_and_stream(g, b.data, tmp_path / "rtl", tmp_path, 3, 2000, 300)


def _cells(row: dict, target: str) -> float:
    """ECP5: LUT4 slots (a CCU2C is two), a flip-flop sharing each; ASIC: gates, and a
    flip-flop as 5 (`fold_cost.COSTS`)."""
    if target == "ecp5":
        return max(row["LUT4"] + 2 * row["CCU2C"], row["FF"])
    return row["gates"] + 5 * row["FF"]


@pytest.mark.parametrize("target", ["ecp5", "asic"])
def test_the_form_kept_is_the_smaller_by_yosys(tmp_path, target):
    """Each layer in both forms, synthesized on its own: the form FoldLayers picks has
    fewer cells (ECP5) or gates (ASIC, where the lanes' multipliers are logic)."""
    g = wide_and_tiny(0)
    picked = {"wide": "FoldedLinearSum", "tiny": "LinearSum"}
    other = {"wide": 1, "tiny": 8}
    cells = {}
    for label, hw in (("picked", HardwareOptions("csd", 0, 8, target=target)),
                      ("other", HardwareOptions("csd", 0, 8, other, target=target))):
        lowered, b = build_rtl(g, tmp_path / label, hw)
        mods = {r["layer"]: r["module"] for r in b.data["layers"] if r["module"]}
        per = synthesize(tmp_path / label / b.data["verilog"], list(mods.values()),
                         b.data["top"], target, tmp_path / label / "synth",
                         log=lambda s: None)
        cells[label] = {layer: _cells(per[m], target) for layer, m in mods.items()
                        if layer in picked}
        cells[label + " forms"] = _forms(lowered)
    assert cells["picked forms"] == picked
    assert all(cells["other forms"][layer] != form for layer, form in picked.items())
    for layer in picked:
        assert cells["picked"][layer] < cells["other"][layer], cells


def test_a_first_layer_latches_its_inputs_where_that_shares_its_multiplexer(monkeypatch):
    """The zoo jet tagger at reuse 16: fc2 sets the II to 64. fc1 reads the input
    registers, so unlatched it has 63 cycles: 16 lanes of a sparse program, each with its
    own 16-input multiplexer. Latched, the dense program's 64 cycles fit and its 16 lanes
    share one; fewer cells by the cost model (and 6,058 -> 3,178 LUT4 by Yosys on ECP5)."""
    import hwgen
    from hwgen.passes.fold_layers import FoldLayers
    _, g = hwgen.compile_model("jet_tagger")

    def folds():
        lowered = pipelines.hardware("csd", None, 16).run(g)
        return {n.layer: n.fold for n in lowered.nodes if isinstance(n, FoldedLinearSum)}
    chosen = folds()
    fc1 = chosen["fc1"]
    assert fc1.own_latch and fc1.latch and fc1.dense and fc1.multiplexers == 1
    assert fc1.interval == chosen["fc2"].interval == 64
    monkeypatch.setattr(FoldLayers, "_latch_if_smaller", lambda self, g, n, plan, c: plan)
    plain = folds()["fc1"]
    assert not plain.own_latch and not plain.latch and plain.multiplexers == 16
    assert plain.interval == plain.cycles + 1 <= 64
