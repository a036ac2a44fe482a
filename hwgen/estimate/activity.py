"""Switching activity of the generated RTL, measured by Verilator over co-simulation vectors.

The batch harness is built with Verilator's toggle coverage of the DUT: every bit of every
signal counts its changes. Two runs on the same vectors give the two operating points:

- busy: the vectors back to back, one per clock (II = 1), no gaps;
- idle: the same run with `IDLE_CYCLES` idle cycles before the first vector; the extra
  toggles over those cycles are what an idle datapath does per cycle.

Per instance (each layer module, and the top: input/output registers and argmax) the
counted bits are its registers (assigned with `<=` in the module's Verilog: one flip-flop
each after synthesis) and its outputs (`sim.toggles` leaves the other signals out: counting
every signal made the jet tagger's build take more than 7 minutes). Two rates per
instance, toggles per bit per cycle:

- `reg`: of the registers; it drives the instance's flip-flops;
- `logic`: of registers and outputs together; it drives the instance's LUTs, carry cells
  and multipliers. The registers are the adder-tree partial sums and quantizer results
  sampled at pipeline boundaries (every few logic levels), and the outputs are the
  layer's results, so their rate stands for the logic between them.

The simulation is zero-delay, so glitches are not counted; the per-toggle energies of the
model are calibrated on measured designs, which absorbs part of that.
"""
from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..errors import HwgenError
from ..ir.graph import Graph
from ..sim.toggles import registers

IDLE_CYCLES = 2000
_POINT = re.compile(r"(\[\d+\])?:[01]->[01]$")


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
    """{module: {reg_bits, reg_toggles, out_bits, out_toggles}} for the DUT's instances."""
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
        acc = {"reg_bits": 0, "reg_toggles": 0, "out_bits": 0, "out_toggles": 0}
        for name, (nbits, toggles) in signals.items():
            kind = "reg" if name in reg_names else "out"
            acc[f"{kind}_bits"] += nbits
            acc[f"{kind}_toggles"] += toggles
        out[module] = acc
    return out


def _rates(t: dict, cycles: int) -> dict:
    return {"reg": _rate(t["reg_toggles"], t["reg_bits"], cycles),
            "logic": _rate(t["reg_toggles"] + t["out_toggles"], t["reg_bits"] + t["out_bits"],
                           cycles)}


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
        extra_toggles = {k: max(i[k] - b[k], 0) if k.endswith("toggles") else b[k] for k in b}
        instances[module] = {"reg_bits": b["reg_bits"], "out_bits": b["out_bits"],
                             "busy": _rates(b, busy_cycles),
                             "idle": _rates(extra_toggles, extra_cycles)}
    return {"vectors": n, "busy_cycles": busy_cycles, "idle_cycles": extra_cycles,
            "method": "Verilator toggle coverage of the RTL's registers and module outputs, "
                      "zero-delay", "instances": instances}


def _rate(toggles: int, bits: int, cycles: int) -> float:
    return round(toggles / (bits * cycles), 6) if bits and cycles > 0 else 0.0
