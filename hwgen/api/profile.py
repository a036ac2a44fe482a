"""Numerical profiling, as hls4ml users know it: per Keras layer, the values a data set
produces against the fixed-point format hwgen gives that layer, so that a user can choose
`precision` for a float model (and see where a quantized model's formats are tight).

The values come from the model's float64 twin (`frontends/twin.py`: the same layers and
weights, sums exact, a final softmax left out so the last layer shows its logits) on the
data: for a float model, what each layer would compute without quantization; a
`keras_model` given instead is run as it is, in float32. Each layer's format is
the output format of the last IR op made from that layer (its activation's, when it has
one). Weights are profiled against the layer's `precision` where one applies.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import HwgenError
from ..ir.types import FixedType
from .results import Table

HEAD = ["layer", "values", "format", "min", "max", "format min", "format max",
        "int bits needed", "int bits", "overflow %", "underflow %"]


@dataclass
class Row:
    layer: str
    kind: str                 # "output" or "weights"
    format: FixedType
    values: np.ndarray        # flat, float64

    @property
    def lsb(self) -> float:
        return 2.0 ** -self.format.frac

    @property
    def range(self) -> tuple[float, float]:
        return self.format.min_code * self.lsb, self.format.max_code * self.lsb

    @property
    def overflow(self) -> float:
        """Share of values outside the format's range (saturated or wrapped)."""
        lo, hi = self.range
        v = self.values
        return float(np.mean((v < lo) | (v > hi))) if v.size else 0.0

    @property
    def underflow(self) -> float:
        """Share of non-zero values that round to zero (|v| below half an LSB)."""
        nz = self.values[self.values != 0]
        return float(np.mean(np.abs(nz) < self.lsb / 2)) if nz.size else 0.0

    @property
    def int_bits_needed(self) -> int:
        """Integer bits (the sign included, for a signed format) that hold every value."""
        v = self.values
        if not v.size:
            return 0
        hi, lo = float(v.max()), float(v.min())
        need = 0
        if hi > 0:
            need = math.floor(math.log2(hi)) + 1
        if lo < 0:
            need = max(need, math.ceil(math.log2(-lo)))
        return need + (1 if self.format.signed or lo < 0 else 0)

    def cells(self) -> list:
        lo, hi = self.range
        v = self.values
        return [self.layer, self.kind, str(self.format), _g(v.min()) if v.size else "",
                _g(v.max()) if v.size else "", _g(lo), _g(hi), self.int_bits_needed,
                self.format.int_bits, f"{100 * self.overflow:.2f}", f"{100 * self.underflow:.2f}"]


def _g(x) -> str:
    return f"{float(x):.6g}"


class Profile(Table):
    """The profile as a table (`rows`, `records`, notebook view) with `plot()`."""

    def __init__(self, name: str, entries: list[Row]):
        super().__init__(list(HEAD), [e.cells() for e in entries],
                         f"{name}: values against formats",
                         ["int bits needed > int bits: the format overflows (saturates or "
                          "wraps); far fewer: unused high bits. underflow: non-zero values "
                          "that round to zero."])
        self.entries = entries

    def plot(self):
        """A matplotlib figure: per layer, the distribution of log2|value| (box) over the
        magnitudes the format holds (grey: one LSB to its largest value)."""
        import matplotlib.pyplot as plt
        rows = [e for e in self.entries if np.any(e.values != 0)]
        fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.5))
        for i, e in enumerate(rows):
            lo, hi = e.range
            top = max(abs(lo), abs(hi))
            ax.barh(i, math.log2(top) - math.log2(e.lsb), left=math.log2(e.lsb), height=0.8,
                    color="0.85", zorder=0)
        data = [np.log2(np.abs(e.values[e.values != 0])) for e in rows]
        ax.boxplot(data, positions=range(len(rows)), vert=False, widths=0.5, sym=".")
        ax.set_yticks(range(len(rows)), [f"{e.layer} ({e.kind})" for e in rows])
        ax.set_xlabel("log2 |value|   (grey: the format's range, LSB to largest)")
        ax.invert_yaxis()
        fig.tight_layout()
        return fig


def profile(hw, x, keras_model=None) -> Profile:
    """Profile `hw` (a HardwareModel) on float inputs `x` [N, *input shape]."""
    import tensorflow as tf
    from ..frontends.float32 import keras_floatx
    from ..frontends.twin import build_twin
    if keras_model is None:
        model = getattr(hw.loaded, "twin", None) or build_twin(hw.loaded.model)[0]
        dtype = "float64"
    else:
        model, dtype = keras_model, "float32"
    x = np.asarray(x, dtype=dtype)
    if x.shape[1:] != hw.input_shape:
        raise HwgenError(f"profile: inputs have shape {x.shape}; the model takes (N, "
                         f"{', '.join(map(str, hw.input_shape))})")
    formats = {}          # Keras layer -> output format of its last IR op
    for node in hw.graph.nodes[1:]:
        formats[node.layer] = node.type
    layers = [layer for layer in model.layers if layer.name in formats
              and type(layer).__name__ != "InputLayer"]
    if not layers:
        raise HwgenError("profile: no layer of the Keras model maps to the IR; pass the "
                         "model hwgen converted (keras_model=None)")
    with keras_floatx(dtype):
        probe = tf.keras.Model(model.inputs, [layer.output for layer in layers])
        outs = [[] for _ in layers]
        for i in range(0, len(x), 4096):
            got = probe(x[i:i + 4096], training=False)
            for k, v in enumerate(got if len(layers) > 1 else [got]):
                outs[k].append(np.asarray(v, np.float64))
    outs = [np.concatenate(o) for o in outs]
    entries = []
    for layer, values in zip(layers, outs):
        entries.append(Row(layer.name, "output", formats[layer.name],
                           np.asarray(values, np.float64).ravel()))
        prec = hw.options.frontend().precision_for(layer.name)
        weights = layer.get_weights()
        if prec is not None and weights and not type(layer).__name__.startswith("Q"):
            entries.append(Row(layer.name, "weights", prec.type,
                               np.asarray(weights[0], np.float64).ravel()))
    return Profile(hw.name, entries)
