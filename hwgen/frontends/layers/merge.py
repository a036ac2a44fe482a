"""The Keras merge layers: Add, Subtract, Average, Multiply, Maximum, Minimum, Concatenate.

Keras computes them on the float values of their inputs; in the twin those are exact
(float64 holds the fixed-point sums and products), and the ops compute them exactly on
codes (hwgen/ops/add.py and the others). Where QKeras's float32 would round a wide result,
the quantizer after it sees that rounding, as after a dense layer.
"""
import numpy as np

from ...errors import UnsupportedError, layer_error
from ...ir.types import FixedType
from ...ops import Add, Concatenate, Extremum, Multiply
from ...ops.multiply import product_bounds
from ..registry import handler


def _same_shapes(layer, sources) -> tuple:
    shapes = [tuple(s.shape) for s in sources]
    if len(sources) < 2:
        raise layer_error(layer.name, f"{type(layer).__name__} has {len(sources)} input",
                          "A merge layer takes two or more tensors", UnsupportedError)
    if len(set(shapes)) != 1:
        raise layer_error(layer.name, f"{type(layer).__name__} of shapes "
                          f"{', '.join(map(str, shapes))}: hwgen merges tensors of one "
                          "shape (no broadcasting)", "Reshape or repeat the smaller tensor "
                          "to the same shape first", UnsupportedError)
    return shapes[0]


def _bounds(sources, frac: int) -> list[tuple[int, int]]:
    """Each source's code range at `frac` fraction bits (its type's, moved exactly)."""
    return [(s.type.min_code << (frac - s.type.frac), s.type.max_code << (frac - s.type.frac))
            for s in sources]


@handler("Add", "Subtract", "Average", merge=True)
def add(b, layer, following) -> int:
    sources = b.sources
    shape = _same_shapes(layer, sources)
    cls = type(layer).__name__
    n = len(sources)
    signs = (1, -1) if cls == "Subtract" else (1,) * n
    scale = 0
    if cls == "Average":
        if n & (n - 1):
            raise layer_error(layer.name, f"Average of {n} tensors divides by {n}, which "
                              "has no exact fixed-point result", "Average 2, 4, 8, ... "
                              "tensors, or Add them and scale after", UnsupportedError)
        scale = n.bit_length() - 1
    frac = max(s.type.frac for s in sources)
    lo = hi = 0
    for sign, (a, z) in zip(signs, _bounds(sources, frac)):
        lo, hi = (lo + a, hi + z) if sign > 0 else (lo - z, hi - a)
    out = FixedType.for_range(lo, hi, frac + scale)
    b.push(Add, layer, inputs=[s.name for s in sources], shape=shape, type=out,
           signs=signs, scale_bits=scale, note=cls.lower())
    return 1


@handler("Multiply", merge=True)
def multiply(b, layer, following) -> int:
    sources = b.sources
    shape = _same_shapes(layer, sources)
    lo, hi = product_bounds([(np.array(s.type.min_code, dtype=object),   # exact ints
                              np.array(s.type.max_code, dtype=object)) for s in sources])
    out = FixedType.for_range(int(lo), int(hi), sum(s.type.frac for s in sources))
    b.push(Multiply, layer, inputs=[s.name for s in sources], shape=shape, type=out,
           note="multiply")
    return 1


@handler("Maximum", "Minimum", merge=True)
def extremum(b, layer, following) -> int:
    sources = b.sources
    shape = _same_shapes(layer, sources)
    frac = max(s.type.frac for s in sources)
    bounds = _bounds(sources, frac)
    pick = max if type(layer).__name__ == "Maximum" else min
    out = FixedType.for_range(pick(a for a, _ in bounds), pick(z for _, z in bounds), frac)
    b.push(Extremum, layer, inputs=[s.name for s in sources], shape=shape, type=out,
           kind="max" if pick is max else "min", note=type(layer).__name__.lower())
    return 1


@handler("Concatenate", merge=True)
def concatenate(b, layer, following) -> int:
    sources = b.sources
    if len(sources) < 2:
        raise layer_error(layer.name, f"Concatenate has {len(sources)} input",
                          "A merge layer takes two or more tensors", UnsupportedError)
    rank = len(sources[0].shape)
    if layer.axis in (0, -1 - rank) or not -1 - rank <= layer.axis <= rank:
        raise layer_error(layer.name, f"Concatenate on axis {layer.axis} joins along the "
                          "batch", "Concatenate along a feature axis (e.g. axis=-1)",
                          UnsupportedError)
    axis = layer.axis % (rank + 1) - 1          # Keras counts the batch axis
    try:
        shape = np.concatenate([np.zeros(s.shape) for s in sources], axis=axis).shape
    except ValueError:
        raise layer_error(layer.name, "Concatenate of shapes " + ", ".join(
            str(tuple(s.shape)) for s in sources) + f" on axis {layer.axis}",
            "The shapes must agree except on the axis", UnsupportedError) from None
    frac = max(s.type.frac for s in sources)
    bounds = _bounds(sources, frac)
    out = FixedType.for_range(min(a for a, _ in bounds), max(z for _, z in bounds), frac)
    b.push(Concatenate, layer, inputs=[s.name for s in sources], shape=tuple(shape),
           type=out, axis=axis, note="concatenate")
    return 1
