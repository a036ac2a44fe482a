"""`hwgen hls MODEL`: an hls4ml project whose per-layer precisions come from hwgen's IR, and
a bit-exact check of hls4ml's C simulation against hwgen's reference.

Every layer's types are set from the IR, not left to hls4ml's defaults: the input's
format; per dense layer the weight and bias formats (the narrowest that hold the codes),
the accumulator and the result (the IR's exact accumulator format, so nothing rounds
inside the layer); per quantizer or ReLU the result format with its rounding and
overflow mode (`ap_fixed<W,I,AP_RND_CONV,AP_SAT>`). ap_fixed arithmetic is exact on those
types, so hls4ml's `predict` must equal the reference code for code.

Where hls4ml cannot be bit-exact the check stops before that layer and says so: its
softmax is a lookup table (the reference outputs logits; the check compares the logits
through hls4ml's `trace`), and batch-norm layers that hwgen folds into exact step or
scale-shift functions are computed by hls4ml in its own rounded arithmetic.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import HwgenError
from ..ir.graph import Graph
from ..ir.types import FixedType
from ..ops.hls_types import ap_type


BACKENDS = ("Vitis", "Vivado", "Quartus")
RENAMED_INPUT = "input_features"      # hls4ml reserves the layer name 'input'
# The QActivation quantizers hls4ml's QKeras converter takes (hls4ml 1.3,
# converters/keras/qkeras.py: get_activation_quantizer); on any other (quantized_po2,
# quantized_relu_po2, quantized_ulaw) it raises from deep inside the conversion.
HLS4ML_ACTIVATIONS = ("quantized_relu", "quantized_tanh", "quantized_sigmoid",
                      "quantized_bits", "binary", "ternary")
# The weight quantizers whose weights hls4ml computes with exactly; `hls_model` replaces
# the others by plain quantized_bits holding the same values. quantized_ulaw it runs
# through QKeras in its own float type; quantized_po2 weights it multiplies by shifting
# into `ap_fixed<2 (e + x), e + x>` (`weight_exponential`, e: the exponent's bits, x:
# the input's), which drops the low bits of a right shift deeper than e + x - x_int
# (a fixed<12,5> input times 2**-15: 298 of 300 vectors off in the C simulation).
HLS4ML_WEIGHTS = ("quantized_bits", "binary", "ternary")
# hls4ml's name for a layer's own relu activation, after the layer's name.
OWN_RELU = "_relu"
# hls4ml's name for a separable convolution's pointwise half (`<layer>_pointwise`), the
# layer's output; its depthwise half is `<layer>_depthwise`, as in hwgen's IR.
SEPARABLE_POINTWISE = "_pointwise"
# Batch-norm-folding layers hls4ml converts itself (bit-exact in its C simulation, measured);
# the others reach it as their plain convolution with the folded weights (`hls_model`).
HLS4ML_FOLDS = ("QConv2DBatchnorm",)
# QKeras average poolings: hls4ml 1.3 has no converter for them (`_plain_layers`).
Q_AVERAGE_POOLING = ("QAveragePooling2D", "QGlobalAveragePooling2D")
# Merges hls4ml takes two tensors at a time: one of n tensors reaches it as a chain of
# n - 1 (`_chain_merges`), the first n - 2 named `<layer>_chain<k>`; an Average of more
# than two is not a chain of two-input averages, and stays refused.
CHAINABLE = ("Add", "Multiply", "Maximum", "Minimum", "Concatenate")
CHAINED = "_chain"


def precisions(graph: Graph) -> tuple[dict, str | None, str | None]:
    """({Keras layer: {type name: ap type}}, the last layer compared, why it stops there):
    each op's `hls_precision` rule (hwgen/ops/)."""
    out: dict = {}
    last = None
    rows, reason = _hls_layers(graph)
    for key, _, entries in rows:
        if entries is not None:     # a layer lowered to several ops: its last op's result
            out.setdefault(key, {}).update(entries)
        last = key
    if reason is None and graph.softmax_removed:
        reason = "hls4ml's softmax is a lookup table; the logits before it are compared"
    return out, last, reason


def compared_nodes(graph: Graph) -> dict:
    """{hls4ml layer name: the IR node whose values its output holds}, up to the first op
    hls4ml cannot match: a layer lowered to several ops is its last one, but a layer's own
    activation that hls4ml makes a layer of its own (or that stops the comparison) is not
    the layer's output."""
    return {key: node for key, node, _ in _hls_layers(graph)[0]}


def _hls_layers(graph: Graph) -> tuple[list, str | None]:
    """([(hls4ml layer name, IR node, its precisions or None)] in order up to the first op
    whose `hls_precision` gives a reason hls4ml cannot match it, that reason)."""
    from ..frontends.builder import OWN_ACTIVATION, SEPARABLE_DEPTHWISE
    rows, typed = [], set()
    for node in graph.nodes:
        name = RENAMED_INPUT if node.layer == "input" else node.layer
        entries, reason = node.hls_precision()
        if reason is not None:
            if node.name != f"{node.layer}{OWN_ACTIVATION}":
                # inside a layer (a global average's division after its sum): hls4ml's
                # output of the layer is this op's, so none of the layer is compared
                rows = [r for r in rows if r[0] != name]
            return rows, reason
        key = name
        if node.op == "relu" and name in typed:
            # a layer's own relu (Dense(..., activation='relu')): hls4ml's `<layer>_relu`
            key = f"{name}{OWN_RELU}"
        if entries is not None and node.name == f"{node.layer}{SEPARABLE_DEPTHWISE}":
            # a separable convolution's first half: hls4ml splits the layer into
            # `<layer>_depthwise` and `<layer>_pointwise` and types the first from these
            entries = {("depthwise" if k == "weight" else f"depthwise_{k}"): v
                       for k, v in entries.items() if k != "bias"}
        if entries is not None:
            typed.add(key)
        rows.append((key, node, entries))
    return rows, None


def _convolution_hls4ml_computes_otherwise(model) -> str | None:
    """The first convolution hls4ml 1.3 would not compute as Keras does, and why (a
    sentence naming the layer and the way round it), or None. Its Keras converter reads
    neither `groups` nor `dilation_rate`, pads a causal convolution by `kernel - stride`
    where Keras pads by `kernel - 1`, and its depthwise kernels assert a depth multiplier
    of 1 (the C simulation stops). Measured on random CNNs: a grouped convolution's C
    simulation differed from Keras on 300 of 300 vectors, a causal one of stride 2 on
    297 of 300 (at its first output); hls4ml's kernels have no dilation parameter."""
    for layer in model.layers:
        groups = int(getattr(layer, "groups", 1) or 1)
        multiplier = int(getattr(layer, "depth_multiplier", 1) or 1)
        dilation = tuple(getattr(layer, "dilation_rate", None) or (1,))
        strides = tuple(getattr(layer, "strides", None) or (1,))
        causal = getattr(layer, "padding", "") == "causal"
        why = None
        if multiplier > 1:
            why = (f"depth_multiplier={multiplier}; hls4ml 1.3 computes depthwise "
                   "convolutions of depth multiplier 1 only (its C simulation stops on an "
                   "assertion otherwise). For the hls4ml project, use depth_multiplier=1 "
                   "(or a depthwise then a 1x1 convolution)")
        elif groups > 1:
            why = (f"a grouped convolution (groups={groups}); hls4ml 1.3's Keras converter "
                   "ignores `groups` and computes one full convolution. For the hls4ml "
                   "project, use groups=1")
        elif max(dilation) > 1:
            why = (f"dilation_rate={dilation}; hls4ml 1.3's Keras converter ignores the "
                   "dilation and computes an undilated convolution. For the hls4ml project, "
                   "use dilation_rate=1")
        elif causal and max(strides) > 1:
            why = (f"causal padding with strides={strides}; hls4ml 1.3 pads it by kernel "
                   "- stride where Keras pads by kernel - 1. For the hls4ml project, use "
                   "strides=1 (then a pooling or a strided 'valid' convolution)")
        if why:
            return f"layer '{layer.name}': {why}"
    return None


def unsupported_activation(model) -> str | None:
    """What hls4ml cannot convert among the model's activation quantizers (a QActivation's,
    or a QKeras layer's own `activation`): a sentence naming the first such layer and its
    quantizer, or None."""
    from ..frontends.quantizers import describe, name_of
    for layer in model.layers:
        q = getattr(layer, "quantizer" if type(layer).__name__ == "QActivation"
                    else "activation", None)
        if q is None or not type(q).__module__.startswith("qkeras"):
            continue                      # a Keras activation function: hls4ml's own
        if name_of(q) not in HLS4ML_ACTIVATIONS:
            return (f"layer '{layer.name}': hls4ml's QKeras converter does not take the "
                    f"activation {describe(q)} (it takes {', '.join(HLS4ML_ACTIVATIONS)})")
    return None


def hls_model(model):
    """The copy of the Keras model that hls4ml converts: the input layer renamed if hls4ml
    reserves its name, and every weight quantizer with an alpha scale ('auto', 'auto_po2',
    or numbers: QKeras gives alpha=None kernels 'auto_po2' itself) or outside
    HLS4ML_WEIGHTS replaced by a plain quantized_bits that holds the already-quantized
    weights exactly. hls4ml would factor such a scale out into an ApplyAlpha layer after
    the layer, with the bias moved there and an 'auto' precision that hwgen cannot set
    (nor compare before), so its result would not be the layer's. A Keras `Softmax` layer
    becomes the same `Activation('softmax')`: hls4ml 1.3 writes the former's call with a
    config name its parameters do not declare (`softmax_config<N>` against
    `Softmax_config<N>`), and the C simulation does not compile. Layers hls4ml has no
    converter for but equal ones it has are replaced (`_plain_layers`)."""
    import tensorflow as tf
    from ..frontends.loader import custom_objects
    from ..frontends.twin import (BATCHNORM_FOLDED, WEIGHT_QUANTIZER_KEYS, quantized_weights,
                                  unfold_batchnorm, weight_role)
    config = json.loads(model.to_json())
    layers = config["config"]["layers"] if isinstance(config["config"], dict) else \
        config["config"]
    def replaced(q: dict) -> bool:      # a quantizer config hls4ml would not apply as is
        c = q.get("config", {})
        # hls4ml 1.3 types a quantized_bits as signed fixed<bits, integer + 1> (an unsigned
        # one loses its last fraction bit) or, where integer == bits, as a plain int<bits>
        # (whose step is 1, not 2): `QKerasQuantizer._get_type`
        misread = q.get("class_name") == "quantized_bits" and (
            not c.get("keep_negative", True) or c.get("integer", 0) == c.get("bits"))
        return c.get("alpha") not in (None, 1, 1.0) or misread or \
            q.get("class_name") not in HLS4ML_WEIGHTS

    requantized = {}
    softmax_layers = [lc for lc in layers
                      if lc["class_name"] == "Softmax" and lc["config"].get("axis", -1) == -1]
    for lc in softmax_layers:
        c = lc["config"]
        lc["class_name"] = "Activation"
        lc["config"] = {"name": c["name"], "trainable": c.get("trainable", True),
                        "dtype": c.get("dtype", "float32"), "activation": "softmax"}
    changed = _plain_layers(layers) + _chain_merges(layers)
    for lc in layers:
        # A batch-norm-folded layer (hls4ml 1.3 converts QConv2DBatchnorm but not
        # QDepthwiseConv2DBatchnorm) becomes its plain convolution with the folded,
        # quantized kernel and bias, as hwgen's reference computes it.
        if lc["class_name"] not in BATCHNORM_FOLDED or lc["class_name"] in HLS4ML_FOLDS:
            continue
        name = lc["config"]["name"]
        values, applied = quantized_weights(model.get_layer(name))
        unfold_batchnorm(lc)
        kernel = "depthwise_kernel" if "depthwise_quantizer" in lc["config"] else "kernel"
        for role, v in zip((kernel, "bias"), values):
            key = WEIGHT_QUANTIZER_KEYS[role]
            lc["config"][key] = _plain_quantizer(v) if role in applied else None
        requantized[name] = values
    for lc in layers:
        if lc["config"].get("name") in requantized:
            continue
        name = lc["config"].get("name")
        keys = [key for key in WEIGHT_QUANTIZER_KEYS.values()
                if isinstance(lc["config"].get(key), dict) and replaced(lc["config"][key])]
        if not keys:
            continue
        layer = model.get_layer(name)
        values, _ = quantized_weights(layer)
        by_key = {WEIGHT_QUANTIZER_KEYS.get(weight_role(v)): w
                  for v, w in zip(layer.weights, values)}
        for key in keys:
            lc["config"][key] = _plain_quantizer(by_key[key])
        requantized[name] = values
    text = json.dumps(config)
    if '"input"' not in text and not requantized and not softmax_layers and not changed:
        return model
    copy = tf.keras.models.model_from_json(text.replace('"input"', f'"{RENAMED_INPUT}"'),
                                           custom_objects=custom_objects())
    for layer in copy.layers:
        if layer.weights:             # (an input layer renamed above has none)
            layer.set_weights(requantized.get(layer.name) or
                              model.get_layer(layer.name).get_weights())
    return copy


def _plain_layers(layers: list) -> int:
    """Make layers hls4ml 1.3 has no converter for into ones it has, in the model's JSON
    `layers` (in place); how many changed. A layer that computes nothing at inference
    (noise, spatial dropout, regularizers) becomes a Dropout, which hls4ml leaves out; a
    QKeras average pooling without an average quantizer or activation, its Keras layer."""
    from ..frontends.layers.ignored import IDENTITY_AT_INFERENCE
    changed = 0
    for lc in layers:
        c, cls = lc["config"], lc["class_name"]
        if cls in IDENTITY_AT_INFERENCE and cls != "Dropout":
            lc["class_name"] = "Dropout"
            lc["config"] = {"name": c["name"], "trainable": c.get("trainable", True),
                            "dtype": c.get("dtype", "float32"), "rate": 0.0}
        elif cls in Q_AVERAGE_POOLING and not (c.get("average_quantizer") or
                                               c.get("activation")):
            lc["class_name"] = cls[1:]
            c.pop("average_quantizer", None)
            c.pop("activation", None)
        else:
            continue
        # Keras deserialises by the registered name and module, not the class name
        lc.update({"module": "keras.layers", "registered_name": lc["class_name"]})
        changed += 1
    return changed


def _chain_merges(layers: list) -> int:
    """Make each merge of more than two tensors (`CHAINABLE`) in the model's JSON `layers`
    a chain of two-input ones (in place): `<layer>_chain1` of the first two, each next
    one of the one before and the next tensor, the layer itself last (its readers are
    unchanged). How many merges changed."""
    changed = 0
    for i in range(len(layers) - 1, -1, -1):
        lc = layers[i]
        nodes = lc.get("inbound_nodes") or []
        if lc["class_name"] not in CHAINABLE or len(nodes) != 1 or len(nodes[0]) <= 2:
            continue
        name, sources = lc["config"]["name"], nodes[0]
        chain, prev = [], None
        for k in range(1, len(sources) - 1):
            link = json.loads(json.dumps(lc))
            link["name"] = link["config"]["name"] = f"{name}{CHAINED}{k}"
            link["inbound_nodes"] = [[prev or sources[0], sources[k]]]
            prev = [link["name"], 0, 0, {}]
            chain.append(link)
        lc["inbound_nodes"] = [[prev, sources[-1]]]
        layers[i:i] = chain
        changed += 1
    return changed


def _chain_types(graph: Graph) -> dict:
    """{`<layer>_chain<k>`: its result type} for the merges `_chain_merges` splits: wide
    enough for every partial result exactly (a partial sum or product of the first k + 1
    tensors; for a maximum, minimum or concatenation, every source's values)."""
    from ..ops.merge import aligned_bounds
    out = {}
    for node in graph.nodes:
        if node.arity is not None or len(node.inputs) <= 2 or node.origin not in CHAINABLE:
            continue
        srcs = graph.sources(node)
        if node.origin in ("Add", "Multiply"):
            types = [_partial_type(node, srcs[:k + 1]) for k in range(1, len(srcs) - 1)]
        else:
            frac = max(s.type.frac for s in srcs)
            bounds = aligned_bounds(srcs, frac)
            union = FixedType.for_range(min(int(np.min(a)) for a, _ in bounds),
                                        max(int(np.max(b)) for _, b in bounds), frac)
            types = [union] * (len(srcs) - 2)
        for k, t in enumerate(types, 1):
            out[f"{node.layer}{CHAINED}{k}"] = {"result": ap_type(t)}
    return out


def _partial_type(node, part) -> FixedType:
    """The exact type of an Add's or Multiply's result over its first sources `part`, by
    the op's own interval rule (codes at the sum's fraction bits; a product's are the
    sources' added)."""
    import dataclasses
    n = len(part)
    if node.origin == "Add":
        partial = dataclasses.replace(node, inputs=node.inputs[:n], signs=node.signs[:n])
        frac = partial.sum_frac
    else:
        partial = dataclasses.replace(node, inputs=node.inputs[:n])
        frac = sum(s.type.frac for s in part)
    lo, hi = partial.interval(part)
    return FixedType.for_range(int(np.min(lo)), int(np.max(hi)), frac)


def _refuse_unconvertible(keras_model) -> None:
    """A clear error for a layer hls4ml 1.3 cannot convert (it raises a bare Exception
    from deep inside)."""
    from hls4ml.converters import get_supported_keras_layers
    known = set(get_supported_keras_layers()) | {"Dropout"}
    for layer in keras_model.layers:
        cls = type(layer).__name__
        if cls in known:
            continue
        how = (" with an average_quantizer or activation (without them it is converted as "
               f"{cls[1:]})" if cls in Q_AVERAGE_POOLING else "")
        raise HwgenError(f"layer '{layer.name}': hls4ml 1.3 has no converter for {cls}{how}. "
                         "hwgen's own RTL (`hwgen build`, `sim`, `flow`) computes it "
                         "exactly; for the hls4ml project, use a layer hls4ml converts")


def _plain_quantizer(values: np.ndarray) -> dict:
    """A signed quantized_bits config (alpha 1) on whose grid every one of `values` lies,
    with room for all of them: it maps them to themselves. Signed even where every value
    is >= 0: hls4ml 1.3 reads every quantized_bits as signed (`QKerasQuantizer._get_type`:
    `integer + 1` integer bits, keep_negative ignored), so an unsigned one would lose its
    last fraction bit there; no fewer than 0 fraction bits (integer == bits would be
    read as an int of step 1) nor integer bits."""
    from ..ir.types import FixedType, exact_codes, needed_frac
    frac = max(needed_frac(values), 0)
    codes, on_grid = exact_codes(values, frac)
    assert on_grid.all()
    lo, hi = int(codes.min(initial=0)), int(codes.max(initial=0))
    t = FixedType.for_range(min(lo, -1), hi, frac)
    # no fewer than 0 integer bits either: QKeras computes 2**integer in integers, which
    # TensorFlow refuses for a negative power (hls4ml calls the quantizer on the weights)
    width = max(t.width, 2, frac + 1)
    return {"class_name": "quantized_bits", "config": {
        "bits": width, "integer": width - frac - 1, "symmetric": 0, "alpha": 1,
        "keep_negative": True, "use_stochastic_rounding": False, "qnoise_factor": 1.0}}


def write_project(model, graph: Graph, out: Path, backend: str = "Vitis",
                  part: str | None = None, overrides: dict | None = None, reuse: int = 1,
                  io: str = "parallel"):
    """Convert with hwgen's precisions (`overrides` replaces some, e.g. to show that the
    check catches a wrong one) and write the project; (hls model, compared layer, note).
    `reuse` is hls4ml's ReuseFactor for every layer, with its Resource strategy when > 1:
    it shapes the vendor project, not the C simulation's numbers."""
    import hls4ml
    if backend not in BACKENDS:
        raise HwgenError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    if reuse < 1:
        raise HwgenError(f"reuse must be a whole number >= 1, not {reuse}")
    if io not in ("parallel", "stream"):
        raise HwgenError(f"io must be parallel or stream, not {io!r}")
    wide = [n for n in graph.nodes if n.arity is None and len(n.inputs) > 2
            and n.origin not in CHAINABLE]
    if wide:
        raise HwgenError(f"layer '{wide[0].layer}': {wide[0].origin} of {len(wide[0].inputs)} "
                         "tensors; hls4ml merges two at a time (its converter refuses more), "
                         "and averages of two do not chain into it. Chain two-input merges "
                         "in the model for the hls4ml path; hwgen's own RTL (`hwgen "
                         "build`, `flow`) takes it as it is")
    from ..ops import Conv
    per_position = [n for n in graph.nodes if isinstance(n, Conv) and "Dense" in n.origin]
    if per_position:
        n = per_position[0]
        kind = "sequence" if len(graph.sources(n).shape) == 2 else "image"
        raise HwgenError(f"layer '{n.layer}': a Dense on a {kind}, which Keras applies at "
                         "every position; hls4ml 1.3's C simulation of it differs from Keras "
                         "(every vector, measured). For the hls4ml project, write it as a "
                         "Conv1D/Conv2D of kernel size 1; hwgen's own RTL (`hwgen build`, "
                         "`flow`) takes it as it is")
    wrong = _convolution_hls4ml_computes_otherwise(model)
    if wrong:
        raise HwgenError(f"{wrong}; hwgen's own RTL (`hwgen build`, `flow`) takes it as it is")
    refused = unsupported_activation(model)
    if refused:
        raise HwgenError(f"{refused}. hwgen's own RTL (`hwgen build`, `sim`, `flow`) computes "
                         "it exactly; for the hls4ml project, use one of those activations")
    keras_model = hls_model(model)
    _refuse_unconvertible(keras_model)
    config = hls4ml.utils.config_from_keras_model(keras_model, granularity="name",
                                                  backend=backend, default_reuse_factor=reuse)
    if reuse > 1:
        config["Model"]["Strategy"] = "Resource"
    types, last, reason = precisions(graph)
    for layer, prec in _chain_types(graph).items():
        if layer in config["LayerName"]:
            types[layer] = prec
    for layer, prec in (overrides or {}).items():
        types[layer] = dict(types.get(layer, {}), **prec)
    if last is None:
        raise HwgenError(f"no layer of this model can be compared in hls4ml: {reason}")
    for own in [k for k in types if k.endswith(OWN_RELU) and k not in config["LayerName"]]:
        base = own[:-len(OWN_RELU)]      # hls4ml named it otherwise: one layer, as before
        types[base] = dict(types.get(base, {}), **types.pop(own))
        last = base if last == own else last
    for layer, prec in types.items():
        if layer not in config["LayerName"]:
            raise HwgenError(f"hls4ml has no layer named {layer} in its configuration")
        _set(config["LayerName"][layer], prec)
        # hls4ml follows a quantized dense layer with a linear activation `<name>_linear`,
        # which would otherwise cast to its default precision.
        if f"{layer}_linear" in config["LayerName"]:
            _set(config["LayerName"][f"{layer}_linear"], {"result": prec["result"]})
    config["LayerName"][last]["Trace"] = True
    for head in graph.heads:       # `check` compares every output of a model with several
        if head.layer in config["LayerName"]:
            config["LayerName"][head.layer]["Trace"] = True
    kwargs = {"part": part} if part else {}
    hm = hls4ml.converters.convert_from_keras_model(
        keras_model, hls_config=config, output_dir=str(out), backend=backend,
        io_type=f"io_{io}", **kwargs)
    hm.write()
    (Path(out) / "hwgen_precisions.json").write_text(
        json.dumps({"layers": types, "compared_layer": last, "note": reason}, indent=1) + "\n")
    return hm, last, reason


def _set(entry: dict, prec: dict) -> None:
    current = entry.get("Precision")
    entry["Precision"] = dict(current, **prec) if isinstance(current, dict) else dict(prec)


def check(hm, graph: Graph, codes: np.ndarray, last: str) -> dict:
    """hls4ml's C simulation against the reference on input codes [N, *shape]: the
    layer `last`, or every output of a model with several when `last` is the end."""
    from ..ir import interp
    t_in = graph.input.type
    x = np.ldexp(codes.astype(np.float64), -t_in.frac)       # exact in float64
    hm.config.trace_output = True          # one build, with the trace hooks `_trace` reads
    compile_project(hm)
    trace = _trace(hm, x)
    values = interp.run(graph, codes, keep=True)
    compared = [last]
    if len(graph.heads) > 1 and last == graph.nodes[-1].layer:
        compared = [h.layer for h in graph.heads]
    bad = np.zeros(len(codes), dtype=bool)
    first = []
    nodes = compared_nodes(graph)
    for layer in compared:
        # a separable convolution's output is its pointwise half's
        traced = layer if layer in trace else f"{layer}{SEPARABLE_POINTWISE}"
        got = np.asarray(trace[traced], dtype=np.float64).reshape(len(codes), -1)
        own = f"{layer}{OWN_RELU}"
        # hls4ml named a layer's own relu otherwise (`write_project`): one layer, whose
        # output is the relu's
        node = nodes[own] if own in nodes and own not in trace else nodes[layer]
        expected = np.asarray(values[node.name]).reshape(len(codes), -1)
        got_codes = np.ldexp(got, node.type.frac)
        exact = np.equal(got_codes, np.round(got_codes))
        got_int = np.where(exact, got_codes, np.nan)
        wrong = np.any(~(got_int == expected), axis=1)
        first += [{"vector": int(k), "layer": layer, "expected": expected[k].tolist(),
                   "got": got_codes[k].tolist()} for k in np.flatnonzero(wrong)[:5]]
        bad |= wrong
    return {"vectors": len(codes), "mismatches": int(bad.sum()),
            "compared_layer": ", ".join(compared), "first_mismatches": first[:5]}


def _trace(hm, x: np.ndarray) -> dict:
    """hls4ml's `trace` (every traced layer's outputs) run in a forked child process: the
    C simulation is a shared library loaded into the caller, and an `assert` in hls4ml's
    C++ (e.g. a padded 1-D pooling in io_stream) would end the whole Python process. The
    child writes its output to `csim.log`; a child that dies is one clear error quoting
    it. Why not multiprocessing: its fork context adds nothing here, and the arrays come
    back through one pickle file."""
    import faulthandler
    import os
    import pickle
    import signal
    import sys
    import traceback
    from ..tool_errors import tool_failed
    if not hasattr(os, "fork"):                 # (not on Windows: in this process)
        return hm.trace(x)[1]
    out = Path(hm.config.get_output_dir())
    log, result = out / "csim.log", out / "csim_trace.pkl"
    result.unlink(missing_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:                                  # the child: trace, save, exit
        code = 1
        try:
            faulthandler.disable()    # an abort is reported by the parent, not dumped
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            # hls4ml's `trace` writes and builds the project again first; `check` built
            # it with the trace hooks already (a g++ run of several seconds saved)
            hm.compile = lambda: None
            _, trace = hm.trace(x)
            with open(result, "wb") as f:
                pickle.dump({k: np.asarray(v) for k, v in trace.items()}, f)
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    try:
        _, status = os.waitpid(pid, 0)
    except BaseException:                         # interrupted: the child goes too
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise
    if os.WIFSIGNALED(status) or os.WEXITSTATUS(status) or not result.is_file():
        how = (f" ({signal.Signals(os.WTERMSIG(status)).name})"
               if os.WIFSIGNALED(status) else "")
        raise tool_failed(f"hls4ml's C simulation{how}", log.resolve(),
                          what=" (hls4ml cannot compute this model; hwgen's own RTL, "
                               "`hwgen build` or `flow`, takes it)")
    with open(result, "rb") as f:
        trace = pickle.load(f)
    result.unlink()
    return trace


def compile_project(hm) -> None:
    """hls4ml's C simulation build; a failure is one line with g++'s first error and the
    log (hls4ml prints the whole compiler output and raises a bare Exception)."""
    import contextlib
    import io
    from pathlib import Path
    from .. import processes
    from ..outputs import write_text
    from ..tool_errors import tool_failed
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            hm.compile()
    except Exception:
        out = Path(hm.config.get_output_dir())
        # build_lib.sh is a bash script (`+=`): run it as hls4ml does, not with sh.
        proc = processes.run(["bash", "./build_lib.sh"], cwd=out)
        log = write_text(out / "build_lib.log", (proc.stdout or "") + (proc.stderr or ""))
        raise tool_failed("hls4ml's C simulation build (g++)", log.resolve()) from None
