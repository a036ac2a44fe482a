"""Synthesis with Yosys, one layer module at a time, in parallel, cached by content hash.

Each layer module of the generated Verilog (and the top with its layers as black boxes:
input/output registers, argmax) is synthesized on its own for the target, so a large
network never becomes one huge netlist, the layers run on all cores, and an unchanged
layer is never synthesized twice. Mapping uses Yosys's fast ABC9 script
(`&if -W <delay>`, see ARCHITECTURE.md): minutes become seconds on unrolled dense layers;
`full=True` runs the default ABC9 script instead.

On ECP5 the mapping uses LUT4s only (`-nowidelut`, here, before place and route and in
board builds): with wide LUTs (PFUMX, L6MUX21) the delay-driven `&if` script duplicated
logic, most in rounding and saturation. One RND_CONV quantizer element (24 -> 6 bits) took
58 LUT4 + 49 muxes against 11 LUT4; the zoo jet tagger's per-layer total went from
13,919 LUT4 + 3,596 muxes to 10,562 LUT4, and no design measured got more logic levels.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from .. import cache_dir
from ..errors import HwgenError
from . import ecp5_carry
from ..outputs import write_text
from ..tool_errors import read_log, tool_failed
from ..processes import Cancelled, one_line_at_a_time


@dataclass(frozen=True)
class Target:
    name: str
    synth: str                   # the synthesis command; {top} is the module
    abc9_delay: int | None       # fast ABC9 script delay target, None: no ABC9
    resources: dict              # report name -> cell type regex (count of cells), or
    #                              {regex: units per cell} (e.g. LUTs a RAM cell takes)
    # The label of the synthesis command's memory mapping and of the step after it. A
    # design without memories skips that range: Yosys reads and elaborates the block-RAM
    # techmap files even with nothing to map, ~4 s of a ~8 s xc7 run (~1 s of ~3 s on
    # iCE40). Skipping it leaves the netlist the same (tests/estimate/test_yosys.py).
    memory_steps: tuple[str, str] | None = None
    # Commands around `stat` (after the longest path is measured), undone after it so the
    # netlist written after the script is the synthesized one.
    stat_steps: tuple[str, str] | None = None

    def command(self, top: str, memories: bool = True, flatten: bool = False) -> str:
        """The synthesis command(s) for module `top`; `memories`: whether the design has
        any (`has_memories`); `flatten`: one netlist, no hierarchy (xc7)."""
        synth = self.synth.format(top=_esc(top)) + (" -flatten" if flatten else "")
        if memories or self.memory_steps is None:
            return synth
        memory, after = self.memory_steps
        return f"{synth} -run :{memory}\n{synth} -run {after}:"

    def script(self, module: str, blackboxes: list[str], full: bool, memories: bool = True,
               flatten: bool = False) -> str:
        lines = ["read_verilog design.v", f"hierarchy -top {_esc(module)}"]
        if blackboxes:
            lines.append("blackbox " + " ".join(_esc(b) for b in blackboxes))
        if self.abc9_delay and not full:
            lines.append(f'scratchpad -set abc9.script "+&if,-W,{self.abc9_delay},-v"')
        lines.append(self.command(module, memories, flatten))
        stat = "tee -q -o stat.json stat -json" + (" -tech cmos" if self.name == "asic"
                                                    else "")
        lines.append("tee -q -o ltp.txt ltp -noff")
        lines += [self.stat_steps[0], stat, self.stat_steps[1]] if self.stat_steps else [stat]
        return "\n".join(lines) + "\n"


ICE40_CARRY_PAIR = r"\$__ICE40_CARRY_WRAPPER"     # an SB_CARRY and its sum SB_LUT4

TARGETS = {
    # iCE40: a carry whose sum LUT shares its inputs packs with it into one logic cell;
    # one without (a comparison's: only its carry out is read) takes a cell of its own.
    # `ice40_wrapcarry` pairs them as nextpnr will, so that `CARRY_ONLY` counts those
    # cells (a random CNN's step functions: 2,187 of 2,802 carries, nextpnr 2,196).
    "ice40": Target("ice40", "synth_ice40 -abc9 -dsp -top {top}", 250, {
        "LUT4": {r"SB_LUT4": 1, ICE40_CARRY_PAIR: 1},
        "CARRY": {r"SB_CARRY": 1, ICE40_CARRY_PAIR: 1}, "CARRY_ONLY": r"SB_CARRY",
        "FF": r"SB_DFF\w*", "DSP": r"SB_MAC16", "RAM": r"SB_RAM40_4K\w*"},
        ("map_ram", "map_ffram"), ("ice40_wrapcarry", "ice40_wrapcarry -unwrap")),
    # ECP5: Yosys's mapping with hwgen's for adders (ecp5_carry.py: no feed-in/out cells).
    "ecp5": Target("ecp5", ecp5_carry.synth_script("{top}").rstrip("\n"), 300, {
        "LUT4": r"LUT4", "CCU2C": r"CCU2C", "FF": r"TRELLIS_FF", "DSP": r"MULT18X18D",
        "RAM": r"DP16KD", "MUX": r"PFUMX|L6MUX21",
        # Distributed RAM (16 x 4 bits in LUTs: FIFOs, small memories), which takes logic
        # cells once nextpnr packs it (nextpnr.LUTRAM_CELLS).
        "LUTRAM": r"TRELLIS_DPR16X4"}),
    "xc7": Target("xc7", "synth_xilinx -family xc7 -abc9 -top {top}", 300, {
        "LUT": r"LUT[1-6]", "CARRY4": r"CARRY4", "FF": r"FD[RSCP]E", "DSP": r"DSP48E1",
        "RAM": r"RAMB(18|36)E1", "MUX": r"MUXF[78]",
        # LUTs used as memory (Vivado's "LUT as Memory"), in LUTs: distributed RAM (a
        # stream's small FIFOs; UG474: RAM32M/RAM64M take a SLICEM's four LUTs, a
        # dual-port RAMnX1D two per 64 bits) and shift registers (line buffers' delays).
        "LUTRAM": {r"RAM(32|64)M|RAM128X1D|RAM256X1S": 4, r"RAM(32|64)X1D|RAM128X1S": 2,
                   r"RAM(32|64)X1S": 1},
        "SRL": r"SRLC?(16|32)E"}, ("map_memory", "map_ffram")),
    "asic": Target("asic", "synth -flatten -top {top}\nabc -g cmos2\nopt_clean", None, {
        "gates": r"\$_(NAND|NOR|NOT|AND|OR|XOR|XNOR|ANDNOT|ORNOT|MUX|AOI\d|OAI\d)_",
        "FF": r"\$_S?DFFE?_\w+"}),
}


# A memory in Verilog (an array: `reg [47:0] storage [3:0];`, as Yosys writes Amaranth's
# memories; `logic` and `wire` arrays too) or in RTLIL (a `memory` or a `$mem` cell).
_MEMORY = re.compile(r"^\s*(?:reg|logic|wire)\b[^;\n]*?(?:\\\S+|[A-Za-z_][\w$]*)\s*"
                     r"\[[^\]]*\]\s*[;,=\[]|^\s*memory\b|^\s*cell\s+\$mem", re.M)


def has_memories(text: str) -> bool:
    """Whether the design `text` (Verilog or RTLIL) declares a memory."""
    return _MEMORY.search(text) is not None


def _esc(name: str) -> str:
    return "\\" + name if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*", name) else name


def synthesize(verilog: Path, modules: list[str], top: str, target: str, work: Path,
               full: bool = False, jobs: int = 2, log=print, stop=None) -> dict:
    """Resources and logic levels per module (the top without its layers) for `target`.
    `stop(done)`, called with the modules finished so far, may end the run early (True):
    the running Yosys processes are stopped and only the finished modules are returned."""
    if target not in TARGETS:
        raise HwgenError(f"target must be one of {', '.join(TARGETS)}, not {target!r}")
    t = TARGETS[target]
    text = Path(verilog).read_text()
    # A layer module instantiates nothing, so its own text is a complete design: its cache
    # entry then survives changes to other layers. Largest first: the long runs start
    # early (less idle time at the end), and `stop` sees the big numbers soonest.
    closures = {m: module_closure(text, m) for m in modules}
    tasks = sorted(((m, closures[m], t.script(m, [], full, has_memories(closures[m])))
                    for m in modules), key=lambda task: -len(task[1]))
    tasks.append((top, text, t.script(top, modules, full, has_memories(text))))

    version = yosys_version()      # a result is only reused from the same Yosys
    cancel = threading.Event()
    log_line, = one_line_at_a_time(log)     # the layers log from threads

    def run(task):
        module, design, script = task
        if cancel.is_set():
            raise Cancelled()
        return _run_cached(design, script + "# " + version + "\n", Path(work), module,
                           log_line, cancel)

    done = {}
    with ThreadPoolExecutor(max(1, jobs)) as pool:
        futures = {pool.submit(run, task): task[0] for task in tasks}
        try:
            for future in as_completed(futures):
                try:
                    result = future.result()
                except Cancelled:
                    continue
                done[futures[future]] = summarize(t, result["stat"], result["ltp"])
                if stop is not None and len(done) < len(tasks) and stop(done):
                    cancel.set()
        except BaseException:
            cancel.set()
            raise
    return done


def synthesize_whole(verilog: Path, top: str, target: str, work: Path,
                     full: bool = False, netlist: str | None = None) -> dict:
    """The whole design in one Yosys run (no per-layer split, no cache): the cross-check of
    the per-layer numbers. Slower, and it sees constants and dead logic across layers.
    `netlist`: also write the mapped netlist as JSON to this file in `work`."""
    from .. import processes, toolchain
    t = TARGETS[target]
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    text = Path(verilog).read_text()
    (work / "design.v").write_text(text)
    script = t.script(top, [], full, has_memories(text), flatten=target == "xc7")
    if netlist:
        script += f"write_json {netlist}\n"
    (work / "synth.ys").write_text(script)
    _write_maps(script, work)
    proc = processes.run(toolchain.yosys_command() + ["-q", "-l", "yosys.log", "-s",
                                                      "synth.ys"], cwd=work)
    if proc.returncode != 0:
        raise tool_failed("Yosys", work / "yosys.log", (proc.stderr or "") + "\n" +
                          read_log(work / "yosys.log"), " on the whole design")
    return summarize(t, json.loads((work / "stat.json").read_text()),
                     (work / "ltp.txt").read_text())


def synthesize_text(text: str, top: str, target: str, work: Path,
                    blackboxes: list[str] | tuple = (), log=print, rtlil: bool = False) -> dict:
    """Resources of the design `text` (top `top`, `blackboxes` left out) for `target`,
    cached in `work` by content as the per-layer runs are. `rtlil`: `text` is RTLIL, not
    Verilog (a large ROM is one `$meminit_v2` cell there; as Verilog, an initial
    statement per word, which Yosys's Verilog front end reads for minutes)."""
    t = TARGETS[target]
    script = t.script(top, list(blackboxes), False, has_memories(text))
    if rtlil:
        script = script.replace("read_verilog design.v", "read_rtlil design.il")
    result = _run_cached(text, script + "# " + yosys_version() + "\n", Path(work), top, log,
                         file="design.il" if rtlil else "design.v")
    counts = summarize(t, result["stat"], result["ltp"])
    counts.pop("logic_levels", None)
    return counts


def module_closure(text: str, name: str) -> str:
    """The Verilog of module `name` and of every module it instantiates, transitively (a
    stream stage holds its pixel datapath and FIFO): a complete design on its own."""
    names = re.findall(r"^module (\\?\S+?) ?\(", text, flags=re.M)
    names = [n[1:] if n.startswith("\\") else n for n in names]
    seen, order, todo = set(), [], [name]
    while todo:
        cur = todo.pop()
        if cur in seen:
            continue
        seen.add(cur)
        body = module_text(text, cur)
        order.append(body)
        todo += [n for n in names if n not in seen and re.search(
            r"^\s*" + re.escape(_esc(n)) + r"\s+\S+\s*\(", body, flags=re.M)]
    return "\n".join(order)


def module_text(text: str, name: str) -> str:
    """The Verilog of one module (with its attribute lines) from a generated file."""
    m = re.search(r"(\(\*[^\n]*\*\)\n)*module " + re.escape(_esc(name)) + r" ?\(", text)
    if m is None:
        raise HwgenError(f"module {name} is not in the Verilog")
    end = text.index("endmodule", m.end()) + len("endmodule")
    return text[m.start():end] + "\n"


def shared_results() -> Path | None:
    """Where Yosys's results are kept for every build folder: `$HWGEN_YOSYS_CACHE` if set
    (`0`: nowhere), else `yosys/` in hwgen's cache folder (`cache_dir.root()`)."""
    chosen = os.environ.get("HWGEN_YOSYS_CACHE")
    if chosen == "0":
        return None
    return Path(chosen) if chosen else cache_dir.root() / "yosys"


def _run_cached(text: str, script: str, work: Path, module: str, log,
                cancel: threading.Event | None = None, file: str = "design.v") -> dict:
    """Yosys's `stat` and longest path of `text` by `script`, from the build folder's cache
    (`work/cache/<hash>`), else from the machine's (`shared_results`: the same layer
    estimated from a notebook, a sweep point or another build folder), else by running
    Yosys. The hash covers the design, the script (its techmap files by digest) and the
    Yosys version, so a result is only reused for the same run."""
    from .. import processes, toolchain
    digest = hashlib.sha256((text + "\0" + script).encode()).hexdigest()[:20]
    d = work / "cache" / digest
    done = d / "result.json"
    if done.exists():
        log(f"  {module}: cached")
        return json.loads(done.read_text())
    shared = shared_results()
    kept = None if shared is None else shared / digest[:2] / f"{digest}.json"
    if kept is not None and kept.exists():
        try:
            result = json.loads(kept.read_text())
        except (OSError, ValueError):
            result = None                             # unreadable: synthesize again
        if isinstance(result, dict) and {"stat", "ltp"} <= result.keys():
            write_text(d / "synth.ys", script)          # what made it, for the reader
            write_text(done, json.dumps(result))
            log(f"  {module}: cached")
            return result
    d.mkdir(parents=True, exist_ok=True)
    (d / file).write_text(text)
    (d / "synth.ys").write_text(script)
    _write_maps(script, d)
    log(f"  {module}: synthesizing")
    proc = processes.run(toolchain.yosys_command() + ["-q", "-l", "yosys.log", "-s",
                                                      "synth.ys"], cwd=d, cancel=cancel)
    if proc.returncode != 0:
        raise tool_failed("Yosys", d / "yosys.log", (proc.stderr or proc.stdout or "") + "\n"
                          + read_log(d / "yosys.log"), f" on {module}")
    result = {"stat": json.loads((d / "stat.json").read_text()),
              "ltp": (d / "ltp.txt").read_text()}
    write_text(done, json.dumps(result))
    if kept is not None:
        try:
            write_text(kept, json.dumps(result))
        except OSError:
            pass                   # a read-only or full cache folder costs time, not results
    (d / file).unlink()        # the cache keeps results, not copies of the design
    (d / ecp5_carry.MAP_FILE).unlink(missing_ok=True)
    return result


def _write_maps(script: str, work: Path) -> None:
    """The techmap files `script` reads, into its working directory."""
    if ecp5_carry.MAP_FILE in script:
        ecp5_carry.write_map(work)


def summarize(t: Target, stat: dict, ltp_text: str) -> dict:
    """Resource counts by the target's categories, plus logic levels (and, for asic,
    transistors and NAND2-equivalent gates)."""
    cells = stat["design"]["num_cells_by_type"]
    out = {k: sum(units * n for c, n in cells.items()
                  for pattern, units in (rx.items() if isinstance(rx, dict) else [(rx, 1)])
                  if re.fullmatch(pattern, c))
           for k, rx in t.resources.items()}
    levels = re.search(r"length=(\d+)", ltp_text)
    out["logic_levels"] = int(levels.group(1)) if levels else 0
    if t.name == "asic":
        tr = str(stat["design"].get("estimated_num_transistors", "0")).rstrip("+")
        # Yosys counts the gates' transistors ("+": flip-flops not included); a static
        # master-slave D flip-flop with an enable mux is about 24 more (Weste & Harris,
        # CMOS VLSI Design, ch. 10), an estimate.
        out["transistors"] = int(tr or 0) + 24 * out["FF"]
        out["nand2_equivalents"] = out["transistors"] // 4    # a NAND2 is 4 transistors
    return out


def yosys_version() -> str:
    from .. import toolchain
    return _version(tuple(toolchain.yosys_command()))


@functools.lru_cache(maxsize=None)
def _version(command: tuple) -> str:
    """One `yosys -V` per Yosys binary: YoWASP takes about a second to start."""
    proc = subprocess.run(list(command) + ["-V"], capture_output=True, text=True)
    return proc.stdout.strip()


