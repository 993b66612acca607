"""Float <-> integer sample conventions shared by every writer.

Full scale is 2**(bits-1) on both read and write (libsndfile's read convention), so a sample
read from an integer file and written back to the same subtype comes out bit-identical.
"""

from __future__ import annotations

import numpy as np

#: Bits per sample of every subtype we can write.
BITS: dict[str, int] = {
    "PCM_U8": 8,
    "PCM_S8": 8,
    "PCM_16": 16,
    "PCM_24": 24,
    "PCM_32": 32,
    "FLOAT": 32,
    "DOUBLE": 64,
}

FLOAT_SUBTYPES: frozenset[str] = frozenset({"FLOAT", "DOUBLE"})


def quantize(block: np.ndarray, bits: int) -> np.ndarray:
    """Round float samples to signed integers of `bits`, clipping to [-1, 1) instead of wrapping."""
    full_scale = float(1 << (bits - 1))
    q = np.rint(np.asarray(block, dtype=np.float64) * full_scale)
    np.clip(q, -full_scale, full_scale - 1.0, out=q)
    return q.astype(np.int64 if bits > 16 else np.int32)


def encode_wav(block: np.ndarray, subtype: str) -> bytes:
    """Little-endian, frame-interleaved bytes for a WAV `data` chunk."""
    if subtype == "FLOAT":
        return np.ascontiguousarray(block, dtype="<f4").tobytes()
    if subtype == "DOUBLE":
        return np.ascontiguousarray(block, dtype="<f8").tobytes()
    if subtype == "PCM_U8":
        return (quantize(block, 8) + 128).astype(np.uint8).tobytes()
    if subtype == "PCM_16":
        return quantize(block, 16).astype("<i2").tobytes()
    if subtype == "PCM_24":
        as_bytes = quantize(block, 24).astype("<i4").reshape(-1).view(np.uint8).reshape(-1, 4)
        return np.ascontiguousarray(as_bytes[:, :3]).tobytes()
    if subtype == "PCM_32":
        return quantize(block, 32).astype("<i4").tobytes()
    raise ValueError(f"cannot encode subtype {subtype!r} as WAV")


def to_soundfile_ints(block: np.ndarray, subtype: str) -> np.ndarray:
    """Integers left-aligned in int16/int32 for libsndfile, whose own float->int scaling is asymmetric."""
    bits = BITS[subtype]
    q = quantize(block, bits)
    if bits <= 16:
        return (q << (16 - bits)).astype(np.int16)
    return (q << (32 - bits)).astype(np.int32)
