"""Blind per-octave-band RT60 and DRR of reverberant speech, from its free decays.

When a talker stops, the direct sound vanishes within a few milliseconds and what remains is the
room's reverberant field decaying exponentially: a straight line in dB whose slope is -60/RT60.
So, per octave band:

1. band energy envelope in dB (5 ms hop, from ``bands.band_power``), lightly smoothed;
2. the band's noise floor (the ambience) is a low percentile of that envelope;
3. free-decay regions are runs where the envelope keeps falling, from a local peak until it stops
   falling or comes within ``FLOOR_MARGIN_DB`` of the floor (below that the ambience bends the
   line and biases RT60 long);
4. the first frames of each region hold the direct-sound drop (fast, its size is the DRR), so the
   line is fitted on the region below ``SKIP_DB`` under its peak;
5. decays of speech itself are never faster than the room (the observed decay is the slower of
   source and room), so the robust statistic leans low: a lower percentile of the per-region RT60s,
   weighted by each region's fitted dynamic range.

DRR uses the same regions, through a first-order energy model of the room: per hop the
reverberant energy r follows ``r[n] = a r[n-1] + g d[n-1]`` with ``a = 10^(-60 hop / (10 RT60))``
and direct energy ``d = e - r``. Each candidate ``g`` predicts the level at the start of the free
decays (where d ~ 0 and e = r); the ``g`` that matches the observed decays gives
``DRR = -10 log10(g / (1 - a))`` (total direct over total reverberant energy).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import uniform_filter1d
from scipy.signal import lfilter

from engine.scene.bands import HOP_S, band_edges_hz, band_power

FLOOR_PERCENTILE = 2.0
FLOOR_MARGIN_DB = 8.0
SKIP_DB = 2.0
MIN_FIT_DB = 6.0
MIN_FIT_S = 0.03
RT60_PERCENTILE = 35.0
RISE_TOLERANCE_DB = 2.0
SMOOTH_FRAMES = 5
SMOOTH_TIME_BANDWIDTH = 10.0  # smoothing window x bandwidth: ~1 dB envelope ripple
MAX_FIT_RESIDUAL_DB = 1.5
RANGE_WEIGHT_POWER = 1.0
DURATION_WEIGHT_POWER = 1.0
FLOOR_SUBTRACT = 0.5
_DRR_ITERATIONS = 6
_MIN_DIRECT_SHARE = 0.02


@dataclass(frozen=True)
class DecayFit:
    start: int  # frame of the region's peak
    fit_start: int
    stop: int  # frame after the last fitted frame
    slope_db_per_s: float
    range_db: float

    @property
    def rt60_s(self) -> float:
        return -60.0 / self.slope_db_per_s


@dataclass(frozen=True)
class BandDecays:
    centre_hz: float
    rt60_s: float  # NaN when too few decays were found
    fits: list[DecayFit]
    floor_db: float
    drr_db: float = float("nan")


def envelope_db(power: np.ndarray, smooth_frames: int = SMOOTH_FRAMES) -> np.ndarray:
    """dB envelope smoothed over ~40 ms: a band's power fluctuates by several dB frame to frame
    (few FFT bins, noise-like reverberant field), while a moving average leaves a straight decay
    line straight, so only its corners round off."""
    e = 10.0 * np.log10(np.maximum(power, 1e-20))
    return uniform_filter1d(e.astype(np.float64), smooth_frames, axis=0, mode="nearest")


def find_decays(env_db: np.ndarray, floor_db: float, hop_s: float = HOP_S) -> list[DecayFit]:
    """Free-decay regions of one band envelope and their line fits (see module docstring).

    A region starts at a local peak and runs down its running minimum until the envelope climbs
    ``RISE_TOLERANCE_DB`` above that minimum (a new onset) or reaches the floor margin.
    """
    n = env_db.size
    fits: list[DecayFit] = []
    stop_level = floor_db + FLOOR_MARGIN_DB
    min_len = max(4, int(MIN_FIT_S / hop_s))
    peaks = np.nonzero(
        (env_db[1:-1] >= env_db[:-2]) & (env_db[1:-1] > env_db[2:]) & (env_db[1:-1] >= stop_level + MIN_FIT_DB + SKIP_DB)
    )[0] + 1
    resume = 0
    for i in peaks:
        if i < resume:
            continue
        j, low, low_at = i, env_db[i], i
        while j + 1 < n:
            v = env_db[j + 1]
            if v > low + RISE_TOLERANCE_DB or v < stop_level:
                break
            j += 1
            if v < low:
                low, low_at = v, j
        j = low_at
        peak = env_db[i]
        below = np.nonzero(env_db[i : j + 1] <= peak - SKIP_DB)[0]
        if below.size:
            f0 = i + int(below[0])
            seg = env_db[f0 : j + 1]
            if seg.size >= min_len and seg[0] - seg[-1] >= MIN_FIT_DB:
                t = np.arange(seg.size) * hop_s
                slope, icpt = np.polyfit(t, seg, 1)
                resid = float(np.std(seg - (slope * t + icpt)))
                if slope < 0 and resid <= MAX_FIT_RESIDUAL_DB:
                    fits.append(DecayFit(i, f0, j + 1, float(slope), float(seg[0] - seg[-1])))
        resume = max(j, i + 1)
    return fits


def robust_rt60_s(fits: list[DecayFit], percentile: float = RT60_PERCENTILE) -> float:
    if len(fits) < 3:
        return float("nan")
    rt = np.array([f.rt60_s for f in fits])
    w = np.array([f.range_db ** RANGE_WEIGHT_POWER * (f.stop - f.fit_start) ** DURATION_WEIGHT_POWER for f in fits])
    order = np.argsort(rt)
    cw = np.cumsum(w[order]) / np.sum(w)
    return float(rt[order][np.searchsorted(cw, percentile / 100.0)])


def band_decays(
    mono: np.ndarray, sample_rate_hz: int, bands_hz: tuple[float, ...], valid: np.ndarray | None = None
) -> list[BandDecays]:
    """Per-band decays of a mono signal; ``valid`` (per STFT frame) excludes frames, e.g. gaps."""
    power = band_power(mono, sample_rate_hz, band_edges_hz(bands_hz, 1.0))
    out = []
    for b, centre in enumerate(bands_hz):
        if centre * 2**0.5 > 0.5 * sample_rate_hz * 1.02:
            out.append(BandDecays(centre, float("nan"), [], float("nan")))
            continue
        smooth = max(SMOOTH_FRAMES, int(round(SMOOTH_TIME_BANDWIDTH / (0.707 * centre * HOP_S))))
        raw = envelope_db(power[:, b], smooth)
        floor = float(np.percentile(raw if valid is None else raw[valid], FLOOR_PERCENTILE))
        # Remove the ambience's mean power so decays can be followed closer to the floor.
        lin = 10.0 ** (raw / 10.0) - FLOOR_SUBTRACT * 10.0 ** (floor / 10.0)
        env = 10.0 * np.log10(np.maximum(lin, 10.0 ** ((floor - 30.0) / 10.0)))
        fits = find_decays(env, floor)
        rt60 = robust_rt60_s(fits)
        drr = band_drr_db(np.maximum(lin, 0.0), fits, rt60) if np.isfinite(rt60) else float("nan")
        out.append(BandDecays(centre, rt60, fits, floor, drr))
    return out


def band_drr_db(energy: np.ndarray, fits: list[DecayFit], rt60_s: float, hop_s: float = HOP_S) -> float:
    """DRR of one band from the first-order room energy model (see module docstring).

    For a fixed direct-energy estimate ``d`` the reverberant prediction is ``r = R(d) / DRR`` with
    ``R`` the unit-gain exponential filter, so the DRR that makes the prediction match the observed
    free decays (mean dB error zero) is closed-form; ``d = e - r`` then depends on it, so we
    iterate a few times (it converges in 3-4 rounds).
    """
    frames = np.concatenate([np.arange(f.fit_start, f.stop) for f in fits]) if fits else np.zeros(0, int)
    if frames.size < 10:
        return float("nan")
    a = 10.0 ** (-6.0 * hop_s / rt60_s)
    e = np.maximum(energy.astype(np.float64), 1e-20)
    target_db = 10.0 * np.log10(e[frames])
    d = e.copy()
    drr_db = 0.0
    for _ in range(_DRR_ITERATIONS):
        unit = lfilter([0.0, 1.0 - a], [1.0, -a], d)
        drr_db = float(np.mean(10.0 * np.log10(np.maximum(unit[frames], 1e-20)) - target_db))
        drr_db = float(np.clip(drr_db, -30.0, 30.0))
        r = unit * 10.0 ** (-drr_db / 10.0)
        d = np.maximum(e - r, _MIN_DIRECT_SHARE * e)
    return drr_db


def broadband_drr_db(bands: list[BandDecays], sample_rate_hz: int) -> float:
    """Combine band DRRs as a white-spectrum (flat direct impulse) energy average, the way a
    broadband RIR measure weights them: each band counts by its bandwidth, the outer bands
    reach down to 0 Hz and up to Nyquist."""
    ok = [b for b in bands if np.isfinite(b.drr_db)]
    if not ok:
        return float("nan")
    centres = np.array([b.centre_hz for b in ok])
    lo = centres / 2**0.5
    hi = np.minimum(centres * 2**0.5, sample_rate_hz / 2.0)
    lo[0], hi[-1] = 0.0, sample_rate_hz / 2.0
    w = np.maximum(hi - lo, 0.0)
    rev_over_direct = np.sum(w * 10.0 ** (-np.array([b.drr_db for b in ok]) / 10.0)) / np.sum(w)
    return float(-10.0 * np.log10(rev_over_direct))
