"""Place and route with nextpnr for Fmax and utilisation (ECP5 and iCE40UP5K).

The core's flattened input and output vectors have far more bits than any package has
pins. ECP5: placed and routed out of context (`--out-of-context`: no I/O buffers, the
ports stay internal nets), the way a core inside a larger design is timed, on the
smallest LFE5U that holds the synthesized LUTs, flip-flops and multipliers, unless one is
given. iCE40: nextpnr-ice40 has no out-of-context mode, so the core is wrapped in
`serial_top.SerialTop` (one serial input, one serial output) and placed on the UP5K
(SG48 package), the device of the iCEBreaker.
"""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

from ..errors import HwgenError
from . import ecp5_carry
from ..tool_errors import read_log, tool_failed

# LFE5U devices: (nextpnr flag, LUT4s, flip-flops, MULT18X18D), from the ECP5 family data
# sheet (FPGA-DS-02012, table 1.1).
ECP5_DEVICES = [("25k", 24288, 24288, 28), ("45k", 43848, 43848, 72),
                ("85k", 83640, 83640, 156)]


class PlacementFailed(HwgenError):
    """nextpnr could not place or route the design (its first error quoted)."""


def ecp5_part(device: str) -> str:
    """Lattice's part name for a nextpnr-ecp5 device: "85k" -> "LFE5U-85F"."""
    return f"LFE5U-{device[:-1]}F"


# Logic cells (TRELLIS_COMB) nextpnr packs a TRELLIS_DPR16X4 into: four RAM LUTs and two
# for its write port. Measured: QKeras's example_mnist stream on the LFE5U-85F, 4,096
# DPR16X4 (its output FIFOs) took 16,384 RAM and 8,192 RAMW LUTs, 24,576 of its 52,422
# cells, which an estimate without them put at 27.2k.
LUTRAM_CELLS = 6


def lut_slots(total: dict) -> int:
    """ECP5 LUT4 slots a synthesized design takes: its LUT4s, two per CCU2C carry and
    LUTRAM_CELLS per distributed-RAM cell."""
    return total.get("LUT4", 0) + 2 * total.get("CCU2C", 0) + \
        LUTRAM_CELLS * total.get("LUTRAM", 0)


def packed_cells(total: dict) -> int:
    """ECP5 logic cells (TRELLIS_COMB) the design takes once nextpnr has packed it: its
    LUT4s and two per CCU2C, nothing more. nextpnr would add a feed-in and a feed-out
    CCU2C to every carry chain (1.45x the CCU2C Yosys counted, on hwgen's short adders);
    hwgen's adder mapping and `ecp5_carry.free_chain_ends` leave it none to add, in the
    estimate's place and route and in board builds (ecp5_carry.py)."""
    return lut_slots(total)


# Logic cells are picked with more to spare: nextpnr places each carry chain in
# consecutive slices of one column, and (with the feed-in and feed-out cells it then
# added) it could not legally place waveform_cnn1d's stream at 85 % of the LFE5U-45F's
# cells (37,120 of 43,848) nor the fully parallel jet tagger at about 86 % of the 85F's,
# where digits_cnn's stream (50 % of the 25F) places and routes.
PLACEMENT_HEADROOM = 0.70

# The smallest device is picked with this share of each resource to spare for routing
# (vendors advise filling an FPGA to 80-85 % at most for timing closure). Measured here:
# the jet tagger folded at reuse 16 uses 67 MULT18X18D; on the LFE5U-45F (93 % of its 72)
# nextpnr took 218 s and reached 66.4 MHz, on the LFE5U-85F (43 %) 143 s and 68.7 MHz (the
# two runs side by side). The largest device, or one given with --device, is used to the
# full.
ROUTING_HEADROOM = 0.85


def pick_device(luts: int, ffs: int, dsps: int, device: str | None = None) -> str:
    """The smallest ECP5 holding the design (`luts`: logic cells, `packed_cells`) with room
    to place (PLACEMENT_HEADROOM) and route (ROUTING_HEADROOM), else the largest if it holds
    it at all, or a clear error with the numbers."""
    names = [d[0] for d in ECP5_DEVICES]
    if device is not None and device not in names:
        raise HwgenError(f"device must be one of {', '.join(names)}, not {device!r}")
    def holds(caps, shares=(1.0, 1.0, 1.0)):
        return all(n <= share * cap for n, cap, share in zip((luts, ffs, dsps), caps, shares))

    if device is None:
        for name, *caps in ECP5_DEVICES[:-1]:
            if holds(caps, (PLACEMENT_HEADROOM, ROUTING_HEADROOM, ROUTING_HEADROOM)):
                return name
    name, lut_cap, ff_cap, dsp_cap = ECP5_DEVICES[-1] if device is None else \
        next(d for d in ECP5_DEVICES if d[0] == device)
    if holds((lut_cap, ff_cap, dsp_cap)):
        return name
    hints = []
    if luts > lut_cap:
        hints.append("a reuse factor (--reuse 16: dense layers folded onto a few "
                     "multipliers), prune more, use fewer bits, or --mult dsp (multipliers "
                     "instead of LUT adders)")
    if ffs > ff_cap:
        hints.append("a larger --pipeline (fewer pipeline registers)")
    if dsps > dsp_cap:
        hints.append("--mult csd (shift-add instead of multipliers) or a larger --reuse "
                     "(fewer lanes)")
    raise HwgenError(f"the design needs {luts} logic cells (LUT4s, and CCU2C carry cells as "
                     f"nextpnr packs them), {ffs} FF, {dsps} MULT18X18D; "
                     f"{ecp5_part(name)} has {lut_cap}, {ff_cap}, {dsp_cap}. To fit: "
                     + "; ".join(hints))


# iCE40UP5K: LUT4s (= flip-flops) and SB_MAC16s, from the iCE40 UltraPlus data sheet
# (FPGA-DS-02008, table 1.1).
UP5K = ("up5k", 5280, 5280, 8)


def fits_up5k(luts: int, ffs: int, dsps: int, carry_only: int = 0) -> None:
    """A clear error unless the design (plus the serial wrapper) fits the UP5K;
    `carry_only`: carries without a sum LUT to share a logic cell with."""
    name, lut_cap, ff_cap, dsp_cap = UP5K
    # A logic cell holds a LUT4 and a flip-flop, but nextpnr packed few pairs here
    # (digits_mlp_pruned folded: 1836 LUT4 + 2290 FF took 4420 cells): count both, and a
    # cell for each carry with no sum LUT (a random CNN's comparisons: 2,180 LUT4 +
    # 1,220 FF + 2,187 carry-only, which nextpnr packed into 5,859 cells, passed the
    # LUT4 + FF count and then failed to place).
    cells = luts + ffs + carry_only
    if cells > lut_cap or dsps > dsp_cap:
        alone = f" + {carry_only} carry-only" if carry_only else ""
        # comparisons (a step function's thresholds) are not folded by a reuse factor
        steps = (f" ({carry_only} cells are the carries of comparisons, e.g. a batch norm "
                 "or a non-linear quantizer as thresholds, which no reuse factor folds: "
                 "fewer bits on those activations shrink them)"
                 if carry_only > lut_cap // 4 else "")
        raise HwgenError(f"the design needs {luts} LUT4 + {ffs} FF{alone} = {cells} logic "
                         f"cells, {dsps} SB_MAC16; the iCE40UP5K has {lut_cap}, {dsp_cap}"
                         f"{steps}. A reuse factor "
                         "(--reuse 128: dense layers folded onto a few multipliers; a larger "
                         "one if DSPs are short), prune more, use fewer bits, --mult dsp "
                         "for up to 8 multipliers, a larger --pipeline if flip-flops are "
                         "short; or target ecp5")


def synth_json_script(top: str, family: str = "ecp5") -> str:
    esc = "\\" + top if "." in top else top
    head = ("read_verilog design.v\n"
            f"hierarchy -top {esc}\n")
    if family == "ice40":
        return head + ('scratchpad -set abc9.script "+&if,-W,250,-v"\n'
                       f"synth_ice40 -abc9 -dsp -top {esc} -json design.json\n")
    return head + ('scratchpad -set abc9.script "+&if,-W,300,-v"\n'
                   + ecp5_carry.synth_script(esc, json_file="design.json"))


def place_and_route(verilog: Path, top: str, work: Path, device: str, freq_mhz: float = 100,
                    seed: int = 1, manifest: dict | None = None,
                    time_limit_s: float | None = None) -> dict:
    """Synthesize the whole design and place and route it; Fmax (MHz) and utilisation.
    `device` is an LFE5U size (25k, 45k, 85k) or `up5k` (then `manifest` is needed for
    the serial wrapper). `time_limit_s` bounds the whole run, Yosys's synthesis and
    nextpnr (processes.TimedOut)."""
    from .. import processes
    start = time.monotonic()

    def left() -> float | None:
        """The seconds left of `time_limit_s` (None: no limit)."""
        if time_limit_s is None:
            return None
        rest = time_limit_s - (time.monotonic() - start)
        if rest <= 0:
            raise processes.TimedOut(time_limit_s)
        return rest

    work.mkdir(parents=True, exist_ok=True)
    text = Path(verilog).read_text()
    family = "ice40" if device == "up5k" else "ecp5"
    if family == "ice40":
        from .serial_top import SERIAL_TOP, verilog as serial_verilog
        text += "\n" + serial_verilog(manifest)
        top = SERIAL_TOP
    (work / "design.v").write_text(text)
    try:
        return _synthesize_and_place(work, top, family, device, freq_mhz, seed, left)
    except processes.TimedOut:        # the limit of the whole run, not of the last step
        raise processes.TimedOut(time_limit_s) from None


def _synthesize_and_place(work: Path, top: str, family: str, device: str, freq_mhz: float,
                          seed: int, left) -> dict:
    """Yosys, then nextpnr, in `work`; `left()` gives each the seconds still allowed."""
    from .. import processes, toolchain
    (work / "synth.ys").write_text(synth_json_script(top, family))
    if family == "ecp5":
        ecp5_carry.write_map(work)
    yosys = processes.run(toolchain.yosys_command() + ["-q", "-l", "yosys.log", "-s",
                                                       "synth.ys"], cwd=work, timeout=left())
    if yosys.returncode != 0:
        raise tool_failed("Yosys", work / "yosys.log", (yosys.stderr or "") + "\n" +
                          read_log(work / "yosys.log"), " before place and route")
    if family == "ecp5":
        ecp5_carry.free_chain_ends(work / "design.json")
    where = ["--up5k", "--package", "sg48", "--pcf-allow-unconstrained"] \
        if family == "ice40" else [f"--{device}", "--package", "CABGA381", "--out-of-context"]
    cmd = toolchain.nextpnr_command(family) + where + [
        "--timing-allow-fail", "--json", "design.json", "--freq", str(freq_mhz),
        "--seed", str(seed), "--report", "report.json", "--log", "nextpnr.log", "-q"]
    pnr = processes.run(cmd, cwd=work, timeout=left())
    if pnr.returncode != 0:
        raise tool_failed(f"nextpnr-{family}", work / "nextpnr.log", (pnr.stderr or "") +
                          "\n" + read_log(work / "nextpnr.log"), error=PlacementFailed)
    name = "iCE40UP5K" if family == "ice40" else ecp5_part(device)
    return parse_report(json.loads((work / "report.json").read_text()), name)


def parse_report(report: dict, device: str) -> dict:
    """Fmax of the clock and the used/available count of each resource kind (`device` is
    the name to report)."""
    fmax = report.get("fmax", {})
    clocks = {re.sub(r"\$.*", "", k): round(v["achieved"], 1) for k, v in fmax.items()}
    util = {k: {"used": v["used"], "available": v["available"]}
            for k, v in report.get("utilization", {}).items() if v["used"]}
    return {"device": device, "fmax_mhz": min(clocks.values())
            if clocks else None, "clocks": clocks, "utilization": util}
