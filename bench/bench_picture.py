"""Evidence for the picture stylizer (issue 16 item 5) on held-out procedural pairs.

  (a) AVC: a separate audio-visual correspondence classifier, trained here on held-out pairs (seed 1,
      never seen by the stylizer), scores (output, driving sound) vs (input, driving sound)

  (b) structure kept: SSIM and edge correlation between input and output pictures
  (c) gain: the change |output - input| and a rain-streak measure against --gain-db on a rain sound;
      mix: the result of a 50/50 mix of rain and birdsong lies between the two single-sound results
Run:  PYTHONPATH=. python bench/bench_picture.py [--model DIR] [--examples N]
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
import torch

from engine.visual.procedural import SAMPLE_RATE_HZ, apply_scene, base_landscape, scene_sound
from engine.visual.stylize import DEFAULT_MODEL, restyle_frames, sound_condition
from engine.visual.train import load_stylizer


def _gray(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float64).mean(axis=2) / 255.0


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Global-window SSIM over 8x8 blocks of the grey pictures (the structure term, no library)."""
    from scipy.ndimage import uniform_filter

    x, y = _gray(a), _gray(b)
    mx, my = uniform_filter(x, 8), uniform_filter(y, 8)
    vx, vy = uniform_filter(x * x, 8) - mx * mx, uniform_filter(y * y, 8) - my * my
    cxy = uniform_filter(x * y, 8) - mx * my
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    return float((((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))).mean())


def edge_corr(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.ndimage import sobel

    ea, eb = (np.hypot(sobel(_gray(z), 0), sobel(_gray(z), 1)).ravel() for z in (a, b))
    return float(np.corrcoef(ea, eb)[0, 1])


def streaks(img: np.ndarray) -> float:
    """Rain-streak measure: mean |horizontal high-pass| (thin near-vertical streaks raise it); darkness
    is reported apart as mean brightness."""
    g = _gray(img)
    hp = g - 0.5 * (np.roll(g, 1, axis=1) + np.roll(g, -1, axis=1))
    return float(np.abs(hp).mean())


class AVC(torch.nn.Module):
    """Does this picture go with this sound? Small CNN on a 64 px picture + MLP on the pooled log-mel."""

    def __init__(self, n_mels: int) -> None:
        super().__init__()
        nn = torch.nn
        self.img = nn.Sequential(nn.Conv2d(3, 16, 4, 2, 1), nn.ReLU(), nn.Conv2d(16, 32, 4, 2, 1), nn.ReLU(),
                                 nn.Conv2d(32, 32, 4, 2, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.aud = nn.Sequential(nn.Linear(2 * n_mels, 64), nn.ReLU(), nn.Linear(64, 32))
        self.head = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 1))

    def forward(self, image: torch.Tensor, mel: torch.Tensor) -> torch.Tensor:
        img = torch.nn.functional.interpolate(image, size=(64, 64), mode="bilinear", antialias=True)
        a = torch.cat([mel.mean(dim=-1), mel.std(dim=-1)], dim=-1).flatten(1)
        return self.head(torch.cat([self.img(img), self.aud(a)], dim=1))[:, 0]


def train_avc(model_config, pairs: int = 200, steps: int = 300) -> AVC:
    """Positives: true held-out pairs; negatives: the same pictures with another scene's sound."""
    import tempfile

    from engine.visual.dataset import PictureData
    from engine.visual.procedural import render_procedural_set

    with tempfile.TemporaryDirectory() as tmp:
        render_procedural_set(tmp, pairs, seed=1)
        data = PictureData.from_folder(tmp, model_config)
    torch.manual_seed(0)
    avc = AVC(model_config.n_mels)
    opt = torch.optim.Adam(avc.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    labels = data.labels
    for _ in range(steps):
        idx = torch.randint(0, len(data), (32,), generator=g)
        b = data.batch(idx.tolist())
        other = torch.randint(0, len(data), (32,), generator=g)
        other = torch.where(labels[other] == labels[idx], (other + 1) % len(data), other)
        wrong = data.mels[other]
        logits = torch.cat([avc(b["image"], b["mel"]), avc(b["image"], wrong)])
        target = torch.cat([torch.ones(32), (labels[other] == labels[idx]).float()])
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return avc.eval()


def _t(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(img.astype(np.float32) / 127.5 - 1).permute(2, 0, 1)[None]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=str(DEFAULT_MODEL))
    ap.add_argument("--examples", type=int, default=12)
    args = ap.parse_args()
    torch.set_num_threads(1)
    model = load_stylizer(args.model)
    gains = (-12.0, -6.0, 0.0, 6.0, 12.0)
    s_ssim, s_edge, change, streak, bright, between = [], [], {g: [] for g in gains}, {g: [] for g in gains}, \
        {g: [] for g in gains}, []
    streak_in, bright_in = [], []
    for i in range(args.examples):
        rng = np.random.default_rng([999, i])  # seeds outside the training set's [0, i]
        x = (base_landscape(rng) * 255 + 0.5).astype(np.uint8)
        rain = scene_sound("rain", 0.5, 2.0, rng)
        birds = scene_sound("clear", 0.0, 2.0, rng)
        outs = {}
        for g in gains:
            y = restyle_frames([x], sound_condition(model, rain, g), model)[0]
            outs[g] = y
            change[g].append(float(np.abs(y.astype(float) - x).mean()))
            streak[g].append(streaks(y))
            bright[g].append(float(y.mean()))
        streak_in.append(streaks(x))
        bright_in.append(float(x.mean()))
        s_ssim.append(ssim(x, outs[0.0]))
        s_edge.append(edge_corr(x, outs[0.0]))
        yb = restyle_frames([x], sound_condition(model, birds), model)[0].astype(float)
        ym = restyle_frames([x], sound_condition(model, rain, 0.0, birds, 0.5), model)[0].astype(float)
        yr = outs[0.0].astype(float)
        d_rb = np.abs(yr - yb).mean()
        between.append(float(max(np.abs(ym - yr).mean(), np.abs(ym - yb).mean()) / max(d_rb, 1e-9)))
    med = statistics.median
    avc = train_avc(model.config)
    wins, s_in, s_out = [], [], []
    from engine.visual.procedural import SCENES
    for i in range(args.examples * 2):
        rng = np.random.default_rng([777, i])
        x = (base_landscape(rng) * 255 + 0.5).astype(np.uint8)
        scene = SCENES[1 + i % 3]  # drive by rain, wind or water
        mel = sound_condition(model, scene_sound(scene, float(rng.uniform(0.5, 1.0)), 2.0, rng))
        y = restyle_frames([x], mel, model)[0]
        with torch.no_grad():
            pi, po = torch.sigmoid(avc(_t(x), mel)).item(), torch.sigmoid(avc(_t(y), mel)).item()
        s_in.append(pi)
        s_out.append(po)
        wins.append(po > pi)
    print(f"(a) AVC P(match) with the driving sound (rain/wind/water, s 0.5..1), {len(wins)} held-out pictures: "
          f"input median {med(s_in):.3f}, output median {med(s_out):.3f}; output > input in "
          f"{sum(wins)}/{len(wins)}; output judged matching (P>0.5) {sum(v > 0.5 for v in s_out)}/{len(wins)}, "
          f"input {sum(v > 0.5 for v in s_in)}/{len(wins)}")
    print(f"model {args.model}, {args.examples} held-out base pictures, driving sound: procedural rain s=0.5")
    print(f"(b) SSIM(input, output) median {med(s_ssim):.3f}; edge correlation median {med(s_edge):.3f}")
    print("(c) gain_db | median mean|out-in| (0-255) | median streak measure | median brightness")
    for g in gains:
        print(f"    {g:+5.0f} | {med(change[g]):7.2f} | {med(streak[g]):.4f} | {med(bright[g]):6.1f}")
    print(f"    input  | {0.0:7.2f} | {med(streak_in):.4f} | {med(bright_in):6.1f}")
    print(f"(c) mix 50/50 rain+birds: max(d(mix, rain), d(mix, birds)) / d(rain, birds) median "
          f"{med(between):.3f} (<1: the mix lies between)")


if __name__ == "__main__":
    main()
