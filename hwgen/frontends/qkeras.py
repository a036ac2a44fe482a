"""Lower a Keras/QKeras model to the IR.

The model is first rebuilt as a float64 twin (`twin.py`); layers are read from the twin
so that every quantizer is evaluated exactly as the twin's `predict` evaluates it.
"""
from __future__ import annotations

import numpy as np

from ..errors import HwgenError, UnsupportedError, layer_error
from ..ir.bounds import dense_bounds
from ..ir.graph import Dense, Graph, Input, Node, Quantize, Relu, Reshape, ScaleShift, StepFunction
from ..ir.types import (FixedType, Precision, Rounding, apply_overflow, codes_to_float,
                        float_to_codes, parse_precision)
from ..options import DEFAULT_INPUT_FORMAT, FrontendOptions
from . import quantizers
from .loader import LoadedModel
from .twin import Float32Quantizer, build_twin, keras_floatx

SUPPORTED_LAYERS = ("InputLayer, QDense, Dense, QActivation, Activation (linear, relu, "
                    "softmax at the output), BatchNormalization, QBatchNormalization, "
                    "Dropout, Flatten, Reshape")
MAX_INPUT_BITS = 62
_IGNORED = {"Dropout", "AlphaDropout", "GaussianDropout", "GaussianNoise",
            "SpatialDropout1D", "SpatialDropout2D", "ActivityRegularization"}


def to_ir(loaded: LoadedModel, options: FrontendOptions | None = None) -> Graph:
    """The IR graph of `loaded` (its float64 twin is kept on `loaded.twin`)."""
    options = options or FrontendOptions()
    _check_layer_names(loaded.model, options)
    twin, dropped = build_twin(loaded.model)
    loaded.twin, loaded.softmax_removed = twin, dropped
    layers = chain(twin)
    builder = _Builder(options, twin.hwgen_weight_quantizers)
    builder.start(twin, layers, loaded.meta)
    i = 0
    while i < len(layers):
        i += builder.add(layers, i)
    graph = Graph(builder.nodes, loaded.name, dropped, builder.exact, builder.notes)
    if dropped:
        graph.notes.append("softmax at the output is not in the datapath: the hardware "
                           "outputs the logits (and optionally their argmax)")
    return graph


def _check_layer_names(model, options: FrontendOptions) -> None:
    """Every `--precision LAYER=` must name a layer of the model: a misspelt name would
    otherwise leave that layer at the global precision without a word."""
    names = [layer.name for layer in model.layers if type(layer).__name__ != "InputLayer"]
    unknown = sorted(set(options.layer_precision) - set(names))
    if unknown:
        raise HwgenError(f"--precision names {', '.join(repr(u) for u in unknown)}, which "
                         f"{'is not a layer' if len(unknown) == 1 else 'are not layers'} of "
                         f"model '{model.name}'; its layers are: {', '.join(names)}")


def chain(model) -> list:
    """The model's layers from input to output; each must have exactly one input."""
    config = model.get_config()
    if "output_layers" not in config:        # Sequential: already a chain
        return [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    if len(config["input_layers"]) != 1:
        raise UnsupportedError(f"model '{model.name}' has {len(config['input_layers'])} "
                               f"inputs; hwgen supports single-input models")
    inbound = {}
    for lc in config["layers"]:
        nodes = lc.get("inbound_nodes") or []
        names = [t[0] for node in nodes for t in _node_tensors(node)]
        if len(names) > 1:
            raise layer_error(lc["config"]["name"], f"{lc['class_name']} has {len(names)} "
                              f"inputs", "hwgen supports chains of single-input layers ("
                              + SUPPORTED_LAYERS + ")", UnsupportedError)
        inbound[lc["config"]["name"]] = names[0] if names else None
    order, name = [], config["output_layers"][0][0]
    while name is not None:
        order.append(name)
        name = inbound[name]
    order.reverse()
    return [model.get_layer(n) for n in order if type(model.get_layer(n)).__name__ != "InputLayer"]


def _node_tensors(node):
    if isinstance(node, dict):     # Keras 3 style
        return [a["config"]["keras_history"] for a in node.get("args", []) if isinstance(a, dict)]
    return node


class _Builder:
    """Appends IR nodes for one Keras layer at a time."""

    def __init__(self, options: FrontendOptions, weight_quantizers: dict):
        self.options = options
        self.weight_quantizers = weight_quantizers
        self.nodes: list[Node] = []
        self.exact = True
        self.notes: list[str] = []

    @property
    def cur(self) -> Node:
        return self.nodes[-1]

    def push(self, cls, layer, name_suffix="", **fields) -> Node:
        name = layer.name + name_suffix
        fields.setdefault("origin", type(layer).__name__)
        node = cls(name=name, layer=layer.name, inputs=(self.cur.name,), **fields)
        self.nodes.append(node)
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
            q = _unwrap(layers[0].quantizer)
            lin = quantizers.linear(q)
            if lin is not None:
                t, why = lin[0], f"the input quantizer {quantizers.describe(q)}"
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

    # ------------------------------------------------------------------ layers
    def add(self, layers, i) -> int:
        """Lower layers[i] (and possibly the next one); return how many were consumed."""
        layer = layers[i]
        cls = type(layer).__name__
        last = i == len(layers) - 1
        if cls in _IGNORED:
            return 1
        if cls in ("Flatten", "Reshape"):
            self._reshape(layer)
        elif cls in ("Dense", "QDense"):
            self._dense(layer)
            self._activation(layer.activation, layer, last)
        elif cls == "QActivation":
            self._quantizer(_unwrap(layer.quantizer), layer)
        elif cls == "Activation":
            self._activation(layer.activation, layer, last)
        elif cls in ("BatchNormalization", "QBatchNormalization"):
            nxt = layers[i + 1] if not last else None
            if nxt is not None and type(nxt).__name__ == "QActivation":
                self._fused_batchnorm(layer, nxt)
                return 2
            self._batchnorm(layer)
        else:
            raise layer_error(layer.name, f"{cls} layers are not supported",
                              f"Supported layers: {SUPPORTED_LAYERS}", UnsupportedError)
        return 1

    def _reshape(self, layer) -> None:
        shape = tuple(layer.output_shape[1:])
        if int(np.prod(shape)) != self.cur.size:
            raise layer_error(layer.name, f"reshape from {self.cur.shape} to {shape} changes "
                              f"the number of elements", "Fix the target shape")
        self.push(Reshape, layer, shape=shape, type=self.cur.type)

    def _dense(self, layer) -> None:
        src = self.cur
        if len(src.shape) != 1:
            raise layer_error(layer.name, f"Dense on a rank-{len(src.shape)} input {src.shape} "
                              f"is not supported", "Add a Flatten layer before it", UnsupportedError)
        kernel = np.asarray(layer.kernel, dtype=np.float64)
        if kernel.shape[0] != src.shape[0]:
            raise layer_error(layer.name, f"kernel shape {kernel.shape} does not fit input "
                              f"shape {src.shape}", "Check the weights file")
        prec = self.options.precision_for(layer.name)
        w, wf, w_note = self._weights(layer, "kernel", kernel, prec)
        if layer.use_bias:
            b, bf, b_note = self._weights(layer, "bias", np.asarray(layer.bias, np.float64), prec)
        else:
            b, bf, b_note = None, wf, "no bias"
        frac = max(src.type.frac + wf, bf)
        lo, hi = dense_bounds(w, b, src.type.min_code, src.type.max_code, src.type.frac,
                              wf, bf, frac)
        out = FixedType.for_range(int(lo.min()), int(hi.max()), frac)
        self.push(Dense, layer, shape=(w.shape[1],), type=out, weights=w, weight_frac=wf,
                  bias=b, bias_frac=bf, note=f"kernel {w_note}; bias {b_note}")
        quantized = self.weight_quantizers.get(layer.name, {})
        if "kernel" not in quantized or (layer.use_bias and "bias" not in quantized):
            # Float weights were put on `prec` (else _weights raised): so is the result.
            self._quantize_to(layer, prec, "_result")

    def _weights(self, layer, role, values, prec: Precision | None):
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
                              f"(QDense with {role}_quantizer)")
        self.exact = False
        t = prec.type
        codes = apply_overflow(float_to_codes(values, t.frac, prec.rounding), t, prec.overflow)
        return codes, t.frac, f"precision {prec}"

    def _quantize_to(self, layer, prec: Precision, suffix: str) -> None:
        self.exact = False
        self.push(Quantize, layer, suffix, shape=self.cur.shape, type=prec.type,
                  rounding=prec.rounding, overflow=prec.overflow, note=f"precision {prec}")

    def _activation(self, act, layer, last: bool) -> None:
        if act is None:
            return
        if isinstance(act, Float32Quantizer):
            self._quantizer(act.quantizer, layer, "_act")
            return
        name = getattr(act, "__name__", str(act))
        suffix = "_act" if type(layer).__name__ in ("Dense", "QDense") else ""
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
                              "(e.g. QActivation('quantized_tanh(8)')), or pass --precision",
                              UnsupportedError)
        self._float_step(layer, suffix, lambda v: act(v), name, prec)

    def _float_step(self, layer, suffix, fn, what: str, prec: Precision) -> None:
        """A float function quantized to `prec`, tabulated as a step function."""
        import tensorflow as tf
        t = prec.type

        def quantized(v):
            with keras_floatx("float64"):
                y = np.asarray(fn(tf.constant(v, tf.float64)), np.float64)
            codes = apply_overflow(float_to_codes(y, t.frac, prec.rounding), t, prec.overflow)
            return codes_to_float(codes, t.frac)
        self.exact = False
        self._step(layer, suffix, quantized, 1, f"{what} at precision {prec}")

    def _quantizer(self, q, layer, suffix: str = "") -> None:
        quantizers.check(q, layer.name, "activation", for_weights=False)
        lin = quantizers.linear(q)
        if lin is not None:
            t, overflow, f32 = lin
            self.push(Quantize, layer, suffix, shape=self.cur.shape, type=t,
                      rounding=Rounding.RND_CONV, overflow=overflow, float32_cast=f32,
                      note=quantizers.describe(q))
            return
        self._step(layer, suffix, lambda v: quantizers.call_quantizer(q, v), 1,
                   quantizers.describe(q))

    def _step(self, layer, suffix, fn, channels, what) -> None:
        th, lv, out = quantizers.step_function(fn, self.cur.type, channels, layer.name, what)
        self.push(StepFunction, layer, suffix, shape=self.cur.shape, type=out, thresholds=th,
                  levels=lv, function=what, note=what)

    # ------------------------------------------------------------------ batch norm
    def _bn_channels(self, layer) -> int:
        channels = self.cur.shape[-1]
        axis = layer.axis if isinstance(layer.axis, int) else list(layer.axis)
        if axis not in (-1, len(self.cur.shape), [len(self.cur.shape)]):
            raise layer_error(layer.name, f"batch normalization over axis {axis}",
                              "Normalize over the last axis (channels_last)", UnsupportedError)
        return channels

    def _fused_batchnorm(self, bn, act) -> None:
        """BN followed by a quantizer is one monotonic step function per channel."""
        import tensorflow as tf
        q = _unwrap(act.quantizer)
        quantizers.check(q, act.name, "activation", for_weights=False)
        channels = self._bn_channels(bn)

        def fn(v):
            with keras_floatx("float64"):
                y = bn(tf.constant(v, tf.float64), training=False)
            return quantizers.call_quantizer(q, np.asarray(y, dtype=np.float64))
        what = f"{type(bn).__name__} + {quantizers.describe(q)}"
        th, lv, out = quantizers.step_function(fn, self.cur.type, channels, bn.name, what)
        self.push(StepFunction, bn, shape=self.cur.shape, type=out, thresholds=th, levels=lv,
                  function=what, note=f"fused with '{act.name}': {what}")
        self.nodes[-1].layer = f"{bn.name}+{act.name}"

    def _batchnorm(self, layer) -> None:
        import tensorflow as tf
        prec = self.options.precision_for(layer.name)
        if prec is None:
            raise layer_error(layer.name, f"{type(layer).__name__} output is not on a "
                              f"fixed-point grid", "Follow it with a QActivation quantizer, or "
                              "pass --precision 'fixed<16,6>'")
        channels = self._bn_channels(layer)
        with keras_floatx("float64"):
            y = np.asarray(layer(tf.constant(np.stack([np.zeros(channels), np.ones(channels)]),
                                             tf.float64), training=False), np.float64)
        shift_f, scale_f = y[0], y[1] - y[0]
        t = prec.type
        scale = apply_overflow(float_to_codes(scale_f, t.frac, prec.rounding), t, prec.overflow)
        shift = apply_overflow(float_to_codes(shift_f, t.frac, prec.rounding), t, prec.overflow)
        src = self.cur.type
        frac = src.frac + t.frac
        ext = [a * c for a in (src.min_code, src.max_code) for c in (int(scale.min()), int(scale.max()))]
        shift_hi = int(np.max(np.abs(shift))) << (frac - t.frac)
        out = FixedType.for_range(min(ext) - shift_hi, max(ext) + shift_hi, frac)
        self.push(ScaleShift, layer, shape=self.cur.shape, type=out, scale=scale, scale_frac=t.frac,
                  shift=shift, shift_frac=t.frac, note=f"scale and shift at precision {prec}")
        self._quantize_to(layer, prec, "_result")


def _unwrap(q):
    return q.quantizer if isinstance(q, Float32Quantizer) else q
