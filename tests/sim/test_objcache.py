"""The Verilator runtime compiled once (hwgen-objcache, Verilator's OBJCACHE hook)."""
import os
import stat
import sys
from pathlib import Path

from hwgen import toolchain
from hwgen.sim import objcache


def _counting_compiler(tmp_path: Path) -> tuple[str, Path]:
    """A compiler that counts its calls, then runs the real c++."""
    calls = tmp_path / "calls"
    cxx = tmp_path / "bin" / "counting-c++"
    cxx.parent.mkdir()
    cxx.write_text(f'#!/bin/sh\necho x >> "{calls}"\nexec c++ "$@"\n')
    cxx.chmod(cxx.stat().st_mode | stat.S_IEXEC)
    return str(cxx), calls


def _calls(calls: Path) -> int:
    return len(calls.read_text().splitlines()) if calls.exists() else 0


def test_runtime_objects_are_compiled_once_and_designs_always(tmp_path, monkeypatch):
    monkeypatch.setenv("HWGEN_CACHE", str(tmp_path / "cache"))
    cxx, calls = _counting_compiler(tmp_path)
    include = tmp_path / "include"          # stands for Verilator's include folder
    include.mkdir()
    (include / "verilated.h").write_text("int vl_answer();\n")
    runtime = include / "verilated.cpp"
    runtime.write_text('#include "verilated.h"\nint vl_answer() { return 42; }\n')
    design = tmp_path / "Vtop.cpp"
    design.write_text("int top() { return 1; }\n")
    for k in (1, 2):
        build = tmp_path / f"build{k}"
        build.mkdir()
        assert objcache.compile_cached([cxx, "-O0", "-MMD", "-c", "-o",
                                        str(build / "verilated.o"), str(runtime)]) == 0
        assert objcache.compile_cached([cxx, "-O0", "-c", "-o", str(build / "Vtop.o"),
                                        str(design)]) == 0
        assert (build / "verilated.o").stat().st_size > 0 and (build / "verilated.d").exists()
    assert _calls(calls) == 3       # the runtime once, the design twice
    assert (tmp_path / "build1" / "verilated.o").read_bytes() == \
        (tmp_path / "build2" / "verilated.o").read_bytes()
    # Other flags, or a changed runtime source: compiled again.
    out = tmp_path / "build2" / "verilated.o"
    assert objcache.compile_cached([cxx, "-O1", "-c", "-o", str(out), str(runtime)]) == 0
    runtime.write_text('#include "verilated.h"\nint vl_answer() { return 43; }\n')
    assert objcache.compile_cached([cxx, "-O0", "-c", "-o", str(out), str(runtime)]) == 0
    assert _calls(calls) == 5
    # A failing compile is reported and leaves nothing in the cache.
    runtime.write_text("this is not C++\n")
    assert objcache.compile_cached([cxx, "-O0", "-c", "-o", str(out), str(runtime)]) != 0
    assert len(list((tmp_path / "cache" / "verilator-runtime").glob("*.o"))) == 3


def test_verilator_builds_go_through_the_wrapper(monkeypatch):
    monkeypatch.delenv("HWGEN_OBJCACHE", raising=False)
    monkeypatch.delenv("MAKEFLAGS", raising=False)
    wrapper = Path(sys.executable).parent / "hwgen-objcache"
    assert wrapper.is_file() and os.access(wrapper, os.X_OK)
    assert f"OBJCACHE={wrapper}" in toolchain.verilator_env()["MAKEFLAGS"]
    monkeypatch.setenv("HWGEN_OBJCACHE", "0")
    assert "OBJCACHE" not in toolchain.verilator_env()["MAKEFLAGS"]
