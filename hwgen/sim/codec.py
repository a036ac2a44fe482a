"""Pack input codes into `in_data` words and unpack `out_data` words, as the manifest
lays them out (element i of a port at bits [lsb, lsb + width), two's complement)."""
from __future__ import annotations

import numpy as np


def port_width(manifest: dict, name: str) -> int:
    """Bits of a top-level port, from the manifest."""
    return next(p["width"] for p in manifest["ports"] if p["name"] == name)


def pixel_bits(manifest: dict) -> int:
    """Bits of one pixel of a streaming core's input (its `in_data` word)."""
    return sum(e["width"] for e in manifest["input"]["pixel_elements"])


def words_per_vector(manifest: dict) -> int:
    """Input words a vector takes on `in_data`: 1, or a streaming core's pixels per image
    (a word per pixel)."""
    if manifest.get("io") != "stream":
        return 1
    return len(manifest["input"]["elements"]) // len(manifest["input"]["pixel_elements"])


def pack(elements: list[dict], codes: np.ndarray) -> list[int]:
    """Codes [N, n_elements] to one Python int per vector."""
    codes = np.asarray(codes).reshape(len(codes), -1)
    words = []
    for row in codes:
        w = 0
        for e, c in zip(elements, row):
            w |= (int(c) & ((1 << e["width"]) - 1)) << e["lsb"]
        words.append(w)
    return words


def input_words(manifest: dict, codes: np.ndarray) -> list[int]:
    """Codes [N, n_elements] as the core takes them on `in_data`: a word per vector, or a
    streaming core's image after image, a word per pixel."""
    if manifest.get("io") == "stream":
        per_pixel = manifest["input"]["pixel_elements"]
        return pack(per_pixel, np.asarray(codes).reshape(-1, len(per_pixel)))
    return pack(manifest["input"]["elements"], codes)


def bits_of_words(words: np.ndarray, total_bits: int) -> np.ndarray:
    """uint32 words [N, G] (word 0 least significant) to bits [N, total_bits] (bit 0 first)."""
    if len(words) == 0:
        return np.zeros((0, total_bits), dtype=np.uint8)
    le = np.ascontiguousarray(words.astype("<u4"))
    bits = np.unpackbits(le.view(np.uint8).reshape(len(words), -1), axis=1, bitorder="little")
    return bits[:, :total_bits]


def bits_of_hex(lines: list[str], total_bits: int) -> np.ndarray:
    """Hex strings (most significant digit first) to bits [N, total_bits]."""
    if not lines:
        return np.zeros((0, total_bits), dtype=np.uint8)
    n_hex = (total_bits + 7) // 8 * 2
    raw = "".join(s.rjust(n_hex, "0")[-n_hex:] for s in lines)
    data = np.frombuffer(bytes.fromhex(raw), dtype=np.uint8).reshape(len(lines), -1)
    bits = np.unpackbits(data[:, ::-1], axis=1, bitorder="little")
    return bits[:, :total_bits]


def field(bits: np.ndarray, lsb: int, width: int, signed: bool) -> np.ndarray:
    """One field of every row as codes: int64 up to 62 bits, Python ints (an object
    array, as the reference interpreter holds wide values) above."""
    if width <= 62:
        v = np.zeros(len(bits), dtype=np.int64)
        for b in range(width):
            v |= bits[:, lsb + b].astype(np.int64) << b
        if signed:
            v -= (v >> (width - 1)) << width
        return v
    # Wider: 62-bit chunks as int64, combined in Python integers.
    v = np.zeros(len(bits), dtype=object)
    for start in range(0, width, 62):
        chunk = field(bits, lsb + start, min(62, width - start), False)
        v = v + (chunk.astype(object) << start)
    if signed:
        top = bits[:, lsb + width - 1].astype(bool)
        v[top] = v[top] - (1 << width)
    return v


def unpack(port: dict, bits: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Output codes [N, n_elements] and the argmax [N] (or None) from out_data bits."""
    codes = np.stack([field(bits, e["lsb"], e["width"], e["signed"])
                      for e in port["elements"]], axis=1)
    am = port.get("argmax")
    return codes, (field(bits, am["lsb"], am["width"], False) if am else None)


def output_words(manifest: dict, out_codes: np.ndarray) -> list[int]:
    """The `out_data` words the hardware must produce for reference output codes
    [N, n_elements]: the codes, then the argmax field (first maximum) when there is one."""
    port = manifest["output"]
    out_codes = np.asarray(out_codes).reshape(len(out_codes), -1)
    words = pack(port["elements"], out_codes)
    if port.get("argmax"):
        lsb = port["argmax"]["lsb"]
        words = [w | (int(a) << lsb) for w, a in zip(words, np.argmax(out_codes, axis=1))]
    return words
