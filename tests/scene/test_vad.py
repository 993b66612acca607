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
