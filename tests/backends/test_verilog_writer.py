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
