"""Write the RTL and its manifest: `DIR/rtl/<top>.v` and `DIR/manifest.json`.

The Verilog comes from `amaranth.back.verilog` with source locations off, so the files hold
no absolute paths or timestamps: the same graph and options give the same bytes.
`manifest.json` is what the test bench and the estimators read instead of the Verilog.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ...ir.graph import Graph
from ...outputs import write_text
from .top import Top, argmax_bits, module_name

MANIFEST_VERSION = 1


@dataclass
class RtlBuild:
    top: str
    verilog: Path
    manifest: Path
    data: dict


def top_name(graph: Graph) -> str:
    return "hwgen_" + module_name(graph.name)


def build(graph: Graph, out_dir: Path, options: dict) -> RtlBuild:
    """Generate the Verilog of `graph` (already through the hardware pipeline)."""
    from amaranth.back import verilog
    out_dir = Path(out_dir)
    top = Top(graph)
    name = top_name(graph)
    text = verilog.convert(top, name=name, emit_src=False)
    (out_dir / "rtl").mkdir(parents=True, exist_ok=True)
    v_path = out_dir / "rtl" / f"{name}.v"
    write_text(v_path, text)
    data = manifest(graph, top, name, options)
    for row in data["layers"]:      # a layer whose outputs are all constant has no module
        if row["module"] and f"module \\{row['module']} " not in text:
            row.update(module=None, note="constant outputs: no logic")
    m_path = out_dir / "manifest.json"
    write_text(m_path, json.dumps(data, indent=1) + "\n")
    return RtlBuild(name, v_path, m_path, data)


def _elements(node, base: int = 0) -> list[dict]:
    t = node.type
    return [{"index": i, "lsb": base + i * t.width, "width": t.width, "format": str(t),
             "signed": t.signed, "frac": t.frac} for i in range(node.size)]


def manifest(graph: Graph, top: Top, name: str, options: dict) -> dict:
    out = graph.output
    argmax = None
    if graph.softmax_removed:
        argmax = {"lsb": out.size * out.type.width, "width": argmax_bits(out.size),
                  "ties": "lowest index"}
    layers = []
    for node_name, sub in top.modules:
        node = graph.node(node_name)
        row = {"layer": node.layer, "class": node.origin, "node": node.name, "op": node.op,
               "module": f"{name}.{sub}" if sub else None, "instance": sub,
               "register_stages": len(node.register_after)}
        if sub is None:
            row["note"] = "computed in the lanes of the folded layer before it"
        row.update(node.manifest_fields())     # the op's own fields (hwgen/ops/)
        layers.append(row)
    return {
        "version": MANIFEST_VERSION,
        "design": graph.name,
        "top": name,
        "verilog": f"rtl/{name}.v",
        "clock": "clk", "reset": "rst", "reset_kind": "synchronous, active high",
        "ports": [{"name": "clk", "direction": "in", "width": 1},
                  {"name": "rst", "direction": "in", "width": 1},
                  {"name": "in_valid", "direction": "in", "width": 1},
                  {"name": "in_data", "direction": "in", "width": top.in_width},
                  {"name": "out_valid", "direction": "out", "width": 1},
                  {"name": "out_data", "direction": "out", "width": top.out_width}],
        "latency": top.latency,
        "ii": top.ii,
        "input": {"port": "in_data", "shape": list(graph.input.shape),
                  "format": str(graph.input.type), "elements": _elements(graph.input)},
        "output": {"port": "out_data", "shape": list(out.shape), "format": str(out.type),
                   "logits": graph.softmax_removed, "elements": _elements(out),
                   "argmax": argmax},
        "options": dict(options),
        "layers": layers,
    }

