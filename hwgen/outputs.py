"""Where hwgen writes: output folders checked before any work, files written atomically,
and one run at a time per build folder.

A run killed at any moment (SIGINT, SIGTERM, SIGKILL) must leave nothing a later run
mistakes for a finished result: every result and cache file is written to a temporary
file in the same folder and renamed over the target (`os.replace` is atomic on POSIX), so
a reader sees the old file, the new file, or none. Two runs on one folder would overwrite
each other's files: the second one is refused while the first holds the folder's lock
(`flock`, which the kernel drops when its process dies, so a killed run leaves no stale
lock).
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import tempfile
from pathlib import Path

from .errors import HwgenError

LOCK_NAME = ".hwgen.lock"
_held: dict[Path, int] = {}      # resolved folder -> open lock file descriptor


def output_dir(path, what: str = "-o/--out", lock: bool = True) -> Path:
    """Create the output folder `path` (and its parents) and check that hwgen can write
    into it; with `lock`, hold its lock until `release_all()` (the end of the command).
    Raises a HwgenError naming `what` (the option or default that chose the folder)."""
    path = Path(path)
    for parent in [path] + list(path.parents):
        if parent.exists() and not parent.is_dir():
            raise HwgenError(f"{what} {path}: '{parent}' is a file, not a folder; give a "
                             "folder name (hwgen writes several files into it)")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".hwgen-write-test-"):
            pass
    except OSError as exc:
        raise HwgenError(f"{what} {path}: cannot write there ({exc.strerror or exc}); "
                         "choose a folder you can write to with -o DIR") from None
    if lock:
        _lock(path)
    return path


def _lock(path: Path) -> None:
    key = path.resolve()
    if key in _held:
        return
    fd = os.open(key / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise HwgenError(f"the build folder {path} is busy: another hwgen run (process "
                             f"{owner}) is writing into it; wait for it to finish, or give "
                             "this run its own folder with -o DIR") from None
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    _held[key] = fd


def release(path) -> None:
    """Drop the lock of one folder (a Python API call is over)."""
    fd = _held.pop(Path(path).resolve(), None)
    if fd is not None:
        os.close(fd)


@contextlib.contextmanager
def locked(path, what: str = "out"):
    """`output_dir(path, what)` for the length of a `with` block: the folder is checked,
    created and locked, and its lock dropped at the end unless it was held before."""
    held = Path(path).resolve() in _held if Path(path).exists() else False
    folder = output_dir(path, what)
    try:
        yield folder
    finally:
        if not held:
            release(folder)


def release_all() -> None:
    """Drop every folder lock this process holds (the command is over)."""
    for fd in _held.values():
        os.close(fd)
    _held.clear()


def write_text(path, text: str) -> Path:
    """Write `text` to `path` atomically (temporary file in the same folder, then rename)."""
    return write_bytes(path, text.encode())


def write_bytes(path, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def save_json(path, data, indent: int = 1, sort_keys: bool = True) -> Path:
    """`data` as JSON in `path`, written atomically."""
    return write_text(path, json.dumps(data, indent=indent, sort_keys=sort_keys) + "\n")
