"""Step-by-step check of a stylizer package against the training recipe, on prepared pairs.

Why: a model whose eps-MSE is low in training but whose samples are far from the target has
either not generalised or is fed differently at inference than in training. This script walks
the path one piece at a time, so a gap shows where it opens:

1. VAE round trip of the target (the floor any output can reach in the mel domain);
2. latent statistics of target and enhanced latents, held-out vs training pairs;
3. the U-Net's eps-MSE at fixed t, with the training stage's preprocessing (``LDMStage._inputs``)
   vs the pipeline's (``encode_enhanced`` / ``encode_condition``): they must agree;
4. one-step x0 from x_t (t = 500 and others) -> decoded mel distance to the target;
5. samplers against the training schedule: DDIM 200 and DPM-Solver++ 25 (and DDIM 50) should
   agree with each other; the distances are reported with and without guidance.

    python bench/diagnose_diffusion.py --checkpoint engine/diffusion/checkpoints/roomtone-tiny \
        --heldout /tmp/rt_heldout --train /tmp/rt_corpus [--pairs 16]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from engine.diffusion import StylizerPipeline, load_checkpoint, save_checkpoint
from engine.diffusion.samplers import DDIMSampler, DPMSolverPP2MSampler
from engine.diffusion.schedule import NoiseSchedule
from engine.train.dataset import PairCache
from engine.train.prepare import find_cache
from engine.train.stages import LDMStage, TrainConfig


def l1(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().mean())


def load_pairs(data: str, n: int, image_px: int) -> dict[str, torch.Tensor]:
    cache = PairCache(find_cache(data), "train", image_px)
    idx = torch.linspace(0, len(cache) - 1, min(n, len(cache))).round().long().tolist()
    return cache.batch(idx)


@torch.no_grad()
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", default="engine/diffusion/checkpoints/roomtone-tiny")
    p.add_argument("--heldout", required=True, help="corpus folder with a prepared cache (held-out scenes)")
    p.add_argument("--train", default=None, help="training corpus folder (for latent statistics)")
    p.add_argument("--pairs", type=int, default=16)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    model, cfg = load_checkpoint(args.checkpoint)
    model.eval()
    pipe = StylizerPipeline.from_stylizer(model, DDIMSampler(cfg.diffusion))
    scale = cfg.vae.latent_scale
    px = cfg.condition.image_size_px
    ho = load_pairs(args.heldout, args.pairs, px)
    n = ho["target"].shape[0]
    mt, me = pipe.mel(ho["target"]), pipe.mel(ho["enhanced"])
    frames = mt.shape[-1]
    print(f"{n} held-out pairs, {frames} frames, latent_scale {scale:.4f}, latent_clip {cfg.vae.latent_clip}")

    # 1. VAE floor
    z0 = model.vae.encode(mt[:, None]).mode() * scale
    ze = model.vae.encode(me[:, None]).mode() * scale
    print(f"[1] mel L1 to target: enhanced {l1(me, mt):.3f} | VAE(target) {l1(pipe.decode(z0, frames), mt):.3f}"
          f" | VAE(enhanced) {l1(pipe.decode(ze, frames), mt):.3f}")

    # 2. latent statistics
    def stats(z: torch.Tensor) -> str:
        return f"mean {float(z.mean()):+.3f} std {float(z.std()):.3f} |max| {float(z.abs().max()):.2f}"
    print(f"[2] held-out target latents: {stats(z0)}; enhanced: {stats(ze)}")
    if args.train:
        tr = load_pairs(args.train, args.pairs, px)
        zt = model.vae.encode(pipe.mel(tr["target"])[:, None]).mode() * scale
        zte = model.vae.encode(pipe.mel(tr["enhanced"])[:, None]).mode() * scale
        print(f"    training target latents: {stats(zt)}; enhanced: {stats(zte)}")

    # 3. eps-MSE, training preprocessing vs pipeline preprocessing
    with tempfile.TemporaryDirectory() as tmp:
        save_checkpoint(model.vae, cfg.vae, Path(tmp) / "vae")
        stage = LDMStage(TrainConfig(stage="ldm", size="tiny", condition_mode=cfg.condition.mode),
                         torch.device("cpu"), Path(tmp) / "vae")
    stage.unet.load_state_dict(model.unet.state_dict())
    stage.cond_encoder.load_state_dict(model.cond_encoder.state_dict())
    stage.extra["latent_scale"] = scale
    stage.denoiser.eval()
    z0_t, ze_t, audio, image = stage._inputs(ho, torch.Generator().manual_seed(0), sample=False)
    cond_p = pipe.encode_condition(ho["condition"], ho.get("image") if cfg.condition.uses_image else None)
    ze_p, _ = pipe.encode_enhanced(ho["enhanced"])
    cond_t = stage.cond_encoder(audio, image)
    print(f"[3] preprocessing agreement: |z0 diff| {l1(z0_t, z0):.2e} |ze diff| {l1(ze_t, ze_p):.2e} "
          f"|cond diff| {l1(cond_t, cond_p):.2e}")
    sched = NoiseSchedule(cfg.diffusion)
    null = model.cond_encoder.null_like(cond_p)
    g = torch.Generator().manual_seed(1)
    for t in (10, 100, 250, 500, 750, 900, 990):
        noise = torch.randn(z0.shape, generator=g)
        xt = sched.add_noise(z0_t, noise, t)
        tt = torch.full((n,), t)
        eps_train = stage.denoiser(xt, ze_t, tt, audio, image, None)
        eps_pipe_c = pipe.predict_noise(xt, ze_p, torch.tensor(t), cond_p, 1.0)
        eps_null = model.unet(xt, ze_p, tt, null)
        eps_wrong = model.unet(xt, ze_p, tt, cond_p.roll(n // 2, 0))
        a, s = sched.alpha_sigma(t)
        x0 = (xt - s * eps_pipe_c) / a
        mse = lambda e: float((e - noise).square().mean())  # noqa: E731
        print(f"    t={t:4d} eps-MSE train-prep {mse(eps_train):.4f} pipe-prep {mse(eps_pipe_c):.4f} "
              f"null {mse(eps_null):.4f} other-hint {mse(eps_wrong):.4f} | [4] one-step x0: latent L1 "
              f"{l1(x0, z0):.3f} (ze {l1(ze, z0):.3f}) mel L1 {l1(pipe.decode(x0, frames), mt):.3f}")

    # 5. samplers
    for name, sampler, steps in (("ddim", DDIMSampler(cfg.diffusion), 200), ("ddim", DDIMSampler(cfg.diffusion), 50),
                                 ("dpmpp", DPMSolverPP2MSampler(cfg.diffusion), 25)):
        pipe.sampler = sampler
        row = []
        for gs in (1.0, 4.5):
            out = pipe(enhanced_latent=ze_p, condition=cond_p, steps=steps, guidance_scale=gs, output="mel", seed=0)
            row.append(f"g={gs}: latent std {float(out.latent.std()):.3f} L1 {l1(out.latent, z0):.3f} "
                       f"mel L1 {l1(out.mel, mt):.3f}")
        print(f"[5] {name:5s} {steps:3d}: " + " | ".join(row))


if __name__ == "__main__":
    main()
