from __future__ import annotations

import math

import pytest
import torch

from engine.diffusion import MelConfig, MelFrontEnd
from engine.diffusion.mel import hz_to_mel_slaney, mel_filterbank, mel_to_hz_slaney

from .conftest import make_wave


def test_paper_clip_gives_256_frames_of_64_mels() -> None:
    mel = MelFrontEnd()(make_wave(2.56))
    assert mel.shape == (1, 64, 256)
    assert torch.isfinite(mel).all()


def test_batched_and_1d_inputs_agree_and_are_deterministic() -> None:
    wave = make_wave(0.5, batch=2)
    front = MelFrontEnd()
    a, b = front(wave), MelFrontEnd()(wave)
    assert torch.equal(a, b)
    assert torch.equal(front(wave[1]), a[1:2])
    assert a.shape == (2, 64, front.num_frames(wave.shape[-1]))


def test_slaney_scale_matches_librosa_reference_points() -> None:
    assert float(hz_to_mel_slaney(torch.tensor(1000.0))) == pytest.approx(15.0)
    assert float(hz_to_mel_slaney(torch.tensor(500.0))) == pytest.approx(7.5)
    assert float(hz_to_mel_slaney(torch.tensor(6400.0))) == pytest.approx(15.0 + 27.0)  # one log-step decade
    hz = torch.tensor([0.0, 300.0, 999.0, 1000.0, 4000.0, 8000.0], dtype=torch.float64)
    assert torch.allclose(mel_to_hz_slaney(hz_to_mel_slaney(hz)), hz)


def test_filterbank_is_slaney_normalised_triangles() -> None:
    config = MelConfig()
    fb = mel_filterbank(config)
    assert fb.shape == (64, 513)
    assert (fb >= 0).all() and (fb.sum(1) > 0).all()
    peaks = fb.argmax(1)
    assert (peaks[1:] >= peaks[:-1]).all()
    bin_hz = config.sample_rate_hz / config.n_fft
    area_hz = fb.sum(1) * bin_hz  # unit area per filter, sampled on the FFT grid
    assert torch.allclose(area_hz[16:], torch.ones(48, dtype=torch.float64), atol=0.02)


def test_a_tone_lands_in_the_band_centred_on_it() -> None:
    config = MelConfig()
    t = torch.arange(16000) / 16000
    mel = MelFrontEnd(config)(torch.sin(2 * math.pi * 1000.0 * t))
    centres_hz = mel_to_hz_slaney(torch.linspace(float(hz_to_mel_slaney(torch.tensor(0.0))),
                                                 float(hz_to_mel_slaney(torch.tensor(8000.0))), 66))[1:-1]
    expected = int((centres_hz - 1000.0).abs().argmin())
    assert abs(int(mel[0, :, 50].argmax()) - expected) <= 1


def test_silence_is_clamped_to_the_log_floor() -> None:
    mel = MelFrontEnd()(torch.zeros(1, 4000))
    assert torch.allclose(mel, torch.full_like(mel, math.log(1e-5)))


def test_rate_is_configurable() -> None:
    config = MelConfig(sample_rate_hz=8000, n_fft=512, hop_length=80, win_length=512, fmax_hz=4000.0)
    assert MelFrontEnd(config)(torch.zeros(8000)).shape == (1, 64, 100)


@pytest.mark.parametrize("kwargs", [{"fmax_hz": 9000.0}, {"hop_length": 0}, {"win_length": 2048}])
def test_bad_config_raises(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        MelConfig(**kwargs)


def test_bad_wave_shape_raises() -> None:
    with pytest.raises(ValueError, match="wave"):
        MelFrontEnd()(torch.zeros(1, 1, 4000))
