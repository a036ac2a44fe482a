"""A failed tool run as one line: the tool's own first error (file:line where it gives
one) and the path of its full log.

Verilator, g++ (through Verilator's make), Yosys and nextpnr each write many lines; the
first error is what a user needs, and it is usually buried in a log hwgen keeps.
"""
from __future__ import annotations

import re
from pathlib import Path

from .errors import HwgenError

# The first line matching one of these, in this order of preference, is the error.
_PATTERNS = (
    re.compile(r"^%Error(?:-[A-Z0-9_]+)?: .*"),                     # Verilator
    re.compile(r"^\S+?:\d+(?::\d+)?: (?:fatal )?error: .*"),       # g++ / clang
    re.compile(r"^(?:\S+?:\d+: )?ERROR: .*"),                      # Yosys, nextpnr
    re.compile(r"^(?:Error|error|FATAL|Fatal)\b.*"),
    re.compile(r"^make(?:\[\d+\])?: \*\*\* .*"),
)


def first_error(text: str) -> str | None:
    """The first error line of a tool's output, or None."""
    lines = [ln.rstrip() for ln in text.splitlines()]
    for pattern in _PATTERNS:
        for line in lines:
            if pattern.match(line.strip()):
                return line.strip()
    return None


def tool_failed(tool: str, log: Path | None = None, text: str | None = None,
                what: str = "", error: type = HwgenError) -> HwgenError:
    """The HwgenError (or its subclass `error`) for a failed run of `tool` (`what`: on
    what, e.g. " on layer fc1"), quoting its first error from `text` or the log file."""
    if text is None and log is not None and Path(log).is_file():
        text = Path(log).read_text(errors="replace")
    text = text or ""
    line = first_error(text)
    if line is None:
        rest = [ln.strip() for ln in text.splitlines() if ln.strip()]
        line = rest[-1] if rest else "no error message"
    where = f" (full log: {log})" if log is not None else ""
    return error(f"{tool} failed{what}: {line}{where}")


def read_log(path: Path) -> str:
    """A tool's log, or "" when the tool died before writing it."""
    path = Path(path)
    return path.read_text(errors="replace") if path.is_file() else ""
