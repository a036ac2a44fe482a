"""Real Yosys synthesis of generated designs: parsing, determinism, pruning pays off."""
import json

import pytest

import hwgen
from hwgen.estimate.resources import estimate
from hwgen.estimate.yosys import TARGETS, module_text
from hwgen.flow import build_rtl
from hwgen.options import HardwareOptions

from ..hw_factory import dense_graph, random_graph


# One worker builds this module's shared fixtures (make test: --dist loadgroup).
pytestmark = pytest.mark.xdist_group("yosys")


@pytest.fixture(scope="module")
def small_design(tmp_path_factory):
    out = tmp_path_factory.mktemp("small")
    _, rtl = build_rtl(random_graph(2, sparsity=0.3), out, HardwareOptions(mult="dsp"))
    return out, rtl.data


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_every_target_synthesizes_with_resources_per_layer(small_design, target):
    out, manifest = small_design
    result = estimate(out, manifest, target, log=lambda s: None)
    assert [r["module"] for r in result["layers"]][:-1] == [r["module"]
                                                           for r in manifest["layers"]]
    total = result["total"]
    assert total["FF"] > 0 and total["logic_levels"] > 0
    main_logic = {"ice40": "LUT4", "ecp5": "LUT4", "xc7": "LUT", "asic": "gates"}[target]
    assert total[main_logic] > 0
    # Every layer that adds costs logic, and the top registers its ports (checks of the
    # rows themselves: the total is computed from them, so comparing with it proves nothing).
    rows = {r["module"]: r for r in result["layers"]}
    for layer in manifest["layers"]:
        if layer.get("adders"):
            assert rows[layer["module"]][main_logic] > 0, layer["module"]
    io_bits = sum(p["width"] for p in manifest["ports"] if p["name"] in ("in_data",
                                                                          "out_data"))
    assert rows[manifest["top"]]["FF"] >= io_bits
    if target == "asic":
        assert total["transistors"] > 4 * total["gates"] // 2 and total["nand2_equivalents"] > 0
    assert "Yosys" in result["yosys"]


def test_numbers_are_deterministic_and_cached(small_design, tmp_path):
    out, manifest = small_design
    first = estimate(out, manifest, "ecp5", log=lambda s: None)
    messages = []
    again = estimate(out, manifest, "ecp5", log=messages.append)
    assert all("cached" in m for m in messages)
    assert first["layers"] == again["layers"]


def test_the_layers_log_lines_do_not_run_together(small_design):
    """The layers are synthesized (or read from the cache) in threads; a log that writes
    a line and its newline apart, as `print` does, ran two layers' lines together."""
    import time
    out, manifest = small_design
    estimate(out, manifest, "ecp5", log=lambda s: None)           # all cached below
    written = []

    def print_like(s):
        written.append(s)
        time.sleep(0.02)             # another thread's line would land here
        written.append("\n")
    estimate(out, manifest, "ecp5", log=print_like)
    lines = "".join(written).splitlines()
    assert len(lines) >= 3 and all(line.count(": cached") == 1 for line in lines), lines


def test_another_build_folder_takes_the_machines_results(small_design, tmp_path,
                                                          monkeypatch):
    """The same layers estimated from another build folder (a notebook, a sweep point, a
    second checkout) come from the machine's cache (`shared_results`): the same numbers,
    no Yosys run. A damaged entry is synthesized again; HWGEN_YOSYS_CACHE=0 leaves the
    machine's cache out."""
    import shutil

    from hwgen.estimate import yosys
    out, manifest = small_design
    monkeypatch.setenv("HWGEN_YOSYS_CACHE", str(tmp_path / "machine"))

    def folder(name):                        # the built RTL, without any synthesis
        shutil.copytree(out, tmp_path / name, ignore=shutil.ignore_patterns("synth"))
        return tmp_path / name

    def run(name):
        messages = []
        got = estimate(folder(name), manifest, "ice40", log=messages.append)
        return got, [m.split(": ")[-1] for m in messages if ": " in m]

    first, said = run("a")
    assert set(said) == {"synthesizing"}
    entries = sorted(yosys.shared_results().glob("*/*.json"))
    assert len(entries) == len(said)
    again, said = run("b")
    assert set(said) == {"cached"} and again["layers"] == first["layers"]
    assert not list((tmp_path / "b").rglob("yosys.log"))     # Yosys did not run
    assert all((p.parent / "synth.ys").exists()
               for p in (tmp_path / "b").rglob("result.json"))
    entries[0].write_text("{")                                 # a damaged entry
    third, said = run("c")
    assert said.count("synthesizing") == 1 and third["layers"] == first["layers"]
    monkeypatch.setenv("HWGEN_YOSYS_CACHE", "0")
    assert yosys.shared_results() is None
    _, said = run("d")
    assert set(said) == {"synthesizing"}


def test_module_text_is_a_complete_layer(small_design):
    out, manifest = small_design
    text = (out / manifest["verilog"]).read_text()
    layer = module_text(text, next(r["module"] for r in manifest["layers"] if r["module"]))
    assert layer.count("module ") == 1 and layer.rstrip().endswith("endmodule")


@pytest.mark.slow         # the fast selection shows it on random graphs (test_power)
def test_pruned_design_is_cheaper_than_dense(tmp_path):
    luts = {}
    for name in ("digits_mlp", "digits_mlp_pruned"):
        _, g = hwgen.compile_model(name)
        _, rtl = build_rtl(g, tmp_path / name, HardwareOptions())
        luts[name] = estimate(tmp_path / name, rtl.data, "ecp5", log=lambda s: None)["total"]
    assert luts["digits_mlp_pruned"]["LUT4"] < luts["digits_mlp"]["LUT4"]
    assert luts["digits_mlp_pruned"]["FF"] < luts["digits_mlp"]["FF"]


def test_cli_estimate_writes_json(tmp_path, capsys):
    """`hwgen estimate` on a model file (a small random one: the zoo's go through the same
    estimate above and in the flow test)."""
    from hwgen.cli import main

    from ..model_factory import random_model
    model, fmt, _ = random_model(2)
    model.save(tmp_path / "small.h5")
    assert main(["estimate", str(tmp_path / "small.h5"), "--input-format", fmt,
                 "--target", "asic", "--no-power", "-o", str(tmp_path / "out")]) == 0
    data = json.loads((tmp_path / "out" / "synth" / "asic" / "estimate.json").read_text())
    assert data["target"] == "asic" and data["total"]["transistors"] > 0
    assert "transistors" in capsys.readouterr().out


# slow: the flow test (tests/estimate/test_power.py) places and routes on ice40 through the
# same place_and_route and checks its Fmax; nextpnr-ecp5 runs in the ulx3s board build
@pytest.mark.slow
def test_place_and_route_reports_fmax(tmp_path):
    from hwgen.estimate.nextpnr import place_and_route
    _, rtl = build_rtl(random_graph(4), tmp_path, HardwareOptions(pipeline=1))
    pnr = place_and_route(rtl.verilog, rtl.top, tmp_path / "pnr", "25k")
    assert pnr["fmax_mhz"] > 0 and pnr["utilization"]["TRELLIS_FF"]["used"] > 0
    assert pnr["device"] == "LFE5U-25F"


def test_place_and_route_past_its_time_limit_is_reported(small_design):
    """A nextpnr run stopped at its time limit (the benchmark's --pnr-time-limit) gives a
    record that says so, with no Fmax; it is not raised."""
    from hwgen.flow.steps import place
    out, manifest = small_design
    resources = estimate(out, manifest, "ecp5", log=lambda s: None)
    placed, seconds = place(out, manifest, "ecp5", resources, log=lambda s: None,
                            time_limit_s=0.01)
    assert placed["fits"] is False and placed["fmax_mhz"] is None
    assert "stopped after 0.01 s (the time limit)" in placed["message"]
    assert "LFE5U-25F" in placed["message"] and seconds["place_and_route"] >= 0


def test_a_design_nextpnr_cannot_place_is_reported(small_design, monkeypatch):
    """nextpnr failing (here: the real tool given an option it does not know) gives a
    record that quotes its error and says what to try; it is not raised."""
    from hwgen import toolchain
    from hwgen.flow.steps import place
    out, manifest = small_design
    resources = estimate(out, manifest, "ecp5", log=lambda s: None)
    real = toolchain.nextpnr_command
    monkeypatch.setattr(toolchain, "nextpnr_command",
                        lambda family: real(family) + ["--no-such-option"])
    placed, _ = place(out, manifest, "ecp5", resources, log=lambda s: None)
    assert placed["fits"] is False and placed["fmax_mhz"] is None
    assert "place and route on LFE5U-25F (out of context) failed: nextpnr-ecp5 failed" \
        in placed["message"] and "--device 85k" in placed["message"]


def test_packed_cells_are_the_lut4s_and_carry_cells_yosys_counts():
    """waveform_cnn1d's stream, whole design: Yosys 7,403 LUT4 + 12,720 CCU2C + 36 LUT
    RAMs (TRELLIS_DPR16X4), nextpnr 33,061 cells after packing (hwgen's adder map, no feed
    cells; with Yosys's map it was 6,208 + 10,576 and 37,120 packed, which did not place
    at 85 % of the LFE5U-45F). At 75 % of the 45F the 85F is picked."""
    from hwgen.estimate.nextpnr import packed_cells, pick_device
    total = {"LUT4": 7403, "CCU2C": 12720, "LUTRAM": 36, "FF": 2172, "DSP": 0}
    assert packed_cells(total) == 33059 and 33061 - packed_cells(total) < 0.001 * 33061
    assert pick_device(packed_cells(total), 2172, 0) == "85k"
    assert pick_device(packed_cells({"LUT4": 752, "CCU2C": 4012}), 3115, 0) == "25k"


def test_the_smallest_device_leaves_room_to_route():
    from hwgen.estimate.nextpnr import pick_device
    assert pick_device(10, 10, 0) == "25k" and pick_device(30000, 100, 0) == "45k"
    # 67 of the 45F's 72 multipliers is too full to route well; the 85F is used to the
    # full, a given device too.
    assert pick_device(1000, 1000, 67) == "85k" and pick_device(1000, 1000, 60) == "45k"
    assert pick_device(80000, 1000, 0) == "85k"
    assert pick_device(1000, 1000, 67, "45k") == "45k"


def test_design_too_large_for_ecp5_is_a_clear_error():
    from hwgen.errors import HwgenError
    from hwgen.estimate.nextpnr import pick_device
    with pytest.raises(HwgenError, match="LFE5U-85F has 83640.*To fit: a reuse factor.*prune more.*--mult dsp"):
        pick_device(200000, 1000, 0)


# slow: test_power's flow test places and routes through the serial wrapper on ice40 too
@pytest.mark.slow
def test_ice40_place_and_route_through_the_serial_wrapper(tmp_path):
    from hwgen.estimate.nextpnr import place_and_route
    _, rtl = build_rtl(random_graph(4), tmp_path, HardwareOptions(pipeline=1))
    pnr = place_and_route(rtl.verilog, rtl.top, tmp_path / "pnr", "up5k", manifest=rtl.data)
    assert pnr["device"] == "iCE40UP5K" and pnr["fmax_mhz"] > 0
    assert pnr["utilization"]["ICESTORM_LC"]["used"] > 0
    # The wrapper leaves a handful of pins: clock, reset, si, si_en, go, so_en, so, done.
    assert pnr["utilization"]["SB_IO"]["used"] <= 8


def test_design_too_large_for_the_up5k_is_a_clear_error():
    from hwgen.errors import HwgenError
    from hwgen.estimate.nextpnr import fits_up5k
    with pytest.raises(HwgenError, match="iCE40UP5K has 5280.*target ecp5"):
        fits_up5k(6000, 100, 0)


@pytest.fixture(scope="module")
def pruned_digits(tmp_path_factory):
    out = tmp_path_factory.mktemp("digits")
    _, g = hwgen.compile_model("digits_mlp_pruned")
    _, rtl = build_rtl(g, out, HardwareOptions())
    return out, rtl.data


@pytest.mark.parametrize("target", ["ecp5", pytest.param("asic", marks=pytest.mark.slow)])
def test_per_layer_numbers_agree_with_one_whole_design_run(pruned_digits, tmp_path, target):
    """An independent Yosys run on the same Verilog (one flattened design, no split). On
    ECP5 the per-layer totals agree within 5 % (measured: LUT4 +0.1 %, CCU2C equal, FF
    -0.3 %; with wide LUTs the per-layer sum was the larger, by up to a tenth). ASIC: within
    20 % and never below it (the whole design merges a layer's last gates with the
    quantizer after it where no register separates them)."""
    from hwgen.estimate.yosys import synthesize_whole
    out, manifest = pruned_digits
    split = estimate(out, manifest, target, log=lambda s: None)["total"]
    whole = synthesize_whole(out / manifest["verilog"], manifest["top"], target, tmp_path)
    if target == "ecp5":
        for kind in ["LUT4", "CCU2C", "FF"]:
            assert abs(split[kind] - whole[kind]) <= 0.05 * whole[kind], (kind, split, whole)
        return
    for kind in ["transistors", "FF"]:
        assert 0.8 * split[kind] <= whole[kind] <= split[kind], kind


@pytest.mark.parametrize("args, message", [
    (["--target", "ice40", "--device", "25k"], "device 25k is not an ice40 device: use up5k"),
    (["--target", "xc7", "--pnr"], "place and route (pnr) runs nextpnr for target ecp5 or "
                                   "ice40")])
def test_estimate_option_errors_are_clear(args, message, capsys):
    from hwgen.cli import main
    assert main(["estimate", "digits_mlp_pruned", "--no-power"] + args) == 2
    assert message in capsys.readouterr().err


def test_yosys_error_is_quoted_with_its_log(tmp_path):
    from hwgen.errors import HwgenError
    from hwgen.estimate.yosys import synthesize_whole
    broken = tmp_path / "broken.v"
    broken.write_text("module top(input a, output b);\n  assign b = a +;\nendmodule\n")
    with pytest.raises(HwgenError, match=r"Yosys failed on the whole design: .*design\.v:2: "
                                         r"ERROR: syntax error.*\(full log: .*yosys\.log\)"):
        synthesize_whole(broken, "top", "ice40", tmp_path / "work")


def test_flow_time_limit_option_is_checked(capsys):
    from hwgen.api.model import _seconds
    from hwgen.cli import main
    from hwgen.errors import HwgenError
    from hwgen.flow.run import FLOW_PNR_TIME_LIMIT_S
    assert _seconds(0) is None and _seconds(None) is None and _seconds(90) == 90.0
    assert 0 < FLOW_PNR_TIME_LIMIT_S <= 240          # `make hw` stays within 5 minutes
    with pytest.raises(HwgenError, match="pnr_time_limit_s must be a number of seconds"):
        _seconds(-1)
    with pytest.raises(SystemExit):
        main(["flow", "digits_mlp_pruned", "--pnr-time-limit", "-5"])
    assert "--pnr-time-limit: must be at least 0" in capsys.readouterr().err


def test_ecp5_maps_a_rounding_to_lut4s_only(tmp_path):
    """One RND_CONV + saturation element (24 -> 6 bits): with wide LUTs the fast script
    took 58 LUT4 + 49 muxes; LUT4s only, 11."""
    from hwgen.estimate.yosys import synthesize_text
    text = """module e(input clk, input [23:0] x, output reg [5:0] y);
wire [14:0] t = {{9{x[23]}}, x[23:9]};
wire r = (x[8] & |x[7:0]) | (x[8] & ~|x[7:0] & x[9]);
wire [14:0] s = $signed(t) + $signed({1'b0, r});
wire [14:0] o = s[14] ? 15'h0 : ((~s[14] & |s[13:6]) ? 15'h3f : s);
always @(posedge clk) y <= o[5:0];
endmodule
"""
    r = synthesize_text(text, "e", "ecp5", tmp_path, log=lambda s: None)
    assert r["MUX"] == 0 and r["LUT4"] <= 16, r


def test_distributed_ram_counts_as_the_logic_cells_nextpnr_packs_it_into(tmp_path):
    """A FIFO with an asynchronous read (Amaranth's SyncFIFO, as a stream stage's output
    FIFO) maps to TRELLIS_DPR16X4 cells on ECP5; each takes six logic cells once packed,
    which the fit check must count (a stream's FIFOs were 24.6k of 52.4k cells)."""
    from amaranth.back import verilog
    from amaranth.lib.fifo import SyncFIFO

    from hwgen.estimate.nextpnr import LUTRAM_CELLS, lut_slots
    from hwgen.estimate.yosys import synthesize
    fifo = SyncFIFO(width=16, depth=64)
    ports = [fifo.w_data, fifo.w_en, fifo.w_rdy, fifo.r_data, fifo.r_en, fifo.r_rdy]
    (tmp_path / "fifo.v").write_text(verilog.convert(fifo, name="fifo", ports=ports))
    result = synthesize(tmp_path / "fifo.v", [], "fifo", "ecp5", tmp_path / "work",
                        log=lambda s: None)
    row = result["fifo"]
    assert row["LUTRAM"] >= 16                  # 64 x 16 bits in 16 x 4-bit cells
    assert lut_slots(row) == row["LUT4"] + 2 * row["CCU2C"] + LUTRAM_CELLS * row["LUTRAM"]


def test_luts_used_as_memory_count_on_xc7(tmp_path):
    """On xc7 a stream's shallow FIFO (Amaranth's SyncFIFO: distributed RAM, RAM32M/RAM64M)
    and a line buffer's delay line (SRL16E shift registers) take LUTs that the logic count
    leaves out: they are counted in LUTs (`LUTRAM`, `SRL`), the fit check adds them to the
    logic LUTs and the power model prices them."""
    from amaranth.back import verilog
    from amaranth.hdl import Module, Signal
    from amaranth.lib.fifo import SyncFIFO

    from hwgen.errors import HwgenError
    from hwgen.estimate.power import model
    from hwgen.estimate.yosys import synthesize
    from hwgen.export import boards
    fifo = SyncFIFO(width=16, depth=64)
    ports = [fifo.w_data, fifo.w_en, fifo.w_rdy, fifo.r_data, fifo.r_en, fifo.r_rdy]
    (tmp_path / "fifo.v").write_text(verilog.convert(fifo, name="fifo", ports=ports))
    m, d, en = Module(), Signal(8), Signal()
    taps = [Signal(8, name=f"tap{i}", reset_less=True) for i in range(16)]   # no reset: SRL
    with m.If(en):
        m.d.sync += [taps[0].eq(d)] + [b.eq(a) for a, b in zip(taps, taps[1:])]
    (tmp_path / "delay.v").write_text(verilog.convert(m, name="delay",
                                                      ports=[d, en, taps[-1]]))
    quiet = lambda s: None                                     # noqa: E731
    row = synthesize(tmp_path / "fifo.v", [], "fifo", "xc7", tmp_path / "f", log=quiet)["fifo"]
    assert row["LUTRAM"] >= 16 and row["RAM"] == 0, row     # 1,024 bits in 64-bit LUTs
    line = synthesize(tmp_path / "delay.v", [], "delay", "xc7", tmp_path / "d",
                      log=quiet)["delay"]
    assert line["SRL"] == 8 and line["FF"] <= 8, line         # 8 bits x 16 taps: 8 SRL16E
    xc7 = model("xc7")
    assert xc7.cell_j["LUTRAM"] > 0 and xc7.cell_j["SRL"] > 0
    arty = boards.board("arty-a7-35")                          # 20,800 LUTs
    boards.fit_check(arty, {"LUT": 15000, "LUTRAM": 1000, "SRL": 500, "FF": 0, "DSP": 0})
    with pytest.raises(HwgenError, match="LUT 19000 of 20800"):
        boards.fit_check(arty, {"LUT": 15000, "LUTRAM": 3000, "SRL": 1000, "FF": 0,
                                "DSP": 0})


def test_a_deep_stream_fifo_is_block_ram_on_ecp5(tmp_path):
    """A stage's output FIFO from FIFO_RAM_DEPTH entries and LINE_RAM_BITS on is Amaranth's
    SyncFIFOBuffered (the RTL picks it by `fifo_in_ram`), which Yosys maps to DP16KD block
    RAM with no distributed RAM; a shallow one stays a SyncFIFO."""
    from amaranth.back import verilog
    from amaranth.lib.fifo import SyncFIFOBuffered

    from hwgen.backends.amaranth.stream import FIFO_RAM_DEPTH, fifo_in_ram
    from hwgen.estimate.yosys import synthesize
    assert fifo_in_ram(313, 128) and not fifo_in_ram(8, 128)
    assert not fifo_in_ram(FIFO_RAM_DEPTH, 8)        # 256 bits: below LINE_RAM_BITS
    fifo = SyncFIFOBuffered(width=128, depth=313)
    ports = [fifo.w_data, fifo.w_en, fifo.w_rdy, fifo.r_data, fifo.r_en, fifo.r_rdy,
             fifo.level]
    (tmp_path / "fifo.v").write_text(verilog.convert(fifo, name="fifo", ports=ports))
    row = synthesize(tmp_path / "fifo.v", [], "fifo", "ecp5", tmp_path / "work",
                     log=lambda s: None)["fifo"]
    assert row.get("RAM", 0) >= 4 and row.get("LUTRAM", 0) == 0, row   # 128 bits: 4 x 36
    assert row["LUT4"] < 200, row


@pytest.mark.parametrize("target", ["xc7", "ice40"])
def test_skipping_the_memory_mapping_leaves_a_design_without_memories_the_same(
        tmp_path, target):
    """A layer without memories is synthesized without the target's memory-mapping steps
    (their techmap files cost seconds even with nothing to map): the netlist's cells are
    those of the whole synthesis command. A design with a memory (a folded layer's ROM, a
    stream's FIFO) is detected and keeps the full command."""
    from amaranth.back import verilog
    from amaranth.lib.fifo import SyncFIFO

    from hwgen import processes, toolchain
    from hwgen.estimate.yosys import has_memories, module_closure, synthesize_text
    _, rtl = build_rtl(dense_graph(8), tmp_path / "dense", HardwareOptions())
    text, manifest = rtl.verilog.read_text(), rtl.data
    layer = max((r for r in manifest["layers"] if r.get("adders")),
                key=lambda r: r["adders"])["module"]
    design = module_closure(text, layer)
    assert not has_memories(design)
    t = TARGETS[target]
    assert t.script(layer, [], False, memories=False).count("-run ") == 2
    cells = {}
    for memories in (True, False):
        work = tmp_path / str(memories)
        work.mkdir()
        (work / "design.v").write_text(design)
        (work / "synth.ys").write_text(t.script(layer, [], False, memories))
        proc = processes.run(toolchain.yosys_command() + ["-q", "-s", "synth.ys"], cwd=work)
        assert proc.returncode == 0, proc.stderr
        cells[memories] = json.loads((work / "stat.json").read_text())["design"][
            "num_cells_by_type"]
    assert cells[False] == cells[True] and sum(cells[True].values()) > 10
    # memories: a folded layer's weight ROM, an Amaranth FIFO, and in RTLIL
    _, folded = build_rtl(hwgen.compile_model("digits_mlp")[1], tmp_path / "folded",
                          HardwareOptions(reuse=8))
    assert has_memories((tmp_path / "folded" / "rtl" / f"{folded.data['top']}.v").read_text())
    fifo = SyncFIFO(width=8, depth=16)
    ports = [fifo.w_data, fifo.w_en, fifo.r_data, fifo.r_en]
    assert has_memories(verilog.convert(fifo, name="fifo", ports=ports))
    from amaranth.back import rtlil
    assert has_memories(rtlil.convert(fifo, name="fifo", ports=ports))
    assert synthesize_text(design, layer, target, tmp_path / "cached",
                           log=lambda s: None)["FF"] >= 0


def test_ice40_carries_without_a_sum_lut_are_cells_of_their_own(tmp_path):
    """A comparison's carry chain (a step function's thresholds) has no sum LUT to share
    a logic cell with: each carry takes a cell of its own. The iCE40 estimate counts
    them (`CARRY_ONLY`, pairs found as nextpnr packs them), so LUT4 + FF + CARRY_ONLY is
    the cells nextpnr packs (before it legalises the chains), where LUT4 + FF missed
    most of them (a random CNN passed the UP5K check and then failed to place). The
    step function as its tree (a comparator per threshold against a constant); searched
    (`--step-form auto`), the estimate counts 384 of the 456 carries nextpnr leaves
    alone, 6 % of the cells short."""
    import re
    import tensorflow as tf
    from qkeras import QActivation

    from hwgen import processes, toolchain
    from hwgen.errors import HwgenError
    from hwgen.estimate.nextpnr import fits_up5k
    from hwgen.estimate.yosys import synthesize_whole
    from hwgen.options import FrontendOptions
    from ..model_factory import quantizer
    inp = tf.keras.Input((12,), name="x")
    model = tf.keras.Model(inp, QActivation(quantizer("quantized_tanh(5)"), name="tanh")(inp))
    _, graph = hwgen.compile_model(model, FrontendOptions.from_strings("fixed<10,3>"))
    _, rtl = build_rtl(graph, tmp_path, HardwareOptions(target="ice40", step_form="tree"))
    work = tmp_path / "whole"
    est = synthesize_whole(rtl.verilog, rtl.top, "ice40", work, netlist="netlist.json")
    assert est["CARRY_ONLY"] > est["CARRY"] // 2 > 0
    proc = processes.run(toolchain.nextpnr_command("ice40") + [
        "--up5k", "--package", "sg48", "--pcf-allow-unconstrained", "--json",
        "netlist.json", "--pack-only", "--log", "pack.log", "-q"], cwd=work)
    assert proc.returncode == 0, proc.stderr
    used = {what: int(n) for n, what in
            re.findall(r"(\d+) LCs used as (.+)", (work / "pack.log").read_text())}
    packed = sum(used.values())           # LUT4 only, LUT4 and DFF, DFF only, CARRY only
    counted = est["LUT4"] + est["FF"] + est["CARRY_ONLY"]
    assert abs(counted - packed) <= 0.05 * packed, (est, used)
    assert est["LUT4"] + est["FF"] < 0.6 * packed            # the old count
    with pytest.raises(HwgenError, match=r"\+ 4000 carry-only = 5300 logic cells.*"
                                         r"carries of comparisons"):
        fits_up5k(1000, 300, 0, carry_only=4000)
