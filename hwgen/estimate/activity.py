"""Switching activity of the generated RTL, measured by Verilator over co-simulation vectors.

The batch harness is built with Verilator's toggle coverage of the DUT: every bit of every
signal counts its changes. Two runs on the same vectors give the two operating points:

- busy: the vectors back to back, one per clock (II = 1), no gaps;
- idle: the same run with `IDLE_CYCLES` idle cycles before the first vector; the extra
  toggles over those cycles are what an idle datapath does per cycle.

Per instance (each layer module, and the top: input/output registers and argmax) the bits
are split into registers (assigned with `<=` in the module's Verilog: one flip-flop each
after synthesis) and combinational signals (adder-tree partial sums, quantizer and mux
outputs, which synthesis maps to the layer's LUTs, carry cells and multipliers). The
result is toggles per bit per cycle for each class: `power.py` maps them onto the
synthesized cells of the same instance. The simulation is zero-delay, so glitches are
not counted; the per-toggle energies of the model are calibrated on measured designs.
"""
from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..errors import HwgenError
from ..ir.graph import Graph

IDLE_CYCLES = 2000
_POINT = re.compile(r"(\[\d+\])?:[01]->[01]$")


def verilator_name(name: str) -> str:
    """A Verilog identifier as Verilator writes it in coverage points (`$` -> `__024`)."""
    name = name[1:] if name.startswith("\\") else name
    return "".join(c if c.isalnum() or c == "_" else f"__0{ord(c):02x}" for c in name)


def registers(verilog_text: str) -> dict[str, set[str]]:
    """Per module, the signals assigned in clocked processes (`name <= ...`)."""
    out: dict[str, set[str]] = {}
    for m in re.finditer(r"module (\S+?) ?\((.*?)endmodule", verilog_text, re.S):
        names = re.findall(r"^\s*(?:if \(.*?\)\s*)?(\\?\S+?)(?:\s*\[[^\]]*\])? <= ",
                           m.group(2), re.M)
        out[m.group(1).lstrip("\\")] = {verilator_name(n) for n in names}
    return out


def parse_coverage(path: Path) -> dict[str, dict[str, list[int]]]:
    """{hierarchy: {signal: [bits, toggles]}} from a Verilator coverage.dat."""
    bits: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    seen: set[tuple[str, str]] = set()
    for line in Path(path).read_text().splitlines():
        if not line.startswith("C '"):
            continue
        body, count = line[3:].rsplit("' ", 1)
        fields = dict(kv.split("\x02", 1) for kv in body.split("\x01") if "\x02" in kv)
        if fields.get("t") != "toggle":
            continue
        point = fields["o"]
        signal = _POINT.sub("", point)
        entry = bits[fields["h"]][signal]
        bit = (fields["h"], re.sub(r":[01]->[01]$", "", point))
        if bit not in seen:               # each bit has a 0->1 and a 1->0 point
            seen.add(bit)
            entry[0] += 1
        entry[1] += int(count)
    return {h: dict(v) for h, v in bits.items()}


def instance_activity(coverage: dict, manifest: dict, verilog_text: str) -> dict[str, dict]:
    """{module: {reg_bits, reg_toggles, comb_bits, comb_toggles}} for the DUT's instances."""
    regs = registers(verilog_text)
    by_instance = {row["instance"]: row["module"] for row in manifest["layers"]
                   if row["module"]}
    out = {}
    for hier, signals in coverage.items():
        parts = hier.split(".")
        if "dut" not in parts:
            continue
        rest = parts[parts.index("dut") + 1:]
        if len(rest) > 1:
            continue
        module = manifest["top"] if not rest else by_instance.get(rest[0])
        if module is None:
            continue
        reg_names = regs.get(module, set())
        acc = {"reg_bits": 0, "reg_toggles": 0, "comb_bits": 0, "comb_toggles": 0}
        for name, (nbits, toggles) in signals.items():
            kind = "reg" if name in reg_names else "comb"
            acc[f"{kind}_bits"] += nbits
            acc[f"{kind}_toggles"] += toggles
        out[module] = acc
    return out


def measure(graph: Graph, manifest: dict, rtl_dir: Path, work: Path, n: int, seed: int = 0,
            extra: np.ndarray | None = None, codes: np.ndarray | None = None,
            log=print, build_root: Path | None = None) -> dict:
    """Busy and idle toggle rates per instance over `n` co-simulation vectors (or the given
    `codes`). Both runs are also co-simulations: a mismatch is an error here too."""
    from ..sim.runner import cosim
    work = Path(work)
    verilog_text = (Path(rtl_dir) / Path(manifest["verilog"]).name).read_text()
    runs = {}
    for name, idle in (("busy", 0), ("idle", IDLE_CYCLES)):
        # Both runs share one Verilator build (with `build_root`, the one `hwgen flow`
        # co-simulated with); each run's counts are read before the next run.
        result = cosim(graph, manifest, rtl_dir, work, n, seed, extra, "batch",
                       log=log, toggles=True, idle=idle, gaps=False, codes=codes,
                       build_root=build_root or work)
        if result["mismatches"]:
            raise HwgenError(f"the toggle-count run found {result['mismatches']} mismatches "
                             f"(see {work / 'results.json'})")
        cov = parse_coverage(work / "shard0" / "coverage.dat")
        runs[name] = (result["cycles"], instance_activity(cov, manifest, verilog_text))
    busy_cycles, busy = runs["busy"]
    idle_total_cycles, idle_run = runs["idle"]
    extra_cycles = idle_total_cycles - busy_cycles
    instances = {}
    for module, b in busy.items():
        i = idle_run.get(module, b)
        instances[module] = {
            "reg_bits": b["reg_bits"], "comb_bits": b["comb_bits"],
            "busy": {"reg": _rate(b["reg_toggles"], b["reg_bits"], busy_cycles),
                     "comb": _rate(b["comb_toggles"], b["comb_bits"], busy_cycles)},
            "idle": {"reg": _rate(max(i["reg_toggles"] - b["reg_toggles"], 0), b["reg_bits"],
                                  extra_cycles),
                     "comb": _rate(max(i["comb_toggles"] - b["comb_toggles"], 0),
                                   b["comb_bits"], extra_cycles)}}
    return {"vectors": n, "busy_cycles": busy_cycles, "idle_cycles": extra_cycles,
            "method": "Verilator toggle coverage of the RTL, zero-delay", "instances": instances}


def _rate(toggles: int, bits: int, cycles: int) -> float:
    return round(toggles / (bits * cycles), 6) if bits and cycles > 0 else 0.0
