"""An op added in one file reaches the reference, ranges, the IR dump, the RTL, the
manifest, the report rows and the hls4ml precisions without an edit anywhere else: the
op below lives only in this test."""
from dataclasses import dataclass

import numpy as np
import pytest
from amaranth.hdl import Module

from hwgen.export.hls import precisions
from hwgen.flow import build_rtl, layer_rows
from hwgen.ir import interp
from hwgen.ir.graph import Graph
from hwgen.ir.text import dump
from hwgen.ir.types import FixedType
from hwgen.ops import REGISTRY, Input, Node, register
from hwgen.ops.base import same_shape
from hwgen.ops.component import Layer, fit
from hwgen.ops.hls_types import ap_type
from hwgen.options import HardwareOptions
from hwgen.passes.pipelines import DEFAULT
from hwgen.sim.runner import cosim


class NegateLayer(Layer):
    def compute(self, m: Module) -> list:
        out = [fit(m, -x, self.node, j, "neg") for j, x in enumerate(self.inputs)]
        return self.stage(m, 1, out)


@pytest.fixture
def negate():
    @dataclass(eq=False, frozen=True)
    class Negate(Node):
        op = "test_negate"

        def evaluate(self, src, x):
            return -x

        def interval(self, src):
            return -src.hi, -src.lo

        def logic_levels(self):
            return 1

        def stats(self):
            return 0, 0, 0

        def details(self):
            return ["negated"]

        def component(self, src):
            return NegateLayer(self, src)

        def hls_precision(self):
            return {"result": ap_type(self.type)}, None

        def manifest_fields(self):
            return {"negators": self.size}

        def problems(self, src):
            return same_shape(self, src)
    register(Negate)
    yield Negate
    REGISTRY.pop(Negate.op)


def test_an_op_in_one_file_reaches_every_stage(tmp_path, negate):
    t_in = FixedType(True, 6, 3)
    graph = Graph([Input(name="input", layer="x", shape=(5,), type=t_in, origin="InputLayer"),
                   negate(name="neg", layer="neg", shape=(5,), type=FixedType(True, 7, 4),
                          inputs=("input",), origin="Negate")], name="negate")
    x = np.arange(-32, 32).reshape(-1, 1).repeat(5, axis=1)[:, :5]
    assert np.array_equal(interp.run(graph, x), -x)
    ranged = DEFAULT.run(graph, check=True)
    assert ranged.node("neg").lo.tolist() == [-31] * 5 and ranged.node("neg").hi.tolist() == [32] * 5
    assert "negated" in dump(ranged)
    lowered, rtl = build_rtl(graph, tmp_path, HardwareOptions("csd", 1))
    row = next(r for r in rtl.data["layers"] if r["node"] == "neg")
    assert row["op"] == "test_negate" and row["negators"] == 5
    assert [r["layer"] for r in layer_rows(lowered, rtl.data)] == ["neg"]
    entries, last, _ = precisions(lowered)
    assert entries["neg"] == {"result": "ap_fixed<7,4>"} and last == "neg"
    r = cosim(graph, rtl.data, tmp_path / "rtl", tmp_path / "sim", 500, 0, log=lambda s: None)
    assert r["mismatches"] == 0, r["first_mismatches"][:2]
