"""`HardwareModel`: a model converted for hardware, and every step of the flow as a method.

Each method runs the same functions as the `hwgen` command (`flow/run.py`, `export/`)
and writes into the same folders under the model's build folder (`out`, default
`build/<design>/`), so what a notebook makes can be looked at file by file. A folder is
locked while a call writes into it (two runs never mix files).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from ..errors import HwgenError
from ..flow.run import FLOW_PNR_TIME_LIMIT_S
from ..ir import interp
from ..ir.types import Overflow, Rounding, apply_overflow, codes_to_float, exact_codes, \
    float_to_codes
from . import results
from .options import ConvertOptions


def _silent(line: str) -> None:
    pass


class HardwareModel:
    """A Keras/QKeras model lowered to hwgen's fixed-point IR with its hardware options.

    `graph` is the IR (`hwgen inspect` shows it as `layers()`); `predict` runs the
    bit-exact reference, which is what the hardware computes. Methods that make files
    (`write`, `cosim`, `estimate`, `export`, `hls`, `report`) write under `out`. `log` is
    called with each progress line (default: print them; pass `log=None` for silence).
    """

    def __init__(self, loaded, graph, options: ConvertOptions, out: Path, log=print):
        self.loaded, self.graph, self.options = loaded, graph, options
        self.out = Path(out)
        self.log = log or _silent
        self._builds = {}        # (folder, target) -> (lowered, RtlBuild) last written there

    # ------------------------------------------------------------------ what it is
    @property
    def name(self) -> str:
        return self.loaded.name

    @property
    def input_format(self):
        """The input grid (a FixedType): the model's input quantizer, `input_format`, or
        fixed<16,6>."""
        return self.graph.input.type

    @property
    def input_shape(self) -> tuple:
        return tuple(self.graph.input.shape)

    @property
    def output_formats(self) -> list:
        return [h.type for h in self.graph.heads]

    @property
    def outputs_logits(self) -> bool:
        """True when the model ends in softmax: hwgen's outputs are its logits (the
        softmax's input), as the hardware computes them; `keras_predict` compares alike."""
        return self.graph.softmax_removed

    @property
    def exact(self) -> bool:
        """True when QKeras's own predict is bit-exact to the reference (a quantized
        model); False for a float model quantized by `precision`."""
        return self.graph.exact

    def layers(self) -> results.Table:
        """The per-layer table of `hwgen inspect`: op, shapes, formats, weights, sparsity,
        MACs."""
        from ..ir.text import TABLE_HEAD, table_notes, table_rows
        return results.Table(list(TABLE_HEAD), table_rows(self.graph), f"model {self.name}",
                             table_notes(self.graph))

    def __repr__(self) -> str:
        return (f"HardwareModel({self.name!r}: input {self.input_format} x "
                f"{'x'.join(map(str, self.input_shape))}, options {self.options.as_dict()})")

    def _repr_html_(self) -> str:
        return (f"<b>{self.name}</b> ({self.loaded.source}): input {self.input_format}, "
                f"options <code>{self.options.as_dict()}</code><br>"
                + self.layers()._repr_html_())

    # ------------------------------------------------------------------ the reference
    def to_codes(self, x) -> np.ndarray:
        """Float inputs [N, *input_shape] as integer codes of the input grid, the way the
        model puts them there: through its own input quantizer (QKeras, in float32, as
        Keras's predict does) when the grid comes from one; otherwise rounded to the
        nearest grid point (ties to even) and saturated to the input format, after the
        float32 cast Keras applies to its inputs."""
        x = self._batch(x)
        t = self.input_format
        q = getattr(self.loaded, "input_quantizer", None)
        if q is not None and self.options.input_format is None:
            from ..frontends.quantizers import call_quantizer
            values = call_quantizer(q, x)
            codes, on_grid = exact_codes(values, t.frac)
            if not on_grid.all():      # the quantizer's grid is the input grid by design
                raise HwgenError(f"the input quantizer put a value off the input grid {t}; "
                                 "report this model to hwgen's developers")
            return apply_overflow(codes, t, Overflow.SAT)
        x32 = x.astype(np.float32).astype(np.float64)
        return apply_overflow(float_to_codes(x32, t.frac, Rounding.RND_CONV), t, Overflow.SAT)

    def from_codes(self, codes):
        """Output codes [N, total outputs] as floats, shaped as Keras returns them (one
        array, or a list of arrays for a model with several outputs)."""
        codes = np.asarray(codes).reshape(len(codes), -1)
        values = codes_to_float(codes, self.graph.output_fracs)
        heads = self.graph.heads
        if len(heads) == 1:
            return values.reshape((len(codes),) + tuple(heads[0].shape))
        parts, at = [], 0
        for h in heads:
            parts.append(values[:, at:at + h.size].reshape((len(codes),) + tuple(h.shape)))
            at += h.size
        return parts

    def predict_codes(self, codes) -> np.ndarray:
        """The reference on input codes [N, *input_shape]: output codes [N, outputs]."""
        codes = np.asarray(codes)
        if codes.shape[1:] != self.input_shape:
            codes = codes.reshape((-1,) + self.input_shape)
        try:
            out = interp.run(self.graph, codes)
        except ValueError as exc:
            raise HwgenError(f"predict_codes: {exc}") from None
        return np.asarray(out).reshape(len(codes), -1)

    def predict(self, x):
        """The bit-exact reference on float inputs (`to_codes`, the reference, `from_codes`):
        what the hardware outputs, as floats. On inputs on the input grid it equals QKeras's
        `predict` (of the logits, when the model ends in softmax: see `outputs_logits`)."""
        return self.from_codes(self.predict_codes(self.to_codes(x)))

    def keras_predict(self, x):
        """QKeras's result on the same inputs put on the grid (`to_codes`): the model's
        float64 twin (`frontends/twin.py`: every sum exact, quantizers in float32 as QKeras
        runs them), without a final softmax. For a quantized model it equals `predict`
        exactly; this is what `verify` compares."""
        from ..frontends.twin import build_twin, predict
        x = codes_to_float(self.to_codes(x), self.input_format.frac)
        twin = getattr(self.loaded, "twin", None) or build_twin(self.loaded.model)[0]
        out = np.asarray(predict(twin, x)).reshape(len(x), -1)
        return self.from_codes(exact_codes(out, self.graph.output_fracs)[0]) \
            if self.exact else out

    def verify(self, n: int = 10000, seed: int = 0, x=None) -> results.Verification:
        """The reference against QKeras on `x` (put on the grid) or on `n` vectors of the
        input grid (the design's own test inputs first): 0 mismatches for a quantized
        model; the quantization error for a float one."""
        from ..verify import verify_model
        from ..flow import design_data
        extra = design_data(self.loaded) if x is None else self.to_codes(x)
        if x is not None:
            n = len(extra)
        r = verify_model(self.loaded, self.graph, _count(n, "n"), seed, extra)
        return results.Verification(r.vectors, r.exact, r.mismatches, r.first,
                                    r.max_abs_error, r.argmax_agreement, r.summary(),
                                    r.details())

    def profile(self, x, keras_model=None):
        """Per layer, the values data `x` produces against the layer's format: range,
        integer bits needed, overflow and underflow (`api/profile.py`)."""
        from .profile import profile
        return profile(self, x, keras_model)

    # ------------------------------------------------------------------ hardware
    def _build(self, out: Path, target: str | None = None, full: bool = False):
        """Lower and write the RTL into `out` for `target` (`full`: a `reuse='auto'` fit
        by whole-design synthesis); a build this object wrote there before with the same
        options is used again if its manifest is unchanged (a `reuse='auto'` fit takes
        minutes, and a sweep point estimates, then runs the flow, on one build)."""
        import json
        from ..flow.run import build
        o = dataclasses.replace(self.options, target=target or self.options.target)
        key = (str(Path(out).resolve()), repr(o), full)
        done = self._builds.get(key)
        if done is not None:
            path = done[1].manifest
            if path.exists() and json.loads(path.read_text()) == done[1].data:
                self.log(f"      using the RTL built before: {done[1].verilog}")
                return done
        done = build(self.graph, out, o.hardware(), o.auto_reuse, o.target, full,
                     log=self.log, auto_io=o.auto_io)
        self._builds[key] = done
        return done

    def write(self, out=None) -> results.Build:
        """The Verilog (`rtl/`) and `manifest.json` in `out` (default the build folder)."""
        from ..outputs import locked
        with locked(Path(out) if out else self.out, "out") as folder:
            _, rtl = self._build(folder)
        return results.Build(folder, rtl.verilog, rtl.manifest, rtl.data)

    def cosim(self, x=None, n: int = 10000, seed: int = 0, mode: str = "batch",
              waves: bool = False) -> results.Cosim:
        """Co-simulate the RTL in Verilator against the reference. With `x` (floats, put on
        the grid by `to_codes`), those inputs, and the RTL's outputs come back (floats in
        `outputs`, codes in `output_codes`); else `n` vectors of the input grid."""
        from ..outputs import locked
        from ..sim.runner import VECTORS_PER_PROCESS, cosim
        from ..sim.stimulus import rom_vectors
        with locked(self.out, "out") as folder:
            _, rtl = self._build(folder)
            sim_dir, rtl_dir = folder / "sim", folder / "rtl"
            # Built with toggle counting where the simulation runs as one process anyway
            # (given inputs, or fewer than 40,000 vectors): `estimate`'s power step then
            # runs this build instead of compiling its own (as `hwgen flow` shares one).
            if x is None:
                from ..flow.run import SimOptions, simulate
                r = simulate(self.loaded, self.graph, rtl.data, rtl_dir, folder,
                             SimOptions(_count(n, "n"), seed, mode, waves), log=self.log,
                             toggles=n < 2 * VECTORS_PER_PROCESS)
                return results.Cosim(r["vectors"], r["mismatches"], None, None, None,
                                     r["vectors_per_second"], r, sim_dir)
            if mode != "batch" or waves:
                raise HwgenError("cosim(x): given inputs run in mode 'batch' without waves")
            codes = self.to_codes(x).reshape(len(x), -1)
            outs, argmaxes, mismatches, total = [], [], 0, {}
            held = rom_vectors(rtl.data)                 # what the harness holds at once
            for at in range(0, len(codes), held):
                chunk = codes[at:at + held]
                r = cosim(self.graph, rtl.data, rtl_dir, sim_dir, len(chunk), seed,
                          mode="batch", log=self.log, codes=chunk, toggles=True)
                mismatches += r["mismatches"]
                outs.append(np.load(sim_dir / "outputs.npy"))
                if (sim_dir / "argmax.npy").exists():
                    argmaxes.append(np.load(sim_dir / "argmax.npy"))
                total = r
            got = np.concatenate(outs)
            return results.Cosim(len(codes), mismatches, self.from_codes(got), got,
                                 np.concatenate(argmaxes) if argmaxes else None,
                                 total.get("vectors_per_second"), total, sim_dir)

    def estimate(self, target: str | None = None, pnr: bool = False, power: bool = True,
                 full: bool = False, device: str | None = None,
                 clock_mhz: float | None = None, n: int = 10000,
                 seed: int = 0) -> results.Estimate:
        """Synthesize with Yosys for `target` (default the model's target): resources per
        layer; with `pnr`, place and route with nextpnr (ecp5, ice40) for Fmax; with
        `power`, toggle counts over min(n, 100000) co-simulation vectors and the energy
        model. Written to `synth/<target>/estimate.json`."""
        from ..flow.run import EstimateOptions, SimOptions, estimate
        from ..outputs import locked
        from .options import TARGET_CHOICES, _choice
        target = target or self.options.target
        if target not in TARGET_CHOICES:
            raise HwgenError(_choice("target", target, TARGET_CHOICES))
        est = EstimateOptions(target, full, pnr, device, power, clock_mhz)
        o = dataclasses.replace(self.options, target=target)
        with locked(self.out, "out") as folder:
            data = estimate(self.loaded, self.graph, folder, o.hardware(), o.auto_reuse, est,
                            SimOptions(_count(n, "n"), seed), step=self.log, log=self.log,
                            auto_io=o.auto_io,
                            built=lambda: self._build(folder, target, full))
            manifest = _manifest(folder)
        return results.Estimate(self.name, target, data, manifest)

    def export(self, board: str | None = None, asic: bool = False, top: str = "selftest",
               vectors: int | None = None, baud: int = 115200, simulate: bool = True,
               clock_ns: float = 10.0, out=None) -> dict:
        """A board project (`board`, see `hwgen.list_boards()`): the core in a self-test (or
        UART) top, a bitstream for iCE40/ECP5 boards, a vendor project otherwise; or with
        `asic`, Verilog and an OpenLane 2 configuration. Into `export/<board>` (or
        `export/asic`) of the build folder, or `out`. Returns what was built."""
        from ..flow import design_data
        from ..outputs import locked
        if (board is None) == (not asic):
            raise HwgenError("export: give either board='...' or asic=True")
        o = self.options
        where = Path(out) if out else self.out / "export" / ("asic" if asic else board)
        with locked(where, "out") as folder:
            if asic:
                from ..flow.run import export_asic
                info = export_asic(self.loaded, self.graph, folder, o.hardware(), clock_ns,
                                   top == "serial", step=self.log, log=self.log)
                return dict(info, folder=str(folder))
            from ..export.boards import BOARDS
            from ..export.project import export_board
            from ..ir.delay import MODELS
            if board not in BOARDS:
                from .options import _choice
                raise HwgenError(_choice("board", board, tuple(BOARDS)))
            # The schedule is timed for the board's family (a Cyclone V, which has no
            # delay model of its own, as a 7-series part: the nearest in speed).
            family = BOARDS[board].family
            o = dataclasses.replace(o, target=family if family in MODELS else "xc7")
            info = export_board(self.name, self.graph, folder, board, top, vectors, baud,
                                o.hardware(), design_data(self.loaded),
                                auto_reuse=o.auto_reuse,
                                simulate=simulate, auto_io=o.auto_io, log=self.log)
            return dict(info, folder=str(folder))

    def hls(self, backend: str = "Vitis", io: str = "parallel", reuse: int = 1,
            n: int = 10000, seed: int = 0, out=None) -> dict:
        """An hls4ml project with hwgen's per-layer precisions (`hls4ml/` of the build
        folder, or `out`), checked bit-exact in hls4ml's C simulation on n vectors; the
        check's result (`mismatches` must be 0)."""
        from ..export.hls import BACKENDS
        from ..flow.run import hls
        from ..outputs import locked
        from .options import _choice
        if backend not in BACKENDS:
            raise HwgenError(_choice("backend", backend, BACKENDS))
        if io not in ("parallel", "stream"):
            raise HwgenError(_choice("io", io, ("parallel", "stream")))
        with locked(Path(out) if out else self.out / "hls4ml", "out") as folder:
            return hls(self.loaded, self.graph, folder, backend, _count(reuse, "reuse"),
                       _count(n, "n"), seed, step=self.log, log=self.log, io=io)

    def report(self, target: str | None = None, n: int = 10000, seed: int = 0,
               clock_mhz: float | None = None, full: bool = False, mode: str = "batch",
               waves: bool = False, rate: float = 1000.0, grid=None,
               cpu_baseline: bool = True,
               pnr_time_limit_s: float | None = FLOW_PNR_TIME_LIMIT_S) -> results.Report:
        """The whole flow, as `hwgen flow` runs it: the reference against QKeras, RTL,
        synthesis, place and route (ecp5, ice40), co-simulation on n vectors (`mode`
        'batch' or the cycle-by-cycle 'stream' bench; `waves` writes a waveform), power,
        and report.json / report.md / plots in the build folder, with the energy and
        CO2e of `rate` inferences per second for a year at grid intensity `grid`
        (gCO2e/kWh or a country code; None: the world average), beside the model on this
        machine's CPU (`cpu_baseline`). Place and route stops after `pnr_time_limit_s`
        seconds (None: no limit); the report then says it was not routed in that time and
        prices energy at the board clock."""
        from ..flow.run import CarbonOptions, EstimateOptions, SimOptions, flow
        from ..outputs import locked
        target = target or self.options.target
        o = dataclasses.replace(self.options, target=target)
        with locked(self.out, "out") as folder:
            r = flow(self.loaded, self.graph, folder, o.hardware(), o.auto_reuse,
                     EstimateOptions(target, full, pnr=True, clock_mhz=clock_mhz,
                                     pnr_time_limit_s=_seconds(pnr_time_limit_s)),
                     SimOptions(_count(n, "n"), seed, mode, waves), step=self.log,
                     log=self.log, auto_io=o.auto_io,
                     carbon=CarbonOptions(rate, grid, cpu_baseline),
                     built=lambda: self._build(folder, target, full))
            import json
            data = json.loads((folder / "report.json").read_text())
        return results.Report(data, [Path(p) for p in r.paths], r.failed)

    # ------------------------------------------------------------------ helpers
    def _batch(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.shape[1:] != self.input_shape:
            if x.shape == self.input_shape:
                raise HwgenError(f"inputs need a batch axis: shape (N, "
                                 f"{', '.join(map(str, self.input_shape))}), not {x.shape} "
                                 "(use x[None] for one input)")
            raise HwgenError(f"inputs have shape {x.shape}; the model takes (N, "
                             f"{', '.join(map(str, self.input_shape))})")
        return x


def _seconds(value) -> float | None:
    """A time limit: None or 0 for none, else a positive number of seconds."""
    if value is None or (not isinstance(value, bool) and value == 0):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer,
                                                         np.floating)) or value < 0:
        raise HwgenError(f"pnr_time_limit_s must be a number of seconds >= 0 (0 or None: "
                         f"no limit), not {value!r}")
    return float(value)


def _count(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise HwgenError(f"{name} must be a whole number >= 1, not {value!r}")
    return int(value)


def _manifest(folder: Path) -> dict:
    import json
    return json.loads((folder / "manifest.json").read_text())
