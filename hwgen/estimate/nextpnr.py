"""Place and route with nextpnr for Fmax and utilisation (ECP5, out of context).

The core's flattened input and output vectors have far more bits than any package has
pins, so it is placed and routed out of context (`--out-of-context`: no I/O buffers, the
ports stay internal nets), the way a core inside a larger design is timed. The device is
the smallest LFE5U that holds the synthesized LUTs, flip-flops and multipliers, unless
one is given. iCE40 place and route needs a board top that serialises the I/O (issue 5).
"""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from ..errors import HwgenError

# LFE5U devices: (nextpnr flag, LUT4s, flip-flops, MULT18X18D), from the ECP5 family data
# sheet (FPGA-DS-02012, table 1.1).
ECP5_DEVICES = [("25k", 24288, 24288, 28), ("45k", 43848, 43848, 72),
                ("85k", 83640, 83640, 156)]


def pick_device(luts: int, ffs: int, dsps: int, device: str | None = None) -> str:
    """The smallest ECP5 holding the design, or a clear error with the numbers."""
    names = [d[0] for d in ECP5_DEVICES]
    if device is not None and device not in names:
        raise HwgenError(f"--device must be one of {', '.join(names)}, not {device!r}")
    for name, lut_cap, ff_cap, dsp_cap in ECP5_DEVICES:
        if device in (None, name) and luts <= lut_cap and ffs <= ff_cap and dsps <= dsp_cap:
            return name
    name, lut_cap, ff_cap, dsp_cap = ECP5_DEVICES[-1] if device is None else \
        next(d for d in ECP5_DEVICES if d[0] == device)
    raise HwgenError(f"the design needs {luts} LUT4, {ffs} FF, {dsps} MULT18X18D; LFE5U-"
                     f"{name.upper()} has {lut_cap}, {ff_cap}, {dsp_cap}. Prune more, use "
                     "fewer bits, --mult dsp, or a larger --pipeline")


def synth_json_script(top: str) -> str:
    esc = "\\" + top if "." in top else top
    return ("read_verilog design.v\n"
            f"hierarchy -top {esc}\n"
            'scratchpad -set abc9.script "+&if,-W,300,-v"\n'
            f"synth_ecp5 -abc9 -top {esc} -json design.json\n")


def place_and_route(verilog: Path, top: str, work: Path, device: str, freq_mhz: float = 100,
                    seed: int = 1) -> dict:
    """Synthesize the whole design and place and route it; Fmax (MHz) and utilisation."""
    from .. import toolchain
    work.mkdir(parents=True, exist_ok=True)
    (work / "design.v").write_text(Path(verilog).read_text())
    (work / "synth.ys").write_text(synth_json_script(top))
    yosys = subprocess.run(toolchain.yosys_command() + ["-q", "-l", "yosys.log", "-s",
                                                        "synth.ys"],
                           cwd=work, capture_output=True, text=True)
    if yosys.returncode != 0:
        raise HwgenError(f"Yosys failed; see {work / 'yosys.log'}")
    cmd = toolchain.nextpnr_command("ecp5") + [
        f"--{device}", "--package", "CABGA381", "--out-of-context", "--timing-allow-fail",
        "--json", "design.json", "--freq", str(freq_mhz),
        "--seed", str(seed), "--report", "report.json", "--log", "nextpnr.log", "-q"]
    pnr = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
    if pnr.returncode != 0:
        raise HwgenError(f"nextpnr failed; see {work / 'nextpnr.log'}")
    return parse_report(json.loads((work / "report.json").read_text()), device)


def parse_report(report: dict, device: str) -> dict:
    """Fmax of the clock and the used/available count of each resource kind."""
    fmax = report.get("fmax", {})
    clocks = {re.sub(r"\$.*", "", k): round(v["achieved"], 1) for k, v in fmax.items()}
    util = {k: {"used": v["used"], "available": v["available"]}
            for k, v in report.get("utilization", {}).items() if v["used"]}
    return {"device": f"LFE5U-{device.upper()}", "fmax_mhz": min(clocks.values())
            if clocks else None, "clocks": clocks, "utilization": util}
