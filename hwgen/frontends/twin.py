"""A float64 twin of a Keras model that outputs the logits (the input of a final softmax).

QKeras computes in float32, where a sum of many products can round. The twin runs the
same layers with the same weights in float64, where every fixed-point sum below 2**53 is
exact, so it is the QKeras result the hardware is compared with. (QKeras's
`quantized_relu` still casts its input to float32; the reference models that cast.)
"""
from __future__ import annotations

import json
from contextlib import contextmanager

import numpy as np

from ..errors import HwgenError


@contextmanager
def keras_floatx(dtype: str):
    """Run Keras code with `floatx` set to `dtype` (QKeras casts to floatx at call time)."""
    import tensorflow as tf
    old = tf.keras.backend.floatx()
    tf.keras.backend.set_floatx(dtype)
    try:
        yield
    finally:
        tf.keras.backend.set_floatx(old)


def _is_softmax(layer_cfg: dict) -> bool:
    cls, cfg = layer_cfg["class_name"], layer_cfg["config"]
    act = cfg.get("activation")
    if isinstance(act, dict):
        act = act.get("class_name") or act.get("config", {}).get("name")
    if cls in ("Activation", "QActivation") and act == "softmax":
        return True
    return cls == "Softmax"


def logits_config(model) -> tuple[dict, bool]:
    """The model's config rewritten to drop a final softmax. Returns (config, dropped)."""
    # to_json serialises quantizer objects properly (get_config may hold live objects).
    config = json.loads(model.to_json())["config"]
    layers = config["layers"]
    last = layers[-1]
    if "output_layers" in config:  # functional
        outs = config["output_layers"]
        if len(outs) != 1:
            raise HwgenError(f"model '{model.name}' has {len(outs)} outputs; hwgen supports "
                             f"one output: build a model per output")
        last = next(lc for lc in layers if lc["config"]["name"] == outs[0][0])
    if _is_softmax(last):
        if "output_layers" in config:
            inbound = last["inbound_nodes"][0][0]
            config["output_layers"] = [[inbound[0], inbound[1], inbound[2]]]
            layers.remove(last)
        else:
            layers.pop()
        return config, True
    act = last["config"].get("activation")
    if act == "softmax" and last["class_name"] in ("Dense", "QDense"):
        last["config"]["activation"] = "linear"
        return config, True
    return config, False


def _set_dtype(config: dict, dtype: str) -> None:
    for lc in config["layers"]:
        cfg = lc["config"]
        cfg["dtype"] = dtype
        if "layer" in cfg and isinstance(cfg["layer"], dict):   # wrappers
            cfg["layer"]["config"]["dtype"] = dtype


def _revive_qactivations(config: dict) -> None:
    """QActivation takes a quantizer object or string, but serialises to a dict that its
    constructor does not read back: turn each dict into a fresh quantizer object."""
    from qkeras.quantizers import get_quantizer
    for lc in config["layers"]:
        act = lc["config"].get("activation")
        if lc["class_name"] == "QActivation" and isinstance(act, dict):
            lc["config"]["activation"] = get_quantizer(
                {"class_name": act["class_name"], "config": act["config"]})


def build_twin(model, dtype: str = "float64"):
    """A `dtype` copy of `model` without its final softmax, same weights.

    Returns (twin, softmax_dropped). Build and call the twin inside `keras_floatx(dtype)`.
    """
    import tensorflow as tf
    from .loader import custom_objects
    config, dropped = logits_config(model)
    _set_dtype(config, dtype)
    _revive_qactivations(config)
    cls = tf.keras.Sequential if "output_layers" not in config else tf.keras.Model
    with keras_floatx(dtype):
        twin = cls.from_config(config, custom_objects=custom_objects())
        for layer in twin.layers:
            src = model.get_layer(layer.name)
            layer.set_weights([np.asarray(w, dtype=dtype) for w in src.get_weights()])
    return twin, dropped


def predict(twin, x: np.ndarray, dtype: str = "float64", batch: int = 8192) -> np.ndarray:
    """Run the twin on float inputs in `dtype`, in batches."""
    outs = []
    with keras_floatx(dtype):
        fn = twin.__call__
        for i in range(0, len(x), batch):
            outs.append(np.asarray(fn(x[i:i + batch].astype(dtype), training=False)))
    return np.concatenate(outs) if outs else np.zeros((0,) + tuple(twin.output_shape[1:]))
