"""The IR verifier (hwgen/ir/check.py): each broken invariant is named, and the pass
pipeline runs it after every pass."""
import dataclasses

import numpy as np
import pytest

from hwgen.ir.check import IRError, check_graph, problems
from hwgen.ir.graph import Graph
from hwgen.ir.types import FixedType
from hwgen.ops import Dense, Input, Relu
from hwgen.passes.infer_ranges import InferRanges
from hwgen.passes.pipelines import Pipeline

T = FixedType(True, 8, 4)


def _graph(**dense):
    x = Input(name="input", layer="in", shape=(3,), type=T)
    fields = dict(name="d", layer="d", shape=(2,), type=FixedType(True, 16, 8),
                  inputs=("input",), weights=np.ones((3, 2), dtype=np.int64), weight_frac=0,
                  bias=np.zeros(2, dtype=np.int64), bias_frac=0)
    fields.update(dense)
    d = Dense(**fields)
    r = Relu(name="r", layer="r", shape=(2,), type=FixedType(False, 16, 8), inputs=("d",))
    return Graph([x, d, r])


def test_a_sound_graph_passes_before_and_after_ranges():
    g = _graph()
    assert problems(g) == [] and problems(InferRanges().run(g)) == []


@pytest.mark.parametrize("change,message", [
    (dict(inputs=("nowhere",)), "input %nowhere is not an earlier node"),
    (dict(weights=np.ones((4, 2), dtype=np.int64)), "weights (4, 2) for 3 inputs"),
    (dict(bias=np.zeros(3, dtype=np.int64)), "bias (3,) for 2 outputs"),
    (dict(name="r"), "a second node with this name"),
])
def test_each_broken_invariant_is_named(change, message):
    with pytest.raises(IRError, match="invalid IR: .*" + message.replace("(", r"\(")
                       .replace(")", r"\)")):
        check_graph(_graph(**change))


def test_a_range_outside_its_type_and_a_relu_that_moves_the_point():
    g = InferRanges().run(_graph())
    g.nodes[1] = dataclasses.replace(g.nodes[1], hi=g.nodes[1].hi + (1 << 20))
    assert any("outside fixed<16,8>" in p for p in problems(g))
    bad = _graph()
    bad.nodes[2] = dataclasses.replace(bad.nodes[2], type=FixedType(False, 16, 6))
    assert any("10 fraction bits from 8" in p for p in problems(bad))


def test_the_pipeline_checks_after_every_pass():
    class Breaks:
        name = "breaks-names"

        def run(self, graph):
            nodes = list(graph.nodes)
            nodes[2] = dataclasses.replace(nodes[2], inputs=("gone",))
            return dataclasses.replace(graph, nodes=nodes)

    with pytest.raises(IRError, match="invalid IR after breaks-names: %r"):
        Pipeline((InferRanges(), Breaks())).run(_graph(), check=True)
    Pipeline((Breaks(),)).run(_graph(), check=False)        # unchecked when not asked
