"""Pooling, channels last: MaxPooling1D/2D and GlobalMaxPooling1D/2D (a `MaxPool`),
AveragePooling1D/2D, GlobalAveragePooling1D/2D and QKeras's QAveragePooling2D and
QGlobalAveragePooling2D (a window sum, a `Conv` with a kernel of ones, then an `Average`:
TensorFlow's float32 division by the window's real pixels, and QKeras's multiplies by the
pool area and by its quantized reciprocal)."""
import numpy as np

from ...errors import UnsupportedError, layer_error
from ...ops import Average, MaxPool, Reshape
from ...ops.average import FLOAT32_EXACT
from ...ops.window import Window, image_of
from ..float32 import keras_floatx
from ..registry import handler
from .conv import pairs, push_conv, window_of


def _window(b, layer, global_pool: bool) -> Window:
    if global_pool:
        data_format = getattr(layer, "data_format", "channels_last")
        if data_format not in (None, "channels_last"):
            raise layer_error(layer.name, f"data_format='{data_format}'", "hwgen supports "
                              "channels_last (Keras's default)", UnsupportedError)
        if len(b.cur.shape) != (2 if type(layer).__name__.endswith("1D") else 3):
            raise layer_error(layer.name, f"{type(layer).__name__} on a "
                              f"{len(b.cur.shape)}-D input {b.cur.shape}",
                              "Check the model's shapes", UnsupportedError)
        h, w, _ = image_of(tuple(b.cur.shape))
        return Window((h, w), (h, w))
    size = pairs(layer, layer.pool_size)
    strides = pairs(layer, layer.strides if layer.strides is not None else layer.pool_size)
    return window_of(b, layer, size, strides, (1, 1), layer.padding)


def _pool_shape(b, win: Window) -> tuple:
    oh, ow = win.out_image
    c = b.cur.shape[-1]
    return (ow, c) if len(b.cur.shape) == 2 else (oh, ow, c)


def _keepdims(b, layer, global_pool: bool) -> None:
    """A global pool without keepdims gives (channels,)."""
    shape = tuple(layer.output_shape[1:])
    if global_pool and shape != tuple(b.cur.shape):
        b.push(Reshape, layer, "_flat", shape=shape, type=b.cur.type)


@handler("MaxPooling1D", "MaxPooling2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D",
         summary="MaxPooling1D/2D, GlobalMaxPooling1D/2D")
def max_pooling(b, layer, following) -> int:
    global_pool = type(layer).__name__.startswith("Global")
    win = _window(b, layer, global_pool)
    b.push(MaxPool, layer, shape=_pool_shape(b, win), type=b.cur.type, window=win)
    _keepdims(b, layer, global_pool)
    return 1


@handler("AveragePooling1D", "AveragePooling2D", "GlobalAveragePooling1D",
         "GlobalAveragePooling2D", "QAveragePooling2D", "QGlobalAveragePooling2D",
         summary="AveragePooling1D/2D, GlobalAveragePooling1D/2D, QAveragePooling2D, "
         "QGlobalAveragePooling2D")
def average_pooling(b, layer, following) -> int:
    cls = type(layer).__name__
    global_pool = cls.startswith("QGlobal") or cls.startswith("Global")
    win = _window(b, layer, global_pool)
    src = b.cur
    c = src.shape[-1]
    if max(-src.type.min_code, src.type.max_code) >= FLOAT32_EXACT:
        raise layer_error(layer.name, f"its input format {src.type} is 24 bits or wider, "
                          "which float32 rounds before pooling", "Quantize the input of "
                          "the pooling layer to fewer bits (a QActivation before it)",
                          UnsupportedError)
    ones = np.zeros(win.kernel + (c, c), dtype=np.int64)
    for ch in range(c):
        ones[:, :, ch, ch] = 1
    push_conv(b, layer, "_sum", win, ones, 0, None, 0, f"window sum over {win.describe()}",
              window_sum=True)
    _keepdims(b, layer, global_pool)     # before the average: its quantizer then reads it
    total = b.cur
    if max(-total.type.min_code, total.type.max_code) >= FLOAT32_EXACT:
        raise layer_error(layer.name, f"a window sum of {win.kernel[0] * win.kernel[1]} "
                          f"inputs in {src.type} can reach 2**24, where float32 sums round "
                          "in an order TensorFlow chooses", "Quantize the pooling input "
                          "to fewer bits, or pool over a smaller window", UnsupportedError)
    factors, note = [], "float32 average as TensorFlow computes it"
    quantizer = getattr(layer, "average_quantizer_internal", None) \
        if getattr(layer, "average_quantizer", None) else None
    if quantizer is not None:
        area = float(np.prod(win.kernel))
        with keras_floatx("float32"):
            q = float(np.asarray(quantizer(np.float32(1.0 / area)), dtype=np.float32))
        if q <= 0:
            raise layer_error(layer.name, f"its average quantizer maps 1/{area:g} to {q}",
                              "Give the average quantizer enough fraction bits for 1/area",
                              UnsupportedError)
        factors = [float(np.float32(area)), q]
        note += f", then * {area:g} * {q!r} (QKeras's quantized 1/{area:g})"
    count = np.repeat(win.counts.astype(np.int64), c).reshape(total.shape)
    t = Average.output_type(count, factors, total.type, layer.name)
    b.push(Average, layer, shape=total.shape, type=t, count=count, factors=tuple(factors),
           note=note)
    b.activation(getattr(layer, "activation", None), layer, following is None)
    return 1
