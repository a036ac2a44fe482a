"""FixedType, rounding and overflow modes, and exact float <-> code conversion."""
from fractions import Fraction
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from hwgen.errors import HwgenError
from hwgen.ir.types import (FixedType, Overflow, Rounding, apply_overflow, float_to_codes,
                            needed_frac, parse_precision, requantize, round_shift,
                            round_to_float32)


def reference_round(value: Fraction, mode: Rounding) -> int:
    """Rounding written from the definitions, on exact rationals."""
    fl = math.floor(value)
    rest = value - fl
    if rest == 0:
        return fl
    half = Fraction(1, 2)
    if mode is Rounding.TRN:
        return fl
    if mode is Rounding.TRN_ZERO:
        return fl if value > 0 else fl + 1
    if rest != half:
        return fl + (rest > half)
    return {Rounding.RND: fl + 1, Rounding.RND_ZERO: fl + (value < 0),
            Rounding.RND_MIN_INF: fl, Rounding.RND_INF: fl + (value > 0),
            Rounding.RND_CONV: fl + (fl % 2)}[mode]


@settings(max_examples=300, deadline=None)
@given(codes=st.lists(st.integers(-2**70, 2**70), min_size=1, max_size=20),
       shift=st.integers(0, 80), mode=st.sampled_from(list(Rounding)))
def test_round_shift_matches_definition_at_any_width(codes, shift, mode):
    arr = np.array(codes, dtype=object)
    got = round_shift(arr, shift, mode)
    assert [int(g) for g in got] == [reference_round(Fraction(c, 2**shift), mode) for c in codes]


@settings(max_examples=200, deadline=None)
@given(codes=st.lists(st.integers(-2**40, 2**40), min_size=1, max_size=20),
       shift=st.integers(0, 45), mode=st.sampled_from(list(Rounding)))
def test_int64_and_python_int_paths_agree(codes, shift, mode):
    as64 = round_shift(np.array(codes, dtype=np.int64), shift, mode)
    asobj = round_shift(np.array(codes, dtype=object), shift, mode)
    assert as64.dtype == np.int64
    assert [int(v) for v in as64] == [int(v) for v in asobj]


def test_named_rounding_cases():
    ties = np.array([-10, -6, -2, 2, 6, 10])        # -2.5 -1.5 -0.5 0.5 1.5 2.5 at s=2
    assert round_shift(ties, 2, Rounding.RND_CONV).tolist() == [-2, -2, 0, 0, 2, 2]
    assert round_shift(ties, 2, Rounding.RND).tolist() == [-2, -1, 0, 1, 2, 3]
    assert round_shift(ties, 2, Rounding.RND_INF).tolist() == [-3, -2, -1, 1, 2, 3]
    assert round_shift(ties, 2, Rounding.RND_ZERO).tolist() == [-2, -1, 0, 0, 1, 2]
    assert round_shift(ties, 2, Rounding.TRN).tolist() == [-3, -2, -1, 0, 1, 2]
    assert round_shift(ties, 2, Rounding.TRN_ZERO).tolist() == [-2, -1, 0, 0, 1, 2]


def test_overflow_modes():
    t = FixedType(True, 4, 4)                          # codes -8..7
    codes = np.array([-9, -8, 0, 7, 8, 17])
    assert apply_overflow(codes, t, Overflow.WRAP).tolist() == [7, -8, 0, 7, -8, 1]
    assert apply_overflow(codes, t, Overflow.SAT).tolist() == [-8, -8, 0, 7, 7, 7]
    assert apply_overflow(codes, t, Overflow.SAT_SYM).tolist() == [-7, -7, 0, 7, 7, 7]
    u = FixedType(False, 3, 1)                         # codes 0..7
    assert apply_overflow(np.array([-1, 9]), u, Overflow.SAT).tolist() == [0, 7]
    assert apply_overflow(np.array([-1, 9]), u, Overflow.WRAP).tolist() == [7, 1]


def test_fixed_type_grid():
    t = FixedType(True, 6, 1)                          # quantized_bits(6, 0)
    assert (t.frac, t.min_code, t.max_code) == (5, -32, 31)
    assert str(FixedType(False, 8, 10)) == "ufixed<8,10>" and FixedType(False, 8, 10).frac == -2
    assert FixedType.for_range(-5, 3, 2) == FixedType(True, 4, 2)
    assert FixedType.for_range(0, 256, 0) == FixedType(False, 9, 9)
    assert FixedType.for_range(-1, 0, 3) == FixedType(True, 1, -2)
    with pytest.raises(HwgenError):
        FixedType(True, 0, 0)


def test_requantize_moves_between_grids():
    codes = np.array([5, -5, 100])                     # at 3 fraction bits
    t = FixedType(True, 5, 4)                          # 1 fraction bit, codes -16..15
    assert requantize(codes, 3, t, Rounding.RND_CONV, Overflow.SAT).tolist() == [1, -1, 15]
    assert requantize(np.array([3]), 1, FixedType(True, 8, 4), Rounding.TRN,
                      Overflow.WRAP).tolist() == [24]


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False, width=64),
       st.integers(-20, 80), st.sampled_from(list(Rounding)))
def test_float_to_codes_is_exact(value, frac, mode):
    got = int(float_to_codes(np.array([value]), frac, mode)[0])
    assert got == reference_round(Fraction(value) * Fraction(2) ** frac, mode)


def test_64_bit_codes_survive():
    t = FixedType(True, 64, 10)
    big = np.array([t.max_code, t.min_code, t.max_code - 1], dtype=object)
    moved = requantize(big, 54, FixedType(True, 66, 12), Rounding.RND_CONV, Overflow.SAT)
    assert [int(v) for v in moved] == [int(v) for v in big]
    assert int(float_to_codes(np.array([2.0**62 + 2.0**10]), 0)[0]) == 2**62 + 2**10


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(-2**52, 2**52), min_size=1, max_size=10))
def test_round_to_float32_matches_numpy_cast(codes):
    arr = np.array(codes, dtype=np.int64)
    expect = [int(v) for v in np.array(codes, dtype=np.float64).astype(np.float32)]
    assert round_to_float32(arr).tolist() == expect


def test_needed_frac():
    assert needed_frac([0.5, 0.25, 3.0]) == 2
    assert needed_frac([8.0, 0.0]) == -3
    assert needed_frac([0.0]) == 0


def test_parse_precision():
    p = parse_precision("ap_fixed<8,3,AP_RND_CONV,AP_SAT>")
    assert (p.type, p.rounding, p.overflow) == (FixedType(True, 8, 3), Rounding.RND_CONV,
                                                Overflow.SAT)
    q = parse_precision("ufixed<6,2>")
    assert (q.type, q.rounding, q.overflow) == (FixedType(False, 6, 2), Rounding.TRN,
                                                Overflow.WRAP)
    with pytest.raises(HwgenError, match="cannot read precision 'fixed16'"):
        parse_precision("fixed16")
    with pytest.raises(HwgenError, match="unknown rounding or overflow mode"):
        parse_precision("fixed<8,3,ROUNDY>")
