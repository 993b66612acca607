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
    block = np.asarray(block)
    if block.dtype == np.float32 and bits <= 24:
        # Exact in float32: scaling by a power of two, and every integer below 2**24, are
        # representable, so this equals the float64 route bit for bit at half the memory traffic.
        q32 = np.rint(block * np.float32(full_scale))
        np.clip(q32, -full_scale, full_scale - 1.0, out=q32)
        return q32.astype(np.int32)
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
        return pack_int24(quantize(block, 24))
    if subtype == "PCM_32":
        return quantize(block, 32).astype("<i4").tobytes()
    raise ValueError(f"cannot encode subtype {subtype!r} as WAV")


def pack_int24(q: np.ndarray) -> bytes:
    """Little-endian 3-byte samples, frame-interleaved. Four samples become three 32-bit words with
    shifts (a byte-strided copy of 3 bytes out of 4 cost five times as much)."""
    flat = np.ascontiguousarray(q, dtype="<i4").reshape(-1)
    whole = flat.size - flat.size % 4
    u = flat[:whole].view(np.uint32).reshape(-1, 4)
    words = np.empty((u.shape[0], 3), dtype="<u4")
    words[:, 0] = (u[:, 0] & 0xFFFFFF) | (u[:, 1] << 24)
    words[:, 1] = ((u[:, 1] >> 8) & 0xFFFF) | (u[:, 2] << 16)
    words[:, 2] = ((u[:, 2] >> 16) & 0xFF) | (u[:, 3] << 8)
    rest = flat[whole:].view(np.uint8).reshape(-1, 4)[:, :3]
    return words.tobytes() + rest.tobytes()


def to_soundfile_ints(block: np.ndarray, subtype: str) -> np.ndarray:
    """Integers left-aligned in int16/int32 for libsndfile, whose own float->int scaling is asymmetric."""
    bits = BITS[subtype]
    q = quantize(block, bits)
    if bits <= 16:
        return (q << (16 - bits)).astype(np.int16)
    return (q << (32 - bits)).astype(np.int32)
