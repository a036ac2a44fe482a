"""hls4ml's ap_fixed type names for the ops' `hls_precision` rules."""
from __future__ import annotations

import numpy as np

from ..ir.types import FixedType


def ap_type(t: FixedType, rounding=None, overflow=None) -> str:
    modes = ""
    if rounding is not None:
        modes = f",AP_{rounding.name},AP_{overflow.name}"
    return f"ap_{'' if t.signed else 'u'}fixed<{t.width},{t.int_bits}{modes}>"


def codes_type(codes: np.ndarray, frac: int) -> FixedType:
    lo, hi = int(np.min(codes)), int(np.max(codes))
    return FixedType.for_range(min(lo, 0), max(hi, 0), frac)
