"""Finished Verilator simulators kept by content for every build folder (sim/build_cache.py)."""
import os

from hwgen.flow import build_rtl
from hwgen.options import HardwareOptions
from hwgen.sim import build_cache
from hwgen.sim.runner import cosim

from ..hw_factory import dense_graph


def test_the_same_verilog_compiles_once_for_every_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HWGEN_VERILATOR_CACHE", str(tmp_path / "kept"))
    graph = dense_graph(n=6, bits=5, seed=4)
    results, logs, rtls = [], [], []
    for k in range(2):
        _, rtl = build_rtl(graph, tmp_path / f"out{k}", HardwareOptions())
        lines = []
        results.append(cosim(graph, rtl.data, tmp_path / f"out{k}" / "rtl",
                             tmp_path / f"out{k}" / "sim", 300, 1, log=lines.append))
        logs.append("\n".join(lines))
        rtls.append(rtl)
    first, second = results
    assert first["verilator_rebuilt"] and not second["verilator_rebuilt"]
    assert "verilating" in logs[0] and str(tmp_path / "kept") in logs[1], logs[1]
    assert first["mismatches"] == second["mismatches"] == 0
    assert first["outputs_seen"] == second["outputs_seen"] == 300
    assert len(list((tmp_path / "kept").iterdir())) == 1
    # Another build of the same Verilog (toggle counting): compiled, then kept too.
    r = cosim(graph, rtls[1].data, tmp_path / "out1" / "rtl", tmp_path / "out1" / "sim", 300,
              1, log=lambda s: None, toggles=True)
    assert r["verilator_rebuilt"] and r["mismatches"] == 0
    assert len(list((tmp_path / "kept").iterdir())) == 2
    # Turned off: every folder compiles.
    monkeypatch.setenv("HWGEN_VERILATOR_CACHE", "0")
    _, rtl = build_rtl(graph, tmp_path / "off", HardwareOptions())
    r = cosim(graph, rtl.data, tmp_path / "off" / "rtl", tmp_path / "off" / "sim", 300, 1,
              log=lambda s: None)
    assert r["verilator_rebuilt"] and r["mismatches"] == 0


def test_the_oldest_simulators_go_past_the_limit(tmp_path, monkeypatch):
    monkeypatch.setenv("HWGEN_VERILATOR_CACHE", str(tmp_path / "kept"))
    monkeypatch.setattr(build_cache, "LIMIT_BYTES", 3500)
    made = tmp_path / "sim"
    made.write_bytes(bytes(1000))
    for k in range(3):
        build_cache.keep(f"entry{k}", made)
        os.utime(tmp_path / "kept" / f"entry{k}", (1000 + k, 1000 + k))
    assert build_cache.fetch("entry0", tmp_path / "again")      # used: now the newest
    build_cache.keep("entry3", made)                             # 4000 bytes: one goes
    assert sorted(p.name for p in (tmp_path / "kept").iterdir()) == \
        ["entry0", "entry2", "entry3"]
    assert not build_cache.fetch("entry1", tmp_path / "gone")
    assert (tmp_path / "again").read_bytes() == bytes(1000)
