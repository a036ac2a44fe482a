"""The geometry a sliding-window op shares (`conv.py`, `max_pool.py`): a kernel moved over
an input image in raster order with strides, dilation and zero padding, channels last.

Not an op itself. A 1-D layer is the 2-D case with height 1 (`rows == 1`), so one rule set
serves Conv1D and Conv2D, MaxPooling1D and MaxPooling2D. `taps()` is the one place that
says which input pixel each kernel position reads (or -1: a padding pixel).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np


def same_pads(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """Keras's (and TensorFlow's) padding='same': out = ceil(size / stride), the total
    padding split with the extra pixel after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


@dataclass(frozen=True)
class Window:
    """A (kh, kw) kernel over an (h, w) image: `strides`, `dilation`, and `pads` (top,
    bottom, left, right) padding pixels."""

    image: tuple[int, int]
    kernel: tuple[int, int]
    strides: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)

    @property
    def out_image(self) -> tuple[int, int]:
        (h, w), (kh, kw) = self.image, self.kernel
        (sh, sw), (dh, dw) = self.strides, self.dilation
        t, b, l, r = self.pads
        return ((h + t + b - (kh - 1) * dh - 1) // sh + 1,
                (w + l + r - (kw - 1) * dw - 1) // sw + 1)

    @property
    def pixels(self) -> int:
        return self.image[0] * self.image[1]

    @property
    def out_pixels(self) -> int:
        return self.out_image[0] * self.out_image[1]

    @cached_property
    def taps(self) -> np.ndarray:
        """[out pixels, kh * kw]: the raster index of the input pixel each kernel position
        reads, or -1 where it reads padding."""
        (h, w), (kh, kw) = self.image, self.kernel
        (sh, sw), (dh, dw) = self.strides, self.dilation
        oh, ow = self.out_image
        rows = (np.arange(oh) * sh - self.pads[0])[:, None] + np.arange(kh) * dh   # [oh, kh]
        cols = (np.arange(ow) * sw - self.pads[2])[:, None] + np.arange(kw) * dw   # [ow, kw]
        r = rows[:, None, :, None]
        c = cols[None, :, None, :]
        inside = (r >= 0) & (r < h) & (c >= 0) & (c < w)
        index = np.where(inside, r * w + c, -1)
        return index.reshape(oh * ow, kh * kw)

    @property
    def counts(self) -> np.ndarray:
        """[out pixels]: how many taps of each window read real pixels."""
        return np.count_nonzero(self.taps >= 0, axis=1)

    def gather(self, x: np.ndarray, fill) -> np.ndarray:
        """[N, pixels, C] codes to [N, out pixels, taps, C], padding read as `fill`."""
        pad = np.full((x.shape[0], 1, x.shape[2]), fill, dtype=x.dtype)
        return np.concatenate([x, pad], axis=1)[:, self.taps]

    def describe(self) -> str:
        h, w = self.image
        parts = [f"kernel {self.kernel[0]}x{self.kernel[1]}" if h > 1 else
                 f"kernel {self.kernel[1]}"]
        if self.strides != (1, 1):
            parts.append(f"strides {self.strides if h > 1 else self.strides[1]}")
        if self.dilation != (1, 1):
            parts.append(f"dilation {self.dilation if h > 1 else self.dilation[1]}")
        if any(self.pads):
            parts.append(f"pads {self.pads if h > 1 else self.pads[2:]}")
        oh, ow = self.out_image
        parts.append(f"{h}x{w} -> {oh}x{ow}" if h > 1 else f"{w} -> {ow}")
        return ", ".join(parts)

    def problems(self) -> list[str]:
        out = []
        if min(self.out_image) < 1:
            out.append(f"window {self.describe()} has no output pixel")
        if min(self.kernel + self.strides + self.dilation) < 1 or min(self.pads) < 0:
            out.append(f"window {self} has a non-positive size")
        return out


def image_of(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(height, width, channels) of a channels-last tensor shape: (L, C) is 1 x L."""
    if len(shape) == 2:
        return 1, shape[0], shape[1]
    if len(shape) == 3:
        return shape[0], shape[1], shape[2]
    raise ValueError(f"shape {shape} is not an image (length, channels) or "
                     "(height, width, channels)")
