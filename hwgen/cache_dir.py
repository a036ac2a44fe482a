"""hwgen's cache folder on this machine, shared by every build folder and every run.

`$HWGEN_CACHE`, default `$XDG_CACHE_HOME/hwgen` (`~/.cache/hwgen`). It holds what is
costly to make and the same wherever it is made: the compiled Verilator runtime
(`verilator-runtime/`, `sim/objcache.py`), finished Verilator simulators by content hash
(`verilator-builds/`, `sim/build_cache.py`, at most 2 GiB) and Yosys's results by content
hash (`yosys/`, `estimate/yosys.py`). Deleting it loses nothing but time.
"""
from __future__ import annotations

import os
from pathlib import Path


def root() -> Path:
    """The cache folder (not created here)."""
    return Path(os.environ.get("HWGEN_CACHE") or
                Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hwgen")
