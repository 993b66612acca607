"""A few steps of each stage reduce its loss on a fixed batch (tiny size, CPU)."""

from __future__ import annotations

import pytest
import torch

from engine.diffusion import MelVAE, StylizerConfig, save_checkpoint
from engine.train.dataset import PairCache
from engine.train.stages import TrainConfig, build_stage

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def fixed_batch(tiny_cache):
    data = PairCache(tiny_cache, "train", image_px=64)
    return data.batch(list(range(min(2, len(data)))))


@pytest.fixture(scope="module")
def untrained_vae(tmp_path_factory):
    torch.manual_seed(0)
    vae = MelVAE(StylizerConfig.named("tiny").vae)
    out = tmp_path_factory.mktemp("vae")
    save_checkpoint(vae, vae.config, out)
    return out


@pytest.mark.parametrize("stage_name,steps,kw", [
    ("vae", 6, {"disc_start_step": 3}),  # the last steps include the adversarial terms
    ("vocoder", 6, {}),
    ("ldm", 6, {"lr": 3e-4}),  # the zero-initialised output conv overshoots at 1e-3 (10x the default)
])
def test_a_few_steps_reduce_the_loss_on_a_fixed_batch(stage_name, steps, kw, fixed_batch, untrained_vae):
    torch.manual_seed(0)
    config = TrainConfig(stage=stage_name, steps=steps, batch_size=2, **{"lr": 1e-3, **kw})
    stage = build_stage(config, CPU, untrained_vae if stage_name == "ldm" else None)
    stage.prepare(lambda k: fixed_batch)
    key = "rec_l1" if stage_name == "vae" else "loss"
    before = stage.validate_step(fixed_batch, 0)[key]
    for step in range(steps):
        out = stage.train_step(fixed_batch, step)
    after = stage.validate_step(fixed_batch, 0)[key]
    assert after < before, (before, after)
    if stage_name == "vae":
        assert {"g_adv", "fm", "d_loss"} <= set(out)
    if stage_name == "ldm":
        assert 0.0 < stage.latent_scale < 1e6
        assert 0.5 < stage.extra["latent_clip"] < 20.0


def test_visual_condition_without_pictures_is_refused(fixed_batch, untrained_vae):
    stage = build_stage(TrainConfig(stage="ldm", batch_size=2), CPU, untrained_vae)
    no_image = {k: v for k, v in fixed_batch.items() if k != "image"}
    with pytest.raises(ValueError, match="needs images"):
        stage.train_step(no_image, 0)


def test_ldm_init_starts_from_a_package_and_refuses_another_size(untrained_vae, tmp_path):
    from dataclasses import replace

    from engine.diffusion import Stylizer

    torch.manual_seed(1)
    config = StylizerConfig.named("tiny")
    package = Stylizer(config)
    save_checkpoint(package, config, tmp_path / "pkg")
    stage = build_stage(TrainConfig(stage="ldm", init_from=str(tmp_path / "pkg")), CPU, untrained_vae)
    for name, value in package.unet.state_dict().items():
        assert torch.equal(stage.unet.state_dict()[name], value), name
    for name, value in package.cond_encoder.state_dict().items():
        assert torch.equal(stage.cond_encoder.state_dict()[name], value), name

    other = replace(config, unet=replace(config.unet, noise_skip=not config.unet.noise_skip))
    save_checkpoint(Stylizer(other), other, tmp_path / "other")
    with pytest.raises(ValueError, match="another size"):
        build_stage(TrainConfig(stage="ldm", init_from=str(tmp_path / "other")), CPU, untrained_vae)
