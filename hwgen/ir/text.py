"""Human-readable views of the IR: a per-layer table (`hwgen inspect`) and a full dump."""
from __future__ import annotations

from .graph import Graph
from .types import FixedType


def weight_count(node) -> tuple[int, int]:
    """(weights, non-zero weights) of a node (its `stats` rule)."""
    return node.stats()[:2]


def macs(node) -> int:
    """Multiply-accumulates per inference (pruned weights cost nothing)."""
    return node.stats()[2]


TABLE_HEAD = ["layer", "class", "op", "in shape", "out shape", "out format", "weights",
              "non-zero", "sparsity", "MACs"]


def table_rows(graph: Graph) -> list[list[str]]:
    """The rows of the per-layer table (columns TABLE_HEAD), a total row last."""
    rows = []
    for node in graph.nodes:
        w, nz = weight_count(node)
        ins = ", ".join(_shape(graph.node(i).shape) for i in node.inputs) or "-"
        rows.append([node.layer, node.origin, node.op, ins, _shape(node.shape), str(node.type),
                     str(w) if w else "", str(nz) if w else "",
                     f"{100 * (1 - nz / w):.1f} %" if w else "", str(macs(node)) if w else ""])
    total_w = sum(weight_count(n)[0] for n in graph.nodes)
    total_nz = sum(weight_count(n)[1] for n in graph.nodes)
    rows.append(["total", "", "", "", "", "", str(total_w), str(total_nz),
                 f"{100 * (1 - total_nz / total_w):.1f} %" if total_w else "",
                 str(sum(macs(n) for n in graph.nodes))])
    return rows


def table_notes(graph: Graph) -> list[str]:
    """The lines under the per-layer table: input grid, outputs, twin, notes."""
    lines = [f"input grid: {graph.input.type} ({graph.input.note})"]
    for head in graph.heads:
        lines.append(f"output: {head.type} x {head.size}" + (
            f" ('{head.layer}')" if len(graph.heads) > 1 else "")
            + (" (logits)" if graph.softmax_removed else ""))
    lines.append("exact twin: " + ("yes, QKeras predict is the reference's twin" if graph.exact
                                   else "no: float layers were quantized by a precision"))
    return lines + [f"note: {note}" for note in graph.notes]


def table(graph: Graph) -> str:
    """The per-layer table printed by `hwgen inspect`."""
    head, rows = TABLE_HEAD, table_rows(graph)
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*head), fmt.format(*["-" * w for w in widths])]
    lines += [fmt.format(*r) for r in rows]
    return "\n".join(lines + [""] + table_notes(graph))


def dump(graph: Graph) -> str:
    """Every node with its fields (weights summarised), for `build/<design>/ir.txt`."""
    lines = [f"graph {graph.name} exact={graph.exact} softmax_removed={graph.softmax_removed}"
             + ("" if graph.outputs in ((), (graph.nodes[-1].name,)) else
                " outputs=" + ",".join("%" + n for n in graph.output_names))]
    for node in graph.nodes:
        lines.append(f"%{node.name} = {node.op}({', '.join('%' + i for i in node.inputs)}) "
                     f": {node.type} {_shape(node.shape)}  # {node.origin} '{node.layer}' "
                     f"{node.note}")
        if node.lo is not None:
            bits = [FixedType.for_range(int(a), int(b), 0).width
                    for a, b in zip(node.lo.ravel(), node.hi.ravel())]
            lines.append(f"    range [{int(node.lo.min())}, {int(node.hi.max())}], "
                         f"{min(bits)}..{max(bits)} bits per element")
        lines += ["    " + line for line in node.details()]
        if node.register_after:
            lines.append(f"    pipeline registers after levels {list(node.register_after)}")
    return "\n".join(lines) + "\n"


def _shape(shape) -> str:
    return "x".join(str(d) for d in shape) if shape else "scalar"
