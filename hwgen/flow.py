"""The steps of the hardware flow, shared by the `hwgen` command and the benchmark:
lower a graph for hardware, write its RTL and manifest, co-simulate it, write report.md.
Every step writes into the design's build folder."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .ir.graph import Graph, LinearSum
from .options import HardwareOptions


def lower(graph: Graph, hw: HardwareOptions, dump_dir: Path | None = None) -> Graph:
    """The hardware pass pipeline (ranges, pruning, constant multiplies, widths, pipeline);
    with `dump_dir`, the IR after each pass goes to `dump_dir/NN-<pass>.txt`."""
    from .passes.pipelines import hardware
    return hardware(hw.mult, hw.pipeline).run(graph, dump_dir=dump_dir)


def build_rtl(graph: Graph, out: Path, hw: HardwareOptions):
    """Lower `graph` and write `out/rtl/<top>.v`, `out/manifest.json`, `out/passes/`.
    Returns (lowered graph, emit.RtlBuild)."""
    from .backends.amaranth import emit
    lowered = lower(graph, hw, Path(out) / "passes")
    return lowered, emit.build(lowered, Path(out), hw.as_dict())


def design_data(loaded) -> np.ndarray | None:
    """The design's own test inputs (codes), if it ships some."""
    from .designs import design_dir
    if not loaded.source.startswith("designs/"):
        return None
    path = design_dir(loaded.name) / "test_inputs.npy"
    return np.load(path) if path.exists() else None


def layer_rows(lowered: Graph, manifest: dict) -> list[dict]:
    """One row per hardware layer for report.md."""
    rows, prev = [], lowered.input
    by_node = {r["node"]: r for r in manifest["layers"]}
    for node in lowered.nodes[1:]:
        row = by_node.get(node.name, {})
        rows.append({"layer": node.layer, "op": node.op, "module": row.get("instance", ""),
                     "in": str(prev.type), "out": str(node.type),
                     "nonzero_weights": _nonzero(node),
                     "adders": row.get("adders", ""), "multipliers": row.get("multipliers", ""),
                     "registers": len(node.register_after)})
        prev = node
    return rows


def _nonzero(node) -> int | str:
    if isinstance(node, LinearSum):
        return len({(t.source, j) for j, col in enumerate(node.terms) for t in col
                    if t.source >= 0})
    return ""


def write_report(out: Path, lowered: Graph, manifest: dict, verify: dict | None,
                 sim: dict | None) -> Path:
    """`out/report.md`: per-layer hardware table, latency, and the check results."""
    rows = layer_rows(lowered, manifest)
    head = ["layer", "op", "module", "input format", "output format", "non-zero weights",
            "adders", "multipliers", "pipeline registers"]
    keys = ["layer", "op", "module", "in", "out", "nonzero_weights", "adders", "multipliers",
            "registers"]
    lines = [f"# {manifest['design']}: hardware report", "",
             f"- top module `{manifest['top']}` in `{manifest['verilog']}`",
             f"- options: multiplication `{manifest['options']['mult']}`, a register every "
             f"{manifest['options']['pipeline']} levels",
             f"- latency {manifest['latency']} cycles, initiation interval {manifest['ii']} "
             "(one input vector per clock)",
             f"- input {manifest['input']['format']} x {manifest['input']['shape']}, output "
             f"{manifest['output']['format']} x {manifest['output']['shape']}"
             + (" (logits) + argmax" if manifest["output"]["logits"] else ""), "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append("| " + " | ".join(str(r[k]) for k in keys) + " |")
    total_add = sum(r["adders"] for r in rows if r["adders"] != "")
    total_mul = sum(r["multipliers"] for r in rows if r["multipliers"] != "")
    lines.append(f"| total | | | | | {sum(r['nonzero_weights'] or 0 for r in rows)} | "
                 f"{total_add} | {total_mul} | {manifest['latency']} cycles |")
    lines.append("")
    if verify is not None:
        lines.append(f"Reference vs QKeras `predict`: {verify['vectors']} vectors, "
                     f"{verify['mismatches']} mismatches"
                     + ("" if verify["exact"] else " (not an exact twin: float layers were "
                        "quantized by a precision)") + ".")
    if sim is not None:
        lines.append(f"RTL vs reference (Verilator, {sim['mode']} mode): {sim['vectors']} "
                     f"vectors, {sim['mismatches']} mismatches.")
    path = Path(out) / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def save_json(path: Path, data: dict) -> None:
    Path(path).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
