"""Power and energy per inference: measured switching activity times a per-target energy
model. An estimate, not a measurement of silicon.

Method. `activity.measure` counts, over co-simulation vectors, the toggles of the RTL's
registers and module outputs per instance (a layer module, or the top). Per instance, the
register toggle rate drives the synthesized flip-flops and the logic toggle rate
(registers and outputs) drives the instance's LUTs, carry cells, muxes and multipliers
(the synthesis keeps each layer module apart, so cells and signals belong to the same
instance). Per clock cycle:

    E = E_clock_network + N_FF * E_ff_clock
        + sum over instances [ a_reg * N_FF * E_ff + a_logic * sum_cells(N_cell * E_cell) ]
    P = P_static + f * E

with `a` in toggles per bit per cycle, plus, for block RAMs (the program ROMs of folded
layers), `N_RAM * E_read` on every cycle the layer reads them. Busy: one new vector every
II cycles (1 unless layers are folded); idle: no valid input (the datapath registers
hold, the ROMs are not read, so `a` is close to 0 and P is static plus clock). An
inference takes II cycles of busy power.
Zero-delay simulation does not see glitches; the constants below were calibrated on
designs whose measured power includes them, which absorbs part of that.

Every constant names its source. Where no published figure was available the constant is
marked ASSUMPTION and says how it was chosen; replace it with the vendor tool's figure
(Lattice Power Calculator, AMD XPE) for sign-off numbers.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import HwgenError
from .nextpnr import LUTRAM_CELLS

# --- iCE40UP5K: bench measurements of tinyvision-ai-inc/ice40_power (README table):
# iCE40UP5K breakout board, icestorm flow, Joulescope JS110, core rail at 1.219 V.
_ICE40_V = 1.219
_ICE40_F = 12e6
_UA = 1e-6
# Blank design: 85.6 uA on the core rail.
ICE40_STATIC_W = 85.6 * _UA * _ICE40_V
# External 12 MHz clock + 28-bit counter: 613.5 uA, minus the blank design: the clock
# network and input buffer per cycle (the counter's own 32 LCs are ~0.5 pJ of it).
ICE40_CLOCK_J = (613.5 - 85.6) * _UA * _ICE40_V / _ICE40_F
# Counters of 32 and 228 LCs at 12 MHz: 613.5 and 641.3 uA. A counter bit's LUT, carry and
# flip-flop all toggle 2/28 times per cycle on average: energy per LC toggle, shared
# equally by its three cells. Carry chains and flip-flops drive local wires.
_ICE40_LC_TOGGLE_J = (641.3 - 613.5) * _UA * _ICE40_V / _ICE40_F / (228 - 32) / (2 / 28)
ICE40_LOCAL_J = _ICE40_LC_TOGGLE_J / 3
# 8x8 multiplier in LUTs (HFOSC 12 MHz): 996 uA for 208 LCs against 645 uA for the 28-LC
# counter alone: 180 LCs of general logic. ASSUMPTION: their outputs toggle 0.5 times per
# cycle (counter operands, glitches included), which gives the energy per LUT toggle.
ICE40_LUT_J = (996 - 645) * _UA * _ICE40_V / _ICE40_F / 180 / 0.5
# The same multiply on one SB_MAC16: 882 uA (72 LCs). Minus the 44 extra LCs at counter
# activity, per cycle with operands from 8-bit counters (mean input toggle rate 2/8):
# energy per DSP per cycle per unit of toggle rate.
ICE40_DSP_J = ((882 - 645) * _UA * _ICE40_V / _ICE40_F - 44 * _ICE40_LC_TOGGLE_J * 2 / 28) \
    / (2 / 8)

# ASSUMPTION: one EBR read (16 data bits of a 256x16 block) costs as much as 16 LUT output
# toggles; no published iCE40 block RAM energy was found.
ICE40_RAM_READ_J = 16 * ICE40_LUT_J

# --- Artix-7: a published Vivado `report_power` (enjoy-digital/litex_m2sdr issue 22,
# XC7A200T, PCIe x4 design): device static 0.163 W for 133,800 LUTs; "LUT as Logic"
# 0.016 W for 6,403 LUTs; "Register" 0.001 W for 7,833; "Clocks" 0.095 W. ASSUMPTION: the
# design clock is 125 MHz (its PCIe user clock) and the toggle rate Vivado's default 12.5 %.
_XC7_F, _XC7_RATE = 125e6, 0.125
XC7_STATIC_PER_LUT_W = 0.163 / 133_800
XC7_LUT_J = 0.016 / 6403 / (_XC7_F * _XC7_RATE)
XC7_FF_J = 0.001 / 7833 / (_XC7_F * _XC7_RATE)
XC7_FF_CLOCK_J = 0.095 / 7833 / _XC7_F      # all clock power charged to the flip-flops

# --- ASIC, generic 45 nm at 0.9 V: M. Horowitz, "Computing's energy problem (and what we
# can do about it)", ISSCC 2014: a 32-bit integer add costs 0.1 pJ. A 32-bit ripple adder
# is 32 full adders of 28 transistors; with random operands about half of them switch: the
# energy per transistor per toggle.
ASIC_TRANSISTOR_J = 0.1e-12 / (32 * 28 * 0.5)
# ASSUMPTION: a flip-flop has 12 clocked transistors, switched on both clock edges.
ASIC_FF_CLOCK_J = 12 * 2 * ASIC_TRANSISTOR_J
# ASSUMPTION: leakage 2.5 nW per transistor (10 nW per NAND2 equivalent), the order of
# 45 nm general-purpose standard cells at 25 C; no figure in the sources above.
ASIC_LEAKAGE_PER_TRANSISTOR_W = 2.5e-9


@dataclass(frozen=True)
class EnergyModel:
    target: str
    clock_mhz: float                  # default run clock when there is no Fmax
    static_w: float
    clock_network_j: float            # per cycle, whatever the design
    ff_clock_j: float                 # per flip-flop per cycle
    ff_j: float                       # per flip-flop output toggle
    cell_j: dict = field(default_factory=dict)   # resource name -> J per toggle (per unit
    #                                   of the instance's logic toggle rate)
    sources: str = ""
    ram_read_j: float = 0.0           # per block RAM per read

    def as_dict(self) -> dict:
        pj = lambda j: round(j * 1e12, 5)
        return {"target": self.target, "static_mw": round(self.static_w * 1e3, 4),
                "clock_network_pj_per_cycle": pj(self.clock_network_j),
                "ff_clock_pj_per_cycle": pj(self.ff_clock_j), "ff_pj_per_toggle": pj(self.ff_j),
                "cell_pj_per_toggle": {k: pj(v) for k, v in self.cell_j.items()},
                "ram_pj_per_read": pj(self.ram_read_j), "sources": self.sources}


_ECP5_V2 = (1.1 / 1.2) ** 2     # same 40 nm node as the iCE40; dynamic energy ~ V^2
ECP5_LUTS = {"25k": 24288, "45k": 43848, "85k": 83640}


def model(target: str, device: str | None = None) -> EnergyModel:
    """The energy model of a target (for ecp5, of an LFE5U device: 25k, 45k, 85k)."""
    if target == "ice40":
        return EnergyModel("ice40", 12, ICE40_STATIC_W, ICE40_CLOCK_J, 0.0, ICE40_LOCAL_J,
                           {"LUT4": ICE40_LUT_J, "CARRY": ICE40_LOCAL_J, "DSP": ICE40_DSP_J},
                           "iCE40UP5K bench measurements, tinyvision-ai-inc/ice40_power; "
                           "block RAM read: ASSUMPTION (16 LUT toggles)", ICE40_RAM_READ_J)
    if target == "ecp5":
        luts = ECP5_LUTS[device or "25k"]
        return EnergyModel(
            "ecp5", 25, XC7_STATIC_PER_LUT_W * luts,
            ICE40_CLOCK_J * _ECP5_V2 * luts / 5280, 0.0, ICE40_LOCAL_J * _ECP5_V2,
            {"LUT4": ICE40_LUT_J * _ECP5_V2,
             # CCU2C: two sum bits into routing, each a LUT output plus its carry.
             "CCU2C": 2 * (ICE40_LUT_J + ICE40_LOCAL_J) * _ECP5_V2,
             "MUX": ICE40_LOCAL_J * _ECP5_V2, "DSP": ICE40_DSP_J * _ECP5_V2,
             # ASSUMPTION: a TRELLIS_DPR16X4 (16 x 4 bits) as the six LUT4s nextpnr packs
             # it into (nextpnr.LUTRAM_CELLS).
             "LUTRAM": LUTRAM_CELLS * ICE40_LUT_J * _ECP5_V2},
            "ASSUMPTION: iCE40UP5K measurements (tinyvision-ai-inc/ice40_power) scaled by "
            "(1.1 V / 1.2 V)^2, clock network by device size; static from Artix-7 per-LUT "
            "leakage (Vivado report in enjoy-digital/litex_m2sdr#22) times the LFE5U's LUTs; "
            "DP16KD read (36 bits): the iCE40 EBR assumption per bit; distributed RAM: six LUT4s "
            "a cell",
            ICE40_RAM_READ_J / 16 * 36 * _ECP5_V2)
    if target == "xc7":
        return EnergyModel(
            "xc7", 100, XC7_STATIC_PER_LUT_W * 20800, 0.0, XC7_FF_CLOCK_J, XC7_FF_J,
            {"LUT": XC7_LUT_J,
             "CARRY4": 2 * XC7_LUT_J,   # ASSUMPTION: four sum bits, about half leave the slice
             "MUX": XC7_FF_J, "DSP": ICE40_DSP_J * (1.0 / 1.2) ** 2,
             # ASSUMPTION: a LUT used as memory (counted in LUTs) or as a shift register
             # toggles its output as a logic LUT does.
             "LUTRAM": XC7_LUT_J, "SRL": XC7_LUT_J},
            "Vivado report_power of an XC7A200T design (enjoy-digital/litex_m2sdr#22), "
            "static scaled to the XC7A35T (20,800 LUTs); DSP48E1: ASSUMPTION, the iCE40 "
            "SB_MAC16 measurement scaled by (1.0 V / 1.2 V)^2; RAMB18 read (36 bits): "
            "ASSUMPTION, 36 LUT toggles; LUTs as memory or shift registers: ASSUMPTION, as "
            "logic LUTs", 36 * XC7_LUT_J)
    if target == "asic":
        return EnergyModel("asic", 500, 0.0, 0.0, ASIC_FF_CLOCK_J, 24 * ASIC_TRANSISTOR_J,
                           {"transistors": ASIC_TRANSISTOR_J},
                           "Horowitz, ISSCC 2014 (45 nm, 0.9 V); leakage: ASSUMPTION")
    raise ValueError(target)


def memory_duty(manifest: dict) -> dict:
    """Per module, the fraction of busy cycles its block RAMs are read: a folded layer
    reads one word of its program ROM per cycle of its program, `cycles` out of every II;
    a stream stage (its line buffer and output FIFO, where they are in block RAM) reads
    at most once per pixel it takes in, so `image` pixels out of every II (an upper
    bound: a strided stage's FIFO is read once per output pixel, fewer)."""
    duty = {row["module"]: row["cycles"] / manifest["ii"] for row in manifest["layers"]
            if row.get("cycles") and row["module"]}
    stages = {s["stage"]: s for s in (manifest.get("stream") or {}).get("stages", ())}
    for row in manifest["layers"]:
        stage = stages.get(row.get("node")) if row.get("op") == "stream_stage" else None
        if stage and row["module"]:
            pixels = stage["image"][0] * (stage["image"][1] if len(stage["image"]) > 1 else 1)
            duty[row["module"]] = max(duty.get(row["module"], 0.0),
                                      min(1.0, pixels / manifest["ii"]))
    return duty


def estimate_power(resources: dict, activity: dict, latency: int, target: str,
                   clock_mhz: float | None = None, device: str | None = None, ii: int = 1,
                   ram_duty: dict | None = None) -> dict:
    """Power (mW) busy and idle and energy per inference (nJ) from the per-layer resources
    of `resources.estimate` and the toggle rates of `activity.measure` (busy: one vector
    every `ii` cycles); `ram_duty` from `memory_duty`."""
    if clock_mhz is not None and not clock_mhz > 0:
        raise HwgenError(f"the clock must be above 0 MHz, not {clock_mhz}")
    ram_duty = ram_duty or {}
    m = model(target, device)
    f = (clock_mhz or m.clock_mhz) * 1e6
    layers, ff_total = [], 0
    dyn_j = {"busy": 0.0, "idle": 0.0}      # switching energy per cycle, unrounded
    idle_rates = {"reg": 0.0, "logic": 0.0}
    for row in resources["layers"]:
        act = activity["instances"].get(row["module"]) if row["module"] else None
        ffs = row.get("FF", 0)
        ff_total += ffs
        cell_j = sum(n * m.cell_j[k] for k, n in _comb_cells(row, m).items())
        energy = {}
        for mode in ("busy", "idle"):
            a = act[mode] if act else idle_rates
            energy[mode] = a["reg"] * ffs * m.ff_j + a["logic"] * cell_j
            if mode == "busy":
                energy[mode] += row.get("RAM", 0) * m.ram_read_j * ram_duty.get(row["module"],
                                                                                 0)
            dyn_j[mode] += energy[mode]
        layers.append({"layer": row["layer"], "module": row["module"],
                       "toggle_rate": act["busy"] if act else idle_rates,
                       "dynamic_busy_mw": round(energy["busy"] * f * 1e3, 4),
                       "dynamic_idle_mw": round(energy["idle"] * f * 1e3, 4),
                       "dynamic_pj_per_inference": round(energy["busy"] * ii * 1e12, 3)})
    static_w = m.static_w
    if target == "asic":
        static_w = ASIC_LEAKAGE_PER_TRANSISTOR_W * resources["total"]["transistors"]
    clock_j = m.clock_network_j + ff_total * m.ff_clock_j
    dyn_busy_j, dyn_idle_j = dyn_j["busy"], dyn_j["idle"]
    busy_w = static_w + f * (clock_j + dyn_busy_j)
    idle_w = static_w + f * (clock_j + dyn_idle_j)
    return {
        "estimate": True,
        "method": "toggle rates of the RTL from Verilator over the co-simulation vectors, "
                  "per layer, times the synthesized cells of that layer and a per-target "
                  "energy per toggle; plus clock and static power",
        "clock_mhz": round(f / 1e6, 3), "ii": ii, "model": dict(m.as_dict(), device=device),
        "static_mw": round(static_w * 1e3, 4),
        "clock_mw": round(f * clock_j * 1e3, 4),
        "dynamic_busy_mw": round(f * dyn_busy_j * 1e3, 4),
        "dynamic_idle_mw": round(f * dyn_idle_j * 1e3, 4),
        "busy_mw": round(busy_w * 1e3, 4), "idle_mw": round(idle_w * 1e3, 4),
        "energy_per_inference_nj": {
            # Back to back: one inference every II cycles, static and clock included.
            "busy": round(busy_w * ii / f * 1e9, 6),
            # One inference alone: its switching plus `latency` cycles of idle power.
            "isolated": round((dyn_busy_j * ii + latency * idle_w / f) * 1e9, 6),
            "dynamic_only": round(dyn_busy_j * ii * 1e9, 6)},
        "layers": layers}


def _comb_cells(row: dict, m: EnergyModel) -> dict:
    """The instance's combinational cells that the model prices."""
    if m.target == "asic":
        return {"transistors": max(row.get("transistors", 0) - 24 * row.get("FF", 0), 0)}
    return {k: row.get(k, 0) for k in m.cell_j}
