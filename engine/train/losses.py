"""Losses of the three stages, as plain functions of tensors (no module state, no randomness).

VAE (LDM/AudioLDM recipe): per-element L1 on the log-mel + ``kl_weight`` x KL, with the KL summed
over latent cells and divided by the number of mel cells -- the same ratio as LDM's "sum over
pixels, weight 1e-6"; after a warm-up, a hinge PatchGAN term and discriminator feature matching.
Vocoder (Vocos/HiFi-GAN recipe): multi-resolution STFT (spectral convergence + log magnitude)
plus 45 x mel L1. LDM: MSE between true and predicted noise.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

# (n_fft, hop, win) at 16 kHz: ~16 / 64 / 128 ms windows, the Parallel WaveGAN set scaled to 16 kHz.
STFT_RESOLUTIONS: tuple[tuple[int, int, int], ...] = ((256, 64, 256), (512, 128, 512), (1024, 256, 1024))
MEL_LOSS_WEIGHT = 45.0  # HiFi-GAN / Vocos


def vae_reconstruction(recon: Tensor, mel: Tensor) -> Tensor:
    return (recon - mel).abs().mean()


def vae_kl(kl_per_example: Tensor, mel: Tensor) -> Tensor:
    """KL per example (summed over latent cells) averaged over the batch, per mel cell."""
    return kl_per_example.mean() / mel[0].numel()


def hinge_discriminator(logits_real: Tensor, logits_fake: Tensor) -> Tensor:
    return 0.5 * (F.relu(1.0 - logits_real).mean() + F.relu(1.0 + logits_fake).mean())


def hinge_generator(logits_fake: Tensor) -> Tensor:
    return -logits_fake.mean()


def feature_matching(features_real: list[Tensor], features_fake: list[Tensor]) -> Tensor:
    """Mean L1 between discriminator features of real (detached) and generated inputs, per layer."""
    return sum((fr.detach() - ff).abs().mean() for fr, ff in zip(features_real, features_fake)) / len(features_real)


def _magnitude(wave: Tensor, n_fft: int, hop: int, win: int) -> Tensor:
    window = torch.hann_window(win, device=wave.device, dtype=wave.dtype)
    spec = torch.stft(wave, n_fft, hop_length=hop, win_length=win, window=window, return_complex=True)
    return spec.abs().clamp(min=1e-7)


def multi_resolution_stft(fake: Tensor, real: Tensor,
                          resolutions: tuple[tuple[int, int, int], ...] = STFT_RESOLUTIONS) -> Tensor:
    """Mean over resolutions of spectral convergence + L1 of log magnitudes."""
    total = fake.new_zeros(())
    for n_fft, hop, win in resolutions:
        mf, mr = _magnitude(fake, n_fft, hop, win), _magnitude(real, n_fft, hop, win)
        sc = torch.linalg.norm(mr - mf, dim=(1, 2)) / torch.linalg.norm(mr, dim=(1, 2)).clamp(min=1e-7)
        total = total + sc.mean() + (mr.log() - mf.log()).abs().mean()
    return total / len(resolutions)


def mel_l1(fake_log_mel: Tensor, real_log_mel: Tensor) -> Tensor:
    return (fake_log_mel - real_log_mel).abs().mean()


def epsilon_mse(predicted: Tensor, noise: Tensor) -> Tensor:
    return F.mse_loss(predicted, noise)
