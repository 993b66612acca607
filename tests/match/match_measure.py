"""Classical room measures for the match tests, written here so they stay independent of the code
under test: ISO 3382-style octave filtering, Schroeder integration, T30 line fit, ±2.5 ms DRR."""

from __future__ import annotations

import numpy as np
from scipy import signal


def band_rt60_s(ir: np.ndarray, sample_rate_hz: int, band_hz: float) -> float:
    """T30 of the energy-averaged decay over all channels (a spatial average, as ISO 3382 asks:
    one noise realisation alone scatters by several per cent in the low octaves)."""
    ir = np.atleast_2d(ir.T).T.astype(np.float64)
    # Leading silence: zero-phase filtering of an impulse at index 0 pads it with a step (odd
    # extension), which would inflate the low-band direct energy.
    pad = int(0.05 * sample_rate_hz)
    ir = np.concatenate([np.zeros((pad, ir.shape[1])), ir])
    sos = signal.butter(3, [band_hz / np.sqrt(2), band_hz * np.sqrt(2)], "bandpass", fs=sample_rate_hz, output="sos")
    band = signal.sosfiltfilt(sos, ir, axis=0)[pad:]
    energy = np.mean(band**2, axis=1)
    edc = np.cumsum(energy[::-1])[::-1]
    edc_db = 10 * np.log10(edc / edc[0] + 1e-300)
    i0 = int(np.argmax(edc_db <= -5.0))
    i1 = int(np.argmax(edc_db <= -35.0))
    t = np.arange(len(edc_db)) / sample_rate_hz
    slope, _ = np.polyfit(t[i0:i1], edc_db[i0:i1], 1)
    return float(-60.0 / slope)


def drr_db(ir: np.ndarray, sample_rate_hz: int, window_ms: float = 2.5) -> float:
    h = np.asarray(ir, dtype=np.float64)
    peak = int(np.argmax(np.abs(h)))
    half = int(round(window_ms * 1e-3 * sample_rate_hz))
    lo, hi = max(0, peak - half), peak + half + 1
    e = h * h
    return float(10 * np.log10(e[lo:hi].sum() / (e[:lo].sum() + e[hi:].sum())))
