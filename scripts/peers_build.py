"""Build one model with da4ml 0.6.0 and alkaid 0.8.2 (run in `.venv-peers/`, numpy 2).

Called by `scripts/bench_peers.py` with a spec that hwgen exported from its IR: the input's
format, then per layer a dense (float weights and bias, exactly the model's codes scaled),
a quantizer (k, i, f, rounding TRN or RND, overflow) or a relu. For each peer: trace the
network, check its outputs on the spec's test inputs against hwgen's reference (exact
equality), write its Verilog with the spec's latency cutoff, and report the files, the
pipeline latency and the seconds from the weights to Verilog.

    .venv-peers/bin/python scripts/peers_build.py SPEC.json OUT_DIR
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np


def _network(x, layers):
    for layer in layers:
        kind = layer["kind"]
        if kind == "dense":
            x = x @ np.array(layer["weights"], dtype=np.float64)
            if layer.get("bias") is not None:
                x = x + np.array(layer["bias"], dtype=np.float64)
        elif kind == "quantize":
            x = x.quantize(layer["k"], layer["i"], layer["f"],
                           overflow_mode=layer["overflow"], round_mode=layer["rounding"])
        elif kind == "relu":
            x = x.relu()
        else:
            raise ValueError(f"unsupported layer kind {kind!r}")
    return x


def build(peer: str, spec: dict, out: Path) -> dict:
    if peer == "da4ml":
        from da4ml.codegen import RTLModel
        from da4ml.trace import FixedVariableArrayInput as Input
        from da4ml.trace import comb_trace as trace
    else:
        from alkaid.codegen import RTLModel
        from alkaid.trace import FVArrayInput as Input
        from alkaid.trace import trace
    k, i, f = spec["input"]
    start = time.perf_counter()
    inp = Input((spec["n_in"],))
    logic = trace(inp, _network(inp.quantize(k, i, f), spec["layers"]))
    traced = time.perf_counter() - start
    if peer == "da4ml":
        model = RTLModel(logic, "peer", out, latency_cutoff=spec["latency_cutoff"],
                         print_latency=False)
    else:
        model = RTLModel(logic, out, "peer", latency_cutoff=spec["latency_cutoff"],
                         print_latency=False)
    model.write()
    seconds = time.perf_counter() - start
    x = np.array(spec["test_inputs"], dtype=np.float64)
    got = np.asarray(logic.predict(x), dtype=np.float64).reshape(len(x), -1)
    want = np.array(spec["test_outputs"], dtype=np.float64)
    meta = json.loads((out / "metadata.json").read_text())
    sources = sorted(str(p.relative_to(out)) for p in (out / "src").rglob("*.v"))
    return {"peer": peer, "seconds": round(seconds, 3), "trace_seconds": round(traced, 3),
            "mismatches": int((got != want).any(axis=1).sum()), "vectors": len(x),
            "stages": int(meta.get("latency", 0)), "sources": sources, "top": "peer",
            "metadata": meta}


def main(argv):
    spec = json.loads(Path(argv[1]).read_text())
    out = Path(argv[2])
    results = {}
    for peer in spec.get("peers", ["da4ml", "alkaid"]):
        try:
            results[peer] = build(peer, spec, out / peer)
        except Exception as e:        # a peer that cannot build this model is a row, not a stop
            results[peer] = {"peer": peer, "error": f"{type(e).__name__}: {e}"}
    print(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv)
