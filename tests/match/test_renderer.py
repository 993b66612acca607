"""MatchRenderer: exact lengths, streamed convolution equal to one-shot, stems, levels, speed-safe."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import fftconvolve

from engine.audio import integrated_loudness
from engine.match import MatchRenderer, eq_filter, synthesise_ir
from engine.render import SourceInfo, Stems
from engine.settings import Settings
from tests.conftest import ASSETS, hand_profile

SR = 48000


@pytest.fixture(scope="module")
def ambience():
    x, rate = sf.read(ASSETS / "ambience" / "rain.flac", dtype="float32", always_2d=True)
    return x, rate


def _signal(frames: int, channels: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / SR
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2
    return (0.1 * env[:, None] * rng.standard_normal((frames, channels))).astype(np.float32)


def _render(renderer, x: np.ndarray, block: int) -> Stems:
    parts = [renderer.process(x[i : i + block]) for i in range(0, len(x), block)]
    parts.append(renderer.flush())
    for p in parts:
        assert p.dialogue.shape == p.reverb.shape == p.ambience.shape
        assert p.dialogue.dtype == np.float32
    return Stems.concatenate(parts, x.shape[1])


def _make(ambience, settings, channels=2, sr=SR, frames=SR, loudness=-24.0, profile=None):
    src = SourceInfo(sample_rate_hz=sr, channels=channels, frames=frames, loudness_lufs=loudness)
    return MatchRenderer(profile or hand_profile(rt60_s=0.5), ambience[0], ambience[1], settings, src)


@pytest.mark.parametrize("block", [1, 777, 48000, 10**6])
def test_exact_length_and_streamed_equals_one_shot(ambience, block):
    frames = 2 * SR + 123 if block > 1 else 6000
    x = _signal(frames, 2)
    profile = hand_profile(rt60_s=0.5)
    settings = Settings(stems=True, seed=3)
    r = _make(ambience, settings, frames=frames, profile=profile)
    assert r.latency_frames == 0 and callable(r.process) and callable(r.flush)
    out = _render(r, x, block)
    assert len(out) == frames
    ir = synthesise_ir(profile, SR, 2, seed=3)
    eq = eq_filter(profile, SR, 1.0)
    for ch in range(2):
        want_d = fftconvolve(fftconvolve(x[:, ch].astype(np.float64), eq), ir.direct[:, ch])[:frames]
        want_r = fftconvolve(fftconvolve(x[:, ch].astype(np.float64), eq), ir.late[:, ch])[:frames]
        np.testing.assert_allclose(out.dialogue[:, ch], r.speech_gain * want_d, atol=1e-5)
        np.testing.assert_allclose(out.reverb[:, ch], r.speech_gain * want_r, atol=1e-5)


def test_mix_only_path_equals_sum_of_stems(ambience):
    x = _signal(3 * SR, 2)
    a = _render(_make(ambience, Settings(stems=True, seed=1), frames=len(x)), x, SR)
    b = _render(_make(ambience, Settings(stems=False, seed=1), frames=len(x)), x, SR)
    np.testing.assert_allclose(b.mix, a.mix, atol=1e-5)
    assert not np.any(b.reverb)
    np.testing.assert_array_equal(a.ambience, b.ambience)
    np.testing.assert_array_equal(a.mix, a.dialogue + a.reverb + a.ambience)  # stems sum to mix


def test_deterministic_by_seed(ambience):
    x = _signal(SR, 2)
    a = _render(_make(ambience, Settings(stems=True, seed=5)), x, 4000)
    b = _render(_make(ambience, Settings(stems=True, seed=5)), x, 10000)
    c = _render(_make(ambience, Settings(stems=True, seed=6)), x, 4000)
    np.testing.assert_allclose(a.mix, b.mix, atol=1e-6)
    np.testing.assert_array_equal(a.ambience, b.ambience)
    assert not np.allclose(a.reverb, c.reverb, atol=1e-4)


@pytest.mark.parametrize("channels", [1, 2, 6])
@pytest.mark.parametrize("sr", [16000, 48000, 96000])
def test_channels_and_rates(ambience, channels, sr):
    frames = sr + 5
    x = _signal(frames, channels)
    r = _make(ambience, Settings(stems=True), channels=channels, sr=sr, frames=frames, profile=hand_profile(rt60_s=0.3))
    out = _render(r, x, 7919)
    assert out.mix.shape == (frames, channels)
    assert np.all(np.isfinite(out.mix)) and np.any(out.reverb) and np.any(out.ambience)


def test_trim_raises_ambience_and_wet_raises_reverb(ambience):
    x = _signal(2 * SR, 2)
    base = _render(_make(ambience, Settings(stems=True)), x, SR)
    trim = _render(_make(ambience, Settings(stems=True, trim_db=6.0)), x, SR)
    wet = _render(_make(ambience, Settings(stems=True, wet_db=-6.0)), x, SR)
    np.testing.assert_allclose(trim.ambience, base.ambience * 10 ** (6 / 20), rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(wet.reverb, base.reverb * 10 ** (-6 / 20), atol=1e-5)
    np.testing.assert_allclose(wet.dialogue, base.dialogue, atol=1e-6)


@pytest.mark.parametrize("rt60_s", [0.3, 2.5])
def test_ambience_sits_at_the_scene_ratio_below_the_restyled_speech(ambience, rt60_s):
    """The ratio was measured against reverberant speech, so it must hold against the output's."""
    from engine.kit.speech import alsa_voice

    profile = replace(hand_profile(rt60_s=rt60_s, drr_db=-8.0), ambience_to_speech_db=-15.0)
    x = np.repeat(alsa_voice(SR), 2, axis=1)
    lufs_in = integrated_loudness(x, SR)
    out = _render(_make(ambience, Settings(stems=True), frames=len(x), loudness=lufs_in, profile=profile), x, 2 * SR)
    ratio = integrated_loudness(out.ambience, SR) - integrated_loudness(out.dialogue + out.reverb, SR)
    assert ratio == pytest.approx(-15.0, abs=0.5)


def test_silent_dialogue_gets_ambience_at_typical_speech_level(ambience):
    profile = replace(hand_profile(rt60_s=0.3, drr_db=10.0), ambience_to_speech_db=-15.0)
    x = np.zeros((12 * SR, 2), np.float32)
    out = _render(_make(ambience, Settings(stems=True), frames=len(x), loudness=-80.0, profile=profile), x, 2 * SR)
    assert integrated_loudness(out.ambience, SR) == pytest.approx(-24.0 - 15.0, abs=1.0)


def test_flat_eq_keeps_dialogue_a_pure_gain(ambience):
    x = _signal(SR, 1)
    r = _make(ambience, Settings(stems=True, eq_amount=0.0), channels=1)
    out = _render(r, x, 5000)
    gain = float(np.dot(out.dialogue[:, 0], x[:, 0]) / np.dot(x[:, 0], x[:, 0]))
    assert 0.05 < gain <= 1.0
    np.testing.assert_allclose(out.dialogue, gain * x, atol=1e-6)


@pytest.mark.parametrize("rt60_s, drr_db", [(0.3, 6.0), (3.0, -12.0)])
def test_restyled_speech_keeps_the_dry_loudness(ambience, rt60_s, drr_db):
    """A church must not make the line louder (or clip): levels stay where the editor set them."""
    from engine.kit.speech import alsa_voice

    x = alsa_voice(SR)
    lufs_in = integrated_loudness(x, SR)
    profile = hand_profile(rt60_s=rt60_s, drr_db=drr_db)
    out = _render(_make(ambience, Settings(stems=True), channels=1, frames=len(x), loudness=lufs_in,
                        profile=profile), x, SR)
    assert integrated_loudness(out.dialogue + out.reverb, SR) == pytest.approx(lufs_in, abs=0.5)


def test_rejects_wrong_channel_count(ambience):
    r = _make(ambience, Settings(), channels=2)
    with pytest.raises(ValueError):
        r.process(np.zeros((10, 3), np.float32))
