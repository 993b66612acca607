"""The scene's tonal colouration as a minimum-phase FIR.

Minimum phase because the filter sits in front of dialogue that must stay in sync with picture:
all its energy is at the start (no pre-ringing, no latency), unlike a linear-phase design.
"""

from __future__ import annotations

import numpy as np
import scipy.fft as sfft
from scipy.interpolate import PchipInterpolator

from engine.scene.profile import SceneProfile

TAPS_AT_48K = 4096  # ~85 ms: resolves the 40 Hz third-octave band to well under 1 dB
_CEPSTRUM_OVERSAMPLING = 8  # FFT size / taps: keeps cepstral aliasing negligible
_TAPER_FRACTION = 0.1  # half-Hann on the last 10 % so truncation does not ripple the response


def eq_filter(profile: SceneProfile, sample_rate_hz: int, amount: float = 1.0) -> np.ndarray:
    """1-D float64 minimum-phase FIR realising amount x the profile's third-octave EQ curve.

    The curve is interpolated smoothly (PCHIP, no overshoot) in log frequency between band
    centres, held flat beyond the outer bands, and bands at or above Nyquist are ignored, so a
    low-rate render never boosts what the analyser only extrapolated. Returns [1.0] when flat.
    """
    if sample_rate_hz <= 0:
        raise ValueError("sample rate must be positive")
    gains_db = amount * np.asarray(profile.eq_gain_db, dtype=np.float64)
    centres_hz = np.asarray(profile.eq_bands_hz, dtype=np.float64)
    keep = centres_hz < sample_rate_hz / 2.0
    if not keep.any() or not np.any(np.abs(gains_db[keep]) > 1e-9):
        return np.ones(1, dtype=np.float64)
    taps = max(64, int(round(TAPS_AT_48K * sample_rate_hz / 48000.0)))
    n_fft = sfft.next_fast_len(_CEPSTRUM_OVERSAMPLING * taps, real=True)
    freqs_hz = np.fft.rfftfreq(n_fft, 1.0 / sample_rate_hz)
    log_mag = np.log(10.0) / 20.0 * _curve_db(freqs_hz, centres_hz[keep], gains_db[keep])
    h = _minimum_phase(log_mag, n_fft)[:taps]
    taper = max(1, int(_TAPER_FRACTION * taps))
    h[taps - taper :] *= np.cos(0.5 * np.pi * (np.arange(taper) + 0.5) / taper) ** 2
    return h


def _curve_db(freqs_hz: np.ndarray, centres_hz: np.ndarray, gains_db: np.ndarray) -> np.ndarray:
    if len(centres_hz) == 1:
        return np.full(freqs_hz.shape, gains_db[0])
    log_c = np.log2(centres_hz)
    log_f = np.clip(np.log2(np.maximum(freqs_hz, 1e-3)), log_c[0], log_c[-1])
    return PchipInterpolator(log_c, gains_db)(log_f)


def _minimum_phase(log_mag: np.ndarray, n_fft: int) -> np.ndarray:
    """Homomorphic (folded real cepstrum) minimum-phase impulse response for a log magnitude."""
    cep = sfft.irfft(log_mag, n_fft)
    fold = np.zeros(n_fft)
    fold[0] = cep[0]
    fold[1 : n_fft // 2] = 2.0 * cep[1 : n_fft // 2]
    if n_fft % 2 == 0:
        fold[n_fft // 2] = cep[n_fft // 2]
    return sfft.irfft(np.exp(sfft.rfft(fold)), n_fft)
