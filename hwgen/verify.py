"""`verify-model`: the reference interpreter against QKeras's own predict.

For a quantized model the comparison is exact: the float64 twin's logits must lie on the
output grid and equal the reference codes. For a float model given a precision there is
no exact twin; the reference is compared with the float model and the quantization error
is reported instead.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .frontends.twin import build_twin, predict
from .ir import interp
from .ir.graph import Graph
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


def verify_model(loaded, graph: Graph, n: int = 10000, seed: int = 0,
                 extra: np.ndarray | None = None, keep_first: int = 10) -> VerifyResult:
    """Compare `interp.run(graph)` with the Keras model on `n` vectors of the input grid."""
    t_in, t_out = graph.input.type, graph.output.type
    if graph.exact:
        codes = input_codes(t_in, graph.input.shape, n, seed, extra)
    else:   # full-range inputs overflow a precision by design: use typical inputs
        codes = gaussian_codes(t_in, graph.input.shape, n, seed)
    ref = interp.run(graph, codes).reshape(n, -1)
    x = codes_to_float(codes, t_in.frac)
    if graph.exact:
        twin = getattr(loaded, "twin", None) or build_twin(loaded.model)[0]
        out = predict(twin, x).reshape(n, -1)
        expected, on_grid = exact_codes(out, t_out.frac)
        bad = ~on_grid | (expected != ref)
        rows = np.nonzero(bad.any(axis=1))[0]
        result = VerifyResult(n, True, int(len(rows)))
        for r in rows[:keep_first]:
            for o in np.nonzero(bad[r])[0][:3]:
                result.first.append({
                    "vector": int(r), "output": int(o), "qkeras": float(out[r, o]),
                    "expected_code": int(expected[r, o]) if on_grid[r, o] else None,
                    "reference": float(codes_to_float(np.array([ref[r, o]]), t_out.frac)[0]),
                    "reference_code": int(ref[r, o]),
                    "input_codes": codes[r].ravel().tolist()[:32]})
        return result
    model32, _ = build_twin(loaded.model, "float32")
    out = predict(model32, x, "float32").astype(np.float64).reshape(n, -1)
    got = codes_to_float(ref, t_out.frac)
    err = np.abs(got - out)
    agree = float(np.mean(np.argmax(got, axis=1) == np.argmax(out, axis=1)))
    return VerifyResult(n, False, max_abs_error=err.max(axis=0).tolist(),
                        mean_abs_error=err.mean(axis=0).tolist(), argmax_agreement=agree)
