"""`make bench`: per design, model -> Verilog time, Verilog size, adders and multipliers,
latency, co-simulation throughput, and hls4ml's C-simulation `predict` throughput on the
same vectors; then per target (ice40, ecp5, xc7, asic): resources, Fmax (nextpnr, where the
design fits), power and energy per inference, seconds in synthesis and place and route,
and the cross-check of the per-layer totals against one whole-design Yosys run. Into
build/bench.json, with a report.json per design and target under build/bench/<design>/
reports/ (progress on stdout).

`--reuse auto` (the default, as `make hw`): a fully parallel row per design on every
target; where that does not fit ice40's UP5K or ecp5's LFE5U-85F (with room to route) it
is synthesized only, and the target gets a row at the smallest reuse factor that fits
(flow.build_fitting), so every design has a placed-and-routed Fmax on both. A CNN gets a
streaming row (kernels folded to the stream's rate, as `--reuse auto` streams it),
placed on every target, and a fully parallel row, synthesized only.

Throughput is vectors per second of the whole simulation step (simulator start included),
measured once the Verilator build is cached, the way a user re-running `hwgen sim` sees it.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["HWGEN_VERILATOR_CACHE"] = "0"   # verilator_build_s is a compile, not a copy
warnings.filterwarnings("ignore", category=UserWarning)   # Keras's serialize() notices
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

import hwgen  # noqa: E402
from hwgen.designs import design_names  # noqa: E402
from hwgen.estimate import report  # noqa: E402
from hwgen.estimate.activity import measure  # noqa: E402
from hwgen.estimate.power import estimate_power, memory_duty  # noqa: E402
from hwgen.estimate.yosys import TARGETS, synthesize_whole  # noqa: E402
from hwgen.flow import (build_fitting, build_rtl, design_data, fits_for_auto,  # noqa: E402
                        make_report, power_device, rate_matched_reuse,
                        synthesize_and_place)
from hwgen.options import HardwareOptions  # noqa: E402
from hwgen.sim import stimulus  # noqa: E402
from hwgen.sim.runner import cosim  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "models" / "hls4ml-example-models"
SHARED_TAGGER = SHARED / "qkeras_3layer.json"
# hls4ml's float CNNs, at hls4ml's default precision (ap_fixed<16,6>).
SHARED_CNNS = [SHARED / "KERAS_conv2d_model.json",
               SHARED / "jetTagger_Conv2D_Small_NoBatchNorm.json"]
FLOAT_PRECISION = "fixed<16,6>"


def streams(graph) -> bool:
    from hwgen.errors import UnsupportedError
    from hwgen.ir import stream
    try:
        stream.plan(graph)
        return True
    except UnsupportedError:
        return False


def bench_design(compiled, n: int, n_hls: int, out_root: Path, targets: list[str],
                 whole: bool, reuse: int = 1, folded: dict | None = None,
                 io: str = "parallel", pnr_time_limit_s: float | None = None) -> dict:
    """A row: RTL, co-simulation, hls4ml, then each target, for `compiled` = (loaded,
    graph) of hwgen.compile_model. `folded` maps the targets that get a folded row (auto)
    to its reuse factor: synthesized here, not placed. `io` "stream": the streaming form
    (and hls4ml's io_stream)."""
    loaded, graph = compiled
    out = out_root / (loaded.name + (f"-reuse{reuse}" if reuse > 1 else "")
                      + ("-stream" if io == "stream" else ""))
    row: dict = {"design": loaded.name, "source": loaded.source, "reuse": reuse, "io": io}
    hw = HardwareOptions(reuse=reuse, io=io)
    if io == "stream" and reuse == 1:      # as `--reuse auto` streams it: kernels folded
        hw = HardwareOptions(io=io, layer_reuse=rate_matched_reuse(graph, hw))  # to its rate
        row["layer_reuse"] = dict(sorted(hw.layer_reuse.items()))
    t = time.perf_counter()
    lowered, rtl = build_rtl(graph, out, hw)
    row["model_to_verilog_s"] = round(time.perf_counter() - t, 2)
    row["verilog_bytes"] = rtl.verilog.stat().st_size
    row["adders"] = sum(r.get("adders", 0) for r in rtl.data["layers"])
    row["multipliers"] = sum(r.get("multipliers", 0) for r in rtl.data["layers"])
    row["latency_cycles"] = rtl.data["latency"]
    row["ii_cycles"] = rtl.data["ii"]
    extra = design_data(loaded)
    quiet = lambda s: None  # noqa: E731
    t = time.perf_counter()
    cosim(graph, rtl.data, out / "rtl", out / "sim", 1000, 0, extra, log=quiet)  # build
    row["verilator_build_s"] = round(time.perf_counter() - t, 1)
    res = cosim(graph, rtl.data, out / "rtl", out / "sim", n, 0, extra, log=quiet)
    row["cosim"] = {"vectors": n, "mismatches": res["mismatches"],
                    "seconds": res["seconds"]["simulation"],
                    "vectors_per_second": res["vectors_per_second"],
                    "processes": res["processes"]}
    print(f"  {loaded.name}: RTL in {row['model_to_verilog_s']} s, "
          f"{res['vectors_per_second']} vectors/s co-simulated, "
          f"{res['mismatches']} mismatches", flush=True)
    if n_hls:
        codes, _ = stimulus.all_codes(rtl.data, n_hls, 0, extra)
        row["hls4ml"] = hls4ml_predict(loaded, graph, codes, out / "hls4ml", io)
    t = time.perf_counter()
    activity = measure(graph, rtl.data, out / "rtl", out / "power", 10000, 0, extra, log=quiet)
    row["toggle_count_s"] = round(time.perf_counter() - t, 1)
    row["targets"] = {}
    for target in targets:
        row["targets"][target] = bench_target(loaded.name, lowered, rtl.data, out, target,
                                              activity, res, whole,
                                              (folded or {}).get(target), pnr_time_limit_s)
    return row


def bench_target(design, lowered, manifest, out, target, activity, sim, whole,
                 folded_at: int | None = None, pnr_time_limit_s: float | None = None) -> dict:
    """Resources, Fmax, power and times for one target; its report.json. `folded_at`:
    not placed here, the design is placed at that reuse factor in another row."""
    quiet = lambda s: None  # noqa: E731
    resources, placed, seconds = synthesize_and_place(out, manifest, target, log=quiet,
                                                      pnr=folded_at is None,
                                                      pnr_time_limit_s=pnr_time_limit_s)
    if folded_at == 0:
        placed = {"fits": False, "fmax_mhz": None, "message": "synthesized only: the "
                  "streaming row of this CNN is the one placed and routed"}
    elif folded_at is not None:
        placed = {"fits": False, "fmax_mhz": None, "message": "fully parallel it does not fit "
                  f"(or leaves no room to route): placed in the row of reuse {folded_at}"}
    fmax = placed.get("fmax_mhz") if placed else None
    power = estimate_power(resources, activity, manifest["latency"], target,
                           min(fmax, 100.0) if fmax else None,
                           power_device(target, placed, resources), manifest["ii"],
                           memory_duty(manifest))
    record = make_report(design, lowered, manifest, target, resources, placed, power, None,
                         sim, seconds)
    report.write(out / "reports" / target, record)
    row = {"total": resources["total"], "fmax_mhz": fmax,
           "device": placed.get("device") if placed and placed.get("fits") else None,
           "not_placed": placed.get("message") if placed and not placed.get("fits") else None,
           "clock_mhz": power["clock_mhz"], "busy_mw": power["busy_mw"],
           "idle_mw": power["idle_mw"],
           "energy_per_inference_nj": power["energy_per_inference_nj"],
           "synthesis_s": seconds["synthesis"],
           "place_and_route_s": seconds.get("place_and_route")}
    if whole:
        t = time.perf_counter()
        check = synthesize_whole(out / manifest["verilog"], manifest["top"], target,
                                 out / "synth" / target / "whole")
        row["whole_design"] = {"total": check, "seconds": round(time.perf_counter() - t, 1)}
    e = power["energy_per_inference_nj"]
    print(f"    {target}: " + ", ".join(f"{k} {v}" for k, v in resources["total"].items())
          + (f"; Fmax {fmax} MHz" if fmax else "") + f"; {e['busy']} nJ/inference at "
          f"{power['clock_mhz']} MHz; synthesis {seconds['synthesis']} s", flush=True)
    return row


def hls4ml_predict(loaded, graph, codes: np.ndarray, out: Path, io: str = "parallel") -> dict:
    """hls4ml (Vivado back end, io_parallel or io_stream) C simulation `predict` on the
    same inputs."""
    try:
        import hls4ml
        model = _hls4ml_safe_names(loaded.model)
        config = hls4ml.utils.config_from_keras_model(model, granularity="name",
                                                      backend="Vivado")
        hm = hls4ml.converters.convert_from_keras_model(
            model, hls_config=config, output_dir=str(out), backend="Vivado",
            io_type=f"io_{io}")
        t = time.perf_counter()
        hm.compile()
        compile_s = time.perf_counter() - t
        x = np.ldexp(codes.astype(np.float64), -graph.input.type.frac).astype(np.float32)
        x = x.reshape((len(codes),) + tuple(graph.input.shape))
        t = time.perf_counter()
        hm.predict(x)
        s = time.perf_counter() - t
        print(f"    hls4ml predict: {len(codes) / s:.0f} vectors/s", flush=True)
        return {"vectors": len(codes), "compile_s": round(compile_s, 1),
                "seconds": round(s, 3), "vectors_per_second": round(len(codes) / s)}
    except Exception as exc:      # report, do not hide: the row says why it is missing
        return {"error": f"{type(exc).__name__}: {exc}"[:300]}


def _hls4ml_safe_names(model):
    """hls4ml reserves the layer name 'input' (our designs use it): rename it in a copy."""
    text = model.to_json()
    if '"input"' not in text:
        return model
    import tensorflow as tf
    from hwgen.frontends.loader import custom_objects
    text = text.replace('"input"', '"input_features"')
    copy = tf.keras.models.model_from_json(text, custom_objects=custom_objects())
    copy.set_weights(model.get_weights())
    return copy


def auto_plan(compiled, targets: list[str], out_root: Path) -> dict[str, int]:
    """Target -> the reuse factor `make hw` would choose: the smallest that fits for ice40
    and ecp5 (flow.build_fitting); xc7 and asic stay fully parallel."""
    loaded, graph = compiled
    plan = {}
    for target in targets:
        plan[target] = 1
        if target in ("ecp5", "ice40"):
            _, rtl, _ = build_fitting(
                graph, out_root / f"{loaded.name}-auto-{target}", HardwareOptions(), target,
                lambda m, total, t=target: fits_for_auto(t, m, total), log=lambda s: None)
            plan[target] = rtl.data["options"]["reuse"]
            print(f"  {loaded.name}: {target} takes reuse {plan[target]}", flush=True)
    return plan


def write_report(path: Path, rows: list[dict], complete: bool) -> None:
    report = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
              "complete": complete, "designs": rows}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="build/bench.json")
    ap.add_argument("--n", type=int, default=1000000, help="co-simulation vectors")
    ap.add_argument("--n-hls", type=int, default=20000, help="hls4ml predict vectors")
    ap.add_argument("--designs", nargs="*", help="designs or model files (default: zoo + "
                    "the real jet tagger when ../shared is present)")
    ap.add_argument("--targets", nargs="*", default=sorted(TARGETS),
                    help="synthesis targets (default: all four)")
    ap.add_argument("--no-whole", action="store_true", help="skip the whole-design "
                    "cross-check synthesis")
    ap.add_argument("--no-shared", action="store_true", help="leave out the models of "
                    "../shared/models")
    ap.add_argument("--reuse", nargs="*", default=["auto"], help="reuse factors, each a row "
                    "per design, e.g. --reuse 1 16 128; auto (default): fully parallel, and "
                    "for ice40/ecp5 the smallest factor that fits where that does not")
    ap.add_argument("--pnr-time-limit", type=float, metavar="SECONDS",
                    help="stop each nextpnr run after SECONDS; the row then says so and has "
                    "no Fmax (default: no limit)")
    args = ap.parse_args()
    shared = [] if args.no_shared else \
        [str(p) for p in [SHARED_TAGGER] + SHARED_CNNS if p.exists()]
    sources = args.designs or design_names() + shared
    out_root = Path(args.out).parent / "bench"
    rows = []
    for item in args.reuse:
        if item != "auto" and not (item.isdigit() and int(item) >= 1):
            ap.error(f"--reuse takes whole numbers >= 1 or auto, not {item!r}")
    from hwgen.options import FrontendOptions
    float_options = FrontendOptions.from_strings(None, [FLOAT_PRECISION])
    compiled = {src: hwgen.compile_model(src, float_options if Path(src).name in
                                         {p.name for p in SHARED_CNNS} else None)
                for src in sources}
    runs = []                     # (source, reuse, targets, {target: folded reuse}, io)
    for src in sources:
        if streams(compiled[src][1]):      # a CNN: a streaming row (a pixel per clock)
            runs.append((src, 1, args.targets, {}, "stream"))
            if args.reuse == ["auto"]:     # and its full-rate form, synthesized only
                runs.append((src, 1, args.targets, {t: 0 for t in args.targets}, "parallel"))
                continue
        for item in args.reuse:
            if item != "auto":
                runs.append((src, int(item), args.targets, {}, "parallel"))
                continue
            # A fully parallel row on every target (synthesis only where it does not fit),
            # then a row per folded factor with the targets placed at it.
            print(f"[plan] {src}: reuse auto per target", flush=True)
            plan = auto_plan(compiled[src], args.targets, out_root)
            folded = {t: r for t, r in plan.items() if r > 1}
            runs.append((src, 1, args.targets, folded, "parallel"))
            for reuse in sorted(set(folded.values())):
                runs.append((src, reuse, [t for t in args.targets if plan[t] == reuse], {},
                             "parallel"))
    benched = set()     # hls4ml predict does not depend on reuse: once per design and io
    for i, (src, reuse, targets, folded, io) in enumerate(runs, 1):
        print(f"[{i}/{len(runs)}] {src}, reuse {reuse}, io {io}: {', '.join(targets)}",
              flush=True)
        rows.append(bench_design(compiled[src], args.n,
                                 0 if (src, io) in benched else args.n_hls,
                                 out_root, targets, not args.no_whole, reuse, folded, io,
                                 args.pnr_time_limit))
        benched.add((src, io))
        write_report(Path(args.out), rows, complete=i == len(runs))  # a stopped run keeps rows
    print(f"wrote {args.out}")
    return 1 if any(r["cosim"]["mismatches"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
