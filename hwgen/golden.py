"""Golden records of the zoo: what `hwgen build` makes of every design in `designs/`.

`designs/<name>/golden.json` holds, per option set in `VARIANTS`, the sha256 of the
Verilog, of manifest.json, of ir.txt (the IR with its ranges, as `hwgen flow` writes it)
and of the IR after the last hardware pass. `tests/test_golden.py` compares; a change
that is meant to alter the hardware is recorded with `make golden` (this module's
`--write`), and its commit says why.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

from .designs import design_dir, design_names
from .options import HardwareOptions

# Fully parallel (the default of `hwgen build`: shared sums, registers by delay for
# ECP5's default clock), per-weight sums and hardware multipliers with a register every 3
# levels, folded, and (for the designs that stream: the CNNs) streaming.
VARIANTS = {
    "csd": HardwareOptions(),
    "csd-per-weight-pipeline3": HardwareOptions(mult="csd-per-weight", pipeline=3),
    "dsp-pipeline3": HardwareOptions(mult="dsp", pipeline=3),
    "csd-reuse4": HardwareOptions(reuse=4),
    "csd-stream": HardwareOptions(io="stream"),
}
GOLDEN_FILE = "golden.json"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def variants_of(name: str) -> tuple[str, ...]:
    """The option sets that apply to design `name` (streaming only for those that stream)."""
    from . import compile_model
    from .errors import UnsupportedError
    from .ir import stream
    _, graph = compile_model(name)
    try:
        stream.plan(graph)
        return tuple(VARIANTS)
    except UnsupportedError:
        return tuple(v for v in VARIANTS if VARIANTS[v].io != "stream")


def record(name: str, variants=tuple(VARIANTS)) -> dict:
    """{variant: {artifact: sha256}} of design `name`, built in a temporary folder."""
    from . import compile_model
    from .flow import build_rtl
    from .ir.text import dump
    from .passes.pipelines import DEFAULT
    _, graph = compile_model(name)
    ir_text = dump(DEFAULT.run(graph)).encode()
    applicable = variants_of(name)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for variant in variants:
            if variant not in applicable:
                continue                     # an MLP has no streaming form
            folder = Path(tmp) / variant
            lowered, rtl = build_rtl(graph, folder, VARIANTS[variant])
            out[variant] = {"verilog": _sha(rtl.verilog.read_bytes()),
                            "manifest": _sha(rtl.manifest.read_bytes()),
                            "ir": _sha(ir_text),
                            "lowered_ir": _sha(dump(lowered).encode())}
    return out


def golden_path(name: str) -> Path:
    return design_dir(name) / GOLDEN_FILE


def read(name: str) -> dict:
    path = golden_path(name)
    return json.loads(path.read_text()) if path.is_file() else {}


def write(name: str) -> Path:
    path = golden_path(name)
    path.write_text(json.dumps(record(name), indent=1, sort_keys=True) + "\n")
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hwgen.golden", description=__doc__)
    parser.add_argument("--write", action="store_true",
                        help="rewrite the records (for a change meant to alter the hardware)")
    parser.add_argument("designs", nargs="*", help="designs (default: all in designs/)")
    args = parser.parse_args(argv)
    names = args.designs or design_names()
    unknown = sorted(set(names) - set(design_names()))
    if unknown:
        parser.error(f"no design {unknown[0]!r} in designs/ (there are: "
                     f"{', '.join(design_names())})")
    changed = 0
    for name in names:
        if args.write:
            print(f"wrote {write(name)}", flush=True)
            continue
        now, kept = record(name), read(name)
        for variant in sorted(now):
            differs = sorted(k for k in now[variant] if kept.get(variant, {}).get(k)
                             != now[variant][k])
            changed += bool(differs)
            print(f"{name} {variant}: {'differs in ' + ', '.join(differs) if differs else 'same'}",
                  flush=True)
    if changed:
        print("run `make golden` if the change is meant, and say why in the commit",
              file=sys.stderr)
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
