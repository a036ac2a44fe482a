"""The streaming form of a graph (`--io stream`): which nodes run on a pixel stream, and
how each stage walks its image.

The image enters one pixel (all channels) at a time in raster order. From the input on,
the graph is cut into stages while it stays a chain of streamable nodes: a stage is one
window op (a `Conv` or `MaxPool` sliding over the image, or a zero padding or cropping
`Gather`) and the element-wise ops after it (quantizers, ReLU, step functions, scale and
shift, an average's division: the same on every pixel). Element-wise ops before the
first window op form a stage with a 1x1 window. Each stage computes one output pixel from
one window: its `pixel` graph is the window op on a window-sized image (one output pixel)
and the element-wise ops on that pixel, lowered by the same hardware passes as any graph
(so `--reuse` folds a kernel's multiplies onto fewer lanes). The first node that is not
streamable (a Flatten, a global pool, a dense layer, a merge, an upsampling) ends the
stream: the tensor before it is collected whole and the rest of the graph (`tail`) runs
on it as a vector, fully parallel or folded.

`Scan` says how a stage walks: the padded image in raster order, one position per step,
a real pixel taken from the stream or the padding value (`fill`) shifted into a line
buffer; after a step whose position completes a window at the stride, one output pixel.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..errors import UnsupportedError
from ..ops import (Average, Conv, Gather, Input, MaxPool, Quantize, Relu, Reshape, ScaleShift,
                   StepFunction)
from ..ops.window import Window, image_of
from .graph import Graph

ELEMENTWISE = (Quantize, Relu, ScaleShift, StepFunction, Average)


@dataclass(frozen=True)
class Scan:
    """A stage's walk over its input image of `image` (rows, columns) real pixels with
    `channels` channels: `pads` (top, bottom, left, right) positions of `fill` around it,
    a window of `extent` (rows, columns) positions, outputs at `strides`, and `crop`
    (top, bottom, left, right) scan positions that give no output."""

    image: tuple[int, int]
    channels: int
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    extent: tuple[int, int] = (1, 1)
    strides: tuple[int, int] = (1, 1)
    crop: tuple[int, int, int, int] = (0, 0, 0, 0)
    fill: int = 0

    @property
    def scan(self) -> tuple[int, int]:
        (h, w), (t, b, l, r) = self.image, self.pads
        return h + t + b, w + l + r

    @property
    def steps(self) -> int:
        return self.scan[0] * self.scan[1]

    @property
    def pixels(self) -> int:
        return self.image[0] * self.image[1]

    def _axis(self, n: int, extent: int, stride: int, lo: int, hi: int) -> np.ndarray:
        p = np.arange(n)
        return (p >= extent - 1) & ((p - extent + 1) % stride == 0) & (p >= lo) & (p < n - hi)

    @property
    def emit_rows(self) -> np.ndarray:
        return self._axis(self.scan[0], self.extent[0], self.strides[0], self.crop[0], self.crop[1])

    @property
    def emit_cols(self) -> np.ndarray:
        return self._axis(self.scan[1], self.extent[1], self.strides[1], self.crop[2], self.crop[3])

    @property
    def real_rows(self) -> np.ndarray:
        p = np.arange(self.scan[0])
        return (p >= self.pads[0]) & (p < self.pads[0] + self.image[0])

    @property
    def real_cols(self) -> np.ndarray:
        p = np.arange(self.scan[1])
        return (p >= self.pads[2]) & (p < self.pads[2] + self.image[1])

    @property
    def out_image(self) -> tuple[int, int]:
        return int(self.emit_rows.sum()), int(self.emit_cols.sum())

    @property
    def line_pixels(self) -> int:
        """Pixels the line buffer holds: a window's span of the scan, newest first."""
        return (self.extent[0] - 1) * self.scan[1] + self.extent[1]

    def tap(self, ry: int, rx: int) -> int:
        """Line-buffer offset (0: the pixel shifted in this step) of window position
        (ry, rx), the window's bottom-right being the newest."""
        return (self.extent[0] - 1 - ry) * self.scan[1] + (self.extent[1] - 1 - rx)


@dataclass
class Stage:
    """One stage: its `scan`, its per-pixel graph (None: the pixel passes unchanged), the
    full-graph node whose tensor it produces, and the nodes it computes."""
    scan: Scan
    pixel: Graph | None
    node: object
    nodes: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.nodes[0]


@dataclass
class StreamPlan:
    stages: list[Stage]
    collected: object          # the last streamed node: its tensor is collected whole
    tail: Graph | None         # the rest of the graph on that tensor (None: it is the output)
    notes: list[str] = dataclasses.field(default_factory=list)


def _uniform(node, c: int) -> bool:
    """Whether an element-wise op computes the same on every pixel."""
    if isinstance(node, StepFunction):
        rows = node.thresholds.shape[0]
        if rows in (1, c):
            return True
        # One row per element: uniform when every pixel's rows are the first pixel's.
        th = node.thresholds.reshape(-1, c, node.thresholds.shape[1])
        lv = node.levels.reshape(-1, c, node.levels.shape[1])
        return bool(np.all(th == th[:1]) and np.all(lv == lv[:1]))
    if isinstance(node, Average):
        per_pixel = node.count.reshape(-1, c)
        return bool(np.all(per_pixel == per_pixel[0]))
    return True


def _window_scan(node, src) -> tuple[Scan, object] | None:
    """(scan, the window op for one output pixel) of a streamable window node, or None."""
    h, w, c = image_of(tuple(src.shape))
    if isinstance(node, (Conv, MaxPool)):
        win = node.window
        if win.kernel == win.image and win.out_image == (1, 1) and win.pixels > 1:
            return None                          # a global pool: on the collected tensor
        (kh, kw), (dh, dw) = win.kernel, win.dilation
        extent = ((kh - 1) * dh + 1, (kw - 1) * dw + 1)
        fill = 0 if isinstance(node, Conv) else src.type.min_code
        scan = Scan((h, w), c, win.pads, extent, win.strides, fill=fill)
        one = Window(extent, win.kernel, (1, 1), win.dilation)
        region = (extent[1], c) if len(src.shape) == 2 else extent + (c,)
        co = node.shape[-1]
        out = (1, co) if len(src.shape) == 2 else (1, 1, co)
        return scan, (dataclasses.replace(node, window=one, shape=out, inputs=("input",),
                                          lo=None, hi=None), region)
    if isinstance(node, Gather) and node.geometry and node.geometry[0] in ("pad", "crop"):
        kind, sides = node.geometry
        if kind == "pad":
            return Scan((h, w), c, pads=tuple(sides)), None
        return Scan((h, w), c, crop=tuple(sides)), None
    return None


def _pixel_copy(node, shape, inputs):
    fields = {"shape": shape, "inputs": inputs, "lo": None, "hi": None, "register_after": ()}
    if isinstance(node, Average):
        c = shape[-1]
        fields["count"] = node.count.reshape(-1, c)[0].reshape(shape)
    if isinstance(node, StepFunction) and node.thresholds.shape[0] == node.size and \
            node.size != shape[-1]:
        c = shape[-1]
        fields.update(thresholds=node.thresholds[:c], levels=node.levels[:c])
    return dataclasses.replace(node, **fields)


def _reshape_first(graph: Graph) -> Graph:
    """`graph` with a Reshape that makes its flat input an image moved before the per-element
    quantizers and relus between them (an input quantizer, then the Reshape): those compute
    the same on every element, and a Reshape keeps the raster order, so the graph computes
    the same, and its image streams from the input on. Unchanged otherwise."""
    inp = graph.input
    if len(inp.shape) != 1:
        return graph
    chain, node = [], inp
    while True:
        readers = graph.consumers(node.name)
        if len(readers) != 1 or node.name in graph.output_names:
            return graph
        node = readers[0]
        if isinstance(node, Reshape):
            break
        if not isinstance(node, (Quantize, Relu)):
            return graph
        chain.append(node)
    if not chain or len(node.shape) not in (2, 3):
        return graph
    reshape = dataclasses.replace(node, inputs=(inp.name,), type=inp.type)
    moved, prev = [], reshape
    for n in chain:
        prev = dataclasses.replace(n, inputs=(prev.name,), shape=reshape.shape)
        moved.append(prev)
    rename = {node.name: moved[-1].name}
    rest = [dataclasses.replace(n, inputs=tuple(rename.get(i, i) for i in n.inputs))
            for n in graph.nodes[1:] if n is not node and n not in chain]
    return dataclasses.replace(graph, nodes=[inp, reshape] + moved + rest,
                               outputs=tuple(rename.get(o, o) for o in graph.outputs))


def plan(graph: Graph) -> StreamPlan:
    """Cut `graph` (front-end IR, before the hardware passes) into stream stages and a
    tail. Raises UnsupportedError where the model cannot stream."""
    graph = _reshape_first(graph)
    inp = graph.input
    first = graph.nodes[1] if len(graph.nodes) > 1 else None
    image = inp
    if len(inp.shape) == 1 and isinstance(first, Reshape) and len(first.shape) in (2, 3) \
            and len(graph.consumers(inp.name)) == 1:
        image = first       # a flat input reshaped to an image: its raster order is the same
    if len(image.shape) not in (2, 3):
        raise UnsupportedError(
            f"model '{graph.name}': --io stream streams images (height, width, channels) or "
            f"sequences (length, channels), or a flat input a Reshape makes one (after input "
            f"quantizers at most); its input has shape {inp.shape}. Use --io parallel")
    stages: list[Stage] = []
    prev = image
    current = None          # (scan, window op or None, region shape, [element-wise nodes], node names)
    index = graph.nodes.index(image) + 1

    def close():
        if current is None:
            return
        scan, window, region, ops, names, last = current
        stages.append(Stage(scan, _pixel_graph(graph, window, region, ops, last, prev_of[names[0]]),
                            last, tuple(names)))

    prev_of = {}
    while index < len(graph.nodes):
        node = graph.nodes[index]
        readers = graph.consumers(prev.name)
        chain = node.inputs == (prev.name,) and len(readers) == 1 and \
            prev.name not in graph.output_names
        if not chain:
            break
        c = image_of(tuple(prev.shape))[2] if len(prev.shape) in (2, 3) else None
        ws = _window_scan(node, prev) if c is not None else None
        if ws is not None:
            close()
            scan, window = ws
            prev_of[node.name] = prev
            if window is None:
                current = (scan, None, (c,), [], [node.name], node)
            else:
                current = (scan, window[0], window[1], [], [node.name], node)
        elif isinstance(node, ELEMENTWISE) and c is not None and _uniform(node, c):
            if current is None:
                prev_of[node.name] = prev
                current = (Scan(image_of(tuple(prev.shape))[:2], c), None, (c,), [node],
                           [node.name], node)
            else:
                scan, window, region, ops, names, _ = current
                current = (scan, window, region, ops + [node], names + [node.name], node)
        else:
            break
        prev = node
        index += 1
    close()
    if not stages:
        first = graph.nodes[1] if len(graph.nodes) > 1 else inp
        raise UnsupportedError(
            f"model '{graph.name}': --io stream needs a convolution, pooling or padding "
            f"layer on the input to stream; its first layer '{first.layer}' ({first.origin}) "
            "reads the whole input. Use --io parallel")
    rest = graph.nodes[index:]
    # The chain stops at a tensor read twice or at an output, so the tail reads no
    # streamed tensor but the collected one.
    tail = None
    if rest:
        start = Input(name=prev.name, layer=prev.layer, shape=prev.shape, type=prev.type,
                      origin=prev.origin, note="the collected stream")
        tail = Graph([start] + list(rest), graph.name, graph.softmax_removed, graph.exact,
                     list(graph.notes), outputs=graph.outputs)
    elif graph.softmax_removed:
        raise UnsupportedError(f"model '{graph.name}': --io stream needs a layer after the "
                               "streamed part to take the argmax of a softmax output; use "
                               "--io parallel")
    notes = []
    windows = [n for n in rest if isinstance(n, (Conv, MaxPool)) and not
               (n.window.kernel == n.window.image and n.window.out_image == (1, 1))]
    if windows:
        why = "a branch" if len(graph.consumers(prev.name)) > 1 else \
            f"'{rest[0].layer}' ({rest[0].origin}), which does not stream"
        notes.append(f"the stream ends after '{prev.layer}' at {why}: "
                     f"{', '.join(sorted({n.layer for n in windows}))} then run fully parallel "
                     "(or folded) on the collected tensor")
    return StreamPlan(stages, prev, tail, notes)


def _pixel_graph(graph, window, region, ops, last, src) -> Graph | None:
    """The graph of one output pixel: the window (or the pixel) as input, then the ops."""
    if window is None and not ops:
        return None
    nodes = [Input(name="input", layer=src.layer, shape=tuple(region), type=src.type,
                   origin=src.origin, note="one window of the stream")]
    shape = tuple(region)
    if window is not None:
        nodes.append(window)
        shape = window.shape
    for op in ops:
        nodes.append(_pixel_copy(op, shape, (nodes[-1].name,)))
    return Graph(nodes, f"{graph.name}_{nodes[1].name}", False, graph.exact, [])
