"""Registers by estimated delay (`--clock-target`): every stage meets the clock by the
model, with the fewest stages on a chain and no more register bits than a greedy cut."""
import argparse
import functools

import pytest

import hwgen
from hwgen.ir import delay
from hwgen.passes import pipelines
from hwgen.passes.infer_widths import InferWidths
from hwgen.passes.schedule_pipeline import (SchedulePipeline, _greedy_schedule, latency,
                                            _widths, level_delays, live_bits, timing_model)

from ..hw_factory import random_graph


def _stages(graph, model):
    """Per stage, (levels of logic, its time by the model) along every path of the
    schedule (a level that is only wiring takes no time and is not counted)."""
    at, stages = {}, []
    for node in graph.nodes:
        if node.own_latency:
            at[node.name] = (0.0, 0, 0)
            continue
        t, w, n = max([at[i] for i in node.inputs] + [(0.0, 0, 0)])
        for k, (dt, dw) in enumerate(level_delays(node, model, graph.sources(node)), 1):
            t, w, n = t + dt, max(w, dw), n + (dt > 0)
            if k in node.register_after:
                stages.append((n, model.stage(t, w)))
                t, w, n = 0.0, 0, 0
        at[node.name] = (t, w, n)
    stages += [(at[h][2], model.stage(at[h][0], at[h][1])) for h in graph.output_names]
    return stages


@functools.lru_cache(maxsize=None)
def _lowered(design: str, target: str = "ecp5"):
    """A zoo design lowered for `target` up to its schedule (the last pass), once per
    worker: the tests below schedule it at several clocks."""
    _, g = hwgen.compile_model(design)
    return pipelines.hardware("csd", None, target=target).run(g, stop_after=InferWidths)


def _scheduled(design: str, mhz: float, target: str = "ecp5"):
    """What `pipelines.hardware("csd", None, clock_mhz=mhz, target=target)` gives (the IR
    verifier after the schedule too)."""
    from hwgen.ir.check import check_graph
    low = SchedulePipeline(None, mhz, target).run(_lowered(design, target))
    check_graph(low, "schedule-pipeline")
    return low


def _bits(graph):
    return sum(live_bits(n, k, graph.sources(n)) for n in graph.nodes for k in n.register_after)


# Each target at two clocks by default (every clock on every target: make test-all).
DEFAULT_CLOCKS = {("ecp5", 30), ("ecp5", 120), ("xc7", 60), ("xc7", 250), ("ice40", 30),
                  ("ice40", 250)}


@pytest.mark.parametrize("target, mhz", [
    (t, f) if (t, f) in DEFAULT_CLOCKS else pytest.param(t, f, marks=pytest.mark.slow)
    for f in (30, 60, 120, 250) for t in ("ecp5", "xc7", "ice40")])
def test_every_stage_meets_the_clock_by_the_model(target, mhz):
    for design in ("jet_tagger", "digits_mlp_pruned", "digits_resmlp"):
        low = _scheduled(design, mhz, target)
        model = timing_model(low, target)
        for levels, t in _stages(low, model):
            assert levels <= 1 or t <= model.budget(mhz) + 1e-9, (design, levels, t)


@pytest.mark.parametrize("mhz", [25, 50, 100])
def test_a_chain_gets_the_fewest_stages_and_narrowest_cuts(mhz):
    best = _scheduled("jet_tagger", mhz)
    model = timing_model(best, "ecp5")
    # the greedy walk (as late as possible) is also the fewest stages on a chain
    greedy = _greedy_schedule(best, model, model.budget(mhz))
    import dataclasses
    late = dataclasses.replace(best, nodes=[dataclasses.replace(
        n, register_after=greedy.get(n.name, ())) for n in best.nodes])
    assert latency(best) == latency(late)
    assert _bits(best) <= _bits(late)


def test_a_slower_clock_takes_fewer_cycles_and_registers():
    runs = [_scheduled("jet_tagger", f) for f in (100, 50, 20)]
    assert [latency(r) for r in runs] == sorted((latency(r) for r in runs), reverse=True)
    assert _bits(runs[0]) > _bits(runs[1]) > _bits(runs[2])


def test_pipeline_count_still_overrides_the_clock():
    g = random_graph(3)
    a = pipelines.hardware("csd", 2, clock_mhz=10).run(g)
    b = pipelines.hardware("csd", 2, clock_mhz=500).run(g)
    assert [n.register_after for n in a.nodes] == [n.register_after for n in b.nodes]


def test_clock_target_parses_mhz_and_periods():
    from hwgen.cli import _clock_target
    assert _clock_target("150") == 150 and _clock_target("150MHz") == 150
    assert _clock_target("10ns") == 100.0        # 1000 / 10, exact in binary
    for bad in ("fast", "0", "-5ns", "0ns"):
        with pytest.raises(argparse.ArgumentTypeError, match="clock target"):
            _clock_target(bad)


def test_clock_target_in_the_manifest(tmp_path):
    from hwgen.flow.steps import build_rtl
    from hwgen.options import HardwareOptions
    _, rtl = build_rtl(random_graph(2), tmp_path, HardwareOptions(clock_target=80.0))
    assert rtl.data["options"]["clock_target_mhz"] == 80.0
    assert rtl.data["options"]["timed_for"] == "ecp5"


def test_build_takes_the_clock_target_from_the_command_line(tmp_path):
    import json
    from hwgen.cli import main
    assert main(["build", "digits_mlp_pruned", "-o", str(tmp_path), "--clock-target",
                 "40ns"]) == 0
    options = json.loads((tmp_path / "manifest.json").read_text())["options"]
    assert options["clock_target_mhz"] == 25.0 and options["timed_for"] == "ecp5"


def _quantizer_after_a_sum(quant: str, clip_inputs: bool = False):
    """The IR of features -> QDense(4) -> QActivation(`quant`), ranges inferred."""
    import numpy as np
    import tensorflow as tf
    from qkeras import QActivation, QDense
    from hwgen.options import FrontendOptions
    from ..model_factory import quantizer
    inp = tf.keras.Input((3,))
    y = QDense(4, kernel_quantizer=quantizer("quantized_bits(4,0,alpha=1)"),
               bias_quantizer=quantizer("quantized_bits(4,0,alpha=1)"))(inp)
    model = tf.keras.Model(inp, QActivation(quantizer(quant))(y))
    w = np.full((3, 4), 0.125 if clip_inputs else 0.875, np.float32)
    model.layers[1].set_weights([w, np.zeros(4, np.float32)])
    _, g = hwgen.compile_model(model, FrontendOptions.from_strings("fixed<6,1>"))
    low = pipelines.hardware("csd", None, target="xc7").run(g)
    q = next(n for n in low.nodes if n.op == "quantize")
    return q, low.sources(q)


@pytest.mark.parametrize("quant, rounding, wiring", [
    ("quantized_bits(4,1)", "RND_CONV", set()),       # an increment, then saturation
    ("quantized_bits(4,1)", "TRN", {1}),              # dropping bits is wiring
    ("quantized_bits(4,1)", "WRAP", {2}),             # wrapping too
    ("quantized_bits(6,3)", "RND_CONV", {2}),         # the sum's range, +-10.5, fits
    ("quantized_relu(4,0)", "TRN", {1}),
    ("quantized_bits(16,8)", "RND_CONV", {2}),        # the sum's range fits: no saturation
    ("quantized_bits(16,8)", "TRN", {1, 2}),
])
def test_a_quantizers_wiring_levels_take_no_time(quant, rounding, wiring):
    import dataclasses
    from hwgen.ir.types import Overflow, Rounding
    q, src = _quantizer_after_a_sum(quant)
    q = dataclasses.replace(q, overflow=Overflow.WRAP) if rounding == "WRAP" else \
        dataclasses.replace(q, rounding=Rounding(rounding))
    assert q.wiring_levels(src) == frozenset(wiring)
    times = [t for t, _ in level_delays(q, delay.model("xc7"), src)]
    assert [k for k, t in enumerate(times, 1) if t == 0] == sorted(wiring)
    # the levels that are logic keep their time
    assert all(t == delay.model("xc7").level_ns for k, t in enumerate(times, 1)
               if k not in wiring)


def test_a_quantizers_rounding_is_timed_and_registered_at_the_rounded_width():
    """Rounding a wide sum to a narrow saturated output: the rounding's carry runs over
    the rounded value (the sum's bits above the dropped ones), not over the output, and a
    register between rounding and saturation holds that value."""
    from hwgen.ops.component import element_shape
    from hwgen.ops.quantize import rounded_range
    q, src = _quantizer_after_a_sum("quantized_bits(4,1)")
    assert q.wiring_levels(src) == frozenset()
    rounded = [element_shape(*rounded_range(q, int(a), int(b), src.type.frac)).width
               for a, b in zip(src.lo, src.hi)]
    assert max(rounded) > q.type.width              # saturation narrows it
    m = delay.model("xc7")
    assert level_delays(q, m, src) == [(m.level_ns, max(rounded)), (m.level_ns, q.type.width)]
    assert live_bits(q, 1, src) == sum(rounded) and live_bits(q, 2, src) == sum(_widths(q))


def test_wiring_levels_save_stages(monkeypatch):
    """The schedule that knows which quantizer levels are wiring never takes more cycles
    than one that times every level as logic, and on some of these models and clocks
    it takes fewer (random MLPs of the kind the peers build)."""
    from hwgen.ops import Quantize
    from hwgen.options import FrontendOptions
    from ..model_factory import random_peer_mlp
    graphs = []
    for seed in (0, 1, 4):          # lowered once; only the schedule differs below
        model, fmt, _ = random_peer_mlp(seed)
        g = hwgen.compile_model(model, FrontendOptions.from_strings(fmt))[1]
        graphs.append(pipelines.hardware("csd", None, target="xc7").run(
            g, stop_after=InferWidths))

    def cycles():
        return [latency(SchedulePipeline(None, mhz, "xc7").run(g))
                for g in graphs for mhz in (120, 160, 200, 250)]
    knows = cycles()
    monkeypatch.setattr(Quantize, "wiring_levels", lambda self, src: frozenset())
    blind = cycles()
    assert all(k <= b for k, b in zip(knows, blind)), (knows, blind)
    assert sum(knows) < sum(blind), (knows, blind)


# Placed and routed on an LFE5U-25F (nextpnr, speed 6): tests/model_factory.random_peer_mlp
# seeds built for ecp5 with a register every `every` levels. Per design: its adder bits,
# each stage's (logic levels, widest adder bits) and the router's Fmax (ir/delay.py).
ECP5_MEASURED = [   # (seed, every, adder bits, stages, MHz)
    (8, 1, 146, [(1, 19), (1, 19), (1, 5), (1, 10), (1, 10)], 322.5),
    (8, 3, 146, [(2, 19), (3, 10)], 189.6),
    (7, 2, 356, [(2, 12), (2, 13), (2, 15), (1, 16), (2, 10), (2, 9)], 190.9),
    (7, 4, 356, [(3, 13), (4, 15), (3, 16), (3, 9), (1, 10)], 110.0),
    (17, 2, 1585, [(2, 18), (2, 18), (1, 8), (2, 11), (2, 13)], 167.4),
    (6, 3, 1875, [(3, 22), (2, 22), (3, 15), (2, 15), (3, 18)], 129.7),
    (16, 2, 5083, [(2, 16), (2, 17), (1, 7), (2, 15), (2, 16)], 143.3),
    (16, 4, 5083, [(4, 17), (3, 15), (4, 16), (1, 17)], 86.4),
    (1, 3, 7017, [(3, 22), (2, 23), (3, 12), (3, 13), (3, 9)], 108.4),
    (13, 2, 12191, [(2, 18), (2, 19), (2, 19), (2, 15), (2, 17)], 127.4),
]


@pytest.mark.parametrize("seed, every, bits, stages, mhz", ECP5_MEASURED)
def test_the_ecp5_model_covers_the_routers_delay_with_a_small_margin(seed, every, bits,
                                                                       stages, mhz):
    m = delay.model("ecp5").sized(bits)
    worst = max(m.stage(n * m.level_ns, w) for n, w in stages) + m.register_ns
    assert 1.0 <= worst * mhz / 1000.0 <= 1.3


def test_the_ecp5_model_sizes_the_design_from_its_adders():
    """A design's adder bits (`design_bits`) set its level time: a small MLP's levels are
    faster than the jet tagger's, so at one clock it takes fewer cycles per level."""
    from hwgen.options import FrontendOptions
    from hwgen.passes.schedule_pipeline import design_bits
    from ..model_factory import random_peer_mlp
    model, fmt, _ = random_peer_mlp(8)
    small = pipelines.hardware("csd", None, clock_mhz=100).run(
        hwgen.compile_model(model, FrontendOptions.from_strings(fmt))[1])
    big = pipelines.hardware("csd", None, clock_mhz=100).run(
        hwgen.compile_model("jet_tagger")[1])
    assert 50 < design_bits(small) < 300 and design_bits(big) > 30_000
    assert timing_model(small, "ecp5").level_ns < 0.6 * timing_model(big, "ecp5").level_ns
    assert timing_model(big, "xc7") == delay.model("xc7")      # no size law measured there


@functools.lru_cache(maxsize=None)
def _step_graph():
    """tests/model_factory.random_model(1): a batch norm fused with quantized_relu(8,3)
    after an 18-bit sum, a step function of 255 thresholds per channel."""
    from hwgen.options import FrontendOptions
    from ..model_factory import random_model
    model, fmt, _ = random_model(1)
    return hwgen.compile_model(model, FrontendOptions.from_strings(fmt))[1]


def _step_model(step_form: str = "auto"):
    from hwgen.passes.choose_step_forms import ChooseStepForms
    return pipelines.hardware("csd", None, target="ecp5", step_form=step_form).run(
        _step_graph(), stop_after=ChooseStepForms)


def test_a_step_function_takes_its_comparators_and_multiplexer_tree():
    """A step function's levels are its multiplexer tree's over the thresholds inside its
    input's range, a LUT level each, the first with the comparators' carry chains on the
    input's width; levels deeper than the tree of any element are wiring."""
    import dataclasses
    import numpy as np
    g = _step_model("tree")
    step = g.node("bn0")
    src = g.sources(step)
    assert step.op == "step" and step.thresholds.shape == (9, 255)
    m = delay.model("ecp5")
    assert step.logic_levels() == 8
    assert level_delays(step, m, src) == [(m.level_ns, 18)] + [(m.level_ns, 0)] * 7
    assert max(_widths(src)) == 18
    # An input range that reaches one threshold: the comparator, one level.
    first = step.thresholds[:, 0].reshape(src.shape)          # one channel per element
    real = first <= src.type.max_code                          # (four constant channels)
    assert real.sum() == 5
    narrow = dataclasses.replace(src, lo=np.where(real, first - 1, src.lo),
                                 hi=np.where(real, first, src.hi))
    assert [t for t, _ in level_delays(step, m, narrow)] == [m.level_ns] + [0.0] * 7


def test_a_searched_step_function_pays_a_carry_per_comparison():
    """Searched (255 thresholds), each level is a comparison on the input's width after a
    multiplexer between two thresholds looked up during the comparison before, and its
    carry chain, which the next level waits for; a ninth level selects between the two
    outputs the last comparison may pick. Deeper than the tree per level."""
    from hwgen.ops.step_function import _Search, _table_depth
    g = _step_model()
    step = g.node("bn0")
    src = g.sources(step)
    forms = step.element_forms(src)
    assert {isinstance(f, _Search) for f in forms if not isinstance(f, int)} == {True}
    assert [_table_depth(b) for b in range(9)] == [0, 1, 1, 1, 1, 2, 2, 2, 3]
    assert {f.comparisons for f in forms if not isinstance(f, int)} == {8}
    m = delay.model("ecp5")
    assert step.logic_levels() == 9
    compare = 2 + 18 * 0.06           # within it, the tables of up to 6 index bits
    want = [(m.level_ns * compare, 0)] * 8 + [(m.level_ns, 0)]      # carries inside
    assert level_delays(step, m, src) == want
    # On xc7's LUT6 the multiplexer between the two thresholds joins the comparator's LUT.
    x = delay.model("xc7")
    assert x.lut_inputs == 6 and level_delays(step, x, src)[:8] == \
        [(x.level_ns * (1 + 18 * 0.06), 0)] * 8


def test_a_step_functions_registers_hold_its_unfinished_trees():
    """A register inside a step function holds, of each element's tree, the subtrees done
    and one comparison per multiplexer still to come; after the last level, the outputs."""
    from hwgen.ops.component import element_shape
    from hwgen.ops.step_function import _Mux, height
    g = _step_model("tree")
    step, src = g.node("bn0"), g.sources(g.node("bn0"))
    outputs = sum(_widths(step))
    assert step.register_bits(8, src) == outputs
    trees = step.element_forms(src)

    def held(t, level):
        if not isinstance(t, _Mux):
            return 0
        if t.height <= level:
            return element_shape(t.lo_level, t.hi_level).width
        return 1 + held(t.high, level) + held(t.low, level)
    for level in range(1, 8):
        assert step.register_bits(level, src) == sum(
            held(t, level) if height(t) > level else w
            for t, w in zip(trees, _widths(step)))
    assert step.register_bits(1, src) > step.register_bits(4, src) > outputs


def test_a_searched_step_functions_registers_hold_its_input_and_path():
    """Searched, a register after level k holds each unfinished element's input, its k
    comparisons so far and the two thresholds the next may take: far fewer bits than the
    tree's subtrees."""
    from hwgen.ops.step_function import height
    g = _step_model()
    step, src = g.node("bn0"), g.sources(g.node("bn0"))
    forms = step.element_forms(src)
    for level in range(1, 10):
        assert step.register_bits(level, src) == sum(
            w if height(f) <= level else (3 * x + level) if level < 8 else 1 + 2 * w
            for f, x, w in zip(forms, _widths(src), _widths(step)))
    assert step.register_bits(1, src) < 3 * sum(_widths(src)) + 9


@pytest.mark.parametrize("step_form", ["tree", "auto"])
def test_a_deep_step_function_is_cut_inside_its_tree(step_form):
    """At ECP5's 50 MHz and xc7's 200 MHz the 255-threshold step function (8 levels),
    as a tree and as a search, takes registers inside and every stage meets the clock by
    the model (timed as one LUT level before, it shared a stage with the sums on both
    sides, and the ECP5 design routed at 35 MHz)."""
    for target in ("ecp5", "xc7"):
        low = pipelines.hardware("csd", None, target=target, step_form=step_form).run(
            _step_graph())
        assert any(k < 8 for k in low.node("bn0").register_after)
        model = timing_model(low, target)
        mhz = delay.model(target).default_mhz
        assert all(t <= model.budget(mhz) for _, t in _stages(low, model))


@pytest.mark.parametrize("target, every, step_form", [
    ("xc7", None, "tree"), ("ecp5", 1, "auto"),
    # slow: each form's other kind of cut (the default two have both kinds, both forms)
    pytest.param("ecp5", 1, "tree", marks=pytest.mark.slow),
    pytest.param("xc7", None, "auto", marks=pytest.mark.slow)])
def test_a_step_function_registered_inside_its_tree_is_exact(tmp_path, target, every,
                                                            step_form):
    """The Verilog equals the reference with registers inside the tree or the search: at
    xc7's clock, and after every level (`--pipeline 1`)."""
    from hwgen.backends.amaranth import emit
    from hwgen.sim.runner import cosim
    low = pipelines.hardware("csd", every, target=target, step_form=step_form).run(
        _step_graph())
    step = low.node("bn0")
    levels = step.logic_levels()
    assert levels == (9 if step_form == "auto" else 8)
    assert any(k < levels for k in step.register_after), step.register_after
    if every:
        assert step.register_after == tuple(range(1, levels + 1))
    b = emit.build(low, tmp_path, {"mult": "csd", "pipeline": every})
    text = (tmp_path / b.data["verilog"]).read_text()
    assert (">=" in text) and (text.count(">=") < 200) == (step_form == "auto")
    r = cosim(_step_graph(), b.data, tmp_path / "rtl", tmp_path / "sim", 2000, 1,
              log=lambda s: None)
    assert r["outputs_seen"] == 2000 and r["mismatches"] == 0, r["first_mismatches"][:2]


@pytest.mark.slow     # placed and routed (Yosys and nextpnr, a few minutes)
def test_a_deep_step_function_meets_the_clock_when_placed_and_routed(tmp_path):
    """The design with the 255-threshold step function, built for ECP5's default 50 MHz,
    meets it on an LFE5U-45F (it routed at 35.1 MHz when the step counted as one level)."""
    from hwgen.estimate.nextpnr import place_and_route
    from hwgen.flow import build_rtl
    from hwgen.options import HardwareOptions
    _, rtl = build_rtl(_step_graph(), tmp_path, HardwareOptions(target="ecp5"))
    pnr = place_and_route(rtl.verilog, rtl.top, tmp_path / "pnr", "45k", freq_mhz=50)
    assert pnr["fmax_mhz"] >= 50, pnr["fmax_mhz"]
