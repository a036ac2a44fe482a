"""A top that serialises the core's I/O, so nextpnr-ice40 (which has no out-of-context
mode) can place and route a core whose flattened ports have far more bits than the
UP5K's package has pins.

Ports: `si`/`si_en` shift one input bit per clock into a register as wide as `in_data`;
`go` is the core's `in_valid`; the core's outputs are captured when `out_valid` rises and
shifted out on `so` while `so_en` is high. The shift registers add `in_bits + out_bits`
flip-flops of trivial timing: the core's own paths, which set Fmax, are unchanged.
"""
from __future__ import annotations

from amaranth.hdl import Cat, ClockSignal, Instance, Module, ResetSignal, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..sim.codec import port_width

SERIAL_TOP = "hwgen_serial_top"


class SerialTop(wiring.Component):
    def __init__(self, manifest: dict):
        self.manifest = manifest
        self.in_bits = port_width(manifest, "in_data")
        self.out_bits = port_width(manifest, "out_data")
        super().__init__({"si": In(1), "si_en": In(1), "go": In(1), "so_en": In(1),
                          "so": Out(1), "done": Out(1)})

    def elaborate(self, platform):
        m = Module()
        shift_in = Signal(self.in_bits, name="shift_in")
        shift_out = Signal(self.out_bits, name="shift_out")
        out_valid = Signal(name="core_out_valid")
        out_data = Signal(self.out_bits, name="core_out_data")
        m.submodules.core = Instance(
            self.manifest["top"], i_clk=ClockSignal(), i_rst=ResetSignal(),
            i_in_valid=self.go, i_in_data=shift_in, o_out_valid=out_valid,
            o_out_data=out_data)
        with m.If(self.si_en):
            m.d.sync += shift_in.eq(Cat(shift_in[1:], self.si))
        with m.If(out_valid):
            m.d.sync += shift_out.eq(out_data)
        with m.Elif(self.so_en):
            m.d.sync += shift_out.eq(shift_out >> 1)
        m.d.sync += self.done.eq(out_valid)
        m.d.comb += self.so.eq(shift_out[0])
        return m


def verilog(manifest: dict) -> str:
    from amaranth.back import verilog as back
    return back.convert(SerialTop(manifest), name=SERIAL_TOP, emit_src=False)
