"""The batch-mode harness: an Amaranth module around the DUT that makes the vectors and
prints the outputs in hardware, so Verilator runs whole simulations without Python in the
loop (per-vector cost in C++, not in cocotb's per-edge callbacks).

It plays the fixed vectors from a memory, then random vectors from `stimulus.lowbias32` of a
counter, one per clock (one every `ii` clocks for a folded design; a streaming design takes
each vector, an image, a pixel per in_valid/in_ready handshake); in the last quarter it leaves random idle gaps (about one cycle
in four) so the valid pipeline is exercised. `cfg_idle` holds the first vector back for that
many cycles, so a run can measure what an idle datapath does (the power estimate's toggle
counts). Every output with `out_valid` is printed as
`@<hex>`; `done` rises when all outputs have arrived. `cfg_offset` starts the random
vectors at a later index, so several simulator processes can share one run. The DUT is
instantiated by name from the manifest, so the Verilog under test is used exactly as found.
"""
from __future__ import annotations

from amaranth.hdl import (Cat, ClockSignal, Const, Format, Instance, Module, Mux, Print,
                          ResetSignal, Signal, unsigned)
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .codec import pixel_bits, port_width, words_per_vector
from .stimulus import ROM_LIMIT, rom_vectors

HARNESS = "hwgen_batch_harness"


def paced(m: Module, issue, ii: int):
    """High when a vector may go to a core that takes one every `ii` cycles (`issue`: one
    went this cycle); constant 1 for ii = 1."""
    if ii <= 1:
        return Const(1)
    wait = Signal(range(ii), name="ii_wait")
    with m.If(issue):
        m.d.sync += wait.eq(ii - 1)
    with m.Elif(wait != 0):
        m.d.sync += wait.eq(wait - 1)
    return wait == 0


def _lowbias32(m: Module, x, name: str):
    """The hash of `stimulus.lowbias32`, as logic."""
    steps = [lambda v: v ^ (v >> 16), lambda v: (v * 0x7FEB352D)[:32],
             lambda v: v ^ (v >> 15), lambda v: (v * 0x846CA68B)[:32],
             lambda v: v ^ (v >> 16)]
    for k, f in enumerate(steps):
        s = Signal(32, name=f"{name}_{k}")
        m.d.comb += s.eq(f(x))
        x = s
    return x


class BatchHarness(wiring.Component):
    """Generic in the run: the vector count, seed key, gap switch and the fixed vectors
    (loaded through `load_*` before reset is released) are ports, so one Verilator build
    serves every run of a design."""

    def __init__(self, manifest: dict):
        self.manifest = manifest
        last = manifest["input"]["elements"][-1]
        self.in_bits = last["lsb"] + last["width"]
        self.out_bits = port_width(manifest, "out_data")
        self.stream = manifest.get("io") == "stream"
        # A streaming core's ROM holds pixels (`words_per_vector` a vector), a word each.
        self.npix = words_per_vector(manifest)
        self.rom_width = pixel_bits(manifest) if self.stream else self.in_bits
        self.rom_depth = rom_vectors(manifest) * self.npix
        super().__init__({
            "cfg_n": In(32), "cfg_key": In(32), "cfg_offset": In(32),
            "cfg_fixed": In(range(ROM_LIMIT + 1)),
            "cfg_gaps": In(1), "cfg_idle": In(32),
            "load_en": In(1), "load_addr": In(range(self.rom_depth)),
            "load_data": In(self.rom_width), "done": Out(1), "cycles": Out(40)})

    def elaborate(self, platform):
        m = Module()
        n, r = self.cfg_n, self.cfg_fixed
        issued = Signal(32, name="issued")
        received = Signal(32, name="received")
        rnd_index = Signal(32, name="rnd_index")
        running = ~ResetSignal() & ~self.done
        words = (self.in_bits + 31) // 32
        m.submodules.rom = rom = Memory(shape=unsigned(self.rom_width), depth=self.rom_depth,
                                        init=[])
        wr = rom.write_port()
        m.d.comb += [wr.addr.eq(self.load_addr), wr.data.eq(self.load_data),
                     wr.en.eq(self.load_en)]
        rd = rom.read_port(domain="comb")
        if self.stream:
            # Pixel by pixel: the ROM's next pixel, or the random vector's bits
            # [bit, bit + pixel width), from the hashes of the 32-bit words they lie in
            # (the words `stimulus.random_codes` draws for the whole vector).
            pw = self.rom_width
            pix = Signal(range(max(self.npix, 2)), name="pixel")
            bit = Signal(range(max(self.in_bits, 2)), name="pixel_bit")
            rom_at = Signal(range(self.rom_depth), name="rom_pixel")
            first = (rnd_index + self.cfg_offset) * words + self.cfg_key + (bit >> 5)
            window = Cat(*[_lowbias32(m, (first + g)[:32], f"h{g}")
                           for g in range((pw + 31) // 32 + 1)])
            data = Signal(pw, name="vector_pixel")
            m.d.comb += [rd.addr.eq(rom_at),
                         data.eq(Mux(issued < r, rd.data, (window >> bit[:5])[:pw]))]
        else:
            rnd = [_lowbias32(m, ((rnd_index + self.cfg_offset) * words + g + self.cfg_key)
                              [:32], f"h{g}")
                   for g in range(words)]
            data = Signal(self.in_bits, name="vector")
            m.d.comb += [rd.addr.eq(issued),
                         data.eq(Mux(issued < r, rd.data, Cat(*rnd)[:self.in_bits]))]
        gap_hash = _lowbias32(m, self.cycles[:32] ^ 0x5BD1E995, "gap")
        idle_over = self.cycles >= self.cfg_idle
        go = idle_over & (~self.cfg_gaps | (issued < n - (n >> 2)) | (gap_hash[:2] != 0))
        valid = Signal(name="valid")
        if self.manifest.get("ii", 1) > 1 and not self.stream:   # one vector every ii clocks
            go &= paced(m, valid, self.manifest["ii"])
        m.d.comb += valid.eq(running & (issued < n) & go)
        advance = valid
        ports = {}
        if self.stream:
            # A streaming DUT takes the image a pixel per in_valid/in_ready handshake.
            in_ready = Signal(name="dut_in_ready")
            take = valid & in_ready
            last = pix == self.npix - 1
            with m.If(take):
                m.d.sync += [pix.eq(Mux(last, 0, pix + 1)),
                             bit.eq(Mux(last, 0, bit + self.rom_width))]
                with m.If(issued < r):
                    m.d.sync += rom_at.eq(rom_at + 1)
            advance = take & last
            ports = {"o_in_ready": in_ready}
        with m.If(advance):
            m.d.sync += issued.eq(issued + 1)
            with m.If(issued >= r):
                m.d.sync += rnd_index.eq(rnd_index + 1)
        out_valid = Signal(name="dut_out_valid")
        out_data = Signal(self.out_bits, name="dut_out_data")
        m.submodules.dut = Instance(
            self.manifest["top"], i_clk=ClockSignal(), i_rst=ResetSignal(),
            i_in_valid=valid, o_out_valid=out_valid, o_out_data=out_data,
            **({"i_in_data": data} | ports))
        with m.If(out_valid & ~ResetSignal()):
            m.d.sync += [Print(Format("@{:x}", out_data)), received.eq(received + 1)]
        with m.If(running):
            m.d.sync += self.cycles.eq(self.cycles + 1)
        m.d.comb += self.done.eq(received == n)
        return m


def verilog(harness: BatchHarness) -> str:
    from amaranth.back import verilog as back
    return back.convert(harness, name=HARNESS, emit_src=False)
