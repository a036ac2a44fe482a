"""Convolutional models: every convolution, pooling and spatial layer with its options is
exact against QKeras (the float64 twin and the untouched float32 model), average pooling
rounds as TensorFlow does on every sum (ties included), and the hardware equals the
reference in Verilator, fully parallel and folded; bad options get a clear error."""
import itertools

import numpy as np
import pytest

from hwgen.errors import HwgenError, UnsupportedError
from hwgen.flow import build_rtl
from hwgen.frontends.loader import load
from hwgen.frontends.qkeras import to_ir
from hwgen.options import FrontendOptions, HardwareOptions
from hwgen.passes.pipelines import hardware
from hwgen.sim.runner import cosim
from hwgen.sim.vectors import input_codes
from hwgen.verify import untouched_mismatches, verify_model

from .conv_factory import BLOCKS_1D, BLOCKS_2D, random_conv_model
from .model_factory import quantizer

N_MODELS = 24


def _compile(seed):
    model, fmt, desc = random_conv_model(seed)
    loaded = load(model)
    # Float layers (Keras's DepthwiseConv1D) take the precision; quantized ones ignore it.
    return loaded, to_ir(loaded, FrontendOptions.from_strings(fmt, ["fixed<8,2>"])), desc


@pytest.mark.parametrize("seed", [s if s < N_MODELS // 2 else pytest.param(s, marks=pytest.mark.slow)
                                  for s in range(N_MODELS)])
def test_random_cnn_is_bit_exact(seed):
    loaded, graph, desc = _compile(seed)
    result = verify_model(loaded, graph, n=300, seed=seed)
    assert result.mismatches == 0, f"{desc}\n{result.details()}"
    codes = input_codes(graph.input.type, graph.input.shape, 300, seed, None)
    bad = untouched_mismatches(loaded, graph, codes)
    assert not bad, f"{desc}: the untouched model differs on vectors {bad[:5]}"


@pytest.mark.slow      # builds every model of the factory again
def test_the_factory_uses_every_layer_form():
    text = " ".join(random_conv_model(seed)[2] for seed in range(N_MODELS))
    for form in ["QConv2D", "QConv1D", "QDepthwiseConv2D(", "DepthwiseConv1D",
                 "QConv2DBatchnorm", "QDepthwiseConv2DBatchnorm",
                 "QSeparableConv2D", "QSeparableConv1D", "MaxPooling2D", "MaxPooling1D",
                 "avgpool", "qavgpool", "ZeroPadding", "Cropping", "UpSampling", "BN +",
                 "causal", "groups 2", "dilation 2", "strides (2, 2)", "same", "valid",
                 "no bias", "flatten", "gap", "gmp", "qgap"]:
        assert form in text, form
    assert set(BLOCKS_1D) | set(BLOCKS_2D) >= {"conv", "avgpool", "separable"}


def _pool_model(layer, shape, act="quantized_bits(6,2)", in_q="quantized_bits(4,2)"):
    import tensorflow as tf
    from qkeras import QActivation
    inp = tf.keras.Input(shape, name="x")
    x = QActivation(quantizer(in_q), name="q_in")(inp)
    x = layer(x)
    if act:
        x = QActivation(quantizer(act), name="q_out")(x)
    x = tf.keras.layers.Flatten(name="flat")(x)
    return tf.keras.Model(inp, x, name="pool")


def _every_window(shape, t):
    """Input codes holding every combination of codes in the first window positions."""
    codes = np.arange(t.min_code, t.max_code + 1)
    n = int(np.prod(shape))
    k = min(n, 3)
    rows = np.array(list(itertools.product(codes, repeat=k)), dtype=np.int64)
    fill = np.zeros((len(rows), n - k), dtype=np.int64)
    return np.concatenate([rows, fill], axis=1).reshape((len(rows),) + tuple(shape))


POOLS = [  # (layer factory, input shape): divisors 3, 5 (and 3, 4 at 'same' borders), 6
    (lambda L: L.AveragePooling1D(3, name="pool"), (3, 1)),
    (lambda L: L.AveragePooling1D(5, strides=1, padding="same", name="pool"), (5, 1)),
    (lambda L: L.AveragePooling2D((2, 3), name="pool"), (2, 3, 1)),
    (lambda L: L.GlobalAveragePooling1D(name="pool"), (3, 1)),
    (lambda L: L.AveragePooling1D(2, name="pool"), (2, 1)),
]


@pytest.mark.parametrize("case", range(len(POOLS)))
def test_average_pooling_rounds_as_tensorflow_on_every_sum(case):
    """Every sum a window can hold (ties of the quantizer after it among them) against the
    untouched float32 model: a division by the pixel count rounded to float32, then the
    quantizer's own rounding."""
    import tensorflow as tf
    make, shape = POOLS[case]
    model = _pool_model(make(tf.keras.layers), shape)
    loaded = load(model)
    graph = to_ir(loaded)
    codes = _every_window(shape, graph.input.type)
    bad = untouched_mismatches(loaded, graph, codes)
    assert bad == [], bad[:5]
    hardware().run(graph)         # lowers to a step function (or shifts) without error


def test_quantized_average_pooling_multiplies_as_qkeras():
    """QAveragePooling2D: TensorFlow's average, times the pool area, times the quantized
    reciprocal, each rounded to float32; every sum of a 1x3 window."""
    from qkeras import QAveragePooling2D
    layer = QAveragePooling2D((1, 3), average_quantizer=quantizer("quantized_bits(8,0)"),
                              name="pool")
    model = _pool_model(layer, (1, 3, 1))
    loaded = load(model)
    graph = to_ir(loaded)
    bad = untouched_mismatches(loaded, graph, _every_window((1, 3, 1), graph.input.type))
    assert bad == [], bad[:5]


def test_average_without_a_quantizer_after_it_is_refused_in_hardware():
    import tensorflow as tf
    model = _pool_model(tf.keras.layers.AveragePooling1D(3, name="pool"), (6, 1), act=None,
                        in_q="quantized_bits(12,4)")
    graph = to_ir(load(model))
    with pytest.raises(UnsupportedError, match="layer 'pool'.*divides by 3.*quantizer"):
        hardware().run(graph)


def _one_layer(layer, shape):
    import tensorflow as tf
    inp = tf.keras.Input(shape, name="x")
    return tf.keras.Model(inp, tf.keras.layers.Flatten()(layer(inp)), name="one")


def test_unsupported_convolution_options_get_clear_errors():
    import tensorflow as tf
    L = tf.keras.layers
    cases = [
        (L.UpSampling2D(2, interpolation="bilinear", name="up"), (4, 4, 1),
         "layer 'up': interpolation='bilinear'.*nearest"),
        (L.MaxPooling2D(2, data_format="channels_first", name="mp"), (1, 4, 4),
         "layer 'mp': data_format='channels_first'.*channels_last"),
        (L.Conv2D(2, 5, name="big"), (3, 3, 1), None),
    ]
    for layer, shape, pattern in cases:
        if pattern is None:
            with pytest.raises(ValueError):       # Keras itself refuses the window
                _one_layer(layer, shape)
            continue
        model = _one_layer(layer, shape)
        with pytest.raises(HwgenError, match=pattern):
            to_ir(load(model), FrontendOptions.from_strings(None, ["fixed<8,3>"]))


def test_float_convolution_needs_a_precision():
    import tensorflow as tf
    model = _one_layer(tf.keras.layers.Conv2D(2, 3, name="c"), (5, 5, 1))
    with pytest.raises(HwgenError, match="layer 'c'.*float.*kernel.*--precision"):
        to_ir(load(model))
    graph = to_ir(load(model), FrontendOptions.from_strings(None, ["fixed<8,3>"]))
    assert [n.op for n in graph.nodes] == ["input", "conv", "quantize", "reshape"]


COSIM = [(3, 4), pytest.param(10, 1, marks=pytest.mark.slow),
         pytest.param(0, 1, marks=pytest.mark.slow),
         pytest.param(5, 2, marks=pytest.mark.slow), pytest.param(22, 3, marks=pytest.mark.slow)]


@pytest.mark.parametrize("seed,reuse", COSIM)
@pytest.mark.usefixtures("fold_every_layer")   # the lanes are under test
def test_random_cnn_cosimulates_bit_exact(tmp_path, seed, reuse):
    _, graph, desc = _compile(seed)
    lowered, rtl = build_rtl(graph, tmp_path, HardwareOptions("csd", 2, reuse))
    assert (rtl.data["ii"] > 1) == (reuse > 1)
    r = cosim(graph, rtl.data, tmp_path / "rtl", tmp_path / "sim", 1000, seed,
              log=lambda s: None)
    assert r["outputs_seen"] == 1000 and r["mismatches"] == 0, (desc, r["first_mismatches"][:2])


def test_dense_on_a_sequence_or_an_image_is_a_pointwise_convolution(tmp_path):
    """Keras applies a Dense on a (length, channels) or (height, width, channels) tensor at
    every position with the same weights: a 1x1 convolution, which it becomes (quantized,
    or float with a precision, its activation after). Exact against QKeras (twin and
    untouched model), and the image model streams exact in Verilator. A Dense on a rank-4
    tensor is refused by name."""
    import tensorflow as tf
    from qkeras import QActivation, QConv2D, QDense

    from hwgen.ops import Conv

    from .cosim_checks import assert_exact_in_images_and_pixels
    L, rng = tf.keras.layers, np.random.default_rng(0)
    w = lambda bits: dict(kernel_quantizer=quantizer(f"quantized_bits({bits},0,alpha=1)"),  # noqa: E731
                          bias_quantizer=quantizer(f"quantized_bits({bits},0,alpha=1)"))
    sequence = tf.keras.Sequential([
        L.InputLayer((6, 3)), QActivation(quantizer("quantized_bits(6,2,1)")),
        QDense(4, name="per_step", **w(5)), QActivation(quantizer("quantized_relu(5,2)")),
        L.Flatten(), QDense(2, **w(5))], name="seq")
    image = tf.keras.Sequential([
        L.InputLayer((4, 4, 3)), QActivation(quantizer("quantized_bits(6,2,1)")),
        QConv2D(3, 2, **w(4)),
        QDense(4, activation=quantizer("quantized_relu(5,2)"), name="per_pixel", **w(5)),
        L.Dense(2, name="float_per_pixel"), L.Flatten()], name="img")
    for model in (sequence, image):
        model.set_weights([rng.normal(0, 0.6, v.shape) for v in model.get_weights()])
        loaded = load(model)
        graph = to_ir(loaded, FrontendOptions.from_strings(None, ["fixed<12,4>"]))
        pointwise = [n for n in graph.nodes if n.layer.startswith(("per_", "float_per"))
                     and isinstance(n, Conv)]
        assert pointwise and all(n.window.kernel == (1, 1) for n in pointwise)
        result = verify_model(loaded, graph, n=300, seed=1)
        assert result.mismatches == 0, result.details()
        codes = input_codes(graph.input.type, graph.input.shape, 300, 1, None)
        assert not untouched_mismatches(loaded, graph, codes)
    _, rtl = build_rtl(graph, tmp_path, HardwareOptions(io="stream"))
    assert rtl.data["stream"]["stages"]
    assert_exact_in_images_and_pixels(graph, rtl.data, tmp_path / "rtl", tmp_path, 200, 1)
    deep = tf.keras.Sequential([L.InputLayer((2, 2, 2, 3)),
                                QActivation(quantizer("quantized_bits(6,2,1)")),
                                QDense(2, name="too_deep", **w(4))])
    with pytest.raises(UnsupportedError, match="too_deep.*rank-4"):
        to_ir(load(deep), FrontendOptions())


def test_permute_reorders_codes_exactly_in_every_form(tmp_path):
    """Permute (axes counted from 1, as Keras does) is a `Gather`: the codes in the new
    order. Exact against QKeras on a sequence and on an image, and in Verilator streaming
    (the stream ends before the transpose; its fully parallel tail takes it)."""
    import tensorflow as tf
    from qkeras import QActivation, QConv2D, QDense

    from hwgen.ops import Gather
    L, rng = tf.keras.layers, np.random.default_rng(2)
    q = quantizer("quantized_bits(4,0,alpha=1)")
    sequence = tf.keras.Sequential([
        L.InputLayer((4, 3)), QActivation(quantizer("quantized_bits(6,2,1)")),
        L.Permute((2, 1), name="swap"), L.Flatten(), QDense(3, kernel_quantizer=q,
                                                             bias_quantizer=q)])
    image = tf.keras.Sequential([
        L.InputLayer((5, 4, 2)), QActivation(quantizer("quantized_bits(6,2,1)")),
        QConv2D(3, 2, kernel_quantizer=q, bias_quantizer=q),
        QActivation(quantizer("quantized_relu(5,2)")), L.Permute((3, 1, 2), name="chw"),
        L.Flatten(), QDense(2, kernel_quantizer=q, bias_quantizer=q)])
    for model in (sequence, image):
        model.set_weights([rng.normal(0, 0.6, v.shape) for v in model.get_weights()])
        loaded = load(model)
        graph = to_ir(loaded, FrontendOptions())
        assert any(isinstance(n, Gather) and n.what.startswith("permute") for n in graph.nodes)
        assert verify_model(loaded, graph, n=300, seed=2).mismatches == 0
    assert graph.node("chw").shape == (3, 4, 3)
    # Streaming: the stream ends before the transpose and the fully parallel tail takes
    # it (so both forms run; the tail is the same Gather RTL as a fully parallel build).
    _, rtl = build_rtl(graph, tmp_path / "stream", HardwareOptions(io="stream"))
    assert rtl.data["stream"]["tail"] is not None
    r = cosim(graph, rtl.data, tmp_path / "stream" / "rtl", tmp_path / "stream" / "sim",
              200, 2, log=lambda s: None)
    assert r["mismatches"] == 0, r["first_mismatches"][:2]


def test_batchnorm_folded_convolutions_compute_their_folded_quantized_kernels(tmp_path):
    """QConv2DBatchnorm and QDepthwiseConv2DBatchnorm (QKeras's quantization-aware batch
    norm folding) are at inference their convolution with the kernel and bias folded in
    float32 and then quantized: exact against the untouched model (which folds in its own
    `call`) and the twin, after a round trip through an .h5 file (the hardware is the
    plain `Conv` it becomes: every convolution's RTL). With the unfolded kernel the codes
    would differ (checked), so the comparison can fail."""
    import tensorflow as tf
    from qkeras import QActivation, QConv2DBatchnorm, QDense, QDepthwiseConv2DBatchnorm

    from hwgen.ops import Conv
    L, rng = tf.keras.layers, np.random.default_rng(4)
    model = tf.keras.Sequential([
        L.InputLayer((6, 5, 2)), QActivation(quantizer("quantized_bits(6,2,1)")),
        QConv2DBatchnorm(3, 3, kernel_quantizer=quantizer("quantized_bits(5,0,alpha=1)"),
                         bias_quantizer=quantizer("quantized_bits(8,3,alpha=1)"),
                         use_bias=False, name="conv_bn"),
        QActivation(quantizer("quantized_relu(5,2)")),
        QDepthwiseConv2DBatchnorm(2, depth_multiplier=2, padding="same",
                                  depthwise_quantizer=quantizer("quantized_bits(4,1,alpha=1)"),
                                  bias_quantizer=quantizer("quantized_bits(8,3,alpha=1)"),
                                  name="dw_bn"),
        QActivation(quantizer("quantized_bits(6,3)")), L.Flatten(),
        QDense(2, kernel_quantizer=quantizer("quantized_bits(4,0,alpha=1)"),
               bias_quantizer=quantizer("quantized_bits(4,0,alpha=1)"))])
    model.set_weights([np.abs(rng.normal(1, 0.4, w.shape)) + 0.05 if "variance" in v.name
                       else rng.normal(0, 0.7, w.shape) for w, v in
                       zip(model.get_weights(), model.weights)])
    model.save(tmp_path / "folded.h5")
    for source in (model, str(tmp_path / "folded.h5")):
        loaded = load(source)
        graph = to_ir(loaded, FrontendOptions())
        assert verify_model(loaded, graph, n=300, seed=3).mismatches == 0
        codes = input_codes(graph.input.type, graph.input.shape, 300, 3, None)
        assert untouched_mismatches(loaded, graph, codes) == []
    conv = graph.node("conv_bn")
    assert isinstance(conv, Conv) and conv.bias is not None       # the folded bias
    plain = quantizer("quantized_bits(5,0,alpha=1)")(model.get_layer("conv_bn").kernel)
    assert not np.array_equal(conv.kernel, np.asarray(plain) * 2 ** conv.weight_frac)
