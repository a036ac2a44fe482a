"""The batch harness of a streaming core holds pixels, not images, and stays exact."""
import re

import numpy as np
import pytest

from hwgen.errors import HwgenError
from hwgen.flow import build_rtl
from hwgen.frontends.loader import load
from hwgen.frontends.qkeras import to_ir
from hwgen.options import FrontendOptions, HardwareOptions
from hwgen.sim import stimulus
from hwgen.sim.harness import BatchHarness, verilog
from hwgen.sim.runner import cosim

from ..conv_factory import random_conv_model


def test_a_streaming_cores_harness_keeps_pixels_and_is_exact(tmp_path, monkeypatch):
    """A CIFAR-sized image (32x32x3, 8 bits) in one ROM word made a 100-Mbit memory and
    768 hash units that did not finish converting; the ROM now holds pixels, and the
    random vectors' pixels come from the hashes of the two or three words they lie in.
    With room for 4 images in the ROM (the limit lowered), a run of fixed and random
    images is exact, on pixels that straddle 32-bit words."""
    model, fmt, desc = random_conv_model(12)     # 3 channels of 6 bits: 18-bit pixels
    graph = to_ir(load(model), FrontendOptions.from_strings(fmt, ["fixed<8,2>"]))
    _, rtl = build_rtl(graph, tmp_path, HardwareOptions("csd", None, io="stream"))
    m = rtl.data
    pw = sum(e["width"] for e in m["input"]["pixel_elements"])
    npix = len(m["input"]["elements"]) // len(m["input"]["pixel_elements"])
    assert npix > 1 and pw % 32 and 32 % pw, (desc, pw)   # pixels straddle words
    monkeypatch.setattr(stimulus, "ROM_PIXELS", 4 * npix)
    assert stimulus.rom_vectors(m) == 4
    harness = BatchHarness(m)
    assert (harness.rom_width, harness.rom_depth) == (pw, 4 * npix)
    assert re.search(rf"reg \[{pw - 1}:0\] \S+ \[{4 * npix - 1}:0\];", verilog(harness))
    r = cosim(graph, m, tmp_path / "rtl", tmp_path / "sim", 60, 3, log=lambda s: None)
    assert (r["fixed_vectors"], r["random_vectors"]) == (4, 56)
    assert r["outputs_seen"] == 60 and r["mismatches"] == 0, (desc, r["first_mismatches"][:2])
    # Given vectors: as many as the ROM holds, then a clear error.
    codes = np.zeros((5, len(m["input"]["elements"])), dtype=np.int64)
    with pytest.raises(HwgenError, match="at most 4 given vectors, not 5"):
        cosim(graph, m, tmp_path / "rtl", tmp_path / "sim", 5, 0, log=lambda s: None,
              codes=codes)
    r = cosim(graph, m, tmp_path / "rtl", tmp_path / "sim", 4, 0, log=lambda s: None,
              codes=codes[:4])
    assert r["mismatches"] == 0 and r["outputs_seen"] == 4
