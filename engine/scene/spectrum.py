"""Long-term third-octave spectra and ambience texture statistics.

The colouration EQ no longer comes from here: "reference speech minus a generic speech spectrum"
carried the reference talker's voice into the line; see ``engine.scene.colouration``.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import uniform_filter1d
from scipy.signal import butter, sosfilt
from scipy.stats import skew

from engine.scene.bands import band_edges_hz, band_power
from engine.scene.profile import MODULATION_BANDS_HZ, OCTAVE_BANDS_HZ, THIRD_OCTAVE_BANDS_HZ, AmbienceTexture

EQ_LIMIT_DB = 12.0
LEVEL_FLOOR_DB = -119.0


def third_octave_levels_db(
    mono: np.ndarray, sample_rate_hz: int, frame_mask: np.ndarray | None = None
) -> np.ndarray:
    """Mean band power (dBFS per band) over the frames in ``frame_mask``; bands above Nyquist are
    extrapolated from the slope of the top valid octave (limited to 0..-6 dB per band)."""
    power = band_power(mono, sample_rate_hz, band_edges_hz(THIRD_OCTAVE_BANDS_HZ, 1.0 / 3.0))
    if frame_mask is not None:
        m = frame_mask[: power.shape[0]]
        if m.sum() >= 10:
            power = power[: m.size][m]
    level = 10.0 * np.log10(np.maximum(power.mean(axis=0), 1e-12))
    return extrapolate_above_nyquist(level, sample_rate_hz)


def extrapolate_above_nyquist(level_db: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    level = np.array(level_db, dtype=np.float64)
    upper = np.asarray(THIRD_OCTAVE_BANDS_HZ) * 2 ** (1 / 6)
    valid = upper <= 0.5 * sample_rate_hz
    k = int(np.nonzero(valid)[0][-1]) if valid.any() else 0
    slope = float(np.clip((level[k] - level[max(0, k - 3)]) / 3.0, -6.0, 0.0))
    for j in range(k + 1, level.size):
        level[j] = level[j - 1] + min(slope, -1.0)
    return np.clip(level, LEVEL_FLOOR_DB, 59.0)


def ambience_texture(mono: np.ndarray, sample_rate_hz: int) -> AmbienceTexture:
    """McDermott-Simoncelli-style statistics: per octave band the dB envelope's mean and spread,
    the skew of the compressed (^0.3) envelope, and the envelope's modulation power per octave
    modulation band (averaged over acoustic bands, relative to the envelope's mean power)."""
    if sample_rate_hz > 32000:  # the top octave ends at 11.3 kHz: filter at a cheaper rate
        from engine.audio.resample import resample

        mono = resample(np.asarray(mono, dtype=np.float32)[:, None], sample_rate_hz, 32000)[:, 0]
        sample_rate_hz = 32000
    x = np.asarray(mono, dtype=np.float64)
    env_rate_hz = 400
    means, stds, skews, mod = [], [], [], []
    for centre in OCTAVE_BANDS_HZ:
        lo, hi = centre / 2**0.5, centre * 2**0.5
        if lo >= 0.45 * sample_rate_hz:
            means.append(LEVEL_FLOOR_DB), stds.append(0.0), skews.append(0.0)
            continue
        sos = butter(3, [lo, min(hi, 0.45 * sample_rate_hz)], btype="band", fs=sample_rate_hz, output="sos")
        band = sosfilt(sos, x)
        step = max(1, sample_rate_hz // env_rate_hz)
        env = np.sqrt(uniform_filter1d(band**2, step)[::step] + 1e-20)
        env_db = 20.0 * np.log10(env)
        means.append(float(np.clip(env_db.mean(), LEVEL_FLOOR_DB, 59.0)))
        stds.append(float(env_db.std()))
        skews.append(float(np.nan_to_num(skew(env**0.3))))
        mod.append(_modulation_power(env / max(env.mean(), 1e-12), sample_rate_hz / step))
    mod_db = 10.0 * np.log10(np.maximum(np.mean(mod, axis=0), 1e-12)) if mod else np.full(len(MODULATION_BANDS_HZ), LEVEL_FLOOR_DB)
    return AmbienceTexture(tuple(means), tuple(stds), tuple(skews), tuple(float(v) for v in np.clip(mod_db, LEVEL_FLOOR_DB, 59.0)))


def _modulation_power(env: np.ndarray, env_rate_hz: float) -> np.ndarray:
    spec = np.abs(np.fft.rfft(env - env.mean())) ** 2 / max(env.size, 1) ** 2
    f = np.fft.rfftfreq(env.size, 1.0 / env_rate_hz)
    out = []
    for m in MODULATION_BANDS_HZ:
        sel = (f >= m / 2**0.5) & (f < m * 2**0.5)
        out.append(float(spec[sel].sum()))
    return np.array(out)
