"""The U-Net's noise skip keeps x0 guesses at the noisiest steps inside the data range.

Regression for the first shipped tiny model: its eps error at t >= 750 was worse than just
answering eps = x_t, and samplers divide that error by alpha_t (0.012 at t = 999), so sampling
ended at latents of std ~4 against the data's 1 (MODEL_CARD.md, "Diagnosis").
"""

from __future__ import annotations

import pytest
import torch

from engine.diffusion import LatentUNet, NoiseSchedule, StylizerConfig, UNetConfig
from engine.diffusion.config import SIZES

NOISIEST = 999


def _x0(schedule: NoiseSchedule, eps: torch.Tensor, noisy: torch.Tensor, t: int) -> torch.Tensor:
    alpha, sigma = schedule.alpha_sigma(t)
    return (noisy - sigma * eps) / alpha


@pytest.mark.parametrize("size", SIZES)
def test_every_named_size_uses_the_skip(size: str) -> None:
    assert StylizerConfig.named(size).unet.noise_skip


def test_packages_written_before_the_field_load_without_it() -> None:
    data = UNetConfig.named("tiny").to_dict()
    data.pop("noise_skip")
    assert UNetConfig.from_dict(data).noise_skip is False


def test_zero_residual_predicts_the_data_mean_at_the_noisiest_step() -> None:
    """With the residual branch silent the U-Net answers eps = x_t, i.e. x0 ~ 0 at t = 999,
    whatever the input; without the skip the same network answers x0 = x_t / alpha (84 x noise)."""
    schedule = NoiseSchedule()
    g = torch.Generator().manual_seed(0)
    clean, enhanced = torch.randn(2, 8, 16, 16, generator=g), torch.randn(2, 8, 16, 16, generator=g)
    noisy = schedule.add_noise(clean, torch.randn(2, 8, 16, 16, generator=g), NOISIEST)
    context = torch.randn(2, 5, 64, generator=g)
    for skip, bound in ((True, 0.05), (False, None)):
        unet = LatentUNet(UNetConfig(noise_skip=skip)).eval()
        torch.nn.init.zeros_(unet.conv_out.weight)
        torch.nn.init.zeros_(unet.conv_out.bias)
        with torch.no_grad():
            x0 = _x0(schedule, unet(noisy, enhanced, NOISIEST, context), noisy, NOISIEST)
        if bound is not None:
            assert float(x0.abs().max()) < bound
        else:
            assert float(x0.std()) > 50


def test_brief_training_keeps_high_noise_x0_in_range() -> None:
    """A few dozen steps at the paper's rate on 'clean = enhanced' data: with the skip the t = 900
    x0 guess stays about as far from the truth as the data mean is (0.8); without it, 25x that."""
    torch.manual_seed(0)
    schedule = NoiseSchedule()
    g = torch.Generator().manual_seed(1)
    clean = torch.randn(4, 8, 16, 16, generator=g)
    context = torch.zeros(4, 1, 64)
    errors = {}
    for skip in (True, False):
        torch.manual_seed(0)
        unet = LatentUNet(UNetConfig(noise_skip=skip))
        opt = torch.optim.Adam(unet.parameters(), lr=1e-4)  # the paper's rate
        for step in range(30):
            t = torch.randint(0, 1000, (4,), generator=g)
            noise = torch.randn(clean.shape, generator=g)
            loss = (unet(schedule.add_noise(clean, noise, t), clean, t, context) - noise).square().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        unet.eval()
        with torch.no_grad():
            noisy = schedule.add_noise(clean, torch.randn(clean.shape, generator=g), 900)
            x0 = _x0(schedule, unet(noisy, clean, 900, context), noisy, 900)
        errors[skip] = float((x0 - clean).abs().mean())
    assert errors[True] < 1.5 and errors[False] > 10.0, errors
