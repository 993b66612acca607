"""Spectral comparisons: log-mel distance to the truth and long-term ambience spectra.

Log-mel rather than linear STFT distance because it weighs errors roughly as loudness perception
does and ignores phase, which no restyling system can be expected to reproduce sample-exactly.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import signal

MEL_BANDS = 64
MEL_RANGE_HZ = (50.0, 11000.0)
DYNAMIC_RANGE_DB = 80.0  # both spectrograms are floored this far below the truth's peak
THIRD_OCTAVE_CENTRES_HZ: tuple[float, ...] = tuple(
    float(1000.0 * 2.0 ** (k / 3.0)) for k in range(-12, 11)
)  # 63 Hz .. 10 kHz


def log_mel_db(x: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """(bands, frames) mel power in dB; ~43 ms windows, 75 % overlap at any rate."""
    n_fft = 1 << int(np.round(np.log2(0.043 * sample_rate_hz)))
    _, _, spec = signal.stft(_mono(x), fs=sample_rate_hz, nperseg=n_fft, noverlap=3 * n_fft // 4, boundary=None)
    power = np.abs(spec) ** 2
    mel = _mel_matrix(sample_rate_hz, n_fft) @ power
    return 10.0 * np.log10(np.maximum(mel, 1e-20))


def log_mel_distance_db(output_db: np.ndarray, truth_db: np.ndarray) -> float:
    """Mean absolute log-mel difference (dB), both floored ``DYNAMIC_RANGE_DB`` below truth's peak."""
    frames = min(output_db.shape[1], truth_db.shape[1])
    floor = float(np.max(truth_db)) - DYNAMIC_RANGE_DB
    a = np.maximum(output_db[:, :frames], floor)
    b = np.maximum(truth_db[:, :frames], floor)
    return float(np.mean(np.abs(a - b)))


def third_octave_levels_db(x: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """Long-term level per third-octave band (dB re full scale), Welch-averaged."""
    mono = _mono(x)
    nperseg = min(mono.size, 1 << int(np.round(np.log2(0.17 * sample_rate_hz))))
    freqs, psd = signal.welch(mono, fs=sample_rate_hz, nperseg=max(nperseg, 16))
    df = freqs[1] - freqs[0] if freqs.size > 1 else 1.0
    out = np.empty(len(THIRD_OCTAVE_CENTRES_HZ))
    for i, centre in enumerate(THIRD_OCTAVE_CENTRES_HZ):
        lo, hi = centre * 2 ** (-1 / 6), centre * 2 ** (1 / 6)
        sel = (freqs >= lo) & (freqs < hi)
        power = float(np.sum(psd[sel]) * df) if np.any(sel) else float(np.interp(centre, freqs, psd) * df)
        out[i] = 10.0 * np.log10(max(power, 1e-20))
    return out


def spectrum_shape_distance_db(a_db: np.ndarray, b_db: np.ndarray) -> float:
    """RMS difference of two band spectra after removing each one's mean: shape only, not level."""
    da = a_db - np.mean(a_db)
    db = b_db - np.mean(b_db)
    return float(np.sqrt(np.mean((da - db) ** 2)))


@functools.lru_cache(maxsize=8)
def _mel_matrix(sample_rate_hz: int, n_fft: int) -> np.ndarray:
    """Triangular mel filters (HTK mel scale), unit peak: a plain, dependency-free filterbank."""

    def hz_to_mel(f: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def mel_to_hz(m: np.ndarray) -> np.ndarray:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

    top = min(MEL_RANGE_HZ[1], 0.5 * sample_rate_hz)
    edges = mel_to_hz(np.linspace(hz_to_mel(np.array(MEL_RANGE_HZ[0])), hz_to_mel(np.array(top)), MEL_BANDS + 2))
    freqs = np.arange(n_fft // 2 + 1) * sample_rate_hz / n_fft
    bank = np.zeros((MEL_BANDS, freqs.size))
    for k in range(MEL_BANDS):
        lo, mid, hi = edges[k], edges[k + 1], edges[k + 2]
        rising = (freqs - lo) / max(mid - lo, 1e-9)
        falling = (hi - freqs) / max(hi - mid, 1e-9)
        bank[k] = np.clip(np.minimum(rising, falling), 0.0, None)
    return bank


def _mono(x: np.ndarray) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    return a.mean(axis=1) if a.ndim == 2 else a
