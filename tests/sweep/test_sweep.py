"""Design-space sweeps: quantizers set to a width, Pareto selection and carbon arithmetic
on known numbers, and real sweeps through Ray (local), cached, with a failing point."""
import json

import numpy as np
import pytest

from hwgen import HwgenError
from hwgen.estimate import carbon
from hwgen.sweep.pareto import pareto, recommend

from ..model_factory import quantizer

pytestmark = pytest.mark.xdist_group("sweep")


def test_pareto_front_and_recommendation_on_known_numbers():
    rows = [{"accuracy_reference": 0.90, "energy": 5.0},     # on the front
            {"accuracy_reference": 0.95, "energy": 9.0},     # on the front
            {"accuracy_reference": 0.89, "energy": 6.0},     # dominated by the first
            {"accuracy_reference": 0.95, "energy": 9.5},     # dominated by the second
            {"accuracy_reference": 0.80, "energy": 1.0},     # on the front (cheapest)
            {"accuracy_reference": None, "energy": 0.5}]     # failed: off the front
    assert pareto(rows, "energy") == [True, True, False, False, True, False]
    assert recommend(rows, 0.9, "energy") is rows[0]
    assert recommend(rows, 0.93, "energy") is rows[1]
    assert recommend(rows, 0.99, "energy") is None
    assert recommend(rows, None, "energy") is rows[1]       # most accurate, cheaper of equals


def test_carbon_arithmetic_on_known_numbers():
    # These are estimates' arithmetic (joules to kWh to kg), computed by the code in
    # another order than written here, so they compare to 1e-12 relative; the bit-exact
    # contract is for model and RTL outputs, which every other test compares with ==.
    grid = {"g_per_kwh": 500.0, "source": "given"}
    y = carbon.yearly(1.0, 1000.0, grid)          # 1 nJ x 1000/s x 31,536,000 s = 31.536 J
    assert y["kwh_per_year"] == pytest.approx(31.536 / 3.6e6, rel=1e-12)
    assert y["kg_co2e_per_year"] == pytest.approx(31.536 / 3.6e6 * 0.5, rel=1e-12)
    both = carbon.carbon_section(2.0, {"energy_per_inference_nj": 2000.0}, 10.0, grid)
    assert both["cpu_over_hardware"] == 1000.0 and both["hardware"]["kwh_per_year"] == \
        pytest.approx(2e-9 * 10 * 31536000 / 3.6e6)
    assert carbon.grid_intensity(None)["g_per_kwh"] == 475.0        # codecarbon's world
    fra = carbon.grid_intensity("fra")
    assert 0 < fra["g_per_kwh"] < 200 and "France" in fra["source"]
    assert carbon.grid_intensity("320")["g_per_kwh"] == 320.0
    with pytest.raises(HwgenError, match="country code of ISO 3166 alpha-3"):
        carbon.grid_intensity("Atlantis")


def test_cpu_baseline_is_measured_with_codecarbon():
    import tensorflow as tf
    model = tf.keras.Sequential([tf.keras.layers.InputLayer((8,)), tf.keras.layers.Dense(4)])
    cpu = carbon.cpu_baseline(model, np.zeros((2048, 8)), repeats=2)
    assert cpu["time_per_inference_us"] > 0 and cpu["power_w"] > 0
    # energy = power x time; recomputed here through microseconds (another rounding order of
    # an estimate), so it compares to pytest's default 1e-6 relative
    assert cpu["energy_per_inference_nj"] == pytest.approx(
        cpu["power_w"] * cpu["time_per_inference_us"] * 1e3)
    assert "RAPL" in cpu["method"] or "TDP" in cpu["method"]


def _small_model(n_in=8, hidden=6, n_out=3, name="small"):
    import tensorflow as tf
    from qkeras import QActivation, QDense
    model = tf.keras.Sequential([
        tf.keras.layers.InputLayer((n_in,), name="x"),
        QDense(hidden, kernel_quantizer=quantizer("quantized_bits(6,0,alpha=1)"),
               bias_quantizer=quantizer("quantized_bits(6,0,alpha=1)"), name="fc1"),
        QActivation("quantized_relu(6,2)", name="relu1"),
        QDense(n_out, kernel_quantizer=quantizer("ternary()"),
               bias_quantizer=quantizer("quantized_bits(6,1,alpha=1)"), name="fc2"),
        tf.keras.layers.Activation("softmax", name="softmax")], name=name)
    rng = np.random.default_rng(1)
    for layer in model.layers:
        if layer.weights:
            layer.set_weights([rng.normal(scale=0.5, size=w.shape) for w in layer.get_weights()])
    return model


def test_requantize_sets_every_width_and_keeps_kinds_and_integer_bits():
    from hwgen.sweep.requantize import requantize
    model = _small_model()
    copy, changes = requantize(model, 4)
    cfg = {lc["config"]["name"]: lc["config"]
           for lc in json.loads(copy.to_json())["config"]["layers"]}
    fc1, relu1, fc2 = cfg["fc1"], cfg["relu1"], cfg["fc2"]
    assert fc1["kernel_quantizer"]["config"]["bits"] == 4
    assert fc1["kernel_quantizer"]["config"]["integer"] == 0
    assert fc1["kernel_quantizer"]["config"]["alpha"] == 1
    assert relu1["activation"] == "quantized_relu(4, 2)"          # a string stays a string
    assert fc2["kernel_quantizer"]["class_name"] == "ternary"
    assert fc2["bias_quantizer"]["config"]["integer"] == 1
    assert "fc1.kernel_quantizer: quantized_bits bits 6 -> 4 (integer 0 kept)" in changes
    assert "relu1.activation: quantized_relu bits 6 -> 4 (integer 2 kept)" in changes
    assert "fc2.kernel_quantizer: ternary has no width; unchanged" in changes
    assert [w.tolist() for w in copy.get_weights()] == [w.tolist() for w in model.get_weights()]


def _data(path, n_in=8, n=600, seed=0):
    rng = np.random.default_rng(seed)
    x = np.round(rng.normal(size=(n, n_in)) * 16) / 16
    y = (x[:, 0] + x[:, 1] > 0).astype(int) + (x[:, 2] > 1).astype(int)
    np.savez(path, x_train=x[:400], y_train=y[:400], x_test=x[400:], y_test=y[400:])
    return path


def test_a_sweep_runs_on_ray_and_is_cached(tmp_path):
    """Two points (2 widths, each pruned to half) through a local Ray, side by side:
    accuracies of QKeras and of the reference equal at every point, outputs written; the
    second run redoes nothing. (Two points, not a grid, for the suite's time: each is a
    whole flow, and requantize and the Pareto rules have their own tests above.)"""
    from hwgen.sweep import sweep
    model = tmp_path / "small.h5"
    _small_model().save(model)
    data = _data(tmp_path / "data.npz")
    out = tmp_path / "sweep"
    kw = dict(bits=[3, 6], sparsity=[0.5], reuse=[1], target="xc7", epochs=1,
              out=out, n=300, min_accuracy=0.3, input_format="fixed<8,4>", log=None)
    first = sweep(str(model), str(data), **kw)
    assert len(first.rows) == 2 and all(r["status"] == "ok" for r in first.rows), \
        [r.get("reason") for r in first.rows]
    for r in first.rows:
        assert r["accuracy_reference"] == r["accuracy_qkeras"]
        assert r["lut"] > 0 and r["energy_per_inference_nj"] > 0 and r["kg_co2e_per_year"] > 0
        assert r["cpu_energy_per_inference_nj"] > 0 and r["cached"] is False
    assert {r["kernel_sparsity"] >= 0.5 for r in first.rows} == {True}
    assert sorted(r["bits"] for r in first.rows) == [3, 6]
    assert any(r["pareto"] for r in first.rows) and first.recommended is not None
    for name in ("sweep.json", "sweep.csv", "report.md", "accuracy_vs_energy.png",
                 "accuracy_vs_luts.png"):
        assert (out / name).stat().st_size > 0
    assert "**Recommended**" in (out / "report.md").read_text()
    header = (out / "sweep.csv").read_text().splitlines()[0].split(",")
    assert {"pareto", "energy_per_inference_nj", "kg_co2e_per_year", "fmax_mhz"} <= set(header)
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("points/*/result.json")}
    again = sweep(str(model), str(data), **kw)
    assert all(r["cached"] for r in again.rows)
    assert {p: p.stat().st_mtime_ns for p in out.glob("points/*/result.json")} == stamps
    assert [r["accuracy_reference"] for r in again.rows] == \
        [r["accuracy_reference"] for r in first.rows]


@pytest.mark.slow      # a second Ray sweep (a whole flow); the first one above runs Ray
def test_a_failing_point_is_recorded_with_its_reason(tmp_path):
    """A 24-24-3 network at 8 bits, fully parallel, does not fit the iCE40 UP5K: the point
    is recorded as failed with the fit numbers, and the sweep finishes its report."""
    from hwgen.sweep import sweep
    model = tmp_path / "wide.h5"
    _small_model(24, 24, 3, "wide").save(model)
    data = _data(tmp_path / "data.npz", n_in=24)
    result = sweep(str(model), str(data), bits=[8], sparsity=[0.0], reuse=[1],
                   target="ice40", epochs=0, out=tmp_path / "sweep", n=200,
                   input_format="fixed<8,4>", log=None)
    (row,) = result.rows
    assert row["status"] == "failed" and "does not fit" in row["reason"]
    assert "iCE40UP5K" in row["reason"]
    md = (tmp_path / "sweep" / "report.md").read_text()
    assert "## Failed points" in md and "does not fit" in md


def test_bad_sweep_options_are_clear(tmp_path):
    from hwgen.sweep import sweep
    for kw, message in [({"bits": [0]}, "bits takes whole numbers 1..32"),
                        ({"sparsity": [1.0]}, r"sparsity takes numbers in \[0, 1\)"),
                        ({"reuse": [0]}, "reuse takes whole numbers >= 1 or 'auto'"),
                        ({"target": "ecp3"}, "target must be one of"),
                        ({"data": str(tmp_path / "none.npz")}, "no such file")]:
        with pytest.raises(HwgenError, match=message):
            sweep("digits_mlp", **dict({"out": tmp_path / "s", "log": None}, **kw))


@pytest.mark.parametrize("args, message", [
    (["--bits", "4,x"], "bits takes a comma-separated list of whole numbers, not 'x'"),
    (["--reuse", "1,fast"], "reuse takes a comma-separated list of whole numbers or auto"),
    (["--sparsity", "0,half"], "sparsity takes a comma-separated list of numbers"),
    (["--grid-intensity", "Atlantis", "--bits", "4"], "country code of ISO 3166 alpha-3"),
])
def test_cli_sweep_options_are_checked(args, message, capsys, tmp_path):
    from ..test_bad_inputs import run_bad
    run_bad(["sweep", "digits_mlp", "-o", tmp_path / "s"] + args, capsys, message)
