"""`Dense`: a fully connected layer on a flat input, `x @ weights * 2**-weight_frac +
bias * 2**-bias_frac`, exactly. The hardware pipeline lowers it to a `LinearSum`."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..ir.bounds import dense_bounds
from ..ir.types import INT64_SAFE, as_codes
from .hls_types import ap_type, codes_type
from .base import Node, align, register


@register
@dataclass(eq=False, frozen=True)
class Dense(Node):
    """Weights [in, out] and bias [out] as codes."""

    weights: np.ndarray = field(default=None)
    weight_frac: int = 0
    bias: np.ndarray = field(default=None)
    bias_frac: int = 0
    op = "dense"

    @property
    def nonzero(self) -> int:
        return int(np.count_nonzero(self.weights))

    def evaluate(self, src, x):
        x = x.reshape(x.shape[0], -1)
        acc_frac = src.type.frac + self.weight_frac
        w = self.weights
        lo, hi = dense_bounds(w, None, src.type.min_code, src.type.max_code, src.type.frac,
                              self.weight_frac, 0, self.type.frac)
        if max(-int(lo.min()), int(hi.max())) < INT64_SAFE and w.dtype != object \
                and x.dtype != object:
            acc = x.astype(np.int64) @ w.astype(np.int64)
        else:
            acc = x.astype(object) @ w.astype(object)
        acc = align(acc, acc_frac, self.type.frac)
        if self.bias is not None:
            acc = acc + align(self.bias, self.bias_frac, self.type.frac)
        return as_codes(acc) if acc.dtype == object else acc

    def interval(self, src):
        return dense_bounds(self.weights, self.bias, src.lo, src.hi, src.type.frac,
                            self.weight_frac, self.bias_frac, self.type.frac)

    def logic_levels(self) -> int:
        raise ValueError(f"layer '{self.layer}': a dense layer has no hardware form until "
                         "LowerConstantMultiplies has made it a linear sum")

    def stats(self):
        return int(self.weights.size), self.nonzero, self.nonzero

    def details(self):
        return [f"weights {self.weights.shape} frac={self.weight_frac} "
                f"nonzero={self.nonzero} range=[{int(self.weights.min())}, "
                f"{int(self.weights.max())}]; bias frac={self.bias_frac}"]

    def component(self, src):
        raise ValueError(f"layer '{self.layer}': a dense layer has no hardware form until "
                         "LowerConstantMultiplies has made it a linear sum")

    def hls_precision(self):
        return {"weight": ap_type(codes_type(self.weights, self.weight_frac)),
                "bias": ap_type(codes_type(self.bias if self.bias is not None
                                           else np.zeros(1, np.int64), self.bias_frac)),
                "accum": ap_type(self.type), "result": ap_type(self.type)}, None

    def manifest_fields(self):
        return {}

    def problems(self, src):
        out = []
        if self.weights.shape != (src.size, self.size):
            out.append(f"weights {self.weights.shape} for {src.size} inputs and "
                       f"{self.size} outputs")
        if self.bias is not None and self.bias.shape != (self.size,):
            out.append(f"bias {self.bias.shape} for {self.size} outputs")
        return out
