"""`report.json` (schema below), `report.md` and the PNG plots of a design's build folder.

`report.json` is the record; `report.md` and the plots are rendered from it alone, so
`hwgen report DIR` can render them again. Everything in it is a function of the model and
the options except `seconds` (wall time per step), which is why `report.md` leaves the
seconds out: the same design gives byte-identical `report.md` and plots.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import HwgenError
from ..outputs import save_json, write_text

SCHEMA_ID = "hwgen-report/1"

_NUM = {"type": "number"}
_NUM_OR_NULL = {"type": ["number", "null"]}
_COUNTS = {"type": "object", "additionalProperties": {"type": "number"}}
_CHECK = {"type": ["object", "null"], "required": ["vectors", "mismatches"],
          "properties": {"vectors": {"type": "integer", "minimum": 1},
                         "mismatches": {"type": "integer", "minimum": 0}}}

REPORT_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "hwgen report.json",
    "type": "object",
    "required": ["schema", "design", "options", "target", "device", "hardware", "latency",
                 "fmax_mhz", "resources", "power", "checks", "tools", "seconds"],
    "properties": {
        "schema": {"const": SCHEMA_ID},
        "design": {"type": "string"},
        "options": {"type": "object", "required": ["mult", "pipeline"]},
        "target": {"enum": ["ice40", "ecp5", "xc7", "asic"]},
        "device": {"type": ["string", "null"]},
        "hardware": {"type": "object", "required": ["top", "verilog", "ii", "input", "output",
                                                    "layers"],
                     "properties": {"layers": {"type": "array", "items": {
                         "type": "object", "required": ["layer", "op", "in", "out"]}}}},
        "latency": {"type": "object", "required": ["cycles", "ns"],
                    "properties": {"cycles": {"type": "integer", "minimum": 1},
                                   "ns": _NUM_OR_NULL}},
        "fmax_mhz": _NUM_OR_NULL,
        "throughput_per_s": _NUM_OR_NULL,
        "resources": {"type": "object", "required": ["mapping", "layers", "total"],
                      "properties": {
                          "layers": {"type": "array", "items": {
                              "type": "object", "required": ["layer", "module"]}},
                          "total": _COUNTS}},
        "pnr": {"type": ["object", "null"]},
        "power": {"type": ["object", "null"], "required": [
            "estimate", "method", "clock_mhz", "static_mw", "clock_mw", "dynamic_busy_mw",
            "busy_mw", "idle_mw", "energy_per_inference_nj", "layers", "model"],
            "properties": {"clock_mhz": _NUM, "busy_mw": _NUM, "idle_mw": _NUM,
                           "energy_per_inference_nj": {
                               "type": "object", "required": ["busy", "isolated"]}}},
        "checks": {"type": "object", "properties": {"reference_vs_qkeras": _CHECK,
                                                    "rtl_vs_reference": _CHECK}},
        "tools": {"type": "object", "additionalProperties": {"type": "string"}},
        "seconds": {"type": "object", "additionalProperties": _NUM},
        "carbon": {"type": ["object", "null"], "required": ["estimate", "rate_per_s", "grid"],
                   "properties": {"rate_per_s": _NUM, "grid": {
                       "type": "object", "required": ["g_per_kwh", "source"]}}},
        "measured": {"type": "object"},
    },
}


REDO = "run `hwgen flow` (make hw) for this design again to write a new one"


def validate(report: dict, path: Path | str = "report.json") -> None:
    """Raise HwgenError naming the first field that breaks the schema."""
    import jsonschema
    try:
        jsonschema.validate(report, REPORT_SCHEMA)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(top level)"
        raise HwgenError(f"{path} does not follow {SCHEMA_ID} at {where}: "
                         f"{exc.message}; {REDO}") from None


def write(out: Path, report: dict) -> list[Path]:
    """Write report.json and render report.md and the plots; the paths written."""
    validate(report)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_json(out / "report.json", report)
    return [out / "report.json"] + render(out)


def render(out: Path) -> list[Path]:
    """report.md and the PNG plots from `out/report.json`."""
    path = Path(out) / "report.json"
    if not path.is_file():
        raise HwgenError(f"no report.json in {out}: run `hwgen flow` (make hw) first")
    try:
        report = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HwgenError(f"{path} is not valid JSON ({exc}): it is damaged; {REDO}") from None
    validate(report, path)
    plots = _plots(Path(out), report)
    md = Path(out) / "report.md"
    write_text(md, markdown(report, [p.name for p in plots]))
    return [md] + plots


def _table(head: list[str], rows: list[list]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + \
        ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]


def markdown(r: dict, plots: list[str]) -> str:
    hw, res, pw = r["hardware"], r["resources"], r["power"]
    lat = r["latency"]
    lines = [f"# {r['design']}: hardware report", "",
             f"- top module `{hw['top']}` in `{hw['verilog']}`; target `{r['target']}`"
             + (f", device {r['device']}" if r["device"] else ""),
             f"- options: multiplication `{r['options']['mult']}`, a register every "
             f"{r['options']['pipeline']} levels, reuse factor "
             f"{r['options'].get('reuse', 1)}"
             + "".join(f", {k} {v}" for k, v in r["options"].get("layer_reuse", {}).items()),
             f"- input {hw['input']}, output {hw['output']}",
             f"- latency {lat['cycles']} cycles"
             + (f" = {lat['ns']} ns at Fmax {r['fmax_mhz']} MHz" if lat["ns"] else "")
             + f", initiation interval {hw['ii']} ("
             + ("one input vector per clock" if hw["ii"] == 1 else
                f"one input vector every {hw['ii']} clocks")
             + (f", {r['throughput_per_s']:,} inferences/s at Fmax"
                if r.get("throughput_per_s") else "") + ")"]
    if hw.get("delay_registers"):
        lines.append(f"- {hw['delay_registers']} flip-flops of delay registers, where the "
                     "paths of a branch meet (`delay_stages` in manifest.json)")
    lines += ["", "## Layers", ""]
    keys = ["layer", "op", "module", "in", "out", "nonzero_weights", "adders", "multipliers",
            "registers", "folded"]
    lines += _table(["layer", "op", "module", "input format", "output format",
                     "non-zero weights", "adders", "multipliers", "pipeline registers",
                     "folded"],
                    [[row.get(k, "") for k in keys] for row in hw["layers"]])
    kinds = [k for k in res["total"] if k != "logic_levels"]
    lines += ["", f"## Resources ({r['target']}, Yosys, {res['mapping']})", ""]
    lines += _table(["layer"] + kinds + ["logic levels"],
                    [[row["layer"]] + [row.get(k, 0) for k in kinds]
                     + [row.get("logic_levels", 0)] for row in res["layers"]]
                    + [["**total**"] + [res["total"][k] for k in kinds]
                       + [res["total"].get("logic_levels", 0)]])
    lines += ["", "Per-layer synthesis: each layer module is synthesized on its own, the top "
              "with its layers as black boxes.", ""]
    pnr = r.get("pnr")
    lines += ["## Place and route", ""]
    if pnr and pnr.get("fmax_mhz"):
        util = ", ".join(f"{k} {v['used']}/{v['available']}"
                         for k, v in sorted(pnr.get("utilization", {}).items()))
        lines += [f"nextpnr on {pnr['device']}: Fmax {pnr['fmax_mhz']} MHz; "
                  f"{util}.", ""]
    elif pnr:
        lines += [f"Not placed and routed: {pnr.get('message', 'see the log')}", ""]
    else:
        lines += [f"Not run for `{r['target']}` (nextpnr runs for ecp5 and ice40).", ""]
    if pw:
        e = pw["energy_per_inference_nj"]
        lines += ["## Power (estimate)", "",
                  f"Method: {pw['method']}. Model: {pw['model']['sources']}.", "",
                  f"At {pw['clock_mhz']} MHz: busy {pw['busy_mw']} mW (static "
                  f"{pw['static_mw']}, clock {pw['clock_mw']}, switching "
                  f"{pw['dynamic_busy_mw']}); idle {pw['idle_mw']} mW (switching "
                  f"{pw['dynamic_idle_mw']}).", "",
                  f"Energy per inference: {e['busy']} nJ back to back (static and clock "
                  f"included), {e['isolated']} nJ for one inference alone (its switching "
                  f"plus {lat['cycles']} idle cycles), {e['dynamic_only']} nJ of switching.",
                  ""]
        lines += _table(["layer", "register toggle rate", "logic toggle rate",
                         "switching mW (busy)", "pJ per inference"],
                        [[row["layer"], row["toggle_rate"]["reg"], row["toggle_rate"]["logic"],
                          row["dynamic_busy_mw"], row["dynamic_pj_per_inference"]]
                         for row in pw["layers"]])
        lines.append("")
    lines += _carbon_lines(r)
    checks = r["checks"]
    lines += ["## Checks", ""]
    if checks.get("reference_vs_qkeras"):
        c = checks["reference_vs_qkeras"]
        lines.append(f"- Reference vs QKeras `predict`: {c['vectors']} vectors, "
                     f"{c['mismatches']} mismatches.")
    if checks.get("rtl_vs_reference"):
        c = checks["rtl_vs_reference"]
        lines.append(f"- RTL vs reference (Verilator): {c['vectors']} vectors, "
                     f"{c['mismatches']} mismatches.")
    lines += ["", "## Tools", ""] + [f"- {k}: {v}" for k, v in sorted(r["tools"].items())]
    if plots:
        lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in plots]
    lines += _measured_lines(r)
    return "\n".join(lines) + "\n"


# report.md is a function of the model and the options, except the block after this
# line: figures measured on this machine (the CPU's time per inference), which change
# from run to run as `seconds` does.
MEASURED_MARK = "<!-- measured on this machine: changes from run to run -->"


def _carbon_lines(r: dict) -> list[str]:
    c = r.get("carbon")
    if not c or "hardware" not in c:
        return []
    h, g = c["hardware"], c["grid"]
    return ["## Energy and carbon (estimate)", "",
            f"Workload: {c['rate_per_s']:g} inferences per second, around the clock for a "
            f"year. Grid: {g['g_per_kwh']:g} gCO2e/kWh ({g['source']}). Method: "
            f"{c['method']}.", "",
            f"This hardware: {h['energy_per_inference_nj']:.6g} nJ per inference, "
            f"{h['kwh_per_year']:.6g} kWh per year, {h['kg_co2e_per_year']:.6g} kg CO2e per "
            "year. The same model on this machine's CPU: below.", ""]


def _measured_lines(r: dict) -> list[str]:
    cpu = (r.get("measured") or {}).get("cpu")
    if not cpu:
        return []
    ratio = cpu.get("cpu_over_hardware")
    return ["", MEASURED_MARK, "", "## The same model on this machine's CPU (measured)", "",
            f"TensorFlow `predict` on {cpu['cpu']}, batches of {cpu['batch']}: "
            f"{cpu['time_per_inference_us']:.3g} us per inference; CPU energy "
            f"{cpu['energy_per_inference_nj']:.4g} nJ per inference by {cpu['method']}: "
            f"{cpu['kwh_per_year']:.4g} kWh and {cpu['kg_co2e_per_year']:.4g} kg CO2e per "
            "year for the same workload"
            + (f", {ratio:.3g}x this hardware's energy." if ratio else ".")]


def _plots(out: Path, r: dict) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    # No software/date metadata: the same report gives byte-identical PNGs.
    meta = {"Software": None}
    paths = []
    for name, fig in (("resources.png", resources_figure(r)), ("power.png", power_figure(r))):
        if fig is None:
            continue
        p = out / name
        fig.savefig(p, dpi=100, metadata=meta)
        plt.close(fig)
        paths.append(p)
    return paths


def resources_figure(r: dict):
    """A matplotlib figure: resources per layer of report `r`, stacked by cell kind."""
    import matplotlib.pyplot as plt
    res = r["resources"]
    kinds = [k for k in res["total"] if k not in ("logic_levels", "transistors",
                                                   "nand2_equivalents")]
    names = [row["layer"] for row in res["layers"]]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    bottom = [0] * len(names)
    for k in kinds:
        vals = [row.get(k, 0) for row in res["layers"]]
        if any(vals):
            ax.bar(names, vals, bottom=bottom, label=k)
            bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set_ylabel("cells")
    ax.set_title(f"{r['design']}: resources per layer ({r['target']})")
    ax.legend()
    ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    return fig


def power_figure(r: dict):
    """A matplotlib figure: static, clock and per-layer power (busy and idle) of report
    `r`; None without a power estimate."""
    import matplotlib.pyplot as plt
    pw = r.get("power")
    if not pw:
        return None
    labels = ["static", "clock"] + [row["layer"] for row in pw["layers"]]
    busy = [pw["static_mw"], pw["clock_mw"]] + [row["dynamic_busy_mw"] for row in pw["layers"]]
    idle = [pw["static_mw"], pw["clock_mw"]] + [row["dynamic_idle_mw"] for row in pw["layers"]]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    x = range(len(labels))
    ax.bar([i - 0.2 for i in x], busy, width=0.4, label="busy")
    ax.bar([i + 0.2 for i in x], idle, width=0.4, label="idle")
    ax.set_xticks(list(x), labels, rotation=30)
    ax.set_ylabel("mW (estimate)")
    ax.set_title(f"{r['design']}: power at {pw['clock_mhz']} MHz ({r['target']})")
    ax.legend()
    fig.tight_layout()
    return fig
