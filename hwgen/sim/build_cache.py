"""Verilator simulators kept by content, for every build folder on this machine.

A co-simulation's C++ compile takes most of its time (10 s to minutes), and the same
Verilog is often simulated from several folders: a notebook's build folder, `hwgen flow`'s,
a sweep point's, a fresh clone's tests. `sim/runner.py` already skips the compile when a
folder's own build matches its sources; this keeps the finished simulator (one executable,
a few MB) under `$HWGEN_VERILATOR_CACHE` if set (`0`: nowhere), else `verilator-builds/` in
hwgen's cache folder (`cache_dir.root()`), keyed by the build's digest (sources, top level,
options) and by what the executable links and was compiled with (Verilator, cocotb's
libraries, the C++ compiler). Only the executable is kept: cocotb's runner runs nothing
else from the build folder. The oldest simulators are deleted past `LIMIT_BYTES`.
Entries are written to a temporary name and renamed, so parallel runs and killed runs never
see half a file; any problem with the cache costs a compile, never a result.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import sys
from pathlib import Path

from .. import cache_dir

LIMIT_BYTES = 2 << 30


def folder() -> Path | None:
    chosen = os.environ.get("HWGEN_VERILATOR_CACHE")
    if chosen == "0":
        return None
    return Path(chosen) if chosen else cache_dir.root() / "verilator-builds"


def key(digest: str, env: dict) -> str:
    """The build's digest with the identity of the tools the executable depends on."""
    import cocotb
    h = hashlib.sha256(f"{digest} {sys.prefix} {cocotb.__version__} "
                       f"{Path(cocotb.__file__).resolve().parent}".encode())
    for name in ("verilator", "c++", "g++"):
        exe = shutil.which(name, path=env.get("PATH"))
        if exe:
            st = os.stat(exe)
            h.update(f"{name} {Path(exe).resolve()} {st.st_size} {st.st_mtime_ns}".encode())
    return h.hexdigest()[:32]


def fetch(entry: str, executable: Path) -> bool:
    """Copy the kept simulator `entry` to `executable`; whether there was one."""
    where = folder()
    kept = where / entry if where else None
    if kept is None or not kept.is_file():
        return False
    try:
        _copy(kept, executable)
        os.utime(kept)                       # recently used: deleted last
        return True
    except OSError:
        return False


def keep(entry: str, executable: Path) -> None:
    """Keep the simulator just built, then delete the oldest past the size limit."""
    where = folder()
    if where is None or not executable.is_file():
        return
    try:
        where.mkdir(parents=True, exist_ok=True)
        _copy(executable, where / entry)
        _prune(where)
    except OSError:
        pass                   # a read-only or full cache folder costs time, not results


def _copy(src: Path, dst: Path) -> None:
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.part")
    try:
        shutil.copy(src, tmp)    # mtime now: make relinks it after a newer compile
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)


def _prune(where: Path) -> None:
    entries = []
    for e in os.scandir(where):
        if e.is_file() and not e.name.startswith("."):
            st = e.stat()
            entries.append((st.st_mtime, st.st_size, e.path))
    total = sum(size for _, size, _ in entries)
    for _, size, path in sorted(entries):
        if total <= LIMIT_BYTES:
            break
        Path(path).unlink(missing_ok=True)
        total -= size
