"""The built-in self-test top: the core runs a ROM of test vectors at full rate (one per
clock) and compares every output bit with a ROM of the reference's expected outputs.

Ports: `passed`, `failed`, `done` (drive LEDs), `tx` (UART). When all outputs are in, it
sends `PASS nnnn ERR eeee\\r\\n` (hex counts: vectors checked, vectors with a wrong output)
over the UART, again every `repeat` cycles if `repeat` is set, so a terminal opened late
still sees it. The core's Verilog is instantiated by name from the manifest, exactly as
generated. Both ROMs have a synchronous read port, so they map to block RAM.
"""

import numpy as np
from amaranth.hdl import Array, ClockSignal, Const, Instance, Module, ResetSignal, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..sim.codec import output_words, pack, port_width
from .uart import UartTx

SELFTEST_TOP = "hwgen_selftest"


def test_words(manifest: dict, graph, codes: np.ndarray) -> tuple[list[int], list[int]]:
    """(input words, expected output words) of `codes` [K, n_in] from the reference."""
    from ..ir import interp
    codes = np.asarray(codes, dtype=np.int64).reshape(len(codes), -1)
    expected = interp.run(graph, codes.reshape((len(codes),) + tuple(graph.input.shape)))
    return (pack(manifest["input"]["elements"], codes),
            output_words(manifest, np.asarray(expected).reshape(len(codes), -1)))


class SelfTest(wiring.Component):
    done: Out(1)
    passed: Out(1)
    failed: Out(1)
    tx: Out(1)

    def __init__(self, manifest: dict, in_words: list[int], expected: list[int],
                 divisor: int, repeat: int = 0):
        if not in_words or len(in_words) != len(expected):
            raise ValueError("the self-test needs as many expected outputs as vectors (>= 1)")
        self.manifest = manifest
        self.in_words, self.expected = list(in_words), list(expected)
        self.divisor, self.repeat = divisor, repeat
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        n = len(self.in_words)
        in_bits = port_width(self.manifest, "in_data")
        out_bits = port_width(self.manifest, "out_data")
        m.submodules.vectors = vectors = Memory(shape=in_bits, depth=n, init=self.in_words)
        m.submodules.answers = answers = Memory(shape=out_bits, depth=n, init=self.expected)
        vec_rd = vectors.read_port()
        exp_rd = answers.read_port()

        issued = Signal(range(n + 1))
        received = Signal(range(n + 1))
        errors = Signal(16)
        issuing = Signal()
        m.d.comb += [issuing.eq(issued < n), vec_rd.addr.eq(issued)]
        in_valid = Signal()
        m.d.sync += in_valid.eq(issuing)            # the ROM data arrives a cycle later
        with m.If(issuing):
            m.d.sync += issued.eq(issued + 1)

        out_valid = Signal()
        out_data = Signal(out_bits)
        m.submodules.core = Instance(
            self.manifest["top"], i_clk=ClockSignal(), i_rst=ResetSignal(),
            i_in_valid=in_valid, i_in_data=vec_rd.data, o_out_valid=out_valid,
            o_out_data=out_data)
        # exp_rd.data holds answers[received] in the cycle an output arrives.
        m.d.comb += exp_rd.addr.eq(received + out_valid)
        with m.If(out_valid & (received < n)):
            m.d.sync += received.eq(received + 1)
            with m.If((out_data != exp_rd.data) & (errors != 0xFFFF)):
                m.d.sync += errors.eq(errors + 1)
        m.d.comb += [self.done.eq(received == n), self.passed.eq(self.done & (errors == 0)),
                     self.failed.eq(self.done & (errors != 0))]

        # The summary line: "PASS nnnn ERR eeee\r\n" (FAIL instead of PASS on errors).
        m.submodules.uart = uart = UartTx(self.divisor)
        m.d.comb += self.tx.eq(uart.tx)
        hexdig = lambda v: Array(Const(ord(c), 8) for c in "0123456789ABCDEF")[v]  # noqa: E731
        count = Signal(16)
        m.d.comb += count.eq(received)
        verdict = [Array([Const(ord(a), 8), Const(ord(b), 8)])[errors != 0]
                   for a, b in zip("PASS", "FAIL")]
        chars = verdict + [Const(ord(" "), 8)] + \
            [hexdig(count[4 * k:4 * k + 4]) for k in (3, 2, 1, 0)] + \
            [Const(ord(c), 8) for c in " ERR "] + \
            [hexdig(errors[4 * k:4 * k + 4]) for k in (3, 2, 1, 0)] + \
            [Const(13, 8), Const(10, 8)]
        index = Signal(range(len(chars) + 1), init=len(chars))
        sent_once = Signal()
        wait = Signal(range(max(self.repeat, 1) + 1))
        m.d.comb += [uart.data.eq(Array(chars)[index]), uart.valid.eq(index < len(chars))]
        with m.If(uart.valid & uart.ready):
            m.d.sync += index.eq(index + 1)
        with m.If(self.done & (index == len(chars))):
            with m.If(~sent_once):
                m.d.sync += [index.eq(0), sent_once.eq(1), wait.eq(self.repeat)]
            with m.Elif(self.repeat != 0):
                with m.If(wait == 0):
                    m.d.sync += [index.eq(0), wait.eq(self.repeat)]
                with m.Else():
                    m.d.sync += wait.eq(wait - 1)
        return m


def verilog(component: SelfTest) -> str:
    from amaranth.back import verilog as back
    return back.convert(component, name=SELFTEST_TOP, emit_src=False)
