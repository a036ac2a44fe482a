"""The commands' work, as functions: build (with the auto-fit of the reuse factor),
co-simulate, estimate (synthesis, place and route, power), the whole flow, the hls4ml
check. The command line (`cli.py`) parses options, calls these and prints; these take
options as values and report progress through `log(line)` (`step(line)` for a numbered
step of a multi-step run). Errors name the parameter (`reuse`, `target`), not a flag.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import HwgenError
from ..ir.graph import Graph
from ..options import HardwareOptions
from .steps import (build_fitting, build_rtl, design_data, fits_for_auto, make_report,
                    place, power_device, save_json, synthesize_and_place, synthesize_layers)


def _indent(log):
    return lambda s: log("      " + s.strip())


# `io auto` tries the fully parallel form first only up to this many products: measured
# here, a fully parallel product costs 14-26 ECP5 LUT4 (the jet tagger's 4.5k: 62k LUT4,
# digits_cnn's 3.3k: 86k), and `--reuse auto` keeps a design under 55 % of the
# LFE5U-85F's 84k; the Yosys estimate of a larger one takes minutes and would not fit.
FULL_RATE_PRODUCTS = 3_000


def build(graph: Graph, out: Path, hw: HardwareOptions, auto_reuse: bool = False,
          target: str | None = None, full: bool = False, log=print, auto_io: bool = False):
    """Lower and write the RTL; with `auto_reuse`, the smallest reuse factor whose Yosys
    estimate fits `target`'s largest device (ecp5: LFE5U-85F with routing headroom,
    ice40: UP5K; xc7 and asic: fully parallel). With `auto_io`, the fully parallel form if
    it fits at reuse 1, else the streaming form (when the model streams), else folded.
    Returns (lowered graph, RtlBuild)."""
    if auto_io:
        return _build_auto_io(graph, out, hw, auto_reuse, target, full, log)
    t0 = time.monotonic()
    if auto_reuse and target is None:
        raise HwgenError("reuse 'auto' needs a target to fit: give a target (estimate, flow "
                         "or export) or a number")
    if auto_reuse and target in ("ecp5", "ice40"):
        log(f"      reuse auto: the smallest reuse factor that fits the "
            f"{'LFE5U-85F' if target == 'ecp5' else 'iCE40UP5K'}")
        lowered, rtl, _ = build_fitting(
            graph, out, hw, target, lambda m, total: fits_for_auto(target, m, total), full,
            log=_indent(log))
    else:
        lowered, rtl = build_rtl(graph, out, hw)
    m = rtl.data
    if m.get("io") == "stream":
        what = f"{len(m['stream']['stages'])} stream stages"
    else:
        adders = sum(r.get("adders", 0) for r in m["layers"])
        mults = sum(r.get("multipliers", 0) for r in m["layers"])
        what = f"{adders} adders, {mults} multipliers"
    log(f"      wrote {rtl.verilog} ({rtl.verilog.stat().st_size // 1024} KiB) and "
        f"{rtl.manifest}: {what}, latency {m['latency']} cycles, II {m['ii']} "
        f"({time.monotonic() - t0:.1f} s)")
    if not auto_reuse and m.get("io") != "stream":
        for line in unmet_reuse(lowered, hw) + kept_at_full_rate(lowered, hw):
            log(f"      note: {line}")
    return lowered, rtl


def kept_at_full_rate(lowered: Graph, hw: HardwareOptions) -> list[str]:
    """The layers the reuse factor asked to fold that `FoldLayers` kept at full rate (their
    adder graphs cost no more cells than the lanes would, `ir/fold_cost.py`): one line
    naming them, or none."""
    from ..ops import LinearSum
    kept = list(dict.fromkeys(n.layer for n in lowered.nodes
                              if isinstance(n, LinearSum) and hw.reuse_for(n.layer) > 1))
    if not kept:
        return []
    return [f"{', '.join(kept)} {'stays' if len(kept) == 1 else 'stay'} at full rate: "
            f"{'its adder graph costs' if len(kept) == 1 else 'their adder graphs cost'} "
            f"no more logic on {hw.target} than folding onto lanes would (--reuse "
            f"LAYER=R folds a layer all the same)"]


def unmet_reuse(lowered: Graph, hw: HardwareOptions) -> list[str]:
    """Why the design's II exceeds the reuse factor asked: a lane computes whole outputs,
    one non-zero weight a cycle, so an output with more weights than the factor sets its
    layer's cycles (unless `split_outputs`). One line naming those layers, or none."""
    from ..ops import FoldedLinearSum
    from ..passes.schedule_pipeline import initiation_interval
    if hw.split_outputs:
        return []
    ii = initiation_interval(lowered)
    long = []
    for node in lowered.nodes:
        reuse = hw.reuse_for(node.layer)
        if isinstance(node, FoldedLinearSum) and ii > reuse:
            weights, _ = node.linear.matrix(lowered.sources(node).size)
            most = int(np.count_nonzero(weights, axis=0).max(initial=0))
            if most > reuse:
                long.append(f"{node.layer} (up to {most} an output, reuse {reuse})")
    if not long:
        return []
    return [f"the II is {ii}, more than the reuse factor asked: a lane adds one non-zero "
            f"weight a cycle, and outputs have more weights than their reuse factor in "
            f"{', '.join(long)}; --split-outputs splits such outputs over lanes to meet "
            f"the reuse factor (more lanes, one cycle more)"]


def io_candidates(graph) -> tuple[list[str], str]:
    """`--io auto`'s choices for `graph`, in the order to try (the first that fits wins),
    and why: parallel alone when the model does not stream; streaming alone when its
    fully parallel form has more than FULL_RATE_PRODUCTS products; else parallel, then
    streaming if parallel does not fit. Shared by `flow` and `export`."""
    from ..errors import UnsupportedError
    from ..ir import stream
    from ..passes.pipelines import DEFAULT
    try:
        stream.plan(graph)
    except UnsupportedError as exc:
        return ["parallel"], str(exc).split(": ", 1)[-1].split(". ")[0]
    products = sum(n.stats()[2] for n in DEFAULT.run(graph).nodes)
    if products > FULL_RATE_PRODUCTS:
        return ["stream"], f"{products} products are too many to compute in parallel"
    return ["parallel", "stream"], f"fully parallel if it fits ({products} products)"


def _build_auto_io(graph, out, hw, auto_reuse, target, full, log):
    import dataclasses
    choices, why = io_candidates(graph)
    word = {"parallel": "parallel", "stream": "streaming"}
    log(f"      io auto: {word[choices[0]]} ({why})" if len(choices) == 1 else
        f"      io auto: {why}")
    parallel = dataclasses.replace(hw, io="parallel")
    if choices == ["parallel"]:
        return build(graph, out, parallel, auto_reuse, target, full, log)
    if len(choices) == 2:
        if target not in ("ecp5", "ice40"):
            return build(graph, out, parallel, False, target, full, log)
        try:
            lowered, rtl, _ = build_fitting(
                graph, out, parallel, target, lambda m, total: fits_for_auto(target, m, total),
                full, log=_indent(log), reuses=(1,))
            return lowered, rtl
        except HwgenError as exc:
            log(f"      io auto: streaming ({str(exc).split('. ')[0]})")
    return build(graph, out, dataclasses.replace(hw, io="stream"), auto_reuse, target,
                 full, log)


@dataclass
class SimOptions:
    n: int = 10000
    seed: int = 0
    mode: str = "batch"
    waves: bool = False


def simulate(loaded, graph: Graph, manifest: dict, rtl_dir: Path, out: Path,
             sim: SimOptions, toggles: bool = False, log=print) -> dict:
    """Co-simulate the Verilog in `rtl_dir` against the reference into `out/sim`."""
    from ..sim.runner import cosim
    result = cosim(graph, manifest, rtl_dir, out / "sim", sim.n, sim.seed,
                   design_data(loaded), sim.mode, sim.waves, log=_indent(log),
                   toggles=toggles and sim.mode == "batch" and not sim.waves)
    log(f"{result['vectors']} vectors, {result['mismatches']} mismatches "
        f"({result['vectors_per_second']} vectors/s; results in "
        f"{out / 'sim' / 'results.json'})")
    for mm in result["first_mismatches"][:3]:
        log(f"  vector {mm['vector']}: expected {mm['expected']}, got {mm['got']}")
    return result


def activity(loaded, graph: Graph, manifest: dict, out: Path, sim: SimOptions,
             build_root: Path | None = None, log=print) -> dict:
    """Toggle rates over min(n, 100000) co-simulation vectors, busy and idle."""
    from ..estimate.activity import measure
    result = measure(graph, manifest, out / "rtl", out / "power", min(sim.n, 100_000),
                     sim.seed, design_data(loaded), log=_indent(log), build_root=build_root)
    save_json(out / "power" / "activity.json", result)
    return result


def energy(manifest: dict, out: Path, resources: dict, placed, target: str, toggles: dict,
           clock_mhz: float | None = None, log=print) -> dict:
    """The target's energy model on measured toggle rates, at `clock_mhz` or Fmax (capped
    at 100 MHz)."""
    from ..estimate.power import estimate_power, memory_duty
    fmax = placed.get("fmax_mhz") if placed else None
    clock = clock_mhz if clock_mhz is not None else (min(fmax, 100.0) if fmax else None)
    result = estimate_power(resources, toggles, manifest["latency"], target, clock,
                            power_device(target, placed, resources), manifest["ii"],
                            memory_duty(manifest))
    save_json(out / "power" / f"power-{target}.json", result)
    e = result["energy_per_inference_nj"]
    log(f"      estimate at {result['clock_mhz']} MHz: busy {result['busy_mw']} mW, idle "
        f"{result['idle_mw']} mW (static {result['static_mw']}); {e['busy']} nJ per "
        f"inference back to back, {e['isolated']} nJ alone")
    return result


def print_pnr(placed, log=print) -> None:
    if placed is None:
        return
    if not placed.get("fits"):
        log(f"      not placed and routed: {placed['message']}")
    else:
        log(f"      Fmax {placed['fmax_mhz']} MHz on {placed['device']}, latency "
            f"{placed['latency_ns']} ns")


# The flow's place and route (Yosys's whole-design synthesis, then nextpnr) stops after
# this many seconds: it runs beside co-simulation and power, and nextpnr can take tens of
# minutes on a large ECP5 design (the zoo jet tagger, fully parallel on the LFE5U-85F), so
# `hwgen flow` stays within minutes; the report then says the design was not routed in
# that time. `--pnr-time-limit 0` lifts it.
FLOW_PNR_TIME_LIMIT_S = 240.0


@dataclass
class EstimateOptions:
    target: str = "ecp5"
    full: bool = False
    pnr: bool = False
    device: str | None = None
    power: bool = True
    clock_mhz: float | None = None
    pnr_time_limit_s: float | None = None     # place and route stops after it; None: never


def check_estimate_options(est: EstimateOptions) -> None:
    if est.pnr and est.target not in ("ecp5", "ice40"):
        raise HwgenError("place and route (pnr) runs nextpnr for target ecp5 or ice40")
    if est.device and (est.target == "ice40") != (est.device == "up5k"):
        raise HwgenError(f"device {est.device} is not an {est.target} device: use "
                         + ("up5k" if est.target == "ice40" else "25k, 45k or 85k"))


def estimate(loaded, graph: Graph, out: Path, hw: HardwareOptions, auto_reuse: bool,
             est: EstimateOptions, sim: SimOptions, step=print, log=print,
             auto_io: bool = False, built=None) -> dict:
    """Build, synthesize per layer (and place and route), and estimate power; the result
    is written to `out/synth/<target>/estimate.json`. `built`: called for the (lowered
    graph, RtlBuild) in place of building here (the Python API's build, kept between
    calls)."""
    check_estimate_options(est)
    steps = 4 if est.power else 3
    step(f"[2/{steps}] hardware passes + RTL into {out}")
    _, rtl = built() if built else build(graph, out, hw, auto_reuse, est.target, est.full,
                                         log, auto_io)
    step(f"[3/{steps}] synthesis for {est.target} (layers in parallel, cached)"
         + (" + place and route" if est.pnr else ""))
    resources, placed, _ = synthesize_and_place(out, rtl.data, est.target, est.full,
                                                est.pnr, est.device, log=_indent(log))
    if placed and not placed.get("fits") and est.device:
        raise HwgenError(placed["message"])
    print_pnr(placed, log)
    result = dict(resources, pnr=placed)
    log("      " + ", ".join(f"{k} {v}" for k, v in resources["total"].items()))
    if est.power:
        step(f"[4/{steps}] power: toggle counts over {min(sim.n, 100_000)} co-simulation "
             "vectors (Verilator), energy model")
        # The toggle-counting build in sim/ when a co-simulation of this RTL made one
        # (`HardwareModel.cosim`); else it is built there now.
        toggles = activity(loaded, graph, rtl.data, out, sim, build_root=out / "sim",
                           log=log)
        result["power"] = energy(rtl.data, out, resources, placed, est.target, toggles,
                                 est.clock_mhz, log)
    path = out / "synth" / est.target / "estimate.json"
    save_json(path, result)
    log(f"      wrote {path}")
    return result


@dataclass
class CarbonOptions:
    """The workload of the report's carbon figures: `rate` inferences per second around
    the clock, at grid intensity `grid` (gCO2e/kWh, a country code, or None: the world
    average); `cpu`: measure the model on this machine's CPU beside it."""
    rate: float = 1000.0
    grid: object = None
    cpu: bool = True


def carbon_figures(loaded, graph: Graph, power: dict | None, codes, opts: CarbonOptions,
                   log=print) -> tuple[dict | None, dict | None]:
    """(the report's `carbon`, its `measured` CPU baseline) for the flow."""
    from ..estimate import carbon
    from ..ir.types import codes_to_float
    from ..verify import logits_model
    intensity = carbon.grid_intensity(opts.grid)
    energy = (power or {}).get("energy_per_inference_nj", {}).get("busy")
    section = carbon.carbon_section(energy, None, opts.rate, intensity)
    if not opts.cpu:
        return section, None
    model = logits_model(loaded.model) or loaded.model
    x = codes_to_float(codes, graph.input.type.frac).reshape((len(codes),)
                                                             + tuple(graph.input.shape))
    cpu = carbon.cpu_baseline(model, x)
    both = carbon.carbon_section(energy, cpu, opts.rate, intensity)
    cpu = dict(both["cpu"], cpu_over_hardware=both.get("cpu_over_hardware"))
    log(f"      carbon at {opts.rate:g}/s, {intensity['g_per_kwh']:g} gCO2e/kWh: hardware "
        + (f"{section['hardware']['kg_co2e_per_year']:.4g}" if energy else "?")
        + f" kg CO2e/year; CPU {cpu['kg_co2e_per_year']:.4g} kg CO2e/year "
        f"({cpu['time_per_inference_us']:.3g} us per inference, measured)")
    return section, {"cpu": cpu}


@dataclass
class FlowResult:
    verify: dict
    sim: dict
    paths: list = field(default_factory=list)

    @property
    def failed(self) -> bool:
        bad = self.verify.get("exact") and self.verify.get("mismatches")
        return bool(bad or self.sim["mismatches"])


def verify(loaded, graph: Graph, n: int, seed: int, log=print):
    """The reference against QKeras on n vectors (the design's own test inputs first)."""
    from ..verify import verify_model
    result = verify_model(loaded, graph, n, seed, design_data(loaded))
    log(result.summary())
    if result.first or not result.exact:
        log(result.details())
    return result


def flow(loaded, graph: Graph, out: Path, hw: HardwareOptions, auto_reuse: bool,
         est: EstimateOptions, sim: SimOptions, step=print, log=print,
         auto_io: bool = False, carbon: CarbonOptions | None = None,
         built=None) -> FlowResult:
    """load -> IR -> reference check -> RTL -> synthesis -> place and route (in the
    background) | co-simulation -> power -> report, into `out`. `built`: as `estimate`'s."""
    from ..estimate import report
    from ..ir.text import dump, table
    from ..outputs import write_text
    from ..passes.pipelines import DEFAULT
    from ..processes import Background, one_line_at_a_time
    from ..verify import float64_overflow
    steps, seconds = 7, {}
    t0 = time.monotonic()
    # Place and route logs from its own thread while the co-simulation logs from this one.
    step, log = one_line_at_a_time(step, log)
    say = _indent(log)

    def done(name, t):
        seconds[name] = round(time.monotonic() - t, 1)
        return time.monotonic()

    ranged = DEFAULT.run(graph)
    write_text(out / "ir.txt", dump(ranged))
    write_text(out / "inspect.txt", table(ranged) + "\n")
    log(f"      wrote {out / 'ir.txt'} and {out / 'inspect.txt'} "
        f"({time.monotonic() - t0:.1f} s)")
    t = done("ir", t0)
    step(f"[2/{steps}] verify reference against QKeras on {sim.n} vectors")
    wide = float64_overflow(ranged) if graph.exact else None
    if wide is not None:       # verify-model explains; the flow goes on without it
        log(f"      skipped: layer '{wide[0]}' {wide[2]} need {wide[1]} bits, more than the "
            "float64 comparison holds exactly (`hwgen verify-model` says more)")
        checked = {"exact": False, "skipped": f"layer {wide[0]}: {wide[1]}-bit {wide[2]}"}
    else:
        result = verify(loaded, graph, sim.n, sim.seed, log)
        checked = {"vectors": result.vectors, "exact": result.exact,
                   "mismatches": result.mismatches, "first_mismatches": result.first,
                   "max_abs_error": result.max_abs_error,
                   "mean_abs_error": result.mean_abs_error,
                   "argmax_agreement": result.argmax_agreement}
    save_json(out / "verify.json", checked)
    t = done("verify", t)
    step(f"[3/{steps}] hardware passes + RTL")
    lowered, rtl = built() if built else build(graph, out, hw, auto_reuse, est.target,
                                               est.full, log, auto_io)
    t = done("rtl", t)
    pnr = est.target in ("ecp5", "ice40")
    step(f"[4/{steps}] synthesis for {est.target} (layers in parallel, cached)"
         + ("; place and route starts in the background" if pnr else ""))
    resources, synth_seconds = synthesize_layers(out, rtl.data, est.target, est.full, say)
    seconds.update(synth_seconds)
    # nextpnr runs on one core for minutes: co-simulation and the toggle count run on the
    # other meanwhile. Its log lines arrive between theirs.
    pnr_log = out / "synth" / est.target / "pnr" / "nextpnr.log"
    placing = Background(place, out, rtl.data, est.target, resources,
                         log=lambda s: say(f"{s} (log: {pnr_log})"),
                         time_limit_s=est.pnr_time_limit_s)
    t = time.monotonic()
    step(f"[5/{steps}] co-simulation with Verilator on {sim.n} vectors (toggle counting "
         "build, shared with the power step)")
    simulated = simulate(loaded, graph, rtl.data, out / "rtl", out, sim, toggles=True, log=log)
    t = done("cosim", t)
    step(f"[6/{steps}] power: toggle counts over {min(sim.n, 100_000)} vectors, busy and "
         "idle, energy model")
    toggles = activity(loaded, graph, rtl.data, out, sim, build_root=out / "sim", log=log)
    t = done("power", t)
    if not placing.done():
        log("      waiting for place and route")
    placed, pnr_seconds = placing.result()
    seconds.update(pnr_seconds)
    print_pnr(placed, log)
    power = energy(rtl.data, out, resources, placed, est.target, toggles, est.clock_mhz, log)
    step(f"[7/{steps}] report")
    t = time.monotonic()
    from ..sim.vectors import input_codes
    codes = input_codes(graph.input.type, graph.input.shape, 4096, sim.seed,
                        design_data(loaded))
    footprint, measured = carbon_figures(loaded, graph, power, codes,
                                         carbon or CarbonOptions(), log)
    record = make_report(loaded.name, lowered, rtl.data, est.target, resources, placed,
                         power, checked, simulated, seconds, footprint, measured)
    paths = report.write(out, record)
    seconds["report"] = round(time.monotonic() - t, 1)
    log("      wrote " + ", ".join(str(p) for p in paths)
        + f" ({time.monotonic() - t0:.1f} s in all)")
    return FlowResult(checked, simulated, paths)


def export_asic(loaded, graph: Graph, out: Path, hw: HardwareOptions, clock_ns: float,
                serial: bool, step=print, log=print) -> dict:
    """Verilog and an OpenLane 2 configuration sized by the Yosys estimate."""
    from ..estimate.resources import estimate as yosys_estimate
    from ..export.asic import export_asic as write_asic
    step(f"[2/3] hardware passes + RTL into {out}")
    _, rtl = build(graph, out, hw, False, "asic", log=log)
    step("[3/3] asic estimate (Yosys generic gates) for the die, OpenLane 2 config")
    est = yosys_estimate(out, rtl.data, "asic", log=_indent(log))
    info = write_asic(loaded.name, rtl.data, rtl.verilog.read_text(), est, out, clock_ns,
                      serial)
    log(f"wrote {out}: src/{info['top']}.v, config.json (die {info['die_um']} um square, "
        f"{info['pins']} pins), README.md")
    return info


def hls(loaded, graph: Graph, out: Path, backend: str, reuse: int, n: int, seed: int,
        step=print, log=print, io: str = "parallel") -> dict:
    """An hls4ml project with hwgen's precisions (io_parallel, or io_stream with `io`
    "stream"), checked in its C simulation."""
    from ..export.hls import check, write_project
    from ..passes.pipelines import DEFAULT
    from ..sim.vectors import input_codes
    ranged = DEFAULT.run(graph)
    step(f"[2/3] hls4ml project ({backend}, io_{io}) with hwgen's precisions into {out}")
    hm, last, note = write_project(loaded.model, ranged, out, backend, reuse=reuse, io=io)
    if note:
        log(f"      note: {note}")
    step(f"[3/3] hls4ml C simulation against the reference on {n} vectors "
         "(compiles the project)")
    codes = input_codes(graph.input.type, graph.input.shape, n, seed, design_data(loaded))
    result = check(hm, ranged, codes, last)
    result["note"] = note
    save_json(out / "hwgen_check.json", result)
    log(f"{result['vectors']} vectors, {result['mismatches']} mismatches (layer "
        f"{result['compared_layer']}; details in {out / 'hwgen_check.json'})")
    for mm in result["first_mismatches"][:3]:
        log(f"  vector {mm['vector']}: expected {mm['expected']}, got {mm['got']}")
    return result
