"""The UART streaming top: a host sends input vectors over a serial line and reads back
the core's outputs (`scripts/run_board.py` is that host).

Protocol, both ways little-endian and byte-aligned: the host sends each vector as
ceil(in_bits / 8) bytes back to back (the `in_data` word, least significant byte first);
the board answers each with ceil(out_bits / 8) bytes of `out_data` (logits, then the
argmax). A pause longer than `timeout` clock cycles inside a vector drops the partial
vector, so a host that lost a byte starts clean with its next vector. Outputs wait in a
FIFO of `depth` words: a host keeps at most `depth` vectors in flight (`overflow` goes high
and stays high, e.g. on an LED, if one was lost).
"""
from amaranth.hdl import ClockSignal, Instance, Module, ResetSignal, Signal
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from ..errors import HwgenError
from ..sim.codec import port_width
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
        self.divisor, self.depth = divisor, depth
        self.timeout = timeout or 40 * 10 * divisor          # 40 byte times
        # A vector takes in_bytes byte times to arrive: a folded core (one vector per II
        # clocks) must be done with the previous one by then.
        gap = (self.in_bits + 7) // 8 * 10 * divisor
        if manifest.get("ii", 1) > gap:
            raise HwgenError(f"the core takes one vector every {manifest['ii']} clocks, but "
                             f"at this baud rate a vector arrives every {gap} clocks; use a "
                             "lower --baud or a smaller --reuse")
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        in_bytes = (self.in_bits + 7) // 8
        out_bytes = (self.out_bits + 7) // 8
        m.submodules.urx = urx = UartRx(self.divisor)
        m.submodules.utx = utx = UartTx(self.divisor)
        m.d.comb += [urx.rx.eq(self.rx), self.tx.eq(utx.tx)]

        # Assemble a vector from bytes; a long pause drops a partial one.
        vector = Signal(8 * in_bytes)
        got = Signal(range(in_bytes + 1))
        quiet = Signal(range(self.timeout + 1))
        in_valid = Signal()
        m.d.sync += in_valid.eq(0)
        with m.If(urx.valid):
            m.d.sync += [vector.eq((vector >> 8) | (urx.data << (8 * (in_bytes - 1)))),
                         quiet.eq(0)]
            with m.If(got == in_bytes - 1):
                m.d.sync += [got.eq(0), in_valid.eq(1)]
            with m.Else():
                m.d.sync += got.eq(got + 1)
        with m.Elif(got != 0):
            with m.If(quiet == self.timeout):
                m.d.sync += [got.eq(0), quiet.eq(0)]
            with m.Else():
                m.d.sync += quiet.eq(quiet + 1)

        out_valid = Signal()
        out_data = Signal(self.out_bits)
        m.submodules.core = Instance(
            self.manifest["top"], i_clk=ClockSignal(), i_rst=ResetSignal(),
            i_in_valid=in_valid, i_in_data=vector[:self.in_bits], o_out_valid=out_valid,
            o_out_data=out_data)
        m.submodules.fifo = fifo = SyncFIFOBuffered(width=self.out_bits, depth=self.depth)
        m.d.comb += [fifo.w_data.eq(out_data), fifo.w_en.eq(out_valid)]
        with m.If(out_valid & ~fifo.w_rdy):
            m.d.sync += self.overflow.eq(1)

        # Send each output, least significant byte first.
        word = Signal(8 * out_bytes)
        left = Signal(range(out_bytes + 1))
        m.d.comb += [utx.data.eq(word[:8]), utx.valid.eq(left != 0),
                     fifo.r_en.eq((left == 0) & fifo.r_rdy),
                     self.busy.eq((got != 0) | (left != 0) | fifo.r_rdy)]
        with m.If(fifo.r_en):
            m.d.sync += [word.eq(fifo.r_data), left.eq(out_bytes)]
        with m.Elif(utx.valid & utx.ready):
            m.d.sync += [word.eq(word >> 8), left.eq(left - 1)]
        return m


def verilog(component: UartTop) -> str:
    from amaranth.back import verilog as back
    return back.convert(component, name=UART_TOP, emit_src=False)
