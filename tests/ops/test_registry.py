"""The op registry: every op defines every rule itself (no silent defaults), and an op
written in one file reaches the reference, the ranges, the schedule and the text views."""
from dataclasses import dataclass

import numpy as np
import pytest

from hwgen.ir import interp
from hwgen.ir.graph import Graph
from hwgen.ir.text import dump, table
from hwgen.ir.types import FixedType
from hwgen.ops import REGISTRY, RULES, Input, Node, register
from hwgen.ops.component import Layer, fit
from hwgen.passes.infer_ranges import InferRanges
from hwgen.passes.schedule_pipeline import SchedulePipeline


def test_every_registered_op_defines_every_rule_itself():
    assert {"input", "dense", "quantize", "relu", "scale_shift", "step", "reshape",
            "linear_sum"} <= set(REGISTRY)
    for op, cls in REGISTRY.items():
        assert cls.op == op
        for rule in RULES:
            assert getattr(cls, rule) is not getattr(Node, rule), f"{op} lacks {rule}"


def test_an_op_without_a_rule_is_refused():
    @dataclass(eq=False, frozen=True)
    class Half(Node):
        op = "half_test"

        def evaluate(self, src, x):
            return x // 2

    with pytest.raises(TypeError, match="does not define interval, logic_levels, stats, "
                                        "details, component, hls_precision, "
                                        "manifest_fields, problems"):
        register(Half)
    assert "half_test" not in REGISTRY


@pytest.fixture
def doubled():
    """A new op written here, in one place."""
    @dataclass(eq=False, frozen=True)
    class Double(Node):
        op = "double_test"

        def evaluate(self, src, x):
            return x * 2

        def interval(self, src):
            return src.lo * 2, src.hi * 2

        def logic_levels(self):
            return 4

        def stats(self):
            return 0, 0, 0

        def details(self):
            return ["doubles every code"]

        def component(self, src, post=(), latch=True):
            return DoubleLayer(self, src)

        def hls_precision(self):
            return {"result": f"ap_fixed<{self.type.width},{self.type.int_bits}>"}, None

        def manifest_fields(self):
            return {"doubles": True}

        def problems(self, src):
            return [] if self.shape == src.shape else ["not element-wise"]

    class DoubleLayer(Layer):
        def compute(self, m):
            return self.stage(m, 4, [fit(m, x << 1, self.node, j, "d")
                                     for j, x in enumerate(self.inputs)])

    register(Double)
    yield Double
    del REGISTRY["double_test"]


def test_a_new_op_reaches_interp_ranges_schedule_and_dump(doubled):
    t_in, t_out = FixedType(True, 4, 4), FixedType(True, 5, 5)
    graph = Graph([Input(name="input", layer="input", shape=(3,), type=t_in),
                   doubled(name="d", layer="twice", shape=(3,), type=t_out,
                           inputs=("input",))], name="t")
    x = np.array([[-8, 0, 7], [1, 2, 3]])
    assert np.array_equal(interp.run(graph, x), 2 * x)
    ranged = InferRanges().run(graph)
    assert ranged.output.lo.tolist() == [-16] * 3 and ranged.output.hi.tolist() == [14] * 3
    scheduled = SchedulePipeline(2).run(ranged)
    assert scheduled.output.register_after == (2,)    # levels 1..4; the last is the output's
    assert "doubles every code" in dump(ranged) and "double_test" in table(ranged)
    from hwgen.export.hls import precisions
    assert precisions(graph)[:2] == ({"input_features": {"result": "ap_fixed<4,4>"},
                                      "twice": {"result": "ap_fixed<5,5>"}}, "twice")


def test_a_new_op_reaches_the_verilog_and_the_manifest(doubled, tmp_path):
    from hwgen.flow import build_rtl
    from hwgen.options import HardwareOptions
    graph = Graph([Input(name="input", layer="in", shape=(2,), type=FixedType(False, 3, 3)),
                   doubled(name="d", layer="twice", shape=(2,), type=FixedType(False, 4, 4),
                           inputs=("input",))], name="t")
    lowered, rtl = build_rtl(graph, tmp_path, HardwareOptions(pipeline=2))
    row = next(r for r in rtl.data["layers"] if r["node"] == "d")
    assert row["op"] == "double_test" and row["register_stages"] == 1 and row["doubles"]
    assert f"module \\{row['module']}" in rtl.verilog.read_text()
    assert rtl.data["latency"] == 3        # input register, one stage, output register


def test_nodes_are_frozen_and_passes_leave_their_input_alone():
    import dataclasses
    g = Graph([Input(name="input", layer="in", shape=(2,), type=FixedType(True, 4, 2))])
    with pytest.raises(dataclasses.FrozenInstanceError):
        g.nodes[0].lo = np.zeros(2)
    ranged = InferRanges().run(g)
    assert g.nodes[0].lo is None and ranged.nodes[0].lo.tolist() == [-8, -8]
