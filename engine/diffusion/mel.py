"""Log-mel front end matching AudioLDM's, in pure torch so no audio library is needed at inference.

Filterbank: Slaney mel scale with Slaney (area) normalisation, i.e. librosa's default
``librosa.filters.mel(htk=False, norm='slaney')`` -- the one AudioLDM and HiFi-GAN use, so
mels from this module are interchangeable with theirs.

Framing: the wave is reflect-padded by (n_fft - hop) / 2 on both sides and framed without
centring, which gives exactly ``samples // hop`` frames (2.56 s at 16 kHz -> 256 frames) and
keeps frame k centred on sample k * hop + hop / 2 -- the same "same" framing the vocoder inverts.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from engine.diffusion.config import MelConfig

_F_SP_HZ_PER_MEL = 200.0 / 3.0
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP_HZ_PER_MEL
_LOG_STEP = math.log(6.4) / 27.0


def hz_to_mel_slaney(freq_hz: Tensor) -> Tensor:
    """Slaney's scale: linear below 1 kHz, logarithmic above (librosa with htk=False)."""
    freq_hz = torch.as_tensor(freq_hz, dtype=torch.float64)
    linear = freq_hz / _F_SP_HZ_PER_MEL
    log = _MIN_LOG_MEL + torch.log(torch.clamp(freq_hz, min=_MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOG_STEP
    return torch.where(freq_hz >= _MIN_LOG_HZ, log, linear)


def mel_to_hz_slaney(mel: Tensor) -> Tensor:
    mel = torch.as_tensor(mel, dtype=torch.float64)
    linear = mel * _F_SP_HZ_PER_MEL
    log = _MIN_LOG_HZ * torch.exp(_LOG_STEP * (torch.clamp(mel, min=_MIN_LOG_MEL) - _MIN_LOG_MEL))
    return torch.where(mel >= _MIN_LOG_MEL, log, linear)


def mel_filterbank(config: MelConfig) -> Tensor:
    """(n_mels, n_fft // 2 + 1) triangular filters, float64, Slaney-normalised (each has unit area in Hz)."""
    n_bins = config.n_fft // 2 + 1
    fft_hz = torch.linspace(0.0, config.sample_rate_hz / 2, n_bins, dtype=torch.float64)
    mel_edges = torch.linspace(float(hz_to_mel_slaney(torch.tensor(config.fmin_hz))),
                               float(hz_to_mel_slaney(torch.tensor(config.fmax_hz))),
                               config.n_mels + 2, dtype=torch.float64)
    edges_hz = mel_to_hz_slaney(mel_edges)
    widths_hz = edges_hz[1:] - edges_hz[:-1]
    ramps = edges_hz[:, None] - fft_hz[None, :]
    lower = -ramps[:-2] / widths_hz[:-1, None]
    upper = ramps[2:] / widths_hz[1:, None]
    weights = torch.clamp(torch.minimum(lower, upper), min=0.0)
    return weights * (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]


class MelFrontEnd(nn.Module):
    """Wave (B, samples) or (samples,) at ``config.sample_rate_hz`` -> log-mel (B, n_mels, frames)."""

    def __init__(self, config: MelConfig | None = None) -> None:
        super().__init__()
        self.config = config or MelConfig()
        # Derived from the config, so never saved in checkpoints.
        self.register_buffer("window", torch.hann_window(self.config.win_length, periodic=True), persistent=False)
        self.register_buffer("filterbank", mel_filterbank(self.config).float(), persistent=False)

    @property
    def pad_samples(self) -> int:
        return (self.config.n_fft - self.config.hop_length) // 2

    def num_frames(self, num_samples: int) -> int:
        padded = num_samples + 2 * self.pad_samples
        return (padded - self.config.n_fft) // self.config.hop_length + 1

    def magnitude(self, wave: Tensor) -> Tensor:
        """Linear-magnitude mel (B, n_mels, frames); the log is separate so losses can use either."""
        if wave.ndim == 1:
            wave = wave[None]
        if wave.ndim != 2:
            raise ValueError(f"wave must be (samples,) or (batch, samples), got shape {tuple(wave.shape)}")
        if wave.shape[-1] <= self.pad_samples:
            raise ValueError(f"wave needs more than {self.pad_samples} samples, got {wave.shape[-1]}")
        padded = nn.functional.pad(wave.float()[:, None], (self.pad_samples, self.pad_samples), mode="reflect")[:, 0]
        spec = torch.stft(padded, self.config.n_fft, hop_length=self.config.hop_length,
                          win_length=self.config.win_length, window=self.window, center=False,
                          onesided=True, return_complex=True)
        return torch.matmul(self.filterbank, spec.abs())

    def forward(self, wave: Tensor) -> Tensor:
        return torch.log(torch.clamp(self.magnitude(wave), min=self.config.log_floor))
