"""The hls4ml path: hwgen's precisions make hls4ml's C simulation bit-exact with the
reference; a wrong precision is caught; layers hls4ml cannot match are named."""
import json

import pytest

import hwgen
from hwgen.export.hls import check, precisions, write_project
from hwgen.passes.pipelines import DEFAULT
from hwgen.sim.vectors import input_codes


# slow: digits_mlp is digits_mlp_pruned's architecture with its weights unpruned; the
# jet tagger is another dense MLP (the CNN, alpha and ulaw cases below run by default)
@pytest.mark.parametrize("name", ["digits_mlp_pruned",
                                  pytest.param("digits_mlp", marks=pytest.mark.slow),
                                  pytest.param("jet_tagger", marks=pytest.mark.slow)])
def test_hls4ml_csim_is_bit_exact_with_the_reference(name, tmp_path, capsys):
    from hwgen.cli import main
    assert main(["hls", name, "-o", str(tmp_path), "--n", "2000"]) == 0
    assert "2000 vectors, 0 mismatches (layer output" in capsys.readouterr().out
    assert (tmp_path / "build_prj.tcl").exists()          # the Vitis project, ready to build
    types = json.loads((tmp_path / "hwgen_precisions.json").read_text())["layers"]
    assert types["relu1"]["result"].endswith(",AP_RND_CONV,AP_SAT>")
    assert types["fc1"]["accum"] == types["fc1"]["result"]


def test_hls4ml_resource_strategy_with_a_reuse_factor_stays_bit_exact(tmp_path, capsys):
    from hwgen.cli import main
    assert main(["hls", "digits_mlp_pruned", "-o", str(tmp_path), "--n", "1000",
                 "--reuse", "4"]) == 0
    assert "1000 vectors, 0 mismatches" in capsys.readouterr().out
    parameters = (tmp_path / "firmware" / "parameters.h").read_text()
    assert "reuse_factor = 4;" in parameters and "strategy = nnet::resource;" in parameters


def test_a_wrong_precision_is_caught(tmp_path):
    loaded, graph = hwgen.compile_model("digits_mlp_pruned")
    ranged = DEFAULT.run(graph)
    hm, last, _ = write_project(loaded.model, ranged, tmp_path, overrides={
        "relu1": {"result": "ap_ufixed<6,2,AP_TRN,AP_SAT>"}})      # truncates, not RND_CONV
    codes = input_codes(graph.input.type, graph.input.shape, 500, 0)
    result = check(hm, ranged, codes, last)
    assert result["mismatches"] > 0 and result["first_mismatches"]


def test_layers_hls4ml_cannot_match_are_named():
    from hwgen.frontends.loader import load
    from hwgen.frontends.qkeras import to_ir
    from hwgen.options import FrontendOptions
    from ..model_factory import random_model
    for seed in range(1, 12):
        model, in_fmt, _ = random_model(seed)
        graph = DEFAULT.run(to_ir(load(model), FrontendOptions.from_strings(in_fmt)))
        types, last, reason = precisions(graph)
        ops = [n.op for n in graph.nodes]
        if any(op in ("step", "scale_shift") for op in ops):
            assert reason and "hwgen folds it exactly" in reason
            return
    pytest.fail("no random model with a folded batch-norm")


@pytest.mark.parametrize("backend,project_file", [
    ("Vivado", "build_prj.tcl"),
    pytest.param("Quartus", "build_lib.sh", marks=pytest.mark.slow)])
def test_vivado_and_quartus_backends_are_bit_exact_in_c_simulation(backend, project_file,
                                                                    tmp_path, capsys):
    """The other two hls4ml back ends `hwgen hls --backend` offers: the project is written
    and its C simulation equals the reference."""
    from hwgen.cli import main
    assert main(["hls", "digits_mlp_pruned", "--backend", backend, "-o", str(tmp_path),
                 "--n", "500"]) == 0, capsys.readouterr()
    assert "500 vectors, 0 mismatches" in capsys.readouterr().out
    assert (tmp_path / project_file).exists()


def test_a_failing_cxx_build_is_one_line_with_gxx_first_error(tmp_path):
    """A real g++ failure (a negative ap_fixed width in the project's types) stops
    hls4ml's C simulation build; hwgen quotes g++'s first error and the log."""
    from hwgen.errors import HwgenError
    from hwgen.export.hls import compile_project
    loaded, graph = hwgen.compile_model("digits_mlp_pruned")
    ranged = DEFAULT.run(graph)
    hm, _, _ = write_project(loaded.model, ranged, tmp_path, overrides={
        "relu1": {"result": "ap_fixed<-4,2,AP_RND_CONV,AP_SAT>"}})
    with pytest.raises(HwgenError) as err:
        compile_project(hm)
    text = str(err.value)
    assert "hls4ml's C simulation build (g++)" in text and "build_lib.log" in text
    assert "error" in text.lower() and "\n" not in text.strip()
    assert (tmp_path / "build_lib.log").is_file()


@pytest.mark.parametrize("io", ["stream", pytest.param("parallel", marks=pytest.mark.slow)])
def test_hls4ml_cnn_is_bit_exact_in_c_simulation(io, tmp_path, capsys):
    """digits_cnn in hls4ml's io_stream (line buffers on hls::stream) and io_parallel:
    the convolution, the max pool and the dense layer, code for code."""
    from hwgen.cli import main
    assert main(["hls", "digits_cnn", "-o", str(tmp_path), "--n", "500", "--io", io]) == 0
    assert "500 vectors, 0 mismatches (layer output" in capsys.readouterr().out
    defines = (tmp_path / "firmware" / "defines.h").read_text()
    assert ("hls::stream" in (tmp_path / "firmware" / "myproject.cpp").read_text()) == \
        (io == "stream")
    assert "conv1" in defines or "conv1" in (tmp_path / "firmware" / "parameters.h").read_text()


def _scaled_model(kernel_q: str, conv: bool):
    """A small QKeras model whose kernels carry an alpha scale ('auto_po2', or alpha=None,
    which QKeras turns into 'auto_po2' itself), dense or conv."""
    import numpy as np
    import tensorflow as tf
    from qkeras import QActivation, QConv2D, QDense
    from ..model_factory import quantizer
    L = tf.keras.layers
    # named 'input', which hls4ml reserves: the copy hls4ml converts renames it
    inp = L.Input((4, 4, 2) if conv else (6,), name="input")
    h = inp
    if conv:
        h = QConv2D(3, 3, padding="same", kernel_quantizer=quantizer(kernel_q),
                    bias_quantizer=quantizer("quantized_bits(5,2)"), name="conv")(h)
        h = QActivation(quantizer("quantized_relu(5,2)"), name="relu0")(h)
        h = L.Flatten(name="flat")(h)
    h = QDense(5, kernel_quantizer=quantizer(kernel_q),
               bias_quantizer=quantizer("quantized_bits(5,2)"), name="fc1")(h)
    h = QActivation(quantizer("quantized_relu(5,2)"), name="relu1")(h)
    h = QDense(3, kernel_quantizer=quantizer(kernel_q),
               bias_quantizer=quantizer("quantized_bits(4,1)"), name="fc2")(h)
    model = tf.keras.Model(inp, h, name="scaled")
    rng = np.random.default_rng(3)
    for layer in model.layers:
        if layer.weights:
            layer.set_weights([rng.normal(size=w.shape) for w in layer.get_weights()])
    return model


# slow: the plain quantized_bits kernel is every other hls4ml test's; the alpha-scaled
# ones are what this test is for
@pytest.mark.parametrize("kernel_q, conv", [
    pytest.param("quantized_bits(4,1)", False, marks=pytest.mark.slow),
    ("quantized_bits(3,0,alpha='auto_po2')", True),
    pytest.param("ternary(alpha='auto_po2')", False, marks=pytest.mark.slow),
    pytest.param("binary(alpha='auto_po2')", True, marks=pytest.mark.slow),
    pytest.param("quantized_bits(6,1,alpha='auto_po2')", False, marks=pytest.mark.slow)])
def test_alpha_scaled_kernels_are_bit_exact(kernel_q, conv, tmp_path):
    """hls4ml moves a kernel's alpha scale and the bias into an ApplyAlpha layer of its own
    'auto' precision; hwgen hands it plain quantizers on the already-quantized weights,
    so the layers' results stay hwgen's and the C simulation is exact."""
    from hwgen.frontends.loader import load
    from hwgen.frontends.qkeras import to_ir
    from hwgen.options import FrontendOptions
    model = _scaled_model(kernel_q, conv)
    graph = DEFAULT.run(to_ir(load(model), FrontendOptions.from_strings("fixed<6,3>")))
    hm, last, _ = write_project(model, graph, tmp_path)
    assert not [n for n in hm.get_layers() if n.class_name == "ApplyAlpha"]
    codes = input_codes(graph.input.type, graph.input.shape, 500, 0)
    result = check(hm, graph, codes, last)
    assert result["mismatches"] == 0 and last == "fc2", result["first_mismatches"]


@pytest.mark.parametrize("fc1_q, fc2_bias_q", [
    ("quantized_bits(4,1,keep_negative=False)", "quantized_bits(5,2)"),
    ("quantized_bits(4,0)", "quantized_bits(3,3)")])
def test_weight_quantizers_hls4ml_would_misread_reach_it_as_signed_plain_ones(
        fc1_q, fc2_bias_q, tmp_path):
    """hls4ml 1.3 types every quantized_bits as a signed fixed<bits, integer + 1>: an
    unsigned kernel or bias (keep_negative=False) loses its last fraction bit there, and
    one of integer == bits becomes an int of step 1 where QKeras's step is 2 (203 of 300
    vectors differed). hwgen hands hls4ml signed plain quantizers that hold the same
    values: exact in the C simulation."""
    import numpy as np
    import tensorflow as tf
    from qkeras import QActivation, QDense

    from hwgen.export.hls import hls_model
    from hwgen.frontends.loader import load
    from hwgen.frontends.qkeras import to_ir
    from hwgen.options import FrontendOptions

    from ..model_factory import quantizer
    inp = tf.keras.Input((6,), name="x")
    h = QDense(5, kernel_quantizer=quantizer(fc1_q), name="fc1",
               bias_quantizer=quantizer("quantized_bits(4,2,keep_negative=False)"))(inp)
    h = QActivation(quantizer("quantized_relu(5,2)"), name="relu1")(h)
    h = QDense(3, kernel_quantizer=quantizer("quantized_bits(4,0)"),
               bias_quantizer=quantizer(fc2_bias_q), name="fc2")(h)
    model = tf.keras.Model(inp, h, name="misread")
    rng = np.random.default_rng(4)
    kernel = rng.normal(size=(6, 5))
    model.get_layer("fc1").set_weights([np.abs(kernel) if "keep_negative=False" in fc1_q
                                        else kernel, np.abs(rng.normal(scale=2, size=5))])
    model.get_layer("fc2").set_weights([rng.normal(size=(5, 3)), rng.normal(scale=6, size=3)])
    quantizers = [lc["config"][key] for lc in
                  json.loads(hls_model(model).to_json())["config"]["layers"]
                  for key in ("kernel_quantizer", "bias_quantizer") if key in lc["config"]]
    assert all(q["config"]["keep_negative"] and q["config"]["integer"] < q["config"]["bits"]
               for q in quantizers if q["class_name"] == "quantized_bits"), quantizers
    graph = DEFAULT.run(to_ir(load(model), FrontendOptions.from_strings("fixed<6,3>")))
    hm, last, _ = write_project(model, graph, tmp_path)
    result = check(hm, graph, input_codes(graph.input.type, graph.input.shape, 300, 0), last)
    assert result["mismatches"] == 0 and last == "fc2", result["first_mismatches"]


def test_a_float_model_with_a_softmax_layer_is_exact_in_c_simulation(tmp_path):
    """A plain Keras model (float layers at a --precision) ending in a Keras `Softmax`
    layer: hls4ml 1.3's C simulation of a `Softmax` layer did not compile (its call names
    `softmax_config<N>`, its parameters `Softmax_config<N>`), a float layer's weight and
    accumulator types were dropped (its precision's rounding, a second op of the same
    layer, replaced them; hls4ml's default weight type then differed on 299 of 300
    vectors), and a layer's own relu typed the layer's output. The copy hls4ml converts
    has an Activation('softmax'), each layer keeps every type its ops set, and its own
    relu's type goes to hls4ml's `<layer>_relu`."""
    import numpy as np
    import tensorflow as tf

    from hwgen.export.hls import hls_model
    from hwgen.frontends.loader import load
    from hwgen.frontends.qkeras import to_ir
    from hwgen.options import FrontendOptions
    L = tf.keras.layers
    model = tf.keras.Sequential([L.InputLayer((6,)), L.Dense(5, activation="relu", name="fc1"),
                                 L.Dense(4, name="fc2"), L.ReLU(name="relu2"),
                                 L.Dense(3, name="fc3"), L.Softmax(name="probabilities")])
    rng = np.random.default_rng(2)
    model.set_weights([rng.normal(scale=0.7, size=w.shape) for w in model.get_weights()])
    assert hls_model(model).layers[-1].__class__.__name__ == "Activation"
    graph = DEFAULT.run(to_ir(load(model), FrontendOptions.from_strings(
        "fixed<8,3>", ["fixed<12,4>"])))
    prec, _, _ = precisions(graph)
    assert {"weight", "bias", "accum", "result"} <= set(prec["fc2"]), prec["fc2"]
    assert "fc1_relu" in prec          # the layer's own relu: a layer of its own in hls4ml
    hm, last, _ = write_project(model, graph, tmp_path)
    result = check(hm, graph, input_codes(graph.input.type, graph.input.shape, 300, 0), last)
    assert result["mismatches"] == 0 and last == "fc3", result["first_mismatches"]


def test_ulaw_kernels_reach_hls4ml_as_their_quantized_values(tmp_path):
    """hls4ml would run quantized_ulaw on the kernels in its own float type; hwgen hands it
    a plain quantizer on the values the model computes, and the C simulation is exact up
    to the first layer ap_fixed cannot follow (here the float32 rounding of a wide sum)."""
    from hwgen.export.hls import hls_model
    from hwgen.frontends.loader import load
    from hwgen.frontends.qkeras import to_ir
    from hwgen.options import FrontendOptions
    def kernel_quantizers(m):
        return {lc["config"]["name"]: lc["config"]["kernel_quantizer"]["class_name"]
                for lc in json.loads(m.to_json())["config"]["layers"]
                if lc["config"].get("kernel_quantizer")}
    model = _scaled_model("quantized_ulaw(4,0,1)", False)
    assert kernel_quantizers(model) == {"fc1": "quantized_ulaw", "fc2": "quantized_ulaw"}
    assert kernel_quantizers(hls_model(model)) == {"fc1": "quantized_bits",
                                                   "fc2": "quantized_bits"}
    graph = DEFAULT.run(to_ir(load(model), FrontendOptions.from_strings("fixed<6,3>")))
    hm, last, reason = write_project(model, graph, tmp_path)
    codes = input_codes(graph.input.type, graph.input.shape, 500, 0)
    result = check(hm, graph, codes, last)
    assert result["mismatches"] == 0 and last == "fc1", result["first_mismatches"]
    assert "float32" in reason


@pytest.mark.parametrize("act,inline", [("quantized_relu_po2(4,2)", False),
                                        ("quantized_ulaw(6,1)", False),
                                        ("quantized_po2(4)", True)])
def test_activations_hls4ml_cannot_convert_are_a_clear_error(act, inline, tmp_path):
    """hls4ml's QKeras converter takes a few activation quantizers (a QActivation's or a
    layer's own) and raises from deep inside on the others; hwgen names the layer first."""
    import tensorflow as tf
    from qkeras import QActivation, QDense

    from hwgen.errors import HwgenError
    from hwgen.frontends.loader import load
    from hwgen.frontends.qkeras import to_ir
    from hwgen.options import FrontendOptions
    from ..model_factory import quantizer
    inp = tf.keras.Input((4,), name="x")
    h = QDense(3, kernel_quantizer=quantizer("quantized_bits(4,0,1)"),
               bias_quantizer=quantizer("quantized_bits(4,0,1)"), name="d0",
               activation=quantizer(act) if inline else None)(inp)
    if not inline:
        h = QActivation(quantizer(act), name="a0")(h)
    model = tf.keras.Model(inp, h)
    graph = DEFAULT.run(to_ir(load(model), FrontendOptions.from_strings("fixed<6,3>")))
    layer = "d0" if inline else "a0"
    with pytest.raises(HwgenError, match=rf"layer '{layer}': hls4ml's QKeras converter does not "
                       r"take the activation .*\(it takes quantized_relu, .*hwgen's own RTL"):
        write_project(model, graph, tmp_path)
    assert not (tmp_path / "firmware").exists()


def test_a_dense_on_a_sequence_is_refused_for_hls4ml(tmp_path):
    """hwgen takes a Dense on a sequence as Keras does, at every position (a 1x1
    convolution, tests/test_conv.py); hls4ml 1.3's C simulation of such a model differed
    from Keras on every vector, so the hls4ml path names the layer and the way round it
    before writing anything."""
    import tensorflow as tf
    from qkeras import QDense

    from hwgen.errors import HwgenError
    from hwgen.frontends.loader import load
    from hwgen.frontends.qkeras import to_ir
    from hwgen.options import FrontendOptions
    from ..model_factory import quantizer
    q = quantizer("quantized_bits(4,0,1)")
    model = tf.keras.Sequential([tf.keras.layers.InputLayer((5, 3)),
                                 QDense(2, kernel_quantizer=q, bias_quantizer=q, name="steps")])
    graph = DEFAULT.run(to_ir(load(model), FrontendOptions.from_strings("fixed<6,3>")))
    with pytest.raises(HwgenError, match=r"layer 'steps': a Dense on a sequence.*kernel size "
                       r"1; hwgen's own RTL"):
        write_project(model, graph, tmp_path)
    assert not (tmp_path / "firmware").exists()


def _batchnorm_folded_model(depth_multiplier: int):
    """QConv2DBatchnorm then QDepthwiseConv2DBatchnorm (of `depth_multiplier`), random
    weights and batch-norm statistics."""
    import numpy as np
    import tensorflow as tf
    from qkeras import QActivation, QConv2DBatchnorm, QDense, QDepthwiseConv2DBatchnorm
    from ..model_factory import quantizer
    L, rng = tf.keras.layers, np.random.default_rng(4)
    model = tf.keras.Sequential([
        L.InputLayer((6, 5, 2)), QActivation(quantizer("quantized_bits(6,2,1)")),
        QConv2DBatchnorm(3, 3, kernel_quantizer=quantizer("quantized_bits(5,0,alpha=1)"),
                         bias_quantizer=quantizer("quantized_bits(8,3,alpha=1)"), name="conv_bn"),
        QActivation(quantizer("quantized_relu(5,2)")),
        QDepthwiseConv2DBatchnorm(2, depth_multiplier=depth_multiplier,
                                  depthwise_quantizer=quantizer("quantized_bits(4,1,alpha=1)"),
                                  bias_quantizer=quantizer("quantized_bits(8,3,alpha=1)"),
                                  name="dw_bn"),
        QActivation(quantizer("quantized_bits(6,3)")), L.Flatten(),
        QDense(2, kernel_quantizer=quantizer("quantized_bits(4,0,alpha=1)"),
               bias_quantizer=quantizer("quantized_bits(4,0,alpha=1)"), name="out")])
    model.set_weights([np.abs(rng.normal(1, 0.4, w.shape)) + 0.05 if "variance" in v.name
                       else rng.normal(0, 0.7, w.shape) for w, v in
                       zip(model.get_weights(), model.weights)])
    return model


@pytest.mark.slow      # an hls4ml C build; the hls4ml path itself runs in the tests above
def test_batchnorm_folded_convolutions_are_bit_exact_in_c_simulation(tmp_path):
    """hls4ml 1.3 folds a QConv2DBatchnorm itself (exact, measured) but has no converter
    for QDepthwiseConv2DBatchnorm: that one reaches it as its plain depthwise convolution
    with the folded, quantized kernel and bias, as hwgen's reference computes them."""
    from hwgen.frontends.loader import load
    from hwgen.frontends.qkeras import to_ir
    from hwgen.options import FrontendOptions
    model = _batchnorm_folded_model(1)
    graph = DEFAULT.run(to_ir(load(model), FrontendOptions()))
    hm, last, _ = write_project(model, graph, tmp_path)
    kinds = {n.name: n.class_name for n in hm.get_layers()}
    assert kinds["conv_bn"] == "Conv2DBatchnorm" and kinds["dw_bn"] == "DepthwiseConv2D"
    codes = input_codes(graph.input.type, graph.input.shape, 300, 0)
    result = check(hm, graph, codes, last)
    assert result["mismatches"] == 0 and last == "out", result["first_mismatches"]


def test_a_depth_multiplier_hls4ml_cannot_compute_is_refused(tmp_path):
    """hls4ml 1.3's depthwise kernels assert a depth multiplier of 1: its C simulation
    would stop the whole process. The hls4ml path names the layer before writing."""
    from hwgen.errors import HwgenError
    from hwgen.frontends.loader import load
    from hwgen.frontends.qkeras import to_ir
    from hwgen.options import FrontendOptions
    model = _batchnorm_folded_model(2)
    graph = DEFAULT.run(to_ir(load(model), FrontendOptions()))
    with pytest.raises(HwgenError, match=r"layer 'dw_bn': depth_multiplier=2; hls4ml 1.3"):
        write_project(model, graph, tmp_path)
    assert not (tmp_path / "firmware").exists()


def _compile_and_check(model, input_format, tmp_path, io="parallel", n=300):
    from hwgen.frontends.loader import load
    from hwgen.frontends.qkeras import to_ir
    from hwgen.options import FrontendOptions
    graph = DEFAULT.run(to_ir(load(model), FrontendOptions.from_strings(input_format)))
    hm, last, reason = write_project(model, graph, tmp_path, io=io)
    codes = input_codes(graph.input.type, graph.input.shape, n, 0)
    return check(hm, graph, codes, last), last, reason


def test_the_layer_before_its_own_step_activation_is_compared_exactly(tmp_path):
    """Found by random models through the hls4ml path: a layer without a bias (a crash
    typing it), a bias whose plain copy had negative integer bits (QKeras's 2**integer
    crashed in TensorFlow inside hls4ml), po2 kernels (hls4ml shifts them inside a type
    too narrow for a deep right shift: 298 of 300 vectors off), and a layer whose own
    activation stops the comparison (its output was compared with the activation's, not
    the layer's: 300 of 300). All are now exact up to the activation."""
    import numpy as np
    import tensorflow as tf
    from qkeras import QDense

    from ..model_factory import quantizer
    inp = tf.keras.Input((5,), name="x")
    h = QDense(4, kernel_quantizer=quantizer("quantized_po2(5)"), use_bias=False,
               name="d0")(inp)
    h = QDense(3, kernel_quantizer=quantizer("quantized_bits(4,0)"),
               bias_quantizer=quantizer("quantized_bits(4,0,keep_negative=False)"),
               activation=quantizer("binary()"), name="d1")(h)
    model = tf.keras.Model(inp, h, name="own_step")
    rng = np.random.default_rng(5)
    model.get_layer("d0").set_weights([rng.choice([2.0 ** -12, -2.0 ** -9, 0.5],
                                                  size=(5, 4))])
    model.get_layer("d1").set_weights([rng.normal(size=(4, 3)),
                                       np.array([1 / 16, 0.0, 1 / 8])])
    result, last, reason = _compile_and_check(model, "fixed<12,5>", tmp_path)
    assert last == "d1" and "d1" in reason, (last, reason)
    assert result["mismatches"] == 0, result["first_mismatches"]


def test_separable_convolutions_and_noise_layers_are_exact_in_c_simulation(tmp_path):
    """hls4ml splits a separable convolution into `<layer>_depthwise` and
    `<layer>_pointwise`: the depthwise half takes hwgen's depthwise types, and the check
    reads the pointwise half's output (a KeyError before). A layer that computes nothing
    at inference (GaussianNoise, SpatialDropout1D), which hls4ml 1.3 has no converter for
    (it raised 'Unsupported layer type'), reaches it as a Dropout it leaves out."""
    import numpy as np
    import tensorflow as tf
    from qkeras import QActivation, QDense, QSeparableConv1D

    from ..model_factory import quantizer
    L = tf.keras.layers
    inp = tf.keras.Input((8, 2), name="seq")
    h = L.GaussianNoise(0.1, name="noise")(inp)
    h = QSeparableConv1D(3, 3, padding="valid", name="sep",
                         depthwise_quantizer=quantizer("quantized_bits(4,1)"),
                         pointwise_quantizer=quantizer("quantized_bits(5,0)"),
                         bias_quantizer=quantizer("quantized_bits(6,2)"))(h)
    h = L.SpatialDropout1D(0.2, name="drop")(h)
    h = QActivation(quantizer("quantized_relu(6,2)"), name="relu")(h)
    h = L.Flatten(name="flat")(h)
    h = QDense(2, kernel_quantizer=quantizer("quantized_bits(4,0)"),
               bias_quantizer=quantizer("quantized_bits(4,0)"), name="out")(h)
    model = tf.keras.Model(inp, h, name="separable")
    rng = np.random.default_rng(6)
    model.set_weights([rng.normal(size=w.shape) for w in model.get_weights()])
    result, last, _ = _compile_and_check(model, "fixed<6,3>", tmp_path)
    assert last == "out" and result["mismatches"] == 0, result["first_mismatches"]


def test_an_assertion_in_hls4ml_csim_is_a_clear_error_not_the_end_of_python(tmp_path):
    """hls4ml's C simulation is a library loaded into the process: an `assert` in its C++
    (a padded 1-D pooling in io_stream) ended the whole Python process. The trace runs in
    a child process; its death is one error that quotes the assertion and the log."""
    import tensorflow as tf
    from qkeras import QActivation, QConv1D

    from hwgen.errors import HwgenError
    from ..model_factory import quantizer
    L = tf.keras.layers
    inp = tf.keras.Input((7, 2), name="seq")
    h = L.MaxPooling1D(2, padding="same", name="pool")(inp)
    h = QConv1D(2, 2, kernel_quantizer=quantizer("quantized_bits(4,1)"),
                bias_quantizer=quantizer("quantized_bits(4,1)"), name="conv")(h)
    h = QActivation(quantizer("quantized_relu(4,2)"), name="relu")(h)
    model = tf.keras.Model(inp, h, name="padded_pool")
    with pytest.raises(HwgenError) as err:
        _compile_and_check(model, "fixed<6,3>", tmp_path, io="stream", n=20)
    text = str(err.value)
    assert "hls4ml's C simulation (SIGABRT)" in text and "Assertion" in text, text
    assert "csim.log" in text and (tmp_path / "csim.log").is_file()


def test_layers_hls4ml_has_no_converter_for_are_named_or_made_plain():
    """hls4ml 1.3 raises a bare 'Unsupported layer type' for QKeras's average poolings,
    and computes grouped, dilated and strided causal convolutions otherwise than Keras:
    the first is converted as its Keras layer where it has no quantizer, else refused by
    name; the others are refused."""
    import tensorflow as tf
    from qkeras import QConv1D, QConv2D, QGlobalAveragePooling2D

    from hwgen.errors import HwgenError
    from hwgen.export.hls import hls_model
    from hwgen.frontends.loader import load
    from hwgen.frontends.qkeras import to_ir
    from hwgen.options import FrontendOptions
    from ..model_factory import quantizer

    def model(groups=1, average_quantizer=None, dilation=1):
        inp = tf.keras.Input((4, 4, 2), name="img")
        h = QConv2D(2, 2, groups=groups, dilation_rate=dilation, name="conv",
                    kernel_quantizer=quantizer("quantized_bits(4,1)"),
                    bias_quantizer=quantizer("quantized_bits(4,1)"))(inp)
        h = QGlobalAveragePooling2D(average_quantizer=average_quantizer, name="gap")(h)
        return tf.keras.Model(inp, h)

    def causal(strides):
        inp = tf.keras.Input((8, 2), name="seq")
        h = QConv1D(2, 2, strides=strides, padding="causal", name="conv",
                    kernel_quantizer=quantizer("quantized_bits(4,1)"),
                    bias_quantizer=quantizer("quantized_bits(4,1)"))(inp)
        return tf.keras.Model(inp, h)

    assert type(hls_model(model()).get_layer("gap")).__name__ == "GlobalAveragePooling2D"
    for m, match in ((model(groups=2), r"layer 'conv': a grouped convolution \(groups=2\)"),
                     (model(dilation=2), r"layer 'conv': dilation_rate=\(2, 2\)"),
                     (causal(2), r"layer 'conv': causal padding with strides=\(2,\)"),
                     (model(average_quantizer="quantized_bits(8,0)"),
                      "layer 'gap': hls4ml 1.3 has no converter for QGlobalAveragePooling2D "
                      "with an average_quantizer")):
        graph = DEFAULT.run(to_ir(load(m), FrontendOptions.from_strings("fixed<6,3>")))
        with pytest.raises(HwgenError, match=match):
            write_project(m, graph, "/nonexistent/never-written")


def test_merges_of_three_tensors_reach_hls4ml_as_exact_chains_of_two(tmp_path):
    """hls4ml merges two tensors at a time (its converter refused more, so hwgen refused
    such models): an Add, Multiply, Maximum or Concatenate of three now reaches it as two
    two-input ones, the first typed wide enough for its partial result, and the C
    simulation equals the reference up to the dense layer after them."""
    import numpy as np
    import tensorflow as tf
    from qkeras import QActivation, QDense

    from hwgen.export.hls import hls_model
    from ..model_factory import quantizer
    L = tf.keras.layers
    inp = tf.keras.Input((5,), name="x")
    heads = []
    for k, act in enumerate(("quantized_relu(4,2)", "quantized_bits(5,2)",
                             "quantized_bits(4,1)")):
        h = QDense(4, kernel_quantizer=quantizer("quantized_bits(4,1)"),
                   bias_quantizer=quantizer("quantized_bits(4,1)"), name=f"d{k}")(inp)
        heads.append(QActivation(quantizer(act), name=f"a{k}")(h))
    merged = [L.Add(name="add")(heads), L.Maximum(name="max")(heads),
              L.Multiply(name="mul")(heads)]
    h = L.Concatenate(name="cat")(merged)
    h = QDense(3, kernel_quantizer=quantizer("quantized_bits(4,1)"),
               bias_quantizer=quantizer("quantized_bits(4,1)"), name="out")(h)
    model = tf.keras.Model(inp, h, name="merges")
    rng = np.random.default_rng(7)
    model.set_weights([rng.normal(size=w.shape) for w in model.get_weights()])
    names = [layer.name for layer in hls_model(model).layers]
    assert {"add_chain1", "max_chain1", "mul_chain1", "cat_chain1"} <= set(names)
    result, last, reason = _compile_and_check(model, "fixed<6,3>", tmp_path)
    assert last == "out" and reason is None, (last, reason)
    assert result["mismatches"] == 0, result["first_mismatches"]
