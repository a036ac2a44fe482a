"""Loading paths (object, .h5, .keras, .json + weights), pruning wrappers, the IR tables."""
import subprocess
import sys

import numpy as np
import pytest

import hwgen
from hwgen.ir import interp
from hwgen.ir.text import dump, table
from hwgen.options import FrontendOptions
from hwgen.verify import verify_model

from .model_factory import quantizer


def _tagger(prune=False):
    import tensorflow as tf
    from qkeras import QActivation, QDense
    layers = [tf.keras.layers.InputLayer((6,), name="x"),
              QDense(8, kernel_quantizer=quantizer("quantized_bits(6,0,alpha=1)"),
                     bias_quantizer=quantizer("quantized_bits(6,0,alpha=1)"), name="fc1"),
              QActivation(quantizer("quantized_relu(6,0)"), name="relu1"),
              tf.keras.layers.Dropout(0.1, name="drop"),
              QDense(3, kernel_quantizer=quantizer("quantized_bits(6,0,alpha=1)"),
                     bias_quantizer=quantizer("quantized_bits(6,0,alpha=1)"), name="out"),
              tf.keras.layers.Activation("softmax", name="sm")]
    model = tf.keras.Sequential(layers, name="tiny")
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32)
                       for w in model.get_weights()])
    return model


@pytest.mark.parametrize("fmt", ["h5", "keras", "json", "savedmodel"])
def test_file_formats_load_the_same_model(tmp_path, fmt):
    """Every way Keras saves a model: .h5, .keras, an architecture .json with its weights,
    and a SavedModel folder (what TF 2.15's model.save('folder') writes)."""
    model = _tagger()
    if fmt == "json":
        (tmp_path / "tiny.json").write_text(model.to_json())
        model.save_weights(str(tmp_path / "elsewhere.h5"))
        loaded, graph = hwgen.compile_model(str(tmp_path / "tiny.json"),
                                            weights=str(tmp_path / "elsewhere.h5"))
    elif fmt == "savedmodel":
        model.save(str(tmp_path / "tiny"))
        loaded, graph = hwgen.compile_model(str(tmp_path / "tiny"))
        assert loaded.name == "tiny"
    else:
        model.save(str(tmp_path / f"tiny.{fmt}"))
        loaded, graph = hwgen.compile_model(str(tmp_path / f"tiny.{fmt}"))
    _, direct = hwgen.compile_model(model)
    codes = np.random.default_rng(1).integers(-2**15, 2**15, size=(200, 6))
    assert np.array_equal(interp.run(graph, codes), interp.run(direct, codes))
    assert verify_model(loaded, graph, n=500).mismatches == 0


def test_pruning_wrappers_are_stripped_and_zeros_stay_zero():
    import tensorflow_model_optimization as tfmot
    model = _tagger()
    wrapped = tfmot.sparsity.keras.prune_low_magnitude(
        model, pruning_schedule=tfmot.sparsity.keras.ConstantSparsity(0.75, 0, frequency=1))
    wrapped.compile("sgd", "mse")
    x = np.random.default_rng(0).normal(size=(64, 6)).astype(np.float32)
    wrapped.fit(x, np.zeros((64, 3)), epochs=2, verbose=0,
                callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
    assert any(type(layer).__name__ == "PruneLowMagnitude" for layer in wrapped.layers)
    loaded, graph = hwgen.compile_model(wrapped)
    fc1 = graph.node("fc1")
    assert fc1.nonzero <= 0.25 * fc1.weights.size + 1
    assert verify_model(loaded, graph, n=500).mismatches == 0


def test_input_quantizer_sets_the_input_grid():
    import tensorflow as tf
    from qkeras import QActivation, QDense
    model = tf.keras.Sequential([
        tf.keras.layers.InputLayer((5,)),
        QActivation(quantizer("quantized_bits(8,2)"), name="in_q"),
        QDense(2, kernel_quantizer=quantizer("quantized_bits(4,0)"), use_bias=False,
               name="fc")])
    loaded, graph = hwgen.compile_model(model)
    assert str(graph.input.type) == "fixed<8,3>"
    assert verify_model(loaded, graph, n=300).mismatches == 0
    _, forced = hwgen.compile_model(model, FrontendOptions.from_strings("fixed<12,4>"))
    assert str(forced.input.type) == "fixed<12,4>"


def test_batchnorm_before_quantizer_is_one_step_function():
    import tensorflow as tf
    from qkeras import QActivation, QDense
    model = tf.keras.Sequential([
        tf.keras.layers.InputLayer((5,)),
        QDense(4, kernel_quantizer=quantizer("quantized_bits(6,0)"), use_bias=False, name="fc"),
        tf.keras.layers.BatchNormalization(name="bn"),
        QActivation(quantizer("quantized_relu(4,1)"), name="act")])
    rng = np.random.default_rng(5)
    model.get_layer("bn").set_weights([np.array([1.5, -0.7, 0.3, 2.0], np.float32),
                                       rng.normal(size=4).astype(np.float32),
                                       rng.normal(size=4).astype(np.float32),
                                       rng.uniform(0.5, 2, 4).astype(np.float32)])
    model.get_layer("fc").set_weights([rng.normal(0, 0.5, (5, 4)).astype(np.float32)])
    loaded, graph = hwgen.compile_model(model, FrontendOptions.from_strings("fixed<8,3>"))
    step = graph.output
    assert step.op == "step" and step.layer == "bn+act" and step.thresholds.shape[0] == 4
    assert verify_model(loaded, graph, n=2000).mismatches == 0


def test_inspect_table_and_dump():
    _, graph = hwgen.compile_model(_tagger())
    text = table(graph)
    assert "fc1" in text and "MACs" in text and "sparsity" in text
    assert "softmax at the output is not in the datapath" in text
    assert "(logits)" in text
    assert "%fc1 = dense(%input)" in dump(graph)


def _run(*a):
    return subprocess.run([sys.executable, "-m", "hwgen.cli", *a], capture_output=True,
                          text=True, timeout=600)


def test_cli_list_inspect_and_verify():
    listed = _run("list")
    assert listed.returncode == 0 and "digits_mlp_pruned" in listed.stdout
    inspected = _run("inspect", "digits_mlp_pruned")
    assert inspected.returncode == 0 and "ufixed<5,1>" in inspected.stdout
    verified = _run("verify-model", "jet_tagger", "--n", "200", "--seed", "4")
    assert verified.returncode == 0 and "200 vectors, 0 mismatches" in verified.stdout


# A whole flow runs twice in the default suite (test_power's
# test_flow_writes_the_same_report_twice, ecp5); this one places a folded design on iCE40.
@pytest.mark.slow
def test_cli_folded_flow_on_ice40(tmp_path):
    run = _run
    out1, out2 = tmp_path / "a", tmp_path / "b"
    # folded to fit the UP5K (fully parallel it needs twice its logic cells)
    flow = run("flow", "digits_mlp_pruned", "--n", "300", "--target", "ice40",
               "--reuse", "128", "-o", str(out1))
    assert flow.returncode == 0, flow.stderr
    assert "300 vectors, 0 mismatches" in flow.stdout
    assert "[7/7] report" in flow.stdout
    assert "MHz on iCE40UP5K" in flow.stdout       # placed and routed: an Fmax
    # Elsewhere, the same model and options give the same bytes (report.md and the plots
    # again: test_power's test_flow_writes_the_same_report_twice).
    built = run("build", "digits_mlp_pruned", "--reuse", "128", "--target", "ice40",
                "-o", str(out2))
    assert built.returncode == 0, built.stderr
    dumps = sorted(p.name for p in (out2 / "passes").iterdir())
    assert dumps and dumps == sorted(p.name for p in (out1 / "passes").iterdir())
    for name in ["manifest.json", "rtl/hwgen_digits_mlp_pruned.v"] + [f"passes/{d}"
                                                                     for d in dumps]:
        assert (out1 / name).read_bytes() == (out2 / name).read_bytes(), name
    for name in ("ir.txt", "report.json", "report.md"):
        assert str(tmp_path) not in (out1 / name).read_text(), name


def test_flatten_and_reshape_keep_codes():
    import tensorflow as tf
    from qkeras import QDense
    model = tf.keras.Sequential([
        tf.keras.layers.InputLayer((2, 3), name="grid"),
        tf.keras.layers.Flatten(name="flat"),
        tf.keras.layers.Reshape((3, 2), name="shape32"),
        tf.keras.layers.Reshape((6,), name="shape6"),
        QDense(2, kernel_quantizer=quantizer("quantized_bits(5,1)"), use_bias=False,
               name="fc")])
    loaded, graph = hwgen.compile_model(model, FrontendOptions.from_strings("fixed<8,4>"))
    assert [n.op for n in graph.nodes] == ["input", "reshape", "reshape", "reshape", "dense"]
    assert graph.node("shape32").shape == (3, 2)
    assert verify_model(loaded, graph, n=300).mismatches == 0


def test_verify_reports_mismatches_and_cli_exits_1(monkeypatch, capsys):
    """The check can fail: a graph with one altered weight disagrees with QKeras."""
    from hwgen import cli
    from hwgen.frontends import qkeras as frontend
    real = frontend.to_ir

    def tampered(loaded, options=None):
        import dataclasses
        graph = real(loaded, options)
        k = next(i for i, n in enumerate(graph.nodes) if n.op == "dense")
        weights = graph.nodes[k].weights.copy()
        weights[0, 0] += 1
        graph.nodes[k] = dataclasses.replace(graph.nodes[k], weights=weights)
        return graph
    monkeypatch.setattr(frontend, "to_ir", tampered)
    assert cli.main(["verify-model", "digits_mlp", "--n", "500"]) == 1
    out = capsys.readouterr().out
    assert "500 vectors, " in out and " 0 mismatches" not in out
    assert "vector " in out and "QKeras" in out and "reference" in out


def test_relu_layer_is_the_exact_relu_op():
    """Keras's ReLU layer with no options is Activation('relu'): exact against QKeras."""
    import tensorflow as tf
    from qkeras import QActivation, QConv2D, QDense
    tf.keras.utils.set_random_seed(3)
    inp = tf.keras.Input((6, 6, 1), name="image")
    x = QConv2D(3, 3, kernel_quantizer=quantizer("quantized_bits(4,0,alpha=1)"),
                bias_quantizer=quantizer("quantized_bits(4,0,alpha=1)"), name="conv")(inp)
    x = tf.keras.layers.ReLU(name="relu")(x)
    x = QActivation(quantizer("quantized_bits(8,3)"), name="q")(x)
    x = tf.keras.layers.Flatten(name="flat")(x)
    x = QDense(4, kernel_quantizer=quantizer("quantized_bits(4,0,alpha=1)"), use_bias=False,
               name="out")(x)
    model = tf.keras.Model(inp, x)
    loaded, graph = hwgen.compile_model(model, FrontendOptions.from_strings("fixed<6,3>"))
    assert [n.op for n in graph.nodes if n.layer == "relu"] == ["relu"]
    assert graph.exact
    assert verify_model(loaded, graph, n=400, seed=3).mismatches == 0


@pytest.mark.parametrize("layer,fn", [
    ("ReLU(max_value=6.0)", lambda v: np.clip(v, 0, 6)),
    # Keras passes x only above the threshold: at it, 0 (x * (x > threshold))
    ("ReLU(negative_slope=0.25, threshold=0.5)", lambda v: np.where(v > 0.5, v, 0.25 * (v - 0.5))),
    ("LeakyReLU(alpha=0.1)", lambda v: np.where(v >= 0, v, 0.1 * v)),
    ("ELU(alpha=0.5)", lambda v: np.where(v > 0, v, 0.5 * np.expm1(v)))])
def test_activation_layers_take_the_precision(layer, fn):
    """Any other ReLU, LeakyReLU and ELU: the function at the layer's precision, on every
    input code; without a precision a clear error."""
    import tensorflow as tf
    inp = tf.keras.Input((1,), name="x")
    model = tf.keras.Model(inp, eval("tf.keras.layers." + layer)(inp))
    hw = hwgen.convert(model, input_format="fixed<8,4>",
                       precision="fixed<10,4,RND_CONV,SAT>", log=None)
    x = np.arange(-128, 128).reshape(-1, 1) / 16.0          # every input code
    want = np.clip(np.round(fn(x) * 64), -512, 511) / 64
    assert (hw.predict(x) == want).all()
    with pytest.raises(hwgen.HwgenError, match="not supported without a precision"):
        hwgen.convert(model, input_format="fixed<8,4>", log=None)


def test_a_quantizer_that_is_not_monotonic_is_tabulated_at_every_code(tmp_path):
    """quantized_hswish (x * relu6(x + 3) / 6, quantized) dips below zero: its step
    function is found at every input code, also on a 20-bit sum (where a monotonic one
    is sampled and bisected), alone, inline and after a batch norm. Exact against the
    twin and the untouched model, and in Verilator; an input too wide to evaluate code by
    code gets a clear error."""
    import tensorflow as tf
    from qkeras import QActivation, QDense

    from hwgen.errors import UnsupportedError
    from hwgen.flow import build_rtl
    from hwgen.frontends.loader import load
    from hwgen.frontends.qkeras import to_ir
    from hwgen.ops import StepFunction
    from hwgen.options import HardwareOptions
    from hwgen.sim.runner import cosim
    from hwgen.sim.vectors import input_codes
    from hwgen.verify import untouched_mismatches
    L = tf.keras.layers

    def model(kernel, act="quantized_hswish(6,2)"):
        m = tf.keras.Sequential([
            L.InputLayer((5,)), QActivation(quantizer("quantized_bits(8,3,1)")),
            QDense(6, kernel_quantizer=quantizer(kernel), activation=quantizer(act),
                   bias_quantizer=quantizer("quantized_bits(4,0,alpha=1)"), name="wide"),
            QDense(3, kernel_quantizer=quantizer("quantized_bits(4,0,alpha=1)"),
                   bias_quantizer=quantizer("quantized_bits(4,0,alpha=1)")),
            L.BatchNormalization(name="bn"),
            QActivation(quantizer("quantized_hswish(8,3,relu_shift=2,relu_upper_bound=4)"))])
        rng = np.random.default_rng(0)
        m.set_weights([np.abs(rng.normal(1, 0.8, w.shape)) if "variance" in v.name
                       else rng.normal(0, 0.8, w.shape)
                       for w, v in zip(m.get_weights(), m.weights)])
        return m

    loaded = load(model("quantized_bits(12,2,alpha=1)"))
    graph = to_ir(loaded, FrontendOptions())
    assert graph.node("wide").type.width >= 20          # sampled if it were monotonic
    steps = [n for n in graph.nodes if isinstance(n, StepFunction)]
    assert len(steps) == 2 and all(np.any(np.diff(n.levels[0]) < 0) for n in steps)
    assert verify_model(loaded, graph, n=2000, seed=1).mismatches == 0
    codes = input_codes(graph.input.type, graph.input.shape, 2000, 1)
    assert untouched_mismatches(loaded, graph, codes) == []
    _, rtl = build_rtl(graph, tmp_path, HardwareOptions())
    r = cosim(graph, rtl.data, tmp_path / "rtl", tmp_path / "sim", 300, 1, log=lambda s: None)
    assert r["mismatches"] == 0, r["first_mismatches"][:2]
    with pytest.raises(UnsupportedError, match=r"'wide'.*quantized_hswish is not monotonic, "
                       r"and its input .* has too many codes.*Quantize its input"):
        to_ir(load(model("quantized_bits(16,2,alpha=1)")), FrontendOptions())


def test_nested_models_are_opened_into_one_flat_model(tmp_path):
    """A Sequential block used as a layer of a functional model (with a skip around it),
    and that model nested again in a Sequential, with layer names the nested models
    share: hwgen reads the flat model that computes the same. Its reference equals the
    untouched nested model's own predict on the input grid (and the twin), also after an
    .h5 round trip; before, the twin failed inside Keras with a TypeError."""
    import tensorflow as tf
    from qkeras import QActivation, QDense

    from hwgen.frontends.loader import load
    from hwgen.frontends.qkeras import to_ir
    from hwgen.sim.vectors import input_codes
    from hwgen.ir.types import codes_to_float
    L = tf.keras.layers

    def q(text="quantized_bits(4,0,alpha=1)"):
        return quantizer(text)
    block = tf.keras.Sequential([L.InputLayer((6,)), QDense(6, kernel_quantizer=q(),
                                                            bias_quantizer=q(), name="dense"),
                                 QActivation(q("quantized_relu(4,2)"), name="act")],
                                name="block")
    inp = L.Input((6,), name="x")
    h = QActivation(q("quantized_bits(6,2,1)"), name="act")(inp)        # a name `block` has
    h = L.Add(name="skip")([h, block(h)])
    h = QActivation(q("quantized_bits(6,3)"), name="sum_q")(h)
    backbone = tf.keras.Model(inp, h, name="backbone")
    model = tf.keras.Sequential([L.InputLayer((6,)), backbone,
                                 QDense(3, kernel_quantizer=q(), bias_quantizer=q(),
                                        name="dense")])
    rng = np.random.default_rng(5)
    model.set_weights([rng.normal(0, 0.7, w.shape) for w in model.get_weights()])
    model.save(tmp_path / "nested.h5")
    for source in (model, str(tmp_path / "nested.h5")):
        loaded = load(source)
        graph = to_ir(loaded, FrontendOptions())
        assert verify_model(loaded, graph, n=500, seed=5).mismatches == 0
        codes = input_codes(graph.input.type, graph.input.shape, 500, 5)
        x = codes_to_float(codes, graph.input.type.frac).astype(np.float32)
        ref = codes_to_float(interp.run(graph, codes), graph.output.type.frac)
        assert np.array_equal(ref, model.predict(x, verbose=0).astype(np.float64))
    assert [n.op for n in graph.nodes].count("dense") == 2 and \
        any(n.op == "add" for n in graph.nodes)


def test_a_function_that_is_not_monotonic_is_found_at_every_code_of_a_22_bit_input():
    """Evaluated in chunks of 2**20 codes: over four chunks every level sits at its code
    (a dip and steps in the last chunk too), as the function gives it code by code."""
    from hwgen.frontends.quantizers import step_function
    from hwgen.ir import types
    t = types.FixedType(True, 22, 12)                  # 2**22 codes, 10 fraction bits

    def fn(v):                                         # a dip, then steps, near the top
        return np.where(v < 1500, np.floor(np.abs(v - 1000) / 64), 3.0)
    th, lv, out = step_function(fn, t, 1, "probe", "probe", monotonic=False)
    codes = np.arange(t.min_code, t.max_code + 1, 997, dtype=np.int64)
    got = types.codes_to_float(lv[0][np.searchsorted(th[0], codes, side="right")], out.frac)
    assert np.array_equal(got, fn(types.codes_to_float(codes, t.frac)))
