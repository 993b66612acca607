"""Mel-spectrogram VAE (AudioLDM-style, compression 4) and the patch discriminator that trains it.

The log-mel is treated as a one-channel image (B, 1, mels, frames); each of the
``len(channel_mults) - 1`` levels halves both axes, so (1, 64, 256) -> (8, 16, 64).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.diffusion.config import VAEConfig
from engine.diffusion.models.blocks import Downsample2d, ResBlock2d, SpatialTransformer, Upsample2d, group_norm, \
    pad_to_multiple


class DiagonalGaussian:
    """Posterior q(z|x) = N(mean, exp(logvar)); logvar is clamped so exp() never overflows early in training."""

    def __init__(self, moments: Tensor) -> None:
        self.mean, logvar = moments.chunk(2, dim=1)
        self.logvar = logvar.clamp(-30.0, 20.0)
        self.std = torch.exp(0.5 * self.logvar)

    def sample(self, generator: torch.Generator | None = None) -> Tensor:
        noise = torch.randn(self.mean.shape, generator=generator, dtype=self.mean.dtype,
                            device=generator.device if generator is not None else self.mean.device)
        return self.mean + self.std * noise.to(self.mean.device)

    def mode(self) -> Tensor:
        return self.mean

    def kl(self) -> Tensor:
        """KL to N(0, I) per example, summed over latent cells (the LDM convention)."""
        return 0.5 * (self.mean.square() + self.logvar.exp() - 1.0 - self.logvar).flatten(1).sum(1)


def _mid(channels: int, groups: int, attention: bool) -> nn.ModuleList:
    layers: list[nn.Module] = [ResBlock2d(channels, channels, groups)]
    if attention:
        layers.append(SpatialTransformer(channels, groups, num_heads=1, head_dim=channels))
    layers.append(ResBlock2d(channels, channels, groups))
    return nn.ModuleList(layers)


class _Encoder(nn.Module):
    def __init__(self, c: VAEConfig) -> None:
        super().__init__()
        widths = [c.base_channels * m for m in c.channel_mults]
        self.conv_in = nn.Conv2d(c.in_channels, widths[0], 3, padding=1)
        layers: list[nn.Module] = []
        prev = widths[0]
        for level, width in enumerate(widths):
            for _ in range(c.num_res_blocks):
                layers.append(ResBlock2d(prev, width, c.norm_groups))
                prev = width
            if level < len(widths) - 1:
                layers.append(Downsample2d(width))
        self.down = nn.Sequential(*layers)
        self.mid = _mid(prev, c.norm_groups, c.mid_attention)
        self.norm_out = group_norm(prev, c.norm_groups)
        self.conv_out = nn.Conv2d(prev, 2 * c.latent_channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        h = self.down(self.conv_in(x))
        for layer in self.mid:
            h = layer(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class _Decoder(nn.Module):
    def __init__(self, c: VAEConfig) -> None:
        super().__init__()
        widths = [c.base_channels * m for m in c.channel_mults]
        prev = widths[-1]
        self.conv_in = nn.Conv2d(c.latent_channels, prev, 3, padding=1)
        self.mid = _mid(prev, c.norm_groups, c.mid_attention)
        layers: list[nn.Module] = []
        for level in reversed(range(len(widths))):
            for _ in range(c.num_res_blocks + 1):
                layers.append(ResBlock2d(prev, widths[level], c.norm_groups))
                prev = widths[level]
            if level > 0:
                layers.append(Upsample2d(prev))
        self.up = nn.Sequential(*layers)
        self.norm_out = group_norm(prev, c.norm_groups)
        self.conv_out = nn.Conv2d(prev, c.in_channels, 3, padding=1)

    def forward(self, z: Tensor) -> Tensor:
        h = self.conv_in(z)
        for layer in self.mid:
            h = layer(h)
        return self.conv_out(F.silu(self.norm_out(self.up(h))))


class MelVAE(nn.Module):
    """Log-mel image (B, 1, mels, frames) <-> latent (B, latent_channels, mels/4, frames/4).

    Inputs whose sizes are not multiples of the compression are padded with ``pad_value``
    (silence); ``decode`` returns the padded size and callers crop to the frames they gave.
    Latents here are unscaled; the pipeline multiplies by ``config.latent_scale`` for diffusion.
    """

    def __init__(self, config: VAEConfig | None = None) -> None:
        super().__init__()
        self.config = config or VAEConfig()
        self.encoder = _Encoder(self.config)
        self.decoder = _Decoder(self.config)

    def encode(self, mel: Tensor) -> DiagonalGaussian:
        if mel.ndim != 4 or mel.shape[1] != self.config.in_channels:
            raise ValueError(f"mel must be (batch, {self.config.in_channels}, mels, frames), got {tuple(mel.shape)}")
        padded = pad_to_multiple(mel, self.config.downsample_factor, self.config.pad_value)
        return DiagonalGaussian(self.encoder(padded))

    def decode(self, latent: Tensor) -> Tensor:
        return self.decoder(latent)

    def forward(self, mel: Tensor, sample_posterior: bool = True,
                generator: torch.Generator | None = None) -> tuple[Tensor, DiagonalGaussian]:
        posterior = self.encode(mel)
        z = posterior.sample(generator) if sample_posterior else posterior.mode()
        return self.decode(z)[..., : mel.shape[-2], : mel.shape[-1]], posterior


class PatchDiscriminator(nn.Module):
    """PatchGAN over log-mel images: one real/fake logit per patch, plus the intermediate features
    that the feature-matching loss compares (training lives in engine/train, not here).
    """

    def __init__(self, config: VAEConfig | None = None) -> None:
        super().__init__()
        self.config = config or VAEConfig()
        ch = self.config.disc_channels
        layers: list[nn.Module] = [nn.Sequential(nn.Conv2d(self.config.in_channels, ch, 4, 2, 1), nn.LeakyReLU(0.2))]
        prev = ch
        for n in range(1, self.config.disc_layers):
            out = ch * min(2 ** n, 8)
            stride = 2 if n < self.config.disc_layers - 1 else 1
            layers.append(nn.Sequential(nn.Conv2d(prev, out, 4, stride, 1), group_norm(out, min(8, out)),
                                        nn.LeakyReLU(0.2)))
            prev = out
        self.layers = nn.ModuleList(layers)
        self.head = nn.Conv2d(prev, 1, 4, 1, 1)

    def forward(self, mel: Tensor) -> tuple[Tensor, list[Tensor]]:
        features: list[Tensor] = []
        h = mel
        for layer in self.layers:
            h = layer(h)
            features.append(h)
        return self.head(h), features
