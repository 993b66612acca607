"""Samplers: small stateful objects the pipeline drives, diffusers-style.

    sampler.set_timesteps(num_steps)
    for t in sampler.timesteps:
        sample = sampler.step(model(sample, t), t, sample)

Both take epsilon predictions. Timesteps are spaced evenly from the noisiest training
step (T - 1) down, and the last step lands on clean data (alpha_bar = 1), so a perfect
noise prediction recovers x_0 exactly -- the property the oracle tests check.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from engine.diffusion.config import DiffusionConfig
from engine.diffusion.schedule import NoiseSchedule


def spaced_timesteps(num_train_timesteps: int, num_steps: int) -> Tensor:
    """num_steps distinct timesteps from T - 1 downwards ('trailing' spacing: starts at pure noise)."""
    if not isinstance(num_steps, int) or isinstance(num_steps, bool) or not 1 <= num_steps < num_train_timesteps:
        raise ValueError(f"num_steps must be an int in [1, {num_train_timesteps - 1}], got {num_steps!r}")
    grid = torch.linspace(0, num_train_timesteps - 1, num_steps + 1, dtype=torch.float64).round().long()
    return grid.flip(0)[:-1].clone()


class _Sampler:
    """``clip_x0`` bounds each step's x0 prediction (and re-derives the noise from it).

    Why: at the noisiest steps alpha_bar_t is ~1e-4, so x0 = (x_t - sigma eps) / alpha amplifies
    the network's epsilon error ~80x; a small, briefly trained model then sends the first x0
    guesses far outside the latent distribution and the trajectory never recovers (the shipped
    tiny model's latents ended at std 4.3 against the data's 0.8). Clipping to the range of the
    training latents (``VAEConfig.latent_clip``) is Imagen/diffusers' "static thresholding".
    """

    default_num_steps: int = 50

    def __init__(self, schedule: NoiseSchedule | DiffusionConfig | None = None, clip_x0: float | None = None) -> None:
        self.schedule = schedule if isinstance(schedule, NoiseSchedule) else NoiseSchedule(schedule)
        if clip_x0 is not None and not clip_x0 > 0:
            raise ValueError(f"clip_x0 must be positive or None, got {clip_x0}")
        self.clip_x0 = clip_x0
        self.timesteps: Tensor = torch.zeros(0, dtype=torch.long)
        self._index: dict[int, int] = {}

    @property
    def num_steps(self) -> int:
        return int(self.timesteps.numel())

    def set_timesteps(self, num_steps: int) -> None:
        self.timesteps = spaced_timesteps(self.schedule.num_train_timesteps, num_steps)
        self._index = {int(t): i for i, t in enumerate(self.timesteps)}

    def _position(self, timestep: Tensor | int) -> tuple[int, int]:
        """(index of this timestep, the timestep it steps to; -1 means clean data)."""
        if not self._index:
            raise RuntimeError("call set_timesteps(num_steps) before step()")
        t = int(timestep)
        if t not in self._index:
            raise ValueError(f"timestep {t} is not one of this sampler's timesteps")
        i = self._index[t]
        return i, int(self.timesteps[i + 1]) if i + 1 < self.num_steps else -1

    def _x0_eps(self, model_output: Tensor, sample: Tensor, alpha: float, sigma: float) -> tuple[Tensor, Tensor]:
        """(x0, eps) from an epsilon prediction, x0 clipped to ``clip_x0`` and eps made consistent."""
        x0 = (sample - sigma * model_output) / alpha
        if self.clip_x0 is None:
            return x0, model_output
        clipped = x0.clamp(-self.clip_x0, self.clip_x0)
        return clipped, (sample - alpha * clipped) / sigma


class DDIMSampler(_Sampler):
    """DDIM (Song et al. 2021). eta = 0 is deterministic; eta = 1 matches DDPM's variance.

    AudioLDM and the stylizer paper sample with 200 DDIM steps.
    """

    default_num_steps = 200

    def __init__(self, schedule: NoiseSchedule | DiffusionConfig | None = None, eta: float = 0.0,
                 clip_x0: float | None = None) -> None:
        super().__init__(schedule, clip_x0)
        if not 0.0 <= eta <= 1.0:
            raise ValueError(f"eta must be in [0, 1], got {eta}")
        self.eta = eta

    def step(self, model_output: Tensor, timestep: Tensor | int, sample: Tensor,
             generator: torch.Generator | None = None) -> Tensor:
        _, prev = self._position(timestep)
        alpha_t, sigma_t = self.schedule.alpha_sigma(int(timestep))
        alpha_prev, sigma_prev = self.schedule.alpha_sigma(prev)
        x0, model_output = self._x0_eps(model_output, sample, alpha_t, sigma_t)
        # Stochastic part: sigma_eta^2 = eta^2 (1 - a_prev)/(1 - a_t) (1 - a_t/a_prev), in alpha_bar terms.
        noise_std = self.eta * (sigma_prev / sigma_t) * math.sqrt(max(0.0, 1.0 - (alpha_t / alpha_prev) ** 2))
        direction = math.sqrt(max(0.0, sigma_prev ** 2 - noise_std ** 2))
        prev_sample = alpha_prev * x0 + direction * model_output
        if noise_std > 0.0:
            noise = torch.randn(sample.shape, generator=generator, dtype=sample.dtype,
                                device=generator.device if generator is not None else sample.device)
            prev_sample = prev_sample + noise_std * noise.to(sample.device)
        return prev_sample


class DPMSolverPP2MSampler(_Sampler):
    """DPM-Solver++(2M) (Lu et al. 2022), data-prediction multistep, midpoint variant.

    The epsilon prediction is turned into x_0; each step extrapolates x_0 linearly in
    lambda = log(alpha / sigma) from the previous step's x_0. The first step and the last
    (onto clean data, where lambda is infinite) are first order. 20-25 steps match 200 DDIM.
    """

    default_num_steps = 25

    def set_timesteps(self, num_steps: int) -> None:
        super().set_timesteps(num_steps)
        self._previous: tuple[int, Tensor] | None = None  # (timestep, x0 prediction) of the last step
        self._expected_index = 0

    def step(self, model_output: Tensor, timestep: Tensor | int, sample: Tensor,
             generator: torch.Generator | None = None) -> Tensor:
        i, target = self._position(timestep)
        s = int(timestep)
        if i != self._expected_index:
            due = int(self.timesteps[self._expected_index]) if self._expected_index < self.num_steps else None
            raise ValueError(f"DPM-Solver++ is multistep: timesteps must be taken in order; "
                             f"got timestep {s} where {due} was due (call set_timesteps to restart)")
        self._expected_index = i + 1
        alpha_s, sigma_s = self.schedule.alpha_sigma(s)
        x0, _ = self._x0_eps(model_output, sample, alpha_s, sigma_s)
        previous, self._previous = self._previous, (s, x0)
        if target < 0:
            return x0
        alpha_t, sigma_t = self.schedule.alpha_sigma(target)
        lam_s, lam_t = math.log(alpha_s / sigma_s), math.log(alpha_t / sigma_t)
        h = lam_t - lam_s
        denoised = x0
        if previous is not None:
            alpha_p, sigma_p = self.schedule.alpha_sigma(previous[0])
            r = (lam_s - math.log(alpha_p / sigma_p)) / h
            denoised = (1.0 + 0.5 / r) * x0 - (0.5 / r) * previous[1]
        return (sigma_t / sigma_s) * sample - alpha_t * math.expm1(-h) * denoised
