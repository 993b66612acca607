"""Does any common variant of classifier-free guidance beat no guidance for a stylizer package?

Why: the evidence script finds that plain CFG (g > 1 on every step) moves the tiny checkpoint's
output away from the held-out target. Two published remedies address exactly that overshoot:
guidance applied only over an interval of noise levels (Kynkaenniemi et al., 2024) and rescaling
the guided x0 prediction to the conditional one's spread (Lin et al., 2024). This sweep tries them
with the engine's sampler and the same start noise for every configuration, and reports three
distances to the target's log-mel: frame by frame (L1, the evidence script's "mel" column), of the
long-term spectrum (LT: colouration and ambience level), and of each band's spread over time (SD:
texture and modulation), each with the share of pairs on which it beats g = 1, and the "LT move": how
much of the long-term-spectrum change the target needed the output made (1 = all, > 1 = overshoot).

    python bench/sweep_guidance.py --data /tmp/ho --data /tmp/ho3      # held-out caches, see
                                                                        # eval_diffusion_evidence.py
    python bench/sweep_guidance.py --data /tmp/ho --data /tmp/ho3 --input dry   # clean speech in
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from eval_diffusion_evidence import (BATCH, INPUT_NAMES, add_common_args, encode_hints,  # noqa: E402
                                     encode_latents, load_heldout, model_inputs, open_pipeline, per_pair_l1)

from engine.diffusion import StylizerPipeline  # noqa: E402

# (guidance, interval of t / T where it applies (g = 1 elsewhere), rescale phi)
CONFIGS = [(1.0, (0.0, 1.0), 0.0), (0.0, (0.0, 1.0), 0.0), (1.5, (0.0, 1.0), 0.0), (2.0, (0.0, 1.0), 0.0),
           (4.5, (0.0, 1.0), 0.0), (2.0, (0.0, 1.0), 0.7), (4.5, (0.0, 1.0), 0.7), (2.0, (0.3, 0.8), 0.0),
           (4.5, (0.3, 0.8), 0.0), (2.0, (0.5, 1.0), 0.0), (4.5, (0.5, 1.0), 0.0), (2.0, (0.0, 0.5), 0.0),
           (4.5, (0.0, 0.5), 0.0), (4.5, (0.6, 1.0), 0.7)]  # the first must be g = 1: the others are compared to it


@torch.no_grad()
def sample_mels(pipe: StylizerPipeline, enhanced: torch.Tensor, condition: torch.Tensor, frames: int, steps: int,
                g: float, interval: tuple[float, float], phi: float, seed: int) -> torch.Tensor:
    """The pipeline's own loop with guidance over ``interval`` of t / T and rescale ``phi``."""
    mels = []
    for i in range(0, enhanced.shape[0], BATCH):
        lat_e, cond = enhanced[i:i + BATCH], condition[i:i + BATCH]
        noise = torch.randn(lat_e.shape, generator=torch.Generator().manual_seed(seed))  # as the evidence script
        latent = pipe(enhanced_latent=lat_e, condition=cond, latents=noise, steps=steps, guidance_scale=g,
                      seed=seed, output="latent", guidance_interval=interval, guidance_rescale=phi).latent
        mels.append(pipe.decode(latent, frames))
    return torch.cat(mels)


def distances(mel: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    return {"L1": per_pair_l1(mel, target),
            "LT": (mel.mean(-1) - target.mean(-1)).abs().mean(-1),
            "SD": (mel.std(-1) - target.std(-1)).abs().mean(-1)}


def move_ratio(mel: torch.Tensor, enhanced: torch.Tensor, target: torch.Tensor) -> float:
    """Median over pairs of how far the output moved the long-term spectrum from the input's, along the
    move the target needed (1 = all of it, > 1 = overshoot): tells under-styling from overshooting."""
    need = target.mean(-1) - enhanced.mean(-1)
    move = mel.mean(-1) - enhanced.mean(-1)
    return float(((move * need).sum(-1) / (need * need).sum(-1)).median())


@torch.no_grad()
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_common_args(p)
    args = p.parse_args()
    t0 = time.perf_counter()
    _, cfg, pipe = open_pipeline(args)
    pairs, scenes = load_heldout(args.data, cfg.condition.image_size_px, args.pairs)
    n = len(scenes)
    target = pipe.mel(pairs["target"])
    frames = target.shape[-1]
    cond = encode_hints(pipe, pairs, cfg.condition.uses_image)
    inputs = model_inputs(args, pairs, scenes)
    enhanced = encode_latents(pipe, inputs)

    print(f"{n} held-out pairs, {len(set(scenes))} scenes, {INPUT_NAMES[args.input]}; {args.sampler} {args.steps} steps, seed {args.seed}\n")
    print("| guidance | applied for t/T in | rescale phi | L1 | LT | SD | LT move | beats g = 1 on (L1 / LT / SD) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    enh_mel = pipe.mel(inputs)
    enh = distances(enh_mel, target)
    print(f"| {INPUT_NAMES[args.input]} | | | {enh['L1'].mean():.3f} | {enh['LT'].mean():.3f} | {enh['SD'].mean():.3f} | 0 | |")
    base = None
    for g, interval, phi in CONFIGS:
        mel = sample_mels(pipe, enhanced, cond, frames, args.steps, g, interval, phi, args.seed)
        d = distances(mel, target)
        base = base or d
        wins = " / ".join(f"{float((d[k] < base[k]).float().mean()):.0%}" for k in d)
        print(f"| {g:g} | {interval[0]:g}–{interval[1]:g} | {phi:g} | {d['L1'].mean():.3f} | {d['LT'].mean():.3f} "
              f"| {d['SD'].mean():.3f} | {move_ratio(mel, enh_mel, target):.2f} | {wins if g != 1.0 else '—'} |",
              flush=True)
    print(f"\n{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
