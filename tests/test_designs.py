"""The zoo and the real hls4ml models: the reference equals QKeras on >= 10,000 vectors."""
import json

import numpy as np
import pytest

import hwgen
from hwgen.designs import design_meta, design_names
from hwgen.ir import interp
from hwgen.options import FrontendOptions
from hwgen.verify import verify_model


def test_zoo_has_the_required_designs():
    assert {"jet_tagger", "digits_mlp", "digits_mlp_pruned", "digits_resmlp"} <= \
        set(design_names())


@pytest.mark.parametrize("name", design_names())
def test_design_reference_is_bit_exact(name):
    loaded, graph = hwgen.compile_model(name)
    data = np.load(f"designs/{name}/test_inputs.npy")
    result = verify_model(loaded, graph, n=10000, seed=1, extra=data)
    assert result.exact and result.vectors == 10000
    assert result.mismatches == 0, result.details()


@pytest.mark.parametrize("name", design_names())
def test_design_metadata_matches_the_model(name):
    """meta.json's accuracy and sparsity are what the committed model gives."""
    meta = design_meta(name)
    _, graph = hwgen.compile_model(name)
    codes = np.load(f"designs/{name}/test_inputs.npy")
    labels = np.load(f"designs/{name}/test_labels.npy")
    acc = np.mean(np.argmax(interp.run(graph, codes).astype(np.float64), axis=1) == labels)
    assert round(float(acc), 4) == meta["accuracy"]["hwgen_reference"]
    weights = [n.weights for n in graph.nodes if n.op == "dense"] + \
        [n.kernel for n in graph.nodes if n.op == "conv" and not n.window_sum]
    zeros = sum(int(np.sum(w == 0)) for w in weights)
    assert sum(w.size for w in weights) == meta["weights"]
    assert zeros == meta["zero_weights"]
    assert meta["made_by"].startswith("scripts/train_designs.py")
    json.dumps(meta)


def test_pruned_design_is_pruned():
    assert design_meta("digits_mlp_pruned")["sparsity"] >= 0.75
    _, dense = hwgen.compile_model("digits_mlp")
    _, pruned = hwgen.compile_model("digits_mlp_pruned")
    macs = lambda g: sum(n.nonzero for n in g.nodes if n.op == "dense")  # noqa: E731
    assert macs(pruned) < 0.3 * macs(dense)


def test_real_qkeras_jet_tagger_is_bit_exact(shared_models):
    loaded, graph = hwgen.compile_model(str(shared_models / "qkeras_3layer.json"))
    assert graph.softmax_removed and graph.exact
    assert [n.op for n in graph.nodes] == ["input", "dense", "quantize", "dense", "quantize",
                                           "dense", "quantize", "dense"]
    result = verify_model(loaded, graph, n=10000, seed=2)
    assert result.mismatches == 0, result.details()


@pytest.mark.parametrize("arch, weights", [
    ("KERAS_3layer.json", None),
    ("KERAS_3layer.json", "KERAS_3layer_70pruned_retrained_weights.h5"),
    ("KERAS_3layer_batch_norm.json", None),
])
def test_real_float_models_report_quantization_error(shared_models, arch, weights):
    w = str(shared_models / weights) if weights else None
    loaded, graph = hwgen.compile_model(str(shared_models / arch),
                                        FrontendOptions.from_strings(None, ["fixed<16,6>"]), w)
    assert not graph.exact
    result = verify_model(loaded, graph, n=10000, seed=0)
    assert not result.exact and len(result.max_abs_error) == 5
    # A sanity check on typical inputs, not a contract.
    assert result.argmax_agreement >= 0.9
    if weights:
        nz = sum(n.nonzero for n in graph.nodes if n.op == "dense")
        total = sum(n.weights.size for n in graph.nodes if n.op == "dense")
        assert nz / total <= 0.35     # the 70 %-pruned weights stay zero
