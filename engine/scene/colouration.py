"""The colouration EQ from the learned room response: only what the estimate supports.

The old EQ was "reference speech spectrum minus a generic speech spectrum": it carried the
reference talker's voice into the line and cut every band where the reference simply had no
energy (espeak references stop near 10.5 kHz, so every factory preset took 9-13 dB off the top).
Now the estimator predicts the room-and-mic response per third octave (trained across many
voices, so not the talker's), and the EQ is what that response adds beyond what the renderer's
synthesised impulse response already gives (its band decays colour the tail): EQ = estimated
response - synthesised response. Each band is shrunk towards neutral by its uncertainty, and a
band without energy in the reference is left at 0 dB -- never cut.
"""

from __future__ import annotations

import numpy as np

from engine.scene.profile import THIRD_OCTAVE_BANDS_HZ, SceneProfile
from engine.scene.spectrum import EQ_LIMIT_DB

PRIOR_STD_DB = 3.0  # how far real rooms' colour typically strays from flat, per band
NO_ENERGY_BELOW_PEAK_DB = 50.0  # a band this far under the reference's loudest band holds no evidence
REFERENCE_BAND_HZ = (250.0, 4000.0)


def supported_bands(levels_db: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """Per THIRD_OCTAVE band: does the reference carry energy there (below Nyquist, above the floor)?

    Above the first unsupported band over 4 kHz nothing counts (a codec or resampler cut-off:
    what is left above it is leakage, not the room).
    """
    level = np.asarray(levels_db, dtype=np.float64)
    bands = np.asarray(THIRD_OCTAVE_BANDS_HZ)
    ok = (bands * 2 ** (1 / 6) <= 0.5 * sample_rate_hz) & (level > np.max(level) - NO_ENERGY_BELOW_PEAK_DB)
    # A steep drop (> 15 dB between neighbouring bands) above 4 kHz marks a band limit.
    for k in range(1, bands.size):
        if bands[k] > 4000.0 and level[k] < level[k - 1] - 15.0:
            ok[k:] = False
            break
    high = np.nonzero((bands > 4000.0) & ~ok)[0]
    if high.size:
        ok[high[0]:] = False
    return ok


def synthesised_response_db(profile: SceneProfile, sample_rate_hz: int = 48000) -> np.ndarray:
    """Third-octave response of the renderer's own impulse response for ``profile`` (flat EQ)."""
    from dataclasses import replace

    from engine.kit.acoustics import third_octave_response_db
    from engine.match.impulse_response import synthesise_ir

    flat = replace(profile, eq_gain_db=(0.0,) * len(profile.eq_bands_hz))
    ir = synthesise_ir(flat, sample_rate_hz, 1, seed=0)
    return third_octave_response_db(ir.full[:, 0], sample_rate_hz, THIRD_OCTAVE_BANDS_HZ, REFERENCE_BAND_HZ)


def room_eq_db(
    response_db: np.ndarray, response_std_db: np.ndarray, supported: np.ndarray, synthesised_db: np.ndarray
) -> np.ndarray:
    """EQ per THIRD_OCTAVE band: (estimated - synthesised) response, shrunk by uncertainty,
    0 where unsupported, re-centred over 250 Hz-4 kHz and limited to +-EQ_LIMIT_DB."""
    n = len(THIRD_OCTAVE_BANDS_HZ)
    resp = _fit(response_db, n)
    std = _fit(response_std_db, n, fill=1e3)
    synth = np.nan_to_num(np.asarray(synthesised_db, dtype=np.float64), nan=0.0)
    shrink = PRIOR_STD_DB**2 / (PRIOR_STD_DB**2 + std**2)
    eq = (resp - synth) * shrink
    eq[~np.asarray(supported, dtype=bool)] = 0.0
    bands = np.asarray(THIRD_OCTAVE_BANDS_HZ)
    mid = (bands >= REFERENCE_BAND_HZ[0]) & (bands <= REFERENCE_BAND_HZ[1]) & supported
    if mid.any():
        eq[supported] -= eq[mid].mean()
    return np.clip(eq, -EQ_LIMIT_DB, EQ_LIMIT_DB)


def _fit(values: np.ndarray, n: int, fill: float = 0.0) -> np.ndarray:
    """The estimator covers the first bands (to 20 kHz); the rest take ``fill``."""
    v = np.full(n, fill, dtype=np.float64)
    a = np.nan_to_num(np.asarray(values, dtype=np.float64), nan=fill)[:n]
    v[: a.size] = a
    return v
