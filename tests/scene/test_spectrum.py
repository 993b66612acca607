"""Ambience spectrum against the truth of the ambience component; colouration follows the room, not the talker."""

from __future__ import annotations

import numpy as np

from engine.kit.rooms import random_room
from engine.kit.scene import SceneSpec, render_scene
from engine.kit.speech import Speaker
from engine.scene import analyse_reference
from engine.scene.profile import THIRD_OCTAVE_BANDS_HZ
from engine.scene.spectrum import third_octave_levels_db

BANDS = np.asarray(THIRD_OCTAVE_BANDS_HZ)


def test_ambience_spectrum_matches_truth() -> None:
    room = random_room(np.random.default_rng(21), (0.4, 0.4 * 1.001))
    scene = render_scene(SceneSpec(room, "real:river", 15.0, 21), 25.0, 48000, speaker=Speaker("en+m3", 45, 160))
    result = analyse_reference(scene.mix, 48000)
    truth = third_octave_levels_db(scene.ambience[:, 0], 48000)
    est = np.asarray(result.profile.ambience_spectrum_db)
    band = (BANDS >= 100) & (BANDS <= 10000)
    mad = float(np.mean(np.abs(est[band] - truth[band])))
    assert mad <= 3.0, (np.round(est[band] - truth[band], 1))
    assert result.ambience_excerpt.shape[1] == 1


def test_colouration_follows_the_room_not_the_talker() -> None:
    """The old EQ (reference speech minus a generic speech spectrum) carried the reference
    talker's voice into the line. One room heard through four talkers whose own long-term spectra
    differ by 2.5-6 dB RMS must give nearly the same EQ."""
    from engine.kit.rooms import RoomConfig
    from engine.kit.scene import SceneSpec, render_scene

    spec = SceneSpec(RoomConfig(dims_m=(6.0, 4.5, 2.8), source_m=(2.0, 2.0, 1.6), mic_m=(3.5, 2.4, 1.7), rt60_s=0.5),
                     "proc:hvac", 30.0, 4)
    band = (BANDS >= 100) & (BANDS <= 8000)

    def shape_rms(a: np.ndarray) -> float:
        a = a[band] - a[band].mean()
        return float(np.sqrt(np.mean(a**2)))

    eqs, talkers = [], []
    for voice in ("en+m3", "en+f2", "en+f4"):
        rec = render_scene(spec, 15.0, 48000, speaker=voice)
        eqs.append(np.asarray(analyse_reference(rec.mix, 48000).profile.eq_gain_db))
        talkers.append(third_octave_levels_db(rec.dry[:, 0], 48000))
    for i, j in ((0, 1), (0, 2), (1, 2)):
        assert shape_rms(eqs[i] - eqs[j]) < max(1.5, shape_rms(talkers[i] - talkers[j]) / 3), (i, j)
    assert all(np.all(np.abs(eq) <= 12.0) for eq in eqs)


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
