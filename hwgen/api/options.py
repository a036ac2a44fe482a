"""The options of `hwgen.convert`, typed and checked when the hardware model is made.

One value for the whole model, or a dict keyed by Keras layer name for the per-layer
options (`precision`, `reuse`), where the key "*" gives the value of every layer not
named. Errors name the parameter and its allowed values. The result maps onto the two
option objects the flow takes (`FrontendOptions`, `HardwareOptions`).
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Mapping

from ..errors import HwgenError
from ..ir import delay
from ..ir.types import FixedType, Precision, parse_precision
from ..options import (MULT_MODES, STEP_FORMS, FrontendOptions, HardwareOptions,
                       parse_clock_target)

IO_CHOICES = ("parallel", "stream", "auto")
TARGET_CHOICES = tuple(delay.MODELS)          # ecp5, ice40, xc7, asic
ALL_LAYERS = "*"


@dataclass(frozen=True)
class ConvertOptions:
    """Every option of `hwgen.convert`, checked (see `convert` for what each means)."""

    input_format: FixedType | None = None
    precision: Precision | None = None
    layer_precision: Mapping[str, Precision] = field(default_factory=dict)
    mult: str = "csd"
    pipeline: int | None = None
    clock_target: float | None = None
    reuse: int | str = 1                      # a whole number >= 1 or "auto"
    layer_reuse: Mapping[str, int] = field(default_factory=dict)
    io: str = "parallel"
    target: str = "ecp5"
    split_outputs: bool = False
    step_form: str = "auto"

    @property
    def auto_reuse(self) -> bool:
        return self.reuse == "auto"

    @property
    def auto_io(self) -> bool:
        return self.io == "auto"

    def frontend(self) -> FrontendOptions:
        return FrontendOptions(self.input_format, self.precision, dict(self.layer_precision))

    def hardware(self) -> HardwareOptions:
        return HardwareOptions(self.mult, self.pipeline, 1 if self.auto_reuse else self.reuse,
                               dict(self.layer_reuse),
                               "parallel" if self.auto_io else self.io, self.clock_target,
                               self.target, self.split_outputs, self.step_form)

    def as_dict(self) -> dict:
        """The options as plain values (what `repr` and the notebook view show)."""
        d = {"mult": self.mult, "pipeline": self.pipeline, "reuse": self.reuse,
             "io": self.io, "target": self.target, "clock_target_mhz": self.clock_target,
             "input_format": str(self.input_format) if self.input_format else None,
             "precision": str(self.precision) if self.precision else None}
        if self.layer_precision:
            d["layer_precision"] = {k: str(v) for k, v in sorted(self.layer_precision.items())}
        if self.layer_reuse:
            d["layer_reuse"] = dict(sorted(self.layer_reuse.items()))
        if self.split_outputs:
            d["split_outputs"] = True
        if self.step_form != "auto":
            d["step_form"] = self.step_form
        return d


def parse(input_format=None, precision=None, mult="csd", pipeline=None, clock_target=None,
          reuse=1, io="parallel", target="ecp5", split_outputs=False,
          step_form="auto") -> ConvertOptions:
    """`ConvertOptions` from the values a user passes to `convert` (strings or objects)."""
    fmt = _format(input_format)
    glob_p, layer_p = _per_layer("precision", precision, _precision)
    if mult not in MULT_MODES:
        raise HwgenError(_choice("mult", mult, MULT_MODES))
    if pipeline is not None and (isinstance(pipeline, bool) or not isinstance(pipeline, int)
                                 or pipeline < 0):
        raise HwgenError(f"pipeline must be None (registers by the clock target) or a whole "
                         f"number of levels >= 0, not {pipeline!r}")
    clock = None if clock_target is None else parse_clock_target(clock_target, "clock_target")
    glob_r, layer_r = _per_layer("reuse", reuse, _reuse)
    if any(v == "auto" for v in layer_r.values()):
        raise HwgenError("reuse: 'auto' is for the whole model (reuse='auto' or "
                         "{'*': 'auto'}); a layer takes a whole number of cycles")
    if io not in IO_CHOICES:
        raise HwgenError(_choice("io", io, IO_CHOICES))
    if target not in TARGET_CHOICES:
        raise HwgenError(_choice("target", target, TARGET_CHOICES))
    if not isinstance(split_outputs, bool):
        raise HwgenError(f"split_outputs must be True or False, not {split_outputs!r}")
    if step_form not in STEP_FORMS:
        raise HwgenError(_choice("step_form", step_form, STEP_FORMS))
    return ConvertOptions(fmt, glob_p, layer_p, mult, pipeline, clock,
                          1 if glob_r is None else glob_r, layer_r, io, target, split_outputs,
                          step_form)


def unknown_option(name: str, known: list[str]) -> HwgenError:
    close = difflib.get_close_matches(name, known, 1) or \
        [k for k in known if name.startswith(k) or k.startswith(name)][:1]
    return HwgenError(f"convert() has no option {name!r}"
                      + (f" (did you mean {close[0]!r}?)" if close else "")
                      + f"; the options are: {', '.join(known)}")


def _choice(name: str, value, choices) -> str:
    return f"{name} must be one of {', '.join(map(repr, choices))}, not {value!r}"


def _format(value) -> FixedType | None:
    if value is None or isinstance(value, FixedType):
        return value
    if isinstance(value, str):
        return parse_precision(value, "input_format").type
    raise HwgenError(f"input_format must be a format such as 'fixed<16,6>' (or a "
                     f"hwgen.FixedType), not {value!r}")


def _precision(value, where: str) -> Precision:
    if isinstance(value, Precision):
        return value
    if isinstance(value, FixedType):
        return Precision(value)
    if isinstance(value, str):
        return parse_precision(value, where)
    raise HwgenError(f"{where} must be a format such as 'fixed<16,6>' or "
                     f"'fixed<8,3,RND_CONV,SAT>', not {value!r}")


def _reuse(value, where: str):
    if value == "auto":
        return "auto"
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise HwgenError(f"{where} must be a whole number of cycles >= 1 (1: fully "
                         f"parallel) or 'auto' (the smallest that fits the target), "
                         f"not {value!r}")
    return value


def _per_layer(name: str, value, parse_one):
    """(value for all layers or None, {layer: value}) of one value or a layer dict."""
    if value is None:
        return None, {}
    if not isinstance(value, Mapping):
        return parse_one(value, name), {}
    glob, layers = None, {}
    for key, v in value.items():
        if not isinstance(key, str) or not key:
            raise HwgenError(f"{name}: the keys of a per-layer dict are Keras layer names "
                             f"(or '*' for every other layer), not {key!r}")
        if key == ALL_LAYERS:
            glob = parse_one(v, f"{name}['*']")
        else:
            layers[key] = parse_one(v, f"{name}[{key!r}]")
    return glob, layers
