"""The `hwgen` command: it parses and prints; the work is in `flow/run.py` (and the
modules it calls). The Makefile calls it; every sub-command is one function."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .errors import HwgenError
# Option choices come from the modules that define them (no second list to keep in step).
from .estimate.nextpnr import ECP5_DEVICES
from .estimate.yosys import TARGETS
from .export.boards import BOARDS
from .export.hls import BACKENDS
from .flow.run import FLOW_PNR_TIME_LIMIT_S
from .ir import delay
from .options import MULT_MODES, STEP_FORMS
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
                   "SavedModel folder, or architecture .json (weights next to it as "
                   "NAME_weights.h5)")
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


def _convert(args, auto_default: bool = False, out=None, log=None):
    """The command's model and options as a `HardwareModel` (the Python API: the commands
    below only parse, call it and print). `auto_default`: `--reuse` and `--io` default to
    auto (flow, export)."""
    from .api import convert
    from .options import FrontendOptions, HardwareOptions
    fe = FrontendOptions.from_strings(args.input_format, args.precision)
    precision = dict(fe.layer_precision, **({"*": fe.precision} if fe.precision else {}))
    hw = {}
    if hasattr(args, "mult"):
        reuse, layer_reuse = HardwareOptions.parse_reuse(args.reuse)
        if auto_default and args.reuse is None:
            reuse = "auto"
        hw = dict(mult=args.mult, pipeline=args.pipeline, clock_target=args.clock_target,
                  reuse=dict(layer_reuse, **{"*": reuse}),
                  io=getattr(args, "io", None) or ("auto" if auto_default else "parallel"),
                  target=_timed_for(args), split_outputs=args.split_outputs,
                  step_form=args.step_form)
    return convert(args.model, args.weights, input_format=fe.input_format,
                   precision=precision or None, out=out, log=log or _say, **hw)


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


def cmd_verify(args) -> int:
    result = _convert(args).verify(args.n, args.seed)
    print(result.summary, flush=True)
    if result.first_mismatches or not result.exact:
        print(result.details, flush=True)
    return 1 if result.exact and result.mismatches else 0


def _say(line: str) -> None:
    print(line, flush=True)


def _timed_for(args) -> str:
    """The family the pipeline schedule is timed for: `--target`, the board's, or ECP5
    (the default target); a vendor board without a delay model of its own (Cyclone V)
    is timed as a 7-series part, the nearest in speed."""
    from .ir.delay import MODELS
    if getattr(args, "target", None):
        return args.target
    if getattr(args, "board", None):
        family = BOARDS[args.board].family
        return family if family in MODELS else "xc7"
    return "ecp5"


def _clock_target(text: str) -> float:
    """`--clock-target`: MHz (`150`, `150MHz`) or a period (`6.5ns`), as MHz."""
    from .options import parse_clock_target
    try:
        return parse_clock_target(text)
    except HwgenError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _carbon_args(p):
    p.add_argument("--rate", type=_number(float, 0, low_open=True), default=1000.0,
                   help="inferences per second of the workload for the energy and carbon "
                        "figures, around the clock (default 1000)")
    p.add_argument("--grid-intensity", default=None, metavar="G|CODE",
                   help="gCO2e/kWh or an ISO 3166 alpha-3 country code (FRA, USA); "
                        "default: codecarbon's world average, 475")


def _hw_args(p):
    p.add_argument("--mult", choices=MULT_MODES, default="csd",
                   help="constant multiplication: shift-add on canonical signed "
                        "digits with shared sub-expressions (csd, default), the same "
                        "without sharing (csd-per-weight), or one hardware multiplier "
                        "per weight (dsp)")
    p.add_argument("--pipeline", type=_number(int, 0, 1000), default=None, metavar="N",
                   help="a pipeline register every N adder/activation levels, overriding "
                        "the clock target (0: input and output registers only)")
    p.add_argument("--clock-target", type=_clock_target, default=None, metavar="MHZ|NS",
                   help="place pipeline registers by estimated delay so that every stage "
                        "meets this clock (MHz, or a period such as 6.5ns) with the fewest "
                        "cycles and register bits (default: "
                        + ", ".join(f"{t} {m.default_mhz:g}" for t, m in delay.MODELS.items())
                        + " MHz, for --target or the board)")
    p.add_argument("--io", choices=("parallel", "stream", "auto"), default=None,
                   help="parallel: the whole input vector at once (default of build, sim "
                        "and estimate); stream: an image one pixel per in_valid/in_ready "
                        "handshake through line-buffered convolution stages; auto: fully "
                        "parallel if it fits the target, else streaming (default of flow)")
    p.add_argument("--reuse", action="append", metavar="R|auto|LAYER=R",
                   help="fold dense layers onto multiply-accumulate lanes taking at most R "
                        "cycles per vector (hls4ml's reuse factor; weights in memory, one "
                        "vector every II cycles); LAYER=R for one layer (repeatable); auto: "
                        "the smallest that fits the target (default of flow and export; "
                        "otherwise 1: fully parallel, one vector per clock)")
    p.add_argument("--split-outputs", action="store_true",
                   help="with --reuse R: split an output's products over several lanes "
                        "where it has more than R, so every folded layer takes R cycles "
                        "(more lanes); default: such a layer takes as many cycles as its "
                        "longest output")
    p.add_argument("--step-form", choices=STEP_FORMS, default="auto",
                   help="step functions (non-linear quantizers, a batch norm fused with a "
                        "quantizer): auto (default) searches those of 7 thresholds or more, "
                        "a comparison per level (far smaller, a few levels more); tree "
                        "compares every threshold at once (the fewest levels); search "
                        "searches all")


def _out(args):
    return Path(args.out) if getattr(args, "out", None) else None


def cmd_build(args) -> int:
    print(f"[1/2] load + lower to IR: {args.model}", flush=True)
    hw = _convert(args, out=_out(args))
    print(f"[2/2] hardware passes + RTL into {hw.out}", flush=True)
    hw.write()
    return 0


def cmd_sim(args) -> int:
    print(f"[1/3] load + lower to IR: {args.model}", flush=True)
    hw = _convert(args, out=_out(args))
    if not args.rtl_dir:
        print(f"[2/3] hardware passes + RTL into {hw.out}", flush=True)
        hw.write()
        print("[3/3] co-simulation with Verilator", flush=True)
        result = hw.cosim(n=args.n, seed=args.seed, mode=args.mode, waves=args.waves)
        return 1 if result.mismatches else 0
    from .flow.run import SimOptions, simulate
    from .outputs import output_dir
    from .sim.runner import load_manifest
    rtl_dir = Path(args.rtl_dir)
    if not rtl_dir.is_dir():
        raise HwgenError(f"--rtl-dir {rtl_dir} is not a folder")
    manifest = load_manifest(rtl_dir.parent / "manifest.json")
    out = Path(args.out) if args.out else output_dir(rtl_dir.parent, "the folder of --rtl-dir")
    print(f"[2/3] using the Verilog in {rtl_dir} as it is", flush=True)
    print("[3/3] co-simulation with Verilator", flush=True)
    result = simulate(hw.loaded, hw.graph, manifest, rtl_dir, out,
                      SimOptions(args.n, args.seed, args.mode, args.waves), log=_say)
    return 1 if result["mismatches"] else 0


def cmd_estimate(args) -> int:
    from .flow.run import EstimateOptions, check_estimate_options
    power = not args.no_power
    check_estimate_options(EstimateOptions(args.target, args.full, args.pnr, args.device,
                                           power, args.clock))
    print(f"[1/{4 if power else 3}] load + lower to IR: {args.model}", flush=True)
    _convert(args, out=_out(args)).estimate(args.target, args.pnr, power, args.full,
                                            args.device, args.clock, args.n, args.seed)
    return 0


def cmd_flow(args) -> int:
    """load -> IR -> reference check -> RTL -> synthesis -> place and route (in the
    background) | co-simulation -> power -> report, into build/<design>/."""
    print(f"[1/7] load + lower to IR: {args.model}", flush=True)
    report = _convert(args, auto_default=True, out=_out(args)).report(
        args.target, args.n, args.seed, args.clock, args.full, args.mode, args.waves,
        args.rate, args.grid_intensity, pnr_time_limit_s=args.pnr_time_limit)
    return 1 if report.failed else 0


def cmd_export(args) -> int:
    if (args.board is None) == (not args.asic):
        raise HwgenError("give either --board B or --asic")
    if args.asic:
        print(f"[1/3] load + lower to IR: {args.model}", flush=True)
        _convert(args, out=_out(args)).export(asic=True, clock_ns=args.clock_ns,
                                              top=args.asic_top, out=_out(args))
        return 0
    print(f"[0/4] load + lower to IR: {args.model}", flush=True)
    hw = _convert(args, auto_default=True, log=lambda s: print(
        ("      " if s.startswith("  ") else "") + s.strip(), flush=True))
    info = hw.export(board=args.board, top=args.top, vectors=args.vectors, baud=args.baud,
                     simulate=not args.no_sim, out=_out(args))
    out = Path(info["folder"])
    what = f"bitstream {out / info['bitstream']} (Fmax {info.get('fmax_mhz')} MHz, board " \
        f"clock {info['clock_mhz']} MHz)" if info["built"] else \
        f"{info['script']} (needs {', '.join(info['needs'])})"
    print(f"wrote {out}: {what}; see {out / 'README.md'}", flush=True)
    return 0


def cmd_hls(args) -> int:
    print(f"[1/3] load + lower to IR: {args.model}", flush=True)
    result = _convert(args).hls(args.backend, args.io, args.reuse, args.n, args.seed,
                                out=_out(args))
    return 1 if result["mismatches"] else 0


def _list(kind, name):
    """An argparse type: a comma-separated list of `kind` ("auto" allowed for reuse)."""
    def parse(text):
        out = []
        for item in text.split(","):
            item = item.strip()
            if name == "reuse" and item == "auto":
                out.append(item)
                continue
            try:
                out.append(kind(item))
            except ValueError:
                raise argparse.ArgumentTypeError(
                    f"{name} takes a comma-separated list of "
                    f"{'whole numbers' if kind is int else 'numbers'}"
                    + (" or auto" if name == "reuse" else "") + f", not {item!r}") from None
        return out
    parse.__name__ = f"{name} list"
    return parse


def cmd_sweep(args) -> int:
    from .sweep import sweep
    result = sweep(args.model, args.data, args.bits, args.sparsity, args.reuse, args.target,
                   args.mult, args.epochs, args.out, args.ray_address, args.min_accuracy,
                   args.rate, args.grid_intensity, args.n, args.seed, args.input_format,
                   log=_say)
    best = result.recommended
    if best is not None:
        print(f"recommended: {best['bits']} bits, sparsity {best['sparsity']:g}, reuse "
              f"{best['reuse']}: accuracy {best['accuracy_reference']:.4f}, "
              f"{best['energy_per_inference_nj']} nJ per inference", flush=True)
    return 0 if any(r["status"] == "ok" for r in result.rows) else 1


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
        if name in ("build", "sim"):
            p.add_argument("--target", choices=list(TARGETS), default="ecp5",
                           help="the device family the pipeline schedule is timed for "
                                "(default ecp5)")
        if name in ("estimate", "flow"):
            p.add_argument("--target", choices=list(TARGETS),
                           default="ecp5", help="synthesis target (default ecp5)")
            p.add_argument("--full", action="store_true", help="the default (slow) ABC9 "
                           "script instead of the fast one")
            p.add_argument("--clock", type=_MHZ, metavar="MHZ", help="run clock for the "
                           "power estimate (default: Fmax capped at 100 MHz when placed and "
                           "routed, else the target's board clock: ice40 12, ecp5 25, "
                           "xc7 100, asic 500)")
        if name == "flow":
            _carbon_args(p)
            p.add_argument("--pnr-time-limit", type=_number(float, 0), metavar="SECONDS",
                           default=FLOW_PNR_TIME_LIMIT_S,
                           help="stop place and route after this many seconds (default "
                                f"{FLOW_PNR_TIME_LIMIT_S:g}; 0: no limit); the report then "
                                "says the design was not routed in that time")
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
    p.add_argument("--vectors", type=_number(int, 1, 4096), default=None,
                   help="self-test vectors, at most 4096 (default 128; for a streaming "
                        "design, fewer if its image ROM would take over half the board's "
                        "block RAM)")
    p.add_argument("--no-sim", action="store_true",
                   help="skip the self-test's Verilator run (by default the self-test top "
                        "is simulated before the build and must print PASS)")
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
    p.add_argument("--io", choices=("parallel", "stream"), default="parallel",
                   help="hls4ml's io_parallel (default) or io_stream (convolutions through "
                        "line buffers, pixels on hls::stream)")
    p.add_argument("--reuse", type=_COUNT, default=1, metavar="R",
                   help="hls4ml's ReuseFactor for every layer (Resource strategy when > 1; "
                   "hls4ml may round it to a factor its dense layers allow); default 1")
    p.add_argument("--n", type=_VECTORS, default=10000, help="vectors (default 10000)")
    p.add_argument("--seed", type=_SEED, default=0)
    p.set_defaults(func=cmd_hls)
    p = sub.add_parser("sweep", help="a design-space sweep on Ray: bits x sparsity x reuse, "
                       "each point fine-tuned, scored and built; Pareto plots, carbon")
    p.add_argument("model", help="design name or full-model .h5/.keras file")
    p.add_argument("--data", help="DATA.npz with x_train, y_train, x_test, y_test (integer "
                   "class labels); default: a design's own data")
    p.add_argument("--bits", type=_list(int, "bits"), default=[4, 6, 8],
                   help="widths for every quantizer, e.g. 4,6,8 (default)")
    p.add_argument("--sparsity", type=_list(float, "sparsity"), default=[0.0, 0.5, 0.75, 0.9],
                   help="pruned shares of each kernel, e.g. 0,0.5,0.75,0.9 (default)")
    p.add_argument("--reuse", type=_list(int, "reuse"), default=[1],
                   help="reuse factors, e.g. 1,auto (default 1)")
    p.add_argument("--target", choices=list(TARGETS), default="ecp5")
    p.add_argument("--mult", choices=MULT_MODES, default="csd")
    p.add_argument("--epochs", type=_number(int, 0), default=2,
                   help="fine-tuning epochs per point (default 2)")
    p.add_argument("--min-accuracy", type=_number(float, 0, 1), default=None,
                   help="recommend the least energy per inference at this accuracy")
    _carbon_args(p)
    p.add_argument("--ray-address", default=None, help="an existing Ray cluster "
                   "(default: a local one on this machine)")
    p.add_argument("--n", type=_VECTORS, default=2000, help="co-simulation vectors per "
                   "point (default 2000)")
    p.add_argument("--seed", type=_SEED, default=0)
    p.add_argument("--input-format", metavar="FMT", help="input grid of a model without "
                   "input quantizer")
    p.add_argument("-o", "--out", help="output folder (default build/<design>/sweep)")
    p.set_defaults(func=cmd_sweep)
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
