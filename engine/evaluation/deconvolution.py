"""Room measures of a system's output by regularised deconvolution against the known dry input.

Why deconvolution rather than blind estimation: every system under test receives the same dry
input, so the response ``h`` with ``output ~= input * h + ambience`` is identifiable. Its RT60 and
DRR can then be measured with the same classical tools that give the kit's ground truth
(``engine.kit.acoustics``) -- no second blind estimator whose own bias would be scored.

Choices (each measured on kit scenes, see ``tests/evaluation/test_deconvolution.py``):

* Tikhonov/Wiener division ``H = Y X* / (|X|^2 + lambda(f))`` with ``lambda`` proportional to a
  1/6-octave smoothed input spectrum, so only the fine-structure dips of speech are regularised,
  not its whole spectral tilt; bins above ``MAX_ANALYSIS_HZ`` (espeak and most dialogue carry no
  energy there) are zeroed.
* The reverberant-speech prediction (whose residual is the ambience estimate) uses a much
  lighter regularisation -- the room estimate's shrinkage would leave ~10 % of the speech in the
  residual -- and a response cut where its broadband envelope meets the noise floor (keeping 100 ms of acausal
  lags, where the regularisation's own zero-phase spread lives): an uncut
  response of as many taps as the signal has samples would "explain" the ambience too.
* Two passes: the second adds ``1 / local SNR`` (smoothed residual over smoothed prediction of
  the first pass) to the regularisation, a Wiener-style guard for bands where the ambience is
  louder than the speech (birds above 2 kHz, rumble below the voice's F0).
* The FFT is padded so the response has room for ``max_lag_s`` of causal lags AND
  ``NOISE_LAGS_S`` of acausal lags. A real room is causal, so the acausal part holds only the
  ambience's and the regularisation's leakage: it is the noise floor, measured per band, which is
  subtracted before Schroeder integration and marks where the decay is truncated (Chu's and
  Lundeby's classic noise compensations).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.kit.acoustics import OCTAVE_BANDS_HZ, octave_band

MAX_ANALYSIS_HZ = 11000.0
NOISE_LAGS_S = 1.0
REGULARISATION = 0.1  # lambda = REGULARISATION * smoothed |X|^2, for the room measures
PREDICTION_REGULARISATION = 1e-3  # far lighter for the speech prediction: its bias IS the residual
_MIN_PREDICTION_S = 0.05
_PREDICTION_ACAUSAL_S = 0.1  # the regularisation's zero-phase spread reaches this far before lag 0
_FLOOR_FRACTION = 1e-6  # plus this fraction of the smoothed spectrum's peak, for silent bins
_SMOOTH_OCTAVES = 1.0 / 6.0
_GUARD_S = 0.05  # acausal lags this close to zero may hold filter spread; not noise
_ENVELOPE_S = 0.03
_FIT_RANGES_DB: tuple[tuple[float, float], ...] = ((-5.0, -35.0), (-5.0, -25.0), (-5.0, -15.0))
_TRUNCATE_ABOVE_FLOOR_DB = 5.0  # stop integrating where the envelope first comes this close to the floor
_DIRECT_WINDOW_S = 0.0025


@dataclass
class Deconvolution:
    """Estimated response: ``causal[k]`` is lag k; ``acausal`` holds lags -len(acausal)..-1."""

    causal: np.ndarray
    acausal: np.ndarray
    sample_rate_hz: int
    predicted: np.ndarray  # input * estimated response, same length as the output


@dataclass
class RoomEstimate:
    """Per-octave-band RT60 (s, NaN where no decay was measurable) and broadband DRR (dB)."""

    rt60_band_s: np.ndarray
    drr_db: float


def deconvolve(dry: np.ndarray, output: np.ndarray, sample_rate_hz: int, max_lag_s: float = 6.0) -> Deconvolution:
    """Estimate the linear response from ``dry`` to ``output`` (1-D or (n, 1) arrays, same rate)."""
    x = _mono(dry)
    y = _mono(output)
    n = max(x.size, y.size)
    max_lag = int(round(max_lag_s * sample_rate_hz))
    noise_lags = int(round(NOISE_LAGS_S * sample_rate_hz))
    nfft = 1 << int(np.ceil(np.log2(n + max_lag + noise_lags)))
    spectrum_x = np.fft.rfft(x, nfft)
    spectrum_y = np.fft.rfft(y, nfft)
    power = spectrum_x.real**2 + spectrum_x.imag**2
    smoothed = _fractional_octave_smooth(power, sample_rate_hz, nfft)
    floor = _FLOOR_FRACTION * float(np.max(smoothed))
    cross = spectrum_y * np.conj(spectrum_x)
    keep = np.arange(cross.size) * sample_rate_hz / nfft <= MAX_ANALYSIS_HZ

    # Pass 1 regularises against the input alone; pass 2 adds 1 / (local SNR), measured from
    # pass 1's residual, so bands where the ambience drowns the speech stop flooding the response.
    inverse_snr = np.zeros_like(smoothed)
    for _ in range(2):
        causal, acausal, predicted = _solve(
            cross, spectrum_x, power, smoothed, smoothed * inverse_snr + floor,
            keep, nfft, max_lag, noise_lags, y.size, sample_rate_hz,
        )
        residual_power = _fractional_octave_smooth(np.abs(spectrum_y - np.fft.rfft(predicted, nfft)) ** 2, sample_rate_hz, nfft)
        speech_power = _fractional_octave_smooth(np.abs(np.fft.rfft(predicted, nfft)) ** 2, sample_rate_hz, nfft)
        inverse_snr = residual_power / np.maximum(speech_power, 1e-30 + 1e-12 * float(np.max(speech_power)))
    return Deconvolution(causal, acausal, int(sample_rate_hz), predicted)


def room_estimate(deconvolution: Deconvolution, bands_hz: tuple[int, ...] = OCTAVE_BANDS_HZ) -> RoomEstimate:
    """RT60 per band and broadband DRR of a deconvolved response, noise-compensated (see module)."""
    fs = deconvolution.sample_rate_hz
    joined = np.concatenate([deconvolution.acausal, deconvolution.causal])
    n_noise = deconvolution.acausal.size
    rt60 = np.full(len(bands_hz), np.nan)
    for i, band_hz in enumerate(bands_hz):
        band = octave_band(joined, fs, float(band_hz))
        if band is not None:
            rt60[i] = _band_rt60_s(band, n_noise, fs)
    return RoomEstimate(rt60, _drr_db(joined, n_noise, fs))


def _band_rt60_s(band: np.ndarray, n_noise: int, fs: int) -> float:
    energy = band**2
    guard = int(_GUARD_S * fs)
    noise = float(np.mean(energy[: max(1, n_noise - guard)]))
    causal = energy[n_noise:]
    start = int(np.argmax(np.abs(band[n_noise : n_noise + int(0.1 * fs)])))
    causal = causal[start:]
    stop = _truncation(causal, noise, fs)
    compensated = np.clip(causal[:stop] - noise, 0.0, None)
    edc = np.cumsum(compensated[::-1])[::-1]
    if edc.size < 8 or edc[0] <= 0.0:
        return float("nan")
    edc_db = 10.0 * np.log10(np.maximum(edc / edc[0], 1e-30))
    t_s = np.arange(stop) / fs
    for top_db, bottom_db in _FIT_RANGES_DB:
        above = np.nonzero(edc_db <= top_db)[0]
        below = np.nonzero(edc_db <= bottom_db)[0]
        if above.size == 0 or below.size == 0 or below[0] - above[0] < 8:
            continue
        slope_db_per_s, _ = np.polyfit(t_s[above[0] : below[0]], edc_db[above[0] : below[0]], 1)
        if slope_db_per_s < 0.0:
            return float(-60.0 / slope_db_per_s)
    return float("nan")


def _drr_db(joined: np.ndarray, n_noise: int, fs: int) -> float:
    energy = joined**2
    guard = int(_GUARD_S * fs)
    noise = float(np.mean(energy[: max(1, n_noise - guard)]))
    causal = energy[n_noise:]
    peak = int(np.argmax(np.abs(joined[n_noise : n_noise + int(0.1 * fs)])))
    half = int(round(_DIRECT_WINDOW_S * fs))
    lo, hi = max(0, peak - half), peak + half + 1
    stop = peak + _truncation(causal[peak:], noise, fs)
    compensated = np.clip(causal[:stop] - noise, 0.0, None)
    direct = float(np.sum(compensated[lo:hi]))
    rest = float(np.sum(compensated) - direct)
    return float(10.0 * np.log10(max(direct, 1e-30) / max(rest, 1e-30)))


def _truncation(energy: np.ndarray, noise: float, fs: int) -> int:
    """Where the smoothed envelope first comes within ``_TRUNCATE_ABOVE_FLOOR_DB`` of the floor.

    The first crossing, not the last: the floor's own envelope fluctuates by a few dB, so "never
    again above" would run on to the end of the noise.
    """
    width = max(1, int(_ENVELOPE_S * fs))
    cumulative = np.concatenate([[0.0], np.cumsum(energy)])
    lo = np.clip(np.arange(energy.size) - width // 2, 0, energy.size)
    hi = np.clip(lo + width, 0, energy.size)
    envelope = (cumulative[hi] - cumulative[lo]) / width
    hits = np.nonzero(envelope[width:] < noise * 10.0 ** (_TRUNCATE_ABOVE_FLOOR_DB / 10.0))[0]
    stop = int(hits[0]) + width if hits.size else energy.size
    return min(energy.size, max(stop, width))


def _fractional_octave_smooth(power: np.ndarray, fs: int, nfft: int) -> np.ndarray:
    freqs = np.arange(power.size) * fs / nfft
    cumulative = np.concatenate([[0.0], np.cumsum(power)])
    half = 2.0 ** (_SMOOTH_OCTAVES / 2.0)
    lo = np.searchsorted(freqs, freqs / half)
    hi = np.maximum(np.searchsorted(freqs, freqs * half, side="right"), lo + 1)
    return (cumulative[hi] - cumulative[lo]) / (hi - lo)


def _mono(x: np.ndarray) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    return a.mean(axis=1) if a.ndim == 2 else a


def _solve(
    cross: np.ndarray,
    spectrum_x: np.ndarray,
    power: np.ndarray,
    smoothed: np.ndarray,
    extra: np.ndarray,
    keep: np.ndarray,
    nfft: int,
    max_lag: int,
    noise_lags: int,
    n_out: int,
    fs: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One regularised division: (causal response, acausal lags, predicted reverberant speech)."""
    h = np.fft.irfft(np.where(keep, cross / (power + REGULARISATION * smoothed + extra), 0.0), nfft)
    causal, acausal = h[:max_lag].copy(), h[nfft - noise_lags :].copy()

    # Prediction: light regularisation, response cut at the decay's end (see module docstring).
    h_fit = np.fft.irfft(np.where(keep, cross / (power + PREDICTION_REGULARISATION * smoothed + extra), 0.0), nfft)
    energy = np.concatenate([acausal, causal]) ** 2
    noise = float(np.mean(energy[: max(1, noise_lags - int(_GUARD_S * fs))]))
    peak = int(np.argmax(np.abs(causal[: int(0.1 * fs)])))
    stop = peak + _truncation(energy[noise_lags + peak :], noise, fs)
    stop = min(max_lag, max(stop, int(_MIN_PREDICTION_S * fs)))
    cut = np.zeros(nfft)
    cut[:stop] = h_fit[:stop]
    pre = int(_PREDICTION_ACAUSAL_S * fs)
    cut[nfft - pre :] = h_fit[nfft - pre :]
    predicted = np.fft.irfft(spectrum_x * np.fft.rfft(cut), nfft)[:n_out]
    return causal, acausal, predicted
