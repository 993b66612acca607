"""End-to-end analysis, rejections, progress and cancellation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from engine.audio.loudness import integrated_loudness
from engine.errors import AnalysisError, Cancelled
from engine.kit._assets import asset_dir
from engine.kit.rooms import random_room
from engine.kit.scene import SceneSpec, render_scene
from engine.kit.speech import Speaker, espeak_available
from engine.progress import CancelToken
from engine.scene import SceneProfile, analyse_reference

MALE = Speaker("en+m3", 45, 160)


def _scene(rt60_s: float, rate: int, seconds: float, seed: int, ambience: str, snr_db: float):
    """A kit scene in a room drawn with a mid-band RT60 of ``rt60_s``, one voice."""
    room = random_room(np.random.default_rng(seed), (rt60_s, rt60_s * 1.001))
    return render_scene(SceneSpec(room, ambience, snr_db, seed), seconds, rate, speaker=MALE)


@pytest.fixture(scope="module")
def stereo_scene():
    """A 0.7 s room over a restaurant, two channels: the line on both, over the kit's bed and the
    same bed a second later (decorrelated); analysed once, with its progress events."""
    rec = _scene(0.7, 48000, 20.0, 31, "real:restaurant", 20.0)
    ambience = np.concatenate([rec.ambience, np.roll(rec.ambience, 48000, axis=0)], axis=1)
    events = []
    result = analyse_reference(rec.wet + ambience, 48000, progress=events.append)
    truth_db = integrated_loudness(ambience, 48000) - integrated_loudness(rec.wet, 48000)
    return result, events, truth_db


def test_stereo_scene_gives_valid_profile_and_excerpts(stereo_scene) -> None:
    result, events, _ = stereo_scene
    p = result.profile
    p.validate()
    assert SceneProfile.from_dict(json.loads(json.dumps(p.to_dict()))) == p
    assert result.ambience_excerpt.dtype == np.float32 and result.ambience_excerpt.shape[1] == 2
    assert 1.0 * 48000 <= result.ambience_excerpt.shape[0] <= 20 * 48000
    assert result.reference_excerpt.shape == (10 * 48000, 1)
    assert result.excerpt_sample_rate_hz == 48000
    assert 0.3 < result.speech_fraction < 1.0
    assert [e.kind for e in events] == ["stage"] * len(events) and events[-1].fraction == 1.0
    assert any("separating" in e.message for e in events)


@pytest.mark.xfail(not espeak_available(), strict=True, reason=(
    "without espeak-ng the kit speaks with pitch-shifted alsa clips, and the ambience level of its restaurant "
    "scenes is read up to 12 dB off: this one +12.1 dB, mono renders of seeds 31-34 +11.4, +1.3, -4.0, +8.7 dB "
    "against the rendered truth (the retired test helper's scene, the bed looped from the file's start, read "
    "-21.5..-21.9 for a true -20 on the same seeds, which hid it); with espeak-ng voices it is within 4 dB"))
def test_stereo_scene_ambience_level_matches_the_rendered_truth(stereo_scene) -> None:
    result, _, truth_db = stereo_scene
    assert result.profile.ambience_to_speech_db == pytest.approx(truth_db, abs=4.0)


def test_rejects_short() -> None:
    with pytest.raises(AnalysisError, match="at least 3 s"):
        analyse_reference(np.zeros((2 * 48000, 1), np.float32) + 0.1, 48000)


def test_rejects_silence() -> None:
    with pytest.raises(AnalysisError, match="silent"):
        analyse_reference(np.zeros((5 * 48000, 2), np.float32), 48000)


def test_rejects_nan() -> None:
    x = np.full((5 * 48000, 1), 0.01, np.float32)
    x[1000] = np.nan
    with pytest.raises(AnalysisError, match="NaN"):
        analyse_reference(x, 48000)


def test_rejects_no_speech() -> None:
    x, sr = sf.read(asset_dir("ambience") / "river.flac", dtype="float32", always_2d=True)
    with pytest.raises(AnalysisError, match="no speech"):
        analyse_reference(x[: 8 * sr], sr)


def test_cancel_before_work() -> None:
    token = CancelToken()
    token.cancel()
    rec = _scene(0.5, 16000, 5.0, 1, "real:rain", 20.0)
    with pytest.raises(Cancelled):
        analyse_reference(rec.mix, 16000, cancel=token)
