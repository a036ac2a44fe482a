"""Run vectors through a board programmed with `hwgen export MODEL --board B --top uart`
and check every answer against the reference: "N vectors, M mismatches" (exit 1 on any).

    python scripts/run_board.py build/<design>/export/<board> --port /dev/ttyUSB1 --n 1000
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("export_dir", help="the folder `hwgen export` wrote (export.json, "
                    "manifest.json)")
    ap.add_argument("--port", required=True, help="serial port, e.g. /dev/ttyUSB1 or COM5")
    ap.add_argument("--n", type=int, default=1000, help="vectors (default 1000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", help="the model, if not the design name in export.json")
    args = ap.parse_args()
    import serial
    import hwgen
    from hwgen.export.host import stream
    from hwgen.export.selftest import test_words
    from hwgen.sim import stimulus
    d = Path(args.export_dir)
    info = json.loads((d / "export.json").read_text())
    manifest = json.loads((d / "manifest.json").read_text())
    if info["top"] != "uart":
        print(f"{d} holds the {info['top']} top; export with --top uart", file=sys.stderr)
        return 2
    _, graph = hwgen.compile_model(args.model or info["design"])
    codes, _ = stimulus.all_codes(manifest, args.n, args.seed)
    in_words, expected = test_words(manifest, graph, codes)
    with serial.Serial(args.port, info["baud"], timeout=1) as port:
        port.reset_input_buffer()
        got = stream(port, manifest, in_words)
    bad = [k for k, (g, e) in enumerate(zip(got, expected)) if g != e]
    print(f"{len(expected)} vectors, {len(bad)} mismatches")
    for k in bad[:3]:
        print(f"  vector {k}: expected {expected[k]:#x}, got "
              + ("nothing" if got[k] is None else f"{got[k]:#x}"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
