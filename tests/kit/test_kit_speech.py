"""Dry speech: exact lengths, real pauses, determinism, and the no-espeak fallback."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import RoomtoneError
from engine.kit import speech
from engine.kit.speech import Speaker, alsa_voice, espeak_available, espeak_speech, speech_source

FS = 16000
needs_espeak = pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")


def _longest_silence_s(x: np.ndarray) -> float:
    silent = np.abs(x[:, 0]) < 1e-6
    best = run = 0
    for s in silent:
        run = run + 1 if s else 0
        best = max(best, run)
    return best / FS


def test_alsa_voice_is_the_eight_clips_with_pauses() -> None:
    voice = alsa_voice(FS)
    assert voice.ndim == 2 and voice.shape[1] == 1 and voice.dtype == np.float32
    assert 8 * 1.2 * FS < voice.shape[0] < 8 * 2.6 * FS
    np.testing.assert_array_equal(voice, alsa_voice(FS))
    assert _longest_silence_s(voice) >= 0.2


@pytest.fixture
def no_espeak(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(speech, "espeak_available", lambda: False)


def test_fallback_speech_has_exact_length_pauses_and_is_seeded(no_espeak: None) -> None:
    a = speech_source(4.0, FS, np.random.default_rng(1))
    b = speech_source(4.0, FS, np.random.default_rng(1))
    assert a.shape == (4 * FS, 1) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert np.max(np.abs(a)) > 0.05
    assert _longest_silence_s(a) >= 0.2


def test_fallback_speakers_differ(no_espeak: None) -> None:
    low = speech_source(2.0, FS, np.random.default_rng(1), speaker=Speaker("en+m3", 20, 160))
    high = speech_source(2.0, FS, np.random.default_rng(1), speaker=Speaker("en+f2", 80, 160))
    assert not np.array_equal(low, high)


def test_missing_espeak_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(speech, "ESPEAK_BINARY", "espeak-ng-definitely-missing")
    speech._espeak_cached.cache_clear()
    with pytest.raises(RoomtoneError, match="espeak-ng"):
        espeak_speech("hello", sample_rate_hz=FS)
    speech._espeak_cached.cache_clear()


@needs_espeak
def test_espeak_speech_is_trimmed_mono_at_the_requested_rate() -> None:
    x = espeak_speech("The station is closed on Sundays.", voice="en+f2", sample_rate_hz=FS)
    assert x.ndim == 2 and x.shape[1] == 1 and x.dtype == np.float32
    assert 0.8 * FS < x.shape[0] < 4 * FS
    assert np.abs(x[0, 0]) > 0 and np.abs(x[-1, 0]) > 0


@needs_espeak
def test_espeak_speech_source_length_pauses_and_speakers() -> None:
    a = speech_source(3.0, FS, np.random.default_rng(2), speaker="en+m3")
    again = speech_source(3.0, FS, np.random.default_rng(2), speaker="en+m3")
    other = speech_source(3.0, FS, np.random.default_rng(2), speaker="en+f2")
    assert a.shape == (3 * FS, 1)
    np.testing.assert_array_equal(a, again)
    assert not np.array_equal(a, other)
    assert _longest_silence_s(speech_source(6.0, FS, np.random.default_rng(3))) >= 0.2
