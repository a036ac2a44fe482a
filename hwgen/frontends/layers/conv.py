"""Convolutions, channels last: Conv1D/2D, DepthwiseConv1D/2D, SeparableConv1D/2D and their
QKeras forms, with strides, dilation, groups, 'valid', 'same' and (1-D) 'causal' padding,
with or without bias, then the layer's own activation.

Each becomes a `Conv` node with the kernel in full [kh, kw, in, out] form (a depthwise or
grouped kernel is block-diagonal there: its zeros are pruned weights); a separable layer is
its depthwise `Conv` then its pointwise one, exact in between as Keras's float32 layer is
to the float64 twin.
"""
import numpy as np

from ...errors import UnsupportedError, layer_error
from ...ir.types import FixedType
from ...ops import Conv
from ...ops.window import Window, image_of, same_pads
from ..builder import SEPARABLE_DEPTHWISE
from ..registry import handler

ONE_D = ("Conv1D", "QConv1D", "DepthwiseConv1D", "SeparableConv1D", "QSeparableConv1D")


def window_of(b, layer, kernel, strides, dilation, padding) -> Window:
    """The window of a layer over the current tensor; `kernel`, `strides`, `dilation` as
    (rows, columns) pairs (a 1-D layer's rows are 1)."""
    src = b.cur
    one_d = type(layer).__name__.endswith("1D")
    want = 2 if one_d else 3
    if len(src.shape) != want:
        raise layer_error(layer.name, f"{type(layer).__name__} on a rank-{len(src.shape)} "
                          f"input {src.shape}", f"It reads {'(length, channels)' if one_d else '(height, width, channels)'} "
                          "tensors: add a Reshape before it", UnsupportedError)
    data_format = getattr(layer, "data_format", "channels_last")
    if data_format not in (None, "channels_last"):
        raise layer_error(layer.name, f"data_format='{data_format}'", "hwgen supports "
                          "channels_last (Keras's default); build the model channels-last "
                          "(TensorFlow runs channels_first convolutions only on GPUs)",
                          UnsupportedError)
    h, w, _ = image_of(tuple(src.shape))
    padding = str(padding).lower()
    if padding == "valid":
        pads = (0, 0, 0, 0)
    elif padding == "same":
        pads = same_pads(h, kernel[0], strides[0], dilation[0]) + \
            same_pads(w, kernel[1], strides[1], dilation[1])
    elif padding == "causal" and one_d:
        pads = (0, 0, (kernel[1] - 1) * dilation[1], 0)
    else:
        raise layer_error(layer.name, f"padding='{padding}'", "Use 'valid' or 'same' "
                          "(or 'causal' for 1-D convolutions)", UnsupportedError)
    if (strides != (1, 1)) and (dilation != (1, 1)):
        raise layer_error(layer.name, "strides and dilation both above 1", "Keras itself "
                          "refuses this; use one of them", UnsupportedError)
    win = Window((h, w), kernel, strides, dilation, pads)
    if min(win.out_image) < 1:
        raise layer_error(layer.name, f"its window ({win.describe()}) has no output pixel "
                          f"on a {h}x{w} input", "Use a smaller kernel or 'same' padding",
                          UnsupportedError)
    return win


def pairs(layer, value) -> tuple[int, int]:
    """A Keras size argument as (rows, columns): 1-D layers give one number."""
    v = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if type(layer).__name__.endswith("1D"):
        return (1, int(v[0]))
    return (int(v[0]), int(v[-1]))


def out_shape(src_shape, win: Window, channels: int) -> tuple:
    oh, ow = win.out_image
    return (ow, channels) if len(src_shape) == 2 else (oh, ow, channels)


def push_conv(b, layer, suffix, win, kernel, wf, bias, bf, note, window_sum=False) -> None:
    """A `Conv` node on the current tensor, its format from its exact output bounds."""
    src = b.cur
    frac = max(src.type.frac + wf, bf) if bias is not None else src.type.frac + wf
    shape = out_shape(src.shape, win, kernel.shape[3])
    probe = Conv(name="probe", layer=layer.name, shape=shape, type=FixedType(True, 2, 2 - frac),
                 window=win, kernel=kernel, weight_frac=wf, bias=bias, bias_frac=bf)
    ends = type("Ends", (), {"lo": np.full(src.shape, src.type.min_code, dtype=object),
                             "hi": np.full(src.shape, src.type.max_code, dtype=object),
                             "shape": src.shape, "type": src.type})
    lo, hi = probe.interval(ends)
    out = FixedType.for_range(int(np.min(lo)), int(np.max(hi)), frac)
    b.push(Conv, layer, suffix, shape=shape, type=out, window=win, kernel=kernel,
           weight_frac=wf, bias=bias, bias_frac=bf, note=note, window_sum=window_sum)


def expand_depthwise(dk: np.ndarray) -> np.ndarray:
    """A depthwise kernel [kh, kw, C, M] as a full one [kh, kw, C, C*M] (Keras orders the
    outputs channel-major: input channel c gives outputs c*M .. c*M+M-1)."""
    kh, kw, c, mult = dk.shape
    full = np.zeros((kh, kw, c, c * mult), dtype=dk.dtype)
    for ci in range(c):
        full[:, :, ci, ci * mult:(ci + 1) * mult] = dk[:, :, ci, :]
    return full


def expand_groups(k: np.ndarray, groups: int) -> np.ndarray:
    """A grouped kernel [kh, kw, C/g, O] as a full one [kh, kw, C, O]."""
    kh, kw, cg, o = k.shape
    og = o // groups
    full = np.zeros((kh, kw, cg * groups, o), dtype=k.dtype)
    for g in range(groups):
        full[:, :, g * cg:(g + 1) * cg, g * og:(g + 1) * og] = k[:, :, :, g * og:(g + 1) * og]
    return full


def _kernel(b, layer, role, values, prec):
    """(codes [kh, kw, in, out] as Keras holds them, 1-D kernels given a row axis; frac;
    note)."""
    codes, frac, note = b.weights(layer, role, values, prec)
    if codes.ndim == 3:
        codes = codes[None]
    return codes, frac, note


# QConv2DBatchnorm and QDepthwiseConv2DBatchnorm reach here as the QConv2D and
# QDepthwiseConv2D that the twin makes of them, with their folded, quantized kernel and
# bias (`twin.BATCHNORM_FOLDED`); they are named here for the list of supported layers.
@handler("QConv1D", "Conv1D", "QConv2D", "Conv2D", "QDepthwiseConv2D", "DepthwiseConv2D",
         "DepthwiseConv1D", "QSeparableConv1D", "SeparableConv1D", "QSeparableConv2D",
         "SeparableConv2D", "QConv2DBatchnorm", "QDepthwiseConv2DBatchnorm",
         summary="QConv1D, Conv1D, QConv2D, Conv2D, QDepthwiseConv2D, "
         "DepthwiseConv1D/2D, QSeparableConv1D/2D, SeparableConv1D/2D, QConv2DBatchnorm, "
         "QDepthwiseConv2DBatchnorm")
def conv(b, layer, following) -> int:
    cls = type(layer).__name__
    prec = b.options.precision_for(layer.name)
    kernel_size = pairs(layer, layer.kernel_size)
    win = window_of(b, layer, kernel_size, pairs(layer, layer.strides),
                    pairs(layer, layer.dilation_rate), layer.padding)
    c_in = b.cur.shape[-1]
    float_roles = []
    quantized = b.weight_quantizers.get(layer.name, {})

    def bias_codes():
        if not layer.use_bias:
            return None, 0, "no bias"
        float_roles.extend([] if "bias" in quantized else ["bias"])
        return b.weights(layer, "bias", np.asarray(layer.bias, np.float64), prec)
    if "Depthwise" in cls or "Separable" in cls:
        dk, dwf, d_note = _kernel(b, layer, "depthwise_kernel",
                                  np.asarray(layer.depthwise_kernel, np.float64), prec)
        float_roles += [] if "depthwise_kernel" in quantized else ["depthwise_kernel"]
        full = expand_depthwise(dk)
        if "Depthwise" in cls:
            bias, bf, b_note = bias_codes()
            push_conv(b, layer, "", win, full, dwf, bias, bf,
                      f"depthwise kernel {d_note}; bias {b_note}")
        else:
            push_conv(b, layer, SEPARABLE_DEPTHWISE, win, full, dwf, None, 0,
                      f"depthwise kernel {d_note}")
            pk, pwf, p_note = _kernel(b, layer, "pointwise_kernel",
                                      np.asarray(layer.pointwise_kernel, np.float64), prec)
            float_roles += [] if "pointwise_kernel" in quantized else ["pointwise_kernel"]
            bias, bf, b_note = bias_codes()
            point = Window(win.out_image, (1, 1))
            push_conv(b, layer, "", point, pk, pwf, bias, bf,
                      f"pointwise kernel {p_note}; bias {b_note}")
    else:
        k, wf, k_note = _kernel(b, layer, "kernel", np.asarray(layer.kernel, np.float64), prec)
        float_roles += [] if "kernel" in quantized else ["kernel"]
        bias, bf, b_note = bias_codes()
        groups = int(getattr(layer, "groups", 1) or 1)
        if k.shape[2] * groups != c_in:
            raise layer_error(layer.name, f"kernel shape {k.shape} with {groups} group(s) "
                              f"does not fit {c_in} input channels", "Check the weights file")
        if groups > 1:
            k = expand_groups(k, groups)
        push_conv(b, layer, "", win, k, wf, bias, bf,
                  f"kernel {k_note}; bias {b_note}" + (f"; {groups} groups" if groups > 1 else ""))
    if float_roles:
        # Float weights were put on `prec` (else weights() raised): so is the result.
        b.quantize_to(layer, prec, "_result")
    b.activation(layer.activation, layer, following is None)
    return 1
