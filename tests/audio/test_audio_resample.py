"""Resampling keeps length proportional, channels separate and pitch unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from engine.audio import resample


def sine(freq_hz: float, rate_hz: int, seconds: float, channels: int = 2) -> np.ndarray:
    t = np.arange(int(rate_hz * seconds)) / rate_hz
    mono = 0.5 * np.sin(2 * np.pi * freq_hz * t)
    return np.stack([mono * (c + 1) / channels for c in range(channels)], axis=1).astype(np.float32)


def peak_hz(x: np.ndarray, rate_hz: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate_hz)[np.argmax(spectrum)])


@pytest.mark.parametrize("from_hz,to_hz", [(48000, 16000), (44100, 48000), (48000, 192000), (96000, 44100)])
def test_length_channels_and_frequency(from_hz: int, to_hz: int) -> None:
    x = sine(1000.0, from_hz, 1.0, channels=2)
    y = resample(x, from_hz, to_hz)
    assert y.dtype == np.float32 and y.ndim == 2 and y.shape[1] == 2
    assert abs(y.shape[0] - x.shape[0] * to_hz / from_hz) <= 1
    for c in range(2):
        assert peak_hz(y[:, c], to_hz) == pytest.approx(1000.0, abs=2.0)
    # channels stay apart: channel 1 is twice channel 0
    mid = slice(y.shape[0] // 4, 3 * y.shape[0] // 4)
    np.testing.assert_allclose(y[mid, 1], 2 * y[mid, 0], atol=1e-4)


def test_identity_when_rates_match() -> None:
    x = sine(440.0, 48000, 0.1)
    np.testing.assert_array_equal(resample(x, 48000, 48000), x)


def test_rejects_one_dimensional_input() -> None:
    with pytest.raises(ValueError):
        resample(np.zeros(100, np.float32), 48000, 16000)
