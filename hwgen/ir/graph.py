"""The IR: a chain of typed fixed-point tensor ops, each remembering its Keras layer.

Every node produces one tensor of integer codes in one `FixedType` (`node.type`); its
shape excludes the batch axis. The op set is small on purpose; each op is one file in
`hwgen/ops/` holding its node class and every rule about it (`ops/base.py`).

| op | computes |
| --- | --- |
| `Input` | the input codes, as given (`type` is the input grid) |
| `Dense` | `x @ weights * 2**-weight_frac + bias * 2**-bias_frac`, exactly |
| `Quantize` | requantize to `type` with `rounding` / `overflow` (optionally after QKeras's float32 cast) |
| `Relu` | `max(x, 0)`, exactly |
| `ScaleShift` | per-channel `x * scale + shift`, exactly (batch-norm given a precision) |
| `StepFunction` | per-channel piecewise-constant map: `levels[c][#(thresholds[c] <= x)]` |
| `Reshape` | same codes, new shape (Flatten, Reshape) |
| `LinearSum` | lowered `Dense`: per output, the exact sum of its `Term`s (products and bias) |

Passes add hardware facts without changing semantics: `lo`/`hi` (exact code intervals per
element), `LinearSum.trees` (balanced adder trees with exact widths), `LinearSum.fold`
(a resource-shared layer) and `register_after` (the pipeline schedule).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:                # ops build on ir; the graph only holds them
    from ..ops import Node


@dataclass
class Graph:
    """A single-input, single-output chain of nodes in evaluation order."""

    nodes: list[Node]
    name: str = "model"
    softmax_removed: bool = False    # the model ended in softmax; hardware outputs logits
    exact: bool = True               # False when float layers were quantized by a precision
    notes: list[str] = field(default_factory=list)
    argmax_register_after: tuple[int, ...] = ()   # comparison levels of the hardware argmax
                                                  # followed by a register (schedule)

    @property
    def input(self) -> Node:
        return self.nodes[0]

    @property
    def output(self) -> Node:
        return self.nodes[-1]

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)
