"""The built-in self-test top: the core runs a ROM of test vectors at full rate (one per
clock, or per II clocks for a folded core) and compares every output bit with a ROM of the
reference's expected outputs.

Ports: `passed`, `failed`, `done` (drive LEDs), `tx` (UART). When all outputs are in, it
sends `PASS nnnn ERR eeee\\r\\n` (hex counts: vectors checked, vectors with a wrong output)
over the UART, again every `repeat` cycles if `repeat` is set, so a terminal opened late
still sees it. The core's Verilog is instantiated by name from the manifest, exactly as
generated. Both ROMs have a synchronous read port, so they map to block RAM.
"""

import numpy as np
from amaranth.hdl import (Array, Cat, ClockSignal, Const, Instance, Module, ResetSignal,
                          Signal)
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import Out

from ..sim.codec import input_words, output_words, pixel_bits, port_width, words_per_vector
from ..sim.harness import paced
from .uart import UartTx

SELFTEST_TOP = "hwgen_selftest"
CHUNK = 16          # ROM word of the chunked layout: an iCE40 EBR's 256x16 port
SUMMARY = "PASS nnnn ERR eeee\r\n"      # the summary line's shape


def summary_cycles(divisor: int) -> int:
    """Clock cycles the UART takes to send the summary line (10 bits a byte at `divisor`
    clocks a bit), and a byte more."""
    return (len(SUMMARY) + 1) * 10 * divisor


def rom_layout(manifest: dict) -> tuple[bool, int, int]:
    """(chunked, input ROM width, answer ROM width): the chunked layout when the core's II
    leaves time to assemble a vector and check an answer CHUNK bits at a time. A streaming
    core's input ROM holds one pixel per word."""
    in_bits, out_bits = port_width(manifest, "in_data"), port_width(manifest, "out_data")
    if manifest.get("io") == "stream":
        return False, pixel_bits(manifest), out_bits
    k_in, k_out = -(-in_bits // CHUNK), -(-out_bits // CHUNK)
    if manifest.get("ii", 1) >= max(k_in, k_out) + 3:
        return True, k_in, k_out
    return False, in_bits, out_bits


def rom_blocks(manifest: dict, vectors: int, family: str) -> int:
    """Block RAMs of the self-test's two ROMs on `family` (boards.ram_blocks)."""
    from .boards import ram_blocks
    chunked, a, b = rom_layout(manifest)
    if chunked:
        return ram_blocks(family, CHUNK, vectors * a) + ram_blocks(family, CHUNK, vectors * b)
    return ram_blocks(family, a, vectors * words_per_vector(manifest)) + \
        ram_blocks(family, b, vectors)


def test_words(manifest: dict, graph, codes: np.ndarray) -> tuple[list[int], list[int]]:
    """(input words, expected output words) of `codes` [K, n_in] from the reference."""
    from ..ir import interp
    codes = np.asarray(codes, dtype=np.int64).reshape(len(codes), -1)
    expected = interp.run(graph, codes.reshape((len(codes),) + tuple(graph.input.shape)))
    answers = output_words(manifest, np.asarray(expected).reshape(len(codes), -1))
    return input_words(manifest, codes), answers


class SelfTest(wiring.Component):
    done: Out(1)
    passed: Out(1)
    failed: Out(1)
    tx: Out(1)

    def __init__(self, manifest: dict, in_words: list[int], expected: list[int],
                 divisor: int, repeat: int = 0):
        self.pixels = words_per_vector(manifest)
        if not in_words or len(in_words) != len(expected) * self.pixels:
            raise ValueError("the self-test needs as many expected outputs as vectors (>= 1)")
        self.manifest = manifest
        self.in_words, self.expected = list(in_words), list(expected)
        self.divisor, self.repeat = divisor, repeat
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        n = len(self.expected)
        in_bits = port_width(self.manifest, "in_data")
        out_bits = port_width(self.manifest, "out_data")
        ii = self.manifest.get("ii", 1)
        chunked, k_in, k_out = rom_layout(self.manifest)
        received = Signal(range(n + 1))
        errors = Signal(16)
        out_valid = Signal()
        out_data = Signal(out_bits)
        ports = {}
        if self.manifest.get("io") == "stream":
            in_ready = Signal()
            in_valid, in_data = self._pixels(m, in_bits, in_ready)
            self._answers(m, n, out_bits, out_valid, out_data, received, errors)
            ports["o_in_ready"] = in_ready
        elif chunked:
            in_valid, in_data = self._chunked(m, n, in_bits, out_bits, k_in, k_out, ii,
                                              out_valid, out_data, received, errors)
        else:
            in_valid, in_data = self._parallel(m, n, in_bits, out_bits, ii, out_valid,
                                               out_data, received, errors)
        m.submodules.core = Instance(
            self.manifest["top"], i_clk=ClockSignal(), i_rst=ResetSignal(),
            i_in_valid=in_valid, i_in_data=in_data, o_out_valid=out_valid,
            o_out_data=out_data, **ports)
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

    def _pixels(self, m, in_bits, in_ready):
        """A streaming core: the pixels of every image from a ROM word by word, on the
        in_valid/in_ready handshake. The ROM's synchronous read port holds its word while
        not enabled, so the next pixel is read in the cycle the current one is taken."""
        total = len(self.in_words)
        m.submodules.vectors = vectors = Memory(shape=in_bits, depth=total, init=self.in_words)
        rd = vectors.read_port()
        primed = Signal()
        sent = Signal(range(total + 1))
        addr = Signal(range(total + 1))
        in_valid = Signal()
        m.d.comb += in_valid.eq(primed & (sent < total))
        advance = ~primed | (in_valid & in_ready)
        m.d.comb += [rd.addr.eq(addr), rd.en.eq(advance)]
        with m.If(advance):
            m.d.sync += [primed.eq(1), addr.eq(addr + (addr < total))]
        with m.If(in_valid & in_ready):
            m.d.sync += sent.eq(sent + 1)
        return in_valid, rd.data

    def _answers(self, m, n, out_bits, out_valid, out_data, received, errors):
        m.submodules.answers = answers = Memory(shape=out_bits, depth=n, init=self.expected)
        exp_rd = answers.read_port()
        # exp_rd.data holds answers[received] in the cycle an output arrives.
        m.d.comb += exp_rd.addr.eq(received + out_valid)
        with m.If(out_valid & (received < n)):
            m.d.sync += received.eq(received + 1)
            with m.If((out_data != exp_rd.data) & (errors != 0xFFFF)):
                m.d.sync += errors.eq(errors + 1)

    def _parallel(self, m, n, in_bits, out_bits, ii, out_valid, out_data, received, errors):
        """One ROM word per vector and per answer: a new vector every cycle (every ii)."""
        m.submodules.vectors = vectors = Memory(shape=in_bits, depth=n, init=self.in_words)
        m.submodules.answers = answers = Memory(shape=out_bits, depth=n, init=self.expected)
        vec_rd = vectors.read_port()
        exp_rd = answers.read_port()
        issued = Signal(range(n + 1))
        issuing = Signal()
        m.d.comb += vec_rd.addr.eq(issued)
        m.d.comb += issuing.eq((issued < n) & paced(m, issuing, ii))
        in_valid = Signal()
        m.d.sync += in_valid.eq(issuing)            # the ROM data arrives a cycle later
        with m.If(issuing):
            m.d.sync += issued.eq(issued + 1)
        # exp_rd.data holds answers[received] in the cycle an output arrives.
        m.d.comb += exp_rd.addr.eq(received + out_valid)
        with m.If(out_valid & (received < n)):
            m.d.sync += received.eq(received + 1)
            with m.If((out_data != exp_rd.data) & (errors != 0xFFFF)):
                m.d.sync += errors.eq(errors + 1)
        return in_valid, vec_rd.data

    def _chunked(self, m, n, in_bits, out_bits, k_in, k_out, ii, out_valid, out_data,
                 received, errors):
        """Vectors and answers stored as CHUNK-bit words, k per vector: a block RAM's
        16-bit port then carries every bit (a wide word would take a block per 16 bits
        whatever the depth: the UP5K's 30 would not hold 128 vectors of the digits MLP).
        A folded core takes a vector only every ii cycles, time enough to assemble the
        next vector and to compare an answer chunk by chunk."""
        mask = (1 << CHUNK) - 1
        m.submodules.vectors = vectors = Memory(
            shape=CHUNK, depth=n * k_in,
            init=[(w >> (CHUNK * c)) & mask for w in self.in_words for c in range(k_in)])
        m.submodules.answers = answers = Memory(
            shape=CHUNK, depth=n * k_out,
            init=[(w >> (CHUNK * c)) & mask for w in self.expected for c in range(k_out)])
        vec_rd, exp_rd = vectors.read_port(), answers.read_port()
        # Inputs: read k_in chunks into a shift register, then hand the vector over.
        addr = Signal(range(n * k_in + 1))
        asked = Signal(range(k_in + 1))
        got = Signal(range(k_in + 1))
        arriving = Signal()
        vec = Signal(k_in * CHUNK)
        issued = Signal(range(n + 1))
        reading = (asked < k_in) & (addr < n * k_in)
        m.d.comb += [vec_rd.addr.eq(addr), vec_rd.en.eq(reading)]
        m.d.sync += arriving.eq(reading)
        with m.If(reading):
            m.d.sync += [addr.eq(addr + 1), asked.eq(asked + 1)]
        with m.If(arriving):
            m.d.sync += [vec.eq(Cat(vec[CHUNK:], vec_rd.data)), got.eq(got + 1)]
        in_valid = Signal()
        m.d.comb += in_valid.eq((got == k_in) & (issued < n) & paced(m, in_valid, ii))
        with m.If(in_valid):
            m.d.sync += [issued.eq(issued + 1), got.eq(0), asked.eq(0)]
        # Answers: hold the output, compare k_out chunks read from the answers ROM.
        held = Signal(k_out * CHUNK)
        eaddr = Signal(range(n * k_out + 1))
        asking = Signal(range(k_out + 1), init=k_out)
        checked = Signal(range(k_out + 1), init=k_out)
        e_arriving, bad = Signal(), Signal()
        e_reading = asking < k_out
        m.d.comb += [exp_rd.addr.eq(eaddr), exp_rd.en.eq(e_reading)]
        m.d.sync += e_arriving.eq(e_reading)
        with m.If(e_reading):
            m.d.sync += [eaddr.eq(eaddr + 1), asking.eq(asking + 1)]
        with m.If(out_valid & (received < n)):
            m.d.sync += [held.eq(out_data), asking.eq(0), checked.eq(0), bad.eq(0)]
        with m.Elif(e_arriving):
            wrong = held[:CHUNK] != exp_rd.data
            m.d.sync += [held.eq(held >> CHUNK), checked.eq(checked + 1), bad.eq(bad | wrong)]
            with m.If(checked == k_out - 1):
                m.d.sync += received.eq(received + 1)
                with m.If((bad | wrong) & (errors != 0xFFFF)):
                    m.d.sync += errors.eq(errors + 1)
        return in_valid, vec[:in_bits]


def verilog(component: SelfTest) -> str:
    from amaranth.back import verilog as back
    return back.convert(component, name=SELFTEST_TOP, emit_src=False)
