"""What the Python API's calls return: plain attributes for code, `_repr_html_` for a
notebook, `str` for a terminal, and matplotlib figures for plots."""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class Table:
    """Rows of cells under a head; `records` gives them as dicts."""

    head: list[str]
    rows: list[list]
    title: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def records(self) -> list[dict]:
        return [dict(zip(self.head, r)) for r in self.rows]

    def __str__(self) -> str:
        cells = [[str(c) for c in r] for r in [self.head] + self.rows]
        widths = [max(len(r[i]) for r in cells) for i in range(len(self.head))]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths)
        lines = ([self.title] if self.title else []) + [fmt.format(*cells[0]),
                                                        fmt.format(*["-" * w for w in widths])]
        return "\n".join(lines + [fmt.format(*r) for r in cells[1:]] + self.notes)

    def _repr_html_(self) -> str:
        esc = lambda c: html.escape(str(c))  # noqa: E731
        head = "".join(f"<th>{esc(h)}</th>" for h in self.head)
        body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>"
                       for r in self.rows)
        title = f"<b>{esc(self.title)}</b>" if self.title else ""
        notes = "".join(f"<br><small>{esc(n)}</small>" for n in self.notes)
        return f"{title}<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{notes}"


def _html_fields(title: str, fields: dict, tables: tuple = ()) -> str:
    rows = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
                   f"<td>{html.escape(str(v))}</td></tr>" for k, v in fields.items()
                   if v is not None)
    return f"<b>{html.escape(title)}</b><table>{rows}</table>" + \
        "".join(t._repr_html_() for t in tables)


@dataclass
class Verification:
    """The reference against QKeras (`HardwareModel.verify`): for a quantized model an
    exact comparison (`mismatches` must be 0), for a float model given a precision the
    quantization error against the float model."""

    vectors: int
    exact: bool
    mismatches: int
    first_mismatches: list[dict]
    max_abs_error: list[float]
    argmax_agreement: float | None
    summary: str
    details: str = ""

    def __str__(self) -> str:
        return self.summary + ("\n" + self.details if self.details else "")

    def _repr_html_(self) -> str:
        return _html_fields("verify: reference against QKeras", {
            "vectors": self.vectors, "exact comparison": self.exact,
            "mismatches": self.mismatches if self.exact else None,
            "max |error|": max(self.max_abs_error) if self.max_abs_error else None,
            "argmax agreement": None if self.argmax_agreement is None
            else f"{100 * self.argmax_agreement:.2f} %"})


class _Timing:
    """Latency and II of a result that carries the build's manifest."""

    @property
    def latency(self) -> int:
        """Cycles from an input to its output."""
        return self.manifest["latency"]

    @property
    def ii(self) -> int:
        """Cycles between inputs (1: a new input every clock)."""
        return self.manifest["ii"]


@dataclass
class Build(_Timing):
    """The Verilog and manifest written by `HardwareModel.write`."""

    folder: Path
    verilog: Path
    manifest_path: Path
    manifest: dict

    @property
    def top(self) -> str:
        return self.manifest["top"]

    def __str__(self) -> str:
        return (f"{self.verilog} (top {self.top}): latency {self.latency} cycles, "
                f"II {self.ii}")

    def _repr_html_(self) -> str:
        m = self.manifest
        return _html_fields(f"RTL of {m['top']}", {
            "Verilog": self.verilog, "manifest": self.manifest_path,
            "latency (cycles)": self.latency, "II (cycles)": self.ii,
            "options": m.get("options"),
            "adders": sum(r.get("adders", 0) for r in m["layers"]),
            "multipliers": sum(r.get("multipliers", 0) for r in m["layers"])})


@dataclass
class Cosim:
    """A Verilator co-simulation (`HardwareModel.cosim`): the RTL's outputs for the given
    inputs (floats and codes) and the count of vectors where any output bit differs from
    the reference (0 is the contract)."""

    vectors: int
    mismatches: int
    outputs: object | None          # floats, shaped as `predict` returns them
    output_codes: np.ndarray | None
    argmax: np.ndarray | None
    vectors_per_second: float | None
    results: dict
    folder: Path

    @property
    def summary(self) -> str:
        return (f"{self.vectors} vectors, {self.mismatches} mismatches "
                f"({self.vectors_per_second} vectors/s; {self.folder / 'results.json'})")

    def __str__(self) -> str:
        return self.summary

    def _repr_html_(self) -> str:
        return _html_fields("co-simulation (Verilator)", {
            "vectors": self.vectors, "mismatches": self.mismatches,
            "vectors/s": self.vectors_per_second, "results": self.folder / "results.json"})


@dataclass
class Estimate(_Timing):
    """Resources (Yosys, per layer), Fmax (nextpnr, when placed) and power (the energy
    model on measured toggle rates) for one target: `HardwareModel.estimate`. Every figure
    is an estimate; `report.md` of `HardwareModel.report` says how each is made."""

    design: str
    target: str
    data: dict                     # build/<design>/synth/<target>/estimate.json
    manifest: dict

    @property
    def total(self) -> dict:
        """Cells of the whole design by kind (LUT4, CCU2C, FF, ...)."""
        return self.data["total"]

    @property
    def layers(self) -> Table:
        rows = self.data["layers"]
        kinds = list(self.total)
        return Table(["layer", "module"] + kinds,
                     [[r["layer"], r["module"]] + [r.get(k, 0) for k in kinds] for r in rows],
                     f"{self.design}: resources per layer ({self.target})")

    @property
    def fmax_mhz(self) -> float | None:
        pnr = self.data.get("pnr")
        return pnr.get("fmax_mhz") if pnr else None

    @property
    def latency_cycles(self) -> int:
        return self.latency

    @property
    def power(self) -> dict | None:
        return self.data.get("power")

    @property
    def energy_per_inference_nj(self) -> float | None:
        """Back to back, at the estimate's clock; None without a power estimate."""
        return self.power["energy_per_inference_nj"]["busy"] if self.power else None

    def plot(self):
        """The resources per layer as a matplotlib figure."""
        from ..estimate.report import resources_figure
        return resources_figure({"design": self.design, "target": self.target,
                                 "resources": self.data})

    def plot_power(self):
        """Static, clock and per-layer power as a matplotlib figure (None without power)."""
        from ..estimate.report import power_figure
        return power_figure({"design": self.design, "target": self.target,
                             "power": self.power})

    def __str__(self) -> str:
        fmax = f", Fmax {self.fmax_mhz} MHz" if self.fmax_mhz else ""
        e = self.energy_per_inference_nj
        return (f"{self.target}: " + ", ".join(f"{k} {v}" for k, v in self.total.items())
                + fmax + f"; latency {self.latency_cycles} cycles, II {self.ii}"
                + (f"; {e} nJ per inference (estimate)" if e is not None else ""))

    def _repr_html_(self) -> str:
        pw = self.power or {}
        fields = {"target": self.target, **{k: v for k, v in self.total.items()},
                  "Fmax (MHz, nextpnr)": self.fmax_mhz,
                  "latency (cycles)": self.latency_cycles, "II (cycles)": self.ii,
                  "clock for power (MHz)": pw.get("clock_mhz"),
                  "busy power (mW)": pw.get("busy_mw"), "idle power (mW)": pw.get("idle_mw"),
                  "energy per inference (nJ)": self.energy_per_inference_nj}
        return _html_fields(f"estimate of {self.design}", fields, (self.layers,))


@dataclass
class Report:
    """The flow's report (`HardwareModel.report`): report.json, report.md and the plots
    under the build folder."""

    data: dict
    paths: list[Path]
    failed: bool

    @property
    def markdown(self) -> str:
        md = next((p for p in self.paths if p.suffix == ".md"), None)
        return md.read_text() if md else ""

    def figures(self) -> list:
        """The report's plots as matplotlib figures (resources, and power if estimated)."""
        from ..estimate.report import power_figure, resources_figure
        return [f for f in (resources_figure(self.data), power_figure(self.data)) if f]

    def __str__(self) -> str:
        return self.markdown

    def _repr_html_(self) -> str:
        d = self.data
        res = d["resources"]
        kinds = list(res["total"])
        layers = Table(["layer"] + kinds, [[r["layer"]] + [r.get(k, 0) for k in kinds]
                                           for r in res["layers"]], "resources per layer")
        pnr = d.get("pnr") or {}
        pw = d.get("power") or {}
        return _html_fields(f"report of {d['design']} ({d['target']})", {
            "files": ", ".join(str(p) for p in self.paths),
            "Fmax (MHz)": pnr.get("fmax_mhz"),
            "energy per inference (nJ, estimate)":
                (pw.get("energy_per_inference_nj") or {}).get("busy"),
            "failed": self.failed}, (layers,))
