"""ZeroPadding1D/2D, Cropping1D/2D and UpSampling1D/2D (nearest): each output element is
an input element or a zero, a `Gather` (wires in hardware)."""
import numpy as np

from ...errors import UnsupportedError, layer_error
from ...ops import Gather
from ...ops.window import image_of
from ..registry import handler


def _pairs2(v) -> tuple[tuple[int, int], tuple[int, int]]:
    return tuple((int(a), int(b)) for a, b in v)


def _check(b, layer) -> tuple[int, int, int, bool]:
    one_d = type(layer).__name__.endswith("1D")
    if len(b.cur.shape) != (2 if one_d else 3):
        raise layer_error(layer.name, f"{type(layer).__name__} on a rank-{len(b.cur.shape)} "
                          f"input {b.cur.shape}", "Check the model's shapes", UnsupportedError)
    data_format = getattr(layer, "data_format", "channels_last")
    if data_format not in (None, "channels_last"):
        raise layer_error(layer.name, f"data_format='{data_format}'", "hwgen supports "
                          "channels_last (Keras's default)", UnsupportedError)
    h, w, c = image_of(tuple(b.cur.shape))
    return h, w, c, one_d


def _push(b, layer, rows, cols, c, one_d, what, geometry) -> None:
    """Output pixel (i, j) reads input pixel (rows[i], cols[j]) (-1: zero)."""
    h, w, _ = image_of(tuple(b.cur.shape))
    r, q = np.asarray(rows)[:, None], np.asarray(cols)[None, :]
    pix = np.where((r >= 0) & (q >= 0), r * w + q, -1)
    index = np.where(pix[:, :, None] >= 0, pix[:, :, None] * c + np.arange(c), -1)
    shape = (len(cols), c) if one_d else (len(rows), len(cols), c)
    if min(shape) < 1:
        raise layer_error(layer.name, f"{what} leaves no pixel of {b.cur.shape}",
                          "Crop less", UnsupportedError)
    b.push(Gather, layer, shape=shape, type=b.cur.type, index=index.reshape(-1), what=what,
           geometry=geometry)


@handler("ZeroPadding1D", "ZeroPadding2D", "Cropping1D", "Cropping2D", "UpSampling1D",
         "UpSampling2D", summary="ZeroPadding1D/2D, Cropping1D/2D, UpSampling1D/2D (nearest)")
def spatial(b, layer, following) -> int:
    h, w, c, one_d = _check(b, layer)
    cls = type(layer).__name__
    if cls.startswith("ZeroPadding"):
        (t, bo), (le, ri) = ((0, 0), tuple(layer.padding)) if one_d else _pairs2(layer.padding)
        rows = [i - t if 0 <= i - t < h else -1 for i in range(h + t + bo)]
        cols = [j - le if 0 <= j - le < w else -1 for j in range(w + le + ri)]
        what = f"zero padding {(t, bo, le, ri) if not one_d else (le, ri)}"
        geometry = ("pad", (t, bo, le, ri))
    elif cls.startswith("Cropping"):
        (t, bo), (le, ri) = ((0, 0), tuple(layer.cropping)) if one_d else _pairs2(layer.cropping)
        rows, cols = list(range(t, h - bo)), list(range(le, w - ri))
        what = f"cropping {(t, bo, le, ri) if not one_d else (le, ri)}"
        geometry = ("crop", (t, bo, le, ri))
    else:
        interpolation = getattr(layer, "interpolation", "nearest")
        if interpolation != "nearest":
            raise layer_error(layer.name, f"interpolation='{interpolation}'", "hwgen "
                              "supports nearest-neighbour upsampling", UnsupportedError)
        sh, sw = (1, int(layer.size)) if one_d else tuple(int(s) for s in layer.size)
        rows = [i // sh for i in range(h * sh)]
        cols = [j // sw for j in range(w * sw)]
        what = f"nearest upsampling by {(sh, sw) if not one_d else sw}"
        geometry = ("upsample", (sh, sw))
    _push(b, layer, rows, cols, c, one_d, what, geometry)
    return 1
