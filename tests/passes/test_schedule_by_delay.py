"""Registers by estimated delay (`--clock-target`): every stage meets the clock by the
model, with the fewest stages on a chain and no more register bits than a greedy cut."""
import argparse

import pytest

import hwgen
from hwgen.ir import delay
from hwgen.passes import pipelines
from hwgen.passes.schedule_pipeline import (_greedy_schedule, latency, level_delays,
                                            live_bits)

from ..hw_factory import random_graph


def _stages(graph, model):
    """Per stage, (levels, its time by the model) along every path of the schedule."""
    at, stages = {}, []
    for node in graph.nodes:
        if node.own_latency:
            at[node.name] = (0.0, 0, 0)
            continue
        t, w, n = max([at[i] for i in node.inputs] + [(0.0, 0, 0)])
        for k, (dt, dw) in enumerate(level_delays(node, model), 1):
            t, w, n = t + dt, max(w, dw), n + 1
            if k in node.register_after:
                stages.append((n, model.stage(t, w)))
                t, w, n = 0.0, 0, 0
        at[node.name] = (t, w, n)
    stages += [(at[h][2], model.stage(at[h][0], at[h][1])) for h in graph.output_names]
    return stages


def _bits(graph):
    return sum(live_bits(n, k) for n in graph.nodes for k in n.register_after)


@pytest.mark.parametrize("target", ["ecp5", "xc7", "ice40"])
@pytest.mark.parametrize("mhz", [30, 60, 120, 250])
def test_every_stage_meets_the_clock_by_the_model(target, mhz):
    model = delay.model(target)
    for design in ("jet_tagger", "digits_mlp_pruned", "digits_resmlp"):
        _, g = hwgen.compile_model(design)
        low = pipelines.hardware("csd", None, clock_mhz=mhz, target=target).run(g)
        for levels, t in _stages(low, model):
            assert levels <= 1 or t <= model.budget(mhz) + 1e-9, (design, levels, t)


@pytest.mark.parametrize("mhz", [25, 50, 100])
def test_a_chain_gets_the_fewest_stages_and_narrowest_cuts(mhz):
    _, g = hwgen.compile_model("jet_tagger")
    model = delay.model("ecp5")
    best = pipelines.hardware("csd", None, clock_mhz=mhz).run(g)
    # the greedy walk (as late as possible) is also the fewest stages on a chain
    greedy = _greedy_schedule(best, model, model.budget(mhz))
    import dataclasses
    late = dataclasses.replace(best, nodes=[dataclasses.replace(
        n, register_after=greedy.get(n.name, ())) for n in best.nodes])
    assert latency(best) == latency(late)
    assert _bits(best) <= _bits(late)


def test_a_slower_clock_takes_fewer_cycles_and_registers():
    _, g = hwgen.compile_model("jet_tagger")
    runs = [pipelines.hardware("csd", None, clock_mhz=f).run(g) for f in (100, 50, 20)]
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
