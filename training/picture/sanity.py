"""Small CPU sanity run: does the generator's output depend on the sound?

Trains a stylizer for a few steps (default 64 px, 100 steps) with the v2 recipe or v1's (``--v1``),
then restyles held-out base pictures with rain, water, wind and birdsong sounds and prints
  change   median mean|out - in| (0-255)
  depends  median over pictures of the mean pairwise mean|out(sound A) - out(sound B)| (0-255)
  d_match  the discriminator's mean score on real pairs with their own sound minus with another scene's
Run:  PYTHONPATH=. python training/picture/sanity.py [--v1] [--px 64] [--steps 100]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time

import numpy as np
import torch

from engine.visual.dataset import PictureData
from engine.visual.model import VisualConfig
from engine.visual.procedural import apply_scene, base_landscape, scene_sound
from engine.visual.stylize import restyle_frames, sound_condition
from engine.visual.train import PictureStage, PictureTrainConfig


def sound_dependence(model, pictures: int = 6, px: int = 128) -> tuple[float, float]:
    """(median change, median pairwise difference between outputs for different sounds), 0-255."""
    changes, depends = [], []
    for i in range(pictures):
        rng = np.random.default_rng([999, i])
        x = (base_landscape(rng, px) * 255 + 0.5).astype(np.uint8)
        outs = [restyle_frames([x], sound_condition(model, scene_sound(s, 0.8, 2.0, rng)), model)[0].astype(float)
                for s in ("rain", "water", "wind", "clear")]
        changes += [np.abs(o - x).mean() for o in outs]
        depends.append(np.mean([np.abs(a - b).mean() for a, b in itertools.combinations(outs, 2)]))
    return statistics.median(changes), statistics.median(depends)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="training/picture/data")
    ap.add_argument("--px", type=int, default=64)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--v1", action="store_true", help="last session's recipe")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    v1 = dict(audio_norm="batch", spectrum_skip=False, film_up=False) if args.v1 else {}
    model = VisualConfig(image_px=args.px, **v1)
    cfg = PictureTrainConfig(steps=args.steps, model=model,
                             **(dict(mismatch_weight=0.5, mismatch_by_label=False) if args.v1 else {}))
    data = PictureData.from_folder(args.data, model)
    stage = PictureStage(cfg)
    g = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    for step in range(args.steps):
        idx = torch.randint(0, len(data), (cfg.batch_size,), generator=g).tolist()
        losses = stage.train_step(data.batch(idx), step)
        if (step + 1) % 25 == 0:
            print(f"step {step + 1} {time.perf_counter() - t0:.0f}s " + " ".join(f"{k}={v:.3f}" for k, v in losses.items()),
                  flush=True)
    stage.G.eval(), stage.D.eval()
    with torch.no_grad():
        b = data.batch(list(range(0, 64)))
        own = stage.D(b["image"], b["mel"]).mean().item()
        lab = b["label"].argmax(1)
        other = torch.tensor([int(((lab != lab[i]).nonzero()[0])) for i in range(len(lab))])
        wrong = stage.D(b["image"], b["mel"][other]).mean().item()
    change, depends = sound_dependence(stage.G, px=args.px)
    print(f"{'v1' if args.v1 else 'v2'} px {args.px} steps {args.steps}: change {change:.2f}  depends {depends:.2f}  "
          f"d_match {own - wrong:+.3f} (own {own:.3f}, other scene {wrong:.3f})")


if __name__ == "__main__":
    main()
