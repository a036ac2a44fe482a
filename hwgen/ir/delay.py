"""How long one combinational level takes on each target: the pipeline schedule's model.

A level is an adder level of a linear sum or one step of an activation (`logic_levels`);
on an FPGA it is a LUT, the routing into it, and a carry chain (`Node.level_costs` may say
otherwise: a step function has a level per level of its multiplexer tree, the first with
its comparators' carry chains on the input's width). Chained adders ripple in
parallel (the next level's low bits start as soon as this level's low bits are ready), so
a stage's carry time is paid once, for its widest adder, not once per level. The model
of a stage: `level_ns` per level (`multiply_ns` for a hardware multiplier) plus
`carry_ns * widest`, and a register costs `register_ns` of every stage (clock to output,
setup, skew). ESTIMATES, fitted to hwgen's own placed-and-routed
designs where they exist, and otherwise set from the datasheet ratios of the families
(iCE40 UltraPlus about 1.6x, Artix-7 -1 about 0.4x the delays of the first ECP5 model,
3.0 ns a level); the reported Fmax is always the router's, never this model's.

The routing into a level grows with the design: a net crosses more of the device when
there are more cells to place. Where measured (ECP5), a level costs
`level_ns * bits ** size_exponent`, `bits` being the design's adder bits (`sized`, about
0.75x its LUT4s). ECP5 (nextpnr, speed grade 6, two's-complement sums, LUT4-only mapping):
eight random MLPs of 146 to 12,191 adder bits (`tests/model_factory.random_peer_mlp`), a
register every 1 to 4 levels, placed and routed on an LFE5U-25F: 322.5 MHz for one level
of 19 bits in a 146-bit design, 190.9 and 110.0 MHz for 2 and 4 levels in a 356-bit
one, 143.3 and 86.4 MHz for 2 and 4 levels in a 5,083-bit one, 127.4 MHz for 2 levels
in a 12,191-bit one (62 % of the device). A level took about 1.3-1.9 ns in the smallest
and 2.5-3.0 ns in the largest; the carry adds about 0.03 ns a bit. With
`0.9 * bits ** 0.13` the model's critical stage is 0.5-26 % longer than the router's on
every one of them (a margin, so a schedule meets its clock;
`tests/passes/test_schedule_by_delay.py` holds the measurements). The
one constant model it replaced (3.0 ns a level, 0.18 ns a carry bit, fitted on two
designs of about 6k adder bits) made the small ones take 2-3x the cycles they need:
a 165-bit MLP got 6 cycles at 111 MHz (3 now; da4ml's design of it routes at that clock
in 2, and hwgen's 6-cycle one at 330 MHz).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class DelayModel:
    level_ns: float          # a LUT level and its routing
    carry_ns: float          # per bit of carry chain
    register_ns: float       # per stage: clock to output, setup, skew
    multiply_ns: float       # a hardware multiplier (dsp mode), as one level
    default_mhz: float       # the clock target when none is given
    size_exponent: float = 0.0   # a level costs level_ns * bits ** size_exponent (`sized`)
    lut_inputs: int = 4      # of the target's LUT (what one LUT level can merge)

    def sized(self, bits: int) -> "DelayModel":
        """This model for a design of `bits` adder bits: its level time with the routing
        of that size (unchanged where no size law is measured)."""
        if not self.size_exponent:
            return self
        return dataclasses.replace(self, level_ns=self.level_ns * max(bits, 1) **
                                   self.size_exponent, size_exponent=0.0)

    def stage(self, levels: float, widest: int) -> float:
        """Time of a stage of `levels` (their fixed times summed) whose widest adder has
        `widest` bits."""
        return levels + self.carry_ns * widest

    def budget(self, mhz: float) -> float:
        """Combinational time per stage at `mhz`."""
        return 1000.0 / mhz - self.register_ns


# Default clock targets: about what the current ECP5 designs reach (64-88 MHz), the
# UP5K's measured 38.7 MHz, a mid-range Artix-7 clock, and the ASIC power estimate's clock.
MODELS = {
    "ecp5": DelayModel(0.9, 0.03, 1.2, 5.0, 50.0, size_exponent=0.13),
    "ice40": DelayModel(4.8, 0.30, 2.0, 8.0, 24.0),
    "xc7": DelayModel(0.9, 0.05, 0.5, 2.5, 200.0, lut_inputs=6),
    "asic": DelayModel(0.2, 0.03, 0.1, 0.6, 500.0),
}


def model(target: str) -> DelayModel:
    if target not in MODELS:
        raise ValueError(f"no delay model for target {target!r}; targets: "
                         f"{', '.join(MODELS)}")
    return MODELS[target]
