"""A float64 twin of a Keras model that outputs the logits (the input of a final softmax).

QKeras computes in float32, where a sum of many products rounds in an order the BLAS
library chooses. The twin runs the same layers with the same weights with every sum in
float64, where fixed-point sums below 2**53 are exact. Quantizers and batch
normalizations stay in float32, as in the deployed model (several QKeras quantizers do not
even run in float64): weights are quantized once in float32, every activation quantizer
sees the float32 rounding of its exact input, and a batch normalization rounds as QKeras's
does (`FLOAT32_LAYERS`). That is the QKeras result the hardware is compared with.
"""
from __future__ import annotations

import functools
import json

import numpy as np

from ..errors import ModelFileError, UnsupportedError, first_line, layer_error
from . import quantizers
from .float32 import Float32Quantizer, keras_floatx


def _is_softmax(layer_cfg: dict) -> bool:
    cls, cfg = layer_cfg["class_name"], layer_cfg["config"]
    act = cfg.get("activation")
    if isinstance(act, dict):
        act = act.get("class_name") or act.get("config", {}).get("name")
    if cls in ("Activation", "QActivation") and act == "softmax":
        return True
    return cls == "Softmax"


def logits_config(model) -> tuple[dict, list[str]]:
    """The model's config rewritten to drop a softmax at each output. Returns (config,
    the names of the outputs whose softmax was dropped)."""
    # to_json serialises quantizer objects properly (get_config may hold live objects).
    config = json.loads(model_json(model))["config"]
    layers = config["layers"]
    if "output_layers" not in config:            # Sequential
        last = layers[-1]
        if _is_softmax(last):
            layers.pop()
            return config, [last["config"]["name"]]
        if _softmax_activation(last):
            return config, [last["config"]["name"]]
        return config, []
    dropped, outs = [], []
    readers = {}
    for lc in layers:
        for node in lc.get("inbound_nodes") or []:
            for t in inbound_tensors(node):
                readers.setdefault(t[0], []).append(lc["config"]["name"])
    for out in config["output_layers"]:
        last = next(lc for lc in layers if lc["config"]["name"] == out[0])
        if _is_softmax(last) and readers.get(out[0]) is None:
            inbound = inbound_tensors(last["inbound_nodes"][0])[0]
            outs.append([inbound[0], inbound[1], inbound[2]])
            layers.remove(last)
            dropped.append(out[0])
            continue
        if _softmax_activation(last):
            dropped.append(out[0])
        outs.append(out)
    config["output_layers"] = outs
    return config, dropped


def model_json(model) -> str:
    """`model.to_json()`, or an error naming the layer Keras cannot write out (a user's
    own quantizer or activation class without `get_config`)."""
    try:
        return model.to_json()
    except (TypeError, ValueError, NotImplementedError) as exc:
        for layer in model.layers:
            try:
                json.dumps(layer.get_config(), default=_serialized)
            except Exception:                 # noqa: BLE001 - Keras raises many types
                raise layer_error(layer.name, f"Keras cannot write out its configuration "
                                  f"({first_line(exc)})", "hwgen reads a model through "
                                  "its configuration: use QKeras's quantizers (see "
                                  "docs/supported.md) and Keras's own activations, or give "
                                  "your own class a get_config", UnsupportedError) from None
        raise


def _serialized(obj):
    from tensorflow import keras
    return keras.saving.serialize_keras_object(obj)


def _softmax_activation(lc: dict) -> bool:
    """A Dense/QDense ending in softmax: set to linear in place."""
    if lc["config"].get("activation") == "softmax" and lc["class_name"] in ("Dense", "QDense"):
        lc["config"]["activation"] = "linear"
        return True
    return False


def inbound_tensors(node) -> list:
    """The [layer, node index, tensor index, ...] references of one inbound node of a
    layer config (Keras 2 lists them; a TFOpLambda's node is one reference; Keras 3
    keeps them in `args`)."""
    if isinstance(node, dict):     # Keras 3 style
        return [a["config"]["keras_history"] for a in node.get("args", []) if isinstance(a, dict)]
    if node and isinstance(node[0], str):
        return [node]
    return node


# Layers whose arithmetic rounds in QKeras's float32 model: the twin runs them in float32
# too (Keras casts their input to float32 and their output back), so that, as the
# deployed model, a batch normalization computes round32(round32(x * a) + b) per element
# and its quantizer sees exactly that. In float64 it differed in the last float32 bit and
# the quantizer after it then, near a step, in one level (5 of 300 random vectors).
FLOAT32_LAYERS = {"BatchNormalization", "QBatchNormalization", "AveragePooling1D",
                  "AveragePooling2D", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
                  "QAveragePooling2D", "QGlobalAveragePooling2D"}
# An average pool divides in float32 (`ops/average.py` reproduces it): run so in the twin.

# Layers whose `activation` may hold a QKeras quantizer (wrapped to run in float32).
QUANTIZED_ACTIVATION_LAYERS = {"QActivation", "QDense", "QConv1D", "QConv2D",
                               "QDepthwiseConv2D", "QSeparableConv1D", "QSeparableConv2D",
                               "QAveragePooling2D", "QGlobalAveragePooling2D"}


# QKeras layers that fold a batch normalization into their kernel and bias for training
# (quantization-aware, the kernel quantizer sees the folded kernel). At inference each is
# its plain convolution with the folded, quantized kernel and bias (QKeras's `call`, not
# training): the twin holds that convolution (`_unfold_batchnorms`, `_folded_weights`).
BATCHNORM_FOLDED = {"QConv2DBatchnorm": "QConv2D",
                    "QDepthwiseConv2DBatchnorm": "QDepthwiseConv2D"}


def _unfold_batchnorms(config: dict) -> None:
    for lc in config["layers"]:
        if lc["class_name"] in BATCHNORM_FOLDED:
            unfold_batchnorm(lc)


def unfold_batchnorm(lc: dict) -> None:
    """A batch-norm-folded layer's config (`BATCHNORM_FOLDED`) made its plain
    convolution's, in place, with a bias (the folded bias is there with or without the
    layer's own)."""
    import qkeras
    plain = BATCHNORM_FOLDED[lc["class_name"]]
    keys = _config_keys(plain)
    lc["class_name"] = plain
    if "module" in lc:
        lc["module"] = getattr(qkeras, plain).__module__
    if "registered_name" in lc:
        lc["registered_name"] = plain
    lc["config"] = {k: v for k, v in lc["config"].items() if k in keys}
    lc["config"]["use_bias"] = True


@functools.cache
def _config_keys(plain: str) -> frozenset:
    """The config keys of QKeras's layer class `plain` (a throwaway instance's)."""
    import qkeras
    layer = getattr(qkeras, plain)(1, 1) if plain == "QConv2D" else getattr(qkeras, plain)(1)
    return frozenset(layer.get_config())


def _folded_weights(layer) -> tuple[list[np.ndarray], dict]:
    """A batch-norm-folded layer's kernel and bias as its inference `call` computes them:
    folded in float32 by its own `get_folded_weights` (the same operations in the same
    order: rsqrt(moving variance + epsilon) * gamma, times the kernel; times (bias -
    moving mean), plus beta), then through its kernel and bias quantizers."""
    depthwise = type(layer).__name__.startswith("QDepthwise")
    kernel_q = layer.depthwise_quantizer_internal if depthwise else \
        layer.kernel_quantizer_internal
    values, applied = [], {}
    with keras_floatx("float32"):
        kernel, bias = layer.get_folded_weights()
        for role, v, q in (("depthwise_kernel" if depthwise else "kernel", kernel, kernel_q),
                           ("bias", bias, layer.bias_quantizer_internal)):
            if q is None:
                values.append(np.asarray(v))
                continue
            quantizers.check(q, layer.name, f"{role} quantizer", for_weights=True)
            values.append(np.asarray(q(v)))
            applied[role] = q
    return values, applied


def _set_dtype(config: dict, dtype: str) -> None:
    for lc in config["layers"]:
        cfg = lc["config"]
        cfg["dtype"] = "float32" if lc["class_name"] in FLOAT32_LAYERS else dtype
        if "layer" in cfg and isinstance(cfg["layer"], dict):   # wrappers
            cfg["layer"]["config"]["dtype"] = dtype


def is_qkeras_quantizer(obj) -> bool:
    return type(obj).__module__.startswith("qkeras")


def _wrap_activation_quantizers(config: dict, model) -> None:
    """Put a `Float32Quantizer` where a QActivation or a QDense activation holds a QKeras
    quantizer (serialised as a dict, or a string like 'quantized_relu(6,0)').

    It wraps the model's own quantizer object, not one rebuilt from the config: QKeras's
    get_config leaves options out (quantized_relu drops `is_quantized_clip`, so a rebuilt
    quantized_relu(6,2,relu_upper_bound=3.0,is_quantized_clip=False) clips at 3.9375
    instead of 3.0). A model read from a file has been through that config already, so
    both agree with what QKeras's own loading gives."""
    from qkeras.quantizers import get_quantizer
    for lc in config["layers"]:
        act = lc["config"].get("activation")
        if lc["class_name"] not in QUANTIZED_ACTIVATION_LAYERS or act is None:
            continue
        layer = model.get_layer(lc["config"]["name"])
        own = getattr(layer, "quantizer" if lc["class_name"] == "QActivation" else
                      "activation", None)
        if own is not None and not is_qkeras_quantizer(own) and \
                not type(own).__module__.startswith(("keras", "tensorflow")) and \
                not getattr(own, "__module__", "").startswith(("keras", "tensorflow")):
            # a user's own class or function: named here, not by Keras's deserialiser
            quantizers.check(own, layer.name, "activation", for_weights=False)
        if is_qkeras_quantizer(own):
            q = own
        elif isinstance(act, dict):
            q = get_quantizer({"class_name": act["class_name"], "config": act["config"]})
        elif isinstance(act, str) and "(" in act:
            q = get_quantizer(act)
        else:
            continue
        if is_qkeras_quantizer(q):
            lc["config"]["activation"] = Float32Quantizer(q)


# Weight variable name -> the layer's config key of the quantizer applied to it.
WEIGHT_QUANTIZER_KEYS = {"kernel": "kernel_quantizer", "bias": "bias_quantizer",
                         "gamma": "gamma_quantizer", "beta": "beta_quantizer",
                         "moving_mean": "mean_quantizer", "moving_variance": "variance_quantizer",
                         "depthwise_kernel": "depthwise_quantizer",
                         "pointwise_kernel": "pointwise_quantizer"}


def quantized_weights(layer) -> tuple[list[np.ndarray], dict]:
    """The layer's weights after its own weight quantizers, computed the way the deployed
    (float32) model computes them, and {role: quantizer} of those that were applied."""
    for var in layer.weights:
        raw = np.asarray(var)
        if not np.all(np.isfinite(raw)):
            bad = int(np.count_nonzero(~np.isfinite(raw)))
            raise layer_error(layer.name, f"{bad} of its {raw.size} {weight_role(var)} "
                              "values are NaN or infinite", "The model's training diverged "
                              "or the file is damaged: retrain or re-save the model with "
                              "finite weights", ModelFileError)
    if type(layer).__name__ in BATCHNORM_FOLDED:
        return _folded_weights(layer)
    values, applied = [], {}
    for var in layer.weights:
        role = weight_role(var)
        key = WEIGHT_QUANTIZER_KEYS.get(role)
        q = getattr(layer, key + "_internal", None) if key else None
        if q is not None and role in ("gamma", "beta") and \
                not getattr(layer, "scale" if role == "gamma" else "center", True):
            q = None
        if q is None:
            values.append(np.asarray(var))
            continue
        quantizers.check(q, layer.name, f"{role} quantizer", for_weights=True)
        with keras_floatx("float32"):
            values.append(np.asarray(q(var)))
        applied[role] = q
    return values, applied


def weight_role(var) -> str:
    """A weight variable's role: its name's last part ("kernel", "moving_mean", ...)."""
    return var.name.split("/")[-1].split(":")[0]


def _float32_poolings() -> dict:
    """QKeras's average poolings casting their constants to `floatx` (the twin's float64):
    here they run entirely in float32, with floatx float32, as the deployed model."""
    from qkeras import QAveragePooling2D, QGlobalAveragePooling2D

    def float32(base):
        class Float32Pooling(base):
            def call(self, inputs):
                import tensorflow as tf
                with keras_floatx("float32"):
                    return super().call(tf.cast(inputs, tf.float32))
        Float32Pooling.__name__ = base.__name__
        return Float32Pooling
    return {c.__name__: float32(c) for c in (QAveragePooling2D, QGlobalAveragePooling2D)}


def build_twin(model, dtype: str = "float64"):
    """A `dtype` copy of `model` without its final softmax, same weights.

    Weight quantizers run once here, in float32 as in the deployed model (some QKeras
    quantizers, e.g. quantized_bits with alpha='auto_po2', do not run in float64 at all);
    the twin holds the quantized weights and no weight quantizers, so its sums are exact.
    The quantizers are kept in `twin.hwgen_weight_quantizers[layer][role]`.
    Returns (twin, the outputs whose softmax was dropped). Call the twin inside
    `keras_floatx(dtype)`.
    """
    import tensorflow as tf
    from .loader import custom_objects
    config, dropped = logits_config(model)
    _unfold_batchnorms(config)
    _set_dtype(config, dtype)
    for lc in config["layers"]:
        for key in WEIGHT_QUANTIZER_KEYS.values():
            if lc["config"].get(key) is not None:
                lc["config"][key] = None
    _wrap_activation_quantizers(config, model)
    cls = tf.keras.Sequential if "output_layers" not in config else tf.keras.Model
    with keras_floatx(dtype):
        twin = cls.from_config(config, custom_objects={**custom_objects(),
                                                       **_float32_poolings()})
    applied_all = {}
    with keras_floatx(dtype):
        for layer in twin.layers:
            values, applied = quantized_weights(model.get_layer(layer.name))
            layer.set_weights([np.asarray(w, dtype=layer.dtype) for w in values])
            applied_all[layer.name] = applied
    twin.hwgen_weight_quantizers = applied_all
    return twin, dropped


def predict(twin, x: np.ndarray, dtype: str = "float64", batch: int = 8192) -> np.ndarray:
    """Run the twin on float inputs in `dtype`, in batches. A model with several outputs
    gives them flattened and side by side, in output order ([N, total elements])."""
    outs = []
    with keras_floatx(dtype):
        fn = twin.__call__
        for i in range(0, len(x), batch):
            y = fn(x[i:i + batch].astype(dtype), training=False)
            if isinstance(y, (list, tuple)):
                y = np.concatenate([np.asarray(h).reshape(len(h), -1) for h in y], axis=1)
            outs.append(np.asarray(y))
    if outs:
        return np.concatenate(outs)
    shapes = twin.output_shape if isinstance(twin.output_shape, list) else [twin.output_shape]
    if len(shapes) == 1:
        return np.zeros((0,) + tuple(shapes[0][1:]))
    return np.zeros((0, sum(int(np.prod(s[1:])) for s in shapes)))
