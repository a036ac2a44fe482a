"""`hwgen estimate`: synthesize a built design for a target and write
`DIR/synth/<target>/estimate.json` (per Keras layer and total resources, logic levels).

Place and route (Fmax), power and the rendered reports come with the rest of issue 4.
"""
from __future__ import annotations

import time
from pathlib import Path

from .yosys import synthesize, yosys_version


def estimate(out: Path, manifest: dict, target: str, full: bool = False, jobs: int = 2,
             log=print, stop=None) -> dict:
    """Resources of the design built in `out` (rtl/ and manifest.json) for `target`.
    `stop(total)`, given the summed resources of the modules synthesized so far (a lower
    bound of the whole: every count only grows), may end synthesis early (True); the result
    then lists the modules not synthesized under `unfinished`."""
    t0 = time.perf_counter()
    modules = [row["module"] for row in manifest["layers"] if row["module"]]
    module_stop = None if stop is None else (lambda done: stop(_total(list(done.values()))))
    per_module = synthesize(out / manifest["verilog"], modules, manifest["top"], target,
                            out / "synth" / target, full, jobs, log, module_stop)
    unfinished = [m for m in modules + [manifest["top"]] if m not in per_module]
    zero = {k: 0 for k in next(iter(per_module.values()))}
    layers = [{"layer": row["layer"], "module": row["module"],
               **per_module.get(row["module"], zero)} for row in manifest["layers"]]
    layers.append({"layer": "(top: I/O registers, argmax)", "module": manifest["top"],
                   **per_module.get(manifest["top"], zero)})
    result = {"design": manifest["design"], "target": target,
              "mapping": "full ABC9" if full else "fast ABC9 (&if)",
              "yosys": yosys_version(), "layers": layers, "total": _total(layers),
              "seconds": round(time.perf_counter() - t0, 1)}
    if unfinished:
        result["unfinished"] = unfinished
    return result


def _total(rows: list[dict]) -> dict:
    keys = [k for k in rows[0] if k not in ("layer", "module", "logic_levels")]
    total = {k: sum(r[k] for r in rows) for k in keys}
    # The top's own path runs into the layers' registered outputs: the deepest module
    # bounds the combinational depth of the whole design.
    total["logic_levels"] = max(r["logic_levels"] for r in rows)
    return total
