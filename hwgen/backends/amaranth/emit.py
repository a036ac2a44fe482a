"""Write the RTL and its manifest: `DIR/rtl/<top>.v` and `DIR/manifest.json`.

The Verilog comes from `amaranth.back.verilog` with source locations off, so the files hold
no absolute paths or timestamps: the same graph and options give the same bytes.
`manifest.json` is what the test bench and the estimators read instead of the Verilog.
"""
from __future__ import annotations

import json
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from ...ir.graph import Graph
from ...outputs import write_text
from . import layer_modules
from .top import Top, argmax_bits, module_name
from .verilog_writer import VerilogWriter

MANIFEST_VERSION = 1


@dataclass
class RtlBuild:
    top: str
    verilog: Path
    manifest: Path
    data: dict


def top_name(graph: Graph) -> str:
    return "hwgen_" + module_name(graph.name)


def build(graph: Graph, out_dir: Path, options: dict,
          writer: VerilogWriter | None = None) -> RtlBuild:
    """Generate the Verilog of `graph` (already through the hardware pipeline); `writer`:
    the RTLIL -> Verilog step, started ahead by the caller (default: started here)."""
    out_dir = Path(out_dir)
    top = Top(graph)
    name = top_name(graph)
    with VerilogWriter() if writer is None else nullcontext(writer) as started:
        text = _verilog_by_layer(top, name, started)
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


def _verilog_by_layer(top: Top, name: str, writer: VerilogWriter) -> str:
    """The Verilog of `top`, each layer converted on its own and in parallel
    (`layer_modules`), then one Yosys run with Amaranth's own script for every module
    (`verilog_writer`: `amaranth.back.verilog` has no public call that takes RTLIL text)."""
    from amaranth.back import rtlil
    converted = layer_modules.convert(
        [(f"{name}.{sub}", layer) for _, sub, layer in top.layers],
        [_size(node) for node, _, _ in top.layers])
    top.instanced = {sub: c for (_, sub, _), c in zip(top.layers, converted) if c.has_cells}
    for _, sub, layer in top.layers:
        if sub in top.instanced:   # elaborated in a child, so this copy never is
            layer._MustUse__silence = True
    text = "".join(c.rtlil for c in top.instanced.values())
    return writer.convert(text + rtlil.convert(top, name=name, emit_src=False))


def _size(node) -> int:
    """What converting a layer costs, roughly: its adders, else its elements."""
    graph = getattr(node, "graph", None)
    return getattr(graph, "adders", 0) or node.size


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


@dataclass
class StreamBuild:
    """What `build_stream` made: the RTL build, the stream plan, and the lowered graphs
    (one per stage's pixel datapath, then the tail's)."""
    rtl: RtlBuild
    plan: object
    lowered: list


def build_stream(graph: Graph, out_dir: Path, options: dict, lower) -> StreamBuild:
    """The streaming form of `graph` (front-end IR): `lower(graph, part)` runs the hardware
    passes on each stage's pixel graph and on the tail (`part` names it)."""
    from amaranth.back import verilog
    from ...ir import stream
    from .stream import StageBuild, StreamTop, fifo_depths, fifo_in_ram, timing
    out_dir = Path(out_dir)
    plan = stream.plan(graph)
    pixels_of, lowered, rows = [], [], []
    src_type = graph.input.type
    for s in plan.stages:
        in_width = s.scan.channels * src_type.width
        out_width = s.node.shape[-1] * s.node.type.width
        pixel = None
        if s.pixel is not None:
            low = lower(s.pixel, s.name)
            lowered.append(low)
            pixel = Top(low)
            region = s.pixel.input.size // s.scan.channels        # pixels of a window
            if pixel.in_width != region * in_width or pixel.out_width != out_width:
                raise AssertionError(f"stage {s.name}: pixel datapath ports "
                                     f"{pixel.in_width}/{pixel.out_width} bits, stream "
                                     f"{in_width}/{out_width}")
        pixels_of.append((s, pixel, in_width, out_width))
        rows.append({"stage": s.name, "nodes": list(s.nodes),
                     "layers": sorted({graph.node(n).layer for n in s.nodes}),
                     "image": list(s.scan.image), "channels": s.scan.channels,
                     "pads": list(s.scan.pads), "window": list(s.scan.extent),
                     "strides": list(s.scan.strides), "crop": list(s.scan.crop),
                     "out_image": list(s.scan.out_image),
                     "line_buffer_pixels": s.scan.line_pixels,
                     **_line_buffer(s.scan, in_width),
                     "pixel_latency": pixel.latency if pixel else 0,
                     "pixel_ii": pixel.ii if pixel else 1})
        src_type = s.node.type
    depths = fifo_depths([p.latency if p else 0 for _, p, _, _ in pixels_of],
                         [p.ii if p else 1 for _, p, _, _ in pixels_of])
    builds = [StageBuild(s.name, s.scan, pixel, i, o, d)
              for (s, pixel, i, o), d in zip(pixels_of, depths)]
    for row, b in zip(rows, builds):
        row["fifo_depth"] = b.depth
        row["fifo_in_ram"] = fifo_in_ram(b.depth, b.out_width)
    collected = plan.collected
    pixels = collected.size // collected.shape[-1]
    tail = None
    if plan.tail is not None:
        low = lower(plan.tail, "tail")
        lowered.append(low)
        tail = Top(low)
        out_width = tail.out_width
        heads_graph = low
    else:
        out_width = collected.size * collected.type.width
        heads_graph = Graph([collected], graph.name)
    top = StreamTop(graph.name, builds, pixels, collected.shape[-1] * collected.type.width,
                    tail, out_width)
    name = top_name(graph)
    text = verilog.convert(top, name=name, emit_src=False)
    (out_dir / "rtl").mkdir(parents=True, exist_ok=True)
    v_path = out_dir / "rtl" / f"{name}.v"
    write_text(v_path, text)
    t = timing(builds, pixels, tail)
    channels = plan.stages[0].scan.channels          # of a pixel of the streamed image
    in_elems = [{"index": c, "lsb": c * graph.input.type.width, "width": graph.input.type.width,
                 "format": str(graph.input.type), "signed": graph.input.type.signed,
                 "frac": graph.input.type.frac} for c in range(channels)]
    data = {
        "version": MANIFEST_VERSION,
        "design": graph.name,
        "top": name,
        "verilog": f"rtl/{name}.v",
        "io": "stream",
        "clock": "clk", "reset": "rst", "reset_kind": "synchronous, active high",
        "ports": [{"name": "clk", "direction": "in", "width": 1},
                  {"name": "rst", "direction": "in", "width": 1},
                  {"name": "in_valid", "direction": "in", "width": 1},
                  {"name": "in_ready", "direction": "out", "width": 1},
                  {"name": "in_data", "direction": "in", "width": top.in_width},
                  {"name": "out_valid", "direction": "out", "width": 1},
                  {"name": "out_data", "direction": "out", "width": out_width}],
        "latency": t["latency"],
        "ii": t["ii"],
        "timing": {"what": "cycles with a pixel offered on every clock: latency from an "
                           "image's first pixel taken to its out_valid, ii between two "
                           "images' outputs",
                   "pixels_per_image": graph.input.size // channels,
                   "intervals": t["intervals"]},
        "input": {"port": "in_data", "shape": list(graph.input.shape),
                  "format": str(graph.input.type), "pixel_elements": in_elems,
                  "elements": _elements(graph.input)},
        "output": output_port(heads_graph),
        "options": dict(options, io="stream"),
        "stream": {"stages": rows, "notes": plan.notes,
                   "collected": {"node": collected.name,
                                                 "shape": list(collected.shape)},
                   "tail": None if tail is None else {"latency": tail.latency, "ii": tail.ii}},
        # Per stage (and the tail) its module, for the per-module synthesis estimates.
        "layers": [{"layer": ", ".join(r["layers"]), "class": "stream stage",
                    "node": r["stage"], "op": "stream_stage",
                    "module": f"{name}.{module_name(r['stage'])}",
                    "instance": module_name(r["stage"]), "register_stages": r["pixel_latency"]}
                   for r in rows] + ([{"layer": "(tail)", "class": "tail", "node": "tail",
                                       "op": "tail", "module": f"{name}.tail",
                                       "instance": "tail", "register_stages": tail.latency}]
                                     if tail is not None else []),
    }
    m_path = out_dir / "manifest.json"
    write_text(m_path, json.dumps(data, indent=1) + "\n")
    return StreamBuild(RtlBuild(name, v_path, m_path, data), plan, lowered)


def _line_buffer(scan, pixel_bits: int) -> dict:
    """Bits of a stage's line buffer in flip-flops and in RAM delay lines."""
    from .stream import ram_rows
    rams = ram_rows(scan, pixel_bits)
    ram_pixels = len(rams) * (scan.scan[1] - scan.extent[1] - 1)
    # Flip-flops: every register of the shift register (a RAM's read register among them).
    return {"line_buffer_bits": (scan.line_pixels - 1 - ram_pixels) * pixel_bits,
            "line_buffer_ram_bits": ram_pixels * pixel_bits}

