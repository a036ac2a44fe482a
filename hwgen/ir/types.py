"""Fixed-point formats and the exact integer arithmetic that moves codes between them.

A value is an integer code with a format: `value = code * 2**-frac` where
`frac = width - int_bits`. `int_bits` counts the sign bit for signed formats, as in
`ap_fixed<W,I>` (so QKeras's `quantized_bits(b, i)` with `keep_negative` is
`FixedType(True, b, i + 1)`). `int_bits` may exceed `width` or be negative: the grid
then has a negative or a larger-than-width fraction part.

All arithmetic here is on integers (numpy int64 while values provably fit, Python ints
in object arrays beyond), so widths up to 64 bits and more stay exact.
"""
from __future__ import annotations

import enum
import re
from dataclasses import dataclass

import numpy as np

from ..errors import HwgenError

# int64 arithmetic is used while every intermediate stays below this magnitude.
INT64_SAFE = 1 << 62


class Rounding(enum.Enum):
    """How a value between two grid points is mapped (names follow `ap_fixed`)."""

    TRN = "TRN"                # floor (toward minus infinity): drop the low bits
    TRN_ZERO = "TRN_ZERO"      # toward zero
    RND = "RND"                # nearest, ties toward plus infinity ("half up")
    RND_ZERO = "RND_ZERO"      # nearest, ties toward zero
    RND_MIN_INF = "RND_MIN_INF"  # nearest, ties toward minus infinity
    RND_INF = "RND_INF"        # nearest, ties away from zero
    RND_CONV = "RND_CONV"      # nearest, ties to even (tf.round, numpy.rint)


class Overflow(enum.Enum):
    """What happens to a value outside the format's range."""

    WRAP = "WRAP"          # two's complement wrap-around (keep the low bits)
    SAT = "SAT"            # clamp to [min, max]
    SAT_SYM = "SAT_SYM"    # clamp to [-max, max] (signed); same as SAT when unsigned


@dataclass(frozen=True)
class FixedType:
    """A fixed-point format: signedness, total width in bits, integer bits (incl. sign)."""

    signed: bool
    width: int
    int_bits: int

    def __post_init__(self):
        if not isinstance(self.width, int) or self.width < 1:
            raise HwgenError(f"fixed-point width must be a positive integer, not {self.width!r}")
        if not isinstance(self.int_bits, int):
            raise HwgenError(f"fixed-point integer bits must be an integer, not {self.int_bits!r}")

    @property
    def frac(self) -> int:
        """Number of fraction bits (may be negative)."""
        return self.width - self.int_bits

    @property
    def min_code(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def max_code(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    def __str__(self) -> str:
        return f"{'fixed' if self.signed else 'ufixed'}<{self.width},{self.int_bits}>"

    @staticmethod
    def for_range(lo: int, hi: int, frac: int) -> "FixedType":
        """The narrowest format holding every code in [lo, hi] at `frac` fraction bits."""
        lo, hi = int(lo), int(hi)
        if lo < 0:
            width = max(_signed_bits(lo), _signed_bits(hi), 1)
            return FixedType(True, width, width - frac)
        width = max(int(hi).bit_length(), 1)
        return FixedType(False, width, width - frac)


def _signed_bits(v: int) -> int:
    """Bits a two's complement number needs to hold v."""
    return (v.bit_length() if v >= 0 else (-v - 1).bit_length()) + 1


_PRECISION_RE = re.compile(
    r"^\s*(?:ap_)?(u?fixed)\s*<\s*(-?\d+)\s*,\s*(-?\d+)\s*(?:,\s*(?:AP_)?(\w+)\s*)?(?:,\s*(?:AP_)?(\w+)\s*)?>\s*$")


@dataclass(frozen=True)
class Precision:
    """A format plus the rounding and overflow used when a value is quantized to it."""

    type: FixedType
    rounding: Rounding = Rounding.TRN
    overflow: Overflow = Overflow.WRAP

    def __str__(self) -> str:
        t = self.type
        return (f"{'fixed' if t.signed else 'ufixed'}<{t.width},{t.int_bits},"
                f"{self.rounding.value},{self.overflow.value}>")


def parse_precision(text: str, what: str = "precision") -> Precision:
    """Parse `fixed<W,I>`, `ufixed<W,I>` or `ap_fixed<W,I,RND_CONV,SAT>`; `what` names
    the option in errors (e.g. "--input-format").

    Defaults follow `ap_fixed`: truncation (TRN) and wrap-around (WRAP).
    """
    m = _PRECISION_RE.match(text)
    if not m:
        raise HwgenError(
            f"cannot read {what} '{text}': write fixed<W,I>, ufixed<W,I> or "
            f"fixed<W,I,ROUNDING,OVERFLOW>, e.g. 'fixed<16,6>' or 'fixed<8,3,RND_CONV,SAT>'")
    kind, width, int_bits, rnd, ovf = m.groups()
    try:
        rounding = Rounding(rnd.upper()) if rnd else Rounding.TRN
        overflow = Overflow(ovf.upper()) if ovf else Overflow.WRAP
    except ValueError:
        raise HwgenError(
            f"unknown rounding or overflow mode in {what} '{text}': rounding is one of "
            f"{', '.join(r.value for r in Rounding)}; overflow one of "
            f"{', '.join(o.value for o in Overflow)}") from None
    return Precision(FixedType(kind == "fixed", int(width), int(int_bits)), rounding, overflow)


# ---------------------------------------------------------------- integer arithmetic

def as_codes(values, bound: int | None = None) -> np.ndarray:
    """An integer array: int64 if every |value| (or `bound`) is below 2**62, else object."""
    arr = np.asarray(values)
    if arr.dtype == object:
        flat = [int(v) for v in arr.ravel()]
        b = bound if bound is not None else max((abs(v) for v in flat), default=0)
        if b < INT64_SAFE:
            return np.array(flat, dtype=np.int64).reshape(arr.shape)
        out = np.empty(arr.shape, dtype=object)
        out.ravel()[:] = flat
        return out
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"codes must be integers, not {arr.dtype}")
    if bound is not None and bound >= INT64_SAFE:
        return arr.astype(object)
    return arr.astype(np.int64)


def shift_left(codes: np.ndarray, s: int) -> np.ndarray:
    """codes * 2**s, switching to Python ints when int64 could overflow."""
    if s == 0:
        return codes
    if codes.dtype != object:
        peak = int(np.max(np.abs(codes))) if codes.size else 0
        if (peak << s) >= INT64_SAFE:
            codes = codes.astype(object)
    return codes * (1 << s)


def round_shift(codes: np.ndarray, s, rounding: Rounding) -> np.ndarray:
    """codes / 2**s rounded to an integer by `rounding` (s >= 0, scalar or per element)."""
    s_arr = np.asarray(s)
    if s_arr.ndim == 0 and int(s_arr) == 0:
        return codes
    if np.any(s_arr < 0):
        raise ValueError("round_shift needs s >= 0")
    if codes.dtype == object:
        s_b = np.broadcast_to(s_arr, codes.shape).astype(object)
        one = np.ones(codes.shape, dtype=object)
    else:
        s_b = np.broadcast_to(s_arr, codes.shape).astype(np.int64)
        one = np.ones(codes.shape, dtype=np.int64)
    q = codes >> s_b
    r = codes - (q << s_b)                      # 0 <= r < 2**s
    # half = 2**(s-1); where s == 0 use 1 so that r (== 0) is neither a tie nor above.
    half = np.where(s_b > 0, one << np.maximum(s_b - 1, 0), one)
    above, tie, nonzero = r > half, r == half, r != 0
    if rounding is Rounding.TRN:
        inc = np.zeros(codes.shape, dtype=bool)
    elif rounding is Rounding.TRN_ZERO:
        inc = nonzero & (q < 0)
    elif rounding is Rounding.RND:
        inc = above | tie
    elif rounding is Rounding.RND_ZERO:
        inc = above | (tie & (q < 0))
    elif rounding is Rounding.RND_MIN_INF:
        inc = above
    elif rounding is Rounding.RND_INF:
        inc = above | (tie & (q >= 0))
    elif rounding is Rounding.RND_CONV:
        inc = above | (tie & ((q & 1) == 1))
    else:  # pragma: no cover - enum is closed
        raise ValueError(rounding)
    return q + inc.astype(np.int64)


def apply_overflow(codes: np.ndarray, t: FixedType, overflow: Overflow) -> np.ndarray:
    """Bring codes into the range of `t` by wrapping or saturating."""
    lo, hi = t.min_code, t.max_code
    if overflow is Overflow.WRAP:
        span = 1 << t.width
        wrapped = (codes - lo) % span + lo
        return as_codes(wrapped, max(abs(lo), hi)) if codes.dtype == object else wrapped
    if overflow is Overflow.SAT_SYM and t.signed:
        lo = -hi
    out = np.minimum(np.maximum(codes, lo), hi)
    return as_codes(out, max(abs(lo), hi)) if codes.dtype == object else out


def requantize(codes: np.ndarray, frac_in: int, t: FixedType, rounding: Rounding,
               overflow: Overflow) -> np.ndarray:
    """Codes at `frac_in` fraction bits re-expressed in format `t` (round, then overflow)."""
    if t.frac >= frac_in:
        moved = shift_left(codes, t.frac - frac_in)
    else:
        moved = round_shift(codes, frac_in - t.frac, rounding)
    return apply_overflow(moved, t, overflow)


def round_to_float32(codes: np.ndarray) -> np.ndarray:
    """Codes as they are after a cast of their value to float32 (24-bit significand, ties
    to even). QKeras's `quantized_relu` casts its input to float32 before rounding; the
    reference must reproduce that double rounding to stay bit-exact."""
    if codes.size == 0:
        return codes
    mags = np.abs(codes)
    if int(np.max(mags)) < (1 << 24):
        return codes
    s = np.maximum(bit_length(mags) - 24, 0)       # bits below the 24-bit significand
    rounded = round_shift(codes, s, Rounding.RND_CONV)
    if rounded.dtype == object:
        return rounded << s.astype(object)
    return rounded << s     # |rounded << s| <= 2**bit_length: fits as the input did


def bit_length(mags: np.ndarray) -> np.ndarray:
    """Bit length of non-negative integers, element-wise, exactly."""
    if mags.dtype == object:
        return np.vectorize(lambda v: int(v).bit_length(), otypes=[np.int64])(mags)
    out = np.zeros(mags.shape, dtype=np.int64)
    m = mags.astype(np.int64).copy()
    for step in (32, 16, 8, 4, 2, 1):
        big = m >= (1 << step)
        out += np.where(big, step, 0)
        m = np.where(big, m >> step, m)
    return out + (m > 0)


# ---------------------------------------------------------------- floats <-> codes

def float_to_codes(values, frac: int, rounding: Rounding = Rounding.RND_CONV) -> np.ndarray:
    """Exact codes of float values at `frac` fraction bits, rounded by `rounding` when a
    value is off the grid. Uses the float's exact (mantissa, exponent) decomposition, so
    no bit is lost at any width."""
    x = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise HwgenError("cannot quantize a non-finite value (inf or NaN)")
    mant, expo = np.frexp(x)
    mant_int = np.ldexp(mant, 53).astype(np.int64)      # exact: 53-bit significand
    shift = expo.astype(np.int64) - 53 + frac            # value * 2**frac = mant_int * 2**shift
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    right = np.minimum(right, 60)                         # |mant_int| < 2**53: beyond, all goes
    big_left = int(np.max(left, initial=0)) + 53 >= 62
    codes = mant_int.astype(object) if big_left else mant_int
    up = round_shift(codes, right, rounding)
    if big_left:
        return as_codes(up * (np.ones_like(up, dtype=object) << left.astype(object)))
    return up << left


def codes_to_float(codes: np.ndarray, frac: int) -> np.ndarray:
    """Float64 values of codes (exact while codes have at most 53 significant bits)."""
    return np.ldexp(np.asarray(codes, dtype=np.float64), -frac)


def exact_codes(values, frac: int) -> tuple[np.ndarray, np.ndarray]:
    """Codes of float values that should lie on the grid at `frac`, and a mask of those
    that do (the rest are off-grid: a mismatch, never silently rounded)."""
    x = np.asarray(values, dtype=np.float64)
    scaled = np.ldexp(x, frac)
    finite = np.isfinite(scaled)
    on_grid = finite & (np.floor(np.where(finite, scaled, 0)) == scaled) & (np.abs(scaled) < 2.0**62)
    codes = np.where(on_grid, scaled, 0).astype(np.int64)
    return codes, on_grid


def needed_frac(values) -> int:
    """The fewest fraction bits that represent every float value exactly."""
    x = np.asarray(values, dtype=np.float64).ravel()
    x = x[x != 0]
    if x.size == 0:
        return 0
    mant, expo = np.frexp(x)
    mant_int = np.ldexp(mant, 53).astype(np.int64)
    tz = np.zeros(mant_int.shape, dtype=np.int64)
    m = np.abs(mant_int)
    for step in (32, 16, 8, 4, 2, 1):
        low_zero = (m & ((1 << step) - 1)) == 0
        tz += np.where(low_zero, step, 0)
        m = np.where(low_zero, m >> step, m)
    lsb_exp = expo.astype(np.int64) - 53 + tz
    return int(-np.min(lsb_exp))
