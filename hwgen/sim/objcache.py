"""A compiler wrapper for Verilator's `OBJCACHE` hook: keeps the compiled Verilator runtime.

Every Verilator build compiles the same runtime sources (`verilated.cpp`,
`verilated_vpi.cpp`, `verilated_dpi.cpp`, `verilated_threads.cpp`, ...) again: about 16 s
of CPU at -O0 and more at -O2, whatever the design. Verilator's makefile puts `$(OBJCACHE)`
before every compiler call for ccache; ccache is not on PyPI, so this small wrapper caches
only those runtime objects (sources in Verilator's own include folder, which include no
design header), keyed by the whole command line, the compiler, the source and the include
folder. Every other call (the design's own C++) runs the compiler unchanged.

Cache folder: `$HWGEN_CACHE/verilator-runtime`, default `$XDG_CACHE_HOME/hwgen/...`
(`~/.cache/hwgen/...`). Objects are
written to a temporary file and renamed, so parallel builds and killed runs never see half
an object. Any problem with the cache falls back to compiling.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from hwgen.cache_dir import root as cache_root


def cache_dir() -> Path:
    return cache_root() / "verilator-runtime"


def _runtime_source(args: list[str]) -> Path | None:
    """The runtime source this compile reads, or None for anything else."""
    if "-c" not in args or "-o" not in args:
        return None
    sources = [a for a in args if a.endswith(".cpp")]
    if len(sources) != 1:
        return None
    src = Path(sources[0])
    if not src.is_absolute() or not (src.parent / "verilated.h").is_file():
        return None
    return src


def _key(args: list[str], src: Path) -> str:
    out = args.index("-o")
    command = args[:out] + args[out + 2:]
    h = hashlib.sha256("\0".join(command).encode())
    compiler = shutil.which(args[0])
    if compiler is None:
        raise FileNotFoundError(args[0])
    st = os.stat(compiler)
    h.update(f"{Path(compiler).resolve()} {st.st_size} {st.st_mtime_ns}".encode())
    h.update(src.read_bytes())
    for entry in sorted(os.scandir(src.parent), key=lambda e: e.name):
        if entry.is_file():
            s = entry.stat()
            h.update(f"{entry.name} {s.st_size} {s.st_mtime_ns}".encode())
    return h.hexdigest()[:32]


def _place(cached: Path, target: Path):
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.copyfile(cached, tmp)
    os.replace(tmp, target)


def compile_cached(args: list[str]) -> int:
    """Run the compile `args` (a compiler command line), from the cache where it can."""
    src = _runtime_source(args)
    if src is None:
        return subprocess.call(args)
    target = Path(args[args.index("-o") + 1])
    depfile = target.with_suffix(".d")
    try:
        folder = cache_dir()
        key = _key(args, src)
        obj, dep = folder / f"{key}.o", folder / f"{key}.d"
        if obj.is_file():
            _place(obj, target)
            if dep.is_file():
                _place(dep, depfile)
            return 0
    except OSError:
        return subprocess.call(args)
    status = subprocess.call(args)
    if status == 0:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if depfile.is_file():
                _place(depfile, dep)
            _place(target, obj)      # the object last: it is what marks the entry done
        except OSError:
            pass
    return status


def main() -> int:
    if len(sys.argv) < 2:
        print("usage: hwgen-objcache COMPILER ARGS... (Verilator's OBJCACHE hook)",
              file=sys.stderr)
        return 2
    return compile_cached(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
