"""The differential fuzzer (`make fuzz`) on a small fixed set of seeds: reference vs
QKeras (twin and untouched model) and RTL vs reference in Verilator. The seeds cover
folded layers with DSP multipliers (0: reuse 8, 5: reuse 2) and shift-add (10: reuse 3)."""
import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "fuzz.py"


def _fuzz():
    spec = importlib.util.spec_from_file_location("fuzz", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("seed,mult,reuse", [
    (0, "dsp", 8), pytest.param(5, "dsp", 2, marks=pytest.mark.slow), (10, "csd", 3)])
def test_fuzz_seed_is_exact_everywhere(tmp_path, capsys, seed, mult, reuse):
    fuzz = _fuzz()
    assert fuzz.options(seed)["mult"] == mult and fuzz.options(seed)["reuse"] == reuse
    assert fuzz.main(["--n", "1", "--seed", str(seed), "--vectors", "300", "-o",
                      str(tmp_path)]) == 0, capsys.readouterr().out
    (record,) = json.loads((tmp_path / "summary.json").read_text())["records"]
    assert record["ok"] and record["twin_mismatches"] == 0 and record["rtl_mismatches"] == 0
    assert record["ii"] > 1          # the layers really are folded
    assert f"seed {seed}: ok" in capsys.readouterr().out
