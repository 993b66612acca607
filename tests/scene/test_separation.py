"""DeepFilterNet latency compensation, proven on real speech."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import correlate

from engine.kit._assets import asset_dir
from engine.scene import separation


def _lag(y: np.ndarray, x: np.ndarray) -> int:
    cc = correlate(y, x, mode="full", method="fft")
    return int(np.argmax(cc)) - (x.size - 1)


def test_raw_latency_is_three_hops() -> None:
    assert separation.latency_samples_48k() == 1440


@pytest.mark.parametrize("rate", [48000, 16000])
def test_separated_speech_is_aligned_with_input(rate: int) -> None:
    x, sr = sf.read(asset_dir("speech") / "Front_Center.wav", dtype="float32")
    x = np.concatenate([np.zeros(sr // 10, np.float32), x, np.zeros(sr // 10, np.float32)])
    if rate != sr:
        from engine.audio.resample import resample

        x = resample(x[:, None], sr, rate)[:, 0]
    noisy = x + 0.003 * np.random.default_rng(0).standard_normal(x.size).astype(np.float32)
    sep = separation.separate(noisy, rate, max_total_s=30.0)
    y = np.concatenate(sep.speech)
    assert y.shape == x.shape
    assert abs(_lag(y, x)) <= 2
    # and the speech survived: strongly correlated with the clean input at lag 0
    assert np.dot(y, x) / np.sqrt(np.dot(y, y) * np.dot(x, x)) > 0.9


def test_windows_are_capped_and_spread() -> None:
    wins = separation.choose_windows(600 * 48000, 48000, max_total_s=12.0, window_s=4.0)
    assert sum(w.stop - w.start for w in wins) <= 12 * 48000
    assert wins[0].start == 0 and wins[-1].stop == 600 * 48000


def test_a_separation_does_not_depend_on_what_the_process_separated_before() -> None:
    """A reused DF state carries its recurrent history: analysing the same reference after some
    other separation gave another speech estimate (and on a borderline clip another ambience
    excerpt), so a preset depended on what the GUI or the evaluation had analysed before."""
    x, sr = sf.read(asset_dir("speech") / "Front_Center.wav", dtype="float32")
    rng = np.random.default_rng(1)
    noisy = x + 0.01 * rng.standard_normal(x.size).astype(np.float32)
    first = separation.separate(noisy, sr, max_total_s=30.0)
    separation.enhance_48k(0.1 * rng.standard_normal(3 * 48000).astype(np.float32))  # something else
    again = separation.separate(noisy, sr, max_total_s=30.0)
    for a, b in zip(first.speech, again.speech):
        np.testing.assert_array_equal(a, b)
