"""The IR: a DAG of typed fixed-point tensor ops, each remembering its Keras layer.

Every node produces one tensor of integer codes in one `FixedType` (`node.type`); its
shape excludes the batch axis. Nodes name their input tensors (`node.inputs`, names of
earlier nodes: the list is in topological order); a tensor may feed several nodes, and
the graph's outputs are `Graph.outputs` (the model's output order). A chain is the case
where every node reads the one before it. The op set is small on purpose; each op is one file in
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
| `LinearSum` | lowered `Dense` or `Conv`: per output, the exact sum of its `Term`s (products and bias) |
| `Conv` | a 1-D or 2-D convolution (depthwise, grouped, separable parts; an average pool's window sum), exactly |
| `MaxPool` | the maximum over each window, per channel (padding never wins) |
| `Average` | TensorFlow's float32 division of a window sum by its pixel count (and QKeras's factors), held exactly |
| `Gather` | each element an input element or zero (zero padding, cropping, nearest upsampling) |

Merges (`Add` for Add/Subtract/Average, `Multiply`, `Extremum` for Maximum/Minimum,
`Concatenate`) read several tensors; the rules of such an op get a tuple of sources.

Passes add hardware facts without changing semantics: `lo`/`hi` (exact code intervals per
element), `LinearSum.shared` and `LinearSum.graph` (the sums outputs share, one adder
graph with exact widths), `FoldedLinearSum` (a resource-shared layer with its fused
element-wise ops) and `register_after` (the pipeline schedule).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:                # ops build on ir; the graph only holds them
    from ..ops import Node


@dataclass
class Graph:
    """Nodes in topological order, starting at the one `Input`; `outputs` names the
    output nodes in the model's order (empty: the last node)."""

    nodes: list[Node]
    name: str = "model"
    softmax_removed: bool = False    # the model ended in softmax; hardware outputs logits
    exact: bool = True               # False when float layers were quantized by a precision
    notes: list[str] = field(default_factory=list)
    argmax_register_after: tuple[int, ...] = ()   # comparison levels of the hardware argmax
                                                  # followed by a register (schedule)
    outputs: tuple[str, ...] = ()

    @property
    def input(self) -> Node:
        return self.nodes[0]

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(self.outputs) or (self.nodes[-1].name,)

    @property
    def heads(self) -> list[Node]:
        """The output nodes, in the model's output order."""
        return [self.node(n) for n in self.output_names]

    @property
    def output(self) -> Node:
        """The output node of a single-output graph."""
        names = self.output_names
        if len(names) != 1:
            raise ValueError(f"graph {self.name} has {len(names)} outputs; use `heads`")
        return self.node(names[0])

    @property
    def output_size(self) -> int:
        """Elements of all outputs together (as `out_data` and `interp.run` hold them)."""
        return sum(h.size for h in self.heads)

    @property
    def output_fracs(self):
        """Per element of all outputs together, its fraction bits."""
        import numpy as np
        return np.concatenate([np.full(h.size, h.type.frac) for h in self.heads])

    def node(self, name: str) -> Node:
        index = self._index()
        if name not in index:
            raise KeyError(name)
        return index[name]

    def _index(self) -> dict:
        # Nodes are frozen and the list is replaced, not edited, by passes: the index is
        # rebuilt when the list object changes.
        cached = self.__dict__.get("_by_name")
        if cached is None or cached[0] is not self.nodes or len(cached[1]) != len(self.nodes):
            cached = (self.nodes, {n.name: n for n in self.nodes})
            self.__dict__["_by_name"] = cached
        return cached[1]

    def sources(self, node: Node):
        """The input node(s) of `node` as its rules take them: the one node, or a tuple
        for an op that reads several (`Node.arity` is None)."""
        srcs = tuple(self.node(n) for n in node.inputs)
        return srcs if node.arity is None else (srcs[0] if srcs else None)

    def consumers(self, name: str) -> list[Node]:
        return [n for n in self.nodes if name in n.inputs]
