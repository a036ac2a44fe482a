"""Which RTL signals the toggle-counting simulation instruments.

Verilator's toggle coverage of every signal of a large design takes minutes to compile
(the jet tagger's C++ did not finish in 7 minutes). The counts needed are those of the
flip-flops (each register bit is one flip-flop after synthesis) and of each module's
outputs (the layer's results, registered or not); a copy of the Verilog marks every other
declaration `/*verilator coverage_off*/`.
"""
from __future__ import annotations

import re

_DECL = re.compile(r"^(\s*)(reg|wire|output|input)\b[^;]*?(\\\S+ |[A-Za-z_][\w$]*)\s*(=[^;]*)?;\s*$")


def verilator_name(name: str) -> str:
    """A Verilog identifier as Verilator writes it in coverage points (`$` -> `__024`)."""
    name = name.strip()
    name = name[1:] if name.startswith("\\") else name
    return "".join(c if c.isalnum() or c == "_" else f"__0{ord(c):02x}" for c in name)


def _modules(verilog_text: str):
    return re.finditer(r"module (\S+?) ?\((.*?)endmodule", verilog_text, re.S)


def registers(verilog_text: str) -> dict[str, set[str]]:
    """Per module, the signals assigned in clocked processes (`name <= ...`), in
    Verilator's spelling."""
    out: dict[str, set[str]] = {}
    for m in _modules(verilog_text):
        names = re.findall(r"^\s*(?:if \(.*?\)\s*)?(\\\S+ |[A-Za-z_][\w$]*)(?:\s*\[[^\]]*\])? <= ",
                           m.group(2), re.M)
        out[m.group(1).lstrip("\\")] = {verilator_name(n) for n in names}
    return out


def counted_source(verilog_text: str) -> str:
    """The Verilog with toggle coverage on for registers and outputs only."""
    counted = registers(verilog_text)
    for m in _modules(verilog_text):       # outputs are declared twice: output, then wire
        outputs = re.findall(r"^\s*output\b[^;]*?(\\\S+ |[A-Za-z_][\w$]*)\s*;", m.group(2), re.M)
        counted[m.group(1).lstrip("\\")] |= {verilator_name(n) for n in outputs}
    lines, module = [], None
    for line in verilog_text.splitlines():
        head = re.match(r"module (\S+?) ?\(", line)
        if head:
            module = head.group(1).lstrip("\\")
        decl = _DECL.match(line)
        if decl and module is not None:
            on = verilator_name(decl.group(3)) in counted.get(module, ())
            lines.append(f"{decl.group(1)}/*verilator coverage_{'on' if on else 'off'}*/")
        lines.append(line)
    return "\n".join(lines) + "\n"
