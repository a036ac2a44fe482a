"""`hwgen export MODEL --asic`: the Verilog and an OpenLane 2 configuration (sky130A,
sky130_fd_sc_hd) with a die sized from the `asic` estimate, and a README. Nothing runs
here: OpenLane needs its own installation (Nix or Docker).

Die size: NAND2 equivalents (transistors / 4 from the `asic` estimate) times the area of
sky130_fd_sc_hd__nand2_1 (1.38 um x 2.72 um = 3.75 um^2), at 50 % placement density,
plus a 20 um margin for the power ring and pins. The core's flattened ports have one pin
per bit; with `--asic-top serial` the core is wrapped in the 8-pin serial top
(`estimate/serial_top.py`) for a stand-alone chip.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from ..outputs import save_json, write_text

NAND2_UM2 = 1.38 * 2.72          # sky130_fd_sc_hd__nand2_1
DENSITY = 0.5
MARGIN_UM = 20
PIN_PITCH_UM = 2.0               # ASSUMPTION: pins on every metal-3/4 track pair, roughly


def die_size(nand2: int, pins: int) -> float:
    """Side (um) of a square die holding the cells at DENSITY and the pins on its edge."""
    core = math.sqrt(max(nand2, 1) * NAND2_UM2 / DENSITY)
    by_pins = pins * PIN_PITCH_UM / 4
    return round(max(core, by_pins) + 2 * MARGIN_UM, 1)


def openlane_config(top: str, verilog_name: str, clock_ns: float, side_um: float) -> dict:
    return {
        "meta": {"version": 2, "flow": "Classic"},
        "DESIGN_NAME": top,
        "VERILOG_FILES": [f"dir::src/{verilog_name}"],
        "CLOCK_PORT": "clk",
        "CLOCK_PERIOD": clock_ns,
        "FP_SIZING": "absolute",
        "DIE_AREA": [0, 0, side_um, side_um],
        "PL_TARGET_DENSITY_PCT": int(DENSITY * 100) + 5,
        "PDK": "sky130A",
        "STD_CELL_LIBRARY": "sky130_fd_sc_hd",
    }


def export_asic(design: str, manifest: dict, verilog_text: str, estimate: dict, out: Path,
                clock_ns: float = 10.0, serial: bool = False) -> dict:
    from ..sim.codec import port_width
    out = Path(out)
    (out / "src").mkdir(parents=True, exist_ok=True)
    top = manifest["top"]
    text = verilog_text
    pins = port_width(manifest, "in_data") + port_width(manifest, "out_data") + 4
    if serial:
        from ..estimate.serial_top import SERIAL_TOP, verilog as serial_verilog
        text += "\n" + serial_verilog(manifest)
        top, pins = SERIAL_TOP, 8
    name = f"{top}.v"
    write_text(out / "src" / name, text)
    nand2 = estimate["total"]["nand2_equivalents"]
    side = die_size(nand2, pins)
    config = openlane_config(top, name, clock_ns, side)
    write_text(out / "config.json", json.dumps(config, indent=1) + "\n")
    info = {"design": design, "top": top, "pins": pins, "nand2_equivalents": nand2,
            "transistors": estimate["total"]["transistors"], "die_um": side,
            "clock_ns": clock_ns, "density": DENSITY}
    save_json(out / "export.json", info)
    write_text(out / "README.md", _readme(info))
    return info


def _readme(i: dict) -> str:
    return "\n".join([
        f"# {i['design']}: ASIC hand-off (OpenLane 2, sky130A)", "",
        f"`src/{i['top']}.v` is the design (top `{i['top']}`, {i['pins']} pins); "
        f"`config.json` the OpenLane 2 configuration: clock `clk` at {i['clock_ns']} ns, a "
        f"{i['die_um']} um square die.", "",
        "The die comes from hwgen's `asic` estimate (Yosys generic gates): "
        f"{i['transistors']} transistors = {i['nand2_equivalents']} NAND2 equivalents x "
        f"{NAND2_UM2:.2f} um^2 (sky130_fd_sc_hd__nand2_1) at {int(i['density'] * 100)} % "
        f"density, plus a {MARGIN_UM} um margin; with many pins, the edge needed for them "
        "(about 2 um per pin) sets the size instead. It is a starting point: OpenLane's "
        "own synthesis and the timing it reaches decide.", "",
        "## Run", "", "```",
        "openlane config.json            # OpenLane 2 (Nix or Docker: see its documentation)",
        "```", "", "Nothing here was run through OpenLane.", ""])
