"""Ground-truth room measures computed from an impulse response.

The scene kit, the analysis tests and the evaluation suite all score against these numbers, so
they are deliberately classical (ISO 3382-style octave bands, Schroeder integration, T30/T20
line fits) and deterministic rather than clever: two runs on the same RIR must agree exactly.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

OCTAVE_BANDS_HZ: tuple[int, ...] = (125, 250, 500, 1000, 2000, 4000, 8000)

# Butterworth prototype order for the octave filters. A band-pass of order 3 becomes order 6, and
# zero-phase filtering squares the magnitude: steep enough to isolate an octave, yet its own ring
# (a few ms even at 125 Hz) stays far below the shortest decays the kit renders (0.2 s).
_BAND_FILTER_ORDER = 3

# Decay ranges (dB below the start of the energy decay curve) tried in order of preference.
_FIT_RANGES_DB: tuple[tuple[float, float], ...] = ((-5.0, -35.0), (-5.0, -25.0), (-5.0, -15.0))

# The tail is cut where its smoothed envelope stays within this many dB of the level of its own
# last 10 %: harmless for synthetic RIRs (that only happens at the very end) and it stops a
# measurement-noise floor from flattening the decay curve of real, noisy RIRs.
_NOISE_MARGIN_DB = 5.0


def direct_index(rir: np.ndarray) -> int:
    """Index of the direct sound, taken as the largest absolute sample.

    The kit normalises RIRs so the direct path is the peak, so this is exact for kit RIRs and the
    usual convention for measured ones.
    """
    h = _as_1d(rir)
    if h.size == 0:
        raise ValueError("empty impulse response")
    return int(np.argmax(np.abs(h)))


def octave_band(rir: np.ndarray, sample_rate_hz: float, band_hz: float) -> np.ndarray | None:
    """Zero-phase octave-band filtered copy of ``rir`` (float64), or None if the band is above Nyquist.

    Zero phase keeps the direct sound where it was, so band decays and band DRRs line up in time.
    A band whose upper edge passes Nyquist becomes a high-pass from its lower edge.
    """
    h = _as_1d(rir).astype(np.float64)
    nyquist_hz = sample_rate_hz / 2.0
    low_hz = band_hz / np.sqrt(2.0)
    high_hz = band_hz * np.sqrt(2.0)
    if low_hz >= 0.9 * nyquist_hz:
        return None
    if high_hz >= 0.95 * nyquist_hz:
        sos = signal.butter(_BAND_FILTER_ORDER * 2, low_hz, btype="highpass", fs=sample_rate_hz, output="sos")
    else:
        sos = signal.butter(_BAND_FILTER_ORDER, [low_hz, high_hz], btype="bandpass", fs=sample_rate_hz, output="sos")
    return signal.sosfiltfilt(sos, h)


def energy_decay_curve_db(rir: np.ndarray) -> np.ndarray:
    """Schroeder backward-integrated energy, in dB relative to the total energy (0 dB at index 0)."""
    h = _as_1d(rir).astype(np.float64)
    energy = np.cumsum((h * h)[::-1])[::-1]
    total = energy[0] if energy.size else 0.0
    if total <= 0.0:
        return np.full(h.shape, -np.inf)
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(energy / total)


def decay_rt60_s(band_rir: np.ndarray, sample_rate_hz: float) -> float:
    """RT60 of one (already band-filtered) RIR from a T30 fit, else T20, else T10; NaN if none fits.

    Integration starts at the direct sound, so propagation delay and filter pre-ringing do not count
    as "decay". The tail is truncated where it meets its own floor (see ``_NOISE_MARGIN_DB``).
    """
    h = _as_1d(band_rir).astype(np.float64)
    if h.size < 4 or not np.any(h):
        return float("nan")
    start = int(np.argmax(np.abs(h)))
    h = h[start:]
    h = h[: _truncation_index(h, sample_rate_hz)]
    edc_db = energy_decay_curve_db(h)
    t_s = np.arange(h.size) / sample_rate_hz
    for top_db, bottom_db in _FIT_RANGES_DB:
        # Only the first crossing matters: the EDC is monotonic by construction.
        below_top = np.nonzero(edc_db <= top_db)[0]
        below_bottom = np.nonzero(edc_db <= bottom_db)[0]
        if below_top.size == 0 or below_bottom.size == 0:
            continue
        i0, i1 = int(below_top[0]), int(below_bottom[0])
        if i1 - i0 < 8:
            continue
        slope_db_per_s, _ = np.polyfit(t_s[i0:i1], edc_db[i0:i1], 1)
        if slope_db_per_s >= 0.0:
            continue
        return float(-60.0 / slope_db_per_s)
    return float("nan")


def band_rt60_s(
    rir: np.ndarray,
    sample_rate_hz: float,
    bands_hz: tuple[float, ...] | list[float] = OCTAVE_BANDS_HZ,
) -> np.ndarray:
    """Reverberation time per octave band (s), NaN where a band is above Nyquist or has no decay.

    Octave bands rather than one broadband number because dialogue rooms differ mostly in how the
    low and high ends ring; the scene matcher and its evaluation both need the shape, not a mean.
    """
    out = np.full(len(bands_hz), np.nan, dtype=np.float64)
    for i, band_hz in enumerate(bands_hz):
        band = octave_band(rir, sample_rate_hz, float(band_hz))
        if band is not None:
            out[i] = decay_rt60_s(band, sample_rate_hz)
    return out


def drr_db(rir: np.ndarray, sample_rate_hz: float, direct_window_ms: float = 2.5) -> float:
    """Direct-to-reverberant ratio: energy within ±window of the direct peak vs all other energy.

    ±2.5 ms is the common convention: wide enough to hold a fractionally delayed direct impulse,
    narrow enough to exclude all but grazing floor reflections. Returns +inf for a pure impulse.
    """
    h = _as_1d(rir).astype(np.float64)
    peak = direct_index(h)
    half = int(round(direct_window_ms * 1e-3 * sample_rate_hz))
    lo, hi = max(0, peak - half), min(h.size, peak + half + 1)
    energy = h * h
    direct = float(np.sum(energy[lo:hi]))
    rest = float(np.sum(energy[:lo]) + np.sum(energy[hi:]))
    if direct <= 0.0:
        return float("-inf")
    if rest <= 0.0:
        return float("inf")
    return float(10.0 * np.log10(direct / rest))


def _truncation_index(h: np.ndarray, sample_rate_hz: float) -> int:
    """Where the smoothed envelope first reaches the floor set by the last 10 % of the response."""
    block = max(1, int(0.01 * sample_rate_hz))
    n_blocks = h.size // block
    if n_blocks < 20:
        return h.size
    env = np.mean((h[: n_blocks * block] ** 2).reshape(n_blocks, block), axis=1)
    tail_start = int(n_blocks * 0.9)
    floor = float(np.mean(env[tail_start:]))
    if floor <= 0.0:
        return h.size
    threshold = floor * 10.0 ** (_NOISE_MARGIN_DB / 10.0)
    # Use the running maximum of what is still to come, so a silent gap between the direct sound
    # and the first reflection (large rooms, outdoors) is not mistaken for the floor.
    future_max = np.maximum.accumulate(env[:tail_start][::-1])[::-1]
    hits = np.nonzero(future_max <= threshold)[0]
    if hits.size == 0:
        return h.size
    return max(int(hits[0]) * block, block * 10)


def _as_1d(x: np.ndarray) -> np.ndarray:
    """Accept 1-D or (n, 1) arrays so callers can pass kit audio without reshaping."""
    a = np.asarray(x)
    if a.ndim == 2 and a.shape[1] == 1:
        return a[:, 0]
    if a.ndim != 1:
        raise ValueError(f"expected a mono impulse response, got shape {a.shape}")
    return a


def clarity_c50_db(rir: np.ndarray, sample_rate_hz: float) -> float:
    """C50: energy in the first 50 ms after the direct sound vs the rest (speech clarity, ISO 3382)."""
    h = _as_1d(rir).astype(np.float64)
    start = direct_index(h)
    split = start + int(round(0.05 * sample_rate_hz))
    early = float(np.sum(h[start:split] ** 2))
    late = float(np.sum(h[split:] ** 2))
    if late <= 0.0:
        return float("inf")
    return float(10.0 * np.log10(max(early, 1e-30) / late))


def third_octave_response_db(
    rir: np.ndarray, sample_rate_hz: float, bands_hz: tuple[float, ...], reference_band_hz: tuple[float, float] = (250.0, 4000.0)
) -> np.ndarray:
    """The response's energy per third-octave band (dB), its mean over ``reference_band_hz`` removed.

    This is what a long-term spectrum of speech heard through the response gains per band: the
    colouration of room and microphone together. NaN for bands above Nyquist.
    """
    h = _as_1d(rir).astype(np.float64)
    n = 1 << int(np.ceil(np.log2(max(h.size, 2))))
    power = np.abs(np.fft.rfft(h, n)) ** 2
    freqs = np.fft.rfftfreq(n, 1.0 / sample_rate_hz)
    out = np.full(len(bands_hz), np.nan)
    for i, c in enumerate(bands_hz):
        lo, hi = c / 2 ** (1 / 6), c * 2 ** (1 / 6)
        sel = (freqs >= lo) & (freqs < hi)
        if hi <= sample_rate_hz / 2 and sel.any():
            out[i] = 10.0 * np.log10(max(float(power[sel].mean()), 1e-30))
    bands = np.asarray(bands_hz)
    ref = (bands >= reference_band_hz[0]) & (bands <= reference_band_hz[1]) & np.isfinite(out)
    return out - float(np.mean(out[ref]))
