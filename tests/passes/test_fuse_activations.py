"""A relu after a saturating quantizer joins it; a half-up rounding joins the bias before
it. Both exact, both drop a level of logic."""
import dataclasses

import numpy as np
import pytest

from hwgen.ir import interp
from hwgen.ir.graph import Graph
from hwgen.ir.types import FixedType, Overflow, Rounding
from hwgen.ops import Input, LinearSum, Quantize, Relu
from hwgen.passes import pipelines
from hwgen.passes.drop_pruned_weights import DropPrunedWeights
from hwgen.passes.fuse_activations import FuseActivations
from hwgen.passes.infer_ranges import InferRanges
from hwgen.sim.vectors import input_codes

from ..hw_factory import _dense


def _graph(seed, rounding, overflow, relu_bits=None, bias=True):
    rng = np.random.default_rng(seed)
    x = Input("input", "input", (8,), FixedType(True, 8, 3), origin="InputLayer")
    d = _dense(rng, "fc", x, 6, 0.2)
    if not bias:
        d = dataclasses.replace(d, bias=None)
    q = Quantize("q", "q", d.shape, FixedType(True, 6, 2), ("fc",), "QActivation",
                 rounding=rounding, overflow=overflow)
    r = Relu("relu", "relu", q.shape, FixedType(False, relu_bits or 5, 1), ("q",),
             "Activation")
    out = _dense(rng, "out", r, 3, 0.0)
    return Graph([x, d, q, r, out], name="fuse")


def _fused(g):
    return FuseActivations().run(DropPrunedWeights().run(InferRanges().run(g)))


@pytest.mark.parametrize("rounding", list(Rounding))
@pytest.mark.parametrize("overflow", list(Overflow))
def test_fused_graphs_compute_the_same(rounding, overflow):
    for seed in range(4):
        for bias in (True, False):
            g = _graph(seed, rounding, overflow, bias=bias)
            x = input_codes(g.input.type, g.input.shape, 4000, seed)
            want = interp.run(g, x)
            assert np.array_equal(interp.run(_fused(g), x), want)
            assert np.array_equal(interp.run(pipelines.hardware("csd").run(g), x), want)


def test_a_relu_joins_its_saturating_quantizer():
    g = _fused(_graph(0, Rounding.RND_CONV, Overflow.SAT))
    assert [n.name for n in g.nodes] == ["input", "fc", "q", "out"]
    assert g.node("q").type == FixedType(False, 5, 1)
    # not when the relu's top code differs, or the quantizer wraps
    assert "relu" in [n.name for n in _fused(_graph(0, Rounding.RND_CONV, Overflow.SAT,
                                                    relu_bits=4)).nodes]
    assert "relu" in [n.name for n in _fused(_graph(0, Rounding.RND_CONV,
                                                    Overflow.WRAP)).nodes]


def test_half_up_rounding_joins_the_bias():
    g = _fused(_graph(1, Rounding.RND, Overflow.SAT))
    assert g.node("q").rounding is Rounding.TRN
    fc = g.node("fc")
    assert isinstance(fc, LinearSum)
    assert all(sum(1 for t in col if t.source < 0) == 1 for col in fc.terms)
    # ties to even depend on the value's bits: they stay
    assert _fused(_graph(1, Rounding.RND_CONV, Overflow.SAT)).node("q").rounding \
        is Rounding.RND_CONV
    # without a bias the half becomes the constant (offset binary adds one anyway, and a
    # constant add costs no more than the incrementer it replaces)
    g = _fused(_graph(1, Rounding.RND, Overflow.SAT, bias=False))
    assert g.node("q").rounding is Rounding.TRN
    assert all(sum(1 for t in col if t.source < 0) == 1 for col in g.node("fc").terms)
