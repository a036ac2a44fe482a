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


BACKENDS = ("Vitis", "Vivado", "Quartus")
RENAMED_INPUT = "input_features"      # hls4ml reserves the layer name 'input'
# The QActivation quantizers hls4ml's QKeras converter takes (hls4ml 1.3,
# converters/keras/qkeras.py: get_activation_quantizer); on any other (quantized_po2,
# quantized_relu_po2, quantized_ulaw) it raises from deep inside the conversion.
HLS4ML_ACTIVATIONS = ("quantized_relu", "quantized_tanh", "quantized_sigmoid",
                      "quantized_bits", "binary", "ternary")
# The weight quantizers it quantizes the weights with itself (get_quantizer_from_config);
# others (quantized_ulaw) it runs through QKeras in its own float type, off the values the
# model computes, so `hls_model` replaces them.
HLS4ML_WEIGHTS = ("quantized_bits", "quantized_po2", "binary", "ternary")
# hls4ml's name for a layer's own relu activation, after the layer's name.
OWN_RELU = "_relu"
# Batch-norm-folding layers hls4ml converts itself (bit-exact in its C simulation, measured);
# the others reach it as their plain convolution with the folded weights (`hls_model`).
HLS4ML_FOLDS = ("QConv2DBatchnorm",)


def precisions(graph: Graph) -> tuple[dict, str | None, str | None]:
    """({Keras layer: {type name: ap type}}, the last layer compared, why it stops there):
    each op's `hls_precision` rule (hwgen/ops/)."""
    out: dict = {}
    last, reason = None, None
    for node in graph.nodes:
        name = RENAMED_INPUT if node.layer == "input" else node.layer
        entries, reason = node.hls_precision()
        if reason is not None:
            break
        key = name
        if node.op == "relu" and name in out:
            # a layer's own relu (Dense(..., activation='relu')): hls4ml's `<layer>_relu`
            key = f"{name}{OWN_RELU}"
        if entries is not None:     # a layer lowered to several ops: its last op's result
            out.setdefault(key, {}).update(entries)
        last = key
    if reason is None and graph.softmax_removed:
        reason = "hls4ml's softmax is a lookup table; the logits before it are compared"
    return out, last, reason


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
    `Softmax_config<N>`), and the C simulation does not compile."""
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
    if '"input"' not in text and not requantized and not softmax_layers:
        return model
    copy = tf.keras.models.model_from_json(text.replace('"input"', f'"{RENAMED_INPUT}"'),
                                           custom_objects=custom_objects())
    for layer in copy.layers:
        if layer.weights:             # (an input layer renamed above has none)
            layer.set_weights(requantized.get(layer.name) or
                              model.get_layer(layer.name).get_weights())
    return copy


def _plain_quantizer(values: np.ndarray) -> dict:
    """A signed quantized_bits config (alpha 1) on whose grid every one of `values` lies,
    with room for all of them: it maps them to themselves. Signed even where every value
    is >= 0: hls4ml 1.3 reads every quantized_bits as signed (`QKerasQuantizer._get_type`:
    `integer + 1` integer bits, keep_negative ignored), so an unsigned one would lose its
    last fraction bit there; and no fewer than 0 fraction bits (integer == bits would be
    read as an int of step 1)."""
    from ..ir.types import FixedType, exact_codes, needed_frac
    frac = max(needed_frac(values), 0)
    codes, on_grid = exact_codes(values, frac)
    assert on_grid.all()
    lo, hi = int(codes.min(initial=0)), int(codes.max(initial=0))
    t = FixedType.for_range(min(lo, -1), hi, frac)
    width = max(t.width, 2)
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
    wide = [n for n in graph.nodes if n.arity is None and len(n.inputs) > 2]
    if wide:
        raise HwgenError(f"layer '{wide[0].layer}': {wide[0].origin} of {len(wide[0].inputs)} "
                         "tensors; hls4ml merges two at a time (its converter refuses more). "
                         "Chain two-input merges in the model for the hls4ml path; hwgen's "
                         "own RTL (`hwgen build`, `flow`) takes it as it is")
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
    deep = next((layer for layer in model.layers
                 if int(getattr(layer, "depth_multiplier", 1) or 1) > 1), None)
    if deep is not None:
        raise HwgenError(f"layer '{deep.name}': depth_multiplier={deep.depth_multiplier}; "
                         "hls4ml 1.3 computes depthwise convolutions of depth multiplier 1 "
                         "only (its C simulation stops on an assertion otherwise). For the "
                         "hls4ml project, use depth_multiplier=1 (or a depthwise then a 1x1 "
                         "convolution); hwgen's own RTL (`hwgen build`, `flow`) takes it as "
                         "it is")
    refused = unsupported_activation(model)
    if refused:
        raise HwgenError(f"{refused}. hwgen's own RTL (`hwgen build`, `sim`, `flow`) computes "
                         "it exactly; for the hls4ml project, use one of those activations")
    keras_model = hls_model(model)
    config = hls4ml.utils.config_from_keras_model(keras_model, granularity="name",
                                                  backend=backend, default_reuse_factor=reuse)
    if reuse > 1:
        config["Model"]["Strategy"] = "Resource"
    types, last, reason = precisions(graph)
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
    compile_project(hm)
    _, trace = hm.trace(x)
    values = interp.run(graph, codes, keep=True)
    compared = [last]
    if len(graph.heads) > 1 and last == graph.nodes[-1].layer:
        compared = [h.layer for h in graph.heads]
    bad = np.zeros(len(codes), dtype=bool)
    first = []
    for layer in compared:
        got = np.asarray(trace[layer], dtype=np.float64).reshape(len(codes), -1)
        node = _node_of(graph, layer)
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


def _node_of(graph: Graph, hls_name: str):
    name = "input" if hls_name == RENAMED_INPUT else hls_name
    for node in reversed(graph.nodes):
        if node.layer == name:
            return node
    if name.endswith(OWN_RELU):     # the layer's own relu: its last op
        return _node_of(graph, name[:-len(OWN_RELU)])
    raise HwgenError(f"no IR node for layer {hls_name}")
