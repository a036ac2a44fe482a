"""How long one combinational level takes on each target: the pipeline schedule's model.

A level is an adder level of a linear sum or one step of an activation (`logic_levels`);
on an FPGA it is a LUT, the routing into it, and a carry chain. Chained adders ripple in
parallel (the next level's low bits start as soon as this level's low bits are ready), so
a stage's carry time is paid once, for its widest adder, not once per level. The model
of a stage: `level_ns` per level (`multiply_ns` for a hardware multiplier) plus
`carry_ns * widest`, and a register costs `register_ns` of every stage (clock to output,
setup, skew). ESTIMATES, fitted to hwgen's own placed-and-routed
designs where they exist (ECP5: `digits_mlp` at 63.9 MHz and `digits_mlp_pruned` at
73.8 MHz with a register every 3 levels of 16- to 20-bit adders, nextpnr, speed grade 6:
3 x 3.0 + 18 x 0.18 + 1.2 = 13.4 ns)
and otherwise set from the datasheet ratios of the families (iCE40 UltraPlus about 1.6x
ECP5's delays, Artix-7 -1 about 0.4x); the reported Fmax is always the router's, never
this model's.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DelayModel:
    level_ns: float          # a LUT level and its routing
    carry_ns: float          # per bit of carry chain
    register_ns: float       # per stage: clock to output, setup, skew
    multiply_ns: float       # a hardware multiplier (dsp mode), as one level
    default_mhz: float       # the clock target when none is given

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
    "ecp5": DelayModel(3.0, 0.18, 1.2, 5.0, 50.0),
    "ice40": DelayModel(4.8, 0.30, 2.0, 8.0, 24.0),
    "xc7": DelayModel(0.9, 0.05, 0.5, 2.5, 200.0),
    "asic": DelayModel(0.2, 0.03, 0.1, 0.6, 500.0),
}


def model(target: str) -> DelayModel:
    if target not in MODELS:
        raise ValueError(f"no delay model for target {target!r}; targets: "
                         f"{', '.join(MODELS)}")
    return MODELS[target]
