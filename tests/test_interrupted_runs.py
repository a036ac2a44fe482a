"""A run killed at any moment leaves nothing a later run mistakes for a finished result:
kill `hwgen` (SIGKILL, its tools with it) in the middle of a synthesis and of a
co-simulation's Verilator build, run again, and get what an uninterrupted run gets."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

HWGEN = [sys.executable, "-m", "hwgen.cli"]


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    import tensorflow as tf
    from qkeras import QActivation, QDense

    from .model_factory import quantizer
    path = tmp_path_factory.mktemp("model") / "killme.h5"
    tf.keras.Sequential([
        tf.keras.layers.InputLayer((6,)),
        QDense(5, kernel_quantizer=quantizer("quantized_bits(6,0,alpha=1)"),
               bias_quantizer=quantizer("quantized_bits(6,0,alpha=1)"), name="fc1"),
        QActivation(quantizer("quantized_relu(5,2)"), name="relu1"),
        QDense(3, kernel_quantizer=quantizer("quantized_bits(6,0,alpha=1)"),
               bias_quantizer=quantizer("quantized_bits(6,0,alpha=1)"), name="fc2")],
        name="killme").save(path)
    return path


def _kill_when(argv, ready, timeout=300.0) -> None:
    """Start `hwgen argv` in its own process group; once `ready()` holds, SIGKILL the
    whole group (hwgen and the tools it started)."""
    proc = subprocess.Popen(HWGEN + [str(a) for a in argv], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    t0 = time.monotonic()
    try:
        while not ready():
            assert proc.poll() is None, "hwgen ended before it could be killed mid-way"
            assert time.monotonic() - t0 < timeout, "the moment to kill never came"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _run(argv) -> subprocess.CompletedProcess:
    return subprocess.run(HWGEN + [str(a) for a in argv], capture_output=True, text=True,
                          timeout=900)


# slow: three CLI runs with Yosys; the co-simulation below is killed the same way by
# default, and a Yosys cache entry's result.json is written as every other output
# (`outputs.write_text`: a `.part` file renamed over it)
@pytest.mark.slow
def test_synthesis_killed_mid_way_then_run_again(model, tmp_path, monkeypatch):
    monkeypatch.setenv("HWGEN_YOSYS_CACHE", "0")     # every run synthesizes (the killed one)
    out = tmp_path / "killed"
    cache = out / "synth" / "ice40" / "cache"
    argv = ["estimate", model, "--target", "ice40", "--no-power", "-o", out]
    # Yosys is running once a cache entry has its script but no result yet.
    _kill_when(argv, lambda: any((d / "synth.ys").exists() and not (d / "result.json").exists()
                                 for d in cache.glob("*")) if cache.is_dir() else False)
    assert not (out / "synth" / "ice40" / "estimate.json").exists()
    again = _run(argv)
    assert again.returncode == 0, again.stderr
    clean = _run(["estimate", model, "--target", "ice40", "--no-power", "-o",
                  tmp_path / "clean"])
    assert clean.returncode == 0, clean.stderr
    read = lambda d: json.loads((d / "synth" / "ice40" / "estimate.json").read_text())  # noqa
    assert read(out)["total"] == read(tmp_path / "clean")["total"]
    assert not list(out.rglob("*.part")), "a temporary file was left behind"


def test_cosimulation_killed_mid_way_then_run_again(model, tmp_path, monkeypatch):
    monkeypatch.setenv("HWGEN_VERILATOR_CACHE", "0")  # every run compiles (the killed one)
    out = tmp_path / "killed"
    build = out / "sim" / "build-batch-toggles"   # (with toggle counts, for `estimate`)
    argv = ["sim", model, "--n", "500", "-o", out]
    # Verilator (or its C++ compile) is running once its build folder has a log.
    _kill_when(argv, lambda: (build / "build.log").exists())
    assert not (build / "hwgen.digest").exists(), "a half-built simulation counts as done"
    again = _run(argv)
    assert again.returncode == 0, again.stderr
    result = json.loads((out / "sim" / "results.json").read_text())
    assert result["vectors"] == 500 and result["mismatches"] == 0
    assert result["verilator_rebuilt"] is True
