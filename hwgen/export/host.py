"""The host side of the UART streaming top (`uart_top.py`): send vectors, read answers,
compare with the reference. `scripts/run_board.py` runs it on a serial port (pyserial)."""
from __future__ import annotations

from ..sim.codec import port_width


def stream(port, manifest: dict, in_words: list[int], window: int = 8,
           timeout_words: int = 3) -> list[int | None]:
    """Send every input word and return the answers in order (None where none came).
    `port` has pyserial's write(bytes) and read(n) (read returns fewer bytes on timeout);
    at most `window` vectors are in flight, the top's output FIFO depth."""
    in_bytes = (port_width(manifest, "in_data") + 7) // 8
    out_bytes = (port_width(manifest, "out_data") + 7) // 8
    answers: list[int | None] = []
    sent = 0
    while len(answers) < len(in_words):
        while sent < len(in_words) and sent - len(answers) < window:
            port.write(in_words[sent].to_bytes(in_bytes, "little"))
            sent += 1
        raw = port.read(out_bytes)
        if len(raw) < out_bytes:            # lost: give up on the vectors in flight
            misses = 0
            while len(answers) < sent and misses < timeout_words:
                answers.append(None)
                misses += 1
            continue
        answers.append(int.from_bytes(raw, "little"))
    return answers
