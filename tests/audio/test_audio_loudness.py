"""BS.1770 loudness agrees with pyloudnorm and does not depend on how the audio is chunked."""

from __future__ import annotations

import numpy as np
import pyloudnorm as pyln
import pytest

from engine.audio import LoudnessMeter, integrated_loudness
from engine.audio.loudness import k_weighting_sos


def noise(rate_hz: int, seconds: float, channels: int, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal((int(rate_hz * seconds), channels)) * 0.05).astype(np.float32)


def sine(rate_hz: int, seconds: float, amplitude: float = 0.25) -> np.ndarray:
    t = np.arange(int(rate_hz * seconds)) / rate_hz
    return (amplitude * np.sin(2 * np.pi * 997.0 * t)).astype(np.float32)[:, None]


def test_48k_coefficients_match_bs1770() -> None:
    sos = k_weighting_sos(48000)
    np.testing.assert_allclose(sos[0, :3], [1.53512485958697, -2.69169618940638, 1.19839281085285], atol=2e-4)
    np.testing.assert_allclose(sos[0, 4:], [-1.69065929318241, 0.73248077421585], atol=1e-4)
    np.testing.assert_allclose(sos[1], [1.0, -2.0, 1.0, 1.0, -1.99004745483398, 0.99007225036621], atol=1e-12)


@pytest.mark.parametrize("rate_hz", [16000, 44100, 48000])
@pytest.mark.parametrize("channels", [1, 2])
def test_noise_matches_pyloudnorm(rate_hz: int, channels: int) -> None:
    x = noise(rate_hz, 5.0, channels)
    assert integrated_loudness(x, rate_hz) == pytest.approx(pyln.Meter(rate_hz).integrated_loudness(x), abs=0.1)


@pytest.mark.parametrize("rate_hz", [48000, 192000])
def test_sine_matches_pyloudnorm_and_theory(rate_hz: int) -> None:
    x = sine(rate_hz, 3.0)
    ours = integrated_loudness(x, rate_hz)
    assert ours == pytest.approx(pyln.Meter(rate_hz).integrated_loudness(x), abs=0.1)
    assert ours == pytest.approx(20 * np.log10(0.25) - 3.01, abs=0.05)  # 997 Hz sine: -3.01 LUFS at 0 dBFS


def test_gating_ignores_silence_like_pyloudnorm() -> None:
    rate_hz = 48000
    x = np.concatenate([noise(rate_hz, 3.0, 2), np.zeros((rate_hz * 4, 2), np.float32), noise(rate_hz, 2.0, 2, 1) * 0.1])
    ours = integrated_loudness(x, rate_hz)
    assert ours == pytest.approx(pyln.Meter(rate_hz).integrated_loudness(x), abs=0.1)


@pytest.mark.parametrize("rate_hz", [11025, 44100, 48000])
def test_streaming_equals_one_shot(rate_hz: int) -> None:
    x = noise(rate_hz, 4.0, 2) * np.linspace(0.01, 1.0, int(rate_hz * 4.0), dtype=np.float32)[:, None]
    one_shot = integrated_loudness(x, rate_hz)
    rng = np.random.default_rng(9)
    meter = LoudnessMeter(rate_hz, 2)
    pos = 0
    while pos < len(x):
        n = int(rng.integers(1, 9000))
        meter.add(x[pos : pos + n])
        pos += n
    assert meter.integrated_lufs() == pytest.approx(one_shot, abs=1e-9)


def test_silence_and_empty_give_the_floor_not_inf() -> None:
    assert integrated_loudness(np.zeros((48000, 2), np.float32), 48000) == -70.0
    assert integrated_loudness(np.zeros((0, 1), np.float32), 48000) == -70.0
    assert integrated_loudness(np.full((48000, 1), 1e-6, np.float32), 48000) == -70.0
    assert LoudnessMeter(48000, 1).integrated_lufs() == -70.0


def test_clip_shorter_than_a_gating_block_is_still_measured() -> None:
    x = sine(48000, 0.2)
    assert integrated_loudness(x, 48000) == pytest.approx(20 * np.log10(0.25) - 3.01, abs=0.2)


def test_eight_channels_work() -> None:
    x = noise(48000, 1.0, 8)
    assert np.isfinite(integrated_loudness(x, 48000))
