"""End-to-end analysis, rejections, progress and cancellation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from engine.errors import AnalysisError, Cancelled
from engine.progress import CancelToken
from engine.scene import SceneProfile, analyse_reference
from tests.scene.scenes import AMBIENCE_DIR, make_scene


def test_stereo_scene_gives_valid_profile_and_excerpts() -> None:
    scene = make_scene(0.7, 48000, seconds=20.0, seed=31, ambience="restaurant", snr_db=20.0, channels=2)
    events = []
    result = analyse_reference(scene.mix, 48000, progress=events.append)
    p = result.profile
    p.validate()
    assert SceneProfile.from_dict(json.loads(json.dumps(p.to_dict()))) == p
    assert result.ambience_excerpt.dtype == np.float32 and result.ambience_excerpt.shape[1] == 2
    assert 1.0 * 48000 <= result.ambience_excerpt.shape[0] <= 20 * 48000
    assert result.reference_excerpt.shape == (10 * 48000, 1)
    assert result.excerpt_sample_rate_hz == 48000
    assert 0.3 < result.speech_fraction < 1.0
    assert p.ambience_to_speech_db == pytest.approx(-20.0, abs=4.0)
    assert [e.kind for e in events] == ["stage"] * len(events) and events[-1].fraction == 1.0
    assert any("separating" in e.message for e in events)


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
    x, sr = sf.read(AMBIENCE_DIR / "river.flac", dtype="float32", always_2d=True)
    with pytest.raises(AnalysisError, match="no speech"):
        analyse_reference(x[: 8 * sr], sr)


def test_cancel_before_work() -> None:
    token = CancelToken()
    token.cancel()
    scene = make_scene(0.5, 16000, seconds=5.0, seed=1)
    with pytest.raises(Cancelled):
        analyse_reference(scene.mix, 16000, cancel=token)
