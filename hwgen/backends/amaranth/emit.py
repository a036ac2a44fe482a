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


def _elements(node, base: int = 0, first: int = 0) -> list[dict]:
    t = node.type
    return [{"index": first + i, "lsb": base + i * t.width, "width": t.width,
             "format": str(t), "signed": t.signed, "frac": t.frac} for i in range(node.size)]


def output_port(graph: Graph) -> dict:
    """`out_data`: every output's elements side by side in the model's output order
    (`heads` says where each output lies), then the argmax of a model that ended in
    softmax."""
    elements, heads, lsb = [], [], 0
    for head in graph.heads:
        heads.append({"node": head.name, "layer": head.layer, "shape": list(head.shape),
                      "format": str(head.type), "first_element": len(elements),
                      "elements": head.size, "lsb": lsb, "width": head.size * head.type.width})
        elements += _elements(head, lsb, len(elements))
        lsb += head.size * head.type.width
    formats = {h["format"] for h in heads}
    argmax = None
    if graph.softmax_removed:
        argmax = {"lsb": lsb, "width": argmax_bits(len(elements)), "ties": "lowest index"}
    single = len(heads) == 1
    return {"port": "out_data", "shape": heads[0]["shape"] if single else [len(elements)],
            "format": heads[0]["format"] if len(formats) == 1 else "mixed (see heads)",
            "logits": graph.softmax_removed, "elements": elements, "argmax": argmax,
            "heads": heads}


def manifest(graph: Graph, top: Top, name: str, options: dict) -> dict:
    from ...passes.schedule_pipeline import delay_lines, delay_register_bits
    lines = delay_lines(graph)
    layers = []
    for node, sub in top.modules:
        row = {"layer": node.layer, "class": node.origin, "node": node.name, "op": node.op,
               "module": f"{name}.{sub}" if sub else None, "instance": sub,
               "register_stages": len(node.register_after)}
        if sub is None:
            row["note"] = "computed in the lanes of the folded layer before it"
        if lines.get(node.name):
            row["delay_stages"] = lines[node.name]   # its output's delay line (branches)
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
        "delay_registers": delay_register_bits(graph),
        "input": {"port": "in_data", "shape": list(graph.input.shape),
                  "format": str(graph.input.type), "elements": _elements(graph.input)},
        "output": output_port(graph),
        "options": dict(options),
        "layers": layers,
    }
