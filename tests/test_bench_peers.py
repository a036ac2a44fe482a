"""The peer benchmark's export (`scripts/bench_peers.py`): the spec the peers build from
computes exactly hwgen's reference of the comparable graph (checked here with a numpy
model of the peers' arithmetic: float matmul, round-half-up or floor, clamp or wrap,
relu), and the comparable graph differs from the model only where the peers cannot
follow. With `.venv-peers/` (made by `make bench-peers`) the peers themselves run."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

import hwgen
from hwgen.ir.types import Rounding

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("bench_peers", ROOT / "scripts" / "bench_peers.py")
bench_peers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_peers)


def _peer_arithmetic(spec):
    """The peers' semantics in numpy floats (exact: every value is a short dyadic)."""
    k, i, f = spec["input"]
    x = np.array(spec["test_inputs"])
    for layer in spec["layers"]:
        if layer["kind"] == "dense":
            x = x @ np.array(layer["weights"])
            if layer["bias"] is not None:
                x = x + np.array(layer["bias"])
        elif layer["kind"] == "quantize":
            k, i, f = layer["k"], layer["i"], layer["f"]
            step = 2.0 ** -f
            x = np.floor(x / step + (0.5 if layer["rounding"] == "RND" else 0.0)) * step
            lo, hi = -(2.0 ** i) * k, 2.0 ** i - step
            if layer["overflow"] == "SAT_SYM":
                lo = -hi * k
            if layer["overflow"] == "WRAP":
                span = 2.0 ** (i + k)
                x = np.mod(x - lo, span) + lo
            else:
                x = np.clip(x, lo, hi)
        else:
            x = np.maximum(x, 0)
    return x


@pytest.mark.parametrize("name", ["jet_tagger", "digits_mlp_pruned", "digits_mlp"])
def test_the_spec_computes_the_comparable_reference(name):
    _, graph = hwgen.compile_model(name)
    g, changed = bench_peers.comparable(graph)
    assert all(n.rounding in (Rounding.TRN, Rounding.RND) for n in g.nodes
               if n.op == "quantize")
    assert not g.softmax_removed
    if any(getattr(n, "rounding", None) is Rounding.RND_CONV for n in graph.nodes):
        assert "RND_CONV rounding -> RND" in changed
    spec = bench_peers.spec_of(g, 3000, 1, 5.0)
    json.dumps(spec)                                   # what the peers' process reads
    got = _peer_arithmetic(spec)
    assert np.array_equal(got, np.array(spec["test_outputs"]))


def test_a_layer_without_a_peer_export_is_named():
    _, graph = hwgen.compile_model("digits_cnn")
    with pytest.raises(ValueError, match="has no peer export"):
        bench_peers.comparable(graph)


@pytest.mark.slow     # the whole benchmark of one model (three Yosys runs, both peers)
@pytest.mark.skipif(not bench_peers.PEERS_PYTHON.exists(), reason="no .venv-peers "
                    "(make bench-peers creates it)")
def test_the_peers_reproduce_the_reference(tmp_path):
    rows = bench_peers.bench("digits_mlp_pruned", tmp_path, 500, 5.0, log=lambda s: None)
    peers = [r for r in rows if not r["generator"].startswith("hwgen")]
    assert len(peers) == 2 and all(r.get("mismatches") == 0 for r in peers), peers


def test_at_the_peers_stage_clock_no_stage_holds_more_adder_levels_than_their_cutoff():
    """The peers register every `cutoff` adders (one unit each at their default sizes);
    hwgen built at `peer_stage_mhz` keeps every stage within that many adder levels."""
    from hwgen.ops import LinearSum
    from hwgen.passes import pipelines
    from hwgen.passes.infer_widths import InferWidths
    from hwgen.passes.schedule_pipeline import SchedulePipeline
    g, _ = bench_peers.comparable(hwgen.compile_model("jet_tagger")[1])
    unscheduled = pipelines.hardware("csd", target="xc7").run(g, stop_after=InferWidths)
    clocks = {}
    for cutoff in (3, 5):
        clocks[cutoff] = mhz = bench_peers.peer_stage_mhz(g, cutoff)
        low = SchedulePipeline(None, mhz, "xc7").run(unscheduled)   # the last pass
        stages, n = [], 0
        for node in low.nodes[1:]:
            for level in range(1, node.logic_levels() + 1):
                n += isinstance(node, LinearSum)
                if level in node.register_after:
                    stages, n = stages + [n], 0
        assert max(stages + [n]) <= cutoff, (cutoff, mhz, stages)
    assert clocks[5] < 200 < clocks[3]          # hwgen's default xc7 clock lies between


def test_peer_ratios_compare_hwgen_with_the_smaller_peer_and_da4ml():
    rows = [{"model": "m", "generator": "hwgen (csd)", "LUT": 80, "FF": 50, "latency_cycles": 9},
            {"model": "m", "generator": "hwgen (csd, 150 MHz: the peers' stage)", "LUT": 81,
             "FF": 30, "latency_cycles": 6},
            {"model": "m", "generator": "da4ml (latency cutoff 5)", "LUT": 120, "FF": 40,
             "latency_cycles": 6},
            {"model": "m", "generator": "alkaid (latency cutoff 5)", "LUT": 100, "FF": 70,
             "latency_cycles": 8},
            {"model": "n", "generator": "hwgen (csd)", "LUT": 5, "FF": 5, "latency_cycles": 2}]
    assert bench_peers.peer_ratios(rows) == [{"model": "m", "lut_ratio": 0.81,
                                              "lut_ratio_default_clock": 0.8,
                                              "ff_ratio": 0.75, "cycles": 6,
                                              "da4ml_cycles": 6}]


def test_random_peer_mlps_are_seeded_and_build_without_a_peer_export_error():
    from hwgen.options import FrontendOptions
    from .model_factory import random_peer_mlp
    a, fmt, desc = random_peer_mlp(3)
    b, _, again = random_peer_mlp(3)
    assert desc == again and all(np.array_equal(x, y) for x, y in
                                 zip(a.get_weights(), b.get_weights()))
    _, graph = hwgen.compile_model(a, FrontendOptions.from_strings(fmt))
    bench_peers.comparable(graph)          # only ops the peers build


def _registered(depth: int) -> str:
    """A registered 12-bit sum of `depth` + 1 inputs added one after another."""
    ins = ", ".join(f"input [11:0] a{k}" for k in range(depth + 1))
    expr = " + ".join(f"r{k}" for k in range(depth + 1))
    regs = "\n".join(f"  reg [11:0] r{k}; always @(posedge clk) r{k} <= a{k};"
                     for k in range(depth + 1))
    return (f"module top(input clk, {ins}, output reg [15:0] y);\n{regs}\n"
            f"  always @(posedge clk) y <= {expr};\nendmodule\n")


def test_yosys_sta_times_a_deeper_stage_longer(tmp_path):
    """The critical path by Yosys's `sta` (xc7 cell delays) grows with the adders in the
    stage: the measure `sta_matched` compares hwgen's and da4ml's netlists by."""
    paths = []
    for depth in (1, 4):
        (tmp_path / f"d{depth}.v").write_text(_registered(depth))
        paths.append(bench_peers.synth(tmp_path / f"d{depth}.v", "top",
                                       tmp_path / f"w{depth}")["sta_ps"])
    assert 0 < paths[0] < paths[1], paths


@pytest.mark.slow    # four whole-design xc7 runs of digits_mlp_pruned (~110 s); the STA
#                     measure itself: test_yosys_sta_times_a_deeper_stage_longer
def test_sta_matched_takes_the_slowest_clock_within_the_peers_path(tmp_path):
    """With a peer path as long as hwgen's own at 162 MHz, the search from 200 MHz goes
    down in 10 % steps (200, 180, 162) to the slowest clock whose path is within it, with
    no more cycles than at 200 MHz."""
    g, _ = bench_peers.comparable(hwgen.compile_model("digits_mlp_pruned")[1])
    _, first, _ = bench_peers.sta_matched(g, 10 ** 6, 200.0, tmp_path, log=lambda s: None,
                                          steps=0)
    peer = bench_peers.sta_matched(g, 10 ** 6, 162.0, tmp_path, log=lambda s: None,
                                   steps=0)[2]["sta_ps"]
    mhz, manifest, res = bench_peers.sta_matched(g, peer, 200.0, tmp_path,
                                                 log=lambda s: None)
    assert res["sta_ps"] <= peer and mhz == 162.0
    assert manifest["latency"] <= first["latency"]
    # the next step down is over the peer's path: the search stopped at the last within
    slower = bench_peers.sta_matched(g, 10 ** 6, mhz * 0.9, tmp_path, log=lambda s: None,
                                     steps=0)[2]["sta_ps"]
    assert slower > peer
