"""The ASIC hand-off: the Verilog and an OpenLane 2 configuration sized from the estimate."""
import json
import math

import pytest

from hwgen.estimate.resources import estimate
from hwgen.export.asic import NAND2_UM2, export_asic
from hwgen.flow import build_rtl
from hwgen.options import HardwareOptions

from ..hw_factory import random_graph


@pytest.mark.parametrize("serial", [False, True])
def test_openlane_config_and_verilog(tmp_path, serial):
    _, rtl = build_rtl(random_graph(5, sparsity=0.3, n_in=8), tmp_path, HardwareOptions())
    est = estimate(tmp_path, rtl.data, "asic", log=lambda s: None)
    out = tmp_path / "asic"
    info = export_asic("small", rtl.data, rtl.verilog.read_text(), est, out, 8.0, serial)
    config = json.loads((out / "config.json").read_text())
    top = "hwgen_serial_top" if serial else rtl.data["top"]
    assert config["DESIGN_NAME"] == top and config["CLOCK_PORT"] == "clk"
    assert config["CLOCK_PERIOD"] == 8.0 and config["PDK"] == "sky130A"
    assert config["VERILOG_FILES"] == [f"dir::src/{top}.v"]
    src = (out / "src" / f"{top}.v").read_text()
    assert rtl.verilog.read_text() in src and f"module {top}" in src
    side = config["DIE_AREA"][2]
    cells = est["total"]["nand2_equivalents"] * NAND2_UM2 / 0.5
    assert side >= math.sqrt(cells) and config["DIE_AREA"][:2] == [0, 0]
    assert info["pins"] == (8 if serial else _port_bits(src, top))
    assert "openlane config.json" in (out / "README.md").read_text()


def _port_bits(verilog: str, module: str) -> int:
    """Bits of `module`'s ports, read from its Verilog declarations."""
    import re
    body = verilog[verilog.index(f"module {module}"):]
    body = body[:body.index("endmodule")]
    bits = 0
    for m in re.finditer(r"^\s*(input|output)\s+(?:wire\s+|reg\s+)?(?:\[(\d+):(\d+)\]\s*)?"
                         r"\\?[\w$.]+\s*;", body, re.M):
        bits += abs(int(m.group(2)) - int(m.group(3))) + 1 if m.group(2) else 1
    assert bits > 4
    return bits
