"""8N1 UART transmitter and receiver as Amaranth components.

Written here because Amaranth 0.5 has no UART and amaranth-stdio is not released on PyPI
(its only release there is an empty placeholder). `divisor` is clock cycles per bit
(e.g. 12 MHz / 115200 baud = 104).
"""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


def _checked(divisor: int) -> int:
    if divisor < 2:
        raise ValueError("the UART needs at least 2 clock cycles per bit")
    return divisor


class UartTx(wiring.Component):
    """Sends `data` when `valid` and `ready` are both high; `tx` idles high."""
    data: In(8)
    valid: In(1)
    ready: Out(1)
    tx: Out(1, init=1)

    def __init__(self, divisor: int):
        self.divisor = _checked(divisor)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        timer = Signal(range(self.divisor))
        shift = Signal(10, init=0x3FF)           # stop bit, data (LSB first), start bit
        bits_left = Signal(range(11))
        m.d.comb += self.ready.eq(bits_left == 0)
        with m.If(bits_left == 0):
            with m.If(self.valid):
                m.d.sync += [shift.eq(Cat(0, self.data, 1)), bits_left.eq(10),
                             timer.eq(self.divisor - 1), self.tx.eq(0)]
        with m.Elif(timer == 0):
            m.d.sync += [timer.eq(self.divisor - 1), bits_left.eq(bits_left - 1),
                         shift.eq(Cat(shift[1:], 1)), self.tx.eq(shift[1])]
        with m.Else():
            m.d.sync += timer.eq(timer - 1)
        return m


class UartRx(wiring.Component):
    """Receives bytes on `rx`: `valid` is high for one cycle with `data`. A start bit is
    confirmed at its middle; the stop bit is not checked (a framing error just yields the
    byte)."""
    rx: In(1, init=1)
    data: Out(8)
    valid: Out(1)

    def __init__(self, divisor: int):
        self.divisor = _checked(divisor)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        rx = Signal(init=1)
        rx_meta = Signal(init=1)
        m.d.sync += [rx_meta.eq(self.rx), rx.eq(rx_meta)]     # two-flop synchroniser
        timer = Signal(range(self.divisor + self.divisor // 2 + 1))
        bits_left = Signal(range(10))
        shift = Signal(8)
        m.d.sync += self.valid.eq(0)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(~rx):
                    # Sample mid-bit: half a bit on, less the synchroniser's and this
                    # state's three cycles of delay.
                    m.d.sync += timer.eq(max(self.divisor // 2 - 3, 0))
                    m.next = "START"
            with m.State("START"):
                with m.If(timer == 0):
                    with m.If(~rx):
                        m.d.sync += [timer.eq(self.divisor - 1), bits_left.eq(8)]
                        m.next = "DATA"
                    with m.Else():
                        m.next = "IDLE"
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
            with m.State("DATA"):
                with m.If(timer == 0):
                    m.d.sync += [shift.eq(Cat(shift[1:], rx)), bits_left.eq(bits_left - 1),
                                 timer.eq(self.divisor - 1)]
                    with m.If(bits_left == 1):
                        m.next = "STOP"
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
            with m.State("STOP"):
                with m.If(timer == 0):
                    m.d.sync += [self.data.eq(shift), self.valid.eq(1)]
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
        return m
