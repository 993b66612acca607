"""A few optimiser steps on a fixed batch must lower the losses: gradients reach every part that matters."""

from __future__ import annotations

import torch

from engine.diffusion import ConditionEncoder, ConditionEncoderConfig, LatentUNet, MelFrontEnd, MelVAE, \
    NoiseSchedule, UNetConfig, VAEConfig

from .conftest import make_wave


def test_vae_reconstruction_loss_drops() -> None:
    torch.manual_seed(0)
    vae = MelVAE(VAEConfig.named("tiny"))
    mel = MelFrontEnd()(make_wave(0.16, batch=2))[:, None]  # (2, 1, 64, 16)
    opt = torch.optim.Adam(vae.parameters(), lr=2e-3)

    def loss_fn() -> torch.Tensor:
        recon, posterior = vae(mel, generator=torch.Generator().manual_seed(0))
        return (recon - mel).abs().mean() + 1e-6 * posterior.kl().mean()

    with torch.no_grad():
        first = float(loss_fn())
    for _ in range(12):
        opt.zero_grad()
        loss_fn().backward()
        opt.step()
    with torch.no_grad():
        assert float(loss_fn()) < 0.7 * first


def test_unet_epsilon_loss_drops_and_condition_encoder_gets_gradients() -> None:
    torch.manual_seed(0)
    unet = LatentUNet(UNetConfig.named("tiny"))
    encoder = ConditionEncoder(ConditionEncoderConfig(mode="audio"))
    schedule = NoiseSchedule()
    g = torch.Generator().manual_seed(1)
    x0, enhanced = torch.randn(2, 8, 16, 8, generator=g), torch.randn(2, 8, 16, 8, generator=g)
    noise, t = torch.randn(2, 8, 16, 8, generator=g), torch.tensor([100, 700])
    hint = torch.randn(2, 1, 64, 32, generator=g)
    noisy = schedule.add_noise(x0, noise, t)
    opt = torch.optim.Adam([*unet.parameters(), *encoder.parameters()], lr=2e-3)

    def loss_fn() -> torch.Tensor:
        context = encoder(audio_mel=hint, drop_mask=torch.tensor([False, True]))
        return (unet(noisy, enhanced, t, context) - noise).square().mean()

    with torch.no_grad():
        first = float(loss_fn())
    for _ in range(8):
        opt.zero_grad()
        loss_fn().backward()
        opt.step()
    with torch.no_grad():
        assert float(loss_fn()) < 0.8 * first
    assert encoder.null.grad is not None and encoder.null.grad.abs().sum() > 0
    assert encoder.audio_proj.weight.grad.abs().sum() > 0  # type: ignore[union-attr]
