"""hwgen beside da4ml 0.6.0 and alkaid 0.8.2 on the same weights, with the same Yosys run.

For each model: hwgen's IR is made comparable (the peers round only TRN or RND: a
quantizer's other rounding becomes RND and QKeras's float32 cast goes, in the IR both
sides build from, so all three compute the same function; the argmax after a removed
softmax is left out), its integer weights are exported as a spec, the peers build it in
their own virtualenv (`.venv-peers/`, numpy 2: `scripts/peers_build.py`) and must give
hwgen's reference outputs on every test vector, and one Yosys command (YoWASP,
`synth_xilinx -flatten`, the fast ABC9 script) synthesizes each generator's Verilog as
one design. hwgen is built three ways: csd and per-weight csd at its default xc7 clock
target (200 MHz), and csd at the clock of the peers' pipeline stage by hwgen's delay model
(`peer_stage_mhz`: their latency cutoff in adder levels), so that its flip-flops and cycles
are compared at stages no deeper than theirs. Then, measured rather than modelled, csd at
the slowest clock target whose critical path by Yosys's static timing analysis (`sta`,
Xilinx cell delays, no routing) is no longer than da4ml's (`sta_matched`): flip-flops and
cycles at da4ml's clock by one measure of both netlists. Every row has Yosys's longest
path in cells and its STA critical path. Writes `build/bench-peers.json` and prints the
table for docs/benchmarks.md.

    .venv/bin/python scripts/bench_peers.py [--models jet_tagger ...] [--out FILE]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PEERS_PYTHON = ROOT / ".venv-peers" / "bin" / "python"
REAL_TAGGER = ROOT.parent / "shared" / "models" / "hls4ml-example-models" / "qkeras_3layer.json"
ROUNDING = {"TRN": "TRN", "TRN_ZERO": "TRN"}          # everything else rounds to nearest


def comparable(graph):
    """(the graph both sides build, what was changed) or ValueError for an op the peers'
    export here does not cover."""
    from hwgen.ir.rewrite import rewrite
    from hwgen.ir.types import Rounding
    from hwgen.ops import Dense, Input, Quantize, Relu
    changed = set()

    def fix(node, src):
        if not isinstance(node, (Input, Dense, Quantize, Relu)):
            raise ValueError(f"layer {node.layer} ({node.op}) has no peer export")
        if isinstance(node, Quantize):
            r = Rounding(ROUNDING.get(node.rounding.value, "RND"))
            if r is not node.rounding:
                changed.add(f"{node.rounding.value} rounding -> {r.value}")
            if node.float32_cast:
                changed.add("float32 cast dropped")
            node = dataclasses.replace(node, rounding=r, float32_cast=False)
        return node
    g = rewrite(graph, fix)
    if g.softmax_removed:
        changed.add("argmax left out (logits compared)")
        g = dataclasses.replace(g, softmax_removed=False)
    return g, sorted(changed)


def _kif(t):
    k = int(t.signed)
    return k, t.int_bits - k, t.width - t.int_bits


def spec_of(graph, n: int, seed: int, latency_cutoff: float) -> dict:
    from hwgen.ir import interp
    from hwgen.ops import Dense, Quantize, Relu
    from hwgen.sim.vectors import input_codes
    layers = []
    for node in graph.nodes[1:]:
        if isinstance(node, Dense):
            layers.append({"kind": "dense",
                           "weights": (node.weights * 2.0 ** -node.weight_frac).tolist(),
                           "bias": None if node.bias is None else
                           (node.bias * 2.0 ** -node.bias_frac).tolist()})
        elif isinstance(node, Quantize):
            k, i, f = _kif(node.type)
            layers.append({"kind": "quantize", "k": k, "i": i, "f": f,
                           "rounding": node.rounding.value, "overflow": node.overflow.value})
        elif isinstance(node, Relu):
            layers.append({"kind": "relu"})
    x = input_codes(graph.input.type, graph.input.shape, n, seed)
    y = np.asarray(interp.run(graph, x)).reshape(n, -1)
    return {"n_in": graph.input.size, "input": _kif(graph.input.type), "layers": layers,
            "latency_cutoff": latency_cutoff,
            "test_inputs": (x.reshape(n, -1) * 2.0 ** -graph.input.type.frac).tolist(),
            "test_outputs": (y * 2.0 ** -graph.output.type.frac).tolist()}


def _cycles(top_verilog: str) -> int:
    """Register layers from the peer's input to its output port (its input register,
    one per pipeline stage boundary, its output register)."""
    return len(set(re.findall(r"^\s*(\w+)(?:\[[^\]]*\])?\s*<=", top_verilog, re.M)))


def _used_sources(root: Path, sources: list[str]) -> str:
    """The peer's Verilog as one file: its own modules and the library modules they
    instantiate (an unused lookup-table module reads a memory file that is not there)."""
    own = [root / s for s in sources if "/static/" not in s]
    text = "\n".join(p.read_text() for p in own)
    for s in sources:
        if "/static/" in s and re.search(rf"\b{Path(s).stem}\b", text):
            text += "\n" + (root / s).read_text()
    return text


def synth(verilog: Path, top: str, work: Path) -> dict:
    """The same Yosys command for every generator; LUT, CARRY4, FF, Yosys's longest path
    in cells between registers, and the critical path of Yosys's static timing analysis
    (`sta_ps`)."""
    from hwgen.estimate.yosys import synthesize_whole
    r = synthesize_whole(verilog, top, "xc7", work, netlist="netlist.json")
    return {**{k: r.get(k, 0) for k in ("LUT", "CARRY4", "FF")},
            "longest_path": r.get("logic_levels", 0),
            "sta_ps": sta_ps(work / "netlist.json", top)}


def sta_ps(netlist: Path, top: str) -> int:
    """The longest register-to-register (and port) path of a synthesized xc7 netlist in
    picoseconds, by Yosys's `sta` on the delays of its Xilinx cell models (LUTs, CARRY4,
    muxes, flip-flops; no routing). The same measure for every generator's netlist: the
    xc7 netlists have no place and route here to time them."""
    from hwgen import processes, toolchain
    from hwgen.estimate.yosys import _esc
    work = netlist.parent
    design = json.loads(netlist.read_text())
    design["modules"] = {top: design["modules"][top]}     # not the cells' black boxes
    (work / "sta.json").write_text(json.dumps(design))
    esc = _esc(top)
    (work / "sta.ys").write_text("read_verilog -lib -specify +/xilinx/cells_sim.v\n"
                                 f"read_json sta.json\nhierarchy -top {esc}\n"
                                 "tee -q -o sta.txt sta\n")
    proc = processes.run(toolchain.yosys_command() + ["-q", "-l", "sta.log", "-s", "sta.ys"],
                         cwd=work)
    if proc.returncode:
        raise SystemExit(f"Yosys sta failed in {work}:\n{(proc.stderr or '')[-2000:]}")
    (work / "sta.json").unlink()
    return int(re.search(r"Latest arrival time in .* is (\d+)",
                         (work / "sta.txt").read_text()).group(1))


def sta_matched(g, peer_ps: int, start_mhz: float, out: Path, log=print,
                steps: int = 6) -> tuple[float, dict, dict] | None:
    """hwgen (csd, xc7) at a clock target whose critical path by Yosys's STA is no longer
    than the peer's (`peer_ps`): its fewest cycles, then flip-flops, at stages no slower
    than the peer's by one measure. Clock targets from `start_mhz` in steps of 10 % (down
    while hwgen's path stays within the peer's, else up until it does); of those within,
    the fewest cycles, then flip-flops. Returns (MHz, manifest, synthesis) or None if no
    step gets within."""
    from hwgen.flow import build_rtl
    from hwgen.options import HardwareOptions
    tried: dict[float, tuple[dict, dict]] = {}
    by_text: dict[str, dict] = {}            # the same Verilog is synthesized once

    def at(mhz: float) -> tuple[dict, dict]:
        mhz = round(mhz, 1)
        if mhz not in tried:
            folder = out / f"hwgen-csd-sta-{mhz:g}"
            _, rtl = build_rtl(g, folder, HardwareOptions(mult="csd", target="xc7",
                                                          clock_target=mhz))
            text = (folder / rtl.data["verilog"]).read_text()
            if text not in by_text:
                by_text[text] = synth(folder / rtl.data["verilog"], rtl.data["top"],
                                      folder / "whole")
            res = by_text[text]
            log(f"    at {mhz:g} MHz: {rtl.data['latency']} cycles, {res}")
            tried[mhz] = (rtl.data, res)
        return tried[mhz]

    def fits(mhz: float) -> bool:
        return at(mhz)[1]["sta_ps"] <= peer_ps

    mhz = start_mhz
    within = fits(mhz)
    best = mhz if within else None
    for _ in range(steps):
        step = mhz * 0.9 if within else mhz / 0.9
        ok = fits(step)
        if within and not ok:
            break                 # slower would make hwgen's path longer than the peer's
        mhz, within = step, ok
        if ok:
            best = mhz
    if best is None:
        return None
    # Among the clocks tried within the peer's path, the fewest cycles, then flip-flops
    # (a slower clock can register wider sums: fewer cycles, not always fewer bits).
    best = min((m for m, (_, r) in tried.items() if r["sta_ps"] <= peer_ps),
               key=lambda m: (tried[m][0]["latency"], tried[m][1]["FF"], -m))
    manifest, res = tried[best]
    return best, manifest, res


def same_clock(g, model: str, out: Path, peer_verilog: Path, peer_top: str,
               peer_cycles: int, device: str, log=print) -> list[dict]:
    """The peer's design placed and routed on an LFE5U (nextpnr, out of context, as
    `hwgen.estimate.nextpnr` places hwgen's), then hwgen's built for ecp5 with the peer's
    Fmax as its clock target and placed the same way: flip-flops and cycles at one clock,
    measured by one router (Yosys's xc7 netlist has no timing)."""
    from hwgen.estimate.nextpnr import place_and_route
    from hwgen.flow import build_rtl
    from hwgen.options import HardwareOptions
    peer = place_and_route(peer_verilog, peer_top, out / "da4ml" / "pnr", device)
    mhz = peer["fmax_mhz"]
    log(f"  da4ml on ecp5: {mhz} MHz")
    _, rtl = build_rtl(g, out / "hwgen-ecp5", HardwareOptions(target="ecp5", clock_target=mhz))
    own = place_and_route(rtl.verilog, rtl.top, out / "hwgen-ecp5" / "pnr", device)
    rows = []
    for gen, placed, cycles in ((f"hwgen (csd, clock target {mhz:g} MHz)", own,
                                 rtl.data["latency"]),
                                ("da4ml (latency cutoff 5)", peer, peer_cycles)):
        util = placed["utilization"]
        rows.append({"model": model, "generator": gen, "device": placed["device"],
                     "fmax_mhz": placed["fmax_mhz"], "latency_cycles": cycles,
                     "COMB": util["TRELLIS_COMB"]["used"], "FF": util["TRELLIS_FF"]["used"]})
        log(f"    {rows[-1]}")
    return rows


def peer_stage_mhz(graph, cutoff: float, target: str = "xc7") -> float:
    """The clock of the peers' pipeline stage by hwgen's delay model (`ir/delay.py`): the
    peers, at their default adder and carry sizes, count every adder as one unit of
    latency and register every `cutoff` units, so a stage holds up to `cutoff` adder
    levels of any width. hwgen's model times that stage as `cutoff` levels plus the carry
    of the widest adder of the design; built at this clock, hwgen's stages are no deeper
    than the peers' by one model (the xc7 netlists carry no timing to measure)."""
    from hwgen.ir import delay
    from hwgen.ops import LinearSum
    from hwgen.passes import pipelines
    low = pipelines.hardware("csd", target=target).run(graph)
    widest = max(n.type.width for node in low.nodes if isinstance(node, LinearSum)
                 for n in node.graph.nodes if n.is_adder)
    m = delay.model(target)
    return round(1000.0 / (m.stage(cutoff * m.level_ns, widest) + m.register_ns), 1)


def bench(model, out: Path, n: int, cutoff: float, log=print,
          ecp5: str | None = None, input_format: str | None = None) -> list[dict]:
    """`model`: a design name, a model file or a Keras model object (with its
    `input_format` when it has no input quantizer)."""
    import hwgen
    from hwgen.flow import build_rtl
    from hwgen.options import FrontendOptions, HardwareOptions
    loaded, graph = hwgen.compile_model(model, FrontendOptions.from_strings(input_format))
    g, changed = comparable(graph)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    stage_mhz = peer_stage_mhz(g, cutoff)
    runs = [("csd", None, "hwgen (csd)", "hwgen-csd"),
            ("csd-per-weight", None, "hwgen (csd-per-weight)", "hwgen-csd-per-weight"),
            ("csd", stage_mhz, f"hwgen (csd, {stage_mhz:g} MHz: the peers' stage)",
             "hwgen-csd-peer-stage")]
    for mult, mhz, generator, folder in runs:
        start = time.perf_counter()
        _, rtl = build_rtl(g, out / folder, HardwareOptions(mult=mult, target="xc7",
                                                            clock_target=mhz))
        seconds = time.perf_counter() - start
        log(f"  {generator}: Verilog in {seconds:.2f} s, latency {rtl.data['latency']}")
        res = synth(out / folder / rtl.data["verilog"], rtl.data["top"], out / folder / "whole")
        rows.append({"model": loaded.name, "generator": generator, **res,
                     "latency_cycles": rtl.data["latency"], "compile_seconds": round(seconds, 2),
                     "mismatches": 0, "comparable_changes": changed})
        log(f"    {res}")
    spec = spec_of(g, n, 0, cutoff)
    (out / "spec.json").write_text(json.dumps(spec))
    proc = subprocess.run([str(PEERS_PYTHON), str(ROOT / "scripts" / "peers_build.py"),
                           str(out / "spec.json"), str(out)], capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"peers_build failed:\n{proc.stderr[-3000:]}")
    peers = json.loads(proc.stdout.strip().splitlines()[-1])
    for name, p in peers.items():
        if "error" in p:
            log(f"  {name}: {p['error']}")
            rows.append({"model": loaded.name, "generator": name, "error": p["error"]})
            continue
        one = out / name / "design.v"
        one.write_text(_used_sources(out / name, p["sources"]))
        res = synth(one, p["top"], out / name / "whole")
        cycles = _cycles((out / name / "src" / "peer.v").read_text())
        log(f"  {name}: {p['mismatches']} mismatches in {p['vectors']}, latency {cycles}, "
            f"{p['seconds']} s; {res}")
        rows.append({"model": loaded.name, "generator": f"{name} (latency cutoff {cutoff:g})",
                     **res, "latency_cycles": cycles, "compile_seconds": p["seconds"],
                     "mismatches": p["mismatches"], "vectors": p["vectors"]})
        if name == "da4ml":
            matched = sta_matched(g, res["sta_ps"], stage_mhz, out, log)
            if matched:
                mhz, manifest, mres = matched
                rows.append({"model": loaded.name, "generator": f"hwgen (csd, {mhz:g} MHz: "
                             "da4ml's critical path by Yosys STA)", **mres,
                             "latency_cycles": manifest["latency"], "mismatches": 0})
        if name == "da4ml" and ecp5:
            rows += same_clock(g, loaded.name, out, one, p["top"], cycles, ecp5, log)
    return rows


def peer_ratios(rows: list[dict]) -> list[dict]:
    """Per model, the issue's three comparisons, all at da4ml's clock: hwgen's LUTs over
    the smaller of the peers', and hwgen's flip-flops and cycles over da4ml's, with
    hwgen built at the clock whose critical path by Yosys's STA is no longer than
    da4ml's (`sta_matched`) where measured, else at the peers' stage clock by hwgen's
    delay model. `lut_ratio_default_clock`: the LUTs at hwgen's default clock target
    (200 MHz on xc7, a deeper pipeline: registers between adders keep Yosys from
    merging some of their logic)."""
    out = []
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = {r["generator"]: r for r in rows if r["model"] == model and "LUT" in r}
        csd = mine.get("hwgen (csd)")
        stage = next((r for g, r in mine.items() if "by Yosys STA" in g), None) or \
            next((r for g, r in mine.items() if "the peers' stage" in g), None)
        peers = [r for g, r in mine.items() if "latency cutoff" in g]
        da4ml = next((r for r in peers if r["generator"].startswith("da4ml")), None)
        if not (csd and stage and da4ml):
            continue
        smaller = min(r["LUT"] for r in peers)
        out.append({"model": model, "lut_ratio": round(stage["LUT"] / smaller, 4),
                    "lut_ratio_default_clock": round(csd["LUT"] / smaller, 4),
                    "ff_ratio": round(stage["FF"] / da4ml["FF"], 4),
                    "cycles": stage["latency_cycles"], "da4ml_cycles": da4ml["latency_cycles"]})
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=None,
                    help="designs or model files (default: jet_tagger, digits_mlp_pruned and "
                         "the real QKeras tagger when ../shared/models is there)")
    ap.add_argument("--out", default=str(ROOT / "build" / "bench-peers.json"))
    ap.add_argument("--random", type=int, default=0, metavar="N",
                    help="also N seeded random QKeras MLPs (tests/model_factory."
                         "random_peer_mlp, seeds from --random-seed): models nobody tuned for")
    ap.add_argument("--random-seed", type=int, default=0)
    ap.add_argument("--n", type=int, default=2000, help="test vectors per model")
    ap.add_argument("--latency-cutoff", type=float, default=5.0)
    ap.add_argument("--same-clock", nargs="*", default=["digits_mlp_pruned"],
                    help="models whose da4ml and hwgen designs are also placed and routed on "
                         "an LFE5U, hwgen at da4ml's Fmax (default: digits_mlp_pruned; the "
                         "taggers do not route in reasonable time)")
    args = ap.parse_args(argv)
    if not PEERS_PYTHON.exists():
        raise SystemExit("no .venv-peers: run `make bench-peers` (it creates it)")
    default = ["jet_tagger", "digits_mlp_pruned"] + ([str(REAL_TAGGER)] if REAL_TAGGER.exists()
                                                     else [])
    models = args.models if args.models is not None else ([] if args.random else default)
    runs = [(Path(m).stem, m, None, None) for m in models]   # (name, source, format, desc)
    if args.random:
        sys.path.insert(0, str(ROOT))
        from tests.model_factory import random_peer_mlp
        for seed in range(args.random_seed, args.random_seed + args.random):
            keras_model, in_fmt, desc = random_peer_mlp(seed)
            runs.append((keras_model.name, keras_model, in_fmt, desc))
    rows = []
    for name, source, in_fmt, desc in runs:
        print(f"[{name}{': ' + desc if desc else ''}]", flush=True)
        try:
            got = bench(source, ROOT / "build" / "bench-peers" / name, args.n,
                        args.latency_cutoff, log=lambda s: print(s, flush=True),
                        ecp5="25k" if {name, str(source)} & set(args.same_clock) else None,
                        input_format=in_fmt)
        except ValueError as e:
            print(f"  skipped: {e}", flush=True)
            rows.append({"model": name, "skipped": str(e)})
            continue
        rows += [dict(r, description=desc) if desc else r for r in got]
    ratios = peer_ratios(rows)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"rows": rows, "ratios": ratios}, indent=1) + "\n")
    print("\n| model | generator | LUT | CARRY4 | FF | longest path | latency | "
          "model -> Verilog |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        if "LUT" in r:
            print(f"| {r['model']} | {r['generator']} | {r['LUT']:,} | {r['CARRY4']:,} | "
                  f"{r['FF']:,} | {r.get('longest_path', '')} cells | "
                  f"{r['latency_cycles']} cycles | {r.get('compile_seconds', '-')} s |")
    placed = [r for r in rows if "COMB" in r]
    if placed:
        print("\n| model | generator | device | Fmax | latency | TRELLIS_COMB | FF |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for r in placed:
            print(f"| {r['model']} | {r['generator']} | {r['device']} | {r['fmax_mhz']} MHz | "
                  f"{r['latency_cycles']} cycles | {r['COMB']:,} | {r['FF']:,} |")
    if ratios:
        print("\n| model | hwgen LUT / smaller peer's (at hwgen's default clock) | "
              "hwgen FF / da4ml's | cycles hwgen, da4ml |")
        print("| --- | --- | --- | --- |")
        for r in ratios:
            print(f"| {r['model']} | {r['lut_ratio']:.3f} ({r['lut_ratio_default_clock']:.3f}) | "
                  f"{r['ff_ratio']:.3f} | "
                  f"{r['cycles']}, {r['da4ml_cycles']} |")
    bad = [r for r in rows if r.get("mismatches")]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
