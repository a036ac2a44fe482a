"""Canonical signed digit (CSD) form of integer constants: the shift-add recipe for a
constant multiplication. CSD has the fewest non-zero digits of any signed-digit form
(never two adjacent), so a product needs at most ceil(bits/2) adders."""
from __future__ import annotations


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
