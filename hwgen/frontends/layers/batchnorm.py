"""BatchNormalization and QBatchNormalization: fused with a following QActivation into
one monotonic step function per channel, else a per-channel scale and shift at a given
precision."""
import numpy as np

from ...errors import UnsupportedError, layer_error
from ...ops import ScaleShift, StepFunction
from ...ir.types import FixedType, apply_overflow, float_to_codes
from .. import quantizers
from ..builder import unwrap
from ..registry import handler
from ..float32 import keras_floatx


@handler("BatchNormalization", "QBatchNormalization")
def batchnorm(b, layer, following) -> int:
    if following is not None and type(following).__name__ == "QActivation":
        _fused(b, layer, following)
        return 2
    _scale_shift(b, layer)
    return 1


def _channels(b, layer) -> int:
    channels = b.cur.shape[-1]
    axis = layer.axis if isinstance(layer.axis, int) else list(layer.axis)
    if axis not in (-1, len(b.cur.shape), [len(b.cur.shape)]):
        raise layer_error(layer.name, f"batch normalization over axis {axis}",
                          "Normalize over the last axis (channels_last)", UnsupportedError)
    return channels


def _as_input(b, v: np.ndarray) -> np.ndarray:
    """Values [n, channels] shaped as the layer's input rank wants them (a batch norm
    after a convolution reads images): [n, 1, ..., channels]."""
    return v.reshape((v.shape[0],) + (1,) * (len(b.cur.shape) - 1) + (v.shape[-1],))


def _fused(b, bn, act) -> None:
    """BN followed by a quantizer is one step function per channel (monotonic but for a
    quantizer that is not, e.g. quantized_hswish)."""
    import tensorflow as tf
    q = unwrap(act.quantizer)
    quantizers.check(q, act.name, "activation", for_weights=False)
    channels = _channels(b, bn)

    def fn(v):
        with keras_floatx("float64"):
            y = bn(tf.constant(_as_input(b, v), tf.float64), training=False)
        return quantizers.call_quantizer(q, np.asarray(y, dtype=np.float64).reshape(v.shape))
    what = f"{type(bn).__name__} + {quantizers.describe(q)}"
    th, lv, out = quantizers.step_function(fn, b.cur.type, channels, bn.name, what,
                                           quantizers.monotonic(q))
    b.push(StepFunction, bn, shape=b.cur.shape, type=out, thresholds=th, levels=lv,
           function=what, note=f"fused with '{act.name}': {what}",
           layer=f"{bn.name}+{act.name}")


def _scale_shift(b, layer) -> None:
    import tensorflow as tf
    prec = b.options.precision_for(layer.name)
    if prec is None:
        raise layer_error(layer.name, f"{type(layer).__name__} output is not on a "
                          f"fixed-point grid", "Follow it with a QActivation quantizer, or "
                          "pass --precision 'fixed<16,6>'")
    channels = _channels(b, layer)
    with keras_floatx("float64"):
        y = np.asarray(layer(tf.constant(_as_input(b, np.stack([np.zeros(channels),
                                                                np.ones(channels)])),
                                         tf.float64), training=False), np.float64)
    y = y.reshape(2, channels)
    shift_f, scale_f = y[0], y[1] - y[0]
    t = prec.type
    scale = apply_overflow(float_to_codes(scale_f, t.frac, prec.rounding), t, prec.overflow)
    shift = apply_overflow(float_to_codes(shift_f, t.frac, prec.rounding), t, prec.overflow)
    src = b.cur.type
    frac = src.frac + t.frac
    ext = [a * c for a in (src.min_code, src.max_code)
           for c in (int(scale.min()), int(scale.max()))]
    shift_hi = int(np.max(np.abs(shift))) << (frac - t.frac)
    out = FixedType.for_range(min(ext) - shift_hi, max(ext) + shift_hi, frac)
    b.push(ScaleShift, layer, shape=b.cur.shape, type=out, scale=scale, scale_frac=t.frac,
           shift=shift, shift_frac=t.frac, note=f"scale and shift at precision {prec}")
    b.quantize_to(layer, prec, "_result")
