"""The `Builder` that front-end handlers (`layers/`) append IR nodes through, and the
tools they share: weights as codes, a quantizer or activation as an op, a float function
tabulated as a step function."""
from __future__ import annotations

import numpy as np

from ..errors import UnsupportedError, layer_error
from ..ops import Input, Node, Quantize, Relu, StepFunction
from ..ir.types import (FixedType, Precision, Rounding, apply_overflow, codes_to_float,
                        float_to_codes, parse_precision)
from ..options import DEFAULT_INPUT_FORMAT, FrontendOptions
from . import quantizers
from .float32 import Float32Quantizer, keras_floatx
from .twin import WEIGHT_QUANTIZER_KEYS

# Node names after a layer's: its own activation (a Dense's or Conv's `activation`), and
# a separable convolution's depthwise half (its pointwise half takes the layer's name).
OWN_ACTIVATION = "_act"
SEPARABLE_DEPTHWISE = "_depthwise"

MAX_INPUT_BITS = 62


def unwrap(q):
    """The QKeras quantizer inside the twin's float32 wrapper."""
    return q.quantizer if isinstance(q, Float32Quantizer) else q


def _quantized_class(layer) -> str:
    """The QKeras class of a Keras layer's kind (Conv2D -> QConv2D)."""
    cls = type(layer).__name__
    return cls if cls.startswith("Q") else "Q" + cls


class Builder:
    """Appends IR nodes for one Keras layer at a time."""

    def __init__(self, options: FrontendOptions, weight_quantizers: dict):
        self.options = options
        self.weight_quantizers = weight_quantizers
        self.nodes: list[Node] = []
        self.exact = True
        self.notes: list[str] = []
        self.sources: list[Node] = []     # the nodes of the current Keras layer's inputs
        self._cur: Node | None = None
        # The QKeras quantizer that defines the input grid (the model's first layer), if
        # one does: it is how floats are put on the grid (hwgen.convert's predict).
        self.input_quantizer = None

    @property
    def cur(self) -> Node:
        """The node the next `push` reads: the layer's input, then its last node."""
        return self._cur

    def begin(self, layer, sources: list[Node], merge: bool = False) -> None:
        """Start Keras layer `layer` on the nodes of its input tensors; only a merge
        handler (`merge`) takes more than one."""
        if len(sources) != 1 and not merge:
            raise layer_error(layer.name, f"{type(layer).__name__} has {len(sources)} "
                              "inputs; it takes one", "Check the model's connections",
                              UnsupportedError)
        self.sources, self._cur = list(sources), sources[0] if sources else None

    def push(self, cls, keras_layer, name_suffix="", inputs=None, **fields) -> Node:
        """Append a `cls` node for `keras_layer` reading the current node (or the nodes
        named by `inputs`); `fields` may override its `layer` (the Keras name reports
        show) and `origin`."""
        name = keras_layer.name + name_suffix
        fields.setdefault("origin", type(keras_layer).__name__)
        fields.setdefault("layer", keras_layer.name)
        node = cls(name=name, inputs=tuple(inputs or (self.cur.name,)), **fields)
        self.nodes.append(node)
        self._cur = node
        return node

    # ------------------------------------------------------------------ input
    def start(self, model, layers, meta: dict) -> None:
        shape = tuple(model.input_shape[1:])
        in_name = model.layers[0].name if type(model.layers[0]).__name__ == "InputLayer" \
            else (model.input.name.split(":")[0] if hasattr(model, "input") else "input")
        if not shape or any(d is None for d in shape):
            raise layer_error(in_name, f"input shape {shape} is not fully known",
                              "Give the model a fixed input shape (input_shape=(N,))")
        t, why = self.options.input_format, "--input-format"
        if t is None and meta.get("input_format"):
            t, why = parse_precision(meta["input_format"]).type, "the design's meta.json"
        if t is None and layers and type(layers[0]).__name__ == "QActivation":
            q = unwrap(layers[0].quantizer)
            lin = quantizers.linear(q)
            if lin is not None:
                t, why = lin[0], f"the input quantizer {quantizers.describe(q)}"
                self.input_quantizer = q
        if t is None:
            t, why = DEFAULT_INPUT_FORMAT, "the default (no input quantizer; --input-format overrides)"
        if t.width > MAX_INPUT_BITS:
            # Test vectors are drawn and stored as int64 codes (sim, self-test ROMs).
            raise layer_error(in_name, f"the input grid {t} (from {why}) is {t.width} bits "
                              f"wide; hwgen takes inputs of at most {MAX_INPUT_BITS} bits",
                              "Give a narrower --input-format or input quantizer",
                              UnsupportedError)
        self.nodes.append(Input(name="input", layer=in_name, shape=shape, type=t,
                                origin="InputLayer", note=f"grid from {why}"))
        self._cur = self.nodes[-1]

    # ------------------------------------------------------------------ shared tools
    def weights(self, layer, role, values, prec: Precision | None):
        """(codes, fraction bits, note) of a layer's `role` ("kernel", "bias") values."""
        q = self.weight_quantizers.get(layer.name, {}).get(role)
        if q is not None:     # the twin holds the weights already quantized by q
            codes, frac = quantizers.values_to_codes(values, layer.name,
                                                     f"{role} quantizer {quantizers.describe(q)}")
            return codes, frac, quantizers.describe(q)
        if prec is None:
            raise layer_error(layer.name, f"{type(layer).__name__} has float (unquantized) "
                              f"{role} values and no precision",
                              f"Pass --precision 'fixed<16,6>' (all float layers) or "
                              f"--precision {layer.name}=fixed<W,I>, or quantize it in QKeras "
                              f"({_quantized_class(layer)} with "
                              f"{WEIGHT_QUANTIZER_KEYS.get(role, role + '_quantizer')})")
        self.exact = False
        t = prec.type
        codes = apply_overflow(float_to_codes(values, t.frac, prec.rounding), t, prec.overflow)
        return codes, t.frac, f"precision {prec}"

    def quantize_to(self, layer, prec: Precision, suffix: str) -> None:
        self.exact = False
        self.push(Quantize, layer, suffix, shape=self.cur.shape, type=prec.type,
                  rounding=prec.rounding, overflow=prec.overflow, note=f"precision {prec}")

    def activation(self, act, layer, last: bool) -> None:
        """A layer's `activation` (or an Activation layer's function) as ops."""
        if act is None:
            return
        if isinstance(act, Float32Quantizer):
            self.quantizer(act.quantizer, layer, OWN_ACTIVATION)
            return
        name = getattr(act, "__name__", str(act))
        # A layer that computes something first (Dense, Conv) names its activation apart.
        suffix = OWN_ACTIVATION if any(n.name == layer.name for n in self.nodes) else ""
        if name == "linear":
            return
        if name == "relu":
            src = self.cur
            out = FixedType.for_range(0, max(src.type.max_code, 0), src.type.frac)
            self.push(Relu, layer, suffix, shape=src.shape, type=out, note="relu")
            return
        if name == "softmax":
            raise layer_error(layer.name, "softmax is only supported as the last layer "
                              "(it is left out of the datapath)", "Move or remove the softmax",
                              UnsupportedError)
        prec = self.options.precision_for(layer.name)
        if prec is None:
            raise layer_error(layer.name, f"activation '{name}' is not supported without a "
                              f"precision", "Use relu/linear, a QKeras quantizer "
                              "(e.g. QActivation('quantized_tanh(8)')), or give its output a "
                              f"precision: --precision '{layer.name}=fixed<16,6>' (Python: "
                              f"precision={{'{layer.name}': 'fixed<16,6>'}})",
                              UnsupportedError)
        self.float_step(layer, suffix, lambda v: act(v), name, prec)

    def float_step(self, layer, suffix, fn, what: str, prec: Precision) -> None:
        """A float function quantized to `prec`, tabulated as a step function."""
        import tensorflow as tf
        t = prec.type

        def quantized(v):
            with keras_floatx("float64"):
                y = np.asarray(fn(tf.constant(v, tf.float64)), np.float64)
            codes = apply_overflow(float_to_codes(y, t.frac, prec.rounding), t, prec.overflow)
            return codes_to_float(codes, t.frac)
        self.exact = False
        self.step(layer, suffix, quantized, 1, f"{what} at precision {prec}")

    def quantizer(self, q, layer, suffix: str = "") -> None:
        """A QKeras activation quantizer: a requantize when linear, else a step function."""
        quantizers.check(q, layer.name, "activation", for_weights=False)
        lin = quantizers.linear(q)
        if lin is not None:
            t, overflow, f32 = lin
            self.push(Quantize, layer, suffix, shape=self.cur.shape, type=t,
                      rounding=Rounding.RND_CONV, overflow=overflow, float32_cast=f32,
                      note=quantizers.describe(q))
            return
        self.step(layer, suffix, lambda v: quantizers.call_quantizer(q, v), 1,
                  quantizers.describe(q), quantizers.monotonic(q))

    def step(self, layer, suffix, fn, channels, what, monotonic=None) -> None:
        th, lv, out = quantizers.step_function(fn, self.cur.type, channels, layer.name, what,
                                               monotonic)
        self.push(StepFunction, layer, suffix, shape=self.cur.shape, type=out, thresholds=th,
                  levels=lv, function=what, note=what)
