"""The reference against the untouched QKeras model, not against hwgen's own float64 twin.

`verify-model` compares with the twin, and the IR is built from that same twin: if the
twin misread a model, both sides would agree. Here the oracle is the original model's own
float32 `predict` (`verify.untouched_mismatches`), wherever float32 is exact. A final
softmax is cut with a sub-model ending at its input.
"""
import numpy as np
import pytest

from hwgen.frontends.loader import load
from hwgen.frontends.qkeras import to_ir
from hwgen.options import FrontendOptions
from hwgen.sim.vectors import input_codes
from hwgen.verify import untouched_mismatches

from .model_factory import random_model

SEEDS = range(40)


def _compare(model, in_fmt, n, seed, extra=None):
    loaded = load(model)    # a Keras object, a design name or a file
    graph = to_ir(loaded, FrontendOptions.from_strings(in_fmt))
    codes = input_codes(graph.input.type, graph.input.shape, n, seed, extra)
    return untouched_mismatches(loaded, graph, codes)


@pytest.mark.parametrize("seed", SEEDS)
def test_reference_equals_the_untouched_model(seed):
    model, in_fmt, desc = random_model(seed)
    bad = _compare(model, in_fmt, 500, seed)
    if bad is None:
        pytest.skip("sums above 2**24: the float32 model is not exact (the twin covers it)")
    assert bad == [], f"{desc}: rows {bad[:10]} differ from the model's own predict"


def test_most_random_models_are_compared_with_the_untouched_model():
    """The oracle must not be skipped into meaninglessness."""
    seeds = SEEDS[::4]
    compared = sum(_compare(*random_model(s)[:2], 20, s) is not None for s in seeds)
    assert compared >= len(seeds) // 2, compared


@pytest.mark.parametrize("design", ["digits_mlp", "digits_mlp_pruned", "jet_tagger"])
def test_zoo_reference_equals_the_untouched_model(design):
    bad = _compare(design, None, 2000, 1, np.load(f"designs/{design}/test_inputs.npy"))
    assert bad == []


def test_real_hls4ml_tagger_equals_the_untouched_model(shared_models):
    """hls4ml's published QKeras jet tagger; a 10-bit input grid keeps its sums float32
    exact (16-bit inputs reach 2**26)."""
    bad = _compare(str(shared_models / "qkeras_3layer.json"), "fixed<10,4>", 3000, 2)
    assert bad == [], bad and bad[:10]
