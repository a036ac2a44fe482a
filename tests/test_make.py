"""The Makefile's targets pass a user's further options (`ARGS`) on to hwgen: a model
without an input quantizer or with float layers needs them, and the errors say to give
them. A dry run (`make -n`) shows each command as make would run it."""
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARGS = "--input-format 'fixed<8,3>' --precision 'fixed<16,6>'"


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
@pytest.mark.parametrize("target, command", [
    ("hw", "hwgen flow my.h5"), ("build", "hwgen build my.h5"), ("sim", "hwgen sim my.h5"),
    ("export", "hwgen export my.h5"), ("hls", "hwgen hls my.h5"),
    ("verify", "hwgen verify-model my.h5"), ("inspect", "hwgen inspect my.h5"),
    ("sweep", "hwgen sweep my.h5")])
def test_every_hwgen_target_passes_args_on(target, command):
    out = subprocess.run(["make", "-n", "-C", str(ROOT), target, "MODEL=my.h5",
                          f"ARGS={ARGS}"], capture_output=True, text=True, check=True).stdout
    line = next(s for s in out.splitlines() if command in s)
    assert line.endswith(ARGS), line
