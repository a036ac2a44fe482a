"""What the merge ops (`add.py`, `multiply.py`, `extremum.py`, `concatenate.py`) share: the
checks of their sources, codes aligned to one fraction, and levels of a balanced tree.

A merge reads several tensors (`arity = None`): its rules get a tuple of source nodes and,
in `evaluate`, a tuple of code arrays in the same order.
"""
from __future__ import annotations

import numpy as np

from ..ir.types import as_codes
from .base import align


def tree_levels(n: int) -> int:
    """Levels of a balanced tree of two-input operations over `n` operands."""
    return max(n - 1, 0).bit_length()


def aligned(codes, srcs, frac: int) -> list[np.ndarray]:
    """Each source's codes moved to `frac` fraction bits (exact: frac >= theirs)."""
    return [align(as_codes(np.asarray(x)), s.type.frac, frac) for x, s in zip(codes, srcs)]


def aligned_bounds(srcs, frac: int) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(align(as_codes(np.asarray(s.lo)), s.type.frac, frac),
             align(as_codes(np.asarray(s.hi)), s.type.frac, frac)) for s in srcs]


def source_problems(node, srcs, frac: int | None = None, same_shape: bool = True) -> list[str]:
    """Two or more sources, of the node's shape (unless `same_shape` is off), with at most
    `frac` fraction bits (they are aligned up to it)."""
    out = [] if len(srcs) >= 2 else [f"{len(srcs)} source(s); a merge reads two or more"]
    if same_shape:
        out += [f"source %{s.name} has shape {s.shape}, the node {node.shape}"
                for s in srcs if tuple(s.shape) != tuple(node.shape)]
    if frac is not None:
        out += [f"source %{s.name} has {s.type.frac} fraction bits, more than {frac}"
                for s in srcs if s.type.frac > frac]
    return out


def staged_tree(layer, m, operands: list[list[tuple]], combine) -> list[tuple]:
    """Per element, `combine` over its operands as a balanced tree (pairs of neighbours,
    level by level), registered after the levels the schedule lists (`layer.stage`).
    Operands are (value, tag) pairs; `combine((a, ta), (b, tb))` returns one, and a tag
    is a static fact the tree carries (a sign). Returns the (value, tag) per element."""
    cur, level = operands, 0
    while max(len(c) for c in cur) > 1:
        level += 1
        cur = [[combine(c[k], c[k + 1]) for k in range(0, len(c) - 1, 2)]
               + (c[-1:] if len(c) % 2 else []) for c in cur]
        regs = iter(layer.stage(m, level, [v for c in cur for v, _ in c]))
        cur = [[(next(regs), tag) for _, tag in c] for c in cur]
    return [c[0] for c in cur]
