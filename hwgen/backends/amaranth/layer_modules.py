"""Convert the layers of a full-rate design to RTLIL one by one, in parallel processes.

Why not one `amaranth.back.verilog.convert` of the whole top: Amaranth builds one per-bit
netlist of everything it converts and checks it for combinational cycles bit by bit (an
adder's every output bit is traced to every input bit), so that work grows with the whole
design and runs on one core; on the real QKeras jet tagger it was most of model ->
Verilog. The layers are independent modules with ports only, so each is converted on its
own (`amaranth.back.rtlil.convert`, the same netlist rules, checks and names), in forked
child processes (`HWGEN_RTL_JOBS`, default: the usable cores; 1 converts in this
process, as a Ray worker must), and the top instantiates them by module name. One Yosys
run with Amaranth's own script (`proc`, `write_verilog`) writes the Verilog of all.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

_PORT = re.compile(r"^\s*wire width (\d+) (input|output) \d+\s+(signed\s+)?\\(\S+)$", re.M)
_TOP_ATTRIBUTE = re.compile(r"^attribute \\top 1\n", re.M)


@dataclass(frozen=True)
class Port:
    name: str
    direction: str      # "input" or "output"
    width: int
    signed: bool


@dataclass(frozen=True)
class LayerModule:
    """One converted layer: its module name, RTLIL text (without the `top` attribute that
    `rtlil.convert` gives the module it converts), ports, and whether it has cells (False
    for a layer that is wiring only, its outputs constants or inputs: the top keeps such a
    layer as a plain submodule, so Amaranth folds it away as before)."""

    name: str
    rtlil: str
    ports: tuple
    has_cells: bool

    @classmethod
    def of(cls, name: str, rtlil_text: str) -> "LayerModule":
        ports = tuple(Port(p, d, int(w), bool(s)) for w, d, s, p in _PORT.findall(rtlil_text))
        return cls(name, _TOP_ATTRIBUTE.sub("", rtlil_text), ports,
                   re.search(r"^\s*cell ", rtlil_text, re.M) is not None)


def _convert(component, name: str) -> str:
    from amaranth.back import rtlil
    return rtlil.convert(component, name=name, emit_src=False)


def jobs() -> int:
    """Worker processes for the conversion: `HWGEN_RTL_JOBS`, else the usable cores."""
    value = os.environ.get("HWGEN_RTL_JOBS")
    if value:
        return max(int(value), 1)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)


def convert(layers: list[tuple[str, object]], cost: list[int] | None = None,
            workers: int | None = None) -> list[LayerModule]:
    """Each `(module name, component)` converted to RTLIL, in the given order. `cost` (one
    number per layer, e.g. its adders) balances the workers' shares. Each layer's text
    depends on that layer alone, so the worker count never changes the output."""
    workers = min(jobs() if workers is None else workers, len(layers))
    texts: dict[int, str] = {}
    if workers > 1 and hasattr(os, "fork"):
        texts = _forked(layers, _shares(cost or [1] * len(layers), workers))
    for i, (name, component) in enumerate(layers):
        if i not in texts:        # serial, or what a worker could not do (raises here)
            texts[i] = _convert(component, name)
    return [LayerModule.of(name, texts[i]) for i, (name, _) in enumerate(layers)]


def _shares(cost: list[int], workers: int) -> list[list[int]]:
    """Layers per worker: the costliest first, each to the least loaded worker."""
    shares: list[list[int]] = [[] for _ in range(workers)]
    load = [0] * workers
    for i in sorted(range(len(cost)), key=lambda i: (-cost[i], i)):
        w = load.index(min(load))
        shares[w].append(i)
        load[w] += cost[i]
    return [s for s in shares if s]


def _forked(layers, shares) -> dict[int, str]:
    """Convert each share in a forked child, which writes one file per layer and exits
    without running the parent's exit handlers or signal handlers. Why not
    `multiprocessing.Pool`: its workers share queue locks and inherit `hwgen`'s SIGTERM
    handler, so stopping the pool could hang; a plain fork per share with files cannot.
    Returns the texts of the layers that converted (a failed one is left to the caller)."""
    import importlib
    import signal
    import tempfile
    importlib.import_module("amaranth.back.rtlil")   # imported here, not in each child
    texts: dict[int, str] = {}
    with tempfile.TemporaryDirectory(prefix="hwgen-rtlil-") as tmp:
        children = []
        try:
            for share in shares:
                pid = os.fork()
                if pid == 0:                                       # the child
                    code = 1
                    try:
                        signal.signal(signal.SIGTERM, signal.SIG_DFL)
                        signal.signal(signal.SIGINT, signal.SIG_DFL)
                        for i in share:
                            name, component = layers[i]
                            text = _convert(component, name)
                            path = os.path.join(tmp, f"{i}.il")
                            with open(path + ".part", "w") as f:
                                f.write(text)
                            os.replace(path + ".part", path)
                        code = 0
                    finally:
                        os._exit(code)
                children.append(pid)
            while children:
                os.waitpid(children[0], 0)
                children.pop(0)
        finally:
            for pid in children:             # interrupted: no child outlives the call
                try:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                except (ProcessLookupError, ChildProcessError):
                    pass
        for i in range(len(layers)):
            path = os.path.join(tmp, f"{i}.il")
            if os.path.exists(path):
                with open(path) as f:
                    texts[i] = f.read()
    return texts
