"""The UART streaming top: a host sends input vectors over a serial line and reads back
the core's outputs (`scripts/run_board.py` is that host).

Protocol, both ways little-endian and byte-aligned: the host sends each vector as
ceil(in_bits / 8) bytes back to back (the `in_data` word, least significant byte first);
the board answers each with ceil(out_bits / 8) bytes of `out_data` (logits, then the
argmax). A pause longer than `timeout` clock cycles inside a vector drops the partial
vector, so a host that lost a byte starts clean with its next vector. Outputs wait in a
FIFO of `depth` words: a host keeps at most `depth` vectors in flight (`overflow` goes high
and stays high, e.g. on an LED, if one was lost).

A streaming core (`--io stream`) takes an image a pixel at a time: the host sends each
image as its pixel words in raster order, each ceil(pixel_bits / 8) bytes, and the top
hands every pixel to the core on the in_valid/in_ready handshake. A pause inside an image
drops the partial image and resets the core (its line buffers hold the dropped pixels), so
the next image starts clean; the timeout is longer than the core's latency, so images
already sent are answered first.
"""
from amaranth.hdl import ClockSignal, Instance, Module, Mux, ResetSignal, Signal
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from ..errors import HwgenError
from ..sim.codec import port_width, words_per_vector
from .uart import UartRx, UartTx

UART_TOP = "hwgen_uart_top"


class UartTop(wiring.Component):
    rx: In(1, init=1)
    tx: Out(1)
    busy: Out(1)
    overflow: Out(1)

    def __init__(self, manifest: dict, divisor: int, timeout: int | None = None,
                 depth: int = 8):
        self.manifest = manifest
        self.in_bits = port_width(manifest, "in_data")
        self.out_bits = port_width(manifest, "out_data")
        self.streaming = manifest.get("io") == "stream"
        # Words per vector on the line: the pixels of an image, or the whole vector.
        self.words = words_per_vector(manifest)
        self.divisor, self.depth = divisor, depth
        self.timeout = timeout or max(40 * 10 * divisor,           # 40 byte times
                                      2 * manifest.get("latency", 0) + 16)
        # A vector takes its bytes' time to arrive: a folded core (one vector per II
        # clocks) must be done with the previous one by then.
        gap = self.words * ((self.in_bits + 7) // 8) * 10 * divisor
        what = "an image" if self.streaming else "one vector"
        if manifest.get("ii", 1) > gap:
            raise HwgenError(f"the core takes {what} every {manifest['ii']} clocks, but "
                             f"at this baud rate it arrives every {gap} clocks; use a "
                             "lower --baud or a smaller --reuse")
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        in_bytes = (self.in_bits + 7) // 8
        out_bytes = (self.out_bits + 7) // 8
        m.submodules.urx = urx = UartRx(self.divisor)
        m.submodules.utx = utx = UartTx(self.divisor)
        m.d.comb += [urx.rx.eq(self.rx), self.tx.eq(utx.tx)]

        # Assemble a word (a vector, or a pixel of an image) from bytes; a long pause
        # drops a partial vector (or image).
        vector = Signal(8 * in_bytes)
        got = Signal(range(in_bytes + 1))
        pixel = Signal(range(self.words + 1))       # words of the current image received
        quiet = Signal(range(self.timeout + 1))
        in_valid = Signal()
        in_ready = Signal()
        resync = Signal()
        m.d.sync += resync.eq(0)
        if self.streaming:      # held until the core takes it: a pixel per handshake
            with m.If(in_valid & in_ready):
                m.d.sync += in_valid.eq(0)
        else:                   # a vector is taken in the cycle it is offered
            m.d.sync += in_valid.eq(0)
        with m.If(urx.valid):
            m.d.sync += [vector.eq((vector >> 8) | (urx.data << (8 * (in_bytes - 1)))),
                         quiet.eq(0)]
            with m.If(got == in_bytes - 1):
                m.d.sync += [got.eq(0), in_valid.eq(1),
                             pixel.eq(Mux(pixel == self.words - 1, 0, pixel + 1))]
                if self.streaming:
                    with m.If(in_valid & ~in_ready):       # the core held the last pixel
                        m.d.sync += self.overflow.eq(1)
            with m.Else():
                m.d.sync += got.eq(got + 1)
        with m.Elif((got != 0) | (pixel != 0)):
            with m.If(quiet == self.timeout):
                m.d.sync += [got.eq(0), pixel.eq(0), quiet.eq(0)]
                if self.streaming:
                    m.d.sync += [resync.eq(1), in_valid.eq(0)]
            with m.Else():
                m.d.sync += quiet.eq(quiet + 1)

        out_valid = Signal()
        out_data = Signal(self.out_bits)
        ports = {"o_in_ready": in_ready} if self.streaming else {}
        m.submodules.core = Instance(
            self.manifest["top"], i_clk=ClockSignal(), i_rst=ResetSignal() | resync,
            i_in_valid=in_valid, i_in_data=vector[:self.in_bits], o_out_valid=out_valid,
            o_out_data=out_data, **ports)
        m.submodules.fifo = fifo = SyncFIFOBuffered(width=self.out_bits, depth=self.depth)
        m.d.comb += [fifo.w_data.eq(out_data), fifo.w_en.eq(out_valid)]
        with m.If(out_valid & ~fifo.w_rdy):
            m.d.sync += self.overflow.eq(1)

        # Send each output, least significant byte first.
        word = Signal(8 * out_bytes)
        left = Signal(range(out_bytes + 1))
        m.d.comb += [utx.data.eq(word[:8]), utx.valid.eq(left != 0),
                     fifo.r_en.eq((left == 0) & fifo.r_rdy),
                     self.busy.eq((got != 0) | (pixel != 0) | (left != 0) | fifo.r_rdy)]
        with m.If(fifo.r_en):
            m.d.sync += [word.eq(fifo.r_data), left.eq(out_bytes)]
        with m.Elif(utx.valid & utx.ready):
            m.d.sync += [word.eq(word >> 8), left.eq(left - 1)]
        return m


def verilog(component: UartTop) -> str:
    from amaranth.back import verilog as back
    return back.convert(component, name=UART_TOP, emit_src=False)
