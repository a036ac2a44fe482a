"""Set every QKeras quantizer of a model to a sweep point's bit width.

Weights, biases, batch-norm parameters and activations alike: each quantizer keeps its
kind and its integer bits (and every other option); only `bits` changes. Quantizers
without a width (binary, ternary and their stochastic forms) stay as they are. What was
changed is returned, one line per quantizer, for the sweep's report.
"""
from __future__ import annotations

import json
import re

from ..errors import HwgenError

# QKeras quantizers whose first argument is `bits`.
WIDTH_QUANTIZERS = ("quantized_bits", "quantized_relu", "quantized_po2", "quantized_relu_po2",
                    "quantized_tanh", "quantized_sigmoid", "quantized_ulaw",
                    "quantized_hswish")
FIXED = ("binary", "ternary", "stochastic_binary", "stochastic_ternary", "bernoulli")


def requantize(model, bits: int):
    """(a copy of `model` with its quantizers at `bits`, the changes as text lines)."""
    import tensorflow as tf
    from ..frontends.loader import custom_objects
    if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= 32:
        raise HwgenError(f"bits must be a whole number in 1..32, not {bits!r}")
    config = json.loads(model.to_json())
    changes: list[str] = []
    layers = config["config"]["layers"] if isinstance(config["config"], dict) else \
        config["config"]
    for lc in layers:
        name = lc["config"].get("name", "?")
        for key, value in list(lc["config"].items()):
            lc["config"][key] = _set_bits(value, bits, f"{name}.{key}", changes)
    copy = tf.keras.models.model_from_json(json.dumps(config), custom_objects=custom_objects())
    copy.set_weights(model.get_weights())
    return copy, changes


def _set_bits(value, bits: int, where: str, changes: list[str]):
    """`value` (a layer option) with a quantizer in it set to `bits`."""
    if isinstance(value, dict) and value.get("class_name") in WIDTH_QUANTIZERS + FIXED:
        cfg = dict(value.get("config", {}))
        kind = value["class_name"]
        if kind in FIXED:
            changes.append(f"{where}: {kind} has no width; unchanged")
            return value
        old = cfg.get("bits")
        cfg["bits"] = bits
        changes.append(f"{where}: {kind} bits {old} -> {bits}"
                       + (f" (integer {cfg['integer']} kept)" if "integer" in cfg else ""))
        return dict(value, config=cfg)
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\w+)\((.*)\)\s*", value)
        if m and m.group(1) in WIDTH_QUANTIZERS:       # QActivation("quantized_relu(6,2)")
            args = [a.strip() for a in m.group(2).split(",")] if m.group(2).strip() else []
            positional = [a for a in args if "=" not in a]
            keyword = {a.split("=")[0].strip(): a.split("=", 1)[1] for a in args if "=" in a}
            old = positional[0] if positional else keyword.pop("bits", None)
            integer = positional[1] if len(positional) > 1 else keyword.get("integer")
            rest = positional[1:] + [f"{k}={v}" for k, v in keyword.items()]
            changes.append(f"{where}: {m.group(1)} bits {old} -> {bits}"
                           + (f" (integer {integer} kept)" if integer is not None else ""))
            return f"{m.group(1)}({', '.join([str(bits)] + rest)})"
        if m and m.group(1) in FIXED:
            changes.append(f"{where}: {m.group(1)} has no width; unchanged")
    return value
