"""Range inference contains every reference value and is exact per neuron; CSD digits."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import hwgen
from hwgen.designs import design_names
from hwgen.ir import interp
from hwgen.options import FrontendOptions
from hwgen.passes.csd import adders_for, csd_digits
from hwgen.passes.pipelines import DEFAULT
from hwgen.sim.vectors import input_codes

from ..model_factory import random_model


def _check_contained(graph, n=2000, seed=0):
    codes = input_codes(graph.input.type, graph.input.shape, n, seed)
    values = interp.run(graph, codes, keep=True)
    for node in graph.nodes:
        v = values[node.name].astype(object)
        assert np.all(v >= node.lo.astype(object)), node.name
        assert np.all(v <= node.hi.astype(object)), node.name
        assert int(node.lo.min()) >= node.type.min_code and int(node.hi.max()) <= node.type.max_code


@pytest.mark.parametrize("name", design_names())
def test_ranges_contain_every_value_of_the_designs(name):
    _, graph = hwgen.compile_model(name)
    _check_contained(DEFAULT.run(graph))


@pytest.mark.parametrize("seed", range(0, 60, 6))
def test_ranges_contain_every_value_of_random_models(seed):
    model, fmt, _ = random_model(seed)
    _, graph = hwgen.compile_model(model, FrontendOptions.from_strings(fmt))
    _check_contained(DEFAULT.run(graph), n=500, seed=seed)


def test_first_dense_bounds_are_attained():
    """Per-neuron bounds are exact: the extreme input reaches them."""
    _, graph = hwgen.compile_model("jet_tagger")
    graph = DEFAULT.run(graph)
    dense = graph.nodes[1]
    t = graph.input.type
    for j in range(3):
        w = dense.weights[:, j]
        top = np.where(w > 0, t.max_code, t.min_code)[None, :]
        bottom = np.where(w > 0, t.min_code, t.max_code)[None, :]
        assert interp.evaluate(dense, graph.input, top)[0, j] == dense.hi[j]
        assert interp.evaluate(dense, graph.input, bottom)[0, j] == dense.lo[j]
    # Per-neuron widths differ: the point of per-element inference.
    widths = {hwgen.FixedType.for_range(int(a), int(b), 0).width
              for a, b in zip(dense.lo, dense.hi)}
    assert len(widths) > 1


@given(st.integers(-2**40, 2**40))
def test_csd_digits(value):
    digits = csd_digits(value)
    assert sum(sign << shift for shift, sign in digits) == value
    shifts = [s for s, _ in digits]
    assert all(b - a >= 2 for a, b in zip(shifts, shifts[1:]))   # no adjacent non-zeros


def test_csd_examples():
    assert csd_digits(7) == [(0, -1), (3, 1)]
    assert adders_for(0) == adders_for(8) == adders_for(-16) == 0
    assert adders_for(7) == 1 and adders_for(0b1010101) == 3


def test_pipeline_dumps_each_pass(tmp_path):
    _, graph = hwgen.compile_model("digits_mlp")
    DEFAULT.run(graph, dump_dir=tmp_path)
    assert (tmp_path / "01-infer-ranges.txt").read_text().startswith("graph digits_mlp")


def test_float32_casts_dropped_only_where_exact():
    _, graph = hwgen.compile_model("jet_tagger")
    before = [n for n in graph.nodes if getattr(n, "float32_cast", False)]
    assert before                                # quantized_relu casts to float32
    lowered = DEFAULT.run(graph)
    assert not any(getattr(n, "float32_cast", False) for n in lowered.nodes)
    codes = input_codes(graph.input.type, graph.input.shape, 3000, 5)
    assert np.array_equal(interp.run(graph, codes), interp.run(lowered, codes))
    # A 24-bit-plus accumulator keeps its cast (ranges of 2**17 inputs x 16-bit weights).
    import tensorflow as tf
    from qkeras import QActivation, QDense

    from ..model_factory import quantizer
    wide = tf.keras.Sequential([
        tf.keras.layers.InputLayer((8,)),
        QDense(4, kernel_quantizer=quantizer("quantized_bits(16,2)"), use_bias=False),
        QActivation(quantizer("quantized_bits(12,9)"))])
    _, g = hwgen.compile_model(wide, FrontendOptions.from_strings("fixed<18,8>"))
    assert any(getattr(n, "float32_cast", False) for n in DEFAULT.run(g).nodes)
