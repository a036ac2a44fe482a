"""Canonical signed digit (CSD) form of integer constants: the shift-add recipe for a
constant multiplication. CSD has the fewest non-zero digits of any signed-digit form
(never two adjacent), so a product needs at most ceil(bits/2) adders. It is one of the
minimal signed-digit (MSD) forms, all with as few digits (`msd_forms`): 3 is 4 - 1 in
CSD and 2 + 1 as well, which the CMVM solver may prefer when `x + 2x` repeats."""
from __future__ import annotations

import functools


def csd_digits(value: int) -> list[tuple[int, int]]:
    """`value` as [(shift, sign)], sign in {+1, -1}: value == sum(sign << shift)."""
    digits, shift, v = [], 0, int(value)
    while v:
        if v & 1:
            d = 2 - (v & 3)          # +1 if v = 1 mod 4, -1 if v = 3 mod 4
            digits.append((shift, d))
            v -= d
        v >>= 1
        shift += 1
    return digits


def adders_for(value: int) -> int:
    """Adders/subtractors a shift-add multiplication by `value` needs (0 for 0 and powers
    of two, which are plain shifts)."""
    return max(len(csd_digits(value)) - 1, 0)


def msd_forms(value: int) -> list[tuple[tuple[int, int], ...]]:
    """Every minimal signed-digit form of `value` (as `csd_digits`, tuples of (shift,
    sign)), the CSD form first, then in a fixed order."""
    csd = tuple(csd_digits(value))
    return [csd] + [f for f in _msd(abs(int(value)), 1 if value >= 0 else -1) if f != csd]


@functools.lru_cache(maxsize=None)
def _msd(v: int, sign: int) -> tuple:
    """The minimal forms of `sign * v`, v >= 0: an odd value ends in a digit +1 or -1 and
    the rest is half of what is left (Park and Kang enumerate MSD forms the same way)."""
    if v == 0:
        return ((),)
    if v == 1:
        return (((0, sign),),)
    if v % 2 == 0:
        return tuple(tuple((s + 1, g) for s, g in f) for f in _msd(v // 2, sign))
    forms = [((0, sign * d),) + tuple((s + 1, g) for s, g in f)
             for d in (1, -1) for f in _msd((v - d) // 2, sign)]
    fewest = min(len(f) for f in forms)
    return tuple(sorted(set(f for f in forms if len(f) == fewest)))
