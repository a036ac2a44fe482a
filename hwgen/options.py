"""Typed front-end options with one override mechanism: a global value plus per-layer ones."""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from .errors import HwgenError
from .ir import delay
from .ir.types import FixedType, Precision, parse_precision


def check_layer_names(what: str, names: Iterable[str], allowed: Iterable[str],
                      kind: str = "layer") -> None:
    """Every layer a per-layer option (`what`: precision, reuse) names is one of `allowed`
    (the model's `kind`s), so a misspelt name is an error that says what there is, not a
    silently ignored value. The one check behind the API, the front end, the stream build
    and the fold pass."""
    allowed = list(dict.fromkeys(allowed))
    for key in sorted(names):
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, 1)
            raise HwgenError(f"{what}: the model has no {kind} named {key!r}"
                             + (f" (did you mean {close[0]!r}?)" if close else "")
                             + f"; its {kind}s are: {', '.join(allowed) or 'none'}")


# hls4ml's default input precision: ap_fixed<16,6>.
DEFAULT_INPUT_FORMAT = FixedType(True, 16, 6)


@dataclass(frozen=True)
class FrontendOptions:
    """How to read a model.

    input_format: the grid of the model's inputs when it has no input quantizer.
    precision: format for float (unquantized) layers; `layer_precision` overrides it by
    Keras layer name.
    """

    input_format: FixedType | None = None
    precision: Precision | None = None
    layer_precision: Mapping[str, Precision] = field(default_factory=dict)

    def precision_for(self, layer: str) -> Precision | None:
        return self.layer_precision.get(layer, self.precision)

    @staticmethod
    def from_strings(input_format: str | None = None,
                     precision: list[str] | tuple[str, ...] = ()) -> "FrontendOptions":
        """Parse CLI-style values: `--input-format fixed<16,6>`, `--precision fixed<16,6>`
        and `--precision LAYER=fixed<8,3>` (repeatable)."""
        fmt = parse_precision(input_format, "--input-format").type if input_format else None
        glob, per_layer = None, {}
        for item in precision or ():
            if "=" in item:
                layer, _, text = item.partition("=")
                if not layer.strip():
                    raise HwgenError(f"precision {item!r} has no layer name before '='; "
                                     "write LAYER=fixed<W,I> or just fixed<W,I>")
                per_layer[layer.strip()] = parse_precision(text, f"--precision {layer.strip()}=")
            elif glob is not None:
                raise HwgenError(
                    f"--precision given twice without a layer name ('{glob}' and '{item}'); "
                    f"use LAYER=fixed<W,I> for per-layer precisions")
            else:
                glob = parse_precision(item, "--precision")
        return FrontendOptions(fmt, glob, per_layer)


def parse_clock_target(value, what: str = "clock target") -> float:
    """A clock target as MHz: a number of MHz, or text `150`, `150MHz` or a period `6.5ns`."""
    if isinstance(value, bool):
        value = str(value)
    if isinstance(value, (int, float)):
        mhz = float(value)
    else:
        t = str(value).strip().lower()
        try:
            mhz = 1000.0 / float(t[:-2]) if t.endswith("ns") else \
                float(t[:-3] if t.endswith("mhz") else t)
        except (ValueError, ZeroDivisionError):
            raise HwgenError(f"{what} takes MHz (150, '150MHz') or a period ('6.5ns'), not "
                             f"{value!r}") from None
    if not 0 < mhz <= 10_000:
        raise HwgenError(f"{what} must be in (0, 10000] MHz, not {value!r}")
    return mhz


# How the hardware takes its input: whole vectors, or images a pixel at a time.
IO_MODES = ("parallel", "stream")
MULT_MODES = ("csd", "csd-per-weight", "dsp")
STEP_FORMS = ("auto", "tree", "search")    # HardwareOptions.step_form


@dataclass(frozen=True)
class HardwareOptions:
    """How to build the datapath.

    mult: "csd" (shift-add on canonical signed digits, no multipliers, sums that several
    outputs share built once), "csd-per-weight" (the same digits, every output its own
    adder tree: for comparison) or "dsp" (one hardware multiplier per non-power-of-two
    weight).
    pipeline: None (default): registers placed by estimated delay (`ir/delay.py`) for
    `clock_target` MHz on `target` (default: the target's clock), the fewest stages that
    meet it with the fewest register bits; N: a register every N combinational levels
    (adder levels, activations), the manual override; 0 registers only the inputs and
    outputs.
    reuse: 1 computes every dense layer fully in parallel (one vector per clock); R > 1
    folds each dense layer onto the fewest multiply-accumulate lanes that take at most R
    cycles per vector (hls4ml's reuse factor); `layer_reuse` overrides it by Keras layer.
    io: "parallel" takes the whole input at once; "stream" takes an image one pixel per
    handshake through line-buffered convolution stages (`ir/stream.py`).
    split_outputs: a folded layer meets its reuse factor even where an output has more
    weights than that, by splitting the output's sum over lanes (`ir/fold.py`); off, such
    a layer takes as many cycles as its longest output. The streaming `--reuse auto`
    turns it on for its rate-matched fold.
    step_form: how step functions (non-linear quantizers, a batch norm fused with a
    quantizer) are built (`ops/step_function.py`): "auto" searches those of seven
    thresholds or more (far smaller, a few levels more), "tree" compares every threshold
    at once (the fewest levels), "search" searches every one.
    """

    mult: str = "csd"
    pipeline: int | None = None
    reuse: int = 1
    layer_reuse: Mapping[str, int] = field(default_factory=dict)
    io: str = "parallel"     # "parallel": a whole vector per clock; "stream": pixels
    clock_target: float | None = None      # MHz; None: the target's default
    target: str = "ecp5"                   # the device family the schedule is timed for
    split_outputs: bool = False
    step_form: str = "auto"

    def reuse_for(self, layer: str) -> int:
        return self.layer_reuse.get(layer, self.reuse)

    @staticmethod
    def parse_reuse(items) -> tuple[int | str, dict]:
        """`--reuse R`, `--reuse auto` and `--reuse LAYER=R` (repeatable) into (global,
        per layer); the global one is 1 when not given, or "auto"."""
        glob, per_layer = None, {}
        for item in items or ():
            layer, _, text = item.rpartition("=")
            if not layer and text.strip() == "auto":
                if glob is not None:
                    raise HwgenError(f"reuse given twice without a layer name ({glob} and "
                                     "auto)")
                glob = "auto"
                continue
            try:
                value = int(text)
            except ValueError:
                raise HwgenError(f"reuse takes a whole number of cycles or LAYER=N, "
                                 f"not {item!r}") from None
            if layer:
                per_layer[layer.strip()] = value
            elif glob is not None:
                raise HwgenError(f"reuse given twice without a layer name ({glob} and "
                                 f"{value}); use LAYER=N for per-layer values")
            else:
                glob = value
        return (1 if glob is None else glob), per_layer

    def __post_init__(self):
        if self.mult not in MULT_MODES:
            raise HwgenError(f"mult must be one of {', '.join(MULT_MODES)}, not {self.mult!r}")
        if self.pipeline is not None and (not isinstance(self.pipeline, int)
                                          or self.pipeline < 0):
            raise HwgenError(f"pipeline must be a whole number of levels >= 0, "
                             f"not {self.pipeline!r}")
        if self.clock_target is not None and not (
                isinstance(self.clock_target, (int, float)) and self.clock_target > 0):
            raise HwgenError(f"clock target must be a positive frequency in MHz (or "
                             f"'10ns'), not {self.clock_target!r}")
        if self.target not in delay.MODELS:
            raise HwgenError(f"target must be one of {', '.join(delay.MODELS)}, "
                             f"not {self.target!r}")
        if self.io not in IO_MODES:
            raise HwgenError(f"io must be one of {', '.join(IO_MODES)}, not {self.io!r}")
        for where, r in [("--reuse", self.reuse)] + [
                (f"--reuse {k}=", v) for k, v in sorted(self.layer_reuse.items())]:
            if not isinstance(r, int) or r < 1:
                raise HwgenError(f"{where} must be a whole number of cycles >= 1 "
                                 f"(1: fully parallel), not {r!r}")

    def as_dict(self) -> dict:
        d = {"mult": self.mult, "pipeline": self.pipeline, "reuse": self.reuse}
        if self.pipeline is None:
            d["clock_target_mhz"] = self.clock_target or delay.model(self.target).default_mhz
            d["timed_for"] = self.target
        if self.layer_reuse:
            d["layer_reuse"] = dict(sorted(self.layer_reuse.items()))
        if self.io != "parallel":
            d["io"] = self.io
        if self.split_outputs:
            d["split_outputs"] = True
        if self.step_form != "auto":
            d["step_form"] = self.step_form
        return d
