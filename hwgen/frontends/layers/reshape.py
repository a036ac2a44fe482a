"""Flatten and Reshape: the same codes in a new shape."""
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
