"""The `hwgen` command. The Makefile calls it; every sub-command is one function."""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from .errors import HwgenError


def _quiet_tensorflow() -> None:
    import warnings
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    # Keras warns that QKeras quantizers are not Constraints when it serialises them.
    warnings.filterwarnings("ignore", category=UserWarning, module="keras")


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


def _out_dir(args, name: str) -> Path:
    return Path(args.out) if getattr(args, "out", None) else Path("build") / name


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


def _hw_options(args):
    from .options import HardwareOptions
    return HardwareOptions(args.mult, args.pipeline)


def _build(args, loaded, graph, out: Path):
    from .flow import build_rtl
    t0 = time.monotonic()
    lowered, rtl = build_rtl(graph, out, _hw_options(args))
    m = rtl.data
    adders = sum(r.get("adders", 0) for r in m["layers"])
    mults = sum(r.get("multipliers", 0) for r in m["layers"])
    print(f"      wrote {rtl.verilog} ({rtl.verilog.stat().st_size // 1024} KiB) and "
          f"{rtl.manifest}: {adders} adders, {mults} multipliers, latency {m['latency']} "
          f"cycles, II 1 ({time.monotonic() - t0:.1f} s)", flush=True)
    return lowered, rtl


def cmd_build(args) -> int:
    print(f"[1/2] load + lower to IR: {args.model}", flush=True)
    loaded, graph = _compile(args)
    out = _out_dir(args, loaded.name)
    print(f"[2/2] hardware passes + RTL into {out}", flush=True)
    _build(args, loaded, graph, out)
    return 0


def _simulate(args, loaded, graph, manifest, rtl_dir: Path, out: Path) -> dict:
    from .flow import design_data
    from .sim.runner import cosim
    result = cosim(graph, manifest, rtl_dir, out / "sim", args.n, args.seed,
                   design_data(loaded), args.mode, args.waves,
                   log=lambda s: print("      " + s.strip(), flush=True))
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
        out = Path(args.out) if args.out else rtl_dir.parent
        print(f"[2/3] using the Verilog in {rtl_dir} as it is", flush=True)
    else:
        out = _out_dir(args, loaded.name)
        print(f"[2/3] hardware passes + RTL into {out}", flush=True)
        _, rtl = _build(args, loaded, graph, out)
        manifest, rtl_dir = rtl.data, out / "rtl"
    print("[3/3] co-simulation with Verilator", flush=True)
    result = _simulate(args, loaded, graph, manifest, rtl_dir, out)
    return 1 if result["mismatches"] else 0


def cmd_estimate(args) -> int:
    from .estimate.resources import estimate
    from .flow import save_json
    print(f"[1/3] load + lower to IR: {args.model}", flush=True)
    loaded, graph = _compile(args)
    out = _out_dir(args, loaded.name)
    print(f"[2/3] hardware passes + RTL into {out}", flush=True)
    _, rtl = _build(args, loaded, graph, out)
    print(f"[3/3] synthesis for {args.target} (layers in parallel, cached)", flush=True)
    result = estimate(out, rtl.data, args.target, args.full,
                      log=lambda s: print("      " + s.strip(), flush=True))
    if args.pnr:
        from .estimate.nextpnr import pick_device, place_and_route
        if args.target != "ecp5":
            raise HwgenError("--pnr runs nextpnr for --target ecp5 only (so far)")
        t = result["total"]
        device = pick_device(t["LUT4"] + 2 * t["CCU2C"], t["FF"], t["DSP"], args.device)
        print(f"      place and route on LFE5U-{device.upper()} (out of context)", flush=True)
        result["pnr"] = place_and_route(out / rtl.data["verilog"], rtl.data["top"],
                                        out / "synth" / "ecp5" / "pnr", device)
        fmax = result["pnr"]["fmax_mhz"]
        result["pnr"]["latency_ns"] = round(rtl.data["latency"] * 1000 / fmax, 1) \
            if fmax else None
        print(f"      Fmax {fmax} MHz, latency {result['pnr']['latency_ns']} ns", flush=True)
    path = out / "synth" / args.target / "estimate.json"
    save_json(path, result)
    t = result["total"]
    print("      " + ", ".join(f"{k} {v}" for k, v in t.items()) + f" (wrote {path})")
    return 0


def cmd_flow(args) -> int:
    """load -> IR -> reference check -> RTL -> co-simulation -> report, into build/<design>/."""
    from .flow import save_json, write_report
    from .ir.text import dump, table
    from .passes.pipelines import DEFAULT
    steps = 5
    t0 = time.monotonic()
    print(f"[1/{steps}] load + lower to IR: {args.model}", flush=True)
    loaded, graph = _compile(args)
    ranged = DEFAULT.run(graph)
    out = _out_dir(args, loaded.name)
    out.mkdir(parents=True, exist_ok=True)
    (out / "ir.txt").write_text(dump(ranged))
    (out / "inspect.txt").write_text(table(ranged) + "\n")
    print(f"      wrote {out / 'ir.txt'} and {out / 'inspect.txt'} "
          f"({time.monotonic() - t0:.1f} s)", flush=True)
    print(f"[2/{steps}] verify reference against QKeras on {args.n} vectors", flush=True)
    result = _verify(args, loaded, graph)
    verify = {"vectors": result.vectors, "exact": result.exact, "mismatches": result.mismatches,
              "first_mismatches": result.first, "max_abs_error": result.max_abs_error,
              "mean_abs_error": result.mean_abs_error,
              "argmax_agreement": result.argmax_agreement}
    save_json(out / "verify.json", verify)
    print(f"[3/{steps}] hardware passes + RTL", flush=True)
    lowered, rtl = _build(args, loaded, graph, out)
    print(f"[4/{steps}] co-simulation with Verilator on {args.n} vectors", flush=True)
    sim = _simulate(args, loaded, graph, rtl.data, out / "rtl", out)
    print(f"[5/{steps}] report", flush=True)
    path = write_report(out, lowered, rtl.data, verify, sim)
    print(f"      wrote {path} ({time.monotonic() - t0:.1f} s in all)", flush=True)
    bad = (result.exact and result.mismatches) or sim["mismatches"]
    return 1 if bad else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hwgen", description="Compile quantized QKeras "
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
        if name not in ("build", "estimate"):
            p.add_argument("--n", type=int, default=10000, help="number of vectors "
                           "(default 10000)")
            p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
        if name != "verify-model":
            p.add_argument("-o", "--out", help="output folder (default build/<design>)")
            p.add_argument("--mult", choices=["csd", "dsp"], default="csd",
                           help="constant multiplication: shift-add on canonical signed "
                                "digits (default) or one hardware multiplier per weight")
            p.add_argument("--pipeline", type=int, default=3, metavar="N",
                           help="a pipeline register every N adder/activation levels "
                                "(default 3; 0: input and output registers only)")
        if name in ("sim", "flow"):
            p.add_argument("--mode", choices=["batch", "stream"], default="batch",
                           help="batch: vectors made and outputs printed in hardware, "
                                "fast (default); stream: the layered cocotb bench, "
                                "cycle by cycle")
            p.add_argument("--waves", action="store_true", help="write a waveform: "
                           "sim/shard0/dump.fst (dump.vcd without liblz4-dev)")
        if name == "estimate":
            p.add_argument("--target", choices=["ice40", "ecp5", "xc7", "asic"],
                           default="ecp5", help="synthesis target (default ecp5)")
            p.add_argument("--full", action="store_true", help="the default (slow) ABC9 "
                           "script instead of the fast one")
            p.add_argument("--pnr", action="store_true", help="also place and route with "
                           "nextpnr (ecp5, out of context): Fmax and utilisation")
            p.add_argument("--device", choices=["25k", "45k", "85k"], help="ECP5 device "
                           "for --pnr (default: the smallest that fits)")
        if name == "sim":
            p.add_argument("--rtl-dir", help="simulate the Verilog in this folder as it is "
                           "(manifest.json beside it)")
        p.set_defaults(func=func)
    return parser


def main(argv=None) -> int:
    _quiet_tensorflow()
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "n", 1) is not None and getattr(args, "n", 1) < 1:
        parser.error("--n must be at least 1")
    try:
        return args.func(args)
    except HwgenError as exc:
        if args.debug:
            raise
        print(f"hwgen: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
