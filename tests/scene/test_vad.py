"""silero-vad finds real speech and stays quiet on real ambience."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from engine.kit._assets import asset_dir
from engine.scene import vad


@pytest.mark.parametrize("name", ["Front_Center", "Rear_Left", "Side_Right"])
def test_finds_speech_in_real_clips(name: str) -> None:
    x, sr = sf.read(asset_dir("speech") / f"{name}.wav", dtype="float32")
    x = np.concatenate([np.zeros(sr, np.float32), x, np.zeros(sr, np.float32)])
    segs = vad.speech_segments(x, sr)
    assert segs, "no speech found"
    assert 0.8 < segs[0].start_s < 1.6
    assert sum(s.end_s - s.start_s for s in segs) > 0.4


@pytest.mark.parametrize("name", ["rain", "river", "machine"])
def test_no_speech_in_pure_ambience(name: str) -> None:
    x, sr = sf.read(asset_dir("ambience") / f"{name}.flac", dtype="float32", always_2d=True)
    segs = vad.speech_segments(x[:, 0], sr)
    assert sum(s.end_s - s.start_s for s in segs) < 0.3


def test_batched_streams_match_across_boundaries() -> None:
    # Speech placed across the 8 s stream boundary is still found once, whole.
    x, sr = sf.read(asset_dir("speech") / "Front_Left.wav", dtype="float32")
    sig = np.zeros(12 * sr, np.float32)
    at = int(7.5 * sr)
    sig[at : at + x.size] = x
    segs = vad.speech_segments(sig, sr)
    assert len(segs) >= 1 and segs[0].start_s == pytest.approx(7.5, abs=0.3)


@pytest.mark.parametrize("name", ["rain", "river", "machine", "thunder", "campfire", "birds_exotic", "locomotive"])
def test_reference_fallback_finds_no_speech_in_pure_ambience(name: str) -> None:
    """The lower far-talker hysteresis must still refuse a clip that is only ambience."""
    x, sr = sf.read(asset_dir("ambience") / f"{name}.flac", dtype="float32", always_2d=True)
    assert vad.reference_speech_segments(x[: 60 * sr, 0], sr) == []


def test_far_talker_hysteresis_takes_weak_speech_only_when_it_lasts() -> None:
    """Probabilities of a distant wet talker (0.3-0.45, under silero's 0.5): the default finds
    nothing, the far thresholds find the run; a lone 0.35 window stays below the 1 s minimum."""
    win_s = 512 / 16000
    p = np.full(500, 0.05, np.float32)
    p[100:160] = 0.4  # ~1.9 s of weak speech
    p[300] = 0.35
    assert vad.segments_from_probability(p, p.size * win_s) == []
    far = vad.segments_from_probability(p, p.size * win_s, 0.3, 0.2)
    assert len(far) == 1 and far[0].end_s - far[0].start_s == pytest.approx(60 * win_s, abs=0.1)
