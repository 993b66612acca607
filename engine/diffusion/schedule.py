"""The forward (noising) process: AudioLDM's 1000-step schedule, beta 0.0015 -> 0.0195.

Kept in float64 because samplers take ratios and logs of alphas close to 0 and 1, where
float32 loses the digits that make a 20-step solver exact.
"""

from __future__ import annotations

import torch
from torch import Tensor

from engine.diffusion.config import DiffusionConfig


class NoiseSchedule:
    """betas, alphas_cumprod and the closed-form q(x_t | x_0) used by training and samplers.

    ``beta_schedule='scaled_linear'`` (default) spaces sqrt(beta) linearly -- what LDM and
    AudioLDM's code calls "linear"; ``'linear'`` spaces beta itself linearly.
    """

    def __init__(self, config: DiffusionConfig | None = None) -> None:
        self.config = config or DiffusionConfig()
        c = self.config
        n = c.num_train_timesteps
        if c.beta_schedule == "linear":
            betas = torch.linspace(c.beta_start, c.beta_end, n, dtype=torch.float64)
        else:
            betas = torch.linspace(c.beta_start ** 0.5, c.beta_end ** 0.5, n, dtype=torch.float64) ** 2
        self.betas = betas
        self.alphas = 1.0 - betas
        self.alphas_cumprod = torch.cumprod(self.alphas, dim=0)
        self.sqrt_alphas_cumprod = self.alphas_cumprod.sqrt()
        self.sqrt_one_minus_alphas_cumprod = (1.0 - self.alphas_cumprod).sqrt()

    @property
    def num_train_timesteps(self) -> int:
        return self.config.num_train_timesteps

    def alpha_sigma(self, timestep: int) -> tuple[float, float]:
        """(sqrt(alpha_bar_t), sqrt(1 - alpha_bar_t)) as Python floats; a negative t means clean data (1, 0)."""
        if timestep < 0:
            return 1.0, 0.0
        return float(self.sqrt_alphas_cumprod[timestep]), float(self.sqrt_one_minus_alphas_cumprod[timestep])

    def _gather(self, table: Tensor, timesteps: Tensor, like: Tensor) -> Tensor:
        t = torch.as_tensor(timesteps, device="cpu").long().reshape(-1)
        if t.numel() == 1:
            t = t.expand(like.shape[0])
        if t.shape[0] != like.shape[0]:
            raise ValueError(f"timesteps has {t.shape[0]} entries for a batch of {like.shape[0]}")
        if int(t.min()) < 0 or int(t.max()) >= self.num_train_timesteps:
            raise ValueError(f"timesteps must lie in [0, {self.num_train_timesteps}), got {t.tolist()}")
        return table[t].to(device=like.device, dtype=like.dtype).view(-1, *([1] * (like.ndim - 1)))

    def add_noise(self, clean: Tensor, noise: Tensor, timesteps: Tensor | int) -> Tensor:
        """x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps."""
        if clean.shape != noise.shape:
            raise ValueError(f"clean {tuple(clean.shape)} and noise {tuple(noise.shape)} differ in shape")
        return (self._gather(self.sqrt_alphas_cumprod, timesteps, clean) * clean
                + self._gather(self.sqrt_one_minus_alphas_cumprod, timesteps, clean) * noise)
