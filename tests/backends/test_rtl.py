"""The generated RTL computes exactly what the reference does (real Verilator runs), is
deterministic, and the bench can fail."""
import json
import re
import shutil

import pytest

import hwgen
from hwgen.backends.amaranth import emit
from hwgen.cli import main
from hwgen.designs import design_names
from hwgen.errors import HwgenError
from hwgen.ops import FoldedLinearSum
from hwgen.options import HardwareOptions
from hwgen.flow import build_rtl
from hwgen.passes import pipelines
from hwgen.sim.runner import cosim

from ..cosim_checks import assert_exact_in_batch_and_stream
from ..hw_factory import random_graph

# slow: the cases that repeat a mode, pipeline setting or input signedness the others
# cover (the fuzz seeds in tests/test_fuzz.py add random QKeras models through Verilator).
_SLOW = pytest.mark.slow
CASES = [  # seed, mult, signed input, sparsity, pipeline
    (0, "csd", True, 0.0, 2), (1, "dsp", False, 0.0, 1), (2, "csd", False, 0.6, 0),
    pytest.param(3, "dsp", True, 0.6, 3, marks=_SLOW),
    pytest.param(4, "csd", True, 0.3, 1, marks=_SLOW),
    (6, "csd-per-weight", True, 0.3, 1), (7, "csd", None, 0.0, None),
    pytest.param(5, "dsp", None, 0.0, 2, marks=_SLOW),
    # an unsigned WRAP quantizer wider than its negative rounded range (sign extension)
    (24, "csd", False, 0.8, 2),
]


@pytest.mark.parametrize("seed,mult,signed,sparsity,every", CASES)
def test_random_layers_match_the_reference_in_verilator(tmp_path, seed, mult, signed,
                                                        sparsity, every):
    g = random_graph(seed, signed_input=signed, sparsity=sparsity,
                     n_in=6 if seed == 24 else None)
    lowered = pipelines.hardware(mult, every).run(g)
    b = emit.build(lowered, tmp_path, {"mult": mult, "pipeline": every})
    r = cosim(g, b.data, tmp_path / "rtl", tmp_path / "sim", 3000, seed, log=lambda s: None)
    assert r["vectors"] == 3000 and r["outputs_seen"] == 3000
    assert r["mismatches"] == 0, r["first_mismatches"][:2]


@pytest.mark.parametrize("seed,target", [(1, "xc7"), (24, "ice40"), (6, "ecp5")])
def test_sums_in_the_targets_number_form_match_the_reference(tmp_path, seed, target):
    """Offset binary on xc7 and iCE40, two's complement on ECP5 (adder_graph's
    TWOS_COMPLEMENT_TARGETS): both exact in Verilator."""
    from hwgen.ir.adder_graph import TWOS_COMPLEMENT_TARGETS
    g = random_graph(seed, sparsity=0.3, n_in=6 if seed == 24 else 8)
    lowered = pipelines.hardware("csd", None, target=target).run(g)
    refs = [r for n in lowered.nodes if getattr(n, "graph", None) is not None
            for a in n.graph.nodes if a.is_adder for r in (a.a, a.b)]
    assert refs and any(r.offset_binary for r in refs) == (target not in
                                                          TWOS_COMPLEMENT_TARGETS)
    b = emit.build(lowered, tmp_path, {"mult": "csd", "target": target})
    r = cosim(g, b.data, tmp_path / "rtl", tmp_path / "sim", 3000, seed, log=lambda s: None)
    assert r["outputs_seen"] == 3000 and r["mismatches"] == 0, r["first_mismatches"][:2]


FOLDED = [  # seed, reuse, per-layer reuse, signed input, sparsity, pipeline, mode, split
    pytest.param(20, 2, {}, True, 0.0, 2, "batch", False, marks=_SLOW),   # (41: batch, 2)
    (21, 3, {}, False, 0.6, 0, "stream", False),
    pytest.param(22, 64, {}, None, 0.3, 3, "batch", False, marks=_SLOW),
    (23, 1, {"dense2": 2}, True, 0.0, 1, "stream", False),
    (24, 4, {"dense1": 1}, False, 0.8, 2, "batch", False),
    pytest.param(25, 1, {"dense1": 5}, None, 0.0, 3, "stream", False, marks=_SLOW),
    # outputs split over lanes to meet the reuse factor, the relus after them unfused
    (32, 3, {}, True, 0.0, None, "stream", True), (41, 2, {}, False, 0.5, 1, "batch", True),
]


@pytest.mark.parametrize("seed,reuse,layer_reuse,signed,sparsity,every,mode,split", FOLDED)
@pytest.mark.usefixtures("fold_every_layer")   # the lanes are under test
def test_folded_layers_match_the_reference_in_verilator(tmp_path, seed, reuse, layer_reuse,
                                                        signed, sparsity, every, mode, split):
    g = random_graph(seed, signed_input=signed, sparsity=sparsity, n_in=int(seed % 7) + 3)
    hw = HardwareOptions("csd", every, reuse, layer_reuse, split_outputs=split)
    lowered, b = build_rtl(g, tmp_path, hw)
    folds = [n.fold for n in lowered.nodes if isinstance(n, FoldedLinearSum)]
    assert folds and any(f.split for f in folds) == split
    if split:   # reuse cycles, one more where a layer reads inputs it does not latch
        assert b.data["ii"] <= reuse + 2
    assert b.data["ii"] > 1 or all(f.cycles == 1 for f in folds)
    n = 600 if mode == "stream" else 3000
    r = cosim(g, b.data, tmp_path / "rtl", tmp_path / "sim", n, seed, mode=mode,
              log=lambda s: None)
    assert r["vectors"] == n and r["outputs_seen"] == n
    assert r["mismatches"] == 0, r["first_mismatches"][:2]
    if mode == "stream":            # outputs exactly `latency` after their inputs
        assert r["latency_observed"] == [b.data["latency"]]
        assert r["cycles"] >= n * b.data["ii"]


@pytest.mark.usefixtures("fold_every_layer")   # the lanes are under test
def test_split_lanes_that_select_alike_share_a_multiplexer_exactly(tmp_path):
    """A dense layer split at the same inputs (`ir/fold.py`, the dense split): the lanes
    of each chunk read through one multiplexer, in batch and stream, on time."""
    g = random_graph(48, signed_input=True, n_in=9)
    lowered, b = build_rtl(g, tmp_path, HardwareOptions("csd", None, 3, split_outputs=True))
    dense1 = next(n.fold for n in lowered.nodes if isinstance(n, FoldedLinearSum))
    assert dense1.split and dense1.dense and dense1.multiplexers == 3 < len(dense1.lanes)
    assert_exact_in_batch_and_stream(g, b.data, tmp_path / "rtl", tmp_path, 48)


@pytest.mark.usefixtures("fold_every_layer")   # the lanes are under test
def test_a_first_layer_that_latches_by_choice_is_exact(tmp_path):
    """dense1 reads the input registers, which hold by themselves, but latches its inputs
    anyway (`Fold.own_latch`): balanced to dense2's 8 cycles, the cycle that gives back
    fits a dense program on one lane. Exact in batch and stream, on time."""
    g = random_graph(57, sparsity=0.1)
    lowered, b = build_rtl(g, tmp_path, HardwareOptions("csd", None, 2))
    first = next(n.fold for n in lowered.nodes if isinstance(n, FoldedLinearSum))
    assert first.own_latch and first.latch and first.dense and first.cycles == 8
    assert b.data["ii"] == 8
    assert_exact_in_batch_and_stream(g, b.data, tmp_path / "rtl", tmp_path, 57)


@pytest.mark.parametrize("seed", [47, pytest.param(41, marks=_SLOW)])
@pytest.mark.usefixtures("fold_every_layer")   # the lanes are under test
def test_narrow_lane_products_are_logic_exact_and_take_no_dsp(tmp_path, seed):
    """A fold whose input or weight has at most 4 bits multiplies by shift and add
    (`Fold.product_in_logic`; seed 47: a signed 3-bit input, 41: signed 4-bit weights):
    exact in batch and stream, on time; synthesized on its own for ECP5 its layer takes
    no DSP block, and the other, wide one takes one per lane."""
    from hwgen.estimate.yosys import synthesize
    g = random_graph(seed, signed_input=True, n_in=int(seed % 7) + 3)
    lowered, b = build_rtl(g, tmp_path, HardwareOptions("csd", 2, 3))
    folds = {n.layer: n.fold for n in lowered.nodes if isinstance(n, FoldedLinearSum)}
    assert sorted(f.product_in_logic for f in folds.values()) == [False, True]
    assert_exact_in_batch_and_stream(g, b.data, tmp_path / "rtl", tmp_path, seed)
    mods = {r["layer"]: r["module"] for r in b.data["layers"] if r["layer"] in folds}
    per = synthesize(tmp_path / b.data["verilog"], list(mods.values()), b.data["top"],
                     "ecp5", tmp_path / "synth", log=lambda s: None)
    for layer, f in folds.items():
        dsp = per[mods[layer]].get("DSP", 0)
        assert dsp == (0 if f.product_in_logic else f.multipliers), (layer, dsp)


@pytest.mark.parametrize("seed", [3, pytest.param(8, marks=pytest.mark.slow)])
def test_a_batch_norms_constant_multiply_is_shift_add_exact_and_takes_no_dsp(tmp_path, seed):
    """A ScaleShift (a batch normalization hwgen cannot fold into a weight) multiplies by
    its 9-bit scales by shift and add: exact in batch and stream, and Yosys puts none of
    it on a DSP block on ECP5 (a `$mul` by a constant took one per channel)."""
    from hwgen.estimate.yosys import synthesize
    from ..hw_factory import scale_shift_graph
    g = scale_shift_graph(seed)
    _, b = build_rtl(g, tmp_path, HardwareOptions())
    assert_exact_in_batch_and_stream(g, b.data, tmp_path / "rtl", tmp_path, seed)
    (module,) = [r["module"] for r in b.data["layers"] if r["layer"] == "bn"]
    row = synthesize(tmp_path / b.data["verilog"], [module], b.data["top"], "ecp5",
                     tmp_path / "synth", log=lambda s: None)[module]
    assert row.get("DSP", 0) == 0 and row["LUT4"] > 0, row


def test_layered_stream_bench_with_gaps(tmp_path):
    g = random_graph(11, sparsity=0.4)          # ends in softmax: a pipelined argmax
    assert g.softmax_removed
    lowered = pipelines.hardware("csd", 1).run(g)
    b = emit.build(lowered, tmp_path, {})
    r = cosim(g, b.data, tmp_path / "rtl", tmp_path / "sim", 400, 1, mode="stream",
              log=lambda s: None)
    assert r["mismatches"] == 0 and r["outputs_seen"] == 400
    assert r["cycles"] > 400            # idle gaps were inserted
    assert r["latency_observed"] == [b.data["latency"]]   # out_valid after exactly latency


# The large fully parallel designs take minutes to verilate: `make test-all` runs them.
# digits_mlp_pruned too: docs/python.md's block (tests/test_docs.py) co-simulates it by
# default, and the `sim` command runs below (flipped constant, folded zoo design).
FAST_ZOO: set[str] = set()


@pytest.mark.parametrize("name", [
    n if n in FAST_ZOO else pytest.param(n, marks=pytest.mark.slow) for n in design_names()])
def test_zoo_design_cosimulates_bit_exact(tmp_path, name, capsys):
    status = main(["sim", name, "-o", str(tmp_path), "--n", "5000"])
    out = capsys.readouterr().out
    assert "5000 vectors, 0 mismatches" in out
    assert status == 0
    res = json.loads((tmp_path / "sim" / "results.json").read_text())
    assert res["mismatches"] == 0 and res["vectors"] == 5000 and res["cycles"] >= 5000
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["ii"] == 1 and manifest["latency"] >= 2
    assert {r["layer"] for r in manifest["layers"]} <= {n.layer for n in
                                                       hwgen.compile_model(name)[1].nodes}


def _flip_output_constant(verilog: str, module: str) -> str:
    """Change by one LSB the first constant added in the output layer's module."""
    start = verilog.index(f"module \\{module} ")
    m = re.compile(r"([+-] )(\d+)'h([0-9a-f]+);").search(verilog, start)
    assert m is not None, "no added constant in the output layer"
    value = int(m.group(3), 16) ^ 1
    return verilog[:m.start()] + f"{m.group(1)}{m.group(2)}'h{value:x};" + verilog[m.end():]


@pytest.mark.parametrize("mode", ["batch", pytest.param("stream", marks=pytest.mark.slow)])
def test_flipped_constant_is_caught(tmp_path, mode, capsys):
    name = "digits_mlp_pruned"
    assert main(["build", name, "-o", str(tmp_path / "good")]) == 0
    shutil.copytree(tmp_path / "good", tmp_path / "bad")
    manifest = json.loads((tmp_path / "bad" / "manifest.json").read_text())
    v = tmp_path / "bad" / manifest["verilog"]
    v.write_text(_flip_output_constant(v.read_text(), manifest["layers"][-1]["module"]))
    capsys.readouterr()
    status = main(["sim", name, "--rtl-dir", str(tmp_path / "bad" / "rtl"), "--n", "300",
                   "--mode", mode])
    out = capsys.readouterr().out
    assert status == 1
    res = json.loads((tmp_path / "bad" / "sim" / "results.json").read_text())
    assert res["mismatches"] > 0 and res["first_mismatches"]
    assert f"300 vectors, {res['mismatches']} mismatches" in out


@pytest.mark.parametrize("name,reuse,first_latched", [
    ("digits_mlp_pruned", "100", False),
    pytest.param("jet_tagger", "16", True, marks=pytest.mark.slow)])
def test_folded_zoo_design_cosimulates_bit_exact(tmp_path, name, reuse, first_latched,
                                                 capsys):
    status = main(["sim", name, "-o", str(tmp_path), "--n", "3000", "--reuse", reuse])
    assert status == 0 and "3000 vectors, 0 mismatches" in capsys.readouterr().out
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    folded = [r for r in manifest["layers"] if r.get("lanes")]
    assert folded and manifest["ii"] == max(r["interval"] for r in folded) > 1
    # the next layers read chains (latched); the first reads the input registers, which
    # hold, and latches only where the cycle that gives back makes it smaller (the jet
    # tagger's fc1: its lanes then share one multiplexer, tests/passes/test_fold_cost.py)
    assert [r["latched_inputs"] for r in folded] == \
        [first_latched] + [True] * (len(folded) - 1)
    assert manifest["options"]["reuse"] == int(reuse)


# slow: test_power's flow test compares the Verilog of two runs in separate folders
@pytest.mark.slow
def test_two_builds_are_byte_identical(tmp_path):
    _, g = hwgen.compile_model("digits_mlp")
    a = build_rtl(g, tmp_path / "a", HardwareOptions())[1]
    _, g = hwgen.compile_model("digits_mlp")
    b = build_rtl(g, tmp_path / "b", HardwareOptions())[1]
    assert a.verilog.read_bytes() == b.verilog.read_bytes()
    assert a.manifest.read_bytes() == b.manifest.read_bytes()
    for f in sorted((tmp_path / "a" / "passes").iterdir()):
        assert f.read_bytes() == (tmp_path / "b" / "passes" / f.name).read_bytes()
    text = a.verilog.read_text()
    assert str(tmp_path) not in text and "/work" not in text


def test_layers_converted_in_parallel_give_the_same_verilog(tmp_path, monkeypatch):
    """Each layer is converted on its own (`layer_modules`); the worker count changes
    nothing in the output, and every layer with logic is a module the top instantiates."""
    graph = random_graph(3, n_in=6)
    texts = []
    for jobs in ("1", "2"):
        monkeypatch.setenv("HWGEN_RTL_JOBS", jobs)
        rtl = build_rtl(graph, tmp_path / jobs, HardwareOptions())[1]
        texts.append(rtl.verilog.read_text())
    assert texts[0] == texts[1]
    modules = re.findall(r"^module \\?(\S+?) ?\(", texts[0], re.M)
    for row in rtl.data["layers"]:
        if row["module"]:
            assert row["module"] in modules
            instance = r"^\s*\\" + re.escape(row["module"]) + r"\s+" + row["instance"] + r" \("
            assert re.search(instance, texts[0], re.M), row["module"]


def test_layer_module_ports_come_from_its_rtlil():
    from amaranth.back import rtlil
    from amaranth.hdl import Module, Signal, signed
    from amaranth.lib import wiring
    from amaranth.lib.wiring import In, Out
    from hwgen.backends.amaranth.layer_modules import LayerModule

    class Negate(wiring.Component):
        x_0: In(signed(5))
        y_0: Out(signed(6))

        def elaborate(self, platform):
            m = Module()
            r = Signal(signed(6))
            m.d.sync += r.eq(-self.x_0)
            m.d.comb += self.y_0.eq(r)
            return m

    text = rtlil.convert(Negate(), name="t.neg", emit_src=False)
    converted = LayerModule.of("t.neg", text)
    ports = {p.name: (p.direction, p.width, p.signed) for p in converted.ports}
    assert ports == {"x_0": ("input", 5, True), "y_0": ("output", 6, True),
                     "clk": ("input", 1, False), "rst": ("input", 1, False)}
    assert converted.has_cells and "attribute \\top" not in converted.rtlil


def test_manifest_describes_ports_and_formats(tmp_path):
    _, g = hwgen.compile_model("jet_tagger")
    m = build_rtl(g, tmp_path, HardwareOptions(pipeline=3))[1].data
    ports = {p["name"]: p for p in m["ports"]}
    assert ports["in_data"]["width"] == 16 * 16
    assert [e["lsb"] for e in m["input"]["elements"]] == list(range(0, 256, 16))
    assert m["output"]["logits"] and m["output"]["argmax"]["width"] == 3
    assert ports["out_data"]["width"] == 5 * 16 + 3
    assert [r["layer"] for r in m["layers"]] == ["fc1", "relu1", "fc2", "relu2", "fc3",
                                                 "relu3", "output"]
    assert m["options"] == {"mult": "csd", "pipeline": 3, "reuse": 1}


def test_sim_rejects_a_missing_rtl_dir(tmp_path, capsys):
    status = main(["sim", "digits_mlp", "--rtl-dir", str(tmp_path / "nope")])
    assert status == 2
    assert "is not a folder" in capsys.readouterr().err


def test_bad_hardware_option_is_a_clear_error(capsys):
    with pytest.raises(SystemExit) as exc:       # refused where it is parsed
        main(["build", "digits_mlp", "--pipeline", "-1"])
    assert exc.value.code == 2
    assert "argument --pipeline: must be at least 0" in capsys.readouterr().err
    with pytest.raises(HwgenError, match="pipeline must be a whole number of levels"):
        HardwareOptions(pipeline=-1)             # and where the options are made



def test_waves_write_an_fst_file(tmp_path):
    g = random_graph(11)
    lowered = pipelines.hardware("csd", 2).run(g)
    b = emit.build(lowered, tmp_path, {})
    r = cosim(g, b.data, tmp_path / "rtl", tmp_path / "sim", 50, 0, waves=True,
              log=lambda s: None)
    assert r["mismatches"] == 0
    fst = tmp_path / "sim" / r["waves"]
    assert fst.exists() and fst.stat().st_size > 0


def test_verilator_override_must_exist(tmp_path, monkeypatch):
    from hwgen import toolchain
    from hwgen.errors import HwgenError
    monkeypatch.setenv("HWGEN_VERILATOR", str(tmp_path / "no-verilator"))
    with pytest.raises(HwgenError, match="HWGEN_VERILATOR"):
        toolchain.verilator_env()


# slow: the fuzz seeds in tests/test_fuzz.py co-simulate random QKeras models with options
@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 4] + [pytest.param(s, marks=pytest.mark.slow)
                                           for s in (9, 14, 22, 37)])
def test_random_qkeras_models_cosimulate_bit_exact(tmp_path, seed):
    """Models no one tuned hwgen for: random QKeras layers, quantizers and batch-norms,
    through the real frontend, RTL and Verilator."""
    from hwgen.frontends.loader import load
    from hwgen.frontends.qkeras import to_ir
    from hwgen.options import FrontendOptions
    from ..model_factory import random_model
    model, in_fmt, desc = random_model(seed)
    graph = to_ir(load(model), FrontendOptions.from_strings(in_fmt))
    mult = "dsp" if seed % 2 else "csd"
    lowered = pipelines.hardware(mult, seed % 3).run(graph)
    b = emit.build(lowered, tmp_path, {"mult": mult})
    r = cosim(graph, b.data, tmp_path / "rtl", tmp_path / "sim", 2000, seed, log=lambda s: None)
    assert r["mismatches"] == 0, (desc, r["first_mismatches"][:2])


# slow: 80 s, and only where ../shared/models exists (a CI clone may have it, the fresh
# clone the documented time is measured in does not); test_designs.py checks the same model's
# reference against QKeras by default, and the zoo co-simulations cover its layer kinds.
@pytest.mark.slow
def test_real_qkeras_jet_tagger_cosimulates_bit_exact(tmp_path, shared_models, capsys):
    status = main(["sim", str(shared_models / "qkeras_3layer.json"), "-o", str(tmp_path),
                   "--n", "20000"])
    assert status == 0
    assert "20000 vectors, 0 mismatches" in capsys.readouterr().out


def _vcd_changes(path):
    """(time, signal name) of every value change in a VCD file."""
    names, changes, now = {}, [], 0
    for line in open(path):
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "$var":
            names.setdefault(parts[3], parts[4])
        elif parts[0].startswith("#"):
            now = int(parts[0][1:])
        elif parts[0][0] in "01xz" and len(parts) == 1:
            changes.append((now, names.get(parts[0][1:], "?")))
        elif parts[0][0] in "br" and len(parts) == 2:
            changes.append((now, names.get(parts[1], "?")))
    return changes


def test_idle_datapath_does_not_toggle(tmp_path):
    """After the last output, with in_valid low, only the clock may change: no register
    loads and no adder input moves (the clock enables at work)."""
    g = random_graph(7, sparsity=0.2)
    b = emit.build(pipelines.hardware("csd", 1).run(g), tmp_path, {})
    r = cosim(g, b.data, tmp_path / "rtl", tmp_path / "sim", 60, 0, mode="stream",
              waves=True, log=lambda s: None)
    assert r["mismatches"] == 0
    changes = _vcd_changes(tmp_path / "sim" / r["waves"])
    last_out = max(t for t, name in changes if name == "out_valid")
    later = {name for t, name in changes if t > last_out and name != "clk"}
    busy = {name for t, name in changes if t <= last_out}
    assert any(n.startswith("s1_") for n in busy)    # internal registers are traced
    idle_edges = sum(1 for t, name in changes if t > last_out and name == "clk")
    assert idle_edges >= 6                       # at least three idle clock cycles seen
    assert later == set(), later


# slow: the CLI export with automatic reuse and the early-stop test cover build_fitting
@pytest.mark.slow
@pytest.mark.usefixtures("fold_every_layer")   # the lanes are under test
def test_reuse_auto_takes_the_smallest_factor_that_fits(tmp_path, monkeypatch):
    from hwgen.errors import HwgenError
    from hwgen.flow import AUTO_REUSE, build_fitting, steps
    g = random_graph(13, sparsity=0.3, n_in=8)
    tried = []

    def fits(manifest, total):            # a device too small for the fully parallel layers
        if manifest["options"]["reuse"] not in tried:
            tried.append(manifest["options"]["reuse"])
        if manifest["ii"] == 1:
            raise HwgenError(f"needs {total['LUT']} LUT")

    lowered, rtl, resources = build_fitting(g, tmp_path, HardwareOptions(), "xc7", fits,
                                            log=lambda s: None)
    assert tried == list(AUTO_REUSE[:2]) and rtl.data["options"]["reuse"] == AUTO_REUSE[1]
    assert rtl.data["ii"] > 1 and resources["total"]["LUT"] > 0
    assert "unfinished" not in resources          # the chosen candidate is synthesized whole
    monkeypatch.setattr(steps, "AUTO_REUSE", AUTO_REUSE[:2])  # the same two, cached
    with pytest.raises(HwgenError, match="needs"):     # fits nowhere: the last error
        build_fitting(g, tmp_path, HardwareOptions(), "xc7",
                      lambda m, t: (_ for _ in ()).throw(HwgenError("needs more")),
                      log=lambda s: None)


def test_reuse_auto_stops_synthesis_once_finished_layers_do_not_fit(tmp_path, monkeypatch):
    from hwgen import flow
    from hwgen.errors import HwgenError
    from hwgen.estimate.resources import estimate
    from hwgen.flow import steps
    monkeypatch.setenv("HWGEN_YOSYS_CACHE", "0")    # the second run synthesizes too
    g = random_graph(15, sparsity=0.3, n_in=8)    # (13 is a constant once dead logic goes)
    _, rtl = build_rtl(g, tmp_path / "whole", HardwareOptions())
    whole = estimate(tmp_path / "whole", rtl.data, "ecp5", log=lambda s: None)
    modules = [r for r in whole["layers"] if r["module"]]     # layers with logic + the top

    def slots(t):                         # LUT4 slots: a CCU2C takes two
        return t["LUT4"] + 2 * t["CCU2C"]

    assert sum(1 for r in modules if slots(r)) >= 3
    seen = []

    def fits(manifest, total):            # a device with no LUTs: any layer with one is over
        seen.append(slots(total))
        if slots(total):
            raise HwgenError(f"needs {slots(total)} LUT4 slots")

    monkeypatch.setattr(steps, "AUTO_REUSE", (1,))       # where build_fitting reads it
    messages = []
    with pytest.raises(HwgenError, match="lower bound") as err:
        flow.build_fitting(g, tmp_path / "auto", HardwareOptions(), "ecp5", fits,
                           log=messages.append)
    # The first layer with LUTs to finish stops the run: the count in the error is a part
    # of the whole, and (2 jobs) at most the one other running layer was started besides
    # the layers without LUTs.
    assert 0 < seen[-1] < slots(whole["total"])
    assert "not synthesized" in str(err.value)
    synthesized = [m for m in messages if m.endswith(": synthesizing")]
    assert len(synthesized) < len(modules), (synthesized, modules)


def test_reuse_auto_leaves_ecp5_room_to_route():
    from hwgen.errors import HwgenError
    from hwgen.flow import fits_for_auto, target_device
    manifest = {"ports": []}
    # The real QKeras jet tagger's Yosys estimate, fully parallel (offset binary): 84 % of
    # the 85F's LUT slots, which nextpnr now packs as counted (packed_cells): it fits the
    # device but is too congested to route in reasonable time.
    tagger = {"LUT4": 37_244, "CCU2C": 16_527, "FF": 14_913, "DSP": 0}
    assert target_device("ecp5", manifest, tagger) == "85k"
    with pytest.raises(HwgenError, match="needs 70298 LUT4 slots.*too congested"):
        fits_for_auto("ecp5", manifest, tagger)
    # over the device: the logic cells named as nextpnr packs them
    with pytest.raises(HwgenError, match=r"needs 90298 logic cells \(LUT4s, and CCU2C"):
        target_device("ecp5", manifest, dict(tagger, LUT4=57_244))
    # 80 % of the LUT slots, within the 85F once packed: too congested to route
    with pytest.raises(HwgenError, match="too congested"):
        fits_for_auto("ecp5", manifest, dict(tagger, LUT4=50_000, CCU2C=8_000))
    # The zoo jet tagger in two's complement: 60 % of the slots, 58 % of them in carry
    # chains, which nextpnr could not place with its feed cells and, without them, did not
    # route in 40 minutes; digits_mlp's 29 % placed and routed.
    jet = {"LUT4": 1_529, "CCU2C": 24_240, "FF": 8_441, "DSP": 0}
    with pytest.raises(HwgenError, match="carry chains take 48480 LUT4 slots, over 30%"):
        fits_for_auto("ecp5", manifest, jet)
    assert fits_for_auto("ecp5", manifest, {"LUT4": 21_700, "CCU2C": 12_100, "FF": 9_900,
                                            "DSP": 0}) == "85k"
    assert fits_for_auto("ecp5", manifest, dict(tagger, LUT4=5000, CCU2C=1000)) == "25k"


def test_batch_cosimulation_split_over_processes(tmp_path):
    """40,001 vectors: the random ones are split over one simulator process per core (at
    most 2 here); every shard's outputs are checked."""
    import os
    g = random_graph(3, sparsity=0.2)
    b = emit.build(pipelines.hardware("csd", 2).run(g), tmp_path, {})
    r = cosim(g, b.data, tmp_path / "rtl", tmp_path / "sim", 40_001, 5, log=lambda s: None)
    assert r["processes"] == min(os.cpu_count() or 1, 2)
    assert r["vectors"] == 40_001 and r["outputs_seen"] == 40_001 and r["mismatches"] == 0


def test_default_schedule_latency_holds_in_stream_mode(tmp_path, capsys):
    """`hwgen sim --mode stream` with every option at its default: each output comes
    exactly the manifest's latency after its input, through idle gaps."""
    g = random_graph(8, sparsity=0.1)
    b = emit.build(pipelines.hardware().run(g), tmp_path, {})
    r = cosim(g, b.data, tmp_path / "rtl", tmp_path / "sim", 300, 2, mode="stream",
              log=lambda s: None)
    assert r["mismatches"] == 0 and r["latency_observed"] == [b.data["latency"]]
    assert b.data["latency"] >= 2


@pytest.mark.parametrize("reuse", [1, 4])
def test_reset_in_mid_stream_flushes_the_pipeline(tmp_path, reuse):
    """Reset while vectors are in flight (fully parallel and folded): no stale output
    after it, and the next vectors are exact and on time."""
    import numpy as np
    from hwgen.ir import interp
    from hwgen.sim import stimulus
    from hwgen.sim.runner import run_top
    g = random_graph(6, sparsity=0.2)
    b = emit.build(pipelines.hardware("csd", 1, reuse).run(g), tmp_path, {})
    assert b.data["latency"] >= 3
    codes, _ = stimulus.all_codes(b.data, 60, 4)
    np.save(tmp_path / "inputs.npy", codes)
    expected = interp.run(g, codes.reshape((len(codes),) + tuple(g.input.shape)))
    np.save(tmp_path / "expected.npy", np.asarray(expected).reshape(len(codes), -1))
    sources = sorted((tmp_path / "rtl").glob("*.v"))
    r = run_top(sources, b.data["top"], "midreset", tmp_path / "midreset", {
        "manifest": str((tmp_path / "manifest.json").resolve()),
        "inputs": str((tmp_path / "inputs.npy").resolve()),
        "expected": str((tmp_path / "expected.npy").resolve())}, log=lambda s: None)
    assert r["vectors"] == 30 and r["outputs_seen"] == 30, r
    assert r["mismatches"] == 0, r["first_mismatches"][:2]
    assert r["latency_observed"] == [b.data["latency"]]


@pytest.mark.parametrize("first", ["quantized_bits(8,0,1)", "quantized_bits(6,2,symmetric=1)"])
def test_symmetric_input_quantizer_saturates_the_most_negative_code(tmp_path, first):
    """A model whose first layer is a symmetric quantizer takes its input grid from it:
    the grid's most negative code (-2^(b-1)) is on the grid but outside the quantizer's
    range and must become -(2^(b-1) - 1) in the RTL too (it once passed through, since
    the code fitted the output type)."""
    import numpy as np
    import tensorflow as tf
    from qkeras import QActivation, QDense

    from hwgen.frontends.loader import load
    from hwgen.frontends.qkeras import to_ir
    from hwgen.options import FrontendOptions
    from ..model_factory import quantizer
    inp = tf.keras.Input((4,), name="x")
    x = QActivation(quantizer(first), name="in_q")(inp)
    x = QDense(2, kernel_quantizer=quantizer("quantized_bits(6,0,alpha=1)"),
               bias_quantizer=quantizer("quantized_bits(6,0,alpha=1)"), name="d")(x)
    model = tf.keras.Model(inp, x, name="symin")
    model.set_weights([np.random.default_rng(3).normal(0, 0.5, w.shape) for w in
                       model.get_weights()])
    graph = to_ir(load(model), FrontendOptions())
    t = graph.input.type
    _, rtl = build_rtl(graph, tmp_path, HardwareOptions())
    r = cosim(graph, rtl.data, tmp_path / "rtl", tmp_path / "sim", 300, 0, log=lambda s: None)
    assert r["mismatches"] == 0, r["first_mismatches"][:2]
    # the stimulus holds the most negative code (a corner), which the quantizer moves
    from hwgen.sim import stimulus
    codes, _ = stimulus.all_codes(rtl.data, 300, 0)
    assert (codes == t.min_code).any() and graph.node("in_q").overflow.value == "SAT_SYM"
