"""Random QKeras models over every quantizer and option: the reference equals QKeras."""
import pytest

from hwgen.frontends.loader import load
from hwgen.frontends.qkeras import to_ir
from hwgen.options import FrontendOptions
from hwgen.verify import verify_model

from .model_factory import ACTIVATION_QUANTIZERS, WEIGHT_QUANTIZERS, random_model

N_MODELS = 60


@pytest.mark.parametrize("seed", range(N_MODELS))
def test_random_model_is_bit_exact(seed):
    model, in_fmt, desc = random_model(seed)
    loaded = load(model)
    graph = to_ir(loaded, FrontendOptions.from_strings(in_fmt))
    assert graph.exact
    result = verify_model(loaded, graph, n=400, seed=seed)
    assert result.mismatches == 0, f"{desc}\n{result.details()}"


# slow: builds all 60 models again; a change to the factory runs it through make test-all
@pytest.mark.slow
def test_factory_covers_every_quantizer():
    """Across the seeds used above every listed quantizer appears in some model."""
    seen = set()
    for seed in range(N_MODELS):
        seen.update(random_model(seed)[2].split("; "))
    text = " ".join(seen)
    for q in WEIGHT_QUANTIZERS + ACTIVATION_QUANTIZERS:
        assert q in text, q
    for form in ("(as a string)", "Flatten from", "Reshape"):
        assert form in text, form


def test_float32_rounding_before_quantizer_is_modelled():
    """Wide accumulators (> 24 significant bits) are rounded to float32 before QKeras's
    quantizer rounds them; the reference must do the same, and it matters."""
    import dataclasses

    import numpy as np
    import tensorflow as tf
    from qkeras import QActivation, QDense

    from hwgen.ir import interp
    from hwgen.ops import Quantize

    from .model_factory import quantizer
    model = tf.keras.Sequential([
        tf.keras.layers.InputLayer((8,)),
        QDense(6, kernel_quantizer=quantizer("quantized_bits(16,2)"),
               bias_quantizer=quantizer("quantized_bits(16,2)"), name="wide"),
        QActivation(quantizer("quantized_bits(12,9)"), name="q"),
        QDense(3, kernel_quantizer=quantizer("quantized_bits(8,0)"), use_bias=False,
               name="out")])
    rng = np.random.default_rng(7)
    model.set_weights([rng.normal(0, 1, w.shape).astype(np.float32) for w in model.get_weights()])
    loaded = load(model)
    graph = to_ir(loaded, FrontendOptions.from_strings("fixed<18,8>"))
    result = verify_model(loaded, graph, n=3000, seed=3)
    assert result.mismatches == 0, result.details()
    without_cast = dataclasses.replace(graph, nodes=[
        dataclasses.replace(n, float32_cast=False) if isinstance(n, Quantize) else n
        for n in graph.nodes])
    codes = np.random.default_rng(3).integers(-2**17, 2**17, size=(3000, 8))
    assert not np.array_equal(interp.run(graph, codes), interp.run(without_cast, codes))


def _ulaw_model(kernel_q: str, act_q: str):
    """A small MLP with mu-law kernels and a mu-law activation (QKeras's published MNIST
    and CIFAR-10 examples quantize their last kernel with quantized_ulaw(4,0,1))."""
    import numpy as np
    import tensorflow as tf
    from qkeras import QActivation, QDense

    from .model_factory import quantizer
    inp = tf.keras.Input((10,), name="x")
    h = QActivation(quantizer("quantized_bits(8,2,alpha=1)"), name="q_in")(inp)
    h = QDense(6, kernel_quantizer=quantizer(kernel_q),
               bias_quantizer=quantizer("quantized_bits(4,0,1)"), name="d0")(h)
    h = QActivation(quantizer(act_q), name="a0")(h)
    h = QDense(3, kernel_quantizer=quantizer(kernel_q),
               bias_quantizer=quantizer("quantized_bits(6,2,1)"), name="d1")(h)
    model = tf.keras.Model(inp, h, name="ulaw")
    rng = np.random.default_rng(5)
    model.set_weights([rng.normal(0, 0.5, w.shape) for w in model.get_weights()])
    return model


@pytest.mark.parametrize("kernel_q,act_q", [
    ("quantized_ulaw(4,0,1)", "quantized_ulaw(6,1)"),
    pytest.param("quantized_ulaw(8,0)", "quantized_ulaw(3,0,1)", marks=pytest.mark.slow)])
def test_ulaw_kernels_and_activations_are_bit_exact(kernel_q, act_q, tmp_path):
    """quantized_ulaw: its levels are float32 logarithms, held exactly (a wide kernel, a
    step function for the activation); the reference equals QKeras and the RTL equals the
    reference in Verilator."""
    from hwgen.flow import build_rtl
    from hwgen.options import HardwareOptions

    from .cosim_checks import assert_exact_in_batch_and_stream
    loaded = load(_ulaw_model(kernel_q, act_q))
    graph = to_ir(loaded, FrontendOptions.from_strings(None))
    assert [n.op for n in graph.nodes if n.layer == "a0"] == ["step"]
    assert max(n.type.frac for n in graph.nodes if n.layer == "d0") > 16   # wide weights
    result = verify_model(loaded, graph, n=2000, seed=3)
    assert result.mismatches == 0, result.details()
    _, rtl = build_rtl(graph, tmp_path, HardwareOptions("csd", 2, 1))
    assert_exact_in_batch_and_stream(graph, rtl.data, tmp_path / "rtl", tmp_path, 3,
                                     batch=1000, stream=200)
