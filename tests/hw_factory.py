"""Random IR graphs built directly (no TensorFlow) for hardware tests: every lowered op,
random widths 1-16, signed and unsigned, dense and sparse weights, every rounding and
overflow mode."""
from __future__ import annotations

import numpy as np

from hwgen.ir.bounds import dense_bounds
from hwgen.ir.graph import Graph
from hwgen.ops import Dense, Input, Quantize, Relu, ScaleShift, StepFunction
from hwgen.ir.types import FixedType, Overflow, Rounding


def _type(rng, signed=None, lo_w=1, hi_w=16):
    signed = bool(rng.integers(0, 2)) if signed is None else signed
    w = int(rng.integers(max(lo_w, 2 if signed else 1), hi_w + 1))
    return FixedType(signed, w, int(rng.integers(-2, w + 3)))


def _dense(rng, name, src, n_out, sparsity):
    n_in = src.size
    wbits = int(rng.integers(1, 9))
    w = rng.integers(-(1 << (wbits - 1)) if wbits > 1 else -1, (1 << (wbits - 1)) + 1,
                     size=(n_in, n_out))
    w[rng.random(w.shape) < sparsity] = 0
    wf = int(rng.integers(0, 6))
    bias = rng.integers(-64, 65, size=n_out)
    bf = int(rng.integers(0, 6))
    frac = max(src.type.frac + wf, bf)
    lo, hi = dense_bounds(w, bias, src.type.min_code, src.type.max_code, src.type.frac, wf,
                          bf, frac)
    t = FixedType.for_range(min(int(lo.min()), 0), max(int(hi.max()), 0), frac)
    return Dense(name, name, (n_out,), t, (src.name,), "QDense", weights=w.astype(np.int64),
                 weight_frac=wf, bias=bias.astype(np.int64), bias_frac=bf)


def random_graph(seed: int, signed_input: bool | None = None, sparsity: float = 0.0,
                 n_in: int | None = None) -> Graph:
    rng = np.random.default_rng(seed)
    n_in = n_in or int(rng.integers(1, 9))
    x = Input("input", "input", (n_in,), _type(rng, signed_input), origin="InputLayer")
    d1 = _dense(rng, "dense1", x, int(rng.integers(1, 9)), sparsity)
    q_t = _type(rng)
    q = Quantize("quant1", "quant1", d1.shape, q_t, (d1.name,), "QActivation",
                 rounding=list(Rounding)[int(rng.integers(0, len(Rounding)))],
                 overflow=list(Overflow)[int(rng.integers(0, len(Overflow)))])
    r_t = FixedType(False, max(q_t.width - 1, 1) if q_t.signed else q_t.width,
                    (max(q_t.width - 1, 1) if q_t.signed else q_t.width) - q_t.frac)
    relu = Relu("relu1", "relu1", q.shape, r_t, (q.name,), "Activation")
    d2 = _dense(rng, "dense2", relu, int(rng.integers(1, 7)), sparsity)
    # per-channel step function over the accumulator (a BN + quantizer folded by the frontend)
    c = d2.size
    k = int(rng.integers(1, 6))
    s_t = _type(rng, signed=True, hi_w=8)
    th = np.sort(rng.integers(d2.type.min_code, d2.type.max_code + 1, size=(c, k)), axis=1)
    lv = np.sort(rng.integers(s_t.min_code, s_t.max_code + 1, size=(c, k + 1)), axis=1)
    step = StepFunction("step", "step", d2.shape, s_t, (d2.name,), "QActivation",
                        thresholds=th.astype(np.int64), levels=lv.astype(np.int64),
                        function="random")
    scale = rng.integers(-8, 9, size=c)
    shift = rng.integers(-16, 17, size=c)
    sf, hf = int(rng.integers(0, 3)), int(rng.integers(0, 3))
    frac = max(s_t.frac + sf, hf)
    ends = [int(a) * int(b) for a in (s_t.min_code, s_t.max_code) for b in scale]
    lo = min(ends) * (1 << (frac - s_t.frac - sf)) + int(shift.min()) * (1 << (frac - hf))
    hi = max(ends) * (1 << (frac - s_t.frac - sf)) + int(shift.max()) * (1 << (frac - hf))
    ss = ScaleShift("affine", "affine", step.shape, FixedType.for_range(min(lo, 0), hi, frac),
                    (step.name,), "QBatchNormalization", scale=scale.astype(np.int64),
                    scale_frac=sf, shift=shift.astype(np.int64), shift_frac=hf)
    return Graph([x, d1, q, relu, d2, step, ss], name=f"random{seed}",
                 softmax_removed=bool(rng.integers(0, 2)) and ss.size > 1)


def dense_graph(n: int = 16, bits: int = 6, seed: int = 1):
    """One dense n x n layer of `bits`-bit weights, no bias, 8-bit inputs: at n = 16,
    more logic cells than the iCE40 UP5K has."""
    rng = np.random.default_rng(seed)
    x = Input("input", "input", (n,), FixedType(True, 8, 2), origin="InputLayer")
    w = rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), size=(n, n))
    lo, hi = dense_bounds(w, None, x.type.min_code, x.type.max_code, x.type.frac, 4, 0, 10)
    d = Dense("fc", "fc", (n,), FixedType.for_range(int(lo.min()), int(hi.max()), 10),
              ("input",), "QDense", weights=w.astype(np.int64), weight_frac=4, bias=None)
    return Graph([x, d], name="big")


def scale_shift_graph(seed: int, channels: int = 8, bits: int = 9):
    """A signed input through a per-channel ScaleShift (a batch normalization kept apart)
    with `bits`-bit scales: zero, one, minus one, powers of two and random ones."""
    rng = np.random.default_rng(seed)
    x = Input("input", "input", (channels,), _type(rng, signed=True, lo_w=6, hi_w=12),
              origin="InputLayer")
    limit = 1 << (bits - 1)
    scale = rng.integers(-limit, limit, size=channels)
    scale[:4] = [0, 1, -1, 1 << (bits - 2)][:channels]
    shift = rng.integers(-64, 65, size=channels)
    sf, hf = int(rng.integers(0, 4)), int(rng.integers(0, 4))
    frac = max(x.type.frac + sf, hf)
    ends = [int(a) * int(b) for a in (x.type.min_code, x.type.max_code) for b in scale]
    lo = min(ends) * (1 << (frac - x.type.frac - sf)) + int(shift.min()) * (1 << (frac - hf))
    hi = max(ends) * (1 << (frac - x.type.frac - sf)) + int(shift.max()) * (1 << (frac - hf))
    ss = ScaleShift("bn", "bn", x.shape, FixedType.for_range(min(lo, 0), max(hi, 0), frac),
                    (x.name,), "QBatchNormalization", scale=scale.astype(np.int64),
                    scale_frac=sf, shift=shift.astype(np.int64), shift_frac=hf)
    return Graph([x, ss], name=f"bn{seed}")
