"""Pass pipelines as Python objects: run, stop after a pass, dump the IR after each."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..ir import check as ir_check
from ..ir.adder_graph import TWOS_COMPLEMENT_TARGETS
from ..ir.graph import Graph
from ..ir.text import dump
from .choose_step_forms import ChooseStepForms
from .drop_dead_logic import DropDeadLogic
from .fuse_activations import FuseActivations
from .drop_exact_float32_casts import DropExactFloat32Casts
from .drop_pruned_weights import DropPrunedWeights
from .fold_layers import FoldLayers
from .infer_ranges import InferRanges
from .infer_widths import InferWidths
from .lower_constant_multiplies import LowerConstantMultiplies
from .lower_float32_average import LowerFloat32Average
from .lower_float32_quantize import LowerFloat32Quantize
from .schedule_pipeline import DEFAULT_EVERY, SchedulePipeline
from .share_subexpressions import ShareSubexpressions


@dataclass(frozen=True)
class Pipeline:
    passes: tuple

    def run(self, graph: Graph, stop_after: type | None = None,
            dump_dir: Path | None = None, check: bool | None = None) -> Graph:
        """Apply the passes in order; optionally stop after one and dump the IR after each
        as `dump_dir/NN-<pass>.txt`. With `check` (default: HWGEN_CHECK_IR=1, which the
        tests and `--debug` set) the IR verifier runs before the first pass and after each."""
        check = ir_check.wanted() if check is None else check
        if check:
            ir_check.check_graph(graph, "the front end")
        for i, p in enumerate(self.passes, 1):
            graph = p.run(graph)
            if check:
                ir_check.check_graph(graph, p.name)
            if dump_dir is not None:
                Path(dump_dir).mkdir(parents=True, exist_ok=True)
                (Path(dump_dir) / f"{i:02d}-{p.name}.txt").write_text(dump(graph))
            if stop_after is not None and isinstance(p, stop_after):
                break
        return graph


DEFAULT = Pipeline((InferRanges(), DropExactFloat32Casts()))


def hardware(mult: str = "csd", pipeline: int | None = DEFAULT_EVERY, reuse: int = 1,
             layer_reuse=None, clock_mhz: float | None = None,
             target: str = "ecp5", split_outputs: bool = False,
             step_form: str = "auto") -> Pipeline:
    """The lowering for the RTL back end: ranges, float32 casts and averages, pruned weights
    (dense and convolution kernels to linear sums), relus and roundings merged
    into quantizers and biases, logic nothing reads, constant
    multiplications, folding by
    the reuse factor (`split_outputs`: exactly, see `ir/fold.py`; a layer whose adder graph
    costs no more cells on `target` than its lanes stays at full rate), shared sub-expressions of the layers left at full rate, exact
    adder-graph widths (in two's complement on `TWOS_COMPLEMENT_TARGETS`, else offset
    binary), step functions' hardware form (`step_form`), pipeline schedule
    (`pipeline=None`: by delay for `clock_mhz` on `target`)."""
    return Pipeline((InferRanges(), DropExactFloat32Casts(), LowerFloat32Average(),
                     LowerFloat32Quantize(),
                     DropPrunedWeights(), FuseActivations(), DropDeadLogic(),
                     LowerConstantMultiplies(mult),
                     FoldLayers(reuse, layer_reuse, split_outputs, target), ShareSubexpressions(),
                     InferWidths(offset_binary=target not in TWOS_COMPLEMENT_TARGETS),
                     ChooseStepForms(step_form),
                     SchedulePipeline(pipeline, clock_mhz, target)))
