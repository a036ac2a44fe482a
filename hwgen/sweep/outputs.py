"""What a sweep writes: sweep.json, sweep.csv, accuracy against energy and against LUTs
with the Pareto front marked (PNG), and report.md with the table and the recommended
point. Deterministic: rows in the sweep's point order, no timestamps."""
from __future__ import annotations

import csv
import io
from pathlib import Path

from ..outputs import save_json, write_bytes, write_text
from .pareto import pareto, recommend

COLUMNS = ["bits", "sparsity", "reuse", "target", "mult", "epochs", "status", "reason",
           "accuracy_qkeras", "accuracy_reference", "kernel_sparsity", "reuse_used", "lut",
           "ff", "dsp", "fmax_mhz", "latency_cycles", "latency_ns", "ii",
           "energy_per_inference_nj", "kwh_per_year", "kg_co2e_per_year",
           "cpu_energy_per_inference_nj", "cpu_kg_co2e_per_year", "seconds_finetune",
           "seconds_hardware", "seconds_total", "pareto_energy", "pareto_lut", "pareto",
           "cached"]


def flat(result: dict) -> dict:
    """One CSV row of a point's result."""
    p = result["point"]
    c = result.get("carbon") or {}
    s = result.get("seconds") or {}
    row = {k: p.get(k) for k in ("bits", "sparsity", "reuse", "target", "mult", "epochs")}
    row.update({k: result.get(k) for k in (
        "status", "reason", "accuracy_qkeras", "accuracy_reference", "kernel_sparsity",
        "reuse_used", "lut", "ff", "dsp", "fmax_mhz", "latency_cycles", "latency_ns", "ii",
        "energy_per_inference_nj", "cached")})
    row.update(kwh_per_year=(c.get("hardware") or {}).get("kwh_per_year"),
               kg_co2e_per_year=(c.get("hardware") or {}).get("kg_co2e_per_year"),
               cpu_energy_per_inference_nj=(c.get("cpu") or {}).get("energy_per_inference_nj"),
               cpu_kg_co2e_per_year=(c.get("cpu") or {}).get("kg_co2e_per_year"),
               seconds_finetune=s.get("finetune"), seconds_hardware=s.get("hardware"),
               seconds_total=round(sum(v for v in s.values() if v), 2) if s else None)
    return row


def write(out: Path, results: list[dict], min_accuracy: float | None, meta: dict) -> dict:
    """Write every output into `out`; the summary (rows, recommended point)."""
    rows = [flat(r) for r in results]
    ok = [r if r["status"] == "ok" else {} for r in rows]
    for key, cost in (("pareto_energy", "energy_per_inference_nj"), ("pareto_lut", "lut")):
        for r, flag in zip(rows, pareto(ok, cost)):
            r[key] = flag
    for r in rows:
        r["pareto"] = bool(r["pareto_energy"] or r["pareto_lut"])
    best = recommend([r for r in rows if r["status"] == "ok"], min_accuracy,
                     "energy_per_inference_nj")
    summary = {"meta": meta, "min_accuracy": min_accuracy, "recommended": best,
               "points": len(rows), "failed": sum(r["status"] != "ok" for r in rows),
               "rows": rows, "results": results}
    save_json(out / "sweep.json", summary)
    text = io.StringIO()
    w = csv.DictWriter(text, COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    write_text(out / "sweep.csv", text.getvalue())
    plots = _plots(out, rows)
    write_text(out / "report.md", markdown(rows, best, min_accuracy, meta, plots))
    return summary


def _plots(out: Path, rows: list[dict]) -> list[str]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = []
    for cost, label, key, name in (
            ("energy_per_inference_nj", "energy per inference (nJ, estimate)",
             "pareto_energy", "accuracy_vs_energy.png"),
            ("lut", "logic (LUTs of the target)", "pareto_lut", "accuracy_vs_luts.png")):
        done = [r for r in rows if r["status"] == "ok" and r.get(cost) is not None]
        fig, ax = plt.subplots(figsize=(7, 4.5))
        ax.scatter([r[cost] for r in done], [r["accuracy_reference"] for r in done],
                   c="0.6", label="point")
        front = sorted((r for r in done if r[key]), key=lambda r: r[cost])
        ax.plot([r[cost] for r in front], [r["accuracy_reference"] for r in front], "o-",
                c="C3", label="Pareto front")
        for r in done:
            ax.annotate(f"{r['bits']}b {r['sparsity']:g} r{r['reuse']}",
                        (r[cost], r["accuracy_reference"]), fontsize=7,
                        textcoords="offset points", xytext=(3, 3))
        ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("accuracy (bit-exact reference)")
        ax.legend()
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
        plt.close(fig)
        write_bytes(out / name, buf.getvalue())
        names.append(name)
    return names


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def markdown(rows, best, min_accuracy, meta, plots) -> str:
    head = ["bits", "sparsity", "reuse", "status", "accuracy_reference", "accuracy_qkeras",
            "lut", "ff", "fmax_mhz", "latency_cycles", "ii", "energy_per_inference_nj",
            "kg_co2e_per_year", "pareto"]
    lines = [f"# Sweep of {meta['design']} ({meta['target']})", "",
             f"{len(rows)} points ({sum(r['status'] != 'ok' for r in rows)} failed); "
             f"fine-tuned {meta['epochs']} epoch(s) per point; workload "
             f"{meta['rate']:g} inferences/s around the clock, grid "
             f"{meta['grid']['g_per_kwh']:g} gCO2e/kWh ({meta['grid']['source']}).", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append("| " + " | ".join(_cell(r.get(h)) for h in head) + " |")
    lines += [""]
    if best is None:
        lines.append(f"No point reaches the accuracy {min_accuracy}." if min_accuracy is not None
                     else "No point finished.")
    else:
        what = f"the least energy per inference with accuracy >= {min_accuracy}" \
            if min_accuracy is not None else "the most accurate (the cheaper of equals)"
        lines.append(f"**Recommended** ({what}): {best['bits']} bits, sparsity "
                     f"{best['sparsity']:g}, reuse {best['reuse']} (used {best['reuse_used']}):"
                     f" accuracy {best['accuracy_reference']:.4f}, {_cell(best['lut'])} LUTs, "
                     f"{_cell(best['energy_per_inference_nj'])} nJ per inference, "
                     f"{_cell(best['kg_co2e_per_year'])} kg CO2e per year.")
    failed = [r for r in rows if r["status"] != "ok"]
    if failed:
        lines += ["", "## Failed points", ""]
        lines += [f"- {r['bits']} bits, sparsity {r['sparsity']:g}, reuse {r['reuse']}: "
                  f"{r['reason']}" for r in failed]
    lines += ["", "Every energy and carbon figure is an estimate: hwgen's power model on "
              "measured toggle rates for the hardware, codecarbon (RAPL or half the CPU's "
              "TDP) for the CPU; see docs/estimates.md.", ""]
    lines += [f"![{p}]({p})" for p in plots]
    return "\n".join(lines) + "\n"
