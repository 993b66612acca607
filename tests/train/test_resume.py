"""Resume continues exactly: same losses after resuming as without interruption, bit-identical weights."""

from __future__ import annotations

import json

import pytest
import torch

from engine.diffusion import MelVAE, StylizerConfig, checkpoint_id, save_checkpoint
from engine.train.dataset import PairCache
from engine.train.loop import run_stage
from engine.train.stages import TrainConfig, build_stage

CPU = torch.device("cpu")


def _train(stage_name, steps, out, cache, vae_dir, resume=False):
    config = TrainConfig(stage=stage_name, steps=steps, batch_size=2, log_every=1, val_every=100, ckpt_every=100,
                         disc_start_step=2, latent_scale_batches=2)
    stage = build_stage(config, CPU, vae_dir)
    run_stage(stage, PairCache(cache, "train", 64), PairCache(cache, "val", 64), out, resume=resume)
    return stage


def _train_losses(out):
    return [r for r in map(json.loads, (out / "log.jsonl").read_text().splitlines()) if r["split"] == "train"]


@pytest.mark.parametrize("stage_name", ["vae", "vocoder", "ldm"])
def test_resume_matches_an_uninterrupted_run(stage_name, tiny_cache, tmp_path):
    vae_dir = None
    if stage_name == "ldm":
        torch.manual_seed(0)
        vae = MelVAE(StylizerConfig.named("tiny").vae)
        vae_dir = tmp_path / "vae"
        save_checkpoint(vae, vae.config, vae_dir)
    whole = _train(stage_name, 4, tmp_path / "whole", tiny_cache, vae_dir)
    _train(stage_name, 2, tmp_path / "split", tiny_cache, vae_dir)
    with pytest.raises(FileExistsError):
        _train(stage_name, 4, tmp_path / "split", tiny_cache, vae_dir)  # never overwrite a run silently
    resumed = _train(stage_name, 4, tmp_path / "split", tiny_cache, vae_dir, resume=True)

    strip = lambda rs: [{k: v for k, v in r.items() if k != "steps_per_s"} for r in rs]  # noqa: E731
    assert strip(_train_losses(tmp_path / "whole")) == strip(_train_losses(tmp_path / "split"))
    assert [r["step"] for r in _train_losses(tmp_path / "split")] == [1, 2, 3, 4]
    for name, module in whole.modules.items():
        assert checkpoint_id(module.state_dict()) == checkpoint_id(resumed.modules[name].state_dict()), name
    for name, opt in whole.optimizers.items():
        a, b = opt.state_dict()["state"], resumed.optimizers[name].state_dict()["state"]
        assert all(torch.equal(a[i]["exp_avg_sq"], b[i]["exp_avg_sq"]) for i in a)
    assert whole.extra == resumed.extra
