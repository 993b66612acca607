"""The EQ filter must realise the profile's third-octave curve with no latency."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from engine.match import eq_filter
from engine.scene.profile import THIRD_OCTAVE_BANDS_HZ
from tests.conftest import hand_profile


def _response_db(h, sample_rate_hz, freqs_hz):
    n = 1 << 20
    spec = np.fft.rfft(h, n)
    return 20 * np.log10(np.abs(spec[np.round(np.asarray(freqs_hz) * n / sample_rate_hz).astype(int)]))


@pytest.mark.parametrize("sample_rate_hz", [16000, 44100, 48000, 96000])
@pytest.mark.parametrize("amount", [0.5, 1.0, 2.0])
def test_band_centres_within_1db(sample_rate_hz, amount):
    rng = np.random.default_rng(0)
    profile = replace(hand_profile(), eq_gain_db=tuple(rng.uniform(-6, 6, len(THIRD_OCTAVE_BANDS_HZ))))
    h = eq_filter(profile, sample_rate_hz, amount)
    centres = [b for b in THIRD_OCTAVE_BANDS_HZ if b < sample_rate_hz / 2]
    want = amount * np.asarray(profile.eq_gain_db[: len(centres)])
    np.testing.assert_allclose(_response_db(h, sample_rate_hz, centres), want, atol=1.0)
    assert len(h) == max(64, round(4096 * sample_rate_hz / 48000))


def test_amount_zero_is_identity():
    h = eq_filter(hand_profile(), 48000, 0.0)
    np.testing.assert_array_equal(h, [1.0])


def test_minimum_phase_front_loaded():
    h = eq_filter(hand_profile(), 48000, 1.0)
    energy = np.cumsum(h**2) / np.sum(h**2)
    assert energy[int(0.002 * 48000)] > 0.9  # no pre-ringing, no latency


def test_flat_beyond_range_and_no_boost_above_nyquist():
    gains = np.zeros(len(THIRD_OCTAVE_BANDS_HZ))
    gains[-1] = 12.0  # a 25 kHz band: above a 16 kHz render's Nyquist, must be ignored
    gains[0] = -4.0
    profile = replace(hand_profile(), eq_gain_db=tuple(gains))
    h = eq_filter(profile, 16000, 1.0)
    resp = _response_db(h, 16000, [20.0, 1000.0, 7900.0])
    np.testing.assert_allclose(resp, [-4.0, 0.0, 0.0], atol=0.5)
