"""The Python API (`hwgen.convert` -> HardwareModel): every call, on random models and the
zoo, with the real tools behind it (Verilator, Yosys, nextpnr, hls4ml)."""
import json

import numpy as np
import pytest

import hwgen
from hwgen import HwgenError
from hwgen.verify import logits_model

from .model_factory import quantizer, random_branchy_model, random_model

pytestmark = pytest.mark.xdist_group("api")


def _grid_floats(hw, n, seed, spread=4):
    """Random floats, a third of them on the input grid and the rest off it."""
    rng = np.random.default_rng(seed)
    t = hw.input_format
    x = rng.normal(scale=spread, size=(n,) + hw.input_shape)
    on = rng.integers(t.min_code, t.max_code + 1, size=(n // 3,) + hw.input_shape)
    x[:n // 3] = on * 2.0 ** -t.frac
    return x


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_predict_equals_qkeras_on_random_models(seed, tmp_path):
    model, in_fmt, desc = random_model(seed)
    hw = hwgen.convert(model, input_format=in_fmt, out=tmp_path, log=None)
    x = _grid_floats(hw, 300, seed)
    y = hw.predict(x)
    assert y.shape == (300,) + tuple(hw.graph.output.shape), desc
    # The reference equals QKeras (its float64 twin) on every input put on the grid.
    assert np.array_equal(y, hw.keras_predict(x)), desc
    # On grid inputs, Keras's own float32 predict of the logits, where float32 is exact.
    codes = hw.to_codes(x[:100])
    from hwgen.verify import untouched_mismatches
    bad = untouched_mismatches(hw.loaded, hw.graph, codes)
    assert bad in (None, []), desc
    assert np.array_equal(hw.from_codes(hw.predict_codes(codes)), y[:100])


@pytest.mark.parametrize("q", ["quantized_bits(6,2)", "quantized_bits(8,3,symmetric=1)",
                               "quantized_relu(5,2)", "quantized_bits(4,0,keep_negative=False)"])
def test_predict_puts_floats_on_the_grid_as_the_input_quantizer_does(q, tmp_path):
    """With an input quantizer, any float input (off the grid, ties, out of range) gives
    exactly what Keras's own predict gives: hwgen rounds it as the quantizer does."""
    import tensorflow as tf
    from qkeras import QActivation, QDense
    inp = tf.keras.Input((5,), name="x")
    h = QActivation(quantizer(q), name="in_q")(inp)
    h = QDense(4, kernel_quantizer=quantizer("quantized_bits(4,1)"),
               bias_quantizer=quantizer("quantized_bits(4,1)"), name="d")(h)
    model = tf.keras.Model(inp, h)
    rng = np.random.default_rng(0)
    model.get_layer("d").set_weights([rng.normal(size=(5, 4)), rng.normal(size=4)])
    hw = hwgen.convert(model, out=tmp_path, log=None)
    assert "input quantizer" in hw.graph.input.note
    lsb = 2.0 ** -hw.input_format.frac
    x = np.concatenate([rng.normal(scale=6, size=(200, 5)),
                        (rng.integers(-40, 40, size=(100, 5)) + 0.5) * lsb])   # ties
    keras = np.asarray(model(x.astype(np.float32)), np.float64)
    assert np.array_equal(hw.predict(x), keras)


def test_several_outputs_come_back_as_a_list(tmp_path):
    for seed in range(20):
        model, in_fmt, _ = random_branchy_model(seed)
        if len(model.outputs) > 1:
            break
    hw = hwgen.convert(model, input_format=in_fmt, out=tmp_path, log=None)
    x = _grid_floats(hw, 50, 0)
    got, want = hw.predict(x), hw.keras_predict(x)
    assert isinstance(got, list) and len(got) == len(model.outputs)
    assert all(np.array_equal(a, b) for a, b in zip(got, want))


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    from sklearn.datasets import load_digits
    hw = hwgen.convert("digits_mlp", out=tmp_path_factory.mktemp("digits"), log=None)
    return hw, load_digits().data[:300] / 16.0


def test_digits_mlp_predicts_the_keras_logits_and_verifies(digits):
    hw, x = digits
    assert hw.outputs_logits and hw.exact and str(hw.input_format) == "ufixed<5,1>"
    keras = np.asarray(logits_model(hw.loaded.model)(x.astype(np.float32)), np.float64)
    assert np.array_equal(hw.predict(x), keras)
    v = hw.verify(x=x)
    assert (v.vectors, v.mismatches, v.exact) == (300, 0, True)
    assert "300 vectors, 0 mismatches" in str(v) and "mismatches" in v._repr_html_()
    assert hw.verify(n=200).mismatches == 0


def test_layers_table_and_notebook_views(digits):
    hw, _ = digits
    t = hw.layers()
    assert [r["layer"] for r in t.records] == ["input", "fc1", "relu1", "output", "total"]
    assert t.records[1]["MACs"] == "1976" and "input grid: ufixed<5,1>" in str(t)
    html = hw._repr_html_()
    assert "<table>" in html and "fc1" in html and "digits_mlp" in repr(hw)


def test_write_is_deterministic(digits, tmp_path):
    hw, _ = digits
    a = hw.write(tmp_path / "a")
    b = hw.write(tmp_path / "b")
    assert a.verilog.read_bytes() == b.verilog.read_bytes()
    assert a.manifest == json.loads(b.manifest_path.read_text())
    assert a.latency >= 1 and a.ii == 1 and a.top == "hwgen_digits_mlp"
    assert "latency" in a._repr_html_()


def test_cosim_returns_the_rtl_outputs(tmp_path):
    hw = _tiny(tmp_path, softmax=True)     # (the README's block co-simulates digits_mlp_pruned)
    x = _grid_floats(hw, 300, 0)
    c = hw.cosim(x)
    assert (c.vectors, c.mismatches) == (300, 0)
    assert np.array_equal(c.outputs, hw.predict(x))
    assert np.array_equal(c.argmax, np.argmax(hw.predict_codes(hw.to_codes(x)), axis=1))
    assert (c.folder / "outputs.npy").exists()
    r = hw.cosim(n=1000, seed=3)
    assert (r.vectors, r.mismatches, r.outputs) == (1000, 0, None)


def test_estimate_after_cosim_counts_toggles_on_the_cosimulated_build(tmp_path, monkeypatch):
    """A notebook's cosim, then estimate: the power step runs the simulator the cosim
    built (toggle counting on), not a compile of its own; with the kept simulators off,
    so that it is this folder's build that is shared."""
    monkeypatch.setenv("HWGEN_VERILATOR_CACHE", "0")
    hw = _tiny(tmp_path)
    lines = []
    hw.log = lines.append
    assert hw.cosim(_grid_floats(hw, 100, 1)).mismatches == 0
    assert sum("verilating" in line for line in lines) == 1
    lines.clear()
    e = hw.estimate(n=300)                 # the model's target: the same RTL
    assert e.energy_per_inference_nj > 0
    assert any(line.strip().startswith("using the RTL built before") for line in lines)
    assert not any("verilating" in line for line in lines), lines


def test_estimate_gives_resources_power_and_figures(tmp_path):
    import matplotlib.figure
    hw = _tiny(tmp_path)
    e = hw.estimate("xc7", n=500)
    assert e.total["LUT"] > 0 and e.target == "xc7" and e.fmax_mhz is None
    assert [r["layer"] for r in e.layers.records][:3] == ["fc1", "relu1", "fc2"]
    assert e.energy_per_inference_nj > 0 and e.latency_cycles == e.manifest["latency"]
    assert e.manifest["options"]["timed_for"] == "xc7"      # the schedule of the target
    assert isinstance(e.plot(), matplotlib.figure.Figure)
    assert isinstance(e.plot_power(), matplotlib.figure.Figure)
    assert "LUT" in e._repr_html_() and "xc7: LUT" in str(e)
    assert (hw.out / "synth" / "xc7" / "estimate.json").exists()
    # Estimating again (as a sweep point estimates, then runs the flow) takes the RTL
    # this object built, not a second build of it.
    verilog = hw.out / e.manifest["verilog"]
    stamp, lines = verilog.stat().st_mtime_ns, []
    hw.log = lines.append
    again = hw.estimate("xc7", power=False)
    assert any(line.strip().startswith("using the RTL built before") for line in lines)
    assert verilog.stat().st_mtime_ns == stamp and again.total == e.total


@pytest.mark.slow          # the ASIC export itself runs in tests/export/test_asic.py
def test_export_asic(digits):
    hw, _ = digits
    info = hw.export(asic=True)
    assert (hw.out / "export" / "asic" / "config.json").exists() and info["die_um"] > 0


def _tiny(tmp_path, softmax=False, **options):
    """A 4-3-2 QKeras MLP (with `softmax`, a classifier: the hardware's argmax too): small
    enough for every tool in seconds."""
    import tensorflow as tf
    from qkeras import QActivation, QDense
    model = tf.keras.Sequential([
        tf.keras.layers.InputLayer((4,), name="x"),
        QDense(3, kernel_quantizer=quantizer("quantized_bits(4,1)"),
               bias_quantizer=quantizer("quantized_bits(4,1)"), name="fc1"),
        QActivation(quantizer("quantized_relu(4,2)"), name="relu1"),
        QDense(2, kernel_quantizer=quantizer("quantized_bits(4,1)"),
               bias_quantizer=quantizer("quantized_bits(4,1)"), name="fc2")]
        + ([tf.keras.layers.Activation("softmax", name="softmax")] if softmax else []),
        name="tiny")
    rng = np.random.default_rng(5)
    for layer in (model.get_layer("fc1"), model.get_layer("fc2")):
        layer.set_weights([rng.normal(size=w.shape) for w in layer.get_weights()])
    options.setdefault("input_format", "fixed<6,3>")
    return hwgen.convert(model, out=tmp_path, log=None, **options)


def test_export_a_board_project_timed_for_its_family(tmp_path):
    """A vendor board (Vivado project, not built here) and an unknown board; the schedule
    is timed for the board's family, not the model's default target."""
    hw = _tiny(tmp_path)
    info = hw.export(board="arty-a7-35", vectors=16)
    folder = tmp_path / "export" / "arty-a7-35"
    assert info["folder"] == str(folder) and not info["built"]
    assert info["options"]["timed_for"] == "xc7" and (folder / "export.json").exists()
    with pytest.raises(HwgenError, match="board must be one of 'icebreaker'"):
        hw.export(board="nexys")


# slow: `hwgen flow` calls HardwareModel.report; tests/estimate/test_power.py's
# test_flow_runs_every_step_into_a_report runs that whole path by default
@pytest.mark.slow
def test_report_runs_the_whole_flow(tmp_path):
    import matplotlib.figure
    hw = _tiny(tmp_path, target="ice40")
    r = hw.report(n=500)
    assert not r.failed and r.data["target"] == "ice40"
    assert (tmp_path / "report.json").exists() and (tmp_path / "report.md").exists()
    assert r.data["pnr"]["fits"] and r.data["pnr"]["fmax_mhz"] > 0
    assert "## " in r.markdown and "report of tiny" in r._repr_html_()
    assert all(isinstance(f, matplotlib.figure.Figure) for f in r.figures())


# slow: `hwgen hls` calls HardwareModel.hls; tests/export/test_hls.py's
# test_hls4ml_csim_is_bit_exact_with_the_reference runs that path by default
@pytest.mark.slow
def test_hls_c_simulation_is_bit_exact(tmp_path):
    hw = _tiny(tmp_path)
    result = hw.hls(n=500)
    assert result["mismatches"] == 0 and result["vectors"] == 500
    assert (tmp_path / "hls4ml" / "hwgen_check.json").exists()


def test_per_layer_reuse_reaches_the_hardware(tmp_path):
    hw = _tiny(tmp_path, reuse={"fc1": 2})
    m = hw.write().manifest
    assert m["options"]["layer_reuse"] == {"fc1": 2} and m["ii"] > 1


def test_split_outputs_reaches_the_hardware(tmp_path):
    """fc1's outputs have 4 weights: at reuse 2 they are split over lanes, so the layer
    takes 2 cycles, not 4; the flag is in the manifest's options."""
    plain = _tiny(tmp_path / "plain", reuse={"fc1": 2}).write().manifest
    split = _tiny(tmp_path / "split", reuse={"fc1": 2}, split_outputs=True).write().manifest
    assert split["options"]["split_outputs"] is True and "split_outputs" not in \
        plain["options"]
    assert split["ii"] < plain["ii"]
    assert [r.get("segments") for r in split["layers"] if r.get("lanes")] != [None]


def test_per_layer_precision_of_a_float_model(shared_models, tmp_path):
    hw = hwgen.convert(str(shared_models / "KERAS_3layer.json"), out=tmp_path, log=None,
                       precision={"*": "fixed<16,6>", "fc1_relu": "fixed<10,4>"})
    formats = {n.layer: str(n.type) for n in hw.graph.nodes}
    assert formats["fc1_relu"].endswith("<9,3>") and formats["fc2_relu"].endswith("<15,5>")
    assert not hw.exact


def test_profile_shows_overflow_and_unused_bits(tmp_path):
    """A float layer whose values reach 100 against fixed<8,3> (at most 3.97) overflows;
    the profile says so, with the integer bits it needs."""
    import matplotlib.figure
    import tensorflow as tf
    model = tf.keras.Sequential([tf.keras.layers.InputLayer((2,), name="x"),
                                 tf.keras.layers.Dense(2, name="fc")], name="float2")
    model.get_layer("fc").set_weights([np.array([[100.0, 0.5], [0.0, 0.25]]), np.zeros(2)])
    hw = hwgen.convert(model, precision="fixed<8,3>", out=tmp_path, log=None)
    x = np.array([[1.0, 0.0], [0.5, 1.0], [-1.0, 0.0], [0.0, 0.0]])
    p = hw.profile(x)
    out = next(e for e in p.entries if e.layer == "fc" and e.kind == "output")
    assert out.values.max() == 100.0 and out.int_bits_needed == 8   # 100 < 2**7, signed
    assert out.overflow == 3 / 8                                    # 100, 50 and -100
    w = next(e for e in p.entries if e.kind == "weights")
    assert w.int_bits_needed == 8 and w.overflow == 1 / 4
    assert "overflow %" in str(p) and "<table>" in p._repr_html_()
    assert isinstance(p.plot(), matplotlib.figure.Figure)


@pytest.mark.parametrize("options, message", [
    ({"mult": "lut"}, "mult must be one of 'csd', 'csd-per-weight', 'dsp', not 'lut'"),
    ({"reuse": 0}, "reuse must be a whole number of cycles >= 1"),
    ({"reuse": "fast"}, "reuse must be a whole number of cycles >= 1 (1: fully parallel) "
                        "or 'auto'"),
    ({"reuse": {"fc_1": 2}}, "reuse: the model has no dense or convolution layer named "
                             "'fc_1' (did you mean 'fc1'?); its dense or convolution layers "
                             "are: fc1, fc2"),
    ({"reuse": {"relu1": 2}}, "no dense or convolution layer named 'relu1'"),
    ({"reuse": {"fc1": "auto"}}, "reuse: 'auto' is for the whole model"),
    ({"precision": {"relu": "fixed<8,3>"}}, "precision: the model has no layer named 'relu' "
                                            "(did you mean 'relu1'?)"),
    ({"precision": 16}, "precision must be a format such as 'fixed<16,6>'"),
    ({"io": "serial"}, "io must be one of 'parallel', 'stream', 'auto', not 'serial'"),
    ({"target": "ecp3"}, "target must be one of 'ecp5', 'ice40', 'xc7', 'asic', not 'ecp3'"),
    ({"pipeline": -1}, "pipeline must be None"),
    ({"pipeline": True}, "pipeline must be None"),
    ({"clock_target": "fast"}, "clock_target takes MHz (150, '150MHz') or a period"),
    ({"clock_target": 0}, "clock_target must be in (0, 10000] MHz"),
    ({"input_format": "fixed<4>"}, "input_format"),
    ({"reuse_factor": 4}, "convert() has no option 'reuse_factor' (did you mean 'reuse'?)"),
    ({"split_outputs": "yes"}, "split_outputs must be True or False, not 'yes'"),
    ({"step_form": "table"}, "step_form must be one of 'auto', 'tree', 'search', not 'table'"),
])
def test_bad_options_name_the_parameter_and_the_choices(options, message, tmp_path):
    with pytest.raises(HwgenError) as err:
        _tiny(tmp_path, **options)
    assert message in str(err.value)


def test_clock_target_takes_mhz_and_periods(tmp_path):
    assert _tiny(tmp_path, clock_target="8ns").options.clock_target == 125.0
    assert _tiny(tmp_path, clock_target=90).write().manifest["options"][
        "clock_target_mhz"] == 90


def test_bad_inputs_and_arguments_are_clear(digits):
    hw, x = digits
    with pytest.raises(HwgenError, match=r"inputs need a batch axis: shape \(N, 64\)"):
        hw.predict(x[0])
    with pytest.raises(HwgenError, match=r"inputs have shape \(3, 8\); the model takes"):
        hw.predict(np.zeros((3, 8)))
    with pytest.raises(HwgenError, match="n must be a whole number >= 1, not 0"):
        hw.verify(n=0)
    with pytest.raises(HwgenError, match="give either board='...' or asic=True"):
        hw.export()
    with pytest.raises(HwgenError, match="backend must be one of"):
        hw.hls(backend="Catapult")
    with pytest.raises(HwgenError, match="target must be one of"):
        hw.estimate("stratix")
    with pytest.raises(HwgenError, match="predict_codes: input codes outside"):
        hw.predict_codes(np.full((1, 64), 99))
