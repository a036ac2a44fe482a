"""External tools as child processes that end with hwgen.

`subprocess.run` kills its child only when the waiting thread sees an exception, so a
`hwgen flow` stopped with SIGTERM (or a tool running in a background thread when the main
thread exits) left nextpnr running for minutes. Yosys and nextpnr run through `run`: their
children are terminated when the `hwgen` command returns (`cli.main`, which also turns
SIGTERM into an exit) and at interpreter exit, and a caller may stop a run early with a
`threading.Event`.
"""
from __future__ import annotations

import atexit
import subprocess
import threading
import time

_live: set[subprocess.Popen] = set()
_lock = threading.Lock()


class Cancelled(Exception):
    """The run was stopped through its `cancel` event."""


class TimedOut(Exception):
    """The run took longer than its `timeout` (seconds) and was stopped."""

    def __init__(self, timeout: float):
        super().__init__(f"stopped after {timeout:g} s")
        self.timeout = timeout


def run(cmd: list[str], cwd=None, env=None, cancel: threading.Event | None = None,
        timeout: float | None = None) -> subprocess.CompletedProcess:
    """`subprocess.run(cmd, capture_output=True, text=True)`, with the child tracked so it
    ends with hwgen; raises Cancelled (after terminating the child) once `cancel` is set,
    TimedOut once `timeout` seconds have passed."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    with _lock:
        _live.add(proc)
    try:
        if cancel is None and timeout is None:
            out, err = proc.communicate()
        else:
            # Poll for the event; communicate() with a timeout keeps draining the pipes.
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                try:
                    out, err = proc.communicate(timeout=0.2)
                    break
                except subprocess.TimeoutExpired:
                    if cancel is not None and cancel.is_set():
                        raise Cancelled() from None
                    if deadline is not None and time.monotonic() > deadline:
                        raise TimedOut(timeout) from None
    except BaseException:              # Cancelled, Ctrl-C, SIGTERM's exit: end the child
        _end(proc)
        raise
    finally:
        with _lock:
            _live.discard(proc)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def _end(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@atexit.register
def stop_all() -> None:
    """Terminate every tool still running (the command is over, or hwgen is exiting)."""
    with _lock:
        live = list(_live)
    for proc in live:
        _end(proc)


def one_line_at_a_time(*logs):
    """`logs` (callables taking a line) sharing one lock, for lines logged from several
    threads: `print` writes a line and its newline apart, so two threads' lines ran
    together."""
    lock = threading.Lock()

    def locked(fn):
        def write(s):
            with lock:
                fn(s)
        return write
    return tuple(locked(fn) for fn in logs)


class Background:
    """`fn(*args, **kwargs)` in a daemon thread (so an interrupted hwgen does not wait for
    it; its tools end at exit); `result()` waits, then returns or raises what `fn` did."""

    def __init__(self, fn, *args, **kwargs):
        self._value = self._error = None

        def body():
            try:
                self._value = fn(*args, **kwargs)
            except BaseException as exc:       # handed to the waiting thread
                self._error = exc

        self._thread = threading.Thread(target=body, daemon=True)
        self._thread.start()

    def done(self) -> bool:
        return not self._thread.is_alive()

    def result(self):
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value
