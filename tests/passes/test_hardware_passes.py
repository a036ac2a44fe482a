"""The hardware lowering keeps the reference's results and makes every width exact."""
import numpy as np
import pytest

import hwgen
from hwgen.designs import design_names
from hwgen.ir import interp
from hwgen.ops import LinearSum, Quantize, StepFunction
from hwgen.passes import pipelines
from hwgen.passes.drop_pruned_weights import DropPrunedWeights
from hwgen.passes.infer_ranges import InferRanges
from hwgen.passes.lower_float32_quantize import LowerFloat32Quantize
from hwgen.passes.schedule_pipeline import latency
from hwgen.sim.vectors import input_codes

from ..hw_factory import random_graph


def _same(a, b, n=3000, seed=0):
    x = input_codes(a.input.type, a.input.shape, n, seed)
    assert np.array_equal(interp.run(a, x), interp.run(b, x))


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("mult", ["csd", "csd-per-weight", "dsp"])
def test_lowering_keeps_results_on_random_graphs(seed, mult):
    g = random_graph(seed, sparsity=0.5 if seed % 2 else 0.0)
    lowered = pipelines.hardware(mult, seed % 4).run(g)
    _same(g, lowered)
    for node in lowered.nodes:
        if isinstance(node, LinearSum):
            for n in node.graph.nodes:        # every stored value fits its exact width
                assert n.type.min_code <= n.lo <= n.hi <= n.type.max_code


@pytest.mark.parametrize("name", design_names())
def test_pruned_weights_cost_no_terms(name):
    _, g = hwgen.compile_model(name)
    lowered = DropPrunedWeights().run(InferRanges().run(g))
    for before, after in zip(g.nodes, lowered.nodes):
        if isinstance(after, LinearSum):
            terms = sum(1 for col in after.terms for t in col if t.source >= 0)
            # A term per non-zero product: a dense layer's non-zero weights, a
            # convolution's non-zero weights at every output pixel whose tap is no padding.
            expected = before.stats()[2]
            if getattr(before, "window_sum", False):     # an average pool's ones
                expected = int((before.window.taps >= 0).sum()) * before.shape[-1]
            assert terms == expected


def test_csd_terms_are_signed_powers_of_two_and_dsp_terms_odd():
    g = random_graph(3)
    csd = pipelines.hardware("csd").run(g)
    dsp = pipelines.hardware("dsp").run(g)
    for node in csd.nodes:
        if isinstance(node, LinearSum):
            assert all(abs(t.coeff) == 1 for col in node.terms for t in col if t.source >= 0)
    for node in dsp.nodes:
        if isinstance(node, LinearSum):
            assert all(t.coeff % 2 for col in node.terms for t in col if t.source >= 0)


def test_accumulator_widths_are_per_neuron_and_exact():
    _, g = hwgen.compile_model("jet_tagger")
    lowered = pipelines.hardware("csd").run(g)
    fc1 = lowered.node("fc1")
    widths = {r.node.type.width + r.shift for r in fc1.graph.outputs}
    assert len(widths) > 1                  # neurons differ: each is as wide as it needs
    for j, r in enumerate(fc1.graph.outputs):   # and exactly the layer's per-neuron range
        assert (r.lo, r.hi) == (int(fc1.lo[j]), int(fc1.hi[j]))


@pytest.mark.parametrize("every", [0, 1, 2, 3])
def test_pipeline_schedule_sets_latency(every):
    _, g = hwgen.compile_model("digits_mlp")
    lowered = pipelines.hardware("csd", every).run(g)
    regs = sum(len(n.register_after) for n in lowered.nodes)
    assert latency(lowered) == regs + 2 + int(lowered.softmax_removed) \
        + len(lowered.argmax_register_after)
    if every == 0:
        assert regs == 0


def test_float32_rounding_becomes_an_exact_step_function():
    g = random_graph(5)
    # a wide accumulator (>= 2**24 codes) feeding a float32-rounding saturating quantizer
    import dataclasses
    k = next(i for i, n in enumerate(g.nodes) if isinstance(n, Quantize))
    g.nodes[k] = dataclasses.replace(g.nodes[k], float32_cast=True,
                                     overflow=g.nodes[k].overflow.__class__.SAT)
    from hwgen.ir.bounds import dense_bounds
    from hwgen.ir.types import FixedType
    d = g.nodes[1]
    d = dataclasses.replace(d, weights=d.weights * (1 << 20))
    lo, hi = dense_bounds(d.weights, d.bias, g.input.type.min_code, g.input.type.max_code,
                          g.input.type.frac, d.weight_frac, d.bias_frac, d.type.frac)
    g.nodes[1] = dataclasses.replace(d, type=FixedType.for_range(
        min(int(lo.min()), 0), max(int(hi.max()), 1), d.type.frac))
    ranged = InferRanges().run(g)
    stepped = LowerFloat32Quantize().run(ranged)
    assert isinstance(stepped.nodes[2], StepFunction)
    _same(g, stepped, n=5000)


@pytest.mark.parametrize("mult", ["csd", "csd-per-weight", "dsp"])
def test_adder_count_is_terms_minus_one_per_output_plus_shared_sums(mult):
    """Each output adds its terms other than constants with one adder fewer than there
    are, plus at most one adder for its one constant (its own and offset binary's)."""
    _, g = hwgen.compile_model("digits_mlp_pruned")
    for node in pipelines.hardware(mult).run(g).nodes:
        if isinstance(node, LinearSum):
            graph = node.graph
            negated = sum(1 for r in graph.outputs if r.neg and not r.node.is_constant)
            constant_adds = sum(1 for n in graph.nodes if n.is_adder
                                and (n.a.node.is_constant or n.b.node.is_constant))
            assert constant_adds <= len(graph.outputs)
            assert graph.adders == len(node.shared) + negated + constant_adds + sum(
                max(sum(1 for t in col if t.source >= 0) - 1, 0) for col in node.terms)
            assert bool(node.shared) == (mult == "csd")


@pytest.mark.parametrize("name", ["jet_tagger", "digits_mlp_pruned", "digits_cnn"])
def test_shared_sums_take_fewer_adders_than_per_weight_trees(name):
    _, g = hwgen.compile_model(name)

    def adders(mult):
        return sum(n.graph.adders for n in pipelines.hardware(mult).run(g).nodes
                   if isinstance(n, LinearSum))
    assert adders("csd") < 0.8 * adders("csd-per-weight")


def test_default_pipeline_agrees_between_options_and_pass():
    from hwgen.options import HardwareOptions
    from hwgen.passes.schedule_pipeline import DEFAULT_EVERY
    assert HardwareOptions().pipeline == DEFAULT_EVERY is None     # by delay


@pytest.mark.parametrize("signed", [True, False, None])
def test_every_value_lies_in_its_inferred_range(signed):
    """The hardware sizes every signal from these ranges: a value outside one is lost bits.
    (An unsigned WRAP quantize of a negative input once got a range that was too small.)"""
    for seed in range(60):
        g = pipelines.hardware("csd", 3).run(random_graph(seed, signed_input=signed,
                                                          sparsity=0.2))
        x = input_codes(g.input.type, g.input.shape, 2000, seed)
        values = interp.run(g, x, keep=True)
        for node in g.nodes:
            v = np.asarray(values[node.name]).reshape(len(x), -1)
            lo, hi = node.lo.reshape(-1), node.hi.reshape(-1)
            assert (v >= lo).all() and (v <= hi).all(), (seed, node.name)


def _run_adder_graph(graph, x: list[int]) -> list[int]:
    """The adder graph evaluated as the hardware does it, bit by bit where it flips bits:
    an offset-binary edge takes the node's width of its bits and XORs its mask."""
    stored: dict[int, int] = {}

    def edge(ref):
        v = stored[id(ref.node)]
        if ref.offset_binary:
            v = (v & ((1 << ref.node.type.width) - 1)) ^ ref.mask
        return v << ref.shift

    for n in graph.nodes:
        if n.is_constant:
            v = n.value
        elif not n.is_adder:
            v = x[n.source] * n.factor
        else:
            a, b = edge(n.a), edge(n.b)
            v = b - a if n.a.subtracts else a - b if n.b.subtracts else a + b
            if n.a.offset_binary and n.b.offset_binary:
                assert v >= 0                      # offset binary adds unsigned numbers
        assert n.lo <= v <= n.hi, n.name
        stored[id(n)] = v
    return [-edge(r) if r.neg else edge(r) for r in graph.outputs]


@pytest.mark.parametrize("mult", ["csd", "csd-per-weight", "dsp"])
def test_adder_graph_bits_compute_the_matrix(mult):
    """Offset binary (bits flipped on the edges, one correction constant per output) gives
    every output exactly, signed and unsigned inputs, every stored value in its range."""
    rng = np.random.default_rng(0)
    for seed in range(12):
        g = pipelines.hardware(mult, 3).run(random_graph(seed, signed_input=seed % 2 == 0,
                                                         sparsity=0.3))
        for node in g.nodes:
            if not isinstance(node, LinearSum):
                continue
            src = g.node(node.inputs[0])
            lo, hi = src.lo.reshape(-1), src.hi.reshape(-1)
            w, c = node.matrix(src.size)
            for _ in range(50):
                x = [int(rng.integers(int(a), int(b) + 1)) for a, b in zip(lo, hi)]
                want = [sum(int(w[i, j]) * x[i] for i in range(len(x))) + int(c[j])
                        for j in range(w.shape[1])]
                assert _run_adder_graph(node.graph, x) == want, (seed, node.name)
