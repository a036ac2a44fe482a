"""The `hwgen` command. The Makefile calls it; every sub-command is one function."""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from .errors import HwgenError
# Option choices come from the modules that define them (no second list to keep in step).
from .estimate.nextpnr import ECP5_DEVICES
from .estimate.yosys import TARGETS
from .export.boards import BOARDS
from .export.hls import BACKENDS
from .options import MULT_MODES
from .sim.runner import MODES as SIM_MODES


def _quiet_tensorflow() -> None:
    import warnings
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    # Keras warns that QKeras quantizers are not Constraints when it serialises them.
    warnings.filterwarnings("ignore", category=UserWarning, module="keras")


class _Parser(argparse.ArgumentParser):
    """argparse with hwgen's one-line errors: `hwgen: error: ...`, exit status 2."""

    def error(self, message):
        self.exit(2, f"hwgen: error: {message} (see `{self.prog} --help`)\n")


def _number(kind, low, high=None, low_open=False, unit=""):
    """An argparse type: a `kind` (int or float) in [low, high] (or (low, high])."""
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{'a whole number' if kind is int else 'a number'} is needed, not {text!r}")
        if value != value or value in (float("inf"), float("-inf")) or \
                (value <= low if low_open else value < low) or \
                (high is not None and value > high):
            rng = (f"above {low}" if low_open else f"at least {low}") + \
                (f" and at most {high}" if high is not None else "")
            raise argparse.ArgumentTypeError(f"must be {rng}{unit}, not {text}")
        return value
    parse.__name__ = kind.__name__     # argparse names the type in its messages
    return parse


_COUNT = _number(int, 1)
# The reference and the vectors of one run are held in memory: 10 million vectors of a
# 64-input model are already 5 GB of codes.
_VECTORS = _number(int, 1, 10_000_000)
_SEED = _number(int, 0, 2**32 - 1)
_MHZ = _number(float, 0, 10_000, low_open=True, unit=" MHz")


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="design name (see `hwgen list`), model file (.h5/.keras), "
                   "or architecture .json (weights next to it as NAME_weights.h5)")
    p.add_argument("--weights", help="weights .h5 for an architecture .json")
    p.add_argument("--input-format", metavar="FMT",
                   help="input grid when the model has no input quantizer "
                        "(default fixed<16,6>), e.g. 'fixed<12,4>'")
    p.add_argument("--precision", action="append", default=[], metavar="[LAYER=]FMT",
                   help="precision for float layers, e.g. 'fixed<16,6>' or "
                        "'dense_1=fixed<8,3,RND_CONV,SAT>' (repeatable)")


def _compile(args):
    from . import compile_model
    from .options import FrontendOptions
    options = FrontendOptions.from_strings(args.input_format, args.precision)
    return compile_model(args.model, options, args.weights)


def _out_dir(args, name: str, *default: str) -> Path:
    """The output folder (`-o`, else build/<design>/<default...>), created, checked
    writable and locked for this run."""
    from .outputs import output_dir
    if getattr(args, "out", None):      # `main` checked and locked it before loading
        return Path(args.out)
    return output_dir(Path("build", name, *default), "the output folder")


def cmd_list(args) -> int:
    from .designs import design_meta, design_names
    names = design_names()
    if not names:
        print("no designs found in designs/")
    for name in names:
        meta = design_meta(name)
        print(f"{name:22s} {meta.get('summary', '')}")
    return 0


def cmd_inspect(args) -> int:
    from .ir.text import table
    loaded, graph = _compile(args)
    print(f"model {loaded.name} ({loaded.source})")
    print(table(graph))
    return 0


def _verify(args, loaded, graph):
    from .flow import design_data
    from .verify import verify_model
    result = verify_model(loaded, graph, args.n, args.seed, design_data(loaded))
    print(result.summary())
    if result.first or not result.exact:
        print(result.details())
    return result


def cmd_verify(args) -> int:
    loaded, graph = _compile(args)
    result = _verify(args, loaded, graph)
    return 1 if result.exact and result.mismatches else 0


def _hw_options(args, auto_default: bool = False):
    """(HardwareOptions, auto): `auto` when the reuse factor is to be chosen to fit the
    target (`--reuse auto`, the default of flow and export)."""
    from .options import HardwareOptions
    reuse, layer_reuse = HardwareOptions.parse_reuse(args.reuse)
    auto = reuse == "auto" or (auto_default and args.reuse is None)
    return HardwareOptions(args.mult, args.pipeline, 1 if auto else reuse, layer_reuse), auto


def _hw_args(p):
    p.add_argument("--mult", choices=MULT_MODES, default="csd",
                   help="constant multiplication: shift-add on canonical signed "
                        "digits (default) or one hardware multiplier per weight")
    p.add_argument("--pipeline", type=_number(int, 0, 1000), default=3, metavar="N",
                   help="a pipeline register every N adder/activation levels "
                        "(default 3; 0: input and output registers only)")
    p.add_argument("--reuse", action="append", metavar="R|auto|LAYER=R",
                   help="fold dense layers onto multiply-accumulate lanes taking at most R "
                        "cycles per vector (hls4ml's reuse factor; weights in memory, one "
                        "vector every II cycles); LAYER=R for one layer (repeatable); auto: "
                        "the smallest that fits the target (default of flow and export; "
                        "otherwise 1: fully parallel, one vector per clock)")


def _build(args, loaded, graph, out: Path, fit_target: str | None = None):
    """Lower and write the RTL; with `--reuse auto` (the default when `fit_target` is set
    by flow), the smallest reuse factor whose Yosys estimate fits `fit_target`'s largest
    device (ecp5: LFE5U-85F with routing headroom, ice40: UP5K; xc7 and asic: fully
    parallel)."""
    from .flow import build_fitting, build_rtl, fits_for_auto
    t0 = time.monotonic()
    hw, auto = _hw_options(args, auto_default=fit_target is not None)
    target = fit_target or getattr(args, "target", None)
    if auto and target is None:
        raise HwgenError("--reuse auto needs a target to fit: use it with estimate, flow or "
                         "export, or give a number")
    if auto and target in ("ecp5", "ice40"):
        print(f"      --reuse auto: the smallest reuse factor that fits the "
              f"{'LFE5U-85F' if target == 'ecp5' else 'iCE40UP5K'}", flush=True)
        lowered, rtl, _ = build_fitting(
            graph, out, hw, target, lambda m, total: fits_for_auto(target, m, total),
            getattr(args, "full", False), log=lambda s: print("      " + s.strip(), flush=True))
    else:
        lowered, rtl = build_rtl(graph, out, hw)
    m = rtl.data
    adders = sum(r.get("adders", 0) for r in m["layers"])
    mults = sum(r.get("multipliers", 0) for r in m["layers"])
    print(f"      wrote {rtl.verilog} ({rtl.verilog.stat().st_size // 1024} KiB) and "
          f"{rtl.manifest}: {adders} adders, {mults} multipliers, latency {m['latency']} "
          f"cycles, II {m['ii']} ({time.monotonic() - t0:.1f} s)", flush=True)
    return lowered, rtl


def cmd_build(args) -> int:
    print(f"[1/2] load + lower to IR: {args.model}", flush=True)
    loaded, graph = _compile(args)
    out = _out_dir(args, loaded.name)
    print(f"[2/2] hardware passes + RTL into {out}", flush=True)
    _build(args, loaded, graph, out)
    return 0


def _simulate(args, loaded, graph, manifest, rtl_dir: Path, out: Path,
              toggles: bool = False) -> dict:
    from .flow import design_data
    from .sim.runner import cosim
    result = cosim(graph, manifest, rtl_dir, out / "sim", args.n, args.seed,
                   design_data(loaded), args.mode, args.waves,
                   log=lambda s: print("      " + s.strip(), flush=True),
                   toggles=toggles and args.mode == "batch" and not args.waves)
    print(f"{result['vectors']} vectors, {result['mismatches']} mismatches "
          f"({result['vectors_per_second']} vectors/s; results in {out / 'sim' / 'results.json'})",
          flush=True)
    for mm in result["first_mismatches"][:3]:
        print(f"  vector {mm['vector']}: expected {mm['expected']}, got {mm['got']}")
    return result


def cmd_sim(args) -> int:
    from .sim.runner import load_manifest
    print(f"[1/3] load + lower to IR: {args.model}", flush=True)
    loaded, graph = _compile(args)
    if args.rtl_dir:
        rtl_dir = Path(args.rtl_dir)
        if not rtl_dir.is_dir():
            raise HwgenError(f"--rtl-dir {rtl_dir} is not a folder")
        manifest = load_manifest(rtl_dir.parent / "manifest.json")
        from .outputs import output_dir
        out = Path(args.out) if args.out else \
            output_dir(rtl_dir.parent, "the folder of --rtl-dir")
        print(f"[2/3] using the Verilog in {rtl_dir} as it is", flush=True)
    else:
        out = _out_dir(args, loaded.name)
        print(f"[2/3] hardware passes + RTL into {out}", flush=True)
        _, rtl = _build(args, loaded, graph, out)
        manifest, rtl_dir = rtl.data, out / "rtl"
    print("[3/3] co-simulation with Verilator", flush=True)
    result = _simulate(args, loaded, graph, manifest, rtl_dir, out)
    return 1 if result["mismatches"] else 0


def _power(args, loaded, graph, manifest, out: Path, resources: dict, placed, target: str,
           build_root: Path | None = None) -> dict:
    """Toggle rates over the co-simulation vectors, then the target's energy model."""
    activity = _activity(args, loaded, graph, manifest, out, build_root)
    return _energy(args, manifest, out, resources, placed, target, activity)


def _activity(args, loaded, graph, manifest, out: Path, build_root: Path | None = None):
    """Toggle rates over min(n, 100000) co-simulation vectors, busy and idle."""
    from .estimate.activity import measure
    from .flow import design_data, save_json
    n = min(args.n, 100_000)
    activity = measure(graph, manifest, out / "rtl", out / "power", n, args.seed,
                       design_data(loaded), log=lambda s: print("      " + s.strip(),
                                                                flush=True),
                       build_root=build_root)
    save_json(out / "power" / "activity.json", activity)
    return activity


def _energy(args, manifest, out: Path, resources: dict, placed, target: str, activity):
    """The target's energy model on measured toggle rates, at --clock or Fmax (<= 100 MHz)."""
    from .estimate.power import estimate_power, memory_duty
    from .flow import power_device, save_json
    fmax = placed.get("fmax_mhz") if placed else None
    clock = args.clock if args.clock is not None else (min(fmax, 100.0) if fmax else None)
    result = estimate_power(resources, activity, manifest["latency"], target, clock,
                            power_device(target, placed, resources), manifest["ii"],
                            memory_duty(manifest))
    save_json(out / "power" / f"power-{target}.json", result)
    e = result["energy_per_inference_nj"]
    print(f"      estimate at {result['clock_mhz']} MHz: busy {result['busy_mw']} mW, idle "
          f"{result['idle_mw']} mW (static {result['static_mw']}); {e['busy']} nJ per "
          f"inference back to back, {e['isolated']} nJ alone", flush=True)
    return result


def _print_pnr(placed) -> None:
    if placed is None:
        return
    if not placed.get("fits"):
        print(f"      not placed and routed: {placed['message']}", flush=True)
    else:
        print(f"      Fmax {placed['fmax_mhz']} MHz on {placed['device']}, latency "
              f"{placed['latency_ns']} ns", flush=True)


def cmd_estimate(args) -> int:
    from .flow import save_json, synthesize_and_place
    steps = 3 if args.no_power else 4
    if args.pnr and args.target not in ("ecp5", "ice40"):
        raise HwgenError("--pnr runs nextpnr for --target ecp5 or ice40")
    if args.device and (args.target == "ice40") != (args.device == "up5k"):
        raise HwgenError(f"--device {args.device} is not an {args.target} device: use "
                         + ("up5k" if args.target == "ice40" else "25k, 45k or 85k"))
    print(f"[1/{steps}] load + lower to IR: {args.model}", flush=True)
    loaded, graph = _compile(args)
    out = _out_dir(args, loaded.name)
    print(f"[2/{steps}] hardware passes + RTL into {out}", flush=True)
    _, rtl = _build(args, loaded, graph, out)
    print(f"[3/{steps}] synthesis for {args.target} (layers in parallel, cached)"
          + (" + place and route" if args.pnr else ""), flush=True)
    resources, placed, _ = synthesize_and_place(
        out, rtl.data, args.target, args.full, args.pnr, args.device,
        log=lambda s: print("      " + s.strip(), flush=True))
    if placed and not placed.get("fits") and args.device:
        raise HwgenError(placed["message"])
    _print_pnr(placed)
    result = dict(resources, pnr=placed)
    t = resources["total"]
    print("      " + ", ".join(f"{k} {v}" for k, v in t.items()), flush=True)
    if not args.no_power:
        print(f"[4/{steps}] power: toggle counts over {min(args.n, 100_000)} co-simulation "
              "vectors (Verilator), energy model", flush=True)
        result["power"] = _power(args, loaded, graph, rtl.data, out, resources, placed,
                                 args.target)
    path = out / "synth" / args.target / "estimate.json"
    save_json(path, result)
    print(f"      wrote {path}", flush=True)
    return 0


def cmd_flow(args) -> int:
    """load -> IR -> reference check -> RTL -> synthesis -> place and route (in the
    background) | co-simulation -> power -> report, into build/<design>/."""
    from .estimate import report
    from .flow import make_report, place, save_json, synthesize_layers
    from .ir.text import dump, table
    from .passes.pipelines import DEFAULT
    from .outputs import write_text
    from .processes import Background
    steps = 7
    seconds = {}
    t0 = time.monotonic()
    say = lambda s: print("      " + s.strip(), flush=True)    # noqa: E731

    def step(name, t):
        seconds[name] = round(time.monotonic() - t, 1)
        return time.monotonic()

    print(f"[1/{steps}] load + lower to IR: {args.model}", flush=True)
    loaded, graph = _compile(args)
    ranged = DEFAULT.run(graph)
    out = _out_dir(args, loaded.name)
    write_text(out / "ir.txt", dump(ranged))
    write_text(out / "inspect.txt", table(ranged) + "\n")
    print(f"      wrote {out / 'ir.txt'} and {out / 'inspect.txt'} "
          f"({time.monotonic() - t0:.1f} s)", flush=True)
    t = step("ir", t0)
    print(f"[2/{steps}] verify reference against QKeras on {args.n} vectors", flush=True)
    from .verify import float64_overflow
    wide = float64_overflow(ranged) if graph.exact else None
    if wide is not None:       # verify-model explains; the flow goes on without it
        print(f"      skipped: layer '{wide[0]}' {wide[2]} need {wide[1]} bits, more than the "
              "float64 comparison holds exactly (`hwgen verify-model` says more)", flush=True)
        verify = {"exact": False, "skipped": f"layer {wide[0]}: {wide[1]}-bit {wide[2]}"}
        bad_verify = 0
    else:
        result = _verify(args, loaded, graph)
        verify = {"vectors": result.vectors, "exact": result.exact,
                  "mismatches": result.mismatches, "first_mismatches": result.first,
                  "max_abs_error": result.max_abs_error,
                  "mean_abs_error": result.mean_abs_error,
                  "argmax_agreement": result.argmax_agreement}
        bad_verify = result.exact and result.mismatches
    save_json(out / "verify.json", verify)
    t = step("verify", t)
    print(f"[3/{steps}] hardware passes + RTL", flush=True)
    lowered, rtl = _build(args, loaded, graph, out, fit_target=args.target)
    t = step("rtl", t)
    pnr = args.target in ("ecp5", "ice40")
    print(f"[4/{steps}] synthesis for {args.target} (layers in parallel, cached)"
          + ("; place and route starts in the background" if pnr else ""), flush=True)
    resources, synth_seconds = synthesize_layers(out, rtl.data, args.target, args.full, say)
    seconds.update(synth_seconds)
    # nextpnr runs on one core for minutes: co-simulation and the toggle count run on the
    # other meanwhile. Its log lines arrive between theirs.
    pnr_log = out / "synth" / args.target / "pnr" / "nextpnr.log"
    placing = Background(place, out, rtl.data, args.target, resources,
                         log=lambda s: say(f"{s} (log: {pnr_log})"))
    t = time.monotonic()
    print(f"[5/{steps}] co-simulation with Verilator on {args.n} vectors (toggle counting "
          "build, shared with the power step)", flush=True)
    sim = _simulate(args, loaded, graph, rtl.data, out / "rtl", out, toggles=True)
    t = step("cosim", t)
    print(f"[6/{steps}] power: toggle counts over {min(args.n, 100_000)} vectors, busy and "
          "idle, energy model", flush=True)
    activity = _activity(args, loaded, graph, rtl.data, out, build_root=out / "sim")
    t = step("power", t)
    if not placing.done():
        print("      waiting for place and route", flush=True)
    placed, pnr_seconds = placing.result()
    seconds.update(pnr_seconds)
    _print_pnr(placed)
    power = _energy(args, rtl.data, out, resources, placed, args.target, activity)
    print(f"[7/{steps}] report", flush=True)
    t = time.monotonic()
    record = make_report(loaded.name, lowered, rtl.data, args.target, resources, placed,
                         power, verify, sim, seconds)
    paths = report.write(out, record)
    seconds["report"] = round(time.monotonic() - t, 1)
    print("      wrote " + ", ".join(str(p) for p in paths)
          + f" ({time.monotonic() - t0:.1f} s in all)", flush=True)
    bad = bad_verify or sim["mismatches"]
    return 1 if bad else 0


def cmd_export(args) -> int:
    from .export.project import export_board
    from .flow import design_data
    if (args.board is None) == (not args.asic):
        raise HwgenError("give either --board B or --asic")
    if args.asic:
        return _export_asic(args)
    print(f"[0/4] load + lower to IR: {args.model}", flush=True)
    loaded, graph = _compile(args)
    out = _out_dir(args, loaded.name, "export", args.board)
    hw, auto = _hw_options(args, auto_default=True)
    info = export_board(loaded.name, graph, out, args.board, args.top, args.vectors, args.baud,
                        hw, design_data(loaded), auto_reuse=auto,
                        log=lambda s: print(("      " if s.startswith("  ") else "") + s.strip(),
                                            flush=True))
    what = f"bitstream {out / info['bitstream']} (Fmax {info.get('fmax_mhz')} MHz, board " \
        f"clock {info['clock_mhz']} MHz)" if info["built"] else \
        f"{info['script']} (needs {', '.join(info['needs'])})"
    print(f"wrote {out}: {what}; see {out / 'README.md'}", flush=True)
    return 0


def _export_asic(args) -> int:
    from .estimate.resources import estimate
    from .export.asic import export_asic
    print(f"[1/3] load + lower to IR: {args.model}", flush=True)
    loaded, graph = _compile(args)
    out = _out_dir(args, loaded.name, "export", "asic")
    print(f"[2/3] hardware passes + RTL into {out}", flush=True)
    _, rtl = _build(args, loaded, graph, out, fit_target="asic")
    print("[3/3] asic estimate (Yosys generic gates) for the die, OpenLane 2 config",
          flush=True)
    est = estimate(out, rtl.data, "asic", log=lambda s: print("      " + s.strip(), flush=True))
    info = export_asic(loaded.name, rtl.data, rtl.verilog.read_text(), est, out,
                       args.clock_ns, args.asic_top == "serial")
    print(f"wrote {out}: src/{info['top']}.v, config.json (die {info['die_um']} um square, "
          f"{info['pins']} pins), README.md", flush=True)
    return 0


def cmd_hls(args) -> int:
    from .export.hls import check, write_project
    from .flow import design_data, save_json
    from .passes.pipelines import DEFAULT
    from .sim.vectors import input_codes
    print(f"[1/3] load + lower to IR: {args.model}", flush=True)
    loaded, graph = _compile(args)
    ranged = DEFAULT.run(graph)
    out = _out_dir(args, loaded.name, "hls4ml")
    print(f"[2/3] hls4ml project ({args.backend}) with hwgen's precisions into {out}",
          flush=True)
    hm, last, note = write_project(loaded.model, ranged, out, args.backend, reuse=args.reuse)
    if note:
        print(f"      note: {note}", flush=True)
    print(f"[3/3] hls4ml C simulation against the reference on {args.n} vectors "
          "(compiles the project)", flush=True)
    codes = input_codes(graph.input.type, graph.input.shape, args.n, args.seed,
                        design_data(loaded))
    result = check(hm, ranged, codes, last)
    result["note"] = note
    save_json(out / "hwgen_check.json", result)
    print(f"{result['vectors']} vectors, {result['mismatches']} mismatches (layer {last}; "
          f"details in {out / 'hwgen_check.json'})", flush=True)
    for mm in result["first_mismatches"][:3]:
        print(f"  vector {mm['vector']}: expected {mm['expected']}, got {mm['got']}")
    return 1 if result["mismatches"] else 0


def cmd_report(args) -> int:
    from .estimate import report
    paths = report.render(Path(args.dir))
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="hwgen", description="Compile quantized QKeras "
                                     "models into bit-exact hardware.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help="list the designs in designs/")
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("inspect", help="per-layer table: op, shapes, formats, weights, "
                       "sparsity, MACs")
    _model_args(p)
    p.set_defaults(func=cmd_inspect)
    for name, func, help_text in (
            ("verify-model", cmd_verify, "compare the bit-exact reference with QKeras predict"),
            ("build", cmd_build, "generate the Verilog and manifest.json"),
            ("sim", cmd_sim, "co-simulate the RTL with Verilator against the reference"),
            ("estimate", cmd_estimate, "synthesize with Yosys: resources per layer"),
            ("flow", cmd_flow, "load, verify, build, co-simulate and report into "
                               "build/<design>")):
        p = sub.add_parser(name, help=help_text)
        _model_args(p)
        if name != "build":
            p.add_argument("--n", type=_VECTORS, default=10000, help="number of vectors "
                           "(default 10000)")
            p.add_argument("--seed", type=_SEED, default=0, help="random seed (default 0)")
        if name != "verify-model":
            p.add_argument("-o", "--out", help="output folder (default build/<design>)")
            _hw_args(p)
        if name in ("sim", "flow"):
            p.add_argument("--mode", choices=SIM_MODES, default="batch",
                           help="batch: vectors made and outputs printed in hardware, "
                                "fast (default); stream: the layered cocotb bench, "
                                "cycle by cycle")
            p.add_argument("--waves", action="store_true", help="write a waveform: "
                           "sim/shard0/dump.fst (dump.vcd without liblz4-dev)")
        if name in ("estimate", "flow"):
            p.add_argument("--target", choices=list(TARGETS),
                           default="ecp5", help="synthesis target (default ecp5)")
            p.add_argument("--full", action="store_true", help="the default (slow) ABC9 "
                           "script instead of the fast one")
            p.add_argument("--clock", type=_MHZ, metavar="MHZ", help="run clock for the "
                           "power estimate (default: Fmax capped at 100 MHz when placed and "
                           "routed, else the target's board clock: ice40 12, ecp5 25, "
                           "xc7 100, asic 500)")
        if name == "estimate":
            p.add_argument("--no-power", action="store_true", help="resources only: skip "
                           "the toggle-count simulation and the power estimate")
            p.add_argument("--pnr", action="store_true", help="also place and route with "
                           "nextpnr (ecp5 out of context; ice40 on the UP5K with a serial "
                           "I/O wrapper): Fmax and utilisation")
            p.add_argument("--device", choices=[d[0] for d in ECP5_DEVICES] + ["up5k"],
                           help="device for --pnr: an LFE5U size for ecp5 (default: the "
                                "smallest that fits), up5k for ice40")
        if name == "sim":
            p.add_argument("--rtl-dir", help="simulate the Verilog in this folder as it is "
                           "(manifest.json beside it)")
        p.set_defaults(func=func)
    p = sub.add_parser("export", help="a board project: the core in a self-test or UART "
                       "top; a bitstream for iCE40/ECP5, a Vivado/Quartus build otherwise")
    _model_args(p)
    p.add_argument("--board", choices=list(BOARDS))
    p.add_argument("--asic", action="store_true", help="instead of a board: Verilog and an "
                   "OpenLane 2 configuration (sky130A)")
    p.add_argument("--asic-top", choices=["core", "serial"], default="core",
                   help="core: the core's ports (a macro); serial: the 8-pin serial wrapper")
    p.add_argument("--clock-ns", type=_number(float, 0, 1e6, low_open=True, unit=" ns"),
                   default=10.0, help="ASIC clock period "
                   "(default 10 ns)")
    p.add_argument("--top", choices=["selftest", "uart"], default="selftest",
                   help="selftest: test vectors in ROM, pass/fail on LEDs and UART "
                        "(default); uart: stream vectors from a host (scripts/run_board.py)")
    p.add_argument("--vectors", type=_number(int, 1, 4096), default=128,
                   help="self-test vectors, at most 4096 (default 128)")
    p.add_argument("--baud", type=_COUNT, default=115200, help="UART baud rate (default 115200)")
    p.add_argument("-o", "--out", help="output folder (default build/<design>/export/<board> "
                   "or build/<design>/export/asic)")
    _hw_args(p)
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("hls", help="an hls4ml project with hwgen's per-layer precisions, "
                       "checked bit-exact in hls4ml's C simulation")
    _model_args(p)
    p.add_argument("-o", "--out", help="output folder (default build/<design>/hls4ml)")
    p.add_argument("--backend", choices=BACKENDS, default="Vitis")
    p.add_argument("--reuse", type=_COUNT, default=1, metavar="R",
                   help="hls4ml's ReuseFactor for every layer (Resource strategy when > 1; "
                   "hls4ml may round it to a factor its dense layers allow); default 1")
    p.add_argument("--n", type=_VECTORS, default=10000, help="vectors (default 10000)")
    p.add_argument("--seed", type=_SEED, default=0)
    p.set_defaults(func=cmd_hls)
    p = sub.add_parser("report", help="render report.md and the plots again from "
                       "DIR/report.json")
    p.add_argument("dir", help="a design's build folder (build/<design>)")
    p.set_defaults(func=cmd_report)
    return parser


def main(argv=None) -> int:
    import signal
    import threading
    from . import outputs, processes
    _quiet_tensorflow()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.debug:                # the IR verifier after every pass (ir/check.py)
        os.environ["HWGEN_CHECK_IR"] = "1"
    # SIGTERM ends hwgen like an error does; either way no tool it started outlives the
    # command (nextpnr may be running in a background thread). Signal handlers can only be
    # set from the main thread.
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        if getattr(args, "out", None):     # checked before the model is even loaded
            outputs.output_dir(Path(args.out), "-o/--out")
        return args.func(args)
    except HwgenError as exc:
        if args.debug:
            raise
        print(f"hwgen: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        # A file hwgen could not read or write that no check caught before: say which
        # and why, not a traceback (the checks give the fix; this is the safety net).
        if args.debug:
            raise
        where = f" '{exc.filename}'" if exc.filename else ""
        print(f"hwgen: error: cannot access{where}: {exc.strerror or exc}; check the "
              "path and its permissions (or free disk space), then run again (--debug "
              "shows where)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        processes.stop_all()
        outputs.release_all()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _terminated(signum, frame):
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    sys.exit(main())
