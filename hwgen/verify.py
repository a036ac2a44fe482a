"""`verify-model`: the reference interpreter against QKeras's own predict.

For a quantized model the comparison is exact: the float64 twin's logits must lie on the
output grid and equal the reference codes. For a float model given a precision there is
no exact twin; the reference is compared with the float model and the quantization error
is reported instead.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from .frontends.twin import build_twin, predict
from .ir import interp
from .errors import HwgenError
from .ir.bounds import dense_bounds
from .ir.graph import Graph
from .ops import Average, Conv, Dense
from .ir.types import codes_to_float, exact_codes
from .sim.vectors import gaussian_codes, input_codes


@dataclass
class VerifyResult:
    vectors: int
    exact: bool
    mismatches: int = 0
    first: list[dict] = field(default_factory=list)
    max_abs_error: list[float] = field(default_factory=list)
    mean_abs_error: list[float] = field(default_factory=list)
    argmax_agreement: float | None = None

    def summary(self) -> str:
        if self.exact:
            return f"{self.vectors} vectors, {self.mismatches} mismatches"
        return (f"{self.vectors} vectors (N(0,1) inputs on the input grid), quantization "
                f"error against the float model: "
                f"max |err| {max(self.max_abs_error):.6g}, mean |err| "
                f"{float(np.mean(self.mean_abs_error)):.6g}, argmax agreement "
                f"{100 * self.argmax_agreement:.2f} %")

    def details(self) -> str:
        lines = []
        if self.exact:
            for m in self.first:
                lines.append(f"  vector {m['vector']}: output {m['output']}: QKeras "
                             f"{m['qkeras']!r} (code {m['expected_code']}), reference "
                             f"{m['reference']!r} (code {m['reference_code']})")
        else:
            for i, (mx, mean) in enumerate(zip(self.max_abs_error, self.mean_abs_error)):
                lines.append(f"  output {i}: max |err| {mx:.6g}, mean |err| {mean:.6g}")
        return "\n".join(lines)


# float64 holds every integer below 2**53 exactly: the twin's sums are exact only there.
FLOAT64_EXACT_BITS = 53


def float64_overflow(graph: Graph, exact_bits: int = FLOAT64_EXACT_BITS
                     ) -> tuple[str, int, str] | None:
    """(layer, bits, "sums" or "values") of the first layer whose partial sums (dense) or
    values (any other) can reach 2**53 units of their last place, where the float64 twin
    stops being exact (float32: `exact_bits` 24); None if all fit.
    The bound sum(|w| * max|x|) + |b| holds every partial sum in any summation order."""
    from .passes.pipelines import DEFAULT
    # A graph that has been through InferRanges already is not ranged again.
    ranged = graph if all(n.lo is not None for n in graph.nodes) else DEFAULT.run(graph)
    by_name = {node.name: node for node in ranged.nodes}
    float32_values = set()      # averages, and values moved unchanged from them
    for node in ranged.nodes:
        if isinstance(node, Average) or (node.op in ("reshape", "gather", "max_pool")
                                         and node.inputs[0] in float32_values):
            float32_values.add(node.name)     # a float32 value: exact in float32 and 64
            continue
        if isinstance(node, Dense):
            src = by_name[node.inputs[0]]
            big = np.maximum(np.abs(np.asarray(src.lo, dtype=object)),
                             np.abs(np.asarray(src.hi, dtype=object)))
            bias = None if node.bias is None else np.abs(np.asarray(node.bias, dtype=object))
            _, hi = dense_bounds(np.abs(np.asarray(node.weights, dtype=object)), bias, 0, big,
                                 src.type.frac, node.weight_frac, node.bias_frac,
                                 node.type.frac)
            bits, what = max(int(v) for v in np.asarray(hi).ravel()).bit_length(), "sums"
        elif isinstance(node, Conv):
            src = by_name[node.inputs[0]]
            big = np.maximum(np.abs(np.asarray(src.lo, dtype=object)),
                             np.abs(np.asarray(src.hi, dtype=object)))
            mags = dataclasses.replace(
                node, kernel=np.abs(node.kernel.astype(object)),
                bias=None if node.bias is None else np.abs(node.bias.astype(object)))
            ends = dataclasses.replace(src, lo=np.zeros_like(big), hi=big)
            bits, what = max(int(v) for v in np.asarray(mags.interval(ends)[1]).ravel()
                             ).bit_length(), "sums"
        else:
            bits, what = max(abs(node.type.min_code), node.type.max_code).bit_length(), \
                "values"
        if bits > exact_bits:
            return node.layer, bits, what
    return None


def verify_model(loaded, graph: Graph, n: int = 10000, seed: int = 0,
                 extra: np.ndarray | None = None, keep_first: int = 10) -> VerifyResult:
    """Compare `interp.run(graph)` with the Keras model on `n` vectors of the input grid.
    Raises HwgenError for a quantized model whose sums float64 cannot hold exactly (the
    comparison would blame the reference for the twin's rounding)."""
    t_in, out_frac = graph.input.type, graph.output_fracs
    wide = float64_overflow(graph) if graph.exact else None
    if wide is not None:
        layer, bits, what = wide
        raise HwgenError(
            f"layer '{layer}': its {what} need up to {bits} bits, and the comparison with "
            f"QKeras runs the model in float64, exact only up to {FLOAT64_EXACT_BITS} bits, "
            "so it cannot check this model exactly (hwgen's reference is exact at any "
            "width, and `hwgen sim` still proves the RTL equal to it). To compare with "
            "QKeras, quantize that layer's input or weights to fewer bits")
    if graph.exact:
        codes = input_codes(t_in, graph.input.shape, n, seed, extra)
    else:   # full-range inputs overflow a precision by design: use typical inputs
        codes = gaussian_codes(t_in, graph.input.shape, n, seed)
    ref = interp.run(graph, codes).reshape(n, -1)
    x = codes_to_float(codes, t_in.frac)
    if graph.exact:
        twin = getattr(loaded, "twin", None) or build_twin(loaded.model)[0]
        out = predict(twin, x).reshape(n, -1)
        expected, on_grid = exact_codes(out, out_frac)
        bad = ~on_grid | (expected != ref)
        rows = np.nonzero(bad.any(axis=1))[0]
        result = VerifyResult(n, True, int(len(rows)))
        for r in rows[:keep_first]:
            for o in np.nonzero(bad[r])[0][:3]:
                result.first.append({
                    "vector": int(r), "output": int(o), "qkeras": float(out[r, o]),
                    "expected_code": int(expected[r, o]) if on_grid[r, o] else None,
                    "reference": float(codes_to_float(np.array([ref[r, o]]), out_frac[o])[0]),
                    "reference_code": int(ref[r, o]),
                    "input_codes": codes[r].ravel().tolist()[:32]})
        return result
    model32, _ = build_twin(loaded.model, "float32")
    out = predict(model32, x, "float32").astype(np.float64).reshape(n, -1)
    got = codes_to_float(ref, out_frac)
    err = np.abs(got - out)
    agree = float(np.mean(np.argmax(got, axis=1) == np.argmax(out, axis=1)))
    return VerifyResult(n, False, max_abs_error=err.max(axis=0).tolist(),
                        mean_abs_error=err.mean(axis=0).tolist(), argmax_agreement=agree)


FLOAT32_EXACT_BITS = 24


def logits_model(model):
    """`model` itself, or a model ending at the inputs of its output softmaxes; None when
    an output's softmax is a layer's own activation there (no tensor holds its logits)."""
    import tensorflow as tf
    outs, changed = [], False
    for tensor in model.outputs:
        layer = tensor._keras_history.layer
        if _is_softmax_layer(layer):
            outs.append(layer.input)
            changed = True
        elif getattr(getattr(layer, "activation", None), "__name__", "") == "softmax" and \
                type(layer).__name__ in ("Dense", "QDense"):
            return None
        else:
            outs.append(tensor)
    if not changed:
        return model
    return tf.keras.Model(model.inputs, outs if len(outs) > 1 else outs[0])


def _is_softmax_layer(layer) -> bool:
    return type(layer).__name__ == "Softmax" or (
        type(layer).__name__ in ("Activation", "QActivation") and
        getattr(layer.activation, "__name__", "") == "softmax")


def untouched_mismatches(loaded, graph: Graph, codes: np.ndarray) -> list[int] | None:
    """Rows of input `codes` where the reference differs from the untouched model's own
    float32 predict (no twin: weights quantized by its layers at call time), or None where
    float32 is not exact for this model (a value or partial sum reaches 2**24 units of its
    last place). The independent oracle: the twin and the IR share a reading of the
    model, this does not."""
    if not graph.exact or float64_overflow(graph, FLOAT32_EXACT_BITS) is not None:
        return None
    n = len(codes)
    ref = codes_to_float(np.asarray(interp.run(graph, codes)).reshape(n, -1),
                         graph.output_fracs)
    x = codes_to_float(codes, graph.input.type.frac).astype(np.float32)
    logits = logits_model(loaded.model)
    if logits is None:
        return None
    got = logits(x, training=False)
    if isinstance(got, (list, tuple)):
        got = np.concatenate([np.asarray(h, np.float64).reshape(n, -1) for h in got], axis=1)
    got = np.asarray(got, np.float64).reshape(n, -1)
    return np.flatnonzero(np.any(got != ref, axis=1)).tolist()
