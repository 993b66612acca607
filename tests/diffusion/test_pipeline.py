"""The inference loop: guidance maths, seeding, end-to-end shapes and input checks."""

from __future__ import annotations

import copy

import pytest
import torch

from engine.diffusion import DPMSolverPP2MSampler, StylizerPipeline
from engine.errors import Cancelled
from engine.progress import CancelToken

from .conftest import make_wave


def _inputs(pipe: StylizerPipeline, frames: int = 8, batch: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(7)
    enhanced = torch.randn(batch, 8, 16, frames, generator=g)
    condition = torch.randn(batch, 5, pipe.unet.config.context_dim, generator=g)
    return enhanced, condition


def test_guidance_one_is_the_conditional_prediction(tiny_model) -> None:
    # float64, so the batched (uncond + cond) pass and a lone conditional pass agree to rounding;
    # in float32 oneDNN picks batch-size-dependent kernels that differ by ~1e-6 on their own.
    pipe = StylizerPipeline.from_stylizer(copy.deepcopy(tiny_model).double())
    enhanced, condition = (x.double() for x in _inputs(pipe))
    latent = torch.randn_like(enhanced)
    with torch.no_grad():
        conditional = pipe.unet(latent, enhanced, 600, condition)
        unconditional = pipe.unet(latent, enhanced, 600, pipe.cond_encoder.null_like(condition))
    assert (conditional - unconditional).abs().max() > 1e-3  # the checks below are not vacuous
    assert torch.allclose(pipe.predict_noise(latent, enhanced, 600, condition, 1.0), conditional, atol=1e-6, rtol=0)
    assert torch.allclose(pipe.predict_noise(latent, enhanced, 600, condition, 0.0), unconditional, atol=1e-6, rtol=0)
    guided = pipe.predict_noise(latent, enhanced, 600, condition, 4.5)
    assert torch.allclose(guided, unconditional + 4.5 * (conditional - unconditional), atol=1e-6, rtol=0)


def test_guidance_one_runs_only_the_conditional_half(pipe: StylizerPipeline) -> None:
    """At g = 1 the unconditional prediction has weight 0: it is skipped (half the U-Net work) and
    the result is the conditional prediction bit for bit."""
    enhanced, condition = _inputs(pipe)
    latent = torch.randn_like(enhanced)
    batches = []
    hook = pipe.unet.register_forward_pre_hook(lambda _m, args: batches.append(args[0].shape[0]))
    try:
        with torch.no_grad():
            alone = pipe.unet(latent, enhanced, 600, condition)
            batches.clear()
            eps = pipe.predict_noise(latent, enhanced, 600, condition, 1.0)
    finally:
        hook.remove()
    assert torch.equal(eps, alone)
    assert batches == [latent.shape[0]]


def test_sampling_is_deterministic_by_seed(pipe: StylizerPipeline) -> None:
    enhanced, condition = _inputs(pipe, frames=5)
    run = lambda seed: pipe(enhanced_latent=enhanced, condition=condition, steps=3, seed=seed,  # noqa: E731
                            output="latent").latent
    a = run(1)
    assert a.shape == enhanced.shape and torch.isfinite(a).all()
    assert torch.equal(a, run(1))
    assert not torch.allclose(a, run(2))


def test_wave_in_wave_out_keeps_length(pipe: StylizerPipeline) -> None:
    wave = make_wave(0.33, batch=2)  # 5280 samples -> 33 mel frames: not a multiple of 4 or 16
    hint = make_wave(0.5, seed=1)
    image = torch.rand(1, 3, 64, 64)
    tokens = pipe.encode_condition(hint_wave=hint, hint_image=image)
    assert tokens.shape[0] == 1 and tokens.shape[2] == pipe.unet.config.context_dim
    steps_seen: list[int] = []
    out = pipe(wave, tokens, steps=2, guidance_scale=4.5, seed=0, sample_rate_hz=16000,
               on_step=lambda i, n: steps_seen.append(i))
    assert out.wave is not None and out.wave.shape == wave.shape
    assert out.mel is not None and out.mel.shape == (2, 64, 33)
    assert out.latent.shape == (2, 8, 16, 9)
    assert steps_seen == [1, 2]


def test_dpm_solver_drives_the_same_pipeline(tiny_model) -> None:
    pipe = StylizerPipeline.from_stylizer(tiny_model, DPMSolverPP2MSampler(tiny_model.config.diffusion))
    enhanced, condition = _inputs(pipe)
    a = pipe(enhanced_latent=enhanced, condition=condition, steps=3, seed=5, output="mel")
    b = pipe(enhanced_latent=enhanced, condition=condition, steps=3, seed=5, output="mel")
    assert a.mel is not None and a.mel.shape == (1, 64, 32)
    assert torch.equal(a.mel, b.mel)


def test_cancel_stops_the_loop(pipe: StylizerPipeline) -> None:
    enhanced, condition = _inputs(pipe)
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        pipe(enhanced_latent=enhanced, condition=condition, steps=2, cancel=token)


@pytest.mark.parametrize("change, argument", [
    ({"enhanced_latent": None}, "enhanced_wave or enhanced_latent"),
    ({"enhanced_wave": torch.zeros(1, 8000)}, "enhanced_wave or enhanced_latent"),
    ({"enhanced_latent": torch.zeros(1, 4, 16, 8)}, "enhanced_latent"),
    ({"condition": torch.zeros(1, 5, 3)}, "condition"),
    ({"condition": torch.zeros(3, 5, 64)}, "condition"),
    ({"condition": None}, "condition"),
    ({"steps": 0}, "steps"),
    ({"steps": 2.5}, "steps"),
    ({"guidance_scale": -1.0}, "guidance_scale"),
    ({"guidance_scale": float("nan")}, "guidance_scale"),
    ({"seed": -3}, "seed"),
    ({"output": "mp3"}, "output"),
    ({"sample_rate_hz": 44100}, "sample_rate_hz"),
    ({"latents": torch.zeros(1, 8, 16, 8)}, "latents"),
    ({"guidance_interval": (0.8, 0.2)}, "guidance_interval"),
    ({"guidance_rescale": 2.0}, "guidance_rescale"),
])
def test_bad_inputs_name_the_argument(pipe: StylizerPipeline, change: dict, argument: str) -> None:
    enhanced, condition = _inputs(pipe, batch=2)
    kwargs = {"enhanced_latent": enhanced, "condition": condition, "steps": 2, **change}
    with pytest.raises(ValueError, match=argument):
        pipe(**kwargs)


def test_bad_wave_inputs_name_the_argument(pipe: StylizerPipeline) -> None:
    _, condition = _inputs(pipe)
    with pytest.raises(ValueError, match="enhanced_wave"):
        pipe(torch.zeros(1, 100), condition, steps=2)
    with pytest.raises(ValueError, match="enhanced_wave"):
        pipe(torch.full((1, 4000), float("inf")), condition, steps=2)


def test_given_latents_are_the_start_noise(pipe: StylizerPipeline) -> None:
    """The renderer passes its own start noise; the loop is the pipeline's one loop."""
    enhanced, condition = _inputs(pipe, frames=5)
    noise = torch.randn(pipe.noise_shape(enhanced), generator=torch.Generator().manual_seed(3))
    run = lambda latents: pipe(enhanced_latent=enhanced, condition=condition, steps=3, seed=0,  # noqa: E731
                               output="latent", latents=latents).latent
    assert torch.equal(run(noise), run(noise.clone()))
    assert not torch.allclose(run(noise), run(noise + 1.0))


def test_guidance_interval_outside_the_schedule_is_guidance_one(pipe: StylizerPipeline) -> None:
    enhanced, condition = _inputs(pipe, frames=5)
    run = lambda **kw: pipe(enhanced_latent=enhanced, condition=condition, steps=3, seed=1,  # noqa: E731
                            output="latent", **kw).latent
    assert torch.equal(run(guidance_scale=4.5, guidance_interval=(0.0, 0.0)), run(guidance_scale=1.0))
    assert not torch.allclose(run(guidance_scale=4.5), run(guidance_scale=4.5, guidance_rescale=0.7))
