"""The bit-test comparisons with saturation limits equal the comparisons they replace."""
import pytest
from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.sim import Simulator

from hwgen.ops.component import above, below


@pytest.mark.parametrize("shape", [unsigned(1), unsigned(5), signed(1), signed(2), signed(6)])
def test_above_and_below_match_the_comparisons_for_every_value(shape):
    v = Signal(shape)
    lo = -(1 << (shape.width - 1)) if shape.signed else 0
    hi = (1 << (shape.width - shape.signed)) - 1
    limits = sorted({c for m in range(shape.width + 2) for c in ((1 << m) - 1, -(1 << m), 0)}
                    | {3, -3, 5})              # and some that are not limits
    m = Module()
    outs = []
    for c in limits:
        a, b = Signal(name=f"a{len(outs)}"), Signal(name=f"b{len(outs)}")
        m.d.comb += [a.eq(above(v, c)), b.eq(below(v, c))]
        outs.append((c, a, b))
    sim = Simulator(m)

    async def check(ctx):
        for x in range(lo, hi + 1):
            ctx.set(v, x)
            for c, a, b in outs:
                assert ctx.get(a) == (x > c), (shape, x, c)
                assert ctx.get(b) == (x < c), (shape, x, c)
    sim.add_testbench(check)
    sim.run()
