"""The learned scene estimator's input: log band power of the reference over time.

Third-octave bands from the same chunked STFT as the DSP analysis (``engine.scene.bands``), so the
network and the DSP read one front end. Levels are relative to the clip's own loud frames (a
reference's gain says nothing about the room), and bands above the clip's Nyquist or with no
energy sit at the floor, which the network learns to read as "no evidence here".
"""

from __future__ import annotations

import numpy as np

from engine.scene.bands import HOP_S, band_edges_hz, band_power
from engine.scene.profile import THIRD_OCTAVE_BANDS_HZ

FEATURE_BANDS_HZ: tuple[float, ...] = THIRD_OCTAVE_BANDS_HZ[:-1]  # 40 Hz .. 20 kHz: 28 bands
FEATURE_HOP_S = 2 * HOP_S  # 10 ms
FLOOR_DB = -100.0
FEATURE_RATE_HZ = 48000


def band_levels_db(mono: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """(frames, bands) float32 absolute log band power in dB at FEATURE_HOP_S; the cacheable part.

    Other rates are resampled to FEATURE_RATE_HZ first: the STFT window is a power of two near
    32 ms, which is 43 ms at 48 kHz but 23 ms at 44.1 kHz, and the network (trained on 48 kHz
    references, band-limited ones among them) would read the shorter smoothing as a drier room.
    """
    x = np.asarray(mono, dtype=np.float32)
    sr = int(sample_rate_hz)
    if sr != FEATURE_RATE_HZ:
        from math import gcd

        from scipy.signal import resample_poly

        g = gcd(FEATURE_RATE_HZ, sr)
        x = resample_poly(x, FEATURE_RATE_HZ // g, sr // g).astype(np.float32)
    p = band_power(x, FEATURE_RATE_HZ, band_edges_hz(FEATURE_BANDS_HZ, 1.0 / 3.0), hop_s=FEATURE_HOP_S)
    return (10.0 * np.log10(np.maximum(p, 1e-13))).astype(np.float32)


def normalise_levels(levels_db: np.ndarray) -> np.ndarray:
    """Levels relative to the clip's loud frames, floored and scaled to about [-1, 0] for the network."""
    x = np.asarray(levels_db, dtype=np.float32)
    broadband = 10.0 * np.log10(np.maximum(np.sum(10.0 ** (x / 10.0), axis=1), 1e-13))
    top = float(np.percentile(broadband, 98)) if broadband.size else 0.0
    return (np.clip(x - top, FLOOR_DB, 10.0) / -FLOOR_DB).astype(np.float32)
