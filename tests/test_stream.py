"""The streaming form (`--io stream`): the cut into stages, each stage's scan against the
window it streams (every geometry: kernels, strides, dilation, padding, cropping), and
random CNNs in Verilator, every output bit, through the pixel handshake (the batch
harness streams images; the cocotb bench checks the manifest's latency and II against the
RTL); models that cannot stream get a clear error."""
import numpy as np
import pytest

import hwgen
from hwgen.errors import UnsupportedError
from hwgen.flow import build_rtl
from hwgen.frontends.loader import load
from hwgen.frontends.qkeras import to_ir
from hwgen.ir import stream
from hwgen.ir.stream import Scan
from hwgen.ops.window import Window, same_pads
from hwgen.options import FrontendOptions, HardwareOptions
from hwgen.sim.runner import cosim

from .conv_factory import random_conv_model
from .cosim_checks import assert_exact_in_images_and_pixels
from .model_factory import quantizer


def test_digits_cnn_streams_as_two_stages_and_a_tail():
    _, graph = hwgen.compile_model("digits_cnn")
    plan = stream.plan(graph)
    assert [s.nodes for s in plan.stages] == [("conv1", "relu1"), ("pool1",)]
    assert plan.stages[0].scan.extent == (3, 3) and plan.stages[1].scan.strides == (2, 2)
    assert plan.collected.name == "pool1"
    assert [n.name for n in plan.tail.nodes] == ["pool1", "flatten", "output"]
    assert [n.op for n in plan.stages[0].pixel.nodes] == ["input", "conv", "quantize"]


def _replay(scan: Scan, dilation) -> list[list[int]]:
    """The line buffer in Python: per emitted window, the input pixel each kernel tap
    reads (-1: padding), in the order the stage emits them."""
    hs, ws = scan.scan
    line, out, k = [], [], 0
    (kh, kw) = ((scan.extent[0] - 1) // dilation[0] + 1, (scan.extent[1] - 1) // dilation[1] + 1)
    for py in range(hs):
        for px in range(ws):
            real = scan.real_rows[py] and scan.real_cols[px]
            line.insert(0, k if real else -1)
            k += bool(real)
            if scan.emit_rows[py] and scan.emit_cols[px]:
                out.append([line[scan.tap(dy * dilation[0], dx * dilation[1])]
                            for dy in range(kh) for dx in range(kw)])
    return out


@pytest.mark.parametrize("seed", range(40))
def test_a_stage_scan_reads_the_windows_of_its_op(seed):
    """Every geometry: the taps the stream control hands over equal `Window.taps`."""
    rng = np.random.default_rng(seed)
    h, w = (1, int(rng.integers(3, 12))) if seed % 3 == 0 else \
        (int(rng.integers(3, 9)), int(rng.integers(3, 9)))
    kh = 1 if h == 1 else int(rng.integers(1, min(h, 4) + 1))
    kw = int(rng.integers(1, min(w, 4) + 1))
    strides = (1 if h == 1 else int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    dil = (1, 1) if strides != (1, 1) or seed % 2 else (1 if h == 1 else int(rng.integers(1, 3)), 2)
    if (kh - 1) * dil[0] + 1 > h or (kw - 1) * dil[1] + 1 > w:
        dil = (1, 1)
    pads = (0, 0, 0, 0)
    if seed % 4 == 1:
        pads = same_pads(h, kh, strides[0], dil[0]) + same_pads(w, kw, strides[1], dil[1])
    win = Window((h, w), (kh, kw), strides, dil, pads)
    scan = Scan((h, w), 1, pads, ((kh - 1) * dil[0] + 1, (kw - 1) * dil[1] + 1), strides)
    assert scan.out_image == win.out_image
    assert _replay(scan, dil) == win.taps.tolist()


def test_cropping_and_padding_scans():
    crop = Scan((5, 6), 1, crop=(1, 2, 0, 1))
    assert crop.out_image == (2, 5)
    pad = Scan((2, 3), 1, pads=(1, 0, 2, 1))
    assert pad.out_image == (3, 6) and pad.steps == 18 and int(
        np.outer(pad.real_rows, pad.real_cols).sum()) == 6


def test_models_that_cannot_stream_get_a_clear_error(tmp_path):
    import tensorflow as tf
    from qkeras import QActivation, QConv2D

    from .model_factory import quantizer
    _, mlp = hwgen.compile_model("digits_mlp")
    with pytest.raises(UnsupportedError, match="--io stream streams images"):
        stream.plan(mlp)
    inp = tf.keras.Input((6, 6, 1), name="x")
    q = QActivation(quantizer("quantized_bits(6,2)"), name="q")(inp)
    c = QConv2D(1, 3, padding="same", kernel_quantizer=quantizer("quantized_bits(4,0)"),
                use_bias=False, name="c")(q)
    s = tf.keras.layers.Add(name="skip")([c, q])
    out = tf.keras.layers.Flatten(name="f")(s)
    graph = to_ir(load(tf.keras.Model(inp, out, name="skipcnn")))
    plan = stream.plan(graph)           # the stream stops where the branch starts
    assert [s.nodes for s in plan.stages] == [("q",)]
    assert [n.name for n in plan.tail.nodes] == ["q", "c", "skip", "f"]
    assert "ends after 'q' at a branch: c then run fully parallel" in plan.notes[0]


# The default case is 2-D, folded, with its line buffers' gaps and its output FIFOs in RAM
# (the thresholds lowered): every part of a stage at once.
COSIM = [(2, 3, True), pytest.param(1, 1, False, marks=pytest.mark.slow),
         pytest.param(5, 1, False, marks=pytest.mark.slow),
         pytest.param(8, 2, True, marks=pytest.mark.slow),
         pytest.param(13, 1, False, marks=pytest.mark.slow)]


@pytest.mark.parametrize("seed,reuse,ram", COSIM)
def test_random_cnn_streams_bit_exact(tmp_path, monkeypatch, seed, reuse, ram):
    from hwgen.backends.amaranth import stream as stream_rtl
    model, fmt, desc = random_conv_model(seed)
    graph = to_ir(load(model), FrontendOptions.from_strings(fmt, ["fixed<8,2>"]))
    if ram:       # line buffers' gaps and output FIFOs in RAM, as a large image's are
        monkeypatch.setattr(stream_rtl, "LINE_RAM_BITS", 1)
        monkeypatch.setattr(stream_rtl, "FIFO_RAM_DEPTH", 3)
    _, rtl = build_rtl(graph, tmp_path, HardwareOptions("csd", 2, reuse, io="stream"))
    if ram:       # every FIFO of 3 or more entries is block RAM (SyncFIFOBuffered)
        rows = rtl.data["stream"]["stages"]
        assert [r["fifo_in_ram"] for r in rows] == [r["fifo_depth"] >= 3 for r in rows]
        assert any(r["fifo_in_ram"] for r in rows), desc
    if ram:       # every stage with two window rows and a gap of 2 pixels has a RAM
        from hwgen.ir import stream
        gaps = any(s.scan.extent[0] >= 2 and s.scan.scan[1] - s.scan.extent[1] >= 2
                   for s in stream.plan(graph).stages)
        assert any(r["line_buffer_ram_bits"] for r in rtl.data["stream"]["stages"]) == gaps, \
            desc
    assert rtl.data["io"] == "stream" and rtl.data["stream"]["stages"]
    fast = cosim(graph, rtl.data, tmp_path / "rtl", tmp_path / "sim", 600, seed,
                 log=lambda s: None)
    assert fast["outputs_seen"] == 600 and fast["mismatches"] == 0, \
        (desc, fast["first_mismatches"][:2])
    bench = cosim(graph, rtl.data, tmp_path / "rtl", tmp_path / "pixels", 10, seed,
                  mode="pixels", log=lambda s: None)
    assert bench["mismatches"] == 0, (desc, bench.get("latency_error"),
                                      bench["first_mismatches"][:2])
    assert bench["latency_observed"] == [rtl.data["latency"]]


@pytest.mark.slow       # the default stream case above has its gaps in RAM too
@pytest.mark.parametrize("seed", [2, 4])       # 2-D: window rows
def test_line_buffers_in_ram_stream_bit_exact(tmp_path, monkeypatch, seed):
    """With the RAM threshold lowered, every gap between window rows is a RAM delay line
    (as a large image's would be): the same outputs, latency and II."""
    from hwgen.backends.amaranth import stream as stream_rtl
    model, fmt, desc = random_conv_model(seed)
    graph = to_ir(load(model), FrontendOptions.from_strings(fmt, ["fixed<8,2>"]))
    hw = HardwareOptions("csd", 2, 1, io="stream")
    _, regs = build_rtl(graph, tmp_path / "regs", hw)
    monkeypatch.setattr(stream_rtl, "LINE_RAM_BITS", 1)
    _, rtl = build_rtl(graph, tmp_path / "ram", hw)
    rows = rtl.data["stream"]["stages"]
    assert any(r["line_buffer_ram_bits"] for r in rows), desc
    assert "reg " in rtl.verilog.read_text() and "line_ram_" in rtl.verilog.read_text()
    assert (rtl.data["latency"], rtl.data["ii"]) == (regs.data["latency"], regs.data["ii"])
    fast = cosim(graph, rtl.data, tmp_path / "ram" / "rtl", tmp_path / "sim", 400, seed,
                 log=lambda s: None)
    assert fast["mismatches"] == 0 and fast["outputs_seen"] == 400, desc


def test_io_auto_streams_a_cnn_too_large_for_full_rate_and_keeps_an_mlp_parallel(tmp_path):
    from hwgen.flow.run import build
    lines = []
    _, cnn = hwgen.compile_model("digits_cnn")          # 3,256 products: over 3,000
    _, rtl = build(cnn, tmp_path / "cnn", HardwareOptions(), False, "ecp5",
                   log=lines.append, auto_io=True)
    assert rtl.data["io"] == "stream"
    assert any("io auto: streaming (3256 products" in s for s in lines), lines
    lines.clear()
    _, mlp = hwgen.compile_model("digits_mlp_pruned")
    _, rtl = build(mlp, tmp_path / "mlp", HardwareOptions(), False, "asic",
                   log=lines.append, auto_io=True)
    assert "io" not in rtl.data and any("io auto: parallel" in s for s in lines), lines


@pytest.mark.parametrize("quantized", [False, True])
def test_a_flat_input_reshaped_to_an_image_streams(tmp_path, quantized):
    """Input(36) -> Reshape(6, 6, 1) -> conv: the flat vector's order is the image's raster
    order, so its elements stream as pixels. An input quantizer before the Reshape (the
    usual QKeras model) is per element, so the Reshape moves before it and the quantizer
    streams too; the stream is exact in Verilator."""
    import tensorflow as tf
    from qkeras import QActivation, QConv2D

    from .cosim_checks import assert_exact_in_images_and_pixels
    from .model_factory import quantizer
    inp = tf.keras.Input((36,), name="x")
    x = QActivation(quantizer("quantized_bits(5,1,1)"), name="q")(inp) if quantized else inp
    x = tf.keras.layers.Reshape((6, 6, 1), name="image")(x)
    x = QConv2D(2, 3, kernel_quantizer=quantizer("quantized_bits(4,0)"), use_bias=False,
                name="c")(x)
    x = QActivation(quantizer("quantized_relu(4,2)"), name="r")(x)
    x = tf.keras.layers.Flatten(name="f")(x)
    model = tf.keras.Model(inp, x, name="flatcnn")
    model.set_weights([np.random.default_rng(0).normal(0, 0.5, w.shape) for w in
                       model.get_weights()])
    graph = to_ir(load(model), FrontendOptions.from_strings("fixed<6,2>"))
    assert [s.nodes for s in stream.plan(graph).stages] == \
        ([("q",)] if quantized else []) + [("c", "r")]
    _, rtl = build_rtl(graph, tmp_path, HardwareOptions(io="stream"))
    assert len(rtl.data["input"]["pixel_elements"]) == 1 and rtl.data["ii"] == 36
    assert rtl.data["input"]["shape"] == [36] and rtl.data["ports"][4]["width"] == 6
    if quantized:
        assert_exact_in_images_and_pixels(graph, rtl.data, tmp_path / "rtl", tmp_path, 200, 0)


def test_rate_matched_folding_keeps_the_image_interval_and_is_bit_exact(tmp_path):
    """`--reuse auto`'s first streaming candidate: the late layers (here the
    stride-2 conv and the dense tail) fold, the first keep a pixel per clock, the image
    interval stays the unfolded one, and the RTL is exact."""
    import dataclasses

    from hwgen.flow.steps import rate_matched_reuse

    from .conv_factory import strided_cnn_graph
    graph = strided_cnn_graph(10)
    hw = HardwareOptions(io="stream")
    chosen = rate_matched_reuse(graph, hw)
    assert chosen.get("out", 1) > 1 and "c1" not in chosen, chosen
    _, rtl = build_rtl(graph, tmp_path / "rate", dataclasses.replace(hw, layer_reuse=chosen))
    assert rtl.data["ii"] == 10 * 10      # the unfolded stream's: a pixel per clock
    folded = [r for r in rtl.data["stream"]["stages"] if r["pixel_ii"] > 1]
    assert rtl.data["stream"]["tail"]["ii"] > 1 or folded
    fast = cosim(graph, rtl.data, tmp_path / "rate" / "rtl", tmp_path / "sim", 300, 1,
                 log=lambda s: None)
    assert fast["mismatches"] == 0, fast["first_mismatches"][:2]
    # (the pixel bench checks a folded stream's latency and II in the cases above)


def test_reuse_auto_tries_a_streams_rate_matched_folds_in_place_of_reuse_1(tmp_path):
    """The rate-matched fold first, then folds at 2, 4, 8 times its image interval (each
    a different one, each folding more), then the global factors."""
    from hwgen.flow.steps import (AUTO_REUSE, MATCH_REUSE, STREAM_SLACK, fitting_candidates,
                                  rate_matched_ladder, rate_matched_reuse)

    from .conv_factory import strided_cnn_graph
    graph = strided_cnn_graph(10)
    stream = HardwareOptions(io="stream")
    candidates = fitting_candidates(graph, stream)
    matched = [c for c in candidates if c.layer_reuse]
    assert candidates[:len(matched)] == matched and len(matched) > 1
    assert all(c.reuse == 1 and c.split_outputs for c in matched)
    assert matched[0].layer_reuse == rate_matched_reuse(graph, stream) != {}
    ladder = rate_matched_ladder(graph, stream, MATCH_REUSE, STREAM_SLACK)
    assert [c.layer_reuse for c in matched] == \
        [m for k, m in enumerate(ladder) if m and m not in ladder[:k]]
    assert [c.reuse for c in candidates[len(matched):]] == list(AUTO_REUSE[1:])
    # the ladder's image intervals, by the RTL's own timing: the first is the unfolded
    # stream's, the others longer, none over STREAM_SLACK[-1] times it
    unfolded = build_rtl(graph, tmp_path / "plain", stream)[1].data["ii"]
    intervals = [build_rtl(graph, tmp_path / str(k), c)[1].data["ii"]
                 for k, c in enumerate(matched)]
    assert intervals[0] == unfolded < max(intervals) <= unfolded * STREAM_SLACK[-1]
    parallel = fitting_candidates(graph, HardwareOptions())  # not a stream: as given
    assert [(c.reuse, c.layer_reuse) for c in parallel] == [(r, {}) for r in AUTO_REUSE]


def test_a_stream_reuse_naming_no_foldable_layer_is_refused_before_building(tmp_path):
    """`build_rtl` called directly (not through the API's check) still refuses a per-layer
    reuse for a layer that does not fold, and names the ones that do."""
    from hwgen.errors import HwgenError

    from .conv_factory import small_cnn_graph
    graph = small_cnn_graph()
    with pytest.raises(HwgenError, match=r"reuse: the model has no dense or convolution "
                       r"layer named 'r'; its dense or convolution layers are: c, d"):
        build_rtl(graph, tmp_path, HardwareOptions(io="stream", layer_reuse={"r": 4}))
    assert not (tmp_path / "rtl").exists()


def _tail_graph(outputs: int, keep: int | None = None):
    """A 6x6 image, a 1x1 conv into 8 channels, then a dense tail of 288 inputs (more
    than the 36-cycle image interval) into `outputs`; `keep`: non-zero weights kept in
    the tail's kernel (the rest pruned)."""
    import tensorflow as tf
    from qkeras import QActivation, QConv2D, QDense
    w = dict(kernel_quantizer=quantizer("quantized_bits(6,0,alpha=1)"),
             bias_quantizer=quantizer("quantized_bits(6,0,alpha=1)"))
    inp = tf.keras.Input((6, 6, 1), name="image")
    x = QActivation(quantizer("quantized_bits(8,0,1)"), name="in_q")(inp)
    x = QConv2D(8, 1, activation=quantizer("quantized_relu(6,2)"), name="c1", **w)(x)
    x = tf.keras.layers.Flatten(name="flat")(x)
    x = QDense(outputs, name="out", **w)(x)
    model = tf.keras.Model(inp, x, name="wide_tail")
    weights = [np.random.default_rng(0).normal(0, 0.5, v.shape)
               for v in model.get_weights()]
    if keep is not None:
        kernel = weights[2].reshape(-1)
        kernel[np.random.default_rng(1).permutation(kernel.size)[keep:]] = 0
    model.set_weights(weights)
    return to_ir(load(model), FrontendOptions())


def test_rate_matched_folding_splits_a_wide_dense_tail_at_the_same_inputs():
    """A tail wider than the image interval meets it only with its outputs split over
    lanes. Split at the same inputs (the dense split), 27 lanes read through 9
    multiplexers of 32 inputs; the sparse split would give every lane its own, which made
    KERAS_conv2d_model's 128 x 10 tail larger than fully parallel. The fold is smaller
    than the tail's adder graph by the cost model (built and co-simulated in the next
    test)."""
    from hwgen.flow.steps import rate_matched_reuse
    from hwgen.ir import fold_cost
    from hwgen.ops import FoldedLinearSum
    from hwgen.passes.fold_layers import full_rate_cells
    from hwgen.passes.pipelines import hardware
    graph = _tail_graph(3)
    hw = HardwareOptions(io="stream")
    chosen = rate_matched_reuse(graph, hw)
    assert chosen == {"out": 32}, chosen
    low = hardware("csd", None, 1, chosen, split_outputs=True).run(graph)
    tail = next(n for n in low.nodes if isinstance(n, FoldedLinearSum))
    assert tail.fold.split and tail.fold.dense
    assert (len(tail.fold.lanes), tail.fold.multiplexers) == (27, 9)
    src = low.sources(tail)
    folded = fold_cost.folded_cells(tail.fold, 1, src.size, "ecp5")
    assert folded < full_rate_cells(tail.linear, src, "ecp5") / 2


# slow: test_rate_matched_folding_keeps_the_image_interval_and_is_bit_exact co-simulates a
# rate-matched stream by default, and tests/backends/test_rtl.py split lanes
@pytest.mark.slow
def test_a_rate_matched_split_tail_is_bit_exact(tmp_path):
    """The split tail above in Verilator, at the unfolded stream's image interval."""
    import dataclasses

    from hwgen.flow.steps import rate_matched_reuse
    graph = _tail_graph(3)
    hw = HardwareOptions(io="stream")
    chosen = rate_matched_reuse(graph, hw)
    _, rtl = build_rtl(graph, tmp_path / "rate", dataclasses.replace(
        hw, layer_reuse=chosen, split_outputs=True))
    # The unfolded stream's interval is its 6 x 6 pixels, one a clock (no stream is faster)
    assert rtl.data["ii"] == 6 * 6
    assert rtl.data["stream"]["tail"]["ii"] > 1
    assert_exact_in_images_and_pixels(graph, rtl.data, tmp_path / "rate" / "rtl", tmp_path,
                                      300, 1)


def test_rate_matched_folding_leaves_a_tail_cheaper_at_full_rate():
    """The same tail with four non-zero weights: its few adders cost less than a lane,
    so the rate-matched fold leaves it at full rate (`FoldLayers`, ir/fold_cost.py)."""
    from hwgen.flow.steps import rate_matched_reuse
    chosen = rate_matched_reuse(_tail_graph(3, keep=4), HardwareOptions(io="stream"))
    assert "out" not in chosen, chosen


def _wide_stage_graph():
    """After a first stage, a 5x5 stride-4 kernel over 4 channels into 2 (100 products an
    output, 16 output pixels in a 400-pixel image)."""
    import tensorflow as tf
    from qkeras import QActivation, QConv2D, QDense
    w = dict(kernel_quantizer=quantizer("quantized_bits(4,0,alpha=1)"),
             bias_quantizer=quantizer("quantized_bits(4,0,alpha=1)"))
    inp = tf.keras.Input((20, 20, 4), name="image")
    x = QActivation(quantizer("quantized_bits(4,0,1)"), name="in_q")(inp)
    x = QConv2D(4, 1, activation=quantizer("quantized_relu(4,2)"), name="first", **w)(x)
    x = QConv2D(2, 5, strides=4, activation=quantizer("quantized_relu(6,2)"), name="wide",
                **w)(x)
    x = tf.keras.layers.Flatten(name="flat")(x)
    x = QDense(2, name="out", **w)(x)
    model = tf.keras.Model(inp, x, name="wide_stage")
    model.set_weights([np.random.default_rng(1).normal(0, 0.5, v.shape)
                       for v in model.get_weights()])
    return to_ir(load(model), FrontendOptions())


def test_a_stage_of_few_wide_outputs_folds_split_and_only_where_lanes_are_smaller():
    """A lane that owned whole outputs of the wide stage would take 101 cycles an output
    pixel, more than the 4 pixels between its outputs along a row, so a fold of it splits
    the outputs over lanes. The factors this small image allows (2 and 4) need 50-100
    lanes, more cells than the stage's adders (`ir/fold_cost.py`): the rate-matched fold
    leaves it at full rate."""
    from hwgen.flow.steps import rate_matched_reuse
    from hwgen.ops import FoldedLinearSum
    from hwgen.passes.pipelines import hardware
    graph = _wide_stage_graph()
    chosen = rate_matched_reuse(graph, HardwareOptions(io="stream"), (1, 2, 4, 8))
    assert "wide" not in chosen and "first" not in chosen, chosen
    low = hardware("csd", None, 1, {"wide": 4}, split_outputs=True).run(graph)
    wide = [n for n in low.nodes if isinstance(n, FoldedLinearSum) and n.layer == "wide"]
    assert wide and wide[0].fold.split and wide[0].fold.cycles <= 4


@pytest.mark.slow       # builds and simulates a 1,600-input stream (minutes)
def test_a_split_stream_stage_stays_exact_and_keeps_the_image_interval(tmp_path):
    import dataclasses
    graph = _wide_stage_graph()
    hw = HardwareOptions(io="stream")
    _, plain = build_rtl(graph, tmp_path / "plain", hw)
    # reuse 2 keeps the image interval (4 does not: 412 cycles); the rate-matched fold
    # leaves this stage at full rate (above), so the split is asked for by name
    _, rtl = build_rtl(graph, tmp_path / "rate", dataclasses.replace(
        hw, layer_reuse={"wide": 2}, split_outputs=True))
    assert rtl.data["ii"] == plain.data["ii"]
    stage = [r for r in rtl.data["stream"]["stages"] if r["pixel_ii"] > 1]
    assert stage and stage[0]["pixel_ii"] * 16 <= rtl.data["ii"]
    assert_exact_in_images_and_pixels(graph, rtl.data, tmp_path / "rate" / "rtl", tmp_path,
                                      200, 2)
