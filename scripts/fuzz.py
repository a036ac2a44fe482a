"""Differential fuzzing: random QKeras models through the three equalities.

    make fuzz N=200 SEED=0 [VECTORS=300] [BRANCHES=1] [CNN=1] [HLS=1]

Model SEED+i comes from `tests/model_factory.random_model` (every supported layer and
quantizer, random shapes and pruning), or with `--branches` (BRANCHES=1) from
`random_branchy_model` (functional models with every merge layer, skip connections and
two heads), or with `--cnn` (CNN=1) from `tests/conv_factory.random_conv_model` (1-D and
2-D CNNs: every convolution, pooling and spatial layer with its options; their float
layers at fixed<8,2>); its hardware options (mult, pipeline, reuse, and for a CNN fully
parallel or streamed) are drawn from the same seed. Each model is checked: reference ==
QKeras (the float64 twin), reference == the untouched model's float32 predict (where
float32 is exact), and, with RTL=1 (the default), RTL == reference in Verilator on every
output bit; with `--hls` (HLS=1) also hls4ml's C simulation == reference, through
`hwgen hls`'s path (a model hls4ml cannot convert or compute is refused by name, and
recorded as such; anything else it raises is a failure). A failing seed is printed with
the command that replays it; `build/fuzz/summary.json` holds every result.
Exit status 1 when any model mismatched or failed.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
import traceback
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MULTS = ("csd", "dsp")
REUSES = (1, 1, 2, 3, 4, 8, 16)


CNN_PRECISION = "fixed<8,2>"      # the float layers of a random CNN (DepthwiseConv1D)


def options(seed: int, cnn: bool = False) -> dict:
    """The hardware options fuzzed with model `seed` (a CNN also draws its io: fully
    parallel or streamed)."""
    rng = np.random.default_rng([seed, 0xF022])
    opts = {"mult": MULTS[int(rng.integers(0, 2))], "pipeline": int(rng.integers(0, 5)),
            "reuse": REUSES[int(rng.integers(0, len(REUSES)))]}
    if cnn:
        opts["io"] = ("parallel", "stream")[int(rng.integers(0, 2))]
    return opts


def check(seed: int, vectors: int, rtl: bool, work: Path, branches: bool = False,
          cnn: bool = False, hls: bool = False) -> dict:
    """Every check on model `seed`; a record with the mismatch counts."""
    from hwgen.errors import HwgenError, UnsupportedError
    from hwgen.flow import build_rtl
    from hwgen.frontends.loader import load
    from hwgen.frontends.qkeras import to_ir
    from hwgen.options import FrontendOptions, HardwareOptions
    from hwgen.sim.runner import cosim
    from hwgen.sim.vectors import input_codes
    from hwgen.verify import untouched_mismatches, verify_model
    from tests.conv_factory import random_conv_model
    from tests.model_factory import random_branchy_model, random_model
    factory = random_conv_model if cnn else random_branchy_model if branches else random_model
    model, in_fmt, desc = factory(seed)
    opts = options(seed, cnn)
    record = {"seed": seed, "model": desc, "input_format": in_fmt, **opts}
    loaded = load(model)
    graph = to_ir(loaded, FrontendOptions.from_strings(in_fmt, [CNN_PRECISION] if cnn
                                                       else ()))
    twin = verify_model(loaded, graph, vectors, seed)
    record["twin_mismatches"] = twin.mismatches
    codes = input_codes(graph.input.type, graph.input.shape, vectors, seed)
    bad = untouched_mismatches(loaded, graph, codes)
    record["model_mismatches"] = None if bad is None else len(bad)
    if rtl:
        out = work / f"seed{seed}"
        # Every layer named, so that it folds however small: the lanes are what the
        # reuse factor fuzzes (unnamed, FoldLayers keeps layers cheaper at full rate).
        named = {n.layer: opts["reuse"] for n in graph.nodes if n.op in ("dense", "conv")}
        hw = HardwareOptions(**opts, layer_reuse=named if opts["reuse"] > 1 else {})
        try:
            _, built = build_rtl(graph, out, hw)
        except UnsupportedError as exc:
            if hw.io != "stream":
                raise
            # A CNN that cannot stream (its first layer reads the whole input) is refused
            # with the reason; the fuzzer then checks it fully parallel.
            record.update(io="parallel", stream_refused=str(exc))
            _, built = build_rtl(graph, out, dataclasses.replace(hw, io="parallel"))
        sim = cosim(graph, built.data, out / "rtl", out / "sim", vectors, seed,
                    log=lambda s: None)
        record.update(rtl_mismatches=sim["mismatches"], ii=built.data["ii"],
                      latency=built.data["latency"])
    if hls:
        from hwgen.flow.run import hls as hls_check
        try:
            r = hls_check(loaded, graph, work / f"seed{seed}" / "hls4ml", "Vitis", 1, vectors,
                          seed, step=lambda s: None, log=lambda s: None,
                          io=opts.get("io", "parallel"))
            record.update(hls_mismatches=r["mismatches"], hls_compared=r["compared_layer"])
        except HwgenError as exc:
            record["hls_refused"] = str(exc)
    record["ok"] = not (twin.mismatches or bad or record.get("rtl_mismatches")
                        or record.get("hls_mismatches"))
    return record


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20, help="models (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="first model seed (default 0)")
    parser.add_argument("--vectors", type=int, default=300, help="vectors per model")
    parser.add_argument("--no-rtl", action="store_true", help="skip the Verilator check")
    parser.add_argument("--branches", action="store_true",
                        help="functional models with merges, skips and two heads")
    parser.add_argument("--cnn", action="store_true",
                        help="1-D and 2-D CNNs, fully parallel or streamed")
    parser.add_argument("--hls", action="store_true",
                        help="also hls4ml's C simulation against the reference")
    parser.add_argument("-o", "--out", default=str(ROOT / "build" / "fuzz"))
    args = parser.parse_args(argv)
    import os
    import warnings
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # Each model is a new Verilator build simulating a few hundred vectors: its C++ at -O0
    # compiles in a third less time and simulates them as fast (as in the tests).
    os.environ.setdefault("HWGEN_VERILATOR_OPT", "-O0")
    # Keras warns that QKeras quantizers are not Constraints each time it serialises one.
    warnings.filterwarnings("ignore", category=UserWarning)
    work = Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    records, t0 = [], time.monotonic()
    for i in range(args.n):
        seed = args.seed + i
        try:
            rec = check(seed, args.vectors, not args.no_rtl, work, args.branches, args.cnn,
                        args.hls)
        except Exception as exc:       # a crash is a finding too: keep going, report it
            rec = {"seed": seed, "ok": False, "error": f"{type(exc).__name__}: {exc}",
                   "traceback": traceback.format_exc()}
        records.append(rec)
        what = "ok" if rec["ok"] else "FAIL"
        counts = ", ".join(f"{k.split('_')[0]} {rec[k]}" for k in
                           ("twin_mismatches", "model_mismatches", "rtl_mismatches",
                            "hls_mismatches") if rec.get(k) is not None)
        if rec.get("hls_refused"):
            counts += f"; hls4ml refused: {rec['hls_refused'][:100]}"
        print(f"[{i + 1}/{args.n}] seed {seed}: {what} ({counts or rec.get('error')}; "
              f"{rec.get('mult')} pipeline {rec.get('pipeline')} reuse {rec.get('reuse')}"
              f"{' ' + rec['io'] if rec.get('io') else ''}; "
              f"{time.monotonic() - t0:.0f} s)", flush=True)
        if not rec["ok"]:
            print(f"    replay: make fuzz N=1 SEED={seed}"
                  + (" BRANCHES=1" if args.branches else "")
                  + (" CNN=1" if args.cnn else "") + (" HLS=1" if args.hls else ""),
                  flush=True)
    failed = [r["seed"] for r in records if not r["ok"]]
    summary = {"models": len(records), "vectors_per_model": args.vectors,
               "rtl": not args.no_rtl, "branches": args.branches, "cnn": args.cnn,
               "hls": args.hls,
               "failed_seeds": failed,
               "compared_with_untouched_model": sum(r.get("model_mismatches") is not None
                                                    for r in records),
               "seconds": round(time.monotonic() - t0, 1), "records": records}
    (work / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(f"{len(records)} models, {len(failed)} failed"
          + (f" (seeds {', '.join(map(str, failed))})" if failed else "")
          + f"; {work / 'summary.json'}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
