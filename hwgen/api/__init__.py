"""hwgen's Python API: `convert` a model, then predict, verify, co-simulate, estimate,
export and report from a notebook or a script (the `hwgen` command runs the same flow).

    import hwgen
    hw = hwgen.convert("jet_tagger", reuse="auto")
    hw.predict(x)                 # bit-exact reference: what the hardware outputs
    hw.verify(x=x)                # against QKeras: 0 mismatches
    hw.cosim(x).mismatches        # the RTL in Verilator: 0
    hw.estimate("ecp5").total     # Yosys resources; .fmax_mhz, .energy_per_inference_nj
"""
from __future__ import annotations

from pathlib import Path

from ..options import check_layer_names
from .model import HardwareModel
from .options import ConvertOptions, parse, unknown_option

__all__ = ["convert", "HardwareModel", "ConvertOptions"]

_OPTIONS = ["weights", "input_format", "precision", "mult", "pipeline", "clock_target",
            "reuse", "io", "target", "split_outputs", "step_form", "out", "log"]


def convert(model, weights=None, *, input_format=None, precision=None, mult: str = "csd",
            pipeline: int | None = None, clock_target=None, reuse=1, io: str = "parallel",
            target: str = "ecp5", split_outputs: bool = False, step_form: str = "auto",
            out=None, log=print,
            **unknown) -> HardwareModel:
    """Load `model` and lower it to hwgen's IR: a `HardwareModel`.

    model: a Keras/QKeras model object, a design name from `designs/` (`hwgen list`), a
        .h5 / .keras file, or an architecture .json (weights next to it as NAME_weights.h5,
        or `weights`).
    input_format: the input grid when the model has no input quantizer, e.g.
        'fixed<12,4>' (default fixed<16,6>).
    precision: the format of float (unquantized) layers, e.g. 'fixed<16,6>' or
        'fixed<8,3,RND_CONV,SAT>'; or a dict keyed by Keras layer name ('*': the rest).
    mult: 'csd' (shift-add with shared sub-expressions, default), 'csd-per-weight', 'dsp'.
    pipeline: None (registers placed by delay for `clock_target`) or N (a register every
        N levels; 0: input and output registers only).
    clock_target: MHz (150), '150MHz' or a period '6.5ns' (default: the target's clock).
    reuse: 1 (fully parallel), R (fold dense layers to at most R cycles per vector),
        'auto' (the smallest that fits `target`), or a dict keyed by Keras layer name.
    io: 'parallel', 'stream' (an image a pixel per handshake) or 'auto' (by fit).
    target: 'ecp5', 'ice40', 'xc7' or 'asic': what the schedule is timed for, what
        'auto' fits, and the default of `estimate` and `report`.
    split_outputs: with `reuse`, split an output's products over lanes where it has more
        than R of them, so that a folded layer takes R cycles (more lanes); default False:
        it takes as many cycles as its longest output.
    step_form: step functions (non-linear quantizers, a batch norm fused with a
        quantizer): 'auto' searches those of 7 thresholds or more (far smaller, a few
        levels more), 'tree' compares every threshold at once (the fewest levels),
        'search' searches all.
    out: the build folder (default build/<design>).
    log: called with each progress line (None: silent).
    """
    if unknown:
        raise unknown_option(sorted(unknown)[0], _OPTIONS)
    from .. import load_model
    from ..frontends.qkeras import to_ir
    options = parse(input_format, precision, mult, pipeline, clock_target, reuse, io, target,
                    split_outputs, step_form)
    loaded = load_model(model, weights)
    graph = to_ir(loaded, options.frontend())        # refuses unknown precision names
    check_layer_names("reuse", options.layer_reuse,
                      sorted({n.layer for n in graph.nodes if n.op in ("dense", "conv")}),
                      "dense or convolution layer")
    return HardwareModel(loaded, graph, options,
                         Path(out) if out is not None else Path("build", loaded.name), log)
