"""Evidence for the picture stylizer (issue 16 item 5) on held-out procedural pairs.

  (a) AVC: a separate audio-visual correspondence classifier, trained here on held-out pairs (seed 1,
      never seen by the stylizer; its own accuracy is checked on seed 3), scores (output, driving
      sound) vs (input, driving sound), and vs the label-conditioned baseline's output (--label-model)
  (b) structure kept: SSIM and edge correlation between input and output pictures
  (c) gain: a rain-density regressor, trained here on procedural pictures with known rain intensity s
      (seed 2; its held-out error is checked on seed 4), reads the outputs for a rain sound at
      -12..+12 dB (the data's sound level is -42 + 24 s dBFS, so the sweep spans s = 0..1); also the
      change |output - input|; mix: a 50/50 rain + birdsong mix lands between the two single-sound results
Run:  PYTHONPATH=. python bench/bench_picture.py [--model DIR] [--label-model DIR] [--examples N]
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

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
    """Does this picture go with this sound? Small CNN on the 128 px picture (streaks and ripples are
    1-2 px: a 64 px copy loses them) + MLP on the log-mel's band-wise mean and spread."""

    def __init__(self, n_mels: int) -> None:
        super().__init__()
        nn = torch.nn
        self.img = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1), nn.ReLU(), nn.Conv2d(16, 32, 3, 2, 1), nn.ReLU(),
                                 nn.Conv2d(32, 32, 3, 2, 1), nn.ReLU(), nn.Conv2d(32, 32, 3, 2, 1), nn.ReLU(),
                                 nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.aud = nn.Sequential(nn.Linear(2 * n_mels, 64), nn.ReLU(), nn.Linear(64, 32))
        self.head = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 1))

    def score(self, feats: torch.Tensor, mel: torch.Tensor) -> torch.Tensor:
        a = torch.cat([mel.mean(dim=-1), mel.std(dim=-1)], dim=-1).flatten(1)
        return self.head(torch.cat([feats, self.aud(a)], dim=1))[:, 0]

    def forward(self, image: torch.Tensor, mel: torch.Tensor) -> torch.Tensor:
        return self.score(self.img(image), mel)


def _pairs(model_config, n: int, seed: int):
    import tempfile

    from engine.visual.dataset import PictureData
    from engine.visual.procedural import render_procedural_set

    with tempfile.TemporaryDirectory() as tmp:
        render_procedural_set(tmp, n, seed=seed)
        return PictureData.from_folder(tmp, model_config)


def _other_scene(labels: torch.Tensor, idx: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    other = torch.randint(0, len(labels), idx.shape, generator=g)
    for _ in range(8):
        same = labels[other] == labels[idx]
        other = torch.where(same, torch.randint(0, len(labels), idx.shape, generator=g), other)
    return other


def train_avc(model_config, pairs: int = 400, steps: int = 800) -> tuple[AVC, float]:
    """Positives: true held-out pairs (seed 1); negatives: the same pictures with another scene's sound.
    Returns the classifier and its accuracy on 100 further held-out pairs (seed 3), true vs other-scene."""
    data = _pairs(model_config, pairs, 1)
    torch.manual_seed(0)
    avc = AVC(model_config.n_mels)
    opt = torch.optim.Adam(avc.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        idx = torch.randint(0, len(data), (32,), generator=g)
        b = data.batch(idx.tolist())
        wrong = data.mels[_other_scene(data.labels, idx, g)]
        feats = avc.img(b["image"])
        logits = torch.cat([avc.score(feats, b["mel"]), avc.score(feats, wrong)])
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.cat([torch.ones(32), torch.zeros(32)]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    avc.eval()
    test = _pairs(model_config, 100, 3)
    idx = torch.arange(len(test))
    b = test.batch(idx.tolist())
    with torch.no_grad():
        pos = avc(b["image"], b["mel"]) > 0
        neg = avc(b["image"], test.mels[_other_scene(test.labels, idx, g)]) <= 0
    return avc, float(torch.cat([pos, neg]).float().mean())


class RainRegressor(torch.nn.Module):
    """Predicted rain intensity s (0 = no rain) of a 128 px picture: a small CNN."""

    def __init__(self) -> None:
        super().__init__()
        nn = torch.nn
        self.net = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1), nn.ReLU(), nn.Conv2d(16, 32, 3, 2, 1), nn.ReLU(),
                                 nn.Conv2d(32, 32, 3, 2, 1), nn.ReLU(), nn.Conv2d(32, 32, 3, 2, 1), nn.ReLU(),
                                 nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 1))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.net(image)[:, 0]


def _rain_pictures(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Half rain at s ~ U(0, 1), the rest clear, wind or water (rain 0): pictures in [-1, 1] and s."""
    from engine.visual.procedural import SCENES

    imgs, ss = [], []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        base = base_landscape(rng)
        if i % 2 == 0:
            s = float(rng.uniform(0.0, 1.0))
            img = apply_scene(base, "rain", s, rng)
        else:
            s, scene = 0.0, SCENES[(i // 2) % 4 if (i // 2) % 4 != 1 else 0]
            img = apply_scene(base, scene, float(rng.uniform(0.15, 1.0)), rng) if scene != "clear" else base
        imgs.append(torch.from_numpy((img * 2 - 1).astype(np.float32)).permute(2, 0, 1))
        ss.append(s)
    return torch.stack(imgs), torch.tensor(ss)


def train_rain_regressor(n: int = 600, steps: int = 600) -> tuple[RainRegressor, float, float]:
    """Trained on seed-2 pictures; returns it, its mean absolute error and correlation on 200 seed-4 pictures."""
    x, s = _rain_pictures(n, 2)
    torch.manual_seed(0)
    reg = RainRegressor()
    opt = torch.optim.Adam(reg.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        idx = torch.randint(0, n, (32,), generator=g)
        loss = torch.nn.functional.mse_loss(reg(x[idx]), s[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    reg.eval()
    xt, st = _rain_pictures(200, 4)
    with torch.no_grad():
        p = reg(xt)
    return reg, float((p - st).abs().mean()), float(np.corrcoef(p.numpy(), st.numpy())[0, 1])


def _t(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(img.astype(np.float32) / 127.5 - 1).permute(2, 0, 1)[None]


def _onehot(model, label: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(torch.tensor([label]), model.config.num_labels).float()


def evaluate(model, reg: RainRegressor, avc: AVC, examples: int) -> dict:
    """Every measure for one stylizer (audio- or label-conditioned); the input's rows under "input"."""
    from engine.visual.procedural import SCENES

    label = model.config.conditioner == "label"

    def density(img: np.ndarray) -> float:
        with torch.no_grad():
            return float(reg(_t(img)))

    def drive(sound: np.ndarray, scene: int, gain_db: float = 0.0, mix=None, w: float = 0.0):
        return _onehot(model, scene) if label else sound_condition(model, sound, gain_db, mix, w)

    gains = (-12.0, -6.0, 0.0, 6.0, 12.0)
    r: dict = {"density": {g: [] for g in gains}, "change": {g: [] for g in gains}}
    for k in ("ssim", "edge", "between", "dens_in", "dens_birds", "dens_mix", "depends", "p_in", "p_out", "p_other"):
        r[k] = []
    for i in range(examples):
        rng = np.random.default_rng([999, i])  # seeds outside the training set's [0, i]
        x = (base_landscape(rng) * 255 + 0.5).astype(np.uint8)
        rain, birds, water = (scene_sound("rain", 0.5, 2.0, rng), scene_sound("clear", 0.0, 2.0, rng),
                              scene_sound("water", 0.5, 2.0, rng))
        outs = {}
        for g in gains:
            outs[g] = y = restyle_frames([x], drive(rain, 1, g), model)[0]
            r["change"][g].append(float(np.abs(y.astype(float) - x).mean()))
            r["density"][g].append(density(y))
        r["dens_in"].append(density(x))
        r["ssim"].append(ssim(x, outs[0.0]))
        r["edge"].append(edge_corr(x, outs[0.0]))
        yb = restyle_frames([x], drive(birds, 0), model)[0]
        ym = restyle_frames([x], drive(rain, 1, 0.0, birds, 0.5) if not label else
                            0.5 * (_onehot(model, 1) + _onehot(model, 0)), model)[0]
        yw = restyle_frames([x], drive(water, 3), model)[0]
        r["dens_birds"].append(density(yb))
        r["dens_mix"].append(density(ym))
        yr, ybf, ymf = outs[0.0].astype(float), yb.astype(float), ym.astype(float)
        r["between"].append(float(max(np.abs(ymf - yr).mean(), np.abs(ymf - ybf).mean())
                                  / max(np.abs(yr - ybf).mean(), 1e-9)))
        r["depends"].append(float(np.abs(yr - yw.astype(float)).mean()))
    for i in range(examples * 2):
        rng = np.random.default_rng([777, i])
        x = (base_landscape(rng) * 255 + 0.5).astype(np.uint8)
        scene = 1 + i % 3  # drive by rain, wind or water
        mel = sound_condition(model, scene_sound(SCENES[scene], float(rng.uniform(0.5, 1.0)), 2.0, rng))
        y = restyle_frames([x], _onehot(model, scene) if label else mel, model)[0]
        other = sound_condition(model, scene_sound(SCENES[1 + (i + 1) % 3], 0.75, 2.0, rng))
        with torch.no_grad():
            r["p_in"].append(torch.sigmoid(avc(_t(x), mel)).item())
            r["p_out"].append(torch.sigmoid(avc(_t(y), mel)).item())
            r["p_other"].append(torch.sigmoid(avc(_t(y), other)).item())
    return r


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=str(DEFAULT_MODEL))
    ap.add_argument("--label-model", default=None, help="the label-conditioned baseline's package (optional)")
    ap.add_argument("--before", default=None, help="an earlier audio package to compare with (optional)")
    ap.add_argument("--examples", type=int, default=12)
    ap.add_argument("--judges", default=None, metavar="DIR",
                    help="keep the trained regressor and AVC here and reuse them on later runs (default: retrain)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    med = statistics.median
    models = {"audio": args.model, "label": args.label_model, "before": args.before}
    loaded = {k: load_stylizer(v) for k, v in models.items() if v}
    judges = Path(args.judges) / "judges.pt" if args.judges else None
    if judges is not None and judges.is_file():
        j = torch.load(judges)
        reg, avc = RainRegressor(), AVC(loaded["audio"].config.n_mels)
        reg.load_state_dict(j["reg"]), avc.load_state_dict(j["avc"])
        reg.eval(), avc.eval()
        mae, corr, acc = j["mae"], j["corr"], j["acc"]
    else:
        reg, mae, corr = train_rain_regressor()
        avc, acc = train_avc(loaded["audio"].config)
        if judges is not None:
            judges.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"reg": reg.state_dict(), "avc": avc.state_dict(), "mae": mae, "corr": corr, "acc": acc}, judges)
    res = {k: evaluate(m, reg, avc, args.examples) for k, m in loaded.items()}
    a = res["audio"]
    n = len(a["p_in"])
    print(f"models: {', '.join(f'{k} {v}' for k, v in models.items() if v)}; {args.examples} held-out base pictures")
    print(f"(a) AVC (trained on 400 seed-1 pairs; accuracy on 100 seed-3 pairs, own vs other-scene sound: {acc:.3f}); "
          f"{n} held-out pictures driven by rain/wind/water, s 0.5..1 (label model: the scene's label):")
    print(f"    {'picture':<8} | median P(match) | mean | judged matching (P>0.5) | above the input")
    print(f"    {'input':<8} | {med(a['p_in']):.3f} | {statistics.mean(a['p_in']):.3f} | "
          f"{sum(p > 0.5 for p in a['p_in'])}/{n} | -")
    for k, r in res.items():
        print(f"    {k:<8} | {med(r['p_out']):.3f} | {statistics.mean(r['p_out']):.3f} | "
              f"{sum(p > 0.5 for p in r['p_out'])}/{n} | {sum(o > i for o, i in zip(r['p_out'], r['p_in']))}/{n}")
    print(f"    scene-specific: output scored higher with its driving sound than with another scene's sound "
          f"(rain/wind/water): " + ", ".join(f"{k} {sum(o > w for o, w in zip(r['p_out'], r['p_other']))}/{n} "
                                             f"(median P with the other sound {med(r['p_other']):.3f})"
                                             for k, r in res.items()))
    if "label" in res:
        print(f"    audio output above the label baseline's output on the same picture: "
              f"{sum(o > b for o, b in zip(a['p_out'], res['label']['p_out']))}/{n}")
    print(f"(c) rain-density regressor (600 seed-2 pictures; on 200 seed-4 pictures MAE {mae:.3f}, corr {corr:.3f}); "
          f"input pictures: median predicted rain s {med(a['dens_in']):.3f}")
    gains = list(a["density"])
    for k, r in res.items():
        print(f"  [{k}] (b) SSIM(input, output) median {med(r['ssim']):.3f}; edge correlation median {med(r['edge']):.3f}; "
              f"sound dependence median mean|out(rain) - out(water)| {med(r['depends']):.2f} (0-255)")
        print(f"  [{k}] (c) gain_db " + " / ".join(f"{g:+.0f}" for g in gains) + " (rain s=0.5 sound; data level ~ s = "
              + " / ".join(f"{0.5 + g / 24:.2f}" for g in gains) + ")")
        print(f"        median predicted rain s  " + " / ".join(f"{med(r['density'][g]):.3f}" for g in gains)
              + f"; strictly rising: {all(med(r['density'][x]) < med(r['density'][y]) for x, y in zip(gains, gains[1:]))}")
        print(f"        median mean|out-in| 0-255  " + " / ".join(f"{med(r['change'][g]):.2f}" for g in gains))
        print(f"  [{k}] (c) mix 50/50 rain+birds: predicted rain s rain {med(r['density'][0.0]):.3f}, mix "
              f"{med(r['dens_mix']):.3f}, birds {med(r['dens_birds']):.3f}; max(d(mix, rain), d(mix, birds)) / "
              f"d(rain, birds) median {med(r['between']):.3f} (<1: between)")


if __name__ == "__main__":
    main()
