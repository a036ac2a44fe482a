"""The board self-test top in Verilator: it passes on the reference's answers, fails when
one expected bit is flipped, and reports both over a simulated UART."""
import pytest

from hwgen.export import selftest
from hwgen.export.uart import UartRx, UartTx
from hwgen.flow import build_rtl
from hwgen.options import HardwareOptions
from hwgen.sim import stimulus
from hwgen.sim.runner import run_top

from ..hw_factory import random_graph

DIVISOR = 4


def _design(out, reuse, seed=5):
    graph = random_graph(seed, sparsity=0.3, n_in=8)
    _, rtl = build_rtl(graph, out, HardwareOptions(reuse=reuse))
    codes, _ = stimulus.all_codes(rtl.data, 64, 0)
    words = selftest.test_words(rtl.data, graph, codes)
    return out, rtl, words


@pytest.fixture(scope="module")
def design(tmp_path_factory):
    return _design(tmp_path_factory.mktemp("selftest"), 1)


@pytest.fixture(scope="module")
def folded(tmp_path_factory):
    """A folded core (one vector per II): vectors and answers in 16-bit ROM chunks. Its
    layers are so small that FoldLayers would keep them at full rate (`ir/fold_cost.py`);
    the folded form is under test, so they fold as asked."""
    from hwgen.passes.fold_layers import FoldLayers
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(FoldLayers, "_cheaper_at_full_rate", lambda *args: False)
        return _design(tmp_path_factory.mktemp("selftest_folded"), 12, seed=15)  # 13: constant


def _run(out, rtl, in_words, expected, name):
    top = selftest.SelfTest(rtl.data, in_words, expected, DIVISOR)
    path = out / name / f"{selftest.SELFTEST_TOP}.v"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(selftest.verilog(top))
    cycles = 64 * rtl.data["ii"] + 5000
    return run_top([rtl.verilog, path], selftest.SELFTEST_TOP, "selftest", out / name,
                   {"max_cycles": cycles, "divisor": DIVISOR,
                    "message_cycles": selftest.summary_cycles(DIVISOR)}, log=lambda s: None)


def test_folded_selftest_passes_and_fails(folded):
    out, rtl, (in_words, expected) = folded
    ii = rtl.data["ii"]
    in_chunks = -(-max(w.bit_length() for w in in_words) // selftest.CHUNK)
    assert ii >= in_chunks + 3            # the chunked ROM layout is used
    r = _run(out, rtl, in_words, expected, "good")
    assert r["uart"] == "PASS 0040 ERR 0000\r\n" and r["passed"] == 1
    # one vector every II cycles: done one latency after the last
    assert r["done_cycle"] <= 64 * ii + rtl.data["latency"] + 8
    assert rtl.data["ports"][-1]["width"] > 3 * selftest.CHUNK      # answers in 4 chunks
    for k, bit in ((5, 0), (40, 50)):          # a flipped bit in the first or the last chunk
        bad = list(expected)
        bad[k] ^= 1 << bit
        r = _run(out, rtl, in_words, bad, f"bad{k}")
        assert r["uart"] == "FAIL 0040 ERR 0001\r\n" and r["failed"] == 1


def test_selftest_passes_on_the_reference_answers(design):
    out, rtl, (in_words, expected) = design
    r = _run(out, rtl, in_words, expected, "good")
    assert r["done"] and r["passed"] == 1 and r["failed"] == 0
    assert r["uart"] == "PASS 0040 ERR 0000\r\n"
    # all 64 vectors at full rate: done one latency (+ ROM and input registers) after the last
    assert r["done_cycle"] <= 64 + rtl.data["latency"] + 4


def test_selftest_fails_with_one_flipped_expected_bit(design):
    out, rtl, (in_words, expected) = design
    bad = list(expected)
    bad[17] ^= 1 << 3
    r = _run(out, rtl, in_words, bad, "bad")
    assert r["done"] and r["passed"] == 0 and r["failed"] == 1
    assert r["uart"] == "FAIL 0040 ERR 0001\r\n"


def test_uart_loopback(tmp_path):
    """UartTx into UartRx in Amaranth's simulator: every byte arrives intact."""
    from amaranth.hdl import Module
    from amaranth.sim import Simulator
    m = Module()
    m.submodules.tx = tx = UartTx(5)
    m.submodules.rx = rx = UartRx(5)
    m.d.comb += rx.rx.eq(tx.tx)
    sent = [0x00, 0xFF, 0x55, 0xA3, 0x0D]
    got = []

    async def bench(ctx):
        for byte in sent:
            ctx.set(tx.data, byte)
            ctx.set(tx.valid, 1)
            await ctx.tick().until(tx.ready)
            await ctx.tick()
            ctx.set(tx.valid, 0)
        for _ in range(200):
            await ctx.tick()

    async def watch(ctx):
        async for _, _, valid, data in ctx.tick().sample(rx.valid, rx.data):
            if valid:
                got.append(data)

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.add_process(watch)
    sim.run_until(1e-3)
    assert got == sent


def test_streaming_selftest_passes_and_fails(tmp_path):
    """A streaming core: the image ROM feeds pixels on the handshake; the self-test passes
    on the reference answers at the core's rate and fails on one flipped bit."""
    from ..conv_factory import small_cnn_graph
    graph = small_cnn_graph()
    _, rtl = build_rtl(graph, tmp_path, HardwareOptions(io="stream"))
    codes, _ = stimulus.all_codes(rtl.data, 16, 0)
    in_words, expected = selftest.test_words(rtl.data, graph, codes)
    assert len(in_words) == 16 * 36                  # a ROM word per pixel
    pixel_bits = sum(e["width"] for e in rtl.data["input"]["pixel_elements"])
    assert selftest.rom_layout(rtl.data) == (False, pixel_bits, rtl.data["ports"][-1]["width"])
    r = _run(tmp_path, rtl, in_words, expected, "good")
    assert r["uart"] == "PASS 0010 ERR 0000\r\n" and r["passed"] == 1
    assert r["done_cycle"] <= 16 * rtl.data["ii"] + rtl.data["latency"] + 8
    bad = list(expected)
    bad[9] ^= 1 << 2
    r = _run(tmp_path, rtl, in_words, bad, "bad")
    assert r["uart"] == "FAIL 0010 ERR 0001\r\n" and r["failed"] == 1
