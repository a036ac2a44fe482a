"""Flatten and Reshape: the same codes in a new shape; Permute: the codes in a new order."""
import numpy as np

from ...errors import layer_error
from ...ops import Reshape
from ..registry import handler


@handler("Flatten", "Reshape")
def reshape(b, layer, following) -> int:
    shape = tuple(layer.output_shape[1:])
    if int(np.prod(shape)) != b.cur.size:
        raise layer_error(layer.name, f"reshape from {b.cur.shape} to {shape} changes "
                          f"the number of elements", "Fix the target shape")
    b.push(Reshape, layer, shape=shape, type=b.cur.type)
    return 1


@handler("Permute")
def permute(b, layer, following) -> int:
    """Permute: the axes reordered, which moves codes without computing (a `Gather`,
    wires in hardware; as a transpose it does not stream, so a stream ends before it)."""
    from ...ops import Gather
    dims = tuple(int(d) - 1 for d in layer.dims)       # Keras counts from 1 (the batch is 0)
    shape = tuple(b.cur.shape[d] for d in dims)
    index = np.arange(b.cur.size).reshape(b.cur.shape).transpose(dims).reshape(-1)
    b.push(Gather, layer, shape=shape, type=b.cur.type, index=index,
           what=f"permute {tuple(d + 1 for d in dims)}")
    return 1
