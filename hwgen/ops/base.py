"""The base of every IR op, and the registry that makes each op's rules mandatory.

An op is a frozen dataclass deriving from `Node` (passes make changed copies with
`dataclasses.replace`, through `ir/rewrite.py`), in its own file in `ops/`,
that defines every rule in `RULES` itself (`@register` refuses a class that inherits one
from `Node`, whose versions only raise): there are no silent defaults, as in XLS's
`DfsVisitor`, where every handler is mandatory.

An op reading one tensor (`arity = 1`) gets its input node as `src` and its codes as `x`;
an op reading several (a merge, `arity = None`) gets a tuple of nodes and a tuple of code
arrays, in `inputs` order (`Graph.sources`).

| rule | what it says |
| --- | --- |
| `evaluate(src, x)` | the reference: codes of `src` (format `src.type`) to this op's codes |
| `interval(src)` | exact per-element (lo, hi) codes, from `src.lo`/`src.hi` |
| `logic_levels()` | combinational levels in hardware (for the pipeline schedule) |
| `stats()` | (weights, non-zero weights, multiply-accumulates per inference) |
| `details()` | the op's own lines of the IR dump (`ir.txt`) |
| `hls_precision()` | (hls4ml precision entries or None, or why hls4ml cannot match it) |
| `manifest_fields()` | the op's own fields of its manifest.json layer row |
| `problems(src)` | what is wrong with its shape and format against its input (`ir/check.py`) |
| `component(src)` | its Amaranth component (`component.Layer`) after the hardware passes |
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..ir.types import FixedType

RULES = ("evaluate", "interval", "logic_levels", "stats", "details", "component",
         "hls_precision", "manifest_fields", "problems")
REGISTRY: dict[str, type] = {}


@dataclass(eq=False, frozen=True)
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
    arity = 1                 # inputs read; None: any number (rules get tuples)

    post: tuple = ()          # nodes computed inside this one (a folded layer's fused ops)
    own_latency = 0           # cycles of the op's own pipeline (a folded layer's lanes)
    interval_cycles = 1       # cycles between input vectors the op needs

    @property
    def size(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1

    def evaluate(self, src: "Node", x: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"op {self.op} has no reference semantics")

    def interval(self, src: "Node") -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError(f"op {self.op} has no range rule")

    def logic_levels(self) -> int:
        raise NotImplementedError(f"op {self.op} has no level count")

    def stats(self) -> tuple[int, int, int]:
        raise NotImplementedError(f"op {self.op} has no statistics")

    def details(self) -> list[str]:
        raise NotImplementedError(f"op {self.op} has no dump")

    def component(self, src: "Node"):
        raise NotImplementedError(f"op {self.op} has no hardware")

    def hls_precision(self) -> tuple[dict | None, str | None]:
        raise NotImplementedError(f"op {self.op} has no hls4ml precision rule")

    def manifest_fields(self) -> dict:
        raise NotImplementedError(f"op {self.op} has no manifest row")

    def problems(self, src: "Node") -> list[str]:
        raise NotImplementedError(f"op {self.op} has no IR check")

    def level_costs(self, src: "Node", lut_inputs: int = 4
                    ) -> tuple[tuple[float, int | None], ...]:
        """Per one of its `logic_levels`, (how many LUT levels deep it is, the bits of its
        widest carry chain, None for the op's output width), for the delay schedule on a
        target whose LUTs take `lut_inputs` (an optional rule: by default every level is
        one LUT level on the output's width)."""
        return ((1, None),) * self.logic_levels()

    def register_bits(self, level: int, src: "Node") -> int | None:
        """Bits a pipeline register after `level` holds (an optional rule: None, its
        outputs' widths)."""
        return None

    def wiring_levels(self, src: "Node") -> frozenset[int]:
        """Those of its `logic_levels` (counted from 1) that are only wiring for these
        input ranges, so take no time in the delay schedule (an optional rule: by
        default every level is logic)."""
        return frozenset()


def register(cls):
    """Add the op class `cls` to the registry, once it defines every rule itself."""
    missing = [r for r in RULES if getattr(cls, r) is getattr(Node, r)]
    if missing:
        raise TypeError(f"op {cls.__name__} does not define {', '.join(missing)}: every op "
                        f"defines every rule of ops/base.py (RULES)")
    if cls.op in REGISTRY:
        raise TypeError(f"two ops named {cls.op!r}: {REGISTRY[cls.op].__name__} and "
                        f"{cls.__name__}")
    REGISTRY[cls.op] = cls
    return cls


def same_shape(node: Node, src: Node) -> list[str]:
    """The `problems` of an element-wise op whose output has its input's shape."""
    return [] if tuple(node.shape) == tuple(src.shape) else \
        [f"shape {node.shape} differs from its input's {src.shape}"]


def align(codes: np.ndarray, frac: int, target: int) -> np.ndarray:
    """Codes at `frac` fraction bits as codes at `target` (>= frac) fraction bits."""
    from ..ir.types import shift_left
    return shift_left(codes, target - frac)


def through(node: Node, src: Node) -> tuple[np.ndarray, np.ndarray]:
    """The interval of a monotonic non-decreasing op: its ends mapped by the op itself, so
    the rule cannot drift from the semantics."""
    from ..ir.types import as_codes
    ends = as_codes(np.stack([src.lo, src.hi]))
    out = node.evaluate(src, ends)
    return out[0], out[1]
