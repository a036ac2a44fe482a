"""QDense and Dense: a weight matrix on a flat input (on a sequence or an image: at every
position, as a 1x1 convolution), then the layer's own activation."""
import numpy as np

from ...errors import UnsupportedError, layer_error
from ...ir.bounds import dense_bounds
from ...ops import Dense
from ...ir.types import FixedType
from ..registry import handler


@handler("QDense", "Dense")
def dense(b, layer, following) -> int:
    src = b.cur
    if len(src.shape) not in (1, 2, 3):
        raise layer_error(layer.name, f"Dense on a rank-{len(src.shape)} input {src.shape} "
                          "is not supported (it reads a vector, a sequence or an image)",
                          "Add a Flatten or a Reshape before it", UnsupportedError)
    kernel = np.asarray(layer.kernel, dtype=np.float64)
    if kernel.shape[0] != src.shape[-1]:
        raise layer_error(layer.name, f"kernel shape {kernel.shape} does not fit input "
                          f"shape {src.shape}", "Check the weights file")
    prec = b.options.precision_for(layer.name)
    w, wf, w_note = b.weights(layer, "kernel", kernel, prec)
    if layer.use_bias:
        bias, bf, b_note = b.weights(layer, "bias", np.asarray(layer.bias, np.float64), prec)
    else:
        bias, bf, b_note = None, wf, "no bias"
    if len(src.shape) > 1:
        _push_pointwise(b, layer, w, wf, bias, bf if bias is not None else 0,
                        f"kernel {w_note}; bias {b_note}")
    else:
        _push_dense(b, layer, w, wf, bias, bf, f"kernel {w_note}; bias {b_note}")
    quantized = b.weight_quantizers.get(layer.name, {})
    if "kernel" not in quantized or (layer.use_bias and "bias" not in quantized):
        # Float weights were put on `prec` (else weights() raised): so is the result.
        b.quantize_to(layer, prec, "_result")
    b.activation(layer.activation, layer, following is None)
    return 1


def _push_dense(b, layer, w, wf, bias, bf, note) -> None:
    """A `Dense` node on the flat current tensor, its format from its exact bounds."""
    src = b.cur
    frac = max(src.type.frac + wf, bf)
    lo, hi = dense_bounds(w, bias, src.type.min_code, src.type.max_code, src.type.frac,
                          wf, bf, frac)
    out = FixedType.for_range(int(lo.min()), int(hi.max()), frac)
    b.push(Dense, layer, shape=(w.shape[1],), type=out, weights=w, weight_frac=wf,
           bias=bias, bias_frac=bf, note=note)


def _push_pointwise(b, layer, w, wf, bias, bf, note) -> None:
    """Dense on a sequence (length, channels) or an image (height, width, channels): Keras
    applies it to the last axis, the same weights at every position, which is a 1x1
    convolution; so it becomes one (a `Conv` node, which streams)."""
    from ...ops.window import Window, image_of
    from .conv import push_conv
    h, wd, _ = image_of(tuple(b.cur.shape))
    push_conv(b, layer, "", Window((h, wd), (1, 1)), w[None, None], wf, bias, bf,
              note + "; on every position (a 1x1 convolution)")
