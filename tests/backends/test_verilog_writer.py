"""The Yosys started ahead writes exactly the Verilog of Amaranth's own conversion, reports
Yosys's errors, and leaves no process behind when it is not used."""
import pytest
from amaranth.back import rtlil, verilog

from hwgen.backends.amaranth.top import Top
from hwgen.backends.amaranth.verilog_writer import VerilogWriter
from hwgen.passes import pipelines

from ..hw_factory import random_graph


def test_the_writer_gives_amaranths_verilog_byte_for_byte():
    top = Top(pipelines.hardware().run(random_graph(3, True, 0.3)))
    text = rtlil.convert(top, name="hwgen_writer", emit_src=False)
    with VerilogWriter() as writer:
        written = writer.convert(text)
    assert written == verilog._convert_rtlil_text(text)
    assert "module hwgen_writer(" in written


def test_a_yosys_error_is_raised_and_an_unused_writer_stops_its_process():
    from amaranth._toolchain.yosys import YosysError
    with VerilogWriter() as writer:
        with pytest.raises(YosysError):
            writer.convert("module \\broken\n  this is not rtlil\nend\n")
    writer = VerilogWriter()
    process = writer._process
    writer.close()
    assert process is None or process.poll() is not None


def test_build_rtl_pauses_the_cycle_collector_and_restores_it(tmp_path, monkeypatch):
    """The collector is off while the RTL is built (flow.steps.cycle_collector_paused) and
    as it was afterwards, on or off, and after a failed build too."""
    import gc

    from hwgen.backends.amaranth import emit
    from hwgen.flow.steps import build_rtl
    from hwgen.options import HardwareOptions
    seen = []
    real_build = emit.build

    def build(*args, **kwargs):
        seen.append(gc.isenabled())
        return real_build(*args, **kwargs)
    monkeypatch.setattr(emit, "build", build)
    graph = random_graph(4, sparsity=0.3, n_in=6)
    assert gc.isenabled()
    build_rtl(graph, tmp_path / "on", HardwareOptions())
    assert seen == [False] and gc.isenabled()
    gc.disable()
    try:
        build_rtl(graph, tmp_path / "off", HardwareOptions())
        assert not gc.isenabled()
    finally:
        gc.enable()

    def broken(*args, **kwargs):
        raise RuntimeError("the back end failed")
    monkeypatch.setattr(emit, "build", broken)
    with pytest.raises(RuntimeError):
        build_rtl(graph, tmp_path / "failed", HardwareOptions())
    assert gc.isenabled()
