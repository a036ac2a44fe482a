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


# Seeds the fuzzer found wrong, kept (reference vs QKeras; these were never RTL faults):
# 1108: quantized_relu_po2 steps read at a code where TensorFlow's float32 log differs
#       between its vectorised and scalar paths (a level lost: 300 of 300 vectors);
# 1010: quantized_relu(..., relu_upper_bound=3.0, is_quantized_clip=False) rebuilt from
#       its config, which drops is_quantized_clip (clipped at 3.9375: 207 of 300);
# 1009: a batch normalization computed in float64 where QKeras rounds in float32 (5 of 300).
@pytest.mark.parametrize("seed", [1108, 1010, 1009])
def test_fuzz_found_seed_matches_qkeras(tmp_path, capsys, seed):
    fuzz = _fuzz()
    assert fuzz.main(["--n", "1", "--seed", str(seed), "--vectors", "300", "--no-rtl", "-o",
                      str(tmp_path)]) == 0, capsys.readouterr().out
    (record,) = json.loads((tmp_path / "summary.json").read_text())["records"]
    assert record["ok"] and record["twin_mismatches"] == 0
    assert record["model_mismatches"] in (0, None if seed == 1108 else 0)


def test_fuzz_cnn_seed_is_exact_streamed_or_refused_to_stream(tmp_path, capsys):
    """`--cnn` (CNN=1): a random CNN whose options ask for streaming but whose first
    layer reads the whole input (an UpSampling2D) is refused streaming with the reason
    and checked fully parallel; the reference equals QKeras and the RTL the reference."""
    fuzz = _fuzz()
    assert fuzz.options(7002, cnn=True)["io"] == "stream"
    assert fuzz.main(["--cnn", "--n", "1", "--seed", "7002", "--vectors", "200", "-o",
                      str(tmp_path)]) == 0, capsys.readouterr().out
    (record,) = json.loads((tmp_path / "summary.json").read_text())["records"]
    assert record["ok"] and record["twin_mismatches"] == 0 and record["rtl_mismatches"] == 0
    assert record["io"] == "parallel" and "UpSampling2D" in record["stream_refused"]
    assert "Conv" in record["model"] or "conv" in record["model"]


def test_fuzz_hls_seed_is_exact_in_hls4ml_c_simulation(tmp_path, capsys):
    """`--hls` (HLS=1): hls4ml's C simulation of a random model against the reference,
    through `hwgen hls`'s path; seed 36 is compared up to its logits."""
    fuzz = _fuzz()
    assert fuzz.main(["--hls", "--no-rtl", "--n", "1", "--seed", "36", "--vectors", "200",
                      "-o", str(tmp_path)]) == 0, capsys.readouterr().out
    (record,) = json.loads((tmp_path / "summary.json").read_text())["records"]
    assert record["ok"] and record["hls_mismatches"] == 0, record
    assert record["hls_compared"] == "logits" and "hls_refused" not in record
