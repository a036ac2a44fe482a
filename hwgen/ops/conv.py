"""`Conv`: a convolution over a channels-last image or sequence, exactly:
`out[p, co] = sum over taps t and input channels ci of x[tap(p, t), ci] * kernel[t, ci, co]
* 2**-weight_frac + bias[co] * 2**-bias_frac`, padding pixels reading zero.

One op serves Conv1D and Conv2D (a sequence is an image of height 1), depthwise, grouped and
separable convolutions (their kernels expanded to the full [taps, in, out] form: the zeros
between groups are pruned weights and cost no hardware) and the window sums of average
pooling (a kernel of ones). The fully parallel hardware lowers it to a `LinearSum`, one adder
tree per output pixel and channel (`passes.drop_pruned_weights`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..ir.types import INT64_SAFE, as_codes
from .base import Node, align, register
from .hls_types import ap_type, codes_type
from .window import Window, image_of


@register
@dataclass(eq=False, frozen=True)
class Conv(Node):
    """`kernel` codes [kh, kw, in channels, out channels], `bias` codes [out] or None."""

    window: Window = field(default=None)
    kernel: np.ndarray = field(default=None, repr=False)
    weight_frac: int = 0
    bias: np.ndarray | None = field(default=None, repr=False)
    bias_frac: int = 0
    window_sum: bool = False    # average pooling's sum: its kernel of ones holds no weights
    op = "conv"

    @property
    def matrix(self) -> np.ndarray:
        """The kernel as [taps * in channels, out channels]."""
        k = self.kernel
        return k.reshape(k.shape[0] * k.shape[1] * k.shape[2], k.shape[3])

    def _acc(self, patches_lo, patches_hi, w):
        """patches [..., taps * in] (lo and hi ends, or the same codes twice) against
        w [taps * in, out]: (low, high) sums, in int64 when no sum can overflow it."""
        peak = max(int(np.max(np.abs(patches_lo), initial=0)),
                   int(np.max(np.abs(patches_hi), initial=0)))
        if peak * int(np.sum(np.abs(w.astype(object)))) < INT64_SAFE and w.dtype != object \
                and patches_lo.dtype != object and patches_hi.dtype != object:
            pos, neg = np.maximum(w, 0).astype(np.int64), np.minimum(w, 0).astype(np.int64)
            lo = patches_lo.astype(np.int64) @ pos + patches_hi.astype(np.int64) @ neg
            hi = patches_hi.astype(np.int64) @ pos + patches_lo.astype(np.int64) @ neg
            return lo, hi
        w = w.astype(object)
        pos, neg = np.where(w > 0, w, 0), np.where(w < 0, w, 0)
        a, b = patches_lo.astype(object), patches_hi.astype(object)
        return as_codes(a @ pos + b @ neg), as_codes(b @ pos + a @ neg)

    def _finish(self, acc, in_frac: int):
        acc = align(as_codes(acc), in_frac + self.weight_frac, self.type.frac)
        if self.bias is not None:
            acc = acc + align(as_codes(self.bias), self.bias_frac, self.type.frac)
        return as_codes(acc)

    def _patches(self, codes, n: int) -> np.ndarray:
        x = codes.reshape(n, self.window.pixels, -1)
        p = self.window.gather(x, 0)                       # [N, P, taps, C]
        return p.reshape(n, p.shape[1], -1)

    def evaluate(self, src, x):
        n = x.shape[0]
        patches = self._patches(as_codes(x).reshape((n,) + tuple(src.shape)), n)
        w = self.matrix
        # A product sum of exact codes: the low and high ends are the same sum (the
        # positive and negative weights split as the interval rule splits them).
        lo, _ = self._acc(patches, patches, w)
        out = self._finish(lo, src.type.frac)
        return out.reshape((n,) + tuple(self.shape))

    def interval(self, src):
        lo_p = self._patches(as_codes(src.lo).reshape((1,) + tuple(src.shape)), 1)[0]
        hi_p = self._patches(as_codes(src.hi).reshape((1,) + tuple(src.shape)), 1)[0]
        lo, hi = self._acc(lo_p, hi_p, self.matrix)
        return (self._finish(lo, src.type.frac).reshape(self.shape),
                self._finish(hi, src.type.frac).reshape(self.shape))

    def logic_levels(self) -> int:
        raise ValueError(f"layer '{self.layer}': a convolution has no hardware form until "
                         "DropPrunedWeights has made it a linear sum")

    @property
    def nonzero(self) -> int:
        return int(np.count_nonzero(self.kernel))

    def stats(self):
        if self.window_sum:
            return 0, 0, 0            # additions only, no weights or multiplies
        valid = (self.window.taps >= 0).astype(np.int64)               # [P, taps]
        per_tap = np.count_nonzero(self.kernel.reshape(valid.shape[1], -1), axis=1)
        return int(self.kernel.size), self.nonzero, int(np.sum(valid @ per_tap))

    def details(self):
        k = self.kernel
        if self.window_sum:
            return [f"window sum over {self.window.describe()}, {k.shape[3]} channels"]
        return [f"{self.window.describe()}, channels {k.shape[2]} -> {k.shape[3]}",
                f"kernel {k.shape} frac={self.weight_frac} nonzero={self.nonzero} "
                f"range=[{int(k.min())}, {int(k.max())}]; "
                + ("no bias" if self.bias is None else f"bias frac={self.bias_frac}")]

    def component(self, src):
        raise ValueError(f"layer '{self.layer}': a convolution has no hardware form until "
                         "DropPrunedWeights has made it a linear sum")

    def hls_precision(self):
        return {"weight": ap_type(codes_type(self.kernel, self.weight_frac)),
                "bias": ap_type(codes_type(self.bias if self.bias is not None
                                           else np.zeros(1, np.int64), self.bias_frac)),
                "accum": ap_type(self.type), "result": ap_type(self.type)}, None

    def manifest_fields(self):
        oh, ow = self.window.out_image
        return {"window": {"kernel": list(self.window.kernel),
                           "strides": list(self.window.strides),
                           "dilation": list(self.window.dilation),
                           "pads": list(self.window.pads),
                           "out_image": [oh, ow]}}

    def problems(self, src):
        try:
            h, w, c = image_of(tuple(src.shape))
            oh, ow, co = image_of(tuple(self.shape))
        except ValueError as e:
            return [str(e)]
        k = self.kernel
        out = self.window.problems()
        if self.window.image != (h, w):
            out.append(f"window image {self.window.image} for an input of {(h, w)}")
        if (oh, ow) != self.window.out_image:
            out.append(f"output image {(oh, ow)}; the window gives {self.window.out_image}")
        if k.ndim != 4 or tuple(k.shape) != tuple(self.window.kernel) + (c, co):
            out.append(f"kernel {k.shape} for a {self.window.kernel} window, {c} input and "
                       f"{co} output channels")
        if self.bias is not None and self.bias.shape != (co,):
            out.append(f"bias {self.bias.shape} for {co} output channels")
        if self.type.frac < src.type.frac + self.weight_frac or \
                (self.bias is not None and self.type.frac < self.bias_frac):
            out.append(f"output format {self.type} drops fraction bits")
        return out
