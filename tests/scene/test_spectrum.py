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


def test_ambience_level_in_live_rooms_ignores_speech_the_vad_missed() -> None:
    """In 2.5-3 s rooms silero-vad misses reverberant syllables; their "gaps" once set the bed
    16-18 dB too loud (louder than the speech). The level must stay near the truth."""
    from engine.audio.loudness import integrated_loudness
    from engine.kit.rooms import random_room
    from engine.kit.scene import SceneSpec, render_scene

    for seed in (1, 2):
        room = random_room(np.random.default_rng(seed), rt60_range_s=(2.2, 4.0), kind="shoebox")
        rec = render_scene(SceneSpec(room=room, ambience="proc:hvac", snr_db=15.0, seed=seed), 15.0, 48000)
        truth = integrated_loudness(rec.ambience, 48000) - integrated_loudness(rec.wet, 48000)
        est = analyse_reference(rec.mix, 48000).profile.ambience_to_speech_db
        assert abs(est - truth) <= 5.0, (seed, round(est, 1), round(truth, 1))
