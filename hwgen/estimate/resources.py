"""`hwgen estimate`: synthesize a built design for a target and write
`DIR/synth/<target>/estimate.json` (per Keras layer and total resources, logic levels).

Place and route (Fmax), power and the rendered reports come with the rest of issue 4.
"""
from __future__ import annotations

import time
from pathlib import Path

from .yosys import synthesize, yosys_version


def estimate(out: Path, manifest: dict, target: str, full: bool = False, jobs: int = 2,
             log=print) -> dict:
    """Resources of the design built in `out` (rtl/ and manifest.json) for `target`."""
    t0 = time.perf_counter()
    modules = [row["module"] for row in manifest["layers"] if row["module"]]
    per_module = synthesize(out / manifest["verilog"], modules, manifest["top"], target,
                            out / "synth" / target, full, jobs, log)
    zero = {k: 0 for k in per_module[manifest["top"]]}
    layers = [{"layer": row["layer"], "module": row["module"],
               **per_module.get(row["module"], zero)} for row in manifest["layers"]]
    layers.append({"layer": "(top: I/O registers, argmax)", "module": manifest["top"],
                   **per_module[manifest["top"]]})
    keys = [k for k in layers[0] if k not in ("layer", "module", "logic_levels")]
    total = {k: sum(r[k] for r in layers) for k in keys}
    # The top's own path runs into the layers' registered outputs: the deepest module
    # bounds the combinational depth of the whole design.
    total["logic_levels"] = max(r["logic_levels"] for r in layers)
    return {"design": manifest["design"], "target": target,
            "mapping": "full ABC9" if full else "fast ABC9 (&if)",
            "yosys": yosys_version(), "layers": layers, "total": total,
            "seconds": round(time.perf_counter() - t0, 1)}
