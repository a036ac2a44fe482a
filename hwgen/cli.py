"""The `hwgen` command. The Makefile calls it; every sub-command is one function."""
from __future__ import annotations

import argparse
import json
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
    from .verify import verify_model
    extra = _design_data(loaded)
    result = verify_model(loaded, graph, args.n, args.seed, extra)
    print(result.summary())
    if result.first or not result.exact:
        print(result.details())
    return result


def _design_data(loaded):
    """The design's own test inputs (codes), if it ships some."""
    from .designs import design_dir
    import numpy as np
    d = design_dir(loaded.name) if loaded.source.startswith("designs/") else None
    path = d / "test_inputs.npy" if d else None
    return np.load(path) if path and path.exists() else None


def cmd_verify(args) -> int:
    loaded, graph = _compile(args)
    result = _verify(args, loaded, graph)
    return 1 if result.exact and result.mismatches else 0


def cmd_flow(args) -> int:
    """load -> IR -> reference check, writing every artifact under build/<design>/."""
    from .ir.text import dump, table
    from .passes.pipelines import DEFAULT
    steps = ["load + lower to IR + passes", "verify reference against QKeras"]
    t0 = time.monotonic()
    print(f"[1/{len(steps)}] {steps[0]}: {args.model}", flush=True)
    loaded, graph = _compile(args)
    graph = DEFAULT.run(graph)
    out = _out_dir(args, loaded.name)
    out.mkdir(parents=True, exist_ok=True)
    (out / "ir.txt").write_text(dump(graph))
    (out / "inspect.txt").write_text(table(graph) + "\n")
    print(f"      wrote {out / 'ir.txt'} and {out / 'inspect.txt'} "
          f"({time.monotonic() - t0:.1f} s)", flush=True)
    print(f"[2/{len(steps)}] {steps[1]} on {args.n} vectors", flush=True)
    result = _verify(args, loaded, graph)
    record = {"vectors": result.vectors, "exact": result.exact, "mismatches": result.mismatches,
              "first_mismatches": result.first, "max_abs_error": result.max_abs_error,
              "mean_abs_error": result.mean_abs_error, "argmax_agreement": result.argmax_agreement}
    (out / "verify.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    print(f"      wrote {out / 'verify.json'}", flush=True)
    return 1 if result.exact and result.mismatches else 0


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
            ("flow", cmd_flow, "load, lower and verify, writing artifacts to build/<design>")):
        p = sub.add_parser(name, help=help_text)
        _model_args(p)
        p.add_argument("--n", type=int, default=10000, help="number of vectors (default 10000)")
        p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
        if name == "flow":
            p.add_argument("-o", "--out", help="output folder (default build/<design>)")
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
