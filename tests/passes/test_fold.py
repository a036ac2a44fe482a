"""Folded dense layers: the lane programs compute the exact matrix product, fit the reuse
factor, and the pass fuses element-wise ops and rejects bad options."""
import numpy as np
import pytest

from hwgen.errors import HwgenError
from hwgen.ir import fold, interp
from hwgen.ops import FoldedLinearSum, LinearSum
from hwgen.ir.text import dump
from hwgen.options import HardwareOptions
from hwgen.passes import pipelines
from hwgen.passes.fold_layers import FoldLayers
from hwgen.passes.schedule_pipeline import initiation_interval, latency

from ..hw_factory import random_graph


def _matrix(rng, n_in, n_out, sparsity):
    w = rng.integers(-40, 41, size=(n_in, n_out)) * (1 << int(rng.integers(0, 3)))
    w[rng.random(w.shape) < sparsity] = 0
    w[:, 0] = 0                                   # an output with no weights: its constant
    return w.astype(object), rng.integers(-300, 301, size=n_out).astype(object)


@pytest.mark.parametrize("seed", range(12))
def test_lane_programs_compute_the_exact_product(seed):
    rng = np.random.default_rng(seed)
    n_in, n_out = int(rng.integers(1, 40)), int(rng.integers(1, 20))
    w, c = _matrix(rng, n_in, n_out, float(rng.choice([0.0, 0.5, 0.9])))
    lo = rng.integers(-20, 5, size=n_in)
    hi = lo + rng.integers(0, 30, size=n_in)
    reuse = int(rng.integers(1, 80))
    plan = fold.plan(w, c, lo, hi, reuse)
    loads = [max(int(np.count_nonzero(w[:, j])), 1) for j in range(n_out)]
    assert plan.cycles <= max(reuse, max(loads))
    assert all(len(p) == plan.cycles for p in plan.programs)
    assert sorted(j for lane in plan.lanes for j in lane) == list(range(n_out))
    assert plan.steps == sum(loads)
    _assert_exact(plan, w, c, lo, hi, rng)


def _assert_exact(plan, w, c, lo, hi, rng):
    """On random inputs the lanes compute the exact product, and every partial sum the
    accumulator holds lies in the lane's bounds."""
    n_in, n_out = w.shape
    for _ in range(50):
        x = [int(rng.integers(a, b + 1)) for a, b in zip(lo, hi)]
        want = [sum(int(w[i, j]) * x[i] for i in range(n_in)) + int(c[j]) for j in range(n_out)]
        assert fold.run(plan, x) == want
        for steps, (a, b) in zip(plan.programs, plan.acc_bounds):
            acc = 0
            for s in steps:
                acc = (s.bias if s.first else acc) + ((s.weight * x[s.source]) << plan.shift)
                assert a <= acc <= b


def test_fewest_lanes_within_the_reuse_factor():
    w = np.ones((10, 6), dtype=object)           # six outputs of ten weights each
    c = np.zeros(6, dtype=object)
    lo, hi = np.zeros(10, int), np.ones(10, int)
    assert len(fold.plan(w, c, lo, hi, 60).lanes) == 1
    assert len(fold.plan(w, c, lo, hi, 30).lanes) == 2
    assert len(fold.plan(w, c, lo, hi, 29).lanes) == 3
    five = fold.plan(w, c, lo, hi, 5)               # below one output's length: a lane each
    assert len(five.lanes) == 6 and five.cycles == 10
    assert fold.plan(w * 4, c, lo, hi, 60).shift == 2


def test_a_dense_layer_shares_one_multiplexer():
    rng = np.random.default_rng(3)
    w = rng.integers(1, 9, size=(16, 8)).astype(object)
    w[3, 2] = 0                                   # near-dense: one zero weight
    c = np.zeros(8, dtype=object)
    lo, hi = np.zeros(16, int), np.full(16, 7)
    near = fold.plan(w, c, lo, hi, 32)
    assert near.shared_source and len(near.lanes) == 4 and near.cycles == 32
    for k in range(near.cycles):                  # every lane reads input k mod 16 at step k
        assert {p[k].source for p in near.programs} == {k % 16}
    x = [int(v) for v in rng.integers(0, 8, size=16)]
    assert fold.run(near, x) == [sum(int(w[i, j]) * x[i] for i in range(16)) for j in range(8)]
    w[rng.random(w.shape) < 0.8] = 0              # sparse: zeros skipped, no sharing
    assert not fold.plan(w, c, lo, hi, 32).shared_source


@pytest.mark.parametrize("zeros, shared", [(3, True), (4, False)])
def test_one_multiplexer_is_worth_a_quarter_more_cycles(zeros, shared):
    """A lane per output (outputs longer than the reuse factor): the dense program takes
    16 cycles; skipping the zeros takes 13 (dense within DENSE_SLACK) or 12 (not)."""
    rng = np.random.default_rng(5)
    w = rng.integers(1, 9, size=(16, 8)).astype(object)
    for j in range(8):
        w[rng.choice(16, zeros, replace=False), j] = 0
    c = rng.integers(-5, 5, size=8).astype(object)
    lo, hi = np.zeros(16, int), np.full(16, 7)
    f = fold.plan(w, c, lo, hi, 4)
    assert f.shared_source == shared and len(f.lanes) == 8
    assert f.cycles == (16 if shared else 16 - zeros)
    x = [int(v) for v in rng.integers(0, 8, size=16)]
    assert fold.run(f, x) == [sum(int(w[i, j]) * x[i] for i in range(16)) + int(c[j])
                              for j in range(8)]


@pytest.mark.usefixtures("fold_every_layer")   # the lanes are under test
def test_quantize_and_relu_join_the_lanes():
    g = random_graph(19, sparsity=0.3)     # quant1 wraps: relu1 stays an op of its own
    lowered = pipelines.hardware("csd", 2, reuse=4).run(g)
    folded = [n for n in lowered.nodes if isinstance(n, FoldedLinearSum)]
    assert len(folded) == 2 and not any(isinstance(n, LinearSum) for n in lowered.nodes)
    assert folded[0].fold.post == ("quant1", "relu1")
    assert [p.name for p in folded[0].post] == ["quant1", "relu1"]
    assert not any(n.name in ("quant1", "relu1") for n in lowered.nodes)   # in the lanes
    assert folded[1].inputs == ("dense1",)       # reads the folded node, not relu1
    assert folded[0].type == folded[0].post[-1].type
    assert all(not n.register_after for n in folded)
    x = np.random.default_rng(0).integers(g.input.type.min_code, g.input.type.max_code + 1,
                                          (50,) + g.input.shape)
    assert np.array_equal(interp.run(lowered, x), interp.run(g, x))
    assert initiation_interval(lowered) == max(n.fold.interval for n in folded)
    assert latency(lowered) >= sum(n.fold.latency for n in folded) + 2
    text = dump(lowered)          # ir.txt and the pass dumps show the fold, not adder graphs
    first = folded[0].fold
    assert (f"folded: {len(first.lanes)} multiply-accumulate lane(s), {first.cycles} cycles"
            in text)
    assert "lanes compute %quant1" in text and "lanes compute %relu1" in text
    assert "adder graph" not in text
    only = pipelines.hardware("csd", 2, layer_reuse={"dense2": 3}).run(g)
    assert [type(n).__name__ for n in only.nodes if n.op.endswith("linear_sum")] == \
        ["LinearSum", "FoldedLinearSum"]


def test_layers_faster_than_the_slowest_take_fewer_lanes():
    """The jet tagger at reuse 16: its 64-weight outputs set II to 64, so fc1 (16 inputs)
    takes up to 64 cycles (its inputs latched, see test_fold_cost) on fewer lanes instead
    of 16 cycles on 64 lanes."""
    import hwgen
    _, g = hwgen.compile_model("jet_tagger")
    balanced = pipelines.hardware("csd", 3, reuse=16).run(g)
    pinned = pipelines.hardware("csd", 3, reuse=16, layer_reuse={"fc1": 16}).run(g)
    fc1 = {name: graph.node("fc1").fold for name, graph in (("balanced", balanced),
                                                             ("pinned", pinned))}
    assert len(fc1["pinned"].lanes) == 64 and fc1["pinned"].cycles == 16
    assert len(fc1["balanced"].lanes) <= 16 and fc1["balanced"].interval <= 64
    assert initiation_interval(balanced) == initiation_interval(pinned) == 64
    assert latency(balanced) > latency(pinned)          # the price: more cycles in flight
    lanes = lambda graph: sum(len(n.fold.lanes) for n in graph.nodes  # noqa: E731
                              if isinstance(n, FoldedLinearSum))
    assert lanes(balanced) < lanes(pinned) - 40


def test_reuse_option_errors():
    with pytest.raises(HwgenError, match="reuse: the model has no dense or convolution "
                       "layer named .relu1."):
        FoldLayers(2, {"relu1": 4}).run(pipelines.hardware("csd").run(random_graph(1)))
    with pytest.raises(HwgenError, match="whole number of cycles"):
        HardwareOptions(reuse=0)
    with pytest.raises(HwgenError, match="whole number of cycles or LAYER=N"):
        HardwareOptions.parse_reuse(["fast"])
    with pytest.raises(HwgenError, match="given twice"):
        HardwareOptions.parse_reuse(["4", "8"])
    assert HardwareOptions.parse_reuse(["8", "fc1=16"]) == (8, {"fc1": 16})


def test_report_rows_of_consecutive_folded_layers(tmp_path):
    """A folded sum reads the last op fused into the folded layer before it (make hw's
    folded jet tagger once stopped at the report on that)."""
    from hwgen.flow import build_rtl, layer_rows
    from hwgen.options import HardwareOptions
    g = random_graph(19, sparsity=0.3)
    lowered, rtl = build_rtl(g, tmp_path, HardwareOptions(reuse=4))
    rows = layer_rows(lowered, rtl.data)
    assert [r["layer"] for r in rows][:3] == ["dense1", "quant1", "relu1"]
    assert rows[3]["layer"] == "dense2" and rows[3]["in"] == str(g.node("relu1").type)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("form", ["sparse", "dense"])
def test_split_outputs_meet_the_reuse_factor_exactly(seed, form):
    """With `split`, outputs longer than the reuse factor are cut over lanes, in either
    form: sparse (wrap-around), the fewest lanes of at most `reuse` steps, each lane's
    multiplexer at most `cycles` inputs; dense, every output cut at the same inputs, one
    multiplexer per chunk of inputs, each input in one. The segments' sums are the exact
    product, inside exact bounds."""
    rng = np.random.default_rng(100 + seed)
    n_in, n_out = int(rng.integers(2, 60)), int(rng.integers(1, 8))
    w, c = _matrix(rng, n_in, n_out, float(rng.choice([0.0, 0.5, 0.9])))
    lo = rng.integers(-20, 5, size=n_in)
    hi = lo + rng.integers(0, 30, size=n_in)
    loads = [max(int(np.count_nonzero(w[:, j])), 1) for j in range(n_out)]
    reuse = int(rng.integers(1, max(loads) + 1))
    # the cost picks the form: the dense split shares multiplexers among its lanes
    plan = fold.plan(w, c, lo, hi, reuse, split=True,
                     cost=lambda f: f.dense == (form == "sparse"))
    assert plan.split == (max(loads) > reuse)
    assert plan.cycles <= reuse or not plan.split
    if plan.split:
        chunks = -(-n_in // reuse)
        if form == "sparse":
            assert len(plan.lanes) == -(-sum(loads) // reuse)
            for steps in plan.programs:
                assert len({s.source for s in steps}) <= plan.cycles
        else:
            reads = [frozenset(s.source for s in steps) for steps in plan.programs]
            owned = {plan.mux_of[k]: reads[k] for k in range(len(reads))}
            assert plan.multiplexers == chunks == len(set(owned.values()))
            assert sorted(i for r in owned.values() for i in r) == list(range(n_in))
            for k, steps in enumerate(plan.programs):     # alike to the lane it reads
                assert [s.source for s in steps] == \
                    [s.source for s in plan.programs[plan.mux_of[k]]]
        assert plan.latency == plan.cycles + fold.Fold.PIPELINE + 1
    assert sorted({j for lane in plan.lanes for j in lane}) == list(range(n_out))
    assert plan.steps == sum(loads)
    _assert_exact(plan, w, c, lo, hi, rng)
    # the output intervals are exact: each bound is reached by the corner inputs
    for j in range(n_out):
        lo_j = sum(min(int(w[i, j]) * int(lo[i]), int(w[i, j]) * int(hi[i]))
                   for i in range(n_in)) + int(c[j])
        hi_j = sum(max(int(w[i, j]) * int(lo[i]), int(w[i, j]) * int(hi[i]))
                   for i in range(n_in)) + int(c[j])
        assert plan.out_bounds[j] == (lo_j, hi_j)


def test_without_split_an_output_longer_than_the_reuse_sets_the_cycles():
    w = np.ones((10, 6), dtype=object)
    c = np.arange(6).astype(object)
    lo, hi = np.zeros(10, int), np.ones(10, int)
    split = fold.plan(w, c, lo, hi, 5, split=True)
    assert split.split and split.cycles == 5 and len(split.lanes) == 12
    assert [len(lane) for lane in split.lanes] == [1] * 12
    # as many lanes either way: dense, inputs 0-4 on lanes 0-5 and 5-9 on lanes 6-11
    assert split.segments(2) == [(2, 0), (8, 0)]
    assert split.mux_of == [0] * 6 + [6] * 6
    sparse = fold.plan(w, c, lo, hi, 5, split=True, cost=lambda f: f.dense)
    assert not sparse.dense and sparse.segments(2) == [(4, 0), (5, 0)]
    # the sparse split's lanes 0, 2, 4... read inputs 0-4 alike: one multiplexer
    assert sparse.mux_of == [0, 1] * 6
    assert fold.plan(w, c, lo, hi, 5) == fold.plan(w, c, lo, hi, 5, split=False)
    assert fold.plan(w, c, lo, hi, 10, split=True) == fold.plan(w, c, lo, hi, 10)


def test_a_reuse_factor_the_fold_cannot_meet_is_explained(tmp_path):
    """digits_mlp_pruned at reuse 2: its outputs hold up to 19 non-zero weights, so the II
    is 20; the build says why and names --split-outputs, which meets it."""
    import hwgen
    from hwgen.flow.run import build
    _, g = hwgen.compile_model("digits_mlp_pruned")
    said = []
    _, rtl = build(g, tmp_path / "r2", HardwareOptions(reuse=2), log=said.append)
    notes = [s for s in said if "note:" in s]
    assert rtl.data["ii"] == 20 and len(notes) == 1, said
    assert "the II is 20" in notes[0] and "fc1 (up to 19 an output, reuse 2)" in notes[0]
    assert "--split-outputs" in notes[0]
    said.clear()
    _, rtl = build(g, tmp_path / "split", HardwareOptions(reuse=2, split_outputs=True),
                   log=said.append)
    notes = [s for s in said if "note:" in s]
    assert rtl.data["ii"] <= 3 and not [s for s in notes if "the II is" in s], said
    # split to 2 cycles, fc1's 410 products need 205 lanes: more logic than its adder
    # graph, and the same for the output layer, so both stay at full rate and say so
    assert rtl.data["ii"] == 1 and len(notes) == 1, said
    assert "fc1, output stay at full rate" in notes[0] and "on ecp5" in notes[0]
    said.clear()
    build(g, tmp_path / "r32", HardwareOptions(reuse=32), log=said.append)
    assert not [s for s in said if "note:" in s], said
