"""The host side of the UART streaming top (`uart_top.py`): send vectors, read answers,
compare with the reference. `scripts/run_board.py` runs it on a serial port (pyserial)."""
from __future__ import annotations

from ..sim.codec import port_width, words_per_vector


def vector_bytes(manifest: dict, in_words: list[int]) -> list[bytes]:
    """What the host sends per vector: its `in_data` word, least significant byte first;
    for a streaming core (`--io stream`), an image: its pixel words (`selftest.test_words`
    gives a word per pixel) in raster order, each so encoded."""
    in_bytes = (port_width(manifest, "in_data") + 7) // 8
    words = words_per_vector(manifest)
    if len(in_words) % words:
        raise ValueError(f"{len(in_words)} pixel words are not whole images of {words}")
    return [b"".join(w.to_bytes(in_bytes, "little") for w in in_words[k:k + words])
            for k in range(0, len(in_words), words)]


def stream(port, manifest: dict, in_words: list[int], window: int = 8,
           timeout_words: int = 3) -> list[int | None]:
    """Send every input vector (or image) and return the answers in order (None where
    none came). `port` has pyserial's write(bytes) and read(n) (read returns fewer bytes
    on timeout); at most `window` vectors are in flight, the top's output FIFO depth."""
    out_bytes = (port_width(manifest, "out_data") + 7) // 8
    vectors = vector_bytes(manifest, in_words)
    answers: list[int | None] = []
    sent = 0
    while len(answers) < len(vectors):
        while sent < len(vectors) and sent - len(answers) < window:
            port.write(vectors[sent])
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
