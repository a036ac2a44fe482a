"""Co-simulation: build the Verilog with Verilator through `cocotb_tools.runner`, run one of
the cocotb tests, compare every output bit with the reference interpreter.

Modes: `batch` (default) wraps the DUT in `harness.BatchHarness`, which generates the
vectors and prints the outputs in hardware; Python then checks all outputs at once.
`stream` runs the layered Python bench (`bench.py`) on the bare DUT, cycle by cycle.
Both check the same vectors for the same seed. Verilator builds are cached in
`DIR/sim/build-<mode>` by a hash of their sources, so repeated runs skip the C++ compile,
and the simulator itself is kept for other folders too (`build_cache.py`).
"""
from __future__ import annotations

import hashlib
import logging
import os
import json
import subprocess
import time
from pathlib import Path

import numpy as np

from ..errors import HwgenError
from ..ir import interp
from ..ir.graph import Graph
from ..outputs import write_text
from ..tool_errors import tool_failed
from . import build_cache, stimulus
from .bench import ReferenceModel, Scoreboard
from .codec import input_words

MODES = ("batch", "stream", "pixels")
# HWGEN_VERILATOR_ARGS adds arguments (e.g. "--threads 2"; measured: no faster here).
VERILATOR_ARGS = ["-Wno-fatal", "-Wno-WIDTH", "--x-assign", "fast", "--x-initial", "fast"] \
    + os.environ.get("HWGEN_VERILATOR_ARGS", "").split()


# A batch co-simulation of more vectors than twice this is split over simulator processes.
VECTORS_PER_PROCESS = 20000

def load_manifest(path: Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise HwgenError(f"no manifest at {path}: run `hwgen build` first (it writes "
                         "manifest.json beside rtl/)")
    return json.loads(path.read_text())


def check_matches(graph: Graph, manifest: dict):
    """The manifest must describe this graph's ports, or the comparison means nothing."""
    if list(manifest["input"]["shape"]) != list(graph.input.shape) or \
            manifest["input"]["format"] != str(graph.input.type) or \
            [e["format"] for e in manifest["output"]["elements"]] != \
            [str(h.type) for h in graph.heads for _ in range(h.size)]:
        raise HwgenError(f"the manifest describes {manifest['design']} with input "
                         f"{manifest['input']['format']} x {manifest['input']['shape']}, which "
                         f"is not the model's ({graph.input.type} x {list(graph.input.shape)}); "
                         "rebuild the RTL from this model")


def cosim(graph: Graph, manifest: dict, rtl_dir: Path, sim_dir: Path, n: int, seed: int = 0,
          extra: np.ndarray | None = None, mode: str = "batch", waves: bool = False,
          log=print, toggles: bool = False, idle: int = 0, gaps: bool = True,
          codes: np.ndarray | None = None, build_root: Path | None = None) -> dict:
    """Simulate the Verilog in `rtl_dir` on `n` vectors; the results dict (also written to
    `sim_dir/results.json`).

    Batch mode only: `toggles` builds with Verilator's toggle coverage of the DUT (every bit
    of every signal counts its 0->1 and 1->0 changes into `shard0/coverage.dat`, read by
    `estimate.activity`); `idle` holds the first vector back that many cycles; `gaps=False`
    plays the vectors back to back; `codes` ([n, size], n <= ROM_LIMIT) replaces the
    generated vectors (the RTL's outputs for them go to `sim_dir/outputs.npy`, its argmax
    to `argmax.npy`). `build_root` holds the Verilator build (default `sim_dir`), so
    runs in other folders can share one build."""
    if mode not in MODES:
        raise HwgenError(f"sim mode must be one of {', '.join(MODES)}, not {mode!r}")
    if n < 1:
        raise HwgenError(f"n (vectors) must be at least 1, not {n}")
    check_matches(graph, manifest)
    if manifest.get("io") == "stream" and mode == "stream":
        mode = "pixels"          # the cocotb bench of a streaming design
    elif manifest.get("io") != "stream" and mode == "pixels":
        raise HwgenError("the pixel bench needs a streaming design (build with --io stream)")
    sources = sorted(Path(rtl_dir).glob("*.v")) + sorted(Path(rtl_dir).glob("*.sv"))
    if not sources:
        raise HwgenError(f"no Verilog (*.v) in {rtl_dir}")
    sim_dir = Path(sim_dir)
    sim_dir.mkdir(parents=True, exist_ok=True)
    if (toggles or idle or codes is not None) and mode != "batch":
        raise HwgenError("toggle counts, idle cycles and given vectors need batch mode")
    given = codes is not None
    if given:
        codes = np.asarray(codes, dtype=np.int64).reshape(n, -1)
        if n > stimulus.rom_vectors(manifest):
            raise HwgenError(f"at most {stimulus.rom_vectors(manifest)} given vectors, not {n}")
        n_fixed = n
    else:
        codes, n_fixed = stimulus.all_codes(manifest, n, seed, extra)
    t0 = time.perf_counter()
    expected = interp.run(graph, codes.reshape((n,) + tuple(graph.input.shape)))
    model = ReferenceModel(expected, manifest["output"]["logits"])
    ref_s = time.perf_counter() - t0
    cfg = {"manifest": str((sim_dir / "manifest.json").resolve()), "n": n, "seed": seed,
           "latency": manifest["latency"], "ii": manifest.get("ii", 1),
           "result": str((sim_dir / "shard0" / f"{mode}.json").resolve())}
    write_text(sim_dir / "manifest.json", json.dumps(manifest, indent=1))
    if mode == "pixels":
        n_full = max(2, min(n // 2, 8))
        np.save(sim_dir / "inputs.npy", codes.reshape((n,) + tuple(graph.input.shape)))
        np.save(sim_dir / "expected.npy", np.asarray(expected).reshape(n, -1))
        cfg.update(inputs=str((sim_dir / "inputs.npy").resolve()),
                   expected=str((sim_dir / "expected.npy").resolve()), gap_rate=0.2,
                   back_to_back=n_full)
        top = manifest["top"]
    elif mode == "batch":
        from .harness import HARNESS, BatchHarness, verilog
        harness = sim_dir / "harness" / f"{HARNESS}.v"
        harness.parent.mkdir(exist_ok=True)
        text = verilog(BatchHarness(manifest))
        if not harness.exists() or harness.read_text() != text:
            harness.write_text(text)
        sources = sources + [harness]
        top = HARNESS
    else:
        np.save(sim_dir / "inputs.npy", codes)
        np.save(sim_dir / "expected.npy", np.asarray(expected).reshape(n, -1))
        cfg.update(inputs=str((sim_dir / "inputs.npy").resolve()),
                   expected=str((sim_dir / "expected.npy").resolve()), gap_rate=0.25)
        top = manifest["top"]
    build_dir = Path(build_root or sim_dir) / f"build-{mode}{'-waves' if waves else ''}{'-toggles' if toggles else ''}"
    t1 = time.perf_counter()
    built = _build(sources, top, build_dir, waves, log, toggles)
    build_s = time.perf_counter() - t1
    jobs = 1 if (waves or toggles or mode in ("stream", "pixels")) else \
        max(1, min(os.cpu_count() or 1, n // VECTORS_PER_PROCESS))
    log(f"  simulating {n} vectors ({mode} mode, {jobs} simulator process(es))")
    t2 = time.perf_counter()
    if mode == "batch":
        # the harness ROM: a word per vector, a streaming core's a word per pixel
        fixed = [format(w, "x") for w in input_words(manifest, codes[:n_fixed])]
        runs = []
        for k, (count, offset) in enumerate(_shards(n, n_fixed, jobs)):
            runs.append(dict(cfg, n=count, offset=offset, key=stimulus.key(seed), gaps=gaps,
                             idle=idle, fixed_vectors=n_fixed if k == 0 else 0,
                             fixed_hex=fixed if k == 0 else [],
                             result=str((sim_dir / f"shard{k}" / "batch.json").resolve())))
        _run_all(top, "batch", build_dir, sim_dir, runs, waves)
        seen, cycles = [], 0
        for k, run in enumerate(runs):
            raw = _read_result(run, sim_dir / f"shard{k}")
            log_text = (sim_dir / f"shard{k}" / "sim.log").read_text()
            seen += [ln[1:].strip() for ln in log_text.splitlines() if ln.startswith("@")]
            cycles += raw["cycles"]
        board = Scoreboard(manifest, model, codes)
        result = board.check(seen)
        result["cycles"] = cycles
        if given:    # the RTL's own outputs for the caller's vectors (hwgen.convert's cosim)
            np.save(sim_dir / "outputs.npy", board.got[0])
            if board.got[1] is not None:
                np.save(sim_dir / "argmax.npy", board.got[1])
    else:
        _run_all(top, mode, build_dir, sim_dir, [cfg], waves)
        result = _read_result(cfg, sim_dir / "shard0")
    sim_s = time.perf_counter() - t2
    result.update(mode=mode, seed=seed, processes=jobs, fixed_vectors=n_fixed,
                  random_vectors=n - n_fixed,
                  top=manifest["top"], verilator_rebuilt=built,
                  seconds={"reference": round(ref_s, 3), "build": round(build_s, 3),
                           "simulation": round(sim_s, 3)},
                  vectors_per_second=round(n / sim_s) if sim_s > 0 else None)
    result["wall_time_s"] = round(time.perf_counter() - t0, 3)
    if waves:
        from ..toolchain import fst_supported
        result["waves"] = "shard0/dump.fst" if fst_supported() else "shard0/dump.vcd"
        if not fst_supported():
            log("  waves written as VCD: FST needs the lz4 headers (Debian: liblz4-dev)")
    write_text(sim_dir / "results.json", json.dumps(result, indent=1) + "\n")
    return result


def run_top(sources: list[Path], top: str, test: str, work: Path, config: dict,
            log=print) -> dict:
    """Build `top` from `sources` (cached) and run one cocotb test of `cocotb_tests` on it;
    the test writes its findings to `config["result"]`, returned here."""
    work = Path(work)
    _build(sources, top, work / "build", False, log)
    config = dict(config, result=str((work / "shard0" / "result.json").resolve()), seed=0)
    _run_all(top, test, work / "build", work, [config], False)
    return _read_result(config, work / "shard0")


def _digest(sources, top: str, waves: bool, toggles: bool) -> str:
    from ..toolchain import VERILATOR_MAKEFLAGS
    from ..toolchain import fst_supported
    h = hashlib.sha256(f"{top} {waves} {toggles} {fst_supported()} {VERILATOR_ARGS} "
                       f"{VERILATOR_MAKEFLAGS} public-top-only counted-v2".encode())
    for s in sources:
        h.update(Path(s).read_bytes())
    return h.hexdigest()


def _build(sources, top: str, build_dir: Path, waves: bool, log, toggles: bool = False) -> bool:
    """Verilate and compile unless an identical build exists; True if it built."""
    from .. import toolchain
    stamp = build_dir / "hwgen.digest"
    digest = _digest(sources, top, waves, toggles)
    if stamp.exists() and stamp.read_text() == digest and (build_dir / top).exists():
        log("  Verilator build is up to date")
        return False
    env = toolchain.verilator_env()
    entry = build_cache.key(digest, env)
    build_dir.mkdir(parents=True, exist_ok=True)
    stamp.unlink(missing_ok=True)     # a build stopped half-way must not count as done
    if build_cache.fetch(entry, build_dir / top):
        write_text(stamp, digest)
        log(f"  Verilator build of the same sources from {build_cache.folder()}")
        return False
    log(f"  verilating {len(sources)} file(s) (C++ compile, cached afterwards)")
    runner = _runner(env)
    args = VERILATOR_ARGS + (["--trace-fst"] if waves and toolchain.fst_supported() else [])
    control_text = f'`verilator_config\npublic_flat_rw -module "{top}" -var "*"\n'
    if toggles:
        # Count the DUT's flip-flops and module outputs (`toggles.counted_source`), not the
        # harness (its file is the last source).
        from .toggles import counted_source
        counted = build_dir / "counted"
        counted.mkdir(exist_ok=True)
        copies = []
        for src in sources[:-1]:
            copy = counted / Path(src).name
            copy.write_text(counted_source(Path(src).read_text()))
            copies.append(copy)
        sources = copies + [sources[-1]]
        args = args + ["--coverage-toggle", "--coverage-max-width", "1000000"]
        control_text += f'coverage_off -file "{Path(sources[-1]).resolve()}"\n'

    control = build_dir / "public_top.vlt"
    control.write_text(control_text)
    sources = list(sources) + [_control_file(control)]
    log_file = (build_dir / "build.log").resolve()
    try:
        runner.build(sources=[s if not isinstance(s, Path) else str(s.resolve())
                              for s in sources], hdl_toplevel=top,
                     build_dir=str(build_dir), build_args=args, waves=waves,
                     log_file=str(log_file))
    except (RuntimeError, SystemExit, subprocess.CalledProcessError):
        # cocotb's runner says only "Command failed": quote Verilator's (or g++'s) error.
        raise tool_failed("Verilator", log_file, what=" to build the simulation") from None
    write_text(stamp, digest)
    build_cache.keep(entry, build_dir / top)
    return True


def _control_file(path: Path):
    from cocotb_tools.runner import VerilatorControlFile
    return VerilatorControlFile(str(path.resolve()))


def _shards(n: int, n_fixed: int, jobs: int) -> list[tuple[int, int]]:
    """(vectors, first random index) per simulator process; the first also plays the
    fixed vectors."""
    rand = n - n_fixed
    cuts = [rand * k // jobs for k in range(jobs + 1)]
    return [((n_fixed if k == 0 else 0) + cuts[k + 1] - cuts[k], cuts[k]) for k in range(jobs)]


def _run_all(top, test, build_dir, sim_dir, runs, waves):
    """Run the simulator once per config, in parallel processes."""
    from concurrent.futures import ThreadPoolExecutor
    from .. import toolchain
    env = toolchain.verilator_env()

    def one(k):
        d = (Path(sim_dir) / f"shard{k}").resolve()
        d.mkdir(parents=True, exist_ok=True)
        # A result left by an earlier (perhaps killed) run must not pass for this one's.
        Path(runs[k]["result"]).unlink(missing_ok=True)
        (d / "config.json").write_text(json.dumps(runs[k]))
        try:
            _runner(env).test(seed=runs[k]["seed"], hdl_toplevel=top,
                              hdl_toplevel_lang="verilog",
                              test_module="hwgen.sim.cocotb_tests", testcase=test,
                              build_dir=str(Path(build_dir).resolve()), test_dir=str(d),
                              extra_env={"HWGEN_SIM_CONFIG": str(d / "config.json")},
                              waves=waves, log_file=str(d / "sim.log"),
                              results_xml=str(d / "results.xml"))
        except (RuntimeError, SystemExit, subprocess.CalledProcessError):
            if Path(runs[k]["result"]).exists():   # the test wrote its findings: use them
                return
            raise tool_failed("the Verilator simulation", d / "sim.log") from None

    with ThreadPoolExecutor(len(runs)) as pool:
        list(pool.map(one, range(len(runs))))


def _read_result(run: dict, shard_dir: Path) -> dict:
    path = Path(run["result"])
    if not path.exists():
        raise HwgenError(f"the simulation ended without results; see {shard_dir / 'sim.log'}")
    return json.loads(path.read_text())


def _runner(env: dict):
    import os
    from cocotb_tools.runner import Verilator
    # The runner takes its environment from os.environ (it calls `verilator` by name).
    os.environ.update({k: env[k] for k in ("PATH", "MAKEFLAGS") if k in env})
    if "VERILATOR_ROOT" in env:
        os.environ["VERILATOR_ROOT"] = env["VERILATOR_ROOT"]

    class TopOnlyVerilator(Verilator):
        """cocotb's runner makes every signal of the design public (`--public-flat-rw`),
        which stops Verilator from optimising the datapath: the jet tagger then builds in
        minutes and simulates at a few thousand vectors per second. The bench only touches
        the top level, so only the top is made public (a control file from `_build`)."""

        def _build_command(self):
            cmds = super()._build_command()
            cmds[0] = [a for a in cmds[0] if a != "--public-flat-rw"]
            return cmds

    runner = TopOnlyVerilator()
    runner.log.setLevel(logging.WARNING)    # its per-command INFO lines drown our progress
    return runner
