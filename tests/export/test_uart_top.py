"""The UART streaming top in Verilator: vectors sent through a simulated UART come back
bit-exact, after a dropped partial vector too."""
from hwgen.export import selftest, uart_top
from hwgen.export.host import vector_bytes
from hwgen.flow import build_rtl
from hwgen.options import HardwareOptions
from hwgen.sim import stimulus
from hwgen.sim.codec import port_width
from hwgen.sim.runner import run_top

from ..hw_factory import random_graph

DIVISOR = 4


def test_uart_top_returns_bit_exact_outputs(tmp_path):
    graph = random_graph(6, sparsity=0.2, n_in=6)
    _, rtl = build_rtl(graph, tmp_path, HardwareOptions())
    codes, _ = stimulus.all_codes(rtl.data, 12, 3)
    in_words, expected = selftest.test_words(rtl.data, graph, codes)
    top = uart_top.UartTop(rtl.data, DIVISOR)
    in_bytes = (port_width(rtl.data, "in_data") + 7) // 8
    out_bytes = (port_width(rtl.data, "out_data") + 7) // 8
    got = _run_uart(tmp_path, rtl, top, vector_bytes(rtl.data, in_words), max_cycles=200000,
                    # a host that lost bytes: a partial vector, silence, then the vectors
                    junk_bytes=[0x5A] * (in_bytes - 1), pause_cycles=top.timeout + 50,
                    # vectors paced no faster than answers go out (the FIFO never fills)
                    gap_bits=max(out_bytes - in_bytes, 0) * 10 + 2)
    assert got == expected


def _run_uart(tmp_path, rtl, top, vectors: list[bytes], **config) -> list[int]:
    """Send `vectors` (each as the host sends it) through `top` in Verilator, check that
    no answer was lost to the FIFO, and return the answers decoded from `tx`."""
    path = tmp_path / "uart" / f"{uart_top.UART_TOP}.v"
    path.parent.mkdir()
    path.write_text(uart_top.verilog(top))
    out_bytes = (port_width(rtl.data, "out_data") + 7) // 8
    r = run_top([rtl.verilog, path], uart_top.UART_TOP, "uart_top", tmp_path / "uart",
                {"vectors_hex": [format(int.from_bytes(v, "little"), "x") for v in vectors],
                 "divisor": DIVISOR, "in_bytes": len(vectors[0]), "out_bytes": out_bytes,
                 **config}, log=lambda s: None)
    assert r["overflow"] == 0
    raw = bytes.fromhex(r["bytes_hex"])
    return [int.from_bytes(raw[k * out_bytes:(k + 1) * out_bytes], "little")
            for k in range(len(raw) // out_bytes)]


def test_uart_top_streams_images_a_pixel_at_a_time(tmp_path):
    """A streaming core: each image sent as its pixel words comes back bit-exact; a partial
    image followed by silence is dropped (the core reset) and the next image is clean."""
    from ..conv_factory import small_cnn_graph
    graph = small_cnn_graph()
    _, rtl = build_rtl(graph, tmp_path, HardwareOptions(io="stream"))
    codes, _ = stimulus.all_codes(rtl.data, 6, 2)
    in_words, expected = selftest.test_words(rtl.data, graph, codes)
    images = vector_bytes(rtl.data, in_words)
    pixel_bytes = (port_width(rtl.data, "in_data") + 7) // 8
    assert len(images) == 6 and len(images[0]) == 36 * pixel_bytes
    top = uart_top.UartTop(rtl.data, DIVISOR)
    got = _run_uart(tmp_path, rtl, top, images, max_cycles=400000,
                    # half an image and a byte, silence, then the images
                    junk_bytes=list(images[1][:18 * pixel_bytes + 1]),
                    pause_cycles=top.timeout + 50)
    assert got == expected


class _FakeBoard:
    """A serial port that answers like the UART top, from a table of answers, and loses
    one answer to show the host copes."""

    def __init__(self, manifest, table, lose=None):
        self.in_bytes = (port_width(manifest, "in_data") + 7) // 8
        self.out_bytes = (port_width(manifest, "out_data") + 7) // 8
        self.table, self.lose, self.rx, self.tx, self.count = table, lose, b"", b"", 0

    def write(self, data):
        self.rx += data
        while len(self.rx) >= self.in_bytes:
            word = int.from_bytes(self.rx[:self.in_bytes], "little")
            self.rx = self.rx[self.in_bytes:]
            if self.count != self.lose:
                self.tx += self.table[word].to_bytes(self.out_bytes, "little")
            self.count += 1

    def read(self, n):
        data, self.tx = self.tx[:n], self.tx[n:]
        return data


def test_host_stream_packs_windows_and_reports_lost_answers(tmp_path):
    from hwgen.export.host import stream
    graph = random_graph(6, sparsity=0.2, n_in=6)
    _, rtl = build_rtl(graph, tmp_path, HardwareOptions())
    codes, _ = stimulus.all_codes(rtl.data, 40, 1)
    in_words, expected = selftest.test_words(rtl.data, graph, codes)
    table = dict(zip(in_words, expected))
    assert stream(_FakeBoard(rtl.data, table), rtl.data, in_words) == expected
    got = stream(_FakeBoard(rtl.data, table, lose=39), rtl.data, in_words)
    assert got[:39] == expected[:39] and got[39] is None


def test_a_baud_rate_faster_than_the_folded_core_is_refused(tmp_path):
    import pytest
    from hwgen.errors import HwgenError
    _, rtl = build_rtl(random_graph(15, sparsity=0.3, n_in=8), tmp_path,
                       HardwareOptions(reuse=12))
    in_bytes = (port_width(rtl.data, "in_data") + 7) // 8
    uart_top.UartTop(rtl.data, DIVISOR)                   # 14 bytes x 40 clocks >> II 12
    slow_core = dict(rtl.data, ii=in_bytes * 10 * DIVISOR + 1)
    with pytest.raises(HwgenError, match="lower --baud or a smaller --reuse"):
        uart_top.UartTop(slow_core, DIVISOR)
