"""Schedule and sampler maths. The oracle model returns the exact noise in its input, so a correct
sampler must land on x0 exactly (up to float64 rounding), whatever the step count."""

from __future__ import annotations

import pytest
import torch

from engine.diffusion import DDIMSampler, DiffusionConfig, DPMSolverPP2MSampler, NoiseSchedule
from engine.diffusion.samplers import spaced_timesteps


@pytest.mark.parametrize("kind", ["linear", "scaled_linear"])
def test_schedule_spans_audioldm_betas(kind: str) -> None:
    schedule = NoiseSchedule(DiffusionConfig(beta_schedule=kind))
    assert schedule.betas.shape == (1000,)
    assert float(schedule.betas[0]) == pytest.approx(0.0015)
    assert float(schedule.betas[-1]) == pytest.approx(0.0195)
    assert (schedule.alphas_cumprod[1:] < schedule.alphas_cumprod[:-1]).all()
    assert float(schedule.alphas_cumprod[-1]) < 0.01  # t = 999 is (nearly) pure noise


def test_add_noise_is_the_closed_form_marginal() -> None:
    schedule = NoiseSchedule()
    x0, noise = torch.randn(3, 2, 4, 4), torch.randn(3, 2, 4, 4)
    t = torch.tensor([0, 500, 999])
    xt = schedule.add_noise(x0, noise, t)
    for i, ti in enumerate(t.tolist()):
        a = float(schedule.alphas_cumprod[ti])
        assert torch.allclose(xt[i], a ** 0.5 * x0[i] + (1 - a) ** 0.5 * noise[i], atol=1e-6)
    with pytest.raises(ValueError, match="timesteps"):
        schedule.add_noise(x0, noise, torch.tensor([1000]))


def test_spaced_timesteps_start_at_pure_noise_and_are_distinct() -> None:
    for steps in (1, 20, 25, 200, 999):
        ts = spaced_timesteps(1000, steps)
        assert ts.numel() == steps and int(ts[0]) == 999
        assert (ts[1:] < ts[:-1]).all() and int(ts[-1]) >= 1
    with pytest.raises(ValueError, match="num_steps"):
        spaced_timesteps(1000, 0)
    with pytest.raises(ValueError, match="num_steps"):
        spaced_timesteps(1000, 1000)


def _run_oracle(sampler, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Start at the first timestep's marginal; the 'model' returns the noise actually in its input."""
    torch.manual_seed(0)
    x0 = torch.randn(2, 8, 4, 6, dtype=torch.float64)
    noise = torch.randn_like(x0)
    schedule = sampler.schedule
    sampler.set_timesteps(steps)
    sample = schedule.add_noise(x0, noise, sampler.timesteps[0])
    for t in sampler.timesteps:
        a, s = schedule.alpha_sigma(int(t))
        oracle_eps = (sample - a * x0) / s
        sample = sampler.step(oracle_eps, t, sample)
    return sample, x0


@pytest.mark.parametrize("sampler_cls, steps", [(DDIMSampler, 200), (DDIMSampler, 7), (DDIMSampler, 1),
                                                (DPMSolverPP2MSampler, 25), (DPMSolverPP2MSampler, 20),
                                                (DPMSolverPP2MSampler, 2)])
def test_sampler_recovers_x0_from_an_oracle(sampler_cls, steps: int) -> None:
    sample, x0 = _run_oracle(sampler_cls(), steps)
    assert torch.allclose(sample, x0, atol=1e-9, rtol=0)


@pytest.mark.parametrize("sampler_cls", [DDIMSampler, DPMSolverPP2MSampler])
def test_clip_x0_keeps_an_inexact_model_inside_the_latent_range(sampler_cls) -> None:
    """A model whose noise guess errs in proportion to its input (an out-of-range sample makes it
    worse, as with a briefly trained network) overshoots the data range; clip_x0 bounds every x0
    guess, so the result stays inside the range and closer to the truth."""
    torch.manual_seed(0)
    x0 = torch.randn(2, 8, 4, 6, dtype=torch.float64).clamp(-2, 2)

    def run(sampler):
        sampler.set_timesteps(20)
        sample = torch.randn(x0.shape, generator=torch.Generator().manual_seed(1), dtype=x0.dtype)
        for t in sampler.timesteps:
            a, s = sampler.schedule.alpha_sigma(int(t))
            sample = sampler.step((sample - a * x0) / s - 0.3 * sample, t, sample)
        return sample

    wild, clipped = run(sampler_cls()), run(sampler_cls(clip_x0=2.0))
    assert wild.abs().max() > 2.2
    assert clipped.abs().max() <= 2.0 + 1e-9
    assert (clipped - x0).abs().mean() < 0.8 * (wild - x0).abs().mean()
    with pytest.raises(ValueError, match="clip_x0"):
        sampler_cls(clip_x0=0.0)


def test_clip_x0_leaves_the_oracle_exact_when_x0_is_inside_the_range() -> None:
    sample, x0 = _run_oracle(DDIMSampler(clip_x0=50.0), 25)
    assert torch.allclose(sample, x0, atol=1e-9, rtol=0)


def test_dpm_solver_stays_on_the_oracle_trajectory_at_every_step() -> None:
    sampler = DPMSolverPP2MSampler()
    schedule = sampler.schedule
    x0, noise = torch.randn(1, 8, 2, 2, dtype=torch.float64), torch.randn(1, 8, 2, 2, dtype=torch.float64)
    sampler.set_timesteps(10)
    sample = schedule.add_noise(x0, noise, sampler.timesteps[0])
    for i, t in enumerate(sampler.timesteps[:-1]):
        sample = sampler.step(noise, t, sample)
        expected = schedule.add_noise(x0, noise, sampler.timesteps[i + 1])
        assert torch.allclose(sample, expected, atol=1e-10)


def test_ddim_with_eta_draws_seeded_noise() -> None:
    def run(seed: int) -> torch.Tensor:
        sampler = DDIMSampler(eta=1.0)
        sampler.set_timesteps(5)
        x = torch.zeros(1, 8, 2, 2)
        generator = torch.Generator().manual_seed(seed)
        outs = []
        for t in sampler.timesteps[:-1]:
            x = sampler.step(torch.zeros_like(x), t, x, generator=generator)
            outs.append(x)
        return torch.stack(outs)

    assert torch.equal(run(1), run(1))
    assert not torch.equal(run(1), run(2))


def test_samplers_refuse_misuse() -> None:
    ddim = DDIMSampler()
    with pytest.raises(RuntimeError, match="set_timesteps"):
        ddim.step(torch.zeros(1), 999, torch.zeros(1))
    ddim.set_timesteps(10)
    with pytest.raises(ValueError, match="timestep 998"):
        ddim.step(torch.zeros(1), 998, torch.zeros(1))
    with pytest.raises(ValueError, match="eta"):
        DDIMSampler(eta=2.0)
    dpm = DPMSolverPP2MSampler()
    dpm.set_timesteps(10)
    with pytest.raises(ValueError, match="in order"):
        dpm.step(torch.zeros(1), dpm.timesteps[1], torch.zeros(1))
    assert DDIMSampler.default_num_steps == 200 and 20 <= DPMSolverPP2MSampler.default_num_steps <= 25


def test_the_pipelines_samplers_are_the_ones_settings_offer():
    """One list: the CLI's --sampler choices (engine.settings) are exactly what make_sampler builds."""
    from engine.diffusion.pipeline import SAMPLERS
    from engine.settings import SAMPLERS as OFFERED

    assert tuple(SAMPLERS) == OFFERED
