"""The carbon estimate's imports stay quiet: codecarbon imports pynvml, whose deprecation
FutureWarning printed in the middle of `make hw`'s report step."""
import subprocess
import sys


def test_grid_intensity_imports_codecarbon_without_a_warning():
    code = ("from hwgen.estimate.carbon import grid_intensity; "
            "print(grid_intensity('FRA')['g_per_kwh'])")
    proc = subprocess.run([sys.executable, "-W", "error::FutureWarning", "-c", code],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert float(proc.stdout.strip()) > 0
