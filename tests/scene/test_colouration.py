"""The colouration EQ never cuts where the reference has no evidence, and follows the estimate."""

from __future__ import annotations

import numpy as np

from engine.scene.colouration import room_eq_db, supported_bands, synthesised_response_db
from engine.scene.profile import THIRD_OCTAVE_BANDS_HZ
from tests.conftest import hand_profile

BANDS = np.asarray(THIRD_OCTAVE_BANDS_HZ)
N = BANDS.size


def test_band_limited_reference_supports_nothing_above_its_cut_off() -> None:
    level = -20.0 - 0.3 * np.arange(N)
    level[BANDS > 9000] = -95.0  # a 9 kHz low-pass: leakage only
    ok = supported_bands(level, 48000)
    assert ok[(BANDS > 200) & (BANDS < 8000)].all()
    assert not ok[BANDS >= 10000].any()
    # Nyquist of a 16 kHz file: bands whose upper edge passes 8 kHz are unsupported whatever they hold.
    assert not supported_bands(np.full(N, -20.0), 16000)[BANDS >= 8000].any()


def test_eq_is_estimate_minus_synthesised_where_sure_and_neutral_where_not() -> None:
    synth = np.zeros(N)
    resp = np.where(BANDS > 2000, 4.0, 0.0)[:28]
    sure = np.full(28, 0.01)
    ok = np.ones(N, dtype=bool)
    eq = room_eq_db(resp, sure, ok, synth)
    # Re-centred over 250 Hz-4 kHz, so the shelf shows as a 4 dB step between low and high bands.
    assert np.allclose(eq[BANDS >= 5000][:-1] - eq[(BANDS >= 250) & (BANDS <= 1000)].mean(), 4.0, atol=0.05)
    unsure = room_eq_db(resp, np.full(28, 1e3), ok, synth)
    assert np.max(np.abs(unsure)) < 1e-3
    ok[BANDS >= 10000] = False
    assert np.all(room_eq_db(resp, sure, ok, synth)[BANDS >= 10000] == 0.0)


def test_synthesised_response_follows_band_decays() -> None:
    """The renderer's tail rings longer in the bass, so its own response already lifts the bass."""
    p = hand_profile(rt60_s=1.5, drr_db=-6.0)
    r = synthesised_response_db(p)
    assert r[BANDS == 125.0][0] > r[BANDS == 4000.0][0]
