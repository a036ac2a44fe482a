"""The IR: a chain of typed fixed-point tensor ops, each remembering its Keras layer.

Every node produces one tensor of integer codes in one `FixedType` (`node.type`); its
shape excludes the batch axis. The op set is small on purpose; `ir/interp.py` defines
what each op computes.

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

import numpy as np

from .types import FixedType, Overflow, Rounding


@dataclass(eq=False)
class Node:
    """Base of all ops: a unique name, the Keras layer it came from, its output tensor."""

    name: str
    layer: str
    shape: tuple[int, ...]
    type: FixedType
    inputs: tuple[str, ...] = ()
    origin: str = ""          # Keras layer class, e.g. "QDense"
    note: str = ""            # what the layer's quantizers were, for reports
    lo: np.ndarray | None = field(default=None, repr=False)   # per-element code bounds,
    hi: np.ndarray | None = field(default=None, repr=False)   # set by passes.infer_ranges
    register_after: tuple[int, ...] = ()   # combinational levels followed by a pipeline
                                           # register (passes.schedule_pipeline)

    op = "node"

    @property
    def size(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1


@dataclass(eq=False)
class Input(Node):
    op = "input"


@dataclass(eq=False)
class Dense(Node):
    """Fully connected layer on a flat input; weights [in, out] and bias [out] as codes."""

    weights: np.ndarray = field(default=None)
    weight_frac: int = 0
    bias: np.ndarray = field(default=None)
    bias_frac: int = 0
    op = "dense"

    @property
    def nonzero(self) -> int:
        return int(np.count_nonzero(self.weights))


@dataclass(eq=False)
class Quantize(Node):
    rounding: Rounding = Rounding.RND_CONV
    overflow: Overflow = Overflow.SAT
    float32_cast: bool = False   # round the input to a float32 first (QKeras quantized_relu)
    op = "quantize"


@dataclass(eq=False)
class Relu(Node):
    op = "relu"


@dataclass(eq=False)
class ScaleShift(Node):
    """Per-channel (last axis) `x * scale * 2**-scale_frac + shift * 2**-shift_frac`."""

    scale: np.ndarray = field(default=None)
    scale_frac: int = 0
    shift: np.ndarray = field(default=None)
    shift_frac: int = 0
    op = "scale_shift"


@dataclass(eq=False)
class StepFunction(Node):
    """Per-channel piecewise-constant function of the input code.

    `thresholds[c]` is sorted ascending (input codes); `levels[c]` has one more entry
    (output codes). Output is `levels[c][j]` with `j` the number of thresholds <= x.
    A single row applies to every channel. Channels with fewer steps pad `thresholds`
    with a code above the input range. `function` says what it came from.
    """

    thresholds: np.ndarray = field(default=None)
    levels: np.ndarray = field(default=None)
    function: str = ""
    op = "step"


@dataclass(eq=False)
class Reshape(Node):
    op = "reshape"


@dataclass(frozen=True)
class Term:
    """One addend of a `LinearSum` output: `coeff * x[source] * 2**shift`, or with
    `source == -1` the constant `coeff * 2**shift` (a bias)."""

    source: int
    coeff: int
    shift: int

    @property
    def value(self) -> int:
        """The constant factor this term multiplies its input by (or its value)."""
        return self.coeff << self.shift


@dataclass(eq=False)
class LinearSum(Node):
    """A dense layer lowered to terms: `out[j] = sum(terms[j])`, exactly, in `type`'s codes.

    `mult` says how the products are built: "generic" (one term per non-zero weight),
    "csd" (each term a signed power of two: a shift, added or subtracted) or "dsp" (each
    term an odd constant times a shifted input: one hardware multiplier, or a shift when
    the constant is 1). `trees` holds one `adder_tree.Tree` per output once widths are
    inferred. `fold` (a `fold.Fold`, set by `passes.fold_layers`) replaces the trees by a
    few multiply-accumulate lanes stepping through the non-zero weights."""

    terms: list = field(default=None, repr=False)     # per output: tuple[Term, ...]
    mult: str = "generic"
    trees: list | None = field(default=None, repr=False)
    fold: "object | None" = field(default=None, repr=False)   # fold.Fold: resource-shared
    op = "linear_sum"

    def matrix(self, n_in: int) -> tuple[np.ndarray, np.ndarray]:
        """(effective weights [n_in, out] and constants [out]) as Python ints."""
        w = np.zeros((n_in, len(self.terms)), dtype=object)
        c = np.zeros(len(self.terms), dtype=object)
        for j, terms in enumerate(self.terms):
            for t in terms:
                if t.source < 0:
                    c[j] += t.value
                else:
                    w[t.source, j] += t.value
        return w, c


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
