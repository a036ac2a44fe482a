"""Published CNNs of MNIST size, as their authors wrote them, with seeded random weights:
the reference equals QKeras (and the untouched float32 model where float32 is exact), and
the streaming RTL equals the reference. Architectures: QKeras's examples/example_mnist.py
and examples/example_mnist_bn.py (ternary kernels, QBatchNormalization with power-of-two
quantizers, a quantized_ulaw dense layer)."""
import numpy as np
import pytest

from hwgen.frontends.loader import load
from hwgen.frontends.qkeras import to_ir
from hwgen.options import FrontendOptions
from hwgen.sim.vectors import input_codes
from hwgen.verify import untouched_mismatches, verify_model

MNIST_INPUT = "ufixed<8,0>"           # the examples feed pixels / 255


def qkeras_example_mnist():
    """examples/example_mnist.py: three strided QConv2D + QDense, 4-bit everything."""
    import tensorflow as tf
    from qkeras import QActivation, QConv2D, QDense, quantized_bits
    L = tf.keras.layers
    x = x_in = L.Input((28, 28, 1), name="input")
    for i, (filters, kernel) in enumerate([(32, 2), (64, 3), (64, 2)]):
        x = QConv2D(filters, (kernel, kernel), strides=(2, 2),
                    kernel_quantizer=quantized_bits(4, 0, 1),
                    bias_quantizer=quantized_bits(4, 0, 1), name=f"conv2d_{i}_m")(x)
        x = QActivation("quantized_relu(4,0)", name=f"act{i}_m")(x)
    x = L.Flatten()(x)
    x = QDense(10, kernel_quantizer=quantized_bits(4, 0, 1),
               bias_quantizer=quantized_bits(4, 0, 1), name="dense")(x)
    x = L.Activation("softmax", name="softmax")(x)
    return _randomised(tf.keras.Model(x_in, x, name="example_mnist"))


def qkeras_example_mnist_bn():
    """examples/example_mnist_bn.py (WITH_BN=1). Its ternary(threshold=0.1) kernels need
    alpha=1 in this QKeras (the default alpha asserts no threshold)."""
    import tensorflow as tf
    from qkeras import (QActivation, QBatchNormalization, QConv2D, QDense, quantized_bits,
                        quantized_po2, quantized_relu_po2, quantized_ulaw, ternary)
    L = tf.keras.layers
    x = x_in = L.Input((28, 28, 1), name="input")
    for i, filters in enumerate([128, 256, 128]):
        x = QConv2D(filters, (3, 3), strides=1, use_bias=False,
                    kernel_quantizer=ternary(alpha=1, threshold=0.1), name=f"conv2d_{i}_m")(x)
        x = QBatchNormalization(gamma_quantizer=quantized_relu_po2(4, 8),
                                variance_quantizer=quantized_relu_po2(6),
                                beta_quantizer=quantized_po2(4, 4), gamma_range=8,
                                beta_range=4, name=f"bn{i}")(x)
        x = QActivation("quantized_relu(3,1)", name=f"act{i}_m")(x)
        x = L.MaxPooling2D(2, 2, name=f"mp_{i}")(x)
    x = L.Flatten()(x)
    x = QDense(10, kernel_quantizer=quantized_ulaw(4, 0, 1),
               bias_quantizer=quantized_bits(4, 0, 1), name="dense")(x)
    x = L.Activation("softmax", name="softmax")(x)
    return _randomised(tf.keras.Model(x_in, x, name="example_mnist_bn"))


def _randomised(model):
    rng = np.random.default_rng(28)
    model.set_weights([rng.uniform(0.5, 2.0, v.shape) if "variance" in w.name or
                       "gamma" in w.name else rng.normal(0, 0.3, v.shape)
                       for v, w in zip(model.get_weights(), model.weights)])
    return model


def _check_reference(model, n: int):
    loaded = load(model)
    graph = to_ir(loaded, FrontendOptions.from_strings(MNIST_INPUT))
    assert graph.exact and graph.softmax_removed
    result = verify_model(loaded, graph, n=n, seed=1)
    assert result.mismatches == 0, result.details()
    return loaded, graph


def test_qkeras_example_mnist_is_bit_exact():
    loaded, graph = _check_reference(qkeras_example_mnist(), 200)
    codes = input_codes(graph.input.type, graph.input.shape, 200, 2, None)
    assert untouched_mismatches(loaded, graph, codes) == []     # float32 is exact here


@pytest.mark.slow       # about a minute: 590k weights
def test_qkeras_example_mnist_bn_is_bit_exact():
    _, graph = _check_reference(qkeras_example_mnist_bn(), 60)
    ops = {n.layer: n.op for n in graph.nodes}
    assert ops["dense"] == "dense" and ops["bn0+act0_m"] == "step"


@pytest.mark.slow       # six minutes: the stream's RTL and Verilator build
def test_qkeras_example_mnist_streams_bit_exact(tmp_path):
    from hwgen.flow import build_rtl
    from hwgen.options import HardwareOptions

    from .cosim_checks import assert_exact_in_images_and_pixels
    model = qkeras_example_mnist()
    graph = to_ir(load(model), FrontendOptions.from_strings(MNIST_INPUT))
    _, rtl = build_rtl(graph, tmp_path, HardwareOptions("csd", None, 64, io="stream"))
    assert len(rtl.data["stream"]["stages"]) == 3
    assert_exact_in_images_and_pixels(graph, rtl.data, tmp_path / "rtl", tmp_path, 8, 1)
