"""The steps of the hardware flow, shared by the `hwgen` command and the benchmark:
lower a graph for hardware, write its RTL and manifest, co-simulate it, write report.md.
Every step writes into the design's build folder."""
from __future__ import annotations

import contextlib
import gc
from pathlib import Path

import numpy as np

from ..ir.graph import Graph
from ..ops import FoldedLinearSum
from ..options import HardwareOptions


def lower(graph: Graph, hw: HardwareOptions, dump_dir: Path | None = None) -> Graph:
    """The hardware pass pipeline (ranges, pruning, constant multiplies, widths, pipeline);
    with `dump_dir`, the IR after each pass goes to `dump_dir/NN-<pass>.txt`."""
    from ..passes.pipelines import hardware
    return hardware(hw.mult, hw.pipeline, hw.reuse, hw.layer_reuse, hw.clock_target,
                    hw.target, hw.split_outputs, hw.step_form).run(graph, dump_dir=dump_dir)


@contextlib.contextmanager
def cycle_collector_paused():
    """Python's cycle collector off for the block (as it was after). Lowering and
    Amaranth's conversion make millions of small objects that live until the build is
    done; the collector's passes over them freed almost nothing and took over half of the
    layers' conversion time on the real QKeras tagger (children's CPU 3.3 s -> 1.3 s), and
    more with each build in one process as the heap grew. Reference counting still frees
    what dies; the collector takes any cycles once it runs again. The forked conversion
    children (backends/amaranth/layer_modules) inherit the pause."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def build_rtl(graph: Graph, out: Path, hw: HardwareOptions):
    """Lower `graph` and write `out/rtl/<top>.v`, `out/manifest.json`, `out/passes/`.
    Returns (lowered graph, emit.RtlBuild); a streaming build (`hw.io`) lowers each
    stage's pixel graph and the tail (`passes/<stage>/`) and returns the tail's lowered
    graph (or the last stage's)."""
    with cycle_collector_paused():
        return _build_rtl(graph, out, hw)


def _build_rtl(graph: Graph, out: Path, hw: HardwareOptions):
    from ..backends.amaranth import emit
    if hw.io == "stream":
        import dataclasses
        from ..options import check_layer_names
        check_layer_names("reuse", hw.layer_reuse,
                          sorted({n.layer for n in graph.nodes if n.op in ("dense", "conv")}),
                          "dense or convolution layer")

        def lower_part(g, part):      # each part folds the layers it holds
            held = {n.layer for n in g.nodes if n.op in ("dense", "conv")}
            sub = dataclasses.replace(hw, layer_reuse={k: v for k, v in hw.layer_reuse.items()
                                                       if k in held})
            return lower(g, sub, Path(out) / "passes" / part)
        built = emit.build_stream(graph, Path(out), hw.as_dict(), lower_part)
        return built.lowered[-1], built.rtl
    from ..backends.amaranth.verilog_writer import VerilogWriter
    with VerilogWriter() as writer:       # its Yosys loads while the graph is lowered
        lowered = lower(graph, hw, Path(out) / "passes")
        return lowered, emit.build(lowered, Path(out), hw.as_dict(), writer)


def design_data(loaded) -> np.ndarray | None:
    """The design's own test inputs (codes), if it ships some."""
    from ..designs import design_dir
    if not loaded.source.startswith("designs/"):
        return None
    path = design_dir(loaded.name) / "test_inputs.npy"
    return np.load(path) if path.exists() else None


def layer_rows(lowered: Graph, manifest: dict) -> list[dict]:
    """One row per hardware layer for report.md (a folded layer's fused ops included)."""
    # A folded layer's row shows its sum; each fused op reads the one before it.
    real = {n.name: n for n in lowered.nodes}
    nodes = {n.name: n.linear if isinstance(n, FoldedLinearSum) else n for n in lowered.nodes}
    nodes.update({p.name: p for n in lowered.nodes for p in n.post})
    ins = {p.name: n.post[k - 1] if k else n.linear for n in lowered.nodes
           for k, p in enumerate(n.post)}
    rows = []
    for row in manifest["layers"]:
        node = nodes[row["node"]]
        # (a folded sum's own inputs may name the last op fused into the layer before)
        srcs = [ins[node.name]] if node.name in ins else [real.get(i) or nodes[i]
                                                          for i in node.inputs]
        nonzero = node.stats()[1]
        rows.append({"layer": node.layer, "op": node.op,
                     "module": row.get("instance") or "(in the folded layer's lanes)",
                     "in": ", ".join(str(s.type) for s in srcs), "out": str(node.type),
                     "nonzero_weights": nonzero if nonzero else "",
                     "adders": "" if "lanes" in row else row.get("adders", ""),
                     "multipliers": row.get("multipliers", ""),
                     "registers": len(node.register_after),
                     "folded": f"{row['lanes']} lane{'s' if row['lanes'] > 1 else ''} x "
                               f"{row['cycles']} cycles" + (
                                   f", outputs split in {row['segments']} segments"
                                   if "segments" in row else "") if "lanes" in row else ""})
    return rows


def hardware_section(lowered: Graph, manifest: dict) -> dict:
    """report.json's `hardware`: ports, latency and one row per layer."""
    out = manifest["output"]
    return {"top": manifest["top"], "verilog": manifest["verilog"], "ii": manifest["ii"],
            "input": f"{manifest['input']['format']} x {manifest['input']['shape']}",
            "output": f"{out['format']} x {out['shape']}"
                      + (" (logits) + argmax" if out["logits"] else "")
                      + ("".join(f"; {h['layer']} {h['format']} x {h['shape']}"
                                 for h in out["heads"]) if len(out["heads"]) > 1 else ""),
            "delay_registers": manifest.get("delay_registers", 0),
            "layers": stream_rows(manifest) if manifest.get("io") == "stream"
            else layer_rows(lowered, manifest)}


def stream_rows(manifest: dict) -> list[dict]:
    """One row per stream stage (and the tail) for report.md."""
    rows = []
    for s in manifest["stream"]["stages"]:
        rows.append({"layer": ", ".join(s["layers"]), "op": "stream stage",
                     "module": s["stage"], "in": f"{s['image'][0]}x{s['image'][1]}x"
                     f"{s['channels']}", "out": f"{s['out_image'][0]}x{s['out_image'][1]}",
                     "nonzero_weights": "", "adders": "", "multipliers": "",
                     "registers": s["pixel_latency"],
                     "folded": f"one window per {s['pixel_ii']} cycles"
                     if s["pixel_ii"] > 1 else ""})
    tail = manifest["stream"]["tail"]
    if tail:
        rows.append({"layer": "(the rest, on the collected tensor)", "op": "tail",
                     "module": "tail", "in": "x".join(map(str, manifest["stream"]["collected"]["shape"])),
                     "out": manifest["output"]["format"], "nonzero_weights": "", "adders": "",
                     "multipliers": "", "registers": tail["latency"],
                     "folded": f"II {tail['ii']}" if tail["ii"] > 1 else ""})
    return rows


def target_device(target: str, manifest: dict, total: dict, device: str | None = None) -> str:
    """The device place and route uses (ecp5: the smallest LFE5U that holds the design,
    ice40: the UP5K), or a HwgenError with the numbers and a hint."""
    from ..estimate.nextpnr import fits_up5k, packed_cells, pick_device
    if target == "ecp5":
        return pick_device(packed_cells(total), total["FF"], total["DSP"],
                           None if device == "up5k" else device)
    # The serial wrapper adds a flip-flop per input and output bit.
    extra_ffs = sum(p["width"] for p in manifest["ports"]
                    if p["name"] in ("in_data", "out_data"))
    fits_up5k(total["LUT4"], total["FF"] + extra_ffs, total["DSP"], total.get("CARRY_ONLY", 0))
    return "up5k"


# `--reuse auto` on ecp5 keeps the design's Yosys LUT4 slots (LUT4 + 2 x CCU2C) under this
# share of the LFE5U-85F's: measured here, digits_mlp at 55 % routed in 7 minutes; the real
# QKeras jet tagger at 84 % (70.3k slots, 95 % once nextpnr packed it) had not routed after
# 10 minutes; folded designs at 12-20 % route in 2-4 minutes.
AUTO_ECP5_HEADROOM = 0.70
# ... and its carry chains (2 LUT4 slots per CCU2C) under this share: a carry chain must
# sit in consecutive slices of one column. digits_mlp with 29 % in CCU2C placed and routed;
# the zoo jet tagger with 58 % (60 % of the slots in all) failed nextpnr's legal placement
# of a CCU2C after 20 minutes on the LFE5U-85F while nextpnr added its feed cells (86 %
# packed). Without them (estimate/ecp5_carry.py: 53.7k cells, 64 %, 62 % in carry chains)
# placed (about 20 minutes, 2 cores shared with other jobs), but nextpnr's router2 still
# had 44k overused wires after four iterations (20 more minutes; router1 got through 5k of
# 150k arcs in 4 minutes): far over the 5 minutes `make hw` may take, so `--reuse auto`
# still folds it.
AUTO_ECP5_CARRY_SHARE = 0.30


def fits_for_auto(target: str, manifest: dict, total: dict) -> str:
    """`target_device`, and for ecp5 with room to route (AUTO_ECP5_HEADROOM) and to place
    its carry chains (AUTO_ECP5_CARRY_SHARE)."""
    from ..errors import HwgenError
    from ..estimate.nextpnr import ECP5_DEVICES, lut_slots
    device = target_device(target, manifest, total)
    if target == "ecp5":
        slots, cap = lut_slots(total), ECP5_DEVICES[-1][1]
        if slots > AUTO_ECP5_HEADROOM * cap:
            raise HwgenError(f"the design needs {slots} LUT4 slots, over "
                             f"{AUTO_ECP5_HEADROOM:.0%} of the LFE5U-85F's {cap}: too "
                             "congested to route in reasonable time")
        carry = 2 * total.get("CCU2C", 0)
        if carry > AUTO_ECP5_CARRY_SHARE * cap:
            raise HwgenError(f"the design's carry chains take {carry} LUT4 slots, over "
                             f"{AUTO_ECP5_CARRY_SHARE:.0%} of the LFE5U-85F's {cap}: too "
                             "many to place in reasonable time")
    return device


# Reuse factors `--reuse auto` tries, in order: fully parallel first, then dense layers
# folded onto fewer and fewer multipliers.
AUTO_REUSE = (1, 16, 32, 64, 128, 256, 512, 1024)


def build_fitting(graph: Graph, out: Path, hw: HardwareOptions, target: str, fits,
                  full: bool = False, log=print, reuses: tuple[int, ...] | None = None,
                  candidates: list[HardwareOptions] | None = None):
    """`build_rtl` with the first of `candidates` (default: `fitting_candidates` of `hw`
    at `reuses`, default AUTO_REUSE) whose Yosys estimate for `target` passes
    `fits(manifest, total)` (which raises HwgenError when it does not fit).
    A candidate's synthesis stops as soon as its finished layers alone do not fit.
    Returns (lowered graph, RtlBuild, resources); the last error when none fits. The
    candidate used is the one whose `as_dict()` is the manifest's "options"
    (`candidate_used`)."""
    from ..errors import HwgenError
    from ..estimate.resources import estimate
    if candidates is None:
        candidates = fitting_candidates(graph, hw, reuses or AUTO_REUSE)
    for k, hw in enumerate(candidates):
        reuse = hw.reuse
        lowered, rtl = build_rtl(graph, out, hw)
        form = "fully parallel" if reuse == 1 else "folded"
        if hw.io == "stream":
            form = "streaming" + (", kernels folded" if reuse > 1 else "")
        if hw.layer_reuse:
            form += ", kernels folded to the stream's rate"
        log(f"  {fold_label(hw.as_dict())}: {form}, II {rtl.data['ii']}; Yosys estimate for "
            f"{target}")

        def too_big(total, manifest=rtl.data):
            try:
                fits(manifest, total)
            except HwgenError:
                return True
            return False

        resources = estimate(out, rtl.data, target, full, log=log, stop=too_big)
        try:
            fits(rtl.data, resources["total"])
            return lowered, rtl, resources
        except HwgenError as exc:
            if "unfinished" in resources:
                exc = HwgenError(f"{exc}. These counts are a lower bound: synthesis stopped "
                                 "once the layers done so far did not fit (not synthesized: "
                                 f"{', '.join(resources['unfinished'])})")
            folded = [r for r in rtl.data["layers"] if r.get("lanes")]
            if k == len(candidates) - 1 or (folded and all(r["lanes"] == 1 for r in folded)
                                            and not hw.layer_reuse):
                raise exc from None
            log(f"  does not fit: {str(exc).split('. ')[0]}"
                + (" (or more: synthesis stopped early)" if "unfinished" in resources else ""))


def fold_label(options: dict) -> str:
    """How a candidate folds, from its options (`HardwareOptions.as_dict`): 'reuse 4', or
    a stream's per-layer factors, 'reuse per layer (c1 2, d 16)'."""
    if options.get("layer_reuse"):
        return "reuse per layer (" + ", ".join(f"{layer} {r}" for layer, r in
                                               sorted(options["layer_reuse"].items())) + ")"
    return f"reuse {options['reuse']}"


def candidate_used(candidates: list[HardwareOptions], manifest: dict) -> int:
    """The position in `candidates` of the options `manifest` was built with."""
    return next(k for k, c in enumerate(candidates) if c.as_dict() == manifest["options"])


def fitting_candidates(graph: Graph, hw: HardwareOptions,
                       reuses: tuple[int, ...] = AUTO_REUSE) -> list[HardwareOptions]:
    """`build_fitting`'s options to try, in order: `hw` at each of `reuses`. A stream's
    reuse 1 gives way to its rate-matched folds (`rate_matched_reuse`) where anything
    folds: first at the image interval of the unfolded stream (less logic for the same
    throughput: the dense tail of a CNN, fully parallel, is most of it and works once an
    image; its only cost is latency), then at STREAM_SLACK times that interval (each
    layer folded as far as that interval allows), before the global factors, which fold
    every kernel alike and lengthen the interval far more (QKeras's example_mnist: 784
    cycles rate-matched, 10,404 at reuse 16)."""
    import dataclasses
    candidates = [dataclasses.replace(hw, reuse=r) for r in reuses]
    if hw.io == "stream" and reuses[0] == 1 and len(reuses) > 1 and not hw.layer_reuse:
        ladder = []
        for matched in rate_matched_ladder(graph, candidates[0], MATCH_REUSE, STREAM_SLACK):
            if matched and matched not in ladder:
                ladder.append(matched)
        if ladder:
            candidates[:1] = [dataclasses.replace(hw, reuse=1, layer_reuse=m,
                                                  split_outputs=True) for m in ladder]
    return candidates


# Image intervals a stream's rate-matched folds may take under `--reuse auto`, as multiples
# of the unfolded stream's, tried in order before the global reuse factors; and the
# factors a layer of them may fold by (finer than AUTO_REUSE's: a stride-2 first layer
# has 4 cycles an output at the unfolded rate).
STREAM_SLACK = (1, 2, 4, 8)
MATCH_REUSE = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


def rate_matched_reuse(graph: Graph, hw: HardwareOptions,
                       reuses: tuple[int, ...] = MATCH_REUSE) -> dict[str, int]:
    """`rate_matched_ladder` at the unfolded stream's own image interval."""
    return rate_matched_ladder(graph, hw, reuses, (1,))[0]


def rate_matched_ladder(graph: Graph, hw: HardwareOptions, reuses: tuple[int, ...],
                        slacks: tuple[int, ...]) -> list[dict[str, int]]:
    """Per-layer reuse factors for the streaming form of `graph`, one dict per slack s of
    `slacks`: the dense and convolution layers of each stage (and of the tail) folded by
    the largest factor of `reuses` at which the stream's image interval stays within s
    times that of the unfolded stream, by the control's own cycle replay
    (`backends.amaranth.stream.timing`). A stride-2 layer
    late in a CNN, or the dense tail, has many cycles per output and folds far; the first
    layers keep one output per clock. The parts with the most products go first. Outputs
    with more products than a factor are split over lanes (`split_outputs`), so a stage of
    few wide outputs (a 5x5 kernel over many channels into two) folds too. A layer whose
    full-rate adder graph costs no more cells on the target than its lanes stays
    unfolded (`FoldLayers`, `ir/fold_cost.py`). Empty when nothing folds."""
    from types import SimpleNamespace
    from ..backends.amaranth.stream import fifo_depths, timing
    from ..ir import stream
    from ..passes.pipelines import hardware
    from ..passes.schedule_pipeline import initiation_interval, latency
    plan = stream.plan(graph)
    parts = [s.pixel for s in plan.stages] + [plan.tail]
    collected = plan.collected.size // plan.collected.shape[-1]

    def layers_of(part):
        return sorted({n.layer for n in part.nodes if n.op in ("dense", "conv")})

    def timed(part, r):
        """The part's timing folded by r, its products and the layers that fold (the
        others cost less at full rate, so FoldLayers keeps them)."""
        if part is None:
            return None, 0, set()
        low = hardware(hw.mult, hw.pipeline, r, {}, hw.clock_target, hw.target,
                       split_outputs=True, step_form=hw.step_form).run(part)
        products = sum(n.stats()[2] for n in low.nodes)
        folded = {n.layer for n in low.nodes if isinstance(n, FoldedLinearSum)}
        return SimpleNamespace(latency=latency(low), ii=initiation_interval(low)), \
            products, folded

    def image_interval(cur):
        stage_parts = cur[:-1]
        depths = fifo_depths([c.latency if c else 0 for c in stage_parts],
                             [c.ii if c else 1 for c in stage_parts])
        stages = [SimpleNamespace(scan=s.scan, pixel=c, depth=d,
                                  out_width=s.node.shape[-1] * s.node.type.width)
                  for s, c, d in zip(plan.stages, stage_parts, depths)]
        return timing(stages, collected, cur[-1])["ii"] or 0

    memo: dict[tuple[int, int], tuple] = {}

    def timed_part(k, r):                # each fold lowered once for every slack
        if (k, r) not in memo:
            memo[k, r] = timed(parts[k], r)
        return memo[k, r]

    first = [timed_part(k, 1) for k in range(len(parts))]
    unfolded = [t for t, _, _ in first]
    base = image_interval(unfolded)
    emits = [int(s.scan.emit_rows.sum()) * int(s.scan.emit_cols.sum()) for s in plan.stages]
    emits.append(1)
    ladder = []
    for slack in slacks:
        limit = base * slack
        current, chosen = list(unfolded), {}
        for k in sorted(range(len(parts)), key=lambda k: -first[k][1]):
            if parts[k] is None or not layers_of(parts[k]):
                continue
            # Largest factor first: the small ones have the most lanes and are the slowest
            # to lower (a 3x3x32 -> 64 conv at 2: 9,216 lanes). A folded datapath takes
            # at least r + 1 cycles an output pixel, which the stage's outputs must leave
            # time for.
            for r in sorted(reuses, reverse=True):
                if r <= 1 or (r + 1) * emits[k] > limit:
                    continue
                trial = list(current)
                trial[k], _, folded = timed_part(k, r)
                if image_interval(trial) > limit:
                    continue
                current = trial
                for layer in layers_of(parts[k]):
                    if layer in folded:
                        chosen[layer] = r
                break
        ladder.append(chosen)
    return ladder


def synthesize_and_place(out: Path, manifest: dict, target: str, full: bool = False,
                         pnr: bool = True, device: str | None = None, log=print,
                         pnr_time_limit_s: float | None = None):
    """Per-layer synthesis for `target`; then, for ecp5 and ice40, place and route on the
    smallest device that fits (ice40: the UP5K). A design that fits none, or whose place
    and route runs past `pnr_time_limit_s`, is reported, not raised. (resources, pnr or
    None, seconds per step)."""
    resources, seconds = synthesize_layers(out, manifest, target, full, log)
    placed, pnr_seconds = place(out, manifest, target, resources, device, log,
                                pnr_time_limit_s) if pnr else (None, {})
    return resources, placed, {**seconds, **pnr_seconds}


def synthesize_layers(out: Path, manifest: dict, target: str, full: bool = False, log=print):
    """Per-layer synthesis for `target` (cached). (resources, seconds)."""
    import time
    from ..estimate.resources import estimate
    t0 = time.perf_counter()
    resources = estimate(out, manifest, target, full, log=log)
    resources.pop("seconds", None)       # wall time goes to the report's `seconds` only
    return resources, {"synthesis": round(time.perf_counter() - t0, 1)}


def place(out: Path, manifest: dict, target: str, resources: dict, device: str | None = None,
          log=print, time_limit_s: float | None = None):
    """Place and route with nextpnr for ecp5 and ice40 on the smallest device that holds
    `resources` (or `device`). (pnr record or None, seconds); a design that fits no device,
    that nextpnr cannot place, or whose nextpnr run passes `time_limit_s`, gives a record
    with `fits` False and the message."""
    import time
    from ..errors import HwgenError
    from ..processes import TimedOut
    from ..estimate.nextpnr import PlacementFailed, ecp5_part, place_and_route
    if target not in ("ecp5", "ice40"):
        return None, {}
    t1 = time.perf_counter()
    try:
        dev = target_device(target, manifest, resources["total"], device)
    except HwgenError as exc:
        placed = {"fits": False, "message": str(exc), "fmax_mhz": None}
    else:
        where = "iCE40UP5K (serial I/O wrapper)" if dev == "up5k" else \
            f"{ecp5_part(dev)} (out of context)"
        log(f"  place and route on {where}")
        try:
            placed = place_and_route(out / manifest["verilog"], manifest["top"],
                                     out / "synth" / target / "pnr", dev, manifest=manifest,
                                     time_limit_s=time_limit_s)
        except TimedOut as exc:
            placed = {"fits": False, "fmax_mhz": None, "device": where,
                      "message": f"place and route on {where} {exc} (the time limit)"}
        except PlacementFailed as exc:
            placed = {"fits": False, "fmax_mhz": None, "device": where,
                      "message": f"place and route on {where} failed: {exc}. A larger "
                                 "device (--device 85k), a reuse factor (--reuse) or fewer "
                                 "bits leave its carry chains more room"}
        else:
            placed.update(fits=True, nextpnr_device=dev)
            fmax = placed["fmax_mhz"]
            placed["latency_ns"] = round(manifest["latency"] * 1000 / fmax, 1) if fmax \
                else None
    return placed, {"place_and_route": round(time.perf_counter() - t1, 1)}


def tool_versions(target: str) -> dict:
    import subprocess
    from importlib.metadata import version
    from .. import toolchain
    from ..estimate.yosys import yosys_version
    tools = {"hwgen": version("hwgen"), "amaranth": version("amaranth"),
             "cocotb": version("cocotb"), "verilator": toolchain.verilator_version(),
             "yosys": yosys_version()}
    if target in ("ecp5", "ice40"):
        cmd = toolchain.nextpnr_command(target) + ["--version"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        tools[f"nextpnr-{target}"] = (proc.stdout or proc.stderr).strip().splitlines()[-1]
    return tools


def make_report(design: str, lowered: Graph, manifest: dict, target: str, resources: dict,
                placed: dict | None, power: dict | None, verify: dict | None,
                sim: dict | None, seconds: dict, carbon: dict | None = None,
                measured: dict | None = None) -> dict:
    """The report.json record (schema in `estimate/report.py`). `carbon`: the workload's
    energy and CO2e from the power estimate; `measured`: figures measured on this machine
    (the CPU baseline), which change from run to run."""
    fmax = placed.get("fmax_mhz") if placed else None
    device = placed.get("device") if placed and placed.get("fits") else None
    return {"schema": "hwgen-report/1", "design": design, "options": manifest["options"],
            "target": target, "device": device,
            "hardware": hardware_section(lowered, manifest),
            "latency": {"cycles": manifest["latency"],
                        "ns": round(manifest["latency"] * 1000 / fmax, 1) if fmax else None},
            "throughput_per_s": round(fmax * 1e6 / manifest["ii"]) if fmax else None,
            "fmax_mhz": fmax, "resources": resources, "pnr": placed, "power": power,
            "checks": {"reference_vs_qkeras": _check(verify),
                       "rtl_vs_reference": _check(sim)},
            "tools": tool_versions(target), "seconds": seconds,
            **({"carbon": carbon} if carbon else {}),
            **({"measured": measured} if measured else {})}


def power_device(target: str, placed: dict | None, resources: dict) -> str | None:
    """The ECP5 device the power model prices: the placed one, else the one place and route
    would pick, else (too large for any) the largest."""
    if target != "ecp5":
        return None
    if placed and placed.get("fits"):
        return placed["nextpnr_device"]
    from ..errors import HwgenError
    from ..estimate.nextpnr import ECP5_DEVICES, packed_cells, pick_device
    total = resources["total"]
    try:
        return pick_device(packed_cells(total), total.get("FF", 0), total.get("DSP", 0))
    except HwgenError:
        return ECP5_DEVICES[-1][0]


def _check(result: dict | None) -> dict | None:
    if not result or not result.get("exact", True):
        return None
    return {"vectors": result["vectors"], "mismatches": result["mismatches"]}


def save_json(path: Path, data: dict) -> None:
    from ..outputs import save_json as atomic
    atomic(path, data)
