"""The CMVM solver (`ir/cmvm.py`): shared sums are exact, save adders, respect the depth
bound and come out the same every time."""
import numpy as np
import pytest

from hwgen.ir import cmvm
from hwgen.passes.csd import csd_digits


def _columns(w):
    return [[(i, s, g) for i in range(w.shape[0]) for s, g in csd_digits(int(w[i, j]))]
            for j in range(w.shape[1])]


def _expanded(shared, cols, n_in):
    basis = [np.eye(n_in, dtype=object)[i] for i in range(n_in)]
    for s in shared:
        assert s.a < len(basis) and s.b < len(basis)       # only earlier sources
        basis.append(basis[s.a] + s.sign * basis[s.b] * 2 ** s.shift)
    w = np.zeros((n_in, len(cols)), dtype=object)
    for j, col in enumerate(cols):
        assert len({(src, t) for src, t, _ in col}) == len(col)
        for src, t, g in col:
            w[:, j] += g * basis[src] * 2 ** t
    return w


def _adders(shared, cols):
    return len(shared) + sum(max(len(c) - 1, 0) for c in cols)


@pytest.mark.parametrize("seed", range(12))
def test_shared_sums_reproduce_the_matrix_with_fewer_adders(seed):
    rng = np.random.default_rng(seed)
    n, m = rng.integers(1, 40, size=2)
    bits = int(rng.integers(2, 10))
    w = rng.integers(-2 ** (bits - 1), 2 ** (bits - 1), size=(n, m))
    w[rng.random((n, m)) < rng.choice([0, 0.5, 0.9])] = 0
    cols = _columns(w)
    shared, out = cmvm.share(cols, int(n))
    assert (_expanded(shared, out, int(n)) == w).all()
    assert _adders(shared, out) <= _adders([], cols)
    if n * m >= 64 and bits >= 4 and (w != 0).mean() > 0.3:
        assert _adders(shared, out) < 0.8 * _adders([], cols)
    lo, hi = _bounds(rng, int(n))          # by adder bits: exact too, and never worse
    shared, out = cmvm.share(cols, int(n), None, lo, hi)
    assert (_expanded(shared, out, int(n)) == w).all()
    assert _overlap_bits(shared, out, lo, hi) <= _overlap_bits([], cols, lo, hi)


def _bounds(rng, n):
    lo = -rng.integers(0, 2 ** 10, size=n) * rng.integers(0, 2, size=n)
    return lo, lo + rng.integers(1, 2 ** 12, size=n)


def _overlap_bits(shared, cols, lo, hi):
    """Adder bits of the shared sums, then of each output summed in order of shift: per
    adder, the bits where both operands (unsigned reads as wide as their ranges' spans)
    have bits."""
    basis = [np.eye(len(lo), dtype=object)[i] for i in range(len(lo))]

    def term(v, t):                  # (first bit, end bit, coefficients)
        a = sum(min(c * l, c * h) for c, l, h in zip(v, lo, hi))
        b = sum(max(c * l, c * h) for c, l, h in zip(v, lo, hi))
        return t, t + max(1, int(b - a).bit_length()), v * 2 ** t

    def add(x, y):
        if y[0] < x[0]:
            x, y = y, x
        acc = term(x[2] + y[2], 0)
        return max(0, min(x[1], y[1]) - y[0]), (x[0], acc[1], acc[2])

    total = 0
    for s in shared:
        bits, _ = add(term(basis[s.a], 0), term(s.sign * basis[s.b], s.shift))
        total += bits
        basis.append(basis[s.a] + s.sign * basis[s.b] * 2 ** s.shift)
    for col in cols:
        terms = sorted((term(g * basis[src], t) for src, t, g in col), key=lambda x: x[0])
        while len(terms) > 1:
            bits, acc = add(terms[0], terms[1])
            total += bits
            terms = [acc] + terms[2:]
    return total


@pytest.mark.parametrize("max_depth", [1, 2, 3])
def test_the_depth_bound_holds(max_depth):
    w = np.random.default_rng(1).integers(-32, 32, size=(24, 24))
    shared, out = cmvm.share(_columns(w), 24, max_depth)
    assert shared and max(s.depth for s in shared) <= max_depth
    assert (_expanded(shared, out, 24) == w).all()


def test_one_input_shares_the_digits_of_its_weights():
    # x * 5 and x * 10 and x * 20: x + 4x once, then shifts of it
    w = np.array([[5, 10, 20]])
    shared, out = cmvm.share(_columns(w), 1)
    assert len(shared) == 1 and _adders(shared, out) == 1


def test_the_result_is_deterministic():
    w = np.random.default_rng(7).integers(-64, 64, size=(30, 20))
    assert cmvm.share(_columns(w), 30) == cmvm.share(_columns(w), 30)


def test_by_adder_bits_digits_far_apart_are_not_shared():
    # x0 + x1 << 12 occurs in three outputs: by count a shared sum, but 8-bit inputs 12
    # bits apart share no adder bits; x0 + x1 << 1 (twice) does
    w = np.array([[1, 1, 1, 1, 1], [4096, 4096, 4096, 2, 2]])
    lo, hi = np.array([0, 0]), np.array([255, 255])
    by_count, _ = cmvm.share(_columns(w), 2)
    assert (0, 1, 12) in [(s.a, s.b, s.shift) for s in by_count]
    by_bits, out = cmvm.share(_columns(w), 2, None, lo, hi)
    assert [(s.a, s.b, s.shift) for s in by_bits] == [(0, 1, 1)]
    assert (_expanded(by_bits, out, 2) == w).all()


def test_nothing_to_share_leaves_the_columns():
    w = np.array([[1, 0], [0, 3]])
    shared, out = cmvm.share(_columns(w), 2)
    assert shared == [] and (_expanded(shared, out, 2) == w).all()


def _forms(w):
    from hwgen.passes.csd import msd_forms
    return [[(i, msd_forms(int(w[i, j]))) for i in range(w.shape[0]) if w[i, j]]
            for j in range(w.shape[1])]


@pytest.mark.parametrize("seed", range(6))
def test_chosen_forms_are_minimal_and_exact(seed):
    rng = np.random.default_rng(seed)
    w = rng.integers(-64, 64, size=(int(rng.integers(1, 20)), int(rng.integers(1, 20))))
    w[rng.random(w.shape) < 0.3] = 0
    lo, hi = _bounds(rng, w.shape[0])
    cols = cmvm.choose_forms(_forms(w), cmvm.span_widths(lo, hi))
    assert cols == cmvm.choose_forms(_forms(w), cmvm.span_widths(lo, hi))   # deterministic
    assert [len(c) for c in cols] == [len(c) for c in _columns(w)]          # as few digits
    shared, out = cmvm.share(cols, w.shape[0], None, lo, hi)
    assert (_expanded(shared, out, w.shape[0]) == w).all()


def test_a_form_other_than_csd_lets_outputs_share():
    # 7x and 11x: in CSD 8x - x and 16x - 4x - x share no pair; with 11x as 8x + 4x - x
    # both hold 8x - x
    w = np.array([[7, 11]])
    shared, out = cmvm.share(_columns(w), 1)
    assert _adders(shared, out) == 3
    cols = cmvm.choose_forms(_forms(w))
    shared, out = cmvm.share(cols, 1)
    assert _adders(shared, out) == 2 and (_expanded(shared, out, 1) == w).all()
