"""Sound-texture statistics after McDermott & Simoncelli (Neuron, 2011), for ambience beds.

Why: two beds can share a long-term spectrum and still sound nothing alike (steady hiss vs
crackling fire vs passing cars). M&S showed that a few statistics of cochlear subband envelopes
-- their marginal moments and their modulation power -- are what listeners use to tell textures
apart, so a bed that matches them is perceptually "the same kind of sound".

Simplified, documented front end: 16 ERB-spaced 2nd-order Butterworth bands (100-8000 Hz),
Hilbert envelopes compressed by ^0.3, down-sampled to 400 Hz; per band the envelope's mean,
coefficient of variation, skewness and kurtosis, and the envelope's modulation power in seven
octave bands (0.5-32 Hz) normalised by its variance (as M&S normalise).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

N_BANDS = 16
BAND_RANGE_HZ = (100.0, 8000.0)
ENVELOPE_RATE_HZ = 400
COMPRESSION = 0.3
MODULATION_CENTRES_HZ: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)


@dataclass
class TextureStats:
    """Per band: envelope moments, and modulation power (dB re envelope variance) per octave."""

    mean_db: np.ndarray  # (bands,) 20 log10 mean envelope
    cv: np.ndarray  # (bands,) std / mean
    skewness: np.ndarray  # (bands,)
    log_kurtosis: np.ndarray  # (bands,) ln of (non-excess) kurtosis
    modulation_db: np.ndarray  # (bands, len(MODULATION_CENTRES_HZ))


def erb_centres_hz(n_bands: int = N_BANDS, range_hz: tuple[float, float] = BAND_RANGE_HZ) -> np.ndarray:
    """Centres equally spaced on the ERB-number scale (Glasberg & Moore 1990)."""

    def erb_number(f: float) -> float:
        return 21.4 * np.log10(1.0 + 0.00437 * f)

    numbers = np.linspace(erb_number(range_hz[0]), erb_number(range_hz[1]), n_bands)
    return (10.0 ** (numbers / 21.4) - 1.0) / 0.00437


def texture_stats(x: np.ndarray, sample_rate_hz: int) -> TextureStats:
    """Statistics of one (mono) signal; a silent signal gives finite, flat statistics."""
    mono = np.asarray(x, dtype=np.float64)
    mono = mono.mean(axis=1) if mono.ndim == 2 else mono
    centres = erb_centres_hz()
    mean_db, cv, skew, logk, mod = [], [], [], [], []
    step = max(1, int(round(sample_rate_hz / ENVELOPE_RATE_HZ)))
    env_rate = sample_rate_hz / step
    for fc in centres:
        bw = 24.7 * (1.0 + 0.00437 * fc)  # one ERB
        lo, hi = max(fc - bw, 20.0), min(fc + bw, 0.45 * sample_rate_hz)
        sos = signal.butter(2, [lo, hi], btype="bandpass", fs=sample_rate_hz, output="sos")
        sub = signal.sosfilt(sos, mono)
        env = np.abs(signal.hilbert(sub)) ** COMPRESSION
        env = signal.resample_poly(env, 1, step) if step > 1 else env
        env = np.maximum(env, 0.0)
        m = float(np.mean(env))
        sd = float(np.std(env))
        mean_db.append(20.0 * np.log10(max(m, 1e-12)))
        cv.append(sd / m if m > 1e-12 else 0.0)
        if sd > 1e-12:
            z = (env - m) / sd
            skew.append(float(np.mean(z**3)))
            logk.append(float(np.log(max(np.mean(z**4), 1e-6))))
        else:
            skew.append(0.0)
            logk.append(float(np.log(3.0)))
        mod.append(_modulation_db(env - m, env_rate, sd**2))
    return TextureStats(np.array(mean_db), np.array(cv), np.array(skew), np.array(logk), np.array(mod))


def texture_distance(a: TextureStats, b: TextureStats) -> float:
    """Mean of per-group RMS differences, each group put on a comparable unit scale.

    Groups: spectral shape (mean envelope, level removed, per 10 dB), CV, skewness / 2,
    ln kurtosis, modulation spectrum (per 10 dB). Unitless; 0 for identical statistics.
    """

    def rms(d: np.ndarray) -> float:
        return float(np.sqrt(np.mean(np.square(d))))

    shape = (a.mean_db - np.mean(a.mean_db)) - (b.mean_db - np.mean(b.mean_db))
    groups = (
        rms(shape) / 10.0,
        rms(a.cv - b.cv),
        rms(a.skewness - b.skewness) / 2.0,
        rms(a.log_kurtosis - b.log_kurtosis),
        rms(a.modulation_db - b.modulation_db) / 10.0,
    )
    return float(np.mean(groups))


def _modulation_db(env: np.ndarray, env_rate_hz: float, variance: float) -> np.ndarray:
    out = np.full(len(MODULATION_CENTRES_HZ), -60.0)
    if env.size < 8 or variance <= 1e-24:
        return out
    spectrum = np.abs(np.fft.rfft(env * np.hanning(env.size))) ** 2
    freqs = np.fft.rfftfreq(env.size, 1.0 / env_rate_hz)
    total = float(np.sum(spectrum[1:]))
    if total <= 0.0:
        return out
    for i, fc in enumerate(MODULATION_CENTRES_HZ):
        sel = (freqs >= fc / np.sqrt(2.0)) & (freqs < fc * np.sqrt(2.0))
        share = float(np.sum(spectrum[sel])) / total if np.any(sel) else 0.0
        out[i] = 10.0 * np.log10(max(share, 1e-6))
    return out
