"""The power estimate: real toggle counts from Verilator, real synthesis, the energy model's
behaviour (activity, idle, pruning), report.json's schema and determinism, `make hw`'s flow."""
import json

import numpy as np
import pytest

from hwgen.errors import HwgenError
from hwgen.estimate import report
from hwgen.estimate.activity import measure
from hwgen.sim.toggles import registers, verilator_name
from hwgen.estimate.power import estimate_power, model
from hwgen.estimate.resources import estimate
from hwgen.flow import build_rtl, make_report
from hwgen.options import HardwareOptions

from ..hw_factory import random_graph

QUIET = dict(log=lambda s: None)


# One worker builds this module's shared fixtures (make test: --dist loadgroup).
pytestmark = pytest.mark.xdist_group("power")


def _design(tmp, seed, sparsity=0.0):
    graph = random_graph(seed, sparsity=sparsity, n_in=8)
    lowered, rtl = build_rtl(graph, tmp, HardwareOptions())
    return graph, lowered, rtl.data


def _codes(manifest, n, kind, seed=0):
    e = manifest["input"]["elements"]
    lo = np.array([-(1 << (x["width"] - 1)) if x["signed"] else 0 for x in e])
    hi = np.array([(1 << (x["width"] - (1 if x["signed"] else 0))) - 1 for x in e])
    if kind == "constant":
        return np.tile(lo, (n, 1))
    if kind == "lsb":              # only the least significant bits change
        return np.tile(lo, (n, 1)) + (np.arange(n)[:, None] % 2) * (hi > lo)
    return np.random.default_rng(seed).integers(lo, hi + 1, size=(n, len(e)))


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("power")
    graph, lowered, manifest = _design(tmp, 15)   # (7 is a constant now: its step maps every value to one level)
    resources = estimate(tmp, manifest, "ice40", **QUIET)
    acts = {kind: measure(graph, manifest, tmp / "rtl", tmp / f"act-{kind}", 1000,
                          codes=_codes(manifest, 1000, kind), build_root=tmp / "sim",
                          **QUIET)
            for kind in ("constant", "lsb", "random")}
    return tmp, graph, lowered, manifest, resources, acts


def test_toggle_counts_cover_every_instance(measured):
    tmp, _, _, manifest, _, acts = measured
    modules = {r["module"] for r in manifest["layers"] if r["module"]} | {manifest["top"]}
    busy = acts["random"]["instances"]
    assert set(busy) == modules
    top = busy[manifest["top"]]
    assert top["reg_bits"] > 0 and 0 < top["busy"]["reg"] <= 1
    # The input registers toggle about half the time on random codes.
    assert 0.2 < top["busy"]["reg"] < 0.8
    regs = registers((tmp / manifest["verilog"]).read_text())[manifest["top"]]
    assert verilator_name("in_0") in regs and verilator_name("\\$1") == "__0241"


def test_dynamic_power_grows_with_input_activity(measured):
    _, _, _, manifest, resources, acts = measured
    dyn = {k: estimate_power(resources, a, manifest["latency"], "ice40")["dynamic_busy_mw"]
           for k, a in acts.items()}
    assert dyn["constant"] < dyn["lsb"] < dyn["random"]
    assert dyn["constant"] < 0.05 * dyn["random"]


def test_idle_datapath_costs_static_and_clock_only(measured):
    _, _, _, manifest, resources, acts = measured
    p = estimate_power(resources, acts["random"], manifest["latency"], "ice40")
    assert p["dynamic_idle_mw"] <= 0.01 * p["dynamic_busy_mw"]
    assert p["idle_mw"] - p["static_mw"] - p["clock_mw"] <= 0.01 * p["dynamic_busy_mw"] + 1e-3
    assert p["busy_mw"] > p["idle_mw"]

    # Twice the clock: twice the dynamic power but the same dynamic energy per inference
    # (the same toggles, in half the time), and the static share of each inference halves.
    # Estimated powers (floats the report rounds), not model or RTL outputs: those are
    # compared code for code elsewhere.
    slow, fast = (estimate_power(resources, acts["random"], manifest["latency"], "ice40", mhz)
                  for mhz in (12.0, 24.0))
    assert fast["dynamic_busy_mw"] == pytest.approx(2 * slow["dynamic_busy_mw"], rel=1e-3)
    e_slow, e_fast = slow["energy_per_inference_nj"], fast["energy_per_inference_nj"]
    assert e_fast["dynamic_only"] == pytest.approx(e_slow["dynamic_only"], rel=1e-3)
    assert e_fast["busy"] < e_slow["busy"]


# slow: four syntheses and toggle counts of one property of the power model
@pytest.mark.slow
def test_pruned_design_costs_less_energy_than_dense(tmp_path):
    energy = {}
    for sparsity in (0.0, 0.85):
        tmp = tmp_path / str(sparsity)
        graph, _, manifest = _design(tmp, 15, sparsity)   # (7 is constant: see `measured`)
        res = estimate(tmp, manifest, "ecp5", **QUIET)
        act = measure(graph, manifest, tmp / "rtl", tmp / "act", 1000,
                      codes=_codes(manifest, 1000, "random"), **QUIET)
        energy[sparsity] = (res["total"]["LUT4"],
                            estimate_power(res, act, manifest["latency"], "ecp5")
                            ["energy_per_inference_nj"]["dynamic_only"])
    assert energy[0.85][0] < energy[0.0][0]
    assert energy[0.85][1] < energy[0.0][1]


def test_every_target_has_a_documented_model():
    for target in ("ice40", "ecp5", "xc7", "asic"):
        m = model(target).as_dict()
        assert m["sources"] and all(v >= 0 for v in m["cell_pj_per_toggle"].values())
    # iCE40 numbers come from the bench table: a blank design draws 85.6 uA at 1.219 V.
    assert model("ice40").static_w == pytest.approx(104.3e-6, rel=1e-3)


def test_report_json_follows_the_schema_and_renders_identically(measured, tmp_path):
    tmp, _, lowered, manifest, resources, acts = measured
    power = estimate_power(resources, acts["random"], manifest["latency"], "ice40")
    rec = make_report("small", lowered, manifest, "ice40", dict(resources), None, power,
                      None, {"vectors": 1000, "mismatches": 0}, {"synthesis": 1.0})
    out = tmp_path / "r"
    out.mkdir()
    report.write(out, rec)
    first = {p: (out / p).read_bytes() for p in ("report.md", "resources.png", "power.png")}
    assert report.render(out) and first == {p: (out / p).read_bytes() for p in first}
    md = first["report.md"].decode()
    assert "Power (estimate)" in md and "mW" in md and "| **total** |" in md
    broken = json.loads((out / "report.json").read_text())
    broken["latency"]["cycles"] = "ten"
    (out / "report.json").write_text(json.dumps(broken))
    with pytest.raises(HwgenError, match="latency/cycles"):
        report.render(out)


def test_report_of_a_missing_folder_is_a_clear_error(tmp_path, capsys):
    from hwgen.cli import main
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert "run `hwgen flow`" in capsys.readouterr().err


FLOW_FILES = ("report.md", "resources.png", "power.png", "manifest.json", "ir.txt")


def _flow(tmp_path, name: str) -> tuple[dict, dict]:
    """`make hw` end to end on a small QKeras model into a fresh folder: report.json and
    the bytes of what it writes."""
    from hwgen.cli import main
    from ..model_factory import random_model
    model, in_fmt, _ = random_model(4)
    path = tmp_path / "m.h5"
    if not path.exists():
        model.save(path)
    out = tmp_path / name
    # ice40: place and route goes through the serial I/O wrapper (estimate/serial_top.py);
    # the ecp5 open flow runs in the board and Yosys tests.
    assert main(["flow", str(path), "--input-format", in_fmt, "--n", "500", "--target",
                 "ice40", "-o", str(out)]) == 0
    rep = json.loads((out / "report.json").read_text())
    files = {p: (out / p).read_bytes() for p in FLOW_FILES}
    if "report.md" in files:      # what follows the mark is measured on this machine
        from hwgen.estimate.report import MEASURED_MARK
        files["report.md"] = files["report.md"].split(MEASURED_MARK.encode())[0]
    files["verilog"] = (out / rep["hardware"]["verilog"]).read_bytes()
    return rep, files


@pytest.fixture(scope="module")
def flow_once(tmp_path_factory):
    import io
    from contextlib import redirect_stdout
    tmp = tmp_path_factory.mktemp("flow")
    printed = io.StringIO()
    with redirect_stdout(printed):
        rep, files = _flow(tmp, "out")
    return tmp, rep, files, printed.getvalue()


def test_flow_runs_every_step_into_a_report(flow_once):
    """`make hw` end to end (on ice40): every step ran, the numbers are there, no
    absolute path in what it wrote."""
    tmp, rep, files, printed = flow_once
    assert set(rep["seconds"]) >= {"ir", "verify", "rtl", "cosim", "synthesis", "power"}
    assert not any(str(tmp).encode() in files[p] for p in ("report.md", "manifest.json"))
    assert rep["fmax_mhz"] > 0 and rep["resources"]["total"]["LUT4"] > 0
    assert rep["device"] == rep["pnr"]["device"] == "iCE40UP5K"
    assert rep["pnr"]["utilization"]["ICESTORM_LC"]["used"] > 0
    # The wrapper leaves a handful of pins: clock, reset, si, si_en, go, so_en, so, done.
    assert 0 < rep["pnr"]["utilization"]["SB_IO"]["used"] <= 8
    assert rep["power"]["energy_per_inference_nj"]["busy"] > 0
    assert rep["checks"]["rtl_vs_reference"]["mismatches"] == 0
    report.validate(rep | {"seconds": {}})
    assert "[7/7] report" in printed


# slow: a second whole flow; the Verilog and manifest of the zoo are held byte for byte by
# the golden records (tests/test_golden.py), report.md by the render test above.
@pytest.mark.slow
def test_flow_writes_the_same_report_twice(flow_once):
    """Again in a fresh folder (nothing is served from the first run's caches): the
    numbers, report.md and the plots do not change (only the wall times may)."""
    tmp, first, files, _ = flow_once
    again, files_again = _flow(tmp, "again")
    first, again = dict(first), dict(again)
    first.pop("seconds"), again.pop("seconds")
    first.pop("measured"), again.pop("measured")       # the CPU baseline, measured
    assert first == again and files == files_again


def test_a_folded_design_pays_ii_cycles_and_its_rom_reads_per_inference(measured):
    from hwgen.estimate.power import memory_duty
    _, _, _, manifest, resources, acts = measured
    one = estimate_power(resources, acts["random"], manifest["latency"], "ice40")
    four = estimate_power(resources, acts["random"], manifest["latency"], "ice40", ii=4)
    e1, e4 = one["energy_per_inference_nj"], four["energy_per_inference_nj"]
    # Estimated energies (floats the report rounds to 6 decimals), not model or RTL
    # outputs: those are compared code for code elsewhere.
    assert e4["dynamic_only"] == pytest.approx(4 * e1["dynamic_only"], rel=1e-4)
    assert e4["busy"] == pytest.approx(4 * e1["busy"], rel=1e-4)
    # block RAM reads: priced while the layer runs, never when idle
    module = next(r["module"] for r in resources["layers"] if r["module"])
    with_rom = dict(resources, layers=[dict(r, RAM=2) if r["module"] == module else r
                                       for r in resources["layers"]])
    duty = memory_duty({"ii": 4, "layers": [{"module": module, "cycles": 2}]})
    assert duty == {module: 0.5}
    rom = estimate_power(with_rom, acts["random"], manifest["latency"], "ice40", ii=4,
                         ram_duty=duty)
    assert rom["dynamic_busy_mw"] > four["dynamic_busy_mw"]
    assert rom["dynamic_idle_mw"] == four["dynamic_idle_mw"]


def test_a_stream_stage_pays_its_block_ram_reads_once_a_pixel(tmp_path):
    """A stream stage's line buffer and output FIFO, where they are block RAM, are read at
    most once per pixel it takes in: `image` pixels of every II (the tail, without
    memories, pays none). From the manifest of a real streaming build."""
    from hwgen.estimate.power import memory_duty

    from ..conv_factory import small_cnn_graph
    _, rtl = build_rtl(small_cnn_graph(6, 2, 3), tmp_path, HardwareOptions(io="stream"))
    manifest = rtl.data
    stages = {s["stage"]: s for s in manifest["stream"]["stages"]}
    duty = memory_duty(manifest)
    rows = [r for r in manifest["layers"] if r["op"] == "stream_stage"]
    assert rows and set(duty) == {r["module"] for r in rows}
    for r in rows:
        h, w = stages[r["node"]]["image"]
        assert duty[r["module"]] == min(1.0, h * w / manifest["ii"])
        assert 0 < duty[r["module"]] <= 1
    assert memory_duty(dict(manifest, ii=1)) == {r["module"]: 1.0 for r in rows}
