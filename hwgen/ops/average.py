"""`Average`: the float32 arithmetic that ends Keras's and QKeras's average pooling, exactly:
per element `v = float32(x)`, `v = float32(v / count)`, then `v = float32(v * c)` for each
constant `c` of `factors`, as the deployed float32 model computes it.

TensorFlow's AveragePooling and GlobalAveragePooling sum a window and divide by the number
of real (not padding) pixels in it (measured: a division, not a multiply by the
reciprocal); QKeras's QAveragePooling2D then multiplies by the pool area and by its
quantized reciprocal. Its input is a window sum (a `Conv` with a kernel of ones) below
2**24, so `float32(x)` is exact. Every float32 result is a code on a fine enough grid: the
output format holds the finest step the smallest non-zero result needs, so the op is exact
whatever follows. When every divisor and factor is a power of two the op is a shift (wires
in hardware); otherwise `passes.lower_float32_average` makes it (with the quantizer after
it) a step function of the sum.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from amaranth.hdl import Module

from ..errors import UnsupportedError
from ..ir.types import FixedType, as_codes, exact_codes
from .base import Node, register, same_shape, through
from .component import Layer, fit
from .hls_types import ap_type

FLOAT32_EXACT = 1 << 24


def _pow2(v: float) -> bool:
    m, _ = np.frexp(v)
    return v > 0 and m == 0.5


def float32_average(sums, frac: int, count, factors) -> np.ndarray:
    """The float32 values of `sums` (codes at `frac`) divided by `count` and multiplied by
    each of `factors`, each step rounded to float32 as TensorFlow does."""
    v = np.ldexp(np.asarray(sums, dtype=np.int64).astype(np.float32), -frac)
    v = (v / np.asarray(count, dtype=np.float32)).astype(np.float32)
    for c in factors:
        v = (v * np.float32(c)).astype(np.float32)
    return v


class AverageLayer(Layer):
    """The exact case: every divisor and factor a power of two, so a shift per element."""

    def compute(self, m: Module) -> list:
        node = self.node
        shifts = node.shifts(self.src.type.frac).reshape(-1)
        return [fit(m, x << int(s), node, j, "avg")
                for j, (x, s) in enumerate(zip(self.inputs, shifts))]


@register
@dataclass(eq=False, frozen=True)
class Average(Node):
    """`count` per output element (the real pixels of its window), `factors` the float32
    constants multiplied after the division."""

    count: np.ndarray = field(default=None, repr=False)
    factors: tuple[float, ...] = ()
    op = "average"

    @property
    def exact(self) -> bool:
        """Whether every step is a power-of-two scaling (no rounding anywhere)."""
        return all(_pow2(float(n)) for n in np.unique(self.count)) and \
            all(_pow2(float(c)) for c in self.factors)

    def shifts(self, in_frac: int) -> np.ndarray:
        """In the exact case, the left shift of each element's input code."""
        scale = np.log2(self.count.astype(np.float64)).astype(np.int64) - \
            int(round(sum(np.log2(c) for c in self.factors)))
        return self.type.frac - (in_frac + scale)

    @staticmethod
    def output_type(count: np.ndarray, factors, src_type: FixedType, layer: str) -> FixedType:
        """The format that holds every result exactly."""
        probe = Average(name="probe", layer=layer, shape=count.shape, type=src_type,
                        count=count, factors=tuple(factors))
        f = src_type.frac
        if probe.exact:
            scale = np.log2(count.astype(np.float64)) - sum(np.log2(c) for c in factors)
            frac = max(int(np.max(f + scale)), 0)
        else:
            smallest = float32_average(np.ones(count.shape, np.int64), f, count, factors)
            if np.any(smallest == 0):
                raise UnsupportedError(f"layer '{layer}': its average underflows float32")
            _, e = np.frexp(smallest.astype(np.float64))
            frac = int(np.max(24 - e))
        ends = [float32_average(np.full(count.shape, v, np.int64), f, count, factors)
                for v in (src_type.min_code, src_type.max_code)]
        lo = min(int(c) for c in exact_codes(np.minimum(*ends), frac)[0].ravel())
        hi = max(int(c) for c in exact_codes(np.maximum(*ends), frac)[0].ravel())
        return FixedType.for_range(lo, hi, frac)

    def evaluate(self, src, x):
        n = x.shape[0]
        s = as_codes(x).reshape(n, -1)
        if self.exact:
            sh = self.shifts(src.type.frac).reshape(1, -1)
            if s.dtype != object and int(np.max(sh, initial=0)) < 30:
                return (s << sh).reshape((n,) + tuple(self.shape))
            return as_codes(s.astype(object) * (1 << sh.astype(object))).reshape(
                (n,) + tuple(self.shape))
        v = float32_average(s, src.type.frac, self.count.reshape(1, -1), self.factors)
        codes, ok = exact_codes(v.astype(np.float64), self.type.frac)
        if not np.all(ok):           # cannot happen: the format holds the finest step
            raise ValueError(f"layer '{self.layer}': an average is off its grid {self.type}")
        return as_codes(codes).reshape((n,) + tuple(self.shape))

    def interval(self, src):
        return through(self, src)       # non-decreasing: positive divisors and factors

    def logic_levels(self) -> int:
        if not self.exact:
            raise ValueError(f"layer '{self.layer}': a rounding average has no hardware "
                             "form until LowerFloat32Average has made it a step function")
        return 0

    def stats(self):
        return 0, 0, 0

    def details(self):
        counts = sorted({int(c) for c in np.unique(self.count)})
        return [f"float32: / {counts}" + "".join(f" * {c!r}" for c in self.factors)
                + (" (exact shifts)" if self.exact else " (rounded)")]

    def component(self, src):
        if not self.exact:
            raise ValueError(f"layer '{self.layer}': a rounding average has no hardware "
                             "form until LowerFloat32Average has made it a step function")
        return AverageLayer(self, src)

    def hls_precision(self):
        if self.exact:
            return {"result": ap_type(self.type)}, None
        return None, (f"layer {self.layer} ({self.op}: its float32 division rounds; hwgen "
                      "reproduces it exactly, hls4ml multiplies by a fixed-point reciprocal)")

    def manifest_fields(self):
        return {"divisors": sorted({int(c) for c in np.unique(self.count)}),
                "factors": list(self.factors)}

    def problems(self, src):
        out = same_shape(self, src)
        if self.count is None or tuple(self.count.shape) != tuple(self.shape):
            out.append(f"count {None if self.count is None else self.count.shape} for "
                       f"shape {self.shape}")
        elif np.any(self.count < 1):
            out.append("a divisor below 1")
        if max(-src.type.min_code, src.type.max_code) >= FLOAT32_EXACT:
            out.append(f"input format {src.type} reaches 2**24: float32 would round the sum")
        return out
