"""Ambience spectrum against the truth of the ambience component; EQ recovers a known tilt."""

from __future__ import annotations

import numpy as np
from scipy.signal import butter, sosfilt

from engine.scene import analyse_reference
from engine.scene.profile import THIRD_OCTAVE_BANDS_HZ
from engine.scene.spectrum import colouration_eq_db, ltass_db, third_octave_levels_db
from tests.scene.scenes import MALE, make_scene
from engine.kit.speech import speech_source

BANDS = np.asarray(THIRD_OCTAVE_BANDS_HZ)


def test_ambience_spectrum_matches_truth() -> None:
    scene = make_scene(0.4, 48000, seconds=25.0, seed=21, ambience="river", snr_db=15.0)
    result = analyse_reference(scene.mix, 48000)
    truth = third_octave_levels_db(scene.ambience[:, 0], 48000)
    est = np.asarray(result.profile.ambience_spectrum_db)
    band = (BANDS >= 100) & (BANDS <= 10000)
    mad = float(np.mean(np.abs(est[band] - truth[band])))
    assert mad <= 3.0, (np.round(est[band] - truth[band], 1))
    assert result.ambience_excerpt.shape[1] == 1


def _high_shelf(x: np.ndarray, rate: int, gain_db: float, corner_hz: float = 3000.0) -> np.ndarray:
    sos = butter(2, corner_hz, btype="highpass", fs=rate, output="sos")
    return (x + (10 ** (gain_db / 20) - 1) * sosfilt(sos, x, axis=0)).astype(np.float32)


def test_eq_recovers_high_shelf() -> None:
    rate = 48000
    dry = speech_source(20.0, rate, np.random.default_rng(5), MALE)
    plain = make_scene(0.5, rate, seed=5, ambience="rain", snr_db=25.0, dry=dry)
    bright = make_scene(0.5, rate, seed=5, ambience="rain", snr_db=25.0, dry=_high_shelf(dry, rate, 6.0))
    eq_plain = np.asarray(analyse_reference(plain.mix, rate).profile.eq_gain_db)
    eq_bright = np.asarray(analyse_reference(bright.mix, rate).profile.eq_gain_db)
    high = (BANDS >= 5000) & (BANDS <= 10000)
    delta = eq_bright[high] - eq_plain[high]
    assert np.all(delta > 2.5), np.round(delta, 1)
    assert np.mean(delta) > 4.0, np.round(delta, 1)
    assert np.all(np.abs(eq_bright) <= 12.0)


def test_eq_of_ltass_is_flat() -> None:
    assert np.allclose(colouration_eq_db(ltass_db()), 0.0, atol=1e-9)
